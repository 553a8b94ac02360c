/* pktsend: build and send one IPv4/IPv6 packet per spec (raw socket, header
 * included), for the wasmvs kernel-oracle golden cases.
 *
 * usage: pktsend [-p] SPEC...      one packet from the arguments
 *        pktsend [-p]              one spec per stdin line; answers "ok LEN" or
 *                                  "err TEXT" per line (flushed), so a shell
 *                                  can drive it through a pair of fifos.
 *   -p  print the built IP packet as lowercase hex (no newline inside) on
 *       stdout instead of sending it (to compose ICMP error payloads).
 *
 * SPEC (addresses with a ':' are IPv6; then ICMP means ICMPv6):
 *   tcp  SRC SPORT DST DPORT FLAGS SEQ ACK [key=val...]
 *        FLAGS: letters S A F R P U E C (any order) or '-' for none
 *   udp  SRC SPORT DST DPORT [key=val...]
 *   icmp SRC DST TYPE CODE [key=val...]   (rest = 4 bytes after the checksum)
 *   sctp SRC SPORT DST DPORT CHUNK... [key=val...]
 *        CHUNK: INIT INIT_ACK COOKIE_ECHO COOKIE_ACK DATA SACK HEARTBEAT
 *        HEARTBEAT_ACK ABORT SHUTDOWN SHUTDOWN_ACK SHUTDOWN_COMPLETE ERROR
 *        (bundled in the order given, each padded to 4 bytes), or a number
 *        (that chunk type, 4-byte chunk without a body). Minimal bodies:
 *        INIT / INIT_ACK: initiate tag itag=, a_rwnd 65536, 10 out / 10 in
 *        streams, initial TSN tsn=; INIT_ACK adds a State Cookie parameter
 *        (8 bytes "cookie!!"); COOKIE_ECHO: those 8 bytes; DATA (flags B+E):
 *        TSN tsn=, stream 0, SSN 0, PPID 0, payload data= (default "hello");
 *        SACK: cum TSN ack=, a_rwnd 65536, no gaps; HEARTBEAT(_ACK): one
 *        Heartbeat Info parameter (8 bytes "hb-info!"); SHUTDOWN: cum TSN
 *        ack=; ERROR: cause 1 (invalid stream identifier, stream 0); ABORT,
 *        COOKIE_ACK, SHUTDOWN_ACK, SHUTDOWN_COMPLETE: no body.
 *        The CRC32c (RFC 4960 app. B) is computed and stored as Linux does
 *        (little-endian); csum=bad flips bits of it, csum=0 sends zero.
 *   raw  HEX                               (an IP packet sent as is)
 * keys: data=HEX payload (ICMP: the quoted packet), opt=HEX TCP options
 *       (padded with zeros to a multiple of 4), win=N (default 64240),
 *       id=N (IPv4 id, default 1; 0 lets the kernel choose), ttl=N (default 64,
 *       IPv6 hop limit), tos=N, df=0|1 (default 1), rest=HEX (ICMP, 8 hex),
 *       csum=0 (UDP: send checksum 0), csum=bad (wrong L4 checksum),
 *       urp=N, flow=N (IPv6 flow label);
 *       SCTP: vtag=N (verification tag, default 0), itag=N (INIT/INIT_ACK
 *       initiate tag, default 0x11223344), tsn=N (default 1), ack=N (SACK /
 *       SHUTDOWN cumulative TSN ack, default 0), data=HEX (DATA payload).
 * Numbers accept 0x.. hex. IPv4 header checksum and all L4 checksums are
 * computed (pseudo-header included). No IP options, no extension headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int print_only;
static int fd4 = -1, fd6 = -1;
static char errbuf[256];

#define FAIL(...) do { snprintf(errbuf, sizeof errbuf, __VA_ARGS__); return -1; } while (0)

static uint32_t sum16(const uint8_t *b, size_t n, uint32_t s) {
  for (; n > 1; n -= 2, b += 2) s += (uint32_t)(b[0] << 8 | b[1]);
  if (n) s += (uint32_t)(b[0] << 8);
  return s;
}
static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
static int unhex(const char *h, uint8_t *out, size_t max) {
  size_t n = 0;
  while (*h) {
    if (*h == ':' || *h == '.' || *h == '_') { h++; continue; }
    int a = hexval(h[0]), b = h[1] ? hexval(h[1]) : -1;
    if (a < 0 || b < 0 || n >= max) return -1;
    out[n++] = (uint8_t)(a << 4 | b);
    h += 2;
  }
  return (int)n;
}
static int num(const char *s, unsigned long *v) {
  char *e;
  errno = 0;
  *v = strtoul(s, &e, 0);
  return (errno || *e || e == s) ? -1 : 0;
}

struct opts {
  uint8_t data[65536]; int datalen;
  uint8_t opt[60]; int optlen;
  unsigned long win, id, ttl, tos, df, urp, flow;
  unsigned long vtag, itag, tsn, ack; int hasdata;
  int csum;                 /* 0 normal, 1 zero, 2 bad */
  uint8_t rest[4];
};

static int parse_kv(int argc, char **argv, struct opts *o) {
  o->datalen = 0; o->optlen = 0; o->win = 64240; o->id = 1; o->ttl = 64; o->tos = 0;
  o->df = 1; o->urp = 0; o->flow = 0; o->csum = 0; memset(o->rest, 0, 4);
  o->vtag = 0; o->itag = 0x11223344; o->tsn = 1; o->ack = 0; o->hasdata = 0;
  for (int i = 0; i < argc; i++) {
    char *k = argv[i], *v = strchr(k, '=');
    if (!v) FAIL("bad key=val %s", k);
    *v++ = 0;
    unsigned long n = 0;
    if (!strcmp(k, "data")) { if ((o->datalen = unhex(v, o->data, sizeof o->data)) < 0) FAIL("bad data hex"); o->hasdata = 1; }
    else if (!strcmp(k, "opt")) {
      if ((o->optlen = unhex(v, o->opt, 40)) < 0) FAIL("bad opt hex");
      while (o->optlen % 4) o->opt[o->optlen++] = 0;
    }
    else if (!strcmp(k, "rest")) { if (unhex(v, o->rest, 4) != 4) FAIL("rest needs 8 hex digits"); }
    else if (!strcmp(k, "csum")) { if (!strcmp(v, "0")) o->csum = 1; else if (!strcmp(v, "bad")) o->csum = 2; else FAIL("csum=0|bad"); }
    else if (num(v, &n)) FAIL("bad number %s=%s", k, v);
    else if (!strcmp(k, "win")) o->win = n;
    else if (!strcmp(k, "id")) o->id = n;
    else if (!strcmp(k, "ttl")) o->ttl = n;
    else if (!strcmp(k, "tos")) o->tos = n;
    else if (!strcmp(k, "df")) o->df = n;
    else if (!strcmp(k, "urp")) o->urp = n;
    else if (!strcmp(k, "flow")) o->flow = n;
    else if (!strcmp(k, "vtag")) o->vtag = n;
    else if (!strcmp(k, "itag")) o->itag = n;
    else if (!strcmp(k, "tsn")) o->tsn = n;
    else if (!strcmp(k, "ack")) o->ack = n;
    else FAIL("unknown key %s", k);
  }
  return 0;
}

struct addr { int v6; uint8_t a[16]; };
static int parse_addr(const char *s, struct addr *a) {
  a->v6 = strchr(s, ':') != NULL;
  if (inet_pton(a->v6 ? AF_INET6 : AF_INET, s, a->a) != 1) FAIL("bad address %s", s);
  return 0;
}

static uint8_t pkt[65536 + 128];

/* builds IP header + l4 (already in pkt at offset hl) ; returns total length */
static int finish(const struct addr *s, const struct addr *d, int proto, int l4len,
                  int csum_off, const struct opts *o) {
  int hl = s->v6 ? 40 : 20;
  uint8_t *l4 = pkt + hl;
  uint32_t ps = 0;
  if (csum_off >= 0) {
    l4[csum_off] = l4[csum_off + 1] = 0;
    if (s->v6) {
      uint8_t ph[8] = { (uint8_t)(l4len >> 24), (uint8_t)(l4len >> 16), (uint8_t)(l4len >> 8), (uint8_t)l4len, 0, 0, 0, (uint8_t)proto };
      ps = sum16(s->a, 16, 0); ps = sum16(d->a, 16, ps); ps = sum16(ph, 8, ps);
    } else if (proto != IPPROTO_ICMP) {
      uint8_t ph[4] = { 0, (uint8_t)proto, (uint8_t)(l4len >> 8), (uint8_t)l4len };
      ps = sum16(s->a, 4, 0); ps = sum16(d->a, 4, ps); ps = sum16(ph, 4, ps);
    }
    uint16_t c = fold(sum16(l4, l4len, ps));
    if (proto == IPPROTO_UDP && c == 0) c = 0xffff;
    if (o->csum == 1) c = 0;
    if (o->csum == 2) c ^= 0x5555;
    l4[csum_off] = c >> 8; l4[csum_off + 1] = c & 0xff;
  }
  if (s->v6) {
    uint32_t w = 6u << 28 | (uint32_t)(o->tos & 0xff) << 20 | (uint32_t)(o->flow & 0xfffff);
    pkt[0] = w >> 24; pkt[1] = w >> 16; pkt[2] = w >> 8; pkt[3] = w;
    pkt[4] = l4len >> 8; pkt[5] = l4len & 0xff; pkt[6] = (uint8_t)proto; pkt[7] = (uint8_t)o->ttl;
    memcpy(pkt + 8, s->a, 16); memcpy(pkt + 24, d->a, 16);
  } else {
    int tot = 20 + l4len;
    pkt[0] = 0x45; pkt[1] = (uint8_t)o->tos; pkt[2] = tot >> 8; pkt[3] = tot & 0xff;
    pkt[4] = o->id >> 8; pkt[5] = o->id & 0xff; pkt[6] = o->df ? 0x40 : 0; pkt[7] = 0;
    pkt[8] = (uint8_t)o->ttl; pkt[9] = (uint8_t)proto; pkt[10] = pkt[11] = 0;
    memcpy(pkt + 12, s->a, 4); memcpy(pkt + 16, d->a, 4);
    uint16_t c = fold(sum16(pkt, 20, 0)); pkt[10] = c >> 8; pkt[11] = c & 0xff;
  }
  return hl + l4len;
}

/* CRC32c (Castagnoli, reflected 0x82F63B78), bit by bit: packets are small */
static uint32_t crc32c(const uint8_t *b, size_t n) {
  uint32_t c = 0xffffffff;
  for (size_t i = 0; i < n; i++) {
    c ^= b[i];
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78 : c >> 1;
  }
  return ~c;
}
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static const struct { const char *name; int type; } sctp_chunks[] = {
  { "DATA", 0 }, { "INIT", 1 }, { "INIT_ACK", 2 }, { "SACK", 3 }, { "HEARTBEAT", 4 },
  { "HEARTBEAT_ACK", 5 }, { "ABORT", 6 }, { "SHUTDOWN", 7 }, { "SHUTDOWN_ACK", 8 },
  { "ERROR", 9 }, { "COOKIE_ECHO", 10 }, { "COOKIE_ACK", 11 }, { "SHUTDOWN_COMPLETE", 14 },
};
static const uint8_t COOKIE[8] = { 'c', 'o', 'o', 'k', 'i', 'e', '!', '!' };
static const uint8_t HBINFO[8] = { 'h', 'b', '-', 'i', 'n', 'f', 'o', '!' };

/* one chunk at c (type from its name); returns its padded length or -1 */
static int sctp_chunk(const char *name, uint8_t *c, const struct opts *o) {
  int type = -1;
  unsigned long n;
  for (size_t i = 0; i < sizeof sctp_chunks / sizeof sctp_chunks[0]; i++)
    if (!strcmp(name, sctp_chunks[i].name)) type = sctp_chunks[i].type;
  if (type < 0) { if (num(name, &n) || n > 255) FAIL("unknown SCTP chunk %s", name); type = (int)n; name = ""; }
  uint8_t *b = c + 4;
  int blen = 0, flags = 0;
  switch (type) {
  case 0: {                                  /* DATA: B+E, TSN, stream 0, SSN 0, PPID 0, payload */
    flags = 3;
    put32(b, (uint32_t)o->tsn); put16(b + 4, 0); put16(b + 6, 0); put32(b + 8, 0);
    if (o->hasdata) { memcpy(b + 12, o->data, o->datalen); blen = 12 + o->datalen; }
    else { memcpy(b + 12, "hello", 5); blen = 17; }
    break; }
  case 1: case 2:                            /* INIT / INIT_ACK */
    put32(b, (uint32_t)o->itag); put32(b + 4, 65536); put16(b + 8, 10); put16(b + 10, 10);
    put32(b + 12, (uint32_t)o->tsn); blen = 16;
    if (type == 2 && *name) { put16(b + 16, 7); put16(b + 18, 12); memcpy(b + 20, COOKIE, 8); blen = 28; }
    break;
  case 3:                                    /* SACK */
    put32(b, (uint32_t)o->ack); put32(b + 4, 65536); put16(b + 8, 0); put16(b + 10, 0); blen = 12;
    break;
  case 4: case 5:                            /* HEARTBEAT(_ACK): Heartbeat Info */
    if (*name) { put16(b, 1); put16(b + 2, 12); memcpy(b + 4, HBINFO, 8); blen = 12; }
    break;
  case 7:                                    /* SHUTDOWN */
    put32(b, (uint32_t)o->ack); blen = 4;
    break;
  case 9:                                    /* ERROR: invalid stream identifier (stream 0) */
    if (*name) { put16(b, 1); put16(b + 2, 8); put16(b + 4, 0); put16(b + 6, 0); blen = 8; }
    break;
  case 10:                                   /* COOKIE_ECHO */
    if (*name) { memcpy(b, COOKIE, 8); blen = 8; }
    break;
  }
  c[0] = (uint8_t)type; c[1] = (uint8_t)flags; put16(c + 2, (unsigned)(4 + blen));
  int len = 4 + blen;
  while (len % 4) c[len++] = 0;
  return len;
}

static int build(int argc, char **argv) {
  static struct opts o;
  struct addr s, d;
  unsigned long sp, dp, seq, ack, ty, co;
  if (argc < 1) FAIL("empty spec");
  const char *kind = argv[0];
  if (!strcmp(kind, "raw")) {
    if (argc != 2) FAIL("raw HEX");
    int n = unhex(argv[1], pkt, sizeof pkt);
    if (n < 20) FAIL("bad raw hex");
    return n;
  }
  if (!strcmp(kind, "tcp")) {
    if (argc < 8) FAIL("tcp SRC SPORT DST DPORT FLAGS SEQ ACK [k=v..]");
    if (parse_addr(argv[1], &s) || parse_addr(argv[3], &d)) return -1;
    if (s.v6 != d.v6) FAIL("address family mismatch");
    if (num(argv[2], &sp) || num(argv[4], &dp) || num(argv[6], &seq) || num(argv[7], &ack)) FAIL("bad number");
    if (parse_kv(argc - 8, argv + 8, &o)) return -1;
    int hl = s.v6 ? 40 : 20;
    uint8_t *t = pkt + hl;
    int thl = 20 + o.optlen;
    memset(t, 0, 20);
    t[0] = sp >> 8; t[1] = sp; t[2] = dp >> 8; t[3] = dp;
    t[4] = seq >> 24; t[5] = seq >> 16; t[6] = seq >> 8; t[7] = seq;
    t[8] = ack >> 24; t[9] = ack >> 16; t[10] = ack >> 8; t[11] = ack;
    t[12] = (uint8_t)((thl / 4) << 4);
    for (const char *f = argv[5]; *f; f++) switch (*f) {
      case 'F': t[13] |= 0x01; break; case 'S': t[13] |= 0x02; break;
      case 'R': t[13] |= 0x04; break; case 'P': t[13] |= 0x08; break;
      case 'A': t[13] |= 0x10; break; case 'U': t[13] |= 0x20; break;
      case 'E': t[13] |= 0x40; break; case 'C': t[13] |= 0x80; break;
      case '-': break;
      default: FAIL("bad flag %c", *f);
    }
    t[14] = o.win >> 8; t[15] = o.win; t[18] = o.urp >> 8; t[19] = o.urp;
    memcpy(t + 20, o.opt, o.optlen);
    memcpy(t + thl, o.data, o.datalen);
    return finish(&s, &d, IPPROTO_TCP, thl + o.datalen, 16, &o);
  }
  if (!strcmp(kind, "udp")) {
    if (argc < 5) FAIL("udp SRC SPORT DST DPORT [k=v..]");
    if (parse_addr(argv[1], &s) || parse_addr(argv[3], &d)) return -1;
    if (s.v6 != d.v6) FAIL("address family mismatch");
    if (num(argv[2], &sp) || num(argv[4], &dp)) FAIL("bad number");
    if (parse_kv(argc - 5, argv + 5, &o)) return -1;
    uint8_t *u = pkt + (s.v6 ? 40 : 20);
    int len = 8 + o.datalen;
    u[0] = sp >> 8; u[1] = sp; u[2] = dp >> 8; u[3] = dp; u[4] = len >> 8; u[5] = len;
    memcpy(u + 8, o.data, o.datalen);
    return finish(&s, &d, IPPROTO_UDP, len, 6, &o);
  }
  if (!strcmp(kind, "sctp")) {
    if (argc < 6) FAIL("sctp SRC SPORT DST DPORT CHUNK... [k=v..]");
    if (parse_addr(argv[1], &s) || parse_addr(argv[3], &d)) return -1;
    if (s.v6 != d.v6) FAIL("address family mismatch");
    if (num(argv[2], &sp) || num(argv[4], &dp)) FAIL("bad number");
    int nc = 5;
    while (nc < argc && !strchr(argv[nc], '=')) nc++;
    if (nc == 5) FAIL("no SCTP chunk");
    if (parse_kv(argc - nc, argv + nc, &o)) return -1;
    uint8_t *h = pkt + (s.v6 ? 40 : 20);
    put16(h, (unsigned)sp); put16(h + 2, (unsigned)dp); put32(h + 4, (uint32_t)o.vtag); put32(h + 8, 0);
    int len = 12;
    for (int i = 5; i < nc; i++) {
      if (len + 4 + 12 + o.datalen + 32 > (int)sizeof pkt - 64) FAIL("too long");
      int cl = sctp_chunk(argv[i], h + len, &o);
      if (cl < 0) return -1;
      len += cl;
    }
    uint32_t c = crc32c(h, (size_t)len);
    if (o.csum == 1) c = 0;
    if (o.csum == 2) c ^= 0x55555555;
    h[8] = c & 0xff; h[9] = c >> 8; h[10] = c >> 16; h[11] = c >> 24;   /* little-endian, as Linux */
    return finish(&s, &d, IPPROTO_SCTP, len, -1, &o);
  }
  if (!strcmp(kind, "icmp")) {
    if (argc < 5) FAIL("icmp SRC DST TYPE CODE [k=v..]");
    if (parse_addr(argv[1], &s) || parse_addr(argv[2], &d)) return -1;
    if (s.v6 != d.v6) FAIL("address family mismatch");
    if (num(argv[3], &ty) || num(argv[4], &co)) FAIL("bad number");
    if (parse_kv(argc - 5, argv + 5, &o)) return -1;
    uint8_t *c = pkt + (s.v6 ? 40 : 20);
    c[0] = (uint8_t)ty; c[1] = (uint8_t)co; memcpy(c + 4, o.rest, 4);
    memcpy(c + 8, o.data, o.datalen);
    return finish(&s, &d, s.v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, 8 + o.datalen, 2, &o);
  }
  FAIL("unknown kind %s", kind);
}

static int emit(int len) {
  if (print_only) {
    for (int i = 0; i < len; i++) printf("%02x", pkt[i]);
    return 0;
  }
  int v6 = (pkt[0] >> 4) == 6;
  int fd;
  ssize_t r;
  if (v6) {
    if (fd6 < 0 && (fd6 = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)) < 0) FAIL("socket6: %s", strerror(errno));
    struct sockaddr_in6 sa; memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6; memcpy(&sa.sin6_addr, pkt + 24, 16);
    fd = fd6; r = sendto(fd, pkt, len, 0, (struct sockaddr *)&sa, sizeof sa);
  } else {
    if (fd4 < 0) {
      if ((fd4 = socket(AF_INET, SOCK_RAW, IPPROTO_RAW)) < 0) FAIL("socket: %s", strerror(errno));
      int one = 1; setsockopt(fd4, IPPROTO_IP, IP_HDRINCL, &one, sizeof one);
    }
    struct sockaddr_in sa; memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET; memcpy(&sa.sin_addr, pkt + 16, 4);
    fd = fd4; r = sendto(fd, pkt, len, 0, (struct sockaddr *)&sa, sizeof sa);
  }
  if (r != len) FAIL("sendto: %s", r < 0 ? strerror(errno) : "short");
  return 0;
}

static int one(int argc, char **argv) {
  int len = build(argc, argv);
  if (len < 0) return -1;
  return emit(len) ? -1 : len;
}

int main(int argc, char **argv) {
  int a = 1;
  if (a < argc && !strcmp(argv[a], "-p")) { print_only = 1; a++; }
  if (a < argc) {
    int r = one(argc - a, argv + a);
    if (r < 0) { fprintf(stderr, "pktsend: %s\n", errbuf); return 1; }
    if (print_only) putchar('\n');
    return 0;
  }
  static char line[200000];
  int rc = 0;
  while (fgets(line, sizeof line, stdin)) {
    char *av[64]; int ac = 0;
    for (char *t = strtok(line, " \t\r\n"); t && ac < 64; t = strtok(NULL, " \t\r\n")) av[ac++] = t;
    if (!ac || av[0][0] == '#') { printf("ok 0\n"); fflush(stdout); continue; }
    int r = one(ac, av);
    if (r < 0) { printf("err %s\n", errbuf); rc = 1; }
    else if (print_only) putchar('\n');
    else printf("ok %d\n", r);
    fflush(stdout);
  }
  return rc;
}

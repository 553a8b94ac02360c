/*
 * gsosend - send one TCP super-packet (GSO, IPv4 or IPv6) on a device through a packet socket with a
 * virtio-net header (PACKET_VNET_HDR), as a guest's virtio NIC or a TUN with offloads hands the
 * kernel one: gso_type TCPV4/TCPV6, gso_size MSS, NEEDS_CSUM with the pseudo-header sum in the TCP
 * checksum field. For the gso-tun case (cases/gso-tun.sh): what the kernel's IPVS tunnel xmit
 * and GSO make of it is captured on the far side.
 *
 *   gsosend IF SRC DST SPORT DPORT SEQ ACK FLAGS LEN MSS ID DF
 *
 * FLAGS: letters F S R P A U E C (C = CWR). The payload byte i is (i * 7) & 255. Ethernet
 * 02:00:00:00:00:02 -> 02:00:00:00:00:01 (the golden lab's vc0 -> vc1), TTL / hop limit 64.
 * IPv6 when SRC has a colon (ID and DF then unused).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  return s;
}
static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

int main(int argc, char **argv) {
  if (argc != 13) {
    fprintf(stderr, "usage: gsosend IF SRC DST SPORT DPORT SEQ ACK FLAGS LEN MSS ID DF\n");
    return 2;
  }
  size_t len = strtoul(argv[9], 0, 0);
  unsigned mss = strtoul(argv[10], 0, 0);
  int v6 = strchr(argv[2], ':') != 0;
  size_t ihl = v6 ? 40 : 20, tot = ihl + 20 + len;
  if (len + 20 > 65535 || (!v6 && tot > 65535)) { fprintf(stderr, "too long\n"); return 2; }
  uint8_t *buf = calloc(1, sizeof(struct virtio_net_hdr) + 14 + tot);
  struct virtio_net_hdr *vh = (struct virtio_net_hdr *)buf;
  uint8_t *eth = buf + sizeof(*vh), *ip = eth + 14, *th = ip + ihl;
  static const uint8_t dmac[6] = {2, 0, 0, 0, 0, 1}, smac[6] = {2, 0, 0, 0, 0, 2};
  memcpy(eth, dmac, 6); memcpy(eth + 6, smac, 6);
  uint32_t ph;
  if (v6) {
    eth[12] = 0x86; eth[13] = 0xdd;
    ip[0] = 0x60; ip[4] = (20 + len) >> 8; ip[5] = (20 + len) & 255; ip[6] = 6; ip[7] = 64;
    if (inet_pton(AF_INET6, argv[2], ip + 8) != 1 || inet_pton(AF_INET6, argv[3], ip + 24) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    ph = sum16(ip + 8, 32, 6 + 20 + len);
  } else {
    eth[12] = 8; eth[13] = 0;
    ip[0] = 0x45; ip[2] = tot >> 8; ip[3] = tot & 255;
    unsigned id = strtoul(argv[11], 0, 0);
    ip[4] = id >> 8; ip[5] = id & 255;
    ip[6] = atoi(argv[12]) ? 0x40 : 0; ip[8] = 64; ip[9] = 6;
    if (inet_pton(AF_INET, argv[2], ip + 12) != 1 || inet_pton(AF_INET, argv[3], ip + 16) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    uint16_t c = ~fold(sum16(ip, 20, 0));
    ip[10] = c >> 8; ip[11] = c & 255;
    ph = sum16(ip + 12, 8, 6 + 20 + len);
  }
  unsigned sp = atoi(argv[4]), dp = atoi(argv[5]);
  uint32_t seq = strtoul(argv[6], 0, 0), ack = strtoul(argv[7], 0, 0);
  th[0] = sp >> 8; th[1] = sp; th[2] = dp >> 8; th[3] = dp;
  th[4] = seq >> 24; th[5] = seq >> 16; th[6] = seq >> 8; th[7] = seq;
  th[8] = ack >> 24; th[9] = ack >> 16; th[10] = ack >> 8; th[11] = ack;
  th[12] = 5 << 4;
  for (const char *f = argv[8]; *f; f++) {
    const char *L = "FSRPAUEC";
    const char *q = strchr(L, *f);
    if (!q) { fprintf(stderr, "bad flag %c\n", *f); return 2; }
    th[13] |= 1 << (q - L);
  }
  th[14] = 64240 >> 8; th[15] = 64240 & 255;
  for (size_t i = 0; i < len; i++) th[20 + i] = (uint8_t)(i * 7);
  /* CHECKSUM_PARTIAL: the pseudo-header sum (addresses, protocol, TCP length), folded, not complemented */
  uint16_t p16 = fold(ph);
  th[16] = p16 >> 8; th[17] = p16 & 255;
  vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  vh->hdr_len = 14 + ihl + 20;
  vh->gso_size = mss;
  vh->csum_start = 14 + ihl;
  vh->csum_offset = 16;

  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) { fprintf(stderr, "socket: %s\n", strerror(errno)); return 1; }
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) { fprintf(stderr, "PACKET_VNET_HDR: %s\n", strerror(errno)); return 1; }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
  sll.sll_ifindex = if_nametoindex(argv[1]);
  if (!sll.sll_ifindex) { fprintf(stderr, "no device %s\n", argv[1]); return 1; }
  ssize_t n = sendto(fd, buf, sizeof(*vh) + 14 + tot, 0, (struct sockaddr *)&sll, sizeof(sll));
  if (n < 0) { fprintf(stderr, "sendto: %s\n", strerror(errno)); return 1; }
  printf("ok %zd\n", n);
  return 0;
}

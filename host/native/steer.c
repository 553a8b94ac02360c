/*
 * steer.c - the conn-owner function as a TUN steering eBPF program (TUNSETSTEERINGEBPF).
 *
 * With N worker threads each reading one queue of an IFF_MULTI_QUEUE TUN/TAP, the kernel asks a
 * BPF_PROG_TYPE_SOCKET_FILTER program which queue a frame goes to (drivers/net/tun.c,
 * tun_ebpf_select_queue: the program's return value, as u16, modulo the queues attached). This
 * program computes the conn-owner function of docs/workers.md, so both
 * directions of a conn reach the worker that owns it without the engine's redirect ring:
 *
 *   ports   = TCP/UDP/SCTP sport/dport, 0 for other protocols and every IPv4 fragment;
 *             IPv6 only when the next header right after the fixed header has ports
 *   kind    = lookup(daddr) in the address set S (two BPF hash maps: v4, v6; value bit 1 VIP, bit 2 LADDR)
 *   LADDR and ports present -> owner = dport % N            (FULLNAT lports sliced per worker)
 *   VIP                     -> (a, p) = (saddr, sport)
 *   otherwise               -> (a, p) = (daddr, dport)      (the NAT reply: the client side)
 *   key32(a) = IPv4 address as a big-endian u32; IPv6: XOR of its four big-endian u32 words
 *   owner   = ((((key32(a) ^ p) * 0x9E3779B1) mod 2^32) >> 16) % N
 *
 * No clang or libbpf: the program is assembled here as struct bpf_insn and loaded with the bpf()
 * syscall. LD_ABS/LD_IND read the frame (they convert to host order, which is what key32 wants,
 * and end the program with 0 on a short frame: queue 0, where the engine's redirect ring still
 * finds the owner). The map keys are the same host-order words, written by setAddrs below.
 * The program is only a fast path: correctness never depends on it.
 */
#include <node_api.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_tun.h>

#define KIND_VIP   1u
#define KIND_LADDR 2u
#define MAP_MAX    65536u     /* addresses per family in S */
#define PROG_MAX   128        /* instructions; the program is ~90 */
#define LOG_SIZE   (64 * 1024)

/* ---- a tiny assembler ------------------------------------------------------- */

typedef struct {
  struct bpf_insn insn[PROG_MAX];
  int n;
  /* forward jumps: instruction index -> label id, resolved by asm_end */
  int fix_at[32], fix_label[32], nfix;
  int label_at[16];
} prog_asm;

static void emit(prog_asm *a, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  if (a->n >= PROG_MAX) { a->n = PROG_MAX + 1; return; }
  struct bpf_insn *i = &a->insn[a->n++];
  i->code = code; i->dst_reg = dst; i->src_reg = src; i->off = off; i->imm = imm;
}
/* a jump to a label, fixed up at the end */
static void jmp(prog_asm *a, uint8_t op, uint8_t src_kind, uint8_t dst, uint8_t src, int32_t imm, int label) {
  a->fix_at[a->nfix] = a->n; a->fix_label[a->nfix++] = label;
  emit(a, BPF_JMP | op | src_kind, dst, src, 0, imm);
}
static void label(prog_asm *a, int l) { a->label_at[l] = a->n; }
static bool asm_end(prog_asm *a) {
  if (a->n > PROG_MAX) return false;
  for (int f = 0; f < a->nfix; f++) a->insn[a->fix_at[f]].off = (int16_t)(a->label_at[a->fix_label[f]] - a->fix_at[f] - 1);
  return true;
}

#define R0 BPF_REG_0
#define R1 BPF_REG_1
#define R2 BPF_REG_2
#define R3 BPF_REG_3
#define R6 BPF_REG_6
#define R7 BPF_REG_7
#define R8 BPF_REG_8
#define R9 BPF_REG_9
#define FP BPF_REG_10

/* r0 = frame[off] (size BPF_B/H/W), host order */
#define LDABS(sz, off)      emit(a, BPF_LD | (sz) | BPF_ABS, 0, 0, 0, (off))
#define LDIND(sz, reg, off) emit(a, BPF_LD | (sz) | BPF_IND, 0, (reg), 0, (off))
#define MOV(d, s)           emit(a, BPF_ALU64 | BPF_MOV | BPF_X, (d), (s), 0, 0)
#define MOVI(d, k)          emit(a, BPF_ALU64 | BPF_MOV | BPF_K, (d), 0, 0, (k))
#define ALU(op, d, s)       emit(a, BPF_ALU64 | (op) | BPF_X, (d), (s), 0, 0)
#define ALUI(op, d, k)      emit(a, BPF_ALU64 | (op) | BPF_K, (d), 0, 0, (k))
#define ALU32I(op, d, k)    emit(a, BPF_ALU | (op) | BPF_K, (d), 0, 0, (k))
#define STX32(d, off, s)    emit(a, BPF_STX | BPF_MEM | BPF_W, (d), (s), (off), 0)
#define ST32(d, off, k)     emit(a, BPF_ST | BPF_MEM | BPF_W, (d), 0, (off), (k))
#define LDX32(d, s, off)    emit(a, BPF_LDX | BPF_MEM | BPF_W, (d), (s), (off), 0)
#define JI(op, d, k, l)     jmp(a, (op), BPF_K, (d), 0, (k), (l))
#define JA(l)               jmp(a, BPF_JA, BPF_K, 0, 0, 0, (l))
#define CALL(fn)            emit(a, BPF_JMP | BPF_CALL, 0, 0, 0, (fn))
#define EXIT()              emit(a, BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* r = map fd (the verifier turns it into the map pointer): a 16-byte instruction */
#define LDMAP(r, fd) do { emit(a, BPF_LD | BPF_DW | BPF_IMM, (r), BPF_PSEUDO_MAP_FD, 0, (fd)); emit(a, 0, 0, 0, 0, 0); } while (0)

enum { L_ETH_OK, L_V6, L_RET0, L_V4P, L_V4DONE, L_V6P, L_V6DONE, L_CLASSIFY, L_NOKIND, L_NOTLADDR, L_OTHER, L_HASH };

/* Stack: fp-4 the v4 key; fp-32..fp-17 the v6 key; fp-8 "ports present". r7 key32(saddr),
 * r8 key32(daddr), r9 = sport << 16 | dport. LD_ABS and calls clobber r1-r5 only. */
static bool assemble(prog_asm *a, uint32_t n, int32_t l2, int map4, int map6) {
  memset(a, 0, sizeof *a);
  MOV(R6, R1);                                    /* LD_ABS wants the skb in r6 */
  if (l2 == 14) {                                 /* TAP: IPv4 or IPv6 by the EtherType (no VLAN), else queue 0 */
    LDABS(BPF_H, 12);
    JI(BPF_JEQ, R0, 0x0800, L_ETH_OK);
    JI(BPF_JNE, R0, 0x86dd, L_RET0);
    label(a, L_ETH_OK);
  }
  LDABS(BPF_B, l2);
  ALUI(BPF_RSH, R0, 4);
  JI(BPF_JEQ, R0, 6, L_V6);
  JI(BPF_JNE, R0, 4, L_RET0);
  /* IPv4 (RFC 791): saddr at 12, daddr at 16, protocol at 9, flags+fragment offset at 6 */
  LDABS(BPF_W, l2 + 12); MOV(R7, R0);
  LDABS(BPF_W, l2 + 16); MOV(R8, R0);
  MOVI(R9, 0);
  ST32(FP, -8, 0);
  LDABS(BPF_H, l2 + 6); ALUI(BPF_AND, R0, 0x3fff);   /* MF or an offset: a fragment has no ports */
  JI(BPF_JNE, R0, 0, L_V4DONE);
  LDABS(BPF_B, l2 + 9);
  JI(BPF_JEQ, R0, 6, L_V4P);
  JI(BPF_JEQ, R0, 17, L_V4P);
  JI(BPF_JNE, R0, 132, L_V4DONE);
  label(a, L_V4P);
  LDABS(BPF_B, l2); ALUI(BPF_AND, R0, 0xf); ALUI(BPF_LSH, R0, 2);
  MOV(R9, R0);
  LDIND(BPF_W, R9, l2);                           /* sport and dport: the first word after ihl */
  MOV(R9, R0);
  ST32(FP, -8, 1);
  label(a, L_V4DONE);
  STX32(FP, -4, R8);
  LDMAP(R1, map4);
  MOV(R2, FP); ALUI(BPF_ADD, R2, -4);
  CALL(BPF_FUNC_map_lookup_elem);
  JA(L_CLASSIFY);

  /* IPv6 (RFC 8200): next header at 6, saddr 8..23, daddr 24..39, ports right after at 40 */
  label(a, L_V6);
  LDABS(BPF_W, l2 + 8); MOV(R7, R0);
  for (int w = 1; w < 4; w++) { LDABS(BPF_W, l2 + 8 + 4 * w); ALU(BPF_XOR, R7, R0); }
  MOVI(R8, 0);
  for (int w = 0; w < 4; w++) { LDABS(BPF_W, l2 + 24 + 4 * w); STX32(FP, -32 + 4 * w, R0); ALU(BPF_XOR, R8, R0); }
  MOVI(R9, 0);
  ST32(FP, -8, 0);
  LDABS(BPF_B, l2 + 6);
  JI(BPF_JEQ, R0, 6, L_V6P);
  JI(BPF_JEQ, R0, 17, L_V6P);
  JI(BPF_JNE, R0, 132, L_V6DONE);
  label(a, L_V6P);
  LDABS(BPF_W, l2 + 40); MOV(R9, R0);
  ST32(FP, -8, 1);
  label(a, L_V6DONE);
  LDMAP(R1, map6);
  MOV(R2, FP); ALUI(BPF_ADD, R2, -32);
  CALL(BPF_FUNC_map_lookup_elem);

  label(a, L_CLASSIFY);                           /* r0: the kind's value or NULL */
  MOVI(R1, 0);
  JI(BPF_JEQ, R0, 0, L_NOKIND);
  LDX32(R1, R0, 0);
  label(a, L_NOKIND);
  MOV(R2, R1); ALUI(BPF_AND, R2, KIND_LADDR);
  JI(BPF_JEQ, R2, 0, L_NOTLADDR);
  LDX32(R3, FP, -8);
  JI(BPF_JEQ, R3, 0, L_NOTLADDR);
  MOV(R0, R9); ALUI(BPF_AND, R0, 0xffff);         /* a FULLNAT lport: lport % N is its worker */
  ALU32I(BPF_MOD, R0, (int32_t)n);
  EXIT();
  label(a, L_NOTLADDR);
  ALUI(BPF_AND, R1, KIND_VIP);
  JI(BPF_JEQ, R1, 0, L_OTHER);
  MOV(R0, R9); ALUI(BPF_RSH, R0, 16); ALU(BPF_XOR, R0, R7);   /* client -> VIP: (saddr, sport) */
  JA(L_HASH);
  label(a, L_OTHER);
  MOV(R0, R9); ALUI(BPF_AND, R0, 0xffff); ALU(BPF_XOR, R0, R8); /* reply to the client: (daddr, dport) */
  label(a, L_HASH);
  ALU32I(BPF_MUL, R0, (int32_t)0x9E3779B1u);      /* Fibonacci hashing, mod 2^32 (32-bit ALU) */
  ALU32I(BPF_RSH, R0, 16);
  ALU32I(BPF_MOD, R0, (int32_t)n);
  EXIT();
  label(a, L_RET0);
  MOVI(R0, 0);
  EXIT();
  return asm_end(a);
}

/* ---- bpf() ------------------------------------------------------------------ */

static int sys_bpf(int cmd, union bpf_attr *attr) {
  return (int)syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

static int map_create(uint32_t key_size) {
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.map_type = BPF_MAP_TYPE_HASH;
  at.key_size = key_size;
  at.value_size = 4;
  at.max_entries = MAP_MAX;
  return sys_bpf(BPF_MAP_CREATE, &at);
}

/* ---- N-API ------------------------------------------------------------------ */

#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

static napi_value steer_error(napi_env env, int err, const char *what, const char *hint, const char *log) {
  char msg[384];
  napi_value e, v, code;
  const char *name = err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == EINVAL ? "EINVAL" :
                     err == ENOMEM ? "ENOMEM" : err == EBADF ? "EBADF" : err == ENOSYS ? "ENOSYS" :
                     err == E2BIG ? "E2BIG" : err == ENOSPC ? "ENOSPC" : "EIO";
  snprintf(msg, sizeof msg, "%s: %s, %s%s%s", name, strerror(err), what, hint ? " " : "", hint ? hint : "");
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &v);
  napi_create_error(env, code, v, &e);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, "bpf", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  if (log && log[0]) {
    napi_create_string_utf8(env, log, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, e, "verifierLog", v);
  }
  napi_throw(env, e);
  return NULL;
}

static bool get_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "expected an integer in 0..2^32-1");
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

static bool get_i32(napi_env env, napi_value v, int *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an fd (number)");
    return false;
  }
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static napi_value set_fd(napi_env env, napi_value o, const char *k, int fd) {
  napi_value v;
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_named_property(env, o, k, v));
  return o;
}

/* steerLoad(n, l2len, wantLog) -> { prog, map4, map6 }: the maps and the program for N queues.
 * A verifier rejection carries the verifier's log (error.verifierLog) when wantLog. */
static napi_value js_steer_load(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], res;
  uint32_t n, l2;
  bool want_log = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_u32(env, argv[0], &n) || !get_u32(env, argv[1], &l2)) return NULL;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &want_log);
  if (n < 1 || n > 256) { napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "n must be in 1..256 (MAX_TAP_QUEUES)"); return NULL; }
  if (l2 != 0 && l2 != 14) { napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "l2len must be 0 (TUN) or 14 (TAP)"); return NULL; }

  int map4 = map_create(4);
  if (map4 < 0) return steer_error(env, errno, "bpf(BPF_MAP_CREATE)", errno == EPERM ? "(needs CAP_BPF or CAP_SYS_ADMIN)" : NULL, NULL);
  int map6 = map_create(16);
  if (map6 < 0) { int err = errno; close(map4); return steer_error(env, err, "bpf(BPF_MAP_CREATE)", NULL, NULL); }

  static prog_asm a; /* 1 KiB+; loads are rare and from one thread at a time per process */
  if (!assemble(&a, n, (int32_t)l2, map4, map6)) { close(map4); close(map6); return steer_error(env, E2BIG, "assemble", "(program too long)", NULL); }
  char *log = want_log ? calloc(1, LOG_SIZE) : NULL;
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  at.insns = (uint64_t)(uintptr_t)a.insn;
  at.insn_cnt = (uint32_t)a.n;
  at.license = (uint64_t)(uintptr_t)"Dual MIT/GPL";
  if (log) { at.log_buf = (uint64_t)(uintptr_t)log; at.log_size = LOG_SIZE; at.log_level = 1; }
  memcpy(at.prog_name, "wasmvs_owner", sizeof "wasmvs_owner");
  int prog = sys_bpf(BPF_PROG_LOAD, &at);
  if (prog < 0) {
    int err = errno;
    close(map4); close(map6);
    napi_value r = steer_error(env, err, "bpf(BPF_PROG_LOAD)",
                               err == EPERM ? "(needs CAP_BPF or CAP_SYS_ADMIN)" :
                               err == EACCES || err == EINVAL ? "(verifier rejected the steering program)" : NULL, log);
    free(log);
    return r;
  }
  free(log);
  CHECK(napi_create_object(env, &res));
  set_fd(env, res, "prog", prog);
  set_fd(env, res, "map4", map4);
  return set_fd(env, res, "map6", map6);
}

/* steerAttach(tunFd, progFd): TUNSETSTEERINGEBPF (the program steers every queue of that device);
 * progFd -1 detaches. */
static napi_value js_steer_attach(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int tfd, pfd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_i32(env, argv[0], &tfd) || !get_i32(env, argv[1], &pfd)) return NULL;
  if (ioctl(tfd, TUNSETSTEERINGEBPF, &pfd) < 0)
    return steer_error(env, errno, "ioctl(TUNSETSTEERINGEBPF)", errno == EBADFD || errno == EBADF ? "(not a TUN/TAP queue)" : NULL, NULL);
  return NULL;
}

/* Key of one address: host-order words of its big-endian bytes (what LD_ABS gives the program). */
static void make_key(const uint8_t *addr, size_t len, uint32_t *key) {
  for (size_t w = 0; w < len / 4; w++) {
    uint32_t be;
    memcpy(&be, addr + 4 * w, 4);
    key[w] = ntohl(be);
  }
}

/* Make map hold exactly the entries (addrs: k*alen bytes, network order; kinds: k u32). New ones
 * first, stale ones after, so an address kept by the change is never missing in between. */
static int map_sync(int map, const uint8_t *addrs, const uint32_t *kinds, size_t k, size_t alen, uint32_t *removed) {
  uint32_t key[4], next[4];
  union bpf_attr at;
  for (size_t i = 0; i < k; i++) {
    make_key(addrs + i * alen, alen, key);
    memset(&at, 0, sizeof at);
    at.map_fd = (uint32_t)map;
    at.key = (uint64_t)(uintptr_t)key;
    at.value = (uint64_t)(uintptr_t)&kinds[i];
    at.flags = BPF_ANY;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &at) < 0) return -errno;
  }
  /* stale keys: walk the map from the start; deleting the current key restarts the walk */
  bool first = true;
  for (;;) {
    memset(&at, 0, sizeof at);
    at.map_fd = (uint32_t)map;
    at.key = first ? 0 : (uint64_t)(uintptr_t)key;
    at.next_key = (uint64_t)(uintptr_t)next;
    if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &at) < 0) { if (errno == ENOENT) return 0; return -errno; }
    bool keep = false;
    for (size_t i = 0; i < k && !keep; i++) {
      uint32_t want[4];
      make_key(addrs + i * alen, alen, want);
      keep = memcmp(want, next, alen) == 0;
    }
    if (!keep) {
      memset(&at, 0, sizeof at);
      at.map_fd = (uint32_t)map;
      at.key = (uint64_t)(uintptr_t)next;
      if (sys_bpf(BPF_MAP_DELETE_ELEM, &at) < 0 && errno != ENOENT) return -errno;
      (*removed)++;
      first = true;
      continue;
    }
    memcpy(key, next, alen);
    first = false;
  }
}

static bool get_bytes(napi_env env, napi_value v, uint8_t **p, size_t *len) {
  bool is = false;
  napi_typedarray_type t;
  size_t n;
  void *data;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &t, &n, &data, NULL, NULL) != napi_ok ||
      (t != napi_uint8_array && t != napi_uint32_array)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a Uint8Array or Uint32Array");
    return false;
  }
  *p = data;
  *len = t == napi_uint32_array ? n * 4 : n;
  return true;
}

/* steerSetAddrs(map4, map6, v4: Uint8Array (4 B each), kinds4: Uint32Array, v6: Uint8Array (16 B each),
 * kinds6: Uint32Array) -> removed entries. */
static napi_value js_steer_set_addrs(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], res;
  int m4, m6;
  uint8_t *a4, *k4, *a6, *k6;
  size_t la4, lk4, la6, lk6;
  uint32_t removed = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6 || !get_i32(env, argv[0], &m4) || !get_i32(env, argv[1], &m6) ||
      !get_bytes(env, argv[2], &a4, &la4) || !get_bytes(env, argv[3], &k4, &lk4) ||
      !get_bytes(env, argv[4], &a6, &la6) || !get_bytes(env, argv[5], &k6, &lk6))
    return NULL;
  if (la4 % 4 || la6 % 16 || lk4 != la4 || lk6 != la6 / 4) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "one u32 kind per address (4-byte v4, 16-byte v6)");
    return NULL;
  }
  if (la4 / 4 > MAP_MAX || la6 / 16 > MAP_MAX) return steer_error(env, E2BIG, "setAddrs", "(more than 65536 addresses)", NULL);
  int r = map_sync(m4, a4, (const uint32_t *)(void *)k4, la4 / 4, 4, &removed);
  if (r == 0) r = map_sync(m6, a6, (const uint32_t *)(void *)k6, la6 / 16, 16, &removed);
  if (r < 0) return steer_error(env, -r, "bpf(BPF_MAP_UPDATE_ELEM/DELETE_ELEM)", NULL, NULL);
  CHECK(napi_create_uint32(env, removed, &res));
  return res;
}

/* steerTestRun(prog, frame: Uint8Array, repeat = 1) -> { ret, ns }: the program's return value for
 * an Ethernet frame (BPF_PROG_TEST_RUN; a socket filter sees it from the network header on) and
 * the kernel's average time per run in ns. Tests and the benchmark. */
static napi_value js_steer_test_run(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], res, v;
  int pfd;
  uint8_t *data;
  size_t len;
  uint32_t repeat = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_i32(env, argv[0], &pfd) || !get_bytes(env, argv[1], &data, &len)) return NULL;
  if (argc >= 3 && !get_u32(env, argv[2], &repeat)) return NULL;
  if (repeat == 0) repeat = 1;
  uint8_t out[2048];
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.test.prog_fd = (uint32_t)pfd;
  at.test.data_in = (uint64_t)(uintptr_t)data;
  at.test.data_size_in = (uint32_t)len;
  at.test.data_out = (uint64_t)(uintptr_t)out;
  at.test.data_size_out = sizeof out;
  at.test.repeat = repeat;
  if (sys_bpf(BPF_PROG_TEST_RUN, &at) < 0) return steer_error(env, errno, "bpf(BPF_PROG_TEST_RUN)", NULL, NULL);
  CHECK(napi_create_object(env, &res));
  CHECK(napi_create_uint32(env, at.test.retval, &v));
  CHECK(napi_set_named_property(env, res, "ret", v));
  CHECK(napi_create_uint32(env, at.test.duration, &v));
  CHECK(napi_set_named_property(env, res, "ns", v));
  return res;
}

/* steerClose(fd): the program or a map (the kernel keeps what a TUN still uses). */
static napi_value js_steer_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0) return steer_error(env, errno, "close", NULL, NULL);
  return NULL;
}

/* Called from the addon's init (tun.c): adds the steering functions to its exports. */
napi_value steer_init(napi_env env, napi_value exports) {
  static const struct { const char *name; napi_callback fn; } fns[] = {
    { "steerLoad", js_steer_load }, { "steerAttach", js_steer_attach }, { "steerSetAddrs", js_steer_set_addrs },
    { "steerTestRun", js_steer_test_run }, { "steerClose", js_steer_close },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f));
    CHECK(napi_set_named_property(env, exports, fns[i].name, f));
  }
  return exports;
}

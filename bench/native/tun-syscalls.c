/*
 * bench/native/tun-syscalls.c - where a TUN worker's per-frame time goes, one syscall step at a time
 * (issue 17). Run by bench/native/tun-syscalls.sh inside a namespace it builds (needs root):
 *
 *   getppid            the bare cost of entering and leaving the kernel here
 *   hairpin write      write() of a 64-byte UDP/IPv4 frame the kernel routes back into the same TUN
 *                      (the TUN's receive + ip_forward + the TUN's transmit, all in this syscall)
 *   hairpin read       read() of one such frame from the TUN queue
 *   read EAGAIN        read() of an empty queue (what ends every batch)
 *   sink write         write() of a frame the kernel forwards to a veth whose peer namespace drops it
 *                      (the director's output write in bench:tun)
 *   ifb write          write() of a frame the kernel forwards to an ifb device (no dummy in this kernel;
 *                      an ifb frees a frame that no tc rule redirected, at its xmit, like a dummy):
 *                      the forward alone, without the veth and the sink namespace's receive
 *   the same three with io_uring: one io_uring_enter submits the whole batch (IORING_OP_WRITE /
 *   IORING_OP_READ with RWF_NOWAIT, so an empty queue ends a read with -EAGAIN instead of arming a poll)
 *
 * Prints ns per frame for each step (median of 5 rounds of FRAMES frames). Raw syscalls, no liburing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAMES 200000
#define ROUNDS 5
#define FLEN 64

static double now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

static uint8_t hp[BATCH][FLEN], sk[BATCH][FLEN], dm[BATCH][FLEN], rx[BATCH][2048];

static void frame(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport) {
  memset(f, 0, FLEN);
  f[0] = 0x45; f[2] = 0; f[3] = FLEN; f[8] = 64; f[9] = 17;
  f[12] = src >> 24; f[13] = src >> 16; f[14] = src >> 8; f[15] = src;
  f[16] = dst >> 24; f[17] = dst >> 16; f[18] = dst >> 8; f[19] = dst;
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (uint32_t)f[i] << 8 | f[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  s = ~s & 0xffff; f[10] = s >> 8; f[11] = s;
  f[20] = sport >> 8; f[21] = sport; f[22] = 0; f[23] = 9; f[24] = 0; f[25] = FLEN - 20; /* UDP checksum 0: none */
}

/* ---- io_uring, raw ---- */
struct ring { int fd; unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask; struct io_uring_sqe *sqes; struct io_uring_cqe *cqes; };
static int ring_init(struct ring *r, unsigned entries) {
  struct io_uring_params p; memset(&p, 0, sizeof p);
  r->fd = syscall(__NR_io_uring_setup, entries, &p);
  if (r->fd < 0) return -errno;
  size_t sql = p.sq_off.array + p.sq_entries * sizeof(unsigned), cql = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) { if (cql > sql) sql = cql; cql = sql; }
  uint8_t *sq = mmap(0, sql, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  uint8_t *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq : mmap(0, cql, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
  r->sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  r->sq_tail = (unsigned *)(sq + p.sq_off.tail); r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask); r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head); r->cq_tail = (unsigned *)(cq + p.cq_off.tail); r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  return 0;
}
/* n ops of `op` on fd, buffer i = bufs + i*stride, len; returns successes (in order of i: first failure stops counting) */
static int ring_batch(struct ring *r, int fd, int op, uint8_t *bufs, size_t stride, unsigned len, int n, int *res) {
  unsigned tail = *r->sq_tail;
  for (int i = 0; i < n; i++) {
    unsigned idx = (tail + i) & *r->sq_mask;
    struct io_uring_sqe *s = &r->sqes[idx];
    memset(s, 0, sizeof *s);
    s->opcode = op; s->fd = fd; s->addr = (uint64_t)(uintptr_t)(bufs + i * stride); s->len = len;
    s->rw_flags = op == IORING_OP_READ ? RWF_NOWAIT : 0; s->user_data = i;
    r->sq_array[idx] = idx;
  }
  __atomic_store_n(r->sq_tail, tail + n, __ATOMIC_RELEASE);
  int k = syscall(__NR_io_uring_enter, r->fd, n, n, IORING_ENTER_GETEVENTS, NULL, 0);
  if (k < 0) { perror("io_uring_enter"); exit(1); }
  unsigned h = *r->cq_head, t = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
  int ok = 0;
  for (; h != t; h++) { struct io_uring_cqe *c = &r->cqes[h & *r->cq_mask]; res[c->user_data] = c->res; if (c->res > 0) ok++; }
  __atomic_store_n(r->cq_head, h, __ATOMIC_RELEASE);
  return ok;
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static double med(double *v) { qsort(v, ROUNDS, sizeof *v, cmp); return v[ROUNDS / 2]; }

int main(void) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "wvsm%d", getpid() % 100000);
  if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("tun"); return 1; }
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ip link set %s up && ip addr add 198.18.250.1/24 dev %s && ip route add 198.18.252.0/24 dev %s && "
           "sysctl -qw net.ipv4.conf.%s.rp_filter=0", ifr.ifr_name, ifr.ifr_name, ifr.ifr_name, ifr.ifr_name);
  if (system(cmd) != 0) return 1;
  for (int i = 0; i < BATCH; i++) {
    frame(hp[i], 0xc612fb01 + (i % 200), 0xc612fc01 + (i % 200), 20000 + i);  /* 198.18.251.x -> 198.18.252.x: back into the TUN */
    frame(sk[i], 0xc612fe01, 0xc612fd01 + (i % 3), 20000 + i);                /* 198.18.254.1 -> 198.18.253.1..3: out the veth */
    frame(dm[i], 0xc612fe01, 0xc612f901 + (i % 3), 20000 + i);                /* 198.18.254.1 -> 198.18.249.1..3: out the ifb */
  }
  double t_pp[ROUNDS], t_hw[ROUNDS], t_hr[ROUNDS], t_ea[ROUNDS], t_sw[ROUNDS], t_dw[ROUNDS], u_hw[ROUNDS], u_hr[ROUNDS], u_sw[ROUNDS], u_ea[ROUNDS], u_dw[ROUNDS];
  struct ring R; int rr = ring_init(&R, 256), res[BATCH];
  long lost = 0;
  for (int round = 0; round < ROUNDS; round++) {
    double t0 = now_ns();
    for (int i = 0; i < FRAMES; i++) syscall(SYS_getppid);
    t_pp[round] = (now_ns() - t0) / FRAMES;
    double w = 0, r = 0, e = 0; long got = 0;
    for (int b = 0; b < FRAMES / BATCH; b++) {
      t0 = now_ns();
      for (int i = 0; i < BATCH; i++) if (write(fd, hp[i], FLEN) != FLEN) lost++;
      double t1 = now_ns();
      for (;;) { ssize_t n = read(fd, rx[0], 2048); if (n < 0) break; got++; }
      double t2 = now_ns();
      if (read(fd, rx[0], 2048) >= 0) got++;
      e += now_ns() - t2;
      w += t1 - t0; r += t2 - t1;
    }
    t_hw[round] = w / FRAMES; t_hr[round] = (r - e) / got; t_ea[round] = e / (FRAMES / BATCH);
    t0 = now_ns();
    for (int b = 0; b < FRAMES / BATCH; b++) for (int i = 0; i < BATCH; i++) if (write(fd, sk[i], FLEN) != FLEN) lost++;
    t_sw[round] = (now_ns() - t0) / FRAMES;
    t0 = now_ns();
    for (int b = 0; b < FRAMES / BATCH; b++) for (int i = 0; i < BATCH; i++) if (write(fd, dm[i], FLEN) != FLEN) lost++;
    t_dw[round] = (now_ns() - t0) / FRAMES;
    if (rr == 0) {
      w = r = 0; got = 0; double ea = 0; long eb = 0;
      for (int b = 0; b < FRAMES / BATCH; b++) {
        t0 = now_ns();
        ring_batch(&R, fd, IORING_OP_WRITE, hp[0], FLEN, FLEN, BATCH, res);
        double t1 = now_ns();
        int k = ring_batch(&R, fd, IORING_OP_READ, rx[0], 2048, 2048, BATCH, res);
        double t2 = now_ns();
        got += k; w += t1 - t0; r += t2 - t1;
        if (b % 16 == 0) { double t3 = now_ns(); ring_batch(&R, fd, IORING_OP_READ, rx[0], 2048, 2048, 1, res); ea += now_ns() - t3; eb++; }
      }
      u_hw[round] = w / FRAMES; u_hr[round] = r / got; u_ea[round] = ea / eb;
      t0 = now_ns();
      for (int b = 0; b < FRAMES / BATCH; b++) ring_batch(&R, fd, IORING_OP_WRITE, sk[0], FLEN, FLEN, BATCH, res);
      u_sw[round] = (now_ns() - t0) / FRAMES;
      t0 = now_ns();
      for (int b = 0; b < FRAMES / BATCH; b++) ring_batch(&R, fd, IORING_OP_WRITE, dm[0], FLEN, FLEN, BATCH, res);
      u_dw[round] = (now_ns() - t0) / FRAMES;
    }
  }
  printf("ns per frame, median of %d rounds x %d frames (batches of %d, 64-byte UDP/IPv4):\n", ROUNDS, FRAMES, BATCH);
  printf("  getppid (syscall entry+exit)        %6.0f\n", med(t_pp));
  printf("  hairpin write (TUN->fwd->TUN)       %6.0f   io_uring %6.0f\n", med(t_hw), rr == 0 ? med(u_hw) : 0);
  printf("  hairpin read (one frame)            %6.0f   io_uring %6.0f\n", med(t_hr), rr == 0 ? med(u_hr) : 0);
  printf("  read of an empty queue (EAGAIN)     %6.0f   io_uring %6.0f (one-op enter)\n", med(t_ea), rr == 0 ? med(u_ea) : 0);
  printf("  sink write (TUN->fwd->veth->netns)  %6.0f   io_uring %6.0f\n", med(t_sw), rr == 0 ? med(u_sw) : 0);
  printf("  ifb write (TUN->fwd->ifb, freed)   %6.0f   io_uring %6.0f\n", med(t_dw), rr == 0 ? med(u_dw) : 0);
  if (rr == 0) {
    /* small batches (a TCP load's few frames per wake-up): k writes as k syscalls or as one enter */
    printf("small batches, ns per frame (sink write; k write() calls against one io_uring_enter of k ops):\n");
    for (int k = 1; k <= 16; k *= 2) {
      double a[ROUNDS], u[ROUNDS];
      for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_ns();
        for (int b = 0; b < FRAMES / 4 / k; b++) for (int i = 0; i < k; i++) if (write(fd, sk[i], FLEN) != FLEN) lost++;
        a[round] = (now_ns() - t0) / (FRAMES / 4 / k * k);
        t0 = now_ns();
        for (int b = 0; b < FRAMES / 4 / k; b++) ring_batch(&R, fd, IORING_OP_WRITE, sk[0], FLEN, FLEN, k, res);
        u[round] = (now_ns() - t0) / (FRAMES / 4 / k * k);
      }
      printf("  k = %2d   write() %6.0f   io_uring %6.0f\n", k, med(a), med(u));
    }
  }
  if (rr != 0) printf("  io_uring unavailable: %s\n", strerror(-rr));
  if (lost) printf("  writes that failed: %ld\n", lost);
  return 0;
}

// Micro-measure of the pump's anti-spoofing check (native/src/src_filter.h): nanoseconds per packet for
// 2, 8 and 32 allowed prefixes, IPv4 and IPv6, the source matching the last prefix (the worst case), on
// one core of whatever machine runs it.
//   cc -O2 -Inative/src bench/src-filter-micro.c native/src/src_filter.c -o /tmp/src-filter-micro && /tmp/src-filter-micro
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "src_filter.h"

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(void) {
  static struct src_filter f;
  char err[ERRBUF_LEN], cidr[64];
  uint8_t v4[20] = {0x45}, v6[40] = {0x60};
  for (int n = 2; n <= 32; n *= 4) {
    memset(&f, 0, sizeof f);
    f.on = true;
    for (int i = 0; i < n; i++) {
      snprintf(cidr, sizeof cidr, "172.%d.0.0/16", 16 + i);
      src_filter_add(&f, cidr, err);
      snprintf(cidr, sizeof cidr, "fd00:%x::/64", i);
      src_filter_add(&f, cidr, err);
    }
    v4[12] = 172, v4[13] = (uint8_t)(16 + n - 1), v4[15] = 9;  // in the last prefix
    v6[8] = 0xfd, v6[11] = (uint8_t)(n - 1), v6[39] = 9;
    const long iters = 50 * 1000 * 1000;
    unsigned hits = 0;
    for (int fam = 4; fam <= 6; fam += 2) {
      const uint8_t *pkt = fam == 4 ? v4 : v6;
      double t0 = now_ns();
      for (long i = 0; i < iters; i++) {
        __asm__ volatile("" : "+r"(pkt));  // a "new" packet each time: the check cannot be hoisted
        hits += src_filter_allows(&f, pkt);
      }
      printf("IPv%d, %2d prefixes: %.2f ns per packet\n", fam, n, (now_ns() - t0) / (double)iters);
    }
    if (hits != 2u * (unsigned)iters) return 1;
  }
  return 0;
}

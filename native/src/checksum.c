#include "checksum.h"

#include <string.h>

#include <arpa/inet.h>

uint64_t csum_add(uint64_t sum, const void *buf, size_t len) {
  // 32-bit words into four independent 64-bit accumulators: no carry handling in the loop (a 64 KB buffer
  // adds at most 2^44), and the additions pipeline. Folding later is arithmetic mod 0xffff, for which a
  // 32-bit word is just the sum of its two 16-bit halves.
  const uint8_t *p = buf;
  uint64_t s0 = sum, s1 = 0, s2 = 0, s3 = 0;
  while (len >= 16) {
    uint32_t w[4];
    memcpy(w, p, 16);  // unaligned-safe; compiles to plain loads
    s0 += w[0];
    s1 += w[1];
    s2 += w[2];
    s3 += w[3];
    p += 16;
    len -= 16;
  }
  s0 += s1 + s2 + s3;
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    s0 += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    s0 += w;
    p += 2;
    len -= 2;
  }
  if (len) {  // an odd last byte is the high-order byte of a word padded with zero (in memory order)
    uint8_t last[2] = {*p, 0};
    uint16_t w;
    memcpy(&w, last, 2);
    s0 += w;
  }
  return s0;
}

uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

uint64_t csum_pseudo(const uint8_t *addrs, size_t addr_len, uint8_t proto, uint32_t l4_len) {
  // IPv4's {zero, proto, len16} and IPv6's {len32, zero24, proto} sum to the same value for len < 64 KiB,
  // so one layout serves both.
  uint8_t tail[8] = {0, 0, 0, proto, 0, 0, 0, 0};
  uint32_t be_len = htonl(l4_len);
  memcpy(tail + 4, &be_len, 4);
  return csum_add(csum_add(0, addrs, 2 * addr_len), tail, sizeof tail);
}

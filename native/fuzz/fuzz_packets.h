// Shared by the fuzz targets: turning the fuzzer's bytes into IP packets, and an independent reading of a
// packet (its flow, its checksums, and the parts of it that coalescing and segmentation must carry through
// unchanged).
// Written apart from native/src on purpose: a target checks the pump's code against this reading.
#ifndef GANGWAY_FUZZ_PACKETS_H
#define GANGWAY_FUZZ_PACKETS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Stops the run with a message: libFuzzer reports the abort as a crash and saves the input.
#define FUZZ_CHECK(cond, ...)                              \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "fuzz check failed: " #cond " -- "); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      abort();                                             \
    }                                                      \
  } while (0)

struct reader {
  const uint8_t *p;
  size_t n;
};

static inline uint8_t rd8(struct reader *r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

static inline uint16_t rd16(struct reader *r) { return (uint16_t)(rd8(r) << 8 | rd8(r)); }

static inline void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

#define FUZZ_FLOWS 4

// RFC 1071, written here rather than taken from native/src/checksum.c, so that the targets check the pump's
// checksums against a sum of their own: ~ of the ones'-complement sum of `sum` and p's 16-bit words.
static inline uint16_t fuzz_csum(const uint8_t *p, size_t len, uint64_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += get16(p + i);
  if (len & 1) sum += (uint64_t)p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

// The TCP/UDP pseudo-header sum of a packet whose IP header is iph bytes (addresses at their usual places).
static inline uint64_t fuzz_pseudo(const uint8_t *pkt, size_t len, size_t iph, uint8_t proto) {
  bool v6 = pkt[0] >> 4 == 6;
  size_t addrs = v6 ? 8 : 12, alen = v6 ? 32 : 8;
  uint64_t sum = proto + (uint64_t)(len - iph);
  for (size_t i = 0; i < alen; i += 2) sum += get16(pkt + addrs + i);
  return sum;
}

// Whether the packet's TCP or UDP checksum is correct.
static inline bool fuzz_l4_csum_ok(const uint8_t *pkt, size_t len, size_t iph, uint8_t proto) {
  return fuzz_csum(pkt + iph, len - iph, fuzz_pseudo(pkt, len, iph, proto)) == 0;
}

// What CHECKSUM_PARTIAL expects in a TCP checksum field: the pseudo-header sum, folded, not complemented.
static inline uint16_t fuzz_seed(const uint8_t *pkt, size_t len, size_t iph) {
  return (uint16_t)~fuzz_csum(pkt, 0, fuzz_pseudo(pkt, len, iph, 6));
}

// Fills in the TCP or UDP checksum (at `field` in the L4 header) of a packet built by fuzz_packet.
static inline void fuzz_set_l4_csum(uint8_t *pkt, size_t len, size_t iph, uint8_t proto, size_t field) {
  put16(pkt + iph + field, 0);
  uint16_t c = fuzz_csum(pkt + iph, len - iph, fuzz_pseudo(pkt, len, iph, proto));
  put16(pkt + iph + field, c == 0 && proto == 17 ? 0xffff : c);
}

// Per-flow TCP state, so that most synthesized segments follow one another and coalescing has work to do.
struct flow_state {
  uint32_t seq;
  uint16_t ip_id;
};

// One packet from the fuzzer's bytes, in a buffer of exactly its length (so AddressSanitizer sees any read
// past its end). Most records describe a TCP segment of one of a few flows (IPv4 or IPv6) whose fields follow
// on from the flow's last one unless told otherwise; some are UDP or ICMP; some are raw bytes. Any record may
// flip a few bytes afterwards. Returns NULL when the input is used up.
static inline uint8_t *fuzz_packet(struct reader *r, struct flow_state *flows, size_t *len_out) {
  if (r->n == 0) return NULL;
  uint8_t b0 = rd8(r);
  uint8_t *pkt;
  size_t len;
  if ((b0 & 7) == 7) {  // raw
    len = rd16(r) % 1600;
    pkt = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) pkt[i] = rd8(r);
  } else {
    bool v6 = b0 & 8;
    unsigned flow = (b0 >> 4) & (FUZZ_FLOWS - 1);
    unsigned shape = b0 & 7;  // 0-3 TCP data or ACK, 4 TCP control, 5 UDP, 6 ICMP
    uint8_t variant = rd8(r);
    size_t payload = shape == 4 ? 0 : rd16(r) % 1460;
    if (shape == 3) payload = 0;  // a pure ACK
    size_t opts = shape <= 4 ? (size_t)(variant & 3) * 4 : 0;
    uint8_t proto = shape <= 4 ? 6 : shape == 5 ? 17 : (v6 ? 58 : 1);
    size_t iph = v6 ? 40 : 20, l4h = proto == 6 ? 20 + opts : 8;
    len = iph + l4h + payload;
    pkt = calloc(1, len);
    struct flow_state *f = &flows[flow];
    if (v6) {
      pkt[0] = 0x60;
      pkt[1] = (variant & 0x40) ? 0x10 : 0;  // traffic class
      put16(pkt + 4, (uint16_t)(len - 40));
      pkt[6] = proto;
      pkt[7] = (variant & 0x80) ? 63 : 64;
      pkt[8] = 0xfd, pkt[23] = 1, pkt[24] = 0xfd, pkt[39] = (uint8_t)(2 + flow % 2);
    } else {
      pkt[0] = 0x45;
      pkt[1] = (variant & 0x40) ? 0x10 : 0;  // TOS
      put16(pkt + 2, (uint16_t)len);
      put16(pkt + 4, (variant & 0x20) ? (uint16_t)(f->ip_id + 7) : f->ip_id);
      pkt[6] = (variant & 0x10) ? 0 : 0x40;  // DF
      pkt[8] = (variant & 0x80) ? 63 : 64;
      pkt[9] = proto;
      pkt[12] = 10, pkt[15] = 1, pkt[16] = 172, pkt[17] = 30, pkt[19] = (uint8_t)(2 + flow % 2);
    }
    f->ip_id++;
    uint8_t *l4 = pkt + iph;
    put16(l4, (uint16_t)(40000 + flow));
    put16(l4 + 2, 80);
    bool csum = proto == 17 && !(variant & 0x04);
    if (proto == 6) {
      uint8_t jump = rd8(r);
      csum = !(jump & 0x10);
      if (jump >= 224) f->seq += (uint32_t)(jump - 240) * 1000;  // a gap, or a step back
      put32(l4 + 4, f->seq);
      put32(l4 + 8, (variant & 0x08) ? 1000u : 1u);  // ack
      l4[12] = (uint8_t)((l4h / 4) << 4);
      static const uint8_t control[] = {0x02, 0x12, 0x11, 0x04, 0x18, 0x50, 0x90, 0x30};
      l4[13] = shape == 4 ? control[variant >> 5] : (variant & 0x04) ? 0x18 : 0x10;
      put16(l4 + 14, (variant & 0x02) ? 501 : 502);  // window
      for (size_t i = 0; i < opts; i++) l4[20 + i] = i % 4 == 3 ? (uint8_t)flow : 1;  // NOPs, then a mark
      f->seq += (uint32_t)payload;
    } else if (proto == 17) {
      put16(l4 + 4, (uint16_t)(l4h + payload));
    } else {
      l4[0] = v6 ? 128 : 8;  // echo request
      put16(l4 + 4, (uint16_t)flow);
    }
    for (size_t i = 0; i < payload; i++) pkt[iph + l4h + i] = (uint8_t)(i * 7 + flow + len);
    // About half get a valid checksum, as a peer that computes them sends (coalescing then checks it).
    if (csum) fuzz_set_l4_csum(pkt, len, iph, proto, proto == 6 ? 16 : 6);
  }
  for (unsigned flips = rd8(r) % 4; flips > 0 && len > 0; flips--) {
    size_t at = rd16(r) % len;
    pkt[at] ^= rd8(r);
  }
  *len_out = len;
  return pkt;
}

// What the fuzz targets' reading of a packet finds: a well-formed TCP segment (as coalescing handles them) or
// anything else.
struct tcp_view {
  bool ok;
  size_t iph, tcph, payload;
};

static inline struct tcp_view view_tcp(const uint8_t *p, size_t len) {
  struct tcp_view v = {0};
  if (len >= 20 && p[0] >> 4 == 4) {
    v.iph = (size_t)(p[0] & 15) * 4;
    if (v.iph < 20 || v.iph > len || (get16(p + 6) & 0x3fff) != 0 || p[9] != 6) return v;
  } else if (len >= 40 && p[0] >> 4 == 6) {
    v.iph = 40;
    if (p[6] != 6) return v;
  } else {
    return v;
  }
  if (len < v.iph + 20) return v;
  v.tcph = (size_t)(p[v.iph + 12] >> 4) * 4;
  if (v.tcph < 20 || v.iph + v.tcph > len) return v;
  v.payload = len - v.iph - v.tcph;
  v.ok = true;
  return v;
}

// The flow a packet belongs to, as fine as the pump's own flow queues tell flows apart (version, addresses,
// protocol, and the first four bytes of TCP/UDP, or ICMP's type, code and echo identifier), with TCP that
// coalescing cannot read kept apart: the pump promises order within a flow, and nothing about garbage.
// Writes at most 48 bytes to key; returns their count.
static inline size_t flow_key(const uint8_t *p, size_t len, uint8_t *key) {
  size_t n = 0, l4 = 0, addrs = 0, alen = 0;
  uint8_t proto = 0;
  key[n++] = len ? p[0] >> 4 : 0;
  if (len >= 20 && p[0] >> 4 == 4) {
    addrs = 12, alen = 8, proto = p[9];
    l4 = (get16(p + 6) & 0x3fff) == 0 ? (size_t)(p[0] & 15) * 4 : 0;
  } else if (len >= 40 && p[0] >> 4 == 6) {
    addrs = 8, alen = 32, proto = p[6], l4 = 40;
  }
  memcpy(key + n, p + addrs, alen);
  n += alen;
  key[n++] = proto;
  if (l4 >= 20 && len >= l4 + 4) {
    bool icmp = proto == 1 || proto == 58;
    memcpy(key + n, p + l4, icmp ? 2 : 4);
    if (icmp) {
      uint8_t t = p[l4];
      bool echo = proto == 58 ? (t == 128 || t == 129) : (t == 8 || t == 0);
      key[n + 2] = echo && len >= l4 + 6 ? p[l4 + 4] : 0;
      key[n + 3] = echo && len >= l4 + 6 ? p[l4 + 5] : 0;
    }
    n += 4;
  }
  key[n++] = proto == 6 && !view_tcp(p, len).ok;
  return n;
}

#endif

// Anti-spoofing on the UDP -> TUN path: the inner source address of every data packet from the peer must lie
// in one of the allowed prefixes (the far end's tunnel address and the subnets routed through it), or the
// packet is dropped. Checking it costs one load and, per prefix, an AND and a compare (IPv6: two of each).
#ifndef GANGWAY_SRC_FILTER_H
#define GANGWAY_SRC_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "ip.h"

// Prefixes per family. Docker's default pools give a few dozen networks; more is refused, not truncated.
#define SRC_FILTER_MAX 256

struct src_prefix4 {
  uint32_t net, mask;  // host byte order; net is already masked
};

struct src_prefix6 {
  uint64_t net[2], mask[2];
};

struct src_filter {
  bool on;  // false: every source passes (a pump nobody restricted, e.g. the raw test endpoints)
  uint16_t n4, n6;
  struct src_prefix4 v4[SRC_FILTER_MAX];
  struct src_prefix6 v6[SRC_FILTER_MAX];
};

// Adds "a.b.c.d/len" or "x:y::/len" (the address's host bits must be zero) to f. Returns -1 with a message
// in err (ERRBUF_LEN bytes) for anything else, or when the family's list is full.
int src_filter_add(struct src_filter *f, const char *cidr, char *err);

static inline uint64_t src_read64(const uint8_t *p) {
  return ((uint64_t)ip_read32(p) << 32) | ip_read32(p + 4);
}

// pkt is a data packet that passed ip_header_valid (so its source address is there to read).
static inline bool src_filter_allows(const struct src_filter *f, const uint8_t *pkt) {
  if (!f->on) return true;
  if ((pkt[0] >> 4) == 4) {
    uint32_t src = ip_read32(pkt + 12);
    for (unsigned i = 0; i < f->n4; i++)
      if ((src & f->v4[i].mask) == f->v4[i].net) return true;
    return false;
  }
  uint64_t hi = src_read64(pkt + 8), lo = src_read64(pkt + 16);
  for (unsigned i = 0; i < f->n6; i++) {
    const struct src_prefix6 *p = &f->v6[i];
    if ((hi & p->mask[0]) == p->net[0] && (lo & p->mask[1]) == p->net[1]) return true;
  }
  return false;
}

#endif

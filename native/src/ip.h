// Just enough IP header knowledge for the pump: what is data, and is a data datagram a plausible packet.
#ifndef GANGWAY_IP_H
#define GANGWAY_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPV4_MIN_HEADER 20
#define IPV6_HEADER 40

// The wire format has no header: a datagram whose first nibble is 4 or 6 is data, anything else control.
static inline bool ip_is_data(const uint8_t *p, size_t len) {
  return len > 0 && ((p[0] >> 4) == 4 || (p[0] >> 4) == 6);
}

static inline uint16_t ip_read16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t ip_read32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void ip_write16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void ip_write32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

// Minimal sanity check before a datagram is written to the TUN: the version matches, the header fits, and the
// length in the header is exactly the datagram's (so a datagram is one whole packet, never a fragment of
// the stream). The kernel validates the rest; this keeps obvious garbage out of its counters.
static inline bool ip_header_valid(const uint8_t *p, size_t len) {
  if (len < 1) return false;
  if ((p[0] >> 4) == 4) {
    if (len < IPV4_MIN_HEADER) return false;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    return ihl >= IPV4_MIN_HEADER && ihl <= len && ip_read16(p + 2) == len;
  }
  if ((p[0] >> 4) == 6) {
    return len >= IPV6_HEADER && (size_t)ip_read16(p + 4) + IPV6_HEADER == len;
  }
  return false;
}

// An IPv6 router solicitation (ICMPv6 type 133, no extension headers, as the kernel sends them). The kernel
// sends one on every IPv6 link without forwarding, again at doubling intervals up to an hour; across the tunnel
// no router answers, and each one would wake both ends and both processes for nothing.
static inline bool ip6_is_router_solicit(const uint8_t *p, size_t len) {
  return len >= IPV6_HEADER + 8 && (p[0] >> 4) == 6 && p[6] == 58 && p[IPV6_HEADER] == 133;
}

#endif

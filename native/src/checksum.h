// Internet checksum (RFC 1071). Sums are 64-bit accumulators of words read in native byte order; folding and
// storing the result back in native order gives the right bytes on the wire on any endianness.
#ifndef GANGWAY_CHECKSUM_H
#define GANGWAY_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

// Adds buf to sum. Only the last buffer of a sum may have an odd length (like the kernel's csum_partial).
uint64_t csum_add(uint64_t sum, const void *buf, size_t len);

// Folds to 16 bits without complementing: the value CHECKSUM_PARTIAL expects in the checksum field.
uint16_t csum_fold(uint64_t sum);

// The value to store in a checksum field (complemented).
static inline uint16_t csum_finish(uint64_t sum) { return (uint16_t)~csum_fold(sum); }

// The TCP/UDP pseudo-header sum; addr_len is 4 (IPv4) or 16 (IPv6), src and dst sit at `addrs` back to back
// as they do in both IP headers.
uint64_t csum_pseudo(const uint8_t *addrs, size_t addr_len, uint8_t proto, uint32_t l4_len);

#endif

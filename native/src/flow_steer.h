// Which socket of a SO_REUSEPORT group receives a tunnel datagram: a classic BPF program hashes the inner
// packet's flow (addresses and the first four bytes after the IP header, the ports for TCP and UDP), so all
// packets of one flow reach one pump queue while several flows spread over the queues, although they all
// arrive from the one pinned peer (whose 4-tuple the kernel's own reuseport hash would send to one socket).
// A buffer coalesced from several datagrams (a UDP GSO send, or GRO on the receiving device) goes where its
// first packet's flow goes: so the sender puts only packets the program cannot tell apart into one GSO send
// (flow_steer_same), whatever the receiver's queue count.
#ifndef GANGWAY_FLOW_STEER_H
#define GANGWAY_FLOW_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Attaches the program to the group of the bound socket fd; n sockets will be in it. Control datagrams (first
// nibble neither 4 nor 6) and packets too short to hash go to the first socket. -1 with a message in err.
int flow_steer_attach(int fd, unsigned n, char *err);

// True when the program reads the same bytes in both data packets (version and header length, addresses,
// the four bytes after the IP header), so they are steered alike. Packets too short for that never match.
static inline bool flow_steer_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  if (a[0] != b[0]) return false;
  size_t off, l4;
  if ((a[0] >> 4) == 4) {
    off = 12;
    l4 = (size_t)(a[0] & 0x0f) * 4;
    if (l4 < 20) return false;  // not a valid header: never grouped
  } else {
    off = 8;
    l4 = 40;
  }
  if (alen < l4 + 4 || blen < l4 + 4) return false;
  return memcmp(a + off, b + off, l4 - off) == 0 && memcmp(a + l4, b + l4, 4) == 0;
}

#endif

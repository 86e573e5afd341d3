// Per-source budget for control datagrams from anyone but the pinned peer, applied on the UDP -> TUN thread
// before a datagram is copied and queued for JavaScript: one socket flooding the port (HELLOs, garbage) then
// costs a hash and a compare per datagram, and cannot fill the control queue that a restarting agent needs.
// Sources live in a small direct-mapped table; a collision just starts the newcomer with a full budget.
#ifndef GANGWAY_CTRL_LIMIT_H
#define GANGWAY_CTRL_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define CTRL_LIMIT_SLOTS 1024
// A real agent sends a few control datagrams per second (HELLO and AUTH retries, keepalives after its flow
// was re-mapped); JavaScript applies the finer HELLO limits.
#define CTRL_LIMIT_RATE 50   // per second
#define CTRL_LIMIT_BURST 100

struct ctrl_slot {
  uint8_t addr[16];
  uint16_t port;
  uint8_t family;
  bool used;
  uint32_t tokens_milli;  // tokens * 1000
  uint64_t at_ms;
};

struct ctrl_limit {
  struct ctrl_slot slots[CTRL_LIMIT_SLOTS];
};

// True when `from` may hand up one more control datagram at now_ms (a monotonic clock).
bool ctrl_limit_take(struct ctrl_limit *l, const struct sockaddr *from, uint64_t now_ms);

#endif

// CoDel (RFC 8289) for the pump's receive side: under load the queue that grows is the UDP socket's receive
// queue in front of a pump that cannot keep up. Left alone it fills until the kernel drops at its tail,
// losing pings and small packets as readily as bulk data, after milliseconds of delay. CoDel watches how
// long each datagram waited (its kernel receive timestamp against the clock) and, once that has stayed above
// `target` for a whole `interval`, drops bulk packets at a rising rate until the wait falls back: TCP slows
// down, the queue stays short, and what the pump does not drop it writes. Pure logic, no syscalls.
#ifndef GANGWAY_AQM_H
#define GANGWAY_AQM_H

#include <stdbool.h>
#include <stdint.h>

// Packets up to this many bytes are never dropped by the AQM: pings, TCP ACKs, DNS, handshakes. They cost
// the pump little and are what latency is measured by.
#define AQM_SMALL_PACKET 256

struct aqm {
  uint64_t target_ns, interval_ns;
  uint64_t first_above_ns;  // when the wait will have been above target for an interval; 0: below target
  uint64_t drop_next_ns;
  uint32_t count, last_count;
  bool dropping;
};

void aqm_init(struct aqm *a, uint64_t target_ns, uint64_t interval_ns);

// One bulk packet that waited `sojourn_ns`, seen at `now_ns` (any monotonic-enough clock in ns): true when
// it should be dropped.
bool aqm_should_drop(struct aqm *a, uint64_t sojourn_ns, uint64_t now_ns);

// The queue ran empty: whatever waited before is no standing queue (RFC 8289: the timer starts again).
void aqm_queue_empty(struct aqm *a);

#endif

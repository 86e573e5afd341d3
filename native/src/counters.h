// Pump counters. One X-macro list drives the atomic struct, the per-batch scratch copy and the JS stats
// object, so a counter cannot be added in one place and forgotten in another.
#ifndef GANGWAY_COUNTERS_H
#define GANGWAY_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

// X(c_field, "jsName")
#define PUMP_COUNTERS(X)                      \
  X(tun_rx_packets, "tunRxPackets")           \
  X(tun_rx_bytes, "tunRxBytes")               \
  X(udp_tx_packets, "udpTxPackets")           \
  X(udp_tx_bytes, "udpTxBytes")               \
  X(udp_rx_packets, "udpRxPackets")           \
  X(udp_rx_bytes, "udpRxBytes")               \
  X(tun_tx_packets, "tunTxPackets")           \
  X(tun_tx_bytes, "tunTxBytes")               \
  X(control_rx, "controlRx")                  \
  X(control_tx, "controlTx")                  \
  X(drop_no_peer, "dropNoPeer")               \
  X(drop_not_peer, "dropNotPeer")             \
  X(drop_malformed, "dropMalformed")          \
  X(drop_oversize, "dropOversize")            \
  X(drop_tun_write, "dropTunWrite")           \
  X(drop_udp_send, "dropUdpSend")             \
  X(udp_gso_fallback, "udpGsoFallback")       \
  X(drop_control_queue, "dropControlQueue")   \
  X(drop_spoofed, "dropSpoofed")              \
  X(drop_control_rate, "dropControlRate")     \
  X(tun_rx_gso_packets, "tunRxGsoPackets")    \
  X(tun_tx_gro_packets, "tunTxGroPackets")    \
  X(udp_rx_overflow, "udpRxOverflow")         \
  X(drop_queue_delay, "dropQueueDelay")       \
  X(drop_tun_queue, "dropTunQueue")           \
  X(drop_fq_delay, "dropFqDelay")             \
  X(drop_fq_full, "dropFqFull")               \
  X(udp_tx_connected, "udpTxConnected")       \
  X(udp_tx_csum_left, "udpTxCsumLeft")        \
  X(tun_tx_csum_filled, "tunTxCsumFilled")    \
  X(drop_bad_csum, "dropBadCsum")             \
  X(lingers, "lingers")                       \
  X(drop_router_solicit, "dropRouterSolicit")

// Shared, read by stats() on the JS thread while the pump threads add to them.
struct pump_counters {
#define X(field, name) _Atomic uint64_t field;
  PUMP_COUNTERS(X)
#undef X
};

// A thread's private tally for one batch. Threads count here without atomics and publish once per batch:
// one locked add per counter per batch instead of several per packet.
struct counter_batch {
#define X(field, name) uint64_t field;
  PUMP_COUNTERS(X)
#undef X
};

// A plain snapshot (what stats() reports).
typedef struct counter_batch pump_stats_t;

static inline void counters_publish(struct pump_counters *c, struct counter_batch *b) {
#define X(field, name)                                                       \
  if (b->field) {                                                            \
    atomic_fetch_add_explicit(&c->field, b->field, memory_order_relaxed);    \
    b->field = 0;                                                            \
  }
  PUMP_COUNTERS(X)
#undef X
}

static inline void counters_snapshot(struct pump_counters *c, pump_stats_t *out) {
#define X(field, name) out->field = atomic_load_explicit(&c->field, memory_order_relaxed);
  PUMP_COUNTERS(X)
#undef X
}

#endif

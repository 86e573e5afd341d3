// FQ-CoDel (fq.h) with the memory of its packets: `nslots` slots of `slot` bytes. Both pump threads queue
// packets in one: the TUN -> UDP thread always (pump_tun2udp.c), the UDP -> TUN thread without offloads
// (pump_udp2tun.c: macOS, the mac-like path, --no-offload). Slots are touched only as far as a load reaches:
// fq.c hands out the last freed first.
#ifndef GANGWAY_FQ_POOL_H
#define GANGWAY_FQ_POOL_H

#include <stdint.h>
#include <stdlib.h>

#include "fq.h"

// CoDel per flow at RFC 8290's defaults. A bulk flow's own queue delays no sparse flow here, so it may stand
// longer than a FIFO's (1 ms for 10 ms, pump_udp2tun.c's offload mode): with 1 ms for 10 ms the mac-like bench
// path moved 15% less over one stream (a thread that is off its CPU for a few ms looked like a standing queue)
// for no better ping.
#define FQ_TARGET_NS 5000000
#define FQ_INTERVAL_NS 100000000
// One packet a slot: up to 4 MiB of them, at most 1024 (more than a TUN's queue of 500) and at least 128.
#define FQ_PLAIN_POOL_MAX (4 << 20)
#define FQ_PLAIN_SLOTS_MAX 1024
#define FQ_PLAIN_SLOTS_MIN 128
#define FQ_PLAIN_QUANTUM_PACKETS 16  // a flow's turn: enough same-flow packets for a UDP GSO send

struct fq_pool {
  struct fq fq;
  uint8_t *mem;
  size_t slot;  // bytes a slot holds
};

// -1 when out of memory (nothing is left allocated).
static inline int fq_pool_init(struct fq_pool *p, size_t slot, unsigned nslots, uint32_t quantum) {
  p->slot = slot;
  p->mem = malloc(nslots * slot);
  if (!p->mem || fq_init(&p->fq, nslots, quantum, FQ_TARGET_NS, FQ_INTERVAL_NS) != 0) {
    free(p->mem);
    p->mem = NULL;
    return -1;
  }
  return 0;
}

// One packet of up to `mtu` bytes a slot; a slot holds one byte more, so an oversize packet read into it
// shows as such.
static inline int fq_pool_init_plain(struct fq_pool *p, size_t mtu) {
  size_t slot = (mtu + 1 + 63) & ~(size_t)63;
  size_t n = FQ_PLAIN_POOL_MAX / slot;
  if (n > FQ_PLAIN_SLOTS_MAX) n = FQ_PLAIN_SLOTS_MAX;
  if (n < FQ_PLAIN_SLOTS_MIN) n = FQ_PLAIN_SLOTS_MIN;
  return fq_pool_init(p, slot, (unsigned)n, (uint32_t)(FQ_PLAIN_QUANTUM_PACKETS * mtu));
}

static inline void fq_pool_destroy(struct fq_pool *p) {
  if (!p->mem) return;  // never initialised, or initialisation failed
  fq_destroy(&p->fq);
  free(p->mem);
  p->mem = NULL;
}

static inline uint8_t *fq_pool_buf(const struct fq_pool *p, int slot) { return p->mem + (size_t)slot * p->slot; }

#endif

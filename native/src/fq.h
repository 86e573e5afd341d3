// FQ-CoDel (RFC 8290) for the pump's TUN -> UDP side. The kernel's queue in front of that thread (the TUN's
// ring on Linux, utun's socket buffer on macOS) is one FIFO that drops at its tail: under bulk load a ping
// waits behind milliseconds of bulk data, and is lost as readily as it when the queue overflows. So the thread
// drains that queue eagerly into its own packet slots, here, and sends from them in FQ-CoDel's order:
//  - flows (a hash of addresses and ports) get their own queue; a flow that had nothing queued (a ping, a DNS
//    query, a new connection's first packets) goes first, then the queues take turns by bytes (DRR);
//  - each flow queue has its own CoDel (aqm.h) on the time its packets waited here; only packets over
//    AQM_SMALL_PACKET bytes are ever dropped by it;
//  - when every slot is taken, the flow with the most bytes queued may lose its oldest packet to make room
//    (fq_slot_take; the caller chooses: see pump_tun2udp.c).
// A flow's packets keep their order. Pure bookkeeping over slot indices: the caller owns the packet memory.
#ifndef GANGWAY_FQ_H
#define GANGWAY_FQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aqm.h"

// Flow queues, a power of two: RFC 8290's and Linux's 1024. A ping session or a DNS client shares a queue
// with one of k bulk flows with a chance of about k/FQ_FLOWS, and then waits behind its backlog.
#define FQ_FLOWS 1024
#define FQ_MAX_SLOTS 4096  // slot indices are 16-bit with FQ_NONE reserved
#define FQ_NONE 0xffff

struct fq_flow {
  uint16_t head, tail;  // its packets, oldest first (through fq.next)
  uint16_t link;        // the next flow in the new or old list
  uint8_t list;         // which list it is on (enum in fq.c)
  int32_t deficit;      // bytes it may still send this round
  uint32_t backlog;     // bytes queued
  struct aqm aqm;
};

struct fq_list {
  uint16_t head, tail;
};

struct fq {
  uint32_t quantum;
  uint16_t nslots, free_head, queued;
  uint16_t *next;    // per slot: the next packet of its flow, or the next free slot
  uint32_t *len;     // per slot: packet bytes
  uint64_t *enq_ns;  // per slot: when it was queued
  struct fq_flow flows[FQ_FLOWS];
  struct fq_list new_flows, old_flows;
};

// nslots <= FQ_MAX_SLOTS; quantum: bytes a flow sends per turn. -1 when out of memory.
int fq_init(struct fq *f, unsigned nslots, uint32_t quantum, uint64_t target_ns, uint64_t interval_ns);
void fq_destroy(struct fq *f);

// A free slot for the next packet, or -1 when all are queued or out for sending.
int fq_slot_get(struct fq *f);
// Gives a slot back: one dequeued and sent, or one taken and not enqueued.
void fq_slot_put(struct fq *f, int slot);

// Queues the packet in `slot`, `len` bytes, of the flow with `hash`, at `now_ns`.
void fq_enqueue(struct fq *f, int slot, uint32_t hash, uint32_t len, uint64_t now_ns);

// The next packet to send (its slot, to be given back with fq_slot_put), or -1 when nothing is queued.
// Packets CoDel dropped on the way are freed and added to *dropped.
int fq_dequeue(struct fq *f, uint64_t now_ns, uint64_t *dropped);

// A free slot, or, when none is, one made by freeing the oldest packet of the flow with the most bytes queued
// (counted in *dropped; the slot returned is that packet's). -1 when nothing is queued either: every slot is
// out for sending.
int fq_slot_take(struct fq *f, uint64_t *dropped);

static inline bool fq_empty(const struct fq *f) { return f->queued == 0; }
static inline bool fq_has_free(const struct fq *f) { return f->free_head != FQ_NONE; }

// The flow of an IP packet: addresses, protocol and the four bytes after the IP header (the ports of TCP and
// UDP; for ICMP its type, code and an echo's identifier).
uint32_t fq_flow_hash(const uint8_t *pkt, size_t len);

#endif

// Fuzz target: the FQ-CoDel scheduler (native/src/fq.c) driven by a random sequence of what the pump does with
// it: take a slot (or make one by dropping, fq_slot_take), queue a packet of some flow and size, dequeue,
// give slots back, let time pass. Besides memory safety, after every step its whole state is checked against
// a model kept here:
//  - every slot is in exactly one place: free, held by the caller, queued in its flow, or out for sending;
//  - each flow's queue holds its packets oldest first, its backlog is their bytes, and the queued count is
//    right; every flow with packets is on one of the two lists (else they would never be sent), and the
//    lists end;
//  - a packet leaves only as FQ-CoDel allows: dequeued as its flow's oldest, dropped by CoDel (then over
//    AQM_SMALL_PACKET bytes, and counted), or dropped by fq_slot_take from the flow with the most bytes;
//  - dequeue says "nothing" only when nothing is queued;
//  - no flow starves: while a flow stays backlogged, each other flow sends at most FAIR_TURNS turns' worth of
//    bytes (a quantum and one packet over it) before it is served again. DRR gives each other flow at most one
//    turn in the old list ahead of it and one as a new flow, and a quantum smaller than a packet carries a
//    deficit over: about three turns in all, four leaves slack. This bounds starvation, not the finer order:
//    that a flow emptied while new goes behind the old flows is pinned by tests/unit/fq.test.ts.
#include "../src/fq.h"

#include "fuzz_packets.h"

#define SLOTS_MAX 64

enum state { FREE = 0, HELD, QUEUED, OUT };

static struct {
  enum state state[SLOTS_MAX];
  uint16_t flow[SLOTS_MAX];
  uint64_t serial[SLOTS_MAX];
  uint32_t len[SLOTS_MAX];
  uint64_t next_serial;
} m;

// The oldest queued packet of `flow` in the model, or -1.
static int model_oldest(uint16_t flow, unsigned nslots) {
  int best = -1;
  for (unsigned s = 0; s < nslots; s++)
    if (m.state[s] == QUEUED && m.flow[s] == flow && (best < 0 || m.serial[s] < m.serial[best])) best = (int)s;
  return best;
}

static uint32_t model_backlog(uint16_t flow, unsigned nslots) {
  uint32_t b = 0;
  for (unsigned s = 0; s < nslots; s++)
    if (m.state[s] == QUEUED && m.flow[s] == flow) b += m.len[s];
  return b;
}

#define MAX_LEN (40 + 1499)  // the largest packet the harness queues
#define FAIR_TURNS 4

// Per flow, while it has packets queued: the bytes other flows sent since it was last served (or became
// backlogged), and which flows sent them (flow ids are below 64 here: hashes are 0..5).
static struct {
  bool waiting[FQ_FLOWS];
  uint64_t others_bytes[FQ_FLOWS];
  uint64_t others[FQ_FLOWS];
} fair;

static void fair_served(uint16_t flow, uint32_t len, uint32_t quantum) {
  for (uint16_t y = 0; y < 64; y++) {
    if (y == flow || !fair.waiting[y]) continue;
    fair.others_bytes[y] += len;
    fair.others[y] |= 1ull << flow;
    uint64_t allowed = (uint64_t)__builtin_popcountll(fair.others[y]) * FAIR_TURNS * (quantum + MAX_LEN);
    FUZZ_CHECK(fair.others_bytes[y] <= allowed, "flow %u waited while others sent %llu bytes (at most %llu)", y,
               (unsigned long long)fair.others_bytes[y], (unsigned long long)allowed);
  }
  fair.others_bytes[flow] = 0;
  fair.others[flow] = 0;
}

// After anything that may empty a flow (a dequeue, CoDel's drops, fq_slot_take): an empty flow waits no more.
static void fair_settle(unsigned nslots) {
  for (uint16_t y = 0; y < 64; y++)
    if (fair.waiting[y] && model_backlog(y, nslots) == 0) fair.waiting[y] = false;
}

// Walks fq's state, checks it against the model, and returns how many queued packets CoDel dropped since the
// last check (found on the free list; the model frees them).
static unsigned check(const struct fq *f, unsigned nslots) {
  bool on_free[SLOTS_MAX] = {0};
  unsigned dropped = 0, steps = 0;
  for (uint16_t s = f->free_head; s != FQ_NONE; s = f->next[s]) {
    FUZZ_CHECK(s < nslots && !on_free[s] && ++steps <= nslots, "free list broken at slot %u", s);
    on_free[s] = true;
    FUZZ_CHECK(m.state[s] == FREE || m.state[s] == QUEUED, "slot %u on the free list while %d", s, m.state[s]);
  }
  // Queued packets on the free list were dropped by CoDel inside a dequeue: bulk ones, the oldest of their flow.
  for (unsigned s = 0; s < nslots; s++) {
    if (m.state[s] != QUEUED || !on_free[s]) continue;
    FUZZ_CHECK(m.len[s] > AQM_SMALL_PACKET, "a small packet (%u bytes) dropped", m.len[s]);
    for (unsigned k = 0; k < nslots; k++)
      FUZZ_CHECK(!(m.state[k] == QUEUED && m.flow[k] == m.flow[s] && m.serial[k] < m.serial[s] && !on_free[k]),
                 "slot %u dropped ahead of its flow's older slot %u", s, k);
  }
  for (unsigned s = 0; s < nslots; s++) {
    if (m.state[s] == QUEUED && on_free[s]) m.state[s] = FREE, dropped++;
    FUZZ_CHECK(m.state[s] != FREE || on_free[s], "free slot %u lost", s);
  }
  bool listed[FQ_FLOWS] = {0};
  const struct fq_list *lists[2] = {&f->new_flows, &f->old_flows};
  for (int l = 0; l < 2; l++) {
    steps = 0;
    for (uint16_t id = lists[l]->head; id != FQ_NONE; id = f->flows[id].link) {
      FUZZ_CHECK(id < FQ_FLOWS && !listed[id] && ++steps <= FQ_FLOWS, "list %d broken at flow %u", l, id);
      listed[id] = true;
      if (f->flows[id].link == FQ_NONE) FUZZ_CHECK(lists[l]->tail == id, "list %d's tail", l);
    }
  }
  unsigned queued = 0;
  for (uint16_t id = 0; id < FQ_FLOWS; id++) {
    const struct fq_flow *fl = &f->flows[id];
    if (fl->head == FQ_NONE && fl->tail == FQ_NONE && fl->backlog == 0) continue;  // the queued count covers it
    uint64_t last = 0;
    unsigned n = 0;
    for (uint16_t s = fl->head; s != FQ_NONE; s = f->next[s]) {
      FUZZ_CHECK(s < nslots && ++n <= nslots, "flow %u's queue broken", id);
      FUZZ_CHECK(m.state[s] == QUEUED && m.flow[s] == id, "slot %u in flow %u's queue", s, id);
      FUZZ_CHECK(m.serial[s] > last, "flow %u's queue out of order", id);
      last = m.serial[s];
      if (f->next[s] == FQ_NONE) FUZZ_CHECK(fl->tail == s, "flow %u's tail", id);
    }
    FUZZ_CHECK(fl->head != FQ_NONE || fl->tail == FQ_NONE, "flow %u: no head, a tail", id);
    FUZZ_CHECK(n == 0 || listed[id], "flow %u has %u packets and is on no list", id, n);
    FUZZ_CHECK(fl->backlog == model_backlog(id, nslots), "flow %u's backlog", id);
    queued += n;
  }
  unsigned model_queued = 0;
  for (unsigned s = 0; s < nslots; s++) model_queued += m.state[s] == QUEUED;
  FUZZ_CHECK(queued == model_queued && f->queued == queued, "queued %u, fq says %u, model %u", queued, f->queued,
             model_queued);
  return dropped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct reader r = {data, size};
  unsigned nslots = 1 + rd8(&r) % SLOTS_MAX;
  uint32_t quantum = 1 + rd16(&r) % 3000;
  static struct fq f;
  FUZZ_CHECK(fq_init(&f, nslots, quantum, 1000000, 10000000) == 0, "fq_init");
  memset(&m, 0, sizeof m);
  memset(&fair, 0, sizeof fair);
  uint64_t now = 1000000000, dropped = 0, counted = 0;
  while (r.n > 0) {
    uint8_t op = rd8(&r) % 8;
    if (op <= 2) {  // a packet in: a free slot, or with fq_slot_take one made by a drop
      int s;
      if (op == 2) {
        int fattest = -1;
        uint32_t most = 0;
        for (unsigned k = 0; k < nslots; k++) {
          uint32_t b = m.state[k] == QUEUED ? model_backlog(m.flow[k], nslots) : 0;
          if (b > most) most = b, fattest = m.flow[k];
        }
        uint64_t before = dropped;
        s = fq_slot_take(&f, &dropped);
        if (s >= 0 && m.state[s] == QUEUED) {
          FUZZ_CHECK(dropped == before + 1 && model_backlog(m.flow[s], nslots) == most && fattest >= 0 &&
                         model_oldest(m.flow[s], nslots) == s,
                     "fq_slot_take dropped slot %d, not the oldest of a flow with the most bytes", s);
          m.state[s] = FREE;
          counted++;
        }
      } else {
        s = fq_slot_get(&f);
      }
      unsigned free_slots = 0;
      for (unsigned k = 0; k < nslots; k++) free_slots += m.state[k] == FREE;
      if (s < 0) {
        FUZZ_CHECK(free_slots == 0, "no slot given while %u are free", free_slots);
        if (op == 2) FUZZ_CHECK(f.queued == 0, "fq_slot_take made no room with packets queued");
        continue;
      }
      FUZZ_CHECK((unsigned)s < nslots && m.state[s] == FREE, "slot %d given while %d", s, m.state[s]);
      if (rd8(&r) & 1) {  // taken and given back unused
        fq_slot_put(&f, s);
        continue;
      }
      m.state[s] = HELD;
      // Few flow hashes, some of them sharing a flow queue (the hash's low bits).
      uint32_t hash = (uint32_t)(rd8(&r) % 6) | (uint32_t)(rd8(&r) & 1) << 12;
      uint32_t len = 40 + rd16(&r) % 1500;
      fq_enqueue(&f, s, hash, len, now);
      uint16_t flow = (uint16_t)(hash & (FQ_FLOWS - 1));
      if (!fair.waiting[flow]) {  // backlogged from now on (fair_settle ends it when it empties)
        fair.waiting[flow] = true;
        fair.others_bytes[flow] = 0;
        fair.others[flow] = 0;
      }
      m.state[s] = QUEUED;
      m.flow[s] = flow;
      m.serial[s] = ++m.next_serial;
      m.len[s] = len;
    } else if (op <= 5) {  // a packet out, as its flow's oldest
      int s = fq_dequeue(&f, now, &dropped);
      if (s < 0) {
        FUZZ_CHECK(f.queued == 0, "dequeue gave nothing with %u queued", f.queued);
      } else {
        FUZZ_CHECK((unsigned)s < nslots && m.state[s] == QUEUED, "dequeued slot %d while %d", s, m.state[s]);
        // Older packets of its flow may have been dropped by CoDel in this call: they are on the free list.
        for (unsigned k = 0; k < nslots; k++)
          if (m.state[k] == QUEUED && m.flow[k] == m.flow[s] && m.serial[k] < m.serial[s]) {
            bool freed = false;
            for (uint16_t x = f.free_head; x != FQ_NONE && !freed; x = f.next[x]) freed = x == k;
            FUZZ_CHECK(freed, "slot %d dequeued ahead of its flow's older slot %u", s, k);
          }
        m.state[s] = OUT;
        fair_served(m.flow[s], m.len[s], quantum);
      }
    } else if (op == 6) {  // the round sent: its slots back
      for (unsigned k = 0; k < nslots; k++)
        if (m.state[k] == OUT) {
          fq_slot_put(&f, (int)k);
          m.state[k] = FREE;
        }
    } else {
      now += (uint64_t)rd16(&r) * 1000;  // up to 65 ms
    }
    counted += check(&f, nslots);
    fair_settle(nslots);
    FUZZ_CHECK(counted == dropped, "%llu drops counted, %llu seen", (unsigned long long)dropped,
               (unsigned long long)counted);
  }
  fq_destroy(&f);
  return 0;
}

// FQ-CoDel's scheduler as in RFC 8290 section 4 (and Linux's sch_fq_codel.c), over slot indices.
#include "fq.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"

enum { LIST_NONE = 0, LIST_NEW, LIST_OLD };

int fq_init(struct fq *f, unsigned nslots, uint32_t quantum, uint64_t target_ns, uint64_t interval_ns) {
  memset(f, 0, sizeof *f);
  if (nslots == 0 || nslots > FQ_MAX_SLOTS) return -1;
  f->quantum = quantum;
  f->nslots = (uint16_t)nslots;
  f->next = malloc(nslots * sizeof *f->next);
  f->len = malloc(nslots * sizeof *f->len);
  f->enq_ns = malloc(nslots * sizeof *f->enq_ns);
  if (!f->next || !f->len || !f->enq_ns) {
    fq_destroy(f);
    return -1;
  }
  // The free list is a stack: under light load the same few slots (and their memory pages) come back.
  for (unsigned i = 0; i < nslots; i++) f->next[i] = (uint16_t)(i + 1 < nslots ? i + 1 : FQ_NONE);
  f->free_head = 0;
  for (unsigned i = 0; i < FQ_FLOWS; i++) {
    f->flows[i].head = f->flows[i].tail = f->flows[i].link = FQ_NONE;
    aqm_init(&f->flows[i].aqm, target_ns, interval_ns);
  }
  f->new_flows.head = f->new_flows.tail = FQ_NONE;
  f->old_flows.head = f->old_flows.tail = FQ_NONE;
  return 0;
}

void fq_destroy(struct fq *f) {
  free(f->next);
  free(f->len);
  free(f->enq_ns);
  f->next = NULL;
  f->len = NULL;
  f->enq_ns = NULL;
}

int fq_slot_get(struct fq *f) {
  uint16_t s = f->free_head;
  if (s == FQ_NONE) return -1;
  f->free_head = f->next[s];
  return s;
}

void fq_slot_put(struct fq *f, int slot) {
  f->next[slot] = f->free_head;
  f->free_head = (uint16_t)slot;
}

static void list_push(struct fq *f, struct fq_list *l, uint16_t flow, uint8_t which) {
  struct fq_flow *fl = &f->flows[flow];
  fl->link = FQ_NONE;
  fl->list = which;
  if (l->tail == FQ_NONE)
    l->head = flow;
  else
    f->flows[l->tail].link = flow;
  l->tail = flow;
}

static uint16_t list_pop(struct fq *f, struct fq_list *l) {
  uint16_t flow = l->head;
  l->head = f->flows[flow].link;
  if (l->head == FQ_NONE) l->tail = FQ_NONE;
  f->flows[flow].list = LIST_NONE;
  return flow;
}

void fq_enqueue(struct fq *f, int slot, uint32_t hash, uint32_t len, uint64_t now_ns) {
  uint16_t id = (uint16_t)(hash & (FQ_FLOWS - 1));
  struct fq_flow *fl = &f->flows[id];
  f->next[slot] = FQ_NONE;
  f->len[slot] = len;
  f->enq_ns[slot] = now_ns;
  if (fl->tail == FQ_NONE)
    fl->head = (uint16_t)slot;
  else
    f->next[fl->tail] = (uint16_t)slot;
  fl->tail = (uint16_t)slot;
  fl->backlog += len;
  f->queued++;
  if (fl->list == LIST_NONE) {  // a flow with nothing queued: served before the old ones
    fl->deficit = (int32_t)f->quantum;
    list_push(f, &f->new_flows, id, LIST_NEW);
  }
}

static uint16_t pop_head(struct fq *f, struct fq_flow *fl) {
  uint16_t s = fl->head;
  fl->head = f->next[s];
  if (fl->head == FQ_NONE) fl->tail = FQ_NONE;
  fl->backlog -= f->len[s];
  f->queued--;
  return s;
}

// CoDel's dequeue for one flow: its next packet that is not dropped, or FQ_NONE once it is empty.
static uint16_t flow_dequeue(struct fq *f, struct fq_flow *fl, uint64_t now_ns, uint64_t *dropped) {
  while (fl->head != FQ_NONE) {
    uint16_t s = pop_head(f, fl);
    uint64_t sojourn = now_ns > f->enq_ns[s] ? now_ns - f->enq_ns[s] : 0;
    if (f->len[s] > AQM_SMALL_PACKET && aqm_should_drop(&fl->aqm, sojourn, now_ns)) {
      fq_slot_put(f, s);
      (*dropped)++;
      continue;
    }
    return s;
  }
  aqm_queue_empty(&fl->aqm);
  return FQ_NONE;
}

int fq_dequeue(struct fq *f, uint64_t now_ns, uint64_t *dropped) {
  for (;;) {
    struct fq_list *l = f->new_flows.head != FQ_NONE ? &f->new_flows : &f->old_flows;
    if (l->head == FQ_NONE) return -1;
    uint16_t id = l->head;
    struct fq_flow *fl = &f->flows[id];
    if (fl->deficit <= 0) {  // its turn is used up: a new quantum, behind the old flows
      fl->deficit += (int32_t)f->quantum;
      list_pop(f, l);
      list_push(f, &f->old_flows, id, LIST_OLD);
      continue;
    }
    uint16_t s = flow_dequeue(f, fl, now_ns, dropped);
    if (s == FQ_NONE) {
      // Emptied. A new flow goes behind the old ones (so a flow cannot stay "new" by sending in bursts that
      // drain each time); an old flow leaves the lists until it queues again.
      list_pop(f, l);
      if (l == &f->new_flows && f->old_flows.head != FQ_NONE) list_push(f, &f->old_flows, id, LIST_OLD);
      continue;
    }
    fl->deficit -= (int32_t)f->len[s];
    return s;
  }
}

// The flow with the most bytes queued, or NULL when none has any. Every flow with packets is on one of the two
// lists, so only the flows in use are looked at, not all FQ_FLOWS.
static struct fq_flow *fattest_flow(struct fq *f) {
  struct fq_flow *fattest = NULL;
  const struct fq_list *lists[2] = {&f->new_flows, &f->old_flows};
  for (int l = 0; l < 2; l++)
    for (uint16_t id = lists[l]->head; id != FQ_NONE; id = f->flows[id].link) {
      struct fq_flow *fl = &f->flows[id];
      if (fl->head != FQ_NONE && (!fattest || fl->backlog > fattest->backlog)) fattest = fl;
    }
  return fattest;
}

int fq_slot_take(struct fq *f, uint64_t *dropped) {
  int s = fq_slot_get(f);
  if (s >= 0) return s;
  struct fq_flow *fattest = fattest_flow(f);
  if (!fattest) return -1;
  (*dropped)++;
  return pop_head(f, fattest);  // an emptied flow stays on its list; the next dequeue takes it off
}

// The four bytes of an ICMP header that name its flow. Not the checksum, which changes with every echo (a
// ping would land in a random queue each time, now and then behind a bulk flow's backlog): type and code,
// and for an echo its identifier, which names one ping session (Linux's flow dissector keys ICMP alike).
static uint32_t icmp_key(const uint8_t *icmp, size_t left, bool v6) {
  uint8_t type = icmp[0];
  bool echo = v6 ? (type == 128 || type == 129) : (type == 8 || type == 0);
  uint32_t id = echo && left >= 6 ? ip_read16(icmp + 4) : 0;
  return (uint32_t)type << 24 | (uint32_t)icmp[1] << 16 | id;
}

uint32_t fq_flow_hash(const uint8_t *pkt, size_t len) {
  uint32_t h = 0, w;
  size_t l4;
  uint8_t proto;
  if (len >= IPV4_MIN_HEADER && (pkt[0] >> 4) == 4) {
    for (size_t off = 12; off < 20; off += 4) {
      memcpy(&w, pkt + off, 4);
      h ^= w;
    }
    // A fragment's first bytes are ports only in the first one: all fragments go by addresses alone, so the
    // pieces of one datagram share a queue (as in Linux's flow dissector).
    l4 = (ip_read16(pkt + 6) & 0x3fff) == 0 ? (size_t)(pkt[0] & 0x0f) * 4 : 0;
    proto = pkt[9];
  } else if (len >= IPV6_HEADER && (pkt[0] >> 4) == 6) {
    for (size_t off = 8; off < 40; off += 4) {
      memcpy(&w, pkt + off, 4);
      h ^= w;
    }
    l4 = IPV6_HEADER;
    proto = pkt[6];
  } else {
    return 0;
  }
  h ^= proto;
  if (l4 >= IPV4_MIN_HEADER && len >= l4 + 4) {
    if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
      w = icmp_key(pkt + l4, len - l4, proto == IPPROTO_ICMPV6);
    else
      memcpy(&w, pkt + l4, 4);
    h ^= w * 0x85EBCA6Bu;  // mixed first: port pairs differ in few bits
  }
  h ^= h >> 16;
  h *= 0x9E3779B1u;
  return h >> 16;
}

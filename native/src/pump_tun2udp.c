// TUN -> UDP thread: read packets from the TUN, send each as one datagram to the pinned peer.
//  - plain TUN: one read per packet (a TUN fd cannot batch reads); the datagrams go out with one sendmmsg.
//  - offload TUN: one read per super-packet (up to 64 KB); offload_split cuts it into MTU-sized packets that
//    go out as UDP GSO messages (one sendmsg-worth of kernel work for up to 64 datagrams).
// Each round reads up to twice what it sends into the thread's own FQ-CoDel (fq.h), then sends a batch in
// its order: the kernel's FIFO in front of the thread stays short, and the queue that forms under load is one
// where a sparse flow goes first and bulk is dropped by time, not pings by overflow.
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "flow_steer.h"
#include "fq_pool.h"
#include "ip.h"
#include "offload.h"
#include "pump_internal.h"
#include "tun.h"

#define T2U_MAX_MSGS 1024       // sendmmsg handles at most UIO_MAXIOV (1024) messages per call
#define T2U_PLAIN_BATCH 64      // packets per sendmmsg in plain mode
// Plain mode with one send per packet (macOS, the mac-like path): a round is shorter, because batching buys
// nothing there and a sparse flow's packet waits for the round it was read in (the mac-like bench's ping
// waited 0.8 ms at the median behind rounds of 64).
#define T2U_PER_PACKET_ROUND 16
// Offload mode: a round ends after 256 KB (about four super-packets: the split needs room for the worst
// case of each) or 64 frames, so small packets (ACKs, DNS, a ping) go 64 to a sendmmsg, not 4.
#define T2U_OFFLOAD_ROUND_BYTES (256u << 10)
#define T2U_OFFLOAD_ROUND_FRAMES 64
#define T2U_OFFLOAD_OUT_CAP (T2U_OFFLOAD_ROUND_BYTES + 4 * SPLIT_OUT_MAX)
#define T2U_READ_FACTOR 2       // reads per round, in batches: the thread drains faster than it sends
#define FRAME_CAP (VNET_HDR_LEN + 65536)
// The FQ's slots with offloads: 64 super-packets (4 MiB; without offloads, fq_pool.h's plain pool).
#define OFFLOAD_SLOTS 64
// Room one more offload frame needs in msgs[]: with UDP GSO a frame becomes at most ~17 messages.
#define GSO_MSGS_PER_FRAME 32

enum read_status { READ_FULL, READ_EMPTY, READ_ERROR };

union ctrl_buf {
  char buf[UDP_CTRL_LEN];
  struct cmsghdr align;
};

struct tun2udp {
  struct pump *p;
  struct pump_queue *q;
  struct fq_pool pool;  // plain: one packet a slot; offload: one TUN read (a super-packet) a slot
  uint16_t held[T2U_PLAIN_BATCH];  // plain mode: slots the batch's messages point into, freed after flush
  unsigned nheld;
  unsigned plain_round;  // plain mode: packets sent per round
  uint8_t *out;  // offload mode: the split packets of the batch being built; msgs point into it
  size_t out_cap, out_used;
  bool gso;  // UDP GSO still usable (turned off for good if the kernel refuses it)
  unsigned nmsgs, niov;
  bool group_open;  // plain mode: the last message may take more packets (see add_plain)
  dgram_t msgs[T2U_MAX_MSGS];
  struct iovec iov[T2U_MAX_MSGS];  // a message's iovecs are consecutive; no datagram straddles two
  uint16_t nseg[T2U_MAX_MSGS];      // datagrams carried by each message
  uint16_t gso_size[T2U_MAX_MSGS];  // 0 unless the message is a UDP GSO send
  uint32_t bytes[T2U_MAX_MSGS];     // payload bytes of each message
  union ctrl_buf ctrl[T2U_MAX_MSGS];
  struct peer_view peer;
  struct counter_batch cb;
};

struct tun2udp *tun2udp_new(struct pump_queue *q) {
  struct pump *p = q->p;
  struct tun2udp *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->p = p;
  t->q = q;
  t->gso = q->udp.gso;
  int rc;
  if (p->offload) {
    t->out_cap = T2U_OFFLOAD_OUT_CAP;
    t->out = malloc(t->out_cap);
    rc = t->out ? fq_pool_init(&t->pool, FRAME_CAP, OFFLOAD_SLOTS, 65536) : -1;
  } else {
    t->plain_round = p->io.per_packet ? T2U_PER_PACKET_ROUND : T2U_PLAIN_BATCH;
    rc = fq_pool_init_plain(&t->pool, p->mtu);
  }
  if (rc != 0) {
    tun2udp_free(t);
    return NULL;
  }
  return t;
}

void tun2udp_free(struct tun2udp *t) {
  if (!t) return;
  fq_pool_destroy(&t->pool);
  free(t->out);
  free(t);
}

static uint8_t *slot_buf(struct tun2udp *t, int slot) { return fq_pool_buf(&t->pool, slot); }

// The socket the data goes out on: the one connected to the peer when there is one (udp_peer.c).
static int send_fd(const struct tun2udp *t) { return t->peer.connected ? t->q->peer_fd : t->q->udp.fd; }

static void add_msg(struct tun2udp *t, uint8_t *base, size_t len, size_t nseg, uint16_t gso_size) {
  unsigned k = t->nmsgs++, v = t->niov++;
  struct msghdr *m = &t->msgs[k].msg_hdr;
  memset(m, 0, sizeof *m);
  t->iov[v].iov_base = base;
  t->iov[v].iov_len = len;
  m->msg_iov = &t->iov[v];
  m->msg_iovlen = 1;
  // A connected socket takes no address (macOS refuses one: EISCONN; Linux would look its route up again).
  m->msg_name = t->peer.connected ? NULL : &t->peer.addr;
  m->msg_namelen = t->peer.connected ? 0 : t->peer.len;
  if (gso_size) udp_set_gso(m, t->ctrl[k].buf, gso_size);
  t->nseg[k] = (uint16_t)nseg;
  t->gso_size[k] = gso_size;
  t->bytes[k] = (uint32_t)len;
}

// Plain mode: bulk traffic reads as runs of equal-sized packets (full-MSS TCP segments). With UDP GSO a run
// goes out as one message with one iovec per packet, still in its read slot: the kernel cuts the datagrams
// at the gso_size boundaries, which are exactly the packet boundaries, and the UDP/IP/veth path then runs
// once per run instead of once per packet. A shorter packet may end a run; any other size starts a new one,
// and so does another flow: a receiver with several queues steers the whole run by its first packet.
static void add_plain(struct tun2udp *t, uint8_t *pkt, size_t len) {
  if (t->group_open) {
    unsigned k = t->nmsgs - 1;
    size_t size = t->nseg[k] == 1 ? t->bytes[k] : t->gso_size[k];
    const struct iovec *first = t->msgs[k].msg_hdr.msg_iov;
    if (len <= size && t->nseg[k] < UDP_GSO_MAX_SEGMENTS && t->bytes[k] + len <= UDP_MAX_PAYLOAD &&
        flow_steer_same(first->iov_base, first->iov_len, pkt, len)) {
      struct msghdr *m = &t->msgs[k].msg_hdr;
      if (t->nseg[k] == 1) {
        udp_set_gso(m, t->ctrl[k].buf, (uint16_t)size);
        t->gso_size[k] = (uint16_t)size;
      }
      t->iov[t->niov].iov_base = pkt;
      t->iov[t->niov].iov_len = len;
      t->niov++;
      m->msg_iovlen++;
      t->nseg[k]++;
      t->bytes[k] += (uint32_t)len;
      t->group_open = len == size;
      return;
    }
  }
  add_msg(t, pkt, len, 1, 0);
  t->group_open = t->gso;
}

// Queues a split frame: with UDP GSO, runs of equal-sized packets (the last may be shorter) share one
// message, within the kernel's limits of 64 segments and one UDP payload; otherwise one message each.
static void queue_segments(struct tun2udp *t, const struct segments *s) {
  if (s->count == 1) {
    add_msg(t, s->base, s->last_size, 1, 0);
    return;
  }
  if (t->gso) {
    size_t per = UDP_MAX_PAYLOAD / s->seg_size;
    if (per > UDP_GSO_MAX_SEGMENTS) per = UDP_GSO_MAX_SEGMENTS;
    for (size_t i = 0; i < s->count; i += per) {
      size_t n = s->count - i < per ? s->count - i : per;
      size_t bytes = (n - 1) * s->seg_size + (i + n == s->count ? s->last_size : s->seg_size);
      add_msg(t, s->base + i * s->seg_size, bytes, n, n > 1 ? (uint16_t)s->seg_size : 0);
    }
    return;
  }
  for (size_t i = 0; i < s->count; i++)
    add_msg(t, s->base + i * s->seg_size, i + 1 == s->count ? s->last_size : s->seg_size, 1, 0);
}

// The kernel refused UDP GSO (EIO: the route has no checksum offload, e.g. xfrm; EINVAL: old kernel):
// send this message's datagrams one by one. Rare, so plain sendto.
static void send_each(struct tun2udp *t, unsigned k) {
  const struct msghdr *m = &t->msgs[k].msg_hdr;
  size_t size = t->gso_size[k];
  // msg_iovlen is a size_t on Linux and an int on macOS: compare in size_t either way.
  for (size_t v = 0; v < (size_t)m->msg_iovlen; v++) {  // datagrams never straddle iovecs
    uint8_t *base = m->msg_iov[v].iov_base;
    size_t left = m->msg_iov[v].iov_len;
    while (left > 0) {
      size_t n = left < size ? left : size;
      if (sendto(send_fd(t), base, n, MSG_DONTWAIT, m->msg_name, m->msg_namelen) < 0) {
        t->cb.drop_udp_send++;
      } else {
        t->cb.udp_tx_packets++;
        t->cb.udp_tx_bytes += n;
        if (t->peer.connected) t->cb.udp_tx_connected++;
      }
      base += n;
      left -= n;
    }
  }
}

static enum read_status drain(struct tun2udp *t);

// Whether drain() can take a packet now: a free slot, or (plain mode) one to make by dropping.
static bool can_drain(const struct tun2udp *t) {
  return fq_has_free(&t->pool.fq) || (!t->p->offload && !fq_empty(&t->pool.fq));
}

// xnu flow-controls a connected UDP socket whose flow queues too long in the interface's FQ-CoDel: from the
// datagram that trips it (a UDP one is dropped, not queued) until the queue drains, sendmsg fails with
// ENOBUFS at once (udp_output) and poll() withholds POLLOUT (sowriteable). Without a wait each such round
// would be dropped whole, so a datagram that failed so waits once for POLLOUT and is sent again. ENOBUFS
// for want of mbufs leaves POLLOUT set, hence the bound. Linux reports ENOBUFS only for want of memory (and a
// qdisc's drops only with IP_RECVERR), with POLLOUT set: no wait there (-DT2U_WAIT_ON_ENOBUFS=1 builds it in,
// to try the wait on the mac-like path against a fault-injecting shim).
#ifndef T2U_WAIT_ON_ENOBUFS
#ifdef __APPLE__
#define T2U_WAIT_ON_ENOBUFS 1
#else
#define T2U_WAIT_ON_ENOBUFS 0
#endif
#endif
#define ENOBUFS_WAIT_NS (10 * 1000000ull)

enum room { ROOM, NO_ROOM, STOPPING };

// As wait_send_room, for at most ENOBUFS_WAIT_NS.
static enum room wait_flow_control(struct tun2udp *t) {
  uint64_t deadline = pump_mono_ns() + ENOBUFS_WAIT_NS;
  for (;;) {
    uint64_t now = pump_mono_ns();
    if (now >= deadline) return NO_ROOM;
    struct pollfd fds[3] = {{.fd = send_fd(t), .events = POLLOUT},
                            {.fd = t->p->wake_rd, .events = POLLIN},
                            {.fd = can_drain(t) ? t->q->tun_fd : -1, .events = POLLIN}};
    int r = poll(fds, 3, (int)((deadline - now + 999999) / 1000000));
    if (r < 0 && errno != EINTR) return NO_ROOM;
    if (fds[1].revents) return STOPPING;
    if (fds[0].revents) return ROOM;
    if (fds[2].revents && drain(t) == READ_ERROR) return NO_ROOM;  // the main loop's next read reports it
  }
}

// The socket's buffer is full: wait for room, and read the TUN into the flow queues meanwhile, so a backlog
// in front of a slow link forms there, in FQ-CoDel's order, rather than in the kernel's FIFO. False when
// stopping.
static bool wait_send_room(struct tun2udp *t) {
  for (;;) {
    int tun_fd = can_drain(t) ? t->q->tun_fd : -1;
    int r = pump_wait_either(t->p, send_fd(t), POLLOUT, tun_fd, POLLIN);
    if (r == 0) return false;
    if (r & PUMP_READY_FD) return true;
    if (drain(t) == READ_ERROR) return true;  // the main loop's next read reports it
  }
}

static void flush(struct tun2udp *t) {
  struct pump *p = t->p;
  unsigned i = 0;
  unsigned waited = T2U_MAX_MSGS;  // the message that waited for flow control (wait_flow_control), if any
  bool still_controlled = false;   // a wait ran out: the rest of the batch does not wait again
  while (i < t->nmsgs) {
    int r = p->io.udp_send(send_fd(t), &t->msgs[i], t->nmsgs - i);
    if (r > 0) {
      for (unsigned k = i; k < i + (unsigned)r; k++) {
        t->cb.udp_tx_packets += t->nseg[k];
        t->cb.udp_tx_bytes += t->bytes[k];
        if (t->peer.connected) t->cb.udp_tx_connected += t->nseg[k];
      }
      i += (unsigned)r;
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) {
      // Socket buffer full: the backpressure that fills the flow queues (and through them and CoDel, slows
      // the senders) instead of dropping at once.
      if (wait_send_room(t)) continue;
      break;  // stopping
    }
    if ((e == EIO || e == EINVAL) && t->gso_size[i]) {
      t->gso = false;
      t->cb.udp_gso_fallback++;
      send_each(t, i++);
      continue;
    }
    if (T2U_WAIT_ON_ENOBUFS && e == ENOBUFS && t->peer.connected && waited != i && !still_controlled) {
      waited = i;
      enum room room = wait_flow_control(t);
      if (room == ROOM) continue;
      if (room == STOPPING) break;
      still_controlled = true;
    }
    t->cb.drop_udp_send += t->nseg[i++];  // ENOBUFS, EMSGSIZE, unreachable...: lose this one, keep going
  }
  for (; i < t->nmsgs; i++) t->cb.drop_udp_send += t->nseg[i];
  t->nmsgs = 0;
  t->niov = 0;
  t->group_open = false;
  t->out_used = 0;
  for (unsigned k = 0; k < t->nheld; k++) fq_slot_put(&t->pool.fq, t->held[k]);
  t->nheld = 0;
}

static enum read_status read_error(void) {
  return errno == EAGAIN || errno == EWOULDBLOCK ? READ_EMPTY : READ_ERROR;
}

// Whether a packet just read goes into the FQ; counts it, and why not. `len` is the IP packet's.
static bool admit(struct tun2udp *t, const uint8_t *frame, size_t n, const uint8_t **pkt, size_t *len) {
  struct pump *p = t->p;
  if (p->offload) {
    if (n <= VNET_HDR_LEN || n > FRAME_CAP) {
      t->cb.drop_malformed++;
      return false;
    }
    *pkt = frame + VNET_HDR_LEN;
    *len = n - VNET_HDR_LEN;
  } else {
    *pkt = frame;
    *len = n;
  }
  t->cb.tun_rx_packets++;
  t->cb.tun_rx_bytes += *len;
  if (!t->peer.set) {
    t->cb.drop_no_peer++;
    return false;
  }
  if (ip6_is_router_solicit(*pkt, *len)) {
    t->cb.drop_router_solicit++;
    return false;
  }
  if (!p->offload) {  // a super-packet's size and shape are offload_split's to judge
    if (n > p->mtu) {
      t->cb.drop_oversize++;
      return false;
    }
    if (!ip_is_data(frame, n)) {
      t->cb.drop_malformed++;  // would read as a control datagram on the other side
      return false;
    }
  }
  return true;
}

// Reads what the TUN has, up to T2U_READ_FACTOR batches, into the FQ. With every slot taken:
//  - plain mode (one packet a slot: 1024 slots hold more than the kernel's queue of 500): the fattest flow
//    loses its oldest packet, as in fq_codel, and reading goes on, so a ping never waits in (or is dropped
//    from) the kernel's FIFO behind bulk that outran CoDel, TCP's slow start for one;
//  - offload mode (64 slots, a 64 KB super-packet or a single small packet each): reading stops and the
//    kernel's queue holds the rest, so a burst of small packets still finds its 500 places there.
static enum read_status drain(struct tun2udp *t) {
  struct pump *p = t->p;
  unsigned max = T2U_READ_FACTOR * (p->offload ? T2U_OFFLOAD_ROUND_FRAMES : t->plain_round);
  size_t max_bytes = T2U_READ_FACTOR * (size_t)T2U_OFFLOAD_ROUND_BYTES, bytes = 0;  // offload mode's bound
  // One clock read per drain: a packet read later in it seems to have waited up to one drain longer (well
  // under a millisecond), against CoDel's 5 ms target.
  uint64_t now = pump_mono_ns();
  for (unsigned reads = 0; reads < max && bytes < max_bytes;) {
    int s = p->offload ? fq_slot_get(&t->pool.fq) : fq_slot_take(&t->pool.fq, &t->cb.drop_fq_full);
    if (s < 0) return READ_FULL;
    uint8_t *buf = slot_buf(t, s);
    ssize_t n = p->io.tun_read(t->q->tun_fd, buf, t->pool.slot);
    if (n < 0) {
      fq_slot_put(&t->pool.fq, s);
      if (errno == EINTR) continue;
      return read_error();
    }
    reads++;
    if (p->offload) bytes += (size_t)n;
    const uint8_t *pkt;
    size_t len;
    if (!admit(t, buf, (size_t)n, &pkt, &len)) {
      fq_slot_put(&t->pool.fq, s);
      continue;
    }
    fq_enqueue(&t->pool.fq, s, fq_flow_hash(pkt, len), (uint32_t)n, now);
  }
  return READ_FULL;
}

// Plain mode: the next batch, in the FQ's order; the packets are sent from their slots.
static void dequeue_plain(struct tun2udp *t, uint64_t now) {
  while (t->nheld < t->plain_round) {
    int s = fq_dequeue(&t->pool.fq, now, &t->cb.drop_fq_delay);
    if (s < 0) return;
    t->held[t->nheld++] = (uint16_t)s;
    add_plain(t, slot_buf(t, s), t->pool.fq.len[s]);
  }
}

// Offload mode: the next super-packets, in the FQ's order, cut into the batch's wire packets.
static void dequeue_offload(struct tun2udp *t, uint64_t now) {
  struct pump *p = t->p;
  bool leave = atomic_load_explicit(&p->csum_leave, memory_order_relaxed);
  for (int frames = 0; frames < T2U_OFFLOAD_ROUND_FRAMES && t->out_used < T2U_OFFLOAD_ROUND_BYTES; frames++) {
    if (t->out_cap - t->out_used < SPLIT_OUT_MAX ||
        T2U_MAX_MSGS - t->nmsgs < (t->gso ? GSO_MSGS_PER_FRAME : SPLIT_MAX_SEGMENTS))
      return;
    int s = fq_dequeue(&t->pool.fq, now, &t->cb.drop_fq_delay);
    if (s < 0) return;
    struct segments seg;
    enum split_result r =
        offload_split(slot_buf(t, s), t->pool.fq.len[s], p->mtu, t->out + t->out_used, &seg, leave);
    fq_slot_put(&t->pool.fq, s);  // split copied what it keeps
    if (r == SPLIT_OVERSIZE) {
      t->cb.drop_oversize++;
    } else if (r == SPLIT_BAD_CSUM) {
      t->cb.drop_bad_csum++;
    } else if (r != SPLIT_OK) {
      t->cb.drop_malformed++;
    } else {
      if (seg.gso) t->cb.tun_rx_gso_packets++;
      t->cb.udp_tx_csum_left += seg.csum_left;
      queue_segments(t, &seg);
      t->out_used += seg.used;
    }
  }
}

void *tun2udp_main(void *arg) {
  struct tun2udp *t = arg;
  struct pump *p = t->p;
  struct pump_queue *q = t->q;
  pump_thread_init(q, PUMP_TUN2UDP);
  while (!pump_stopping(p)) {
    pump_peer_refresh(p, &t->peer);
    enum read_status st = drain(t);
    uint64_t now = pump_mono_ns();
    if (p->offload)
      dequeue_offload(t, now);
    else
      dequeue_plain(t, now);
    if (t->nmsgs) pump_note_data(p);
    flush(t);
    size_t round_bytes = t->cb.udp_tx_bytes;  // this round's: the batch is published (and zeroed) each round
    counters_publish(&q->counters, &t->cb);
    pump_slice_round(p, round_bytes);
    if (st == READ_EMPTY && fq_empty(&t->pool.fq)) {
      if (pump_linger(p, round_bytes)) {
        t->cb.lingers++;  // published with the next round
        continue;
      }
      if (!pump_wait(p, q->tun_fd, POLLIN)) break;
    } else if (st == READ_ERROR) {
      pump_backoff(p);  // e.g. EBADFD once the device is deleted
    }
  }
  counters_publish(&q->counters, &t->cb);
  return NULL;
}

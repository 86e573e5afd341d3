// UDP -> TUN thread: receive datagrams in batches (recvmmsg; with UDP GRO one buffer may hold many), keep
// data from the pinned peer that looks like one whole IP packet, write it to the TUN, and hand everything
// else (control) to the JS side without blocking.
//  - offload mode: the batch's packets are coalesced and written once per batch, its small packets (pings,
//    ACKs, DNS) first (offload.h); the socket's receive queue in front is a FIFO bounded by time with CoDel
//    (aqm.h).
//  - plain mode (one TUN write per packet: macOS, the mac-like path, --no-offload): each round receives a
//    batch into FQ-CoDel (fq_pool.h, as the TUN -> UDP thread does) and writes a shorter round from it in its
//    order. The receive is cheaper than the writes, so the socket's FIFO stays short and the queue that forms
//    under a download is one where a ping or a DNS answer goes first, not behind milliseconds of bulk.
// In per-packet mode with a specific bind address the queue has two sockets (udp_peer.c): the peer's, which
// the kernel gives the peer's datagrams, and the listening one, for everyone else. Both are read, and what
// either gives is handled alike.
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "aqm.h"
#include "ctrl_limit.h"
#include "fq_pool.h"
#include "ip.h"
#include "offload.h"
#include "pump_internal.h"
#include "sockaddr_util.h"
#include "tun.h"

#define U2T_BATCH 32      // receive buffers per recvmmsg
#define U2T_SLOT 65536    // any datagram (and any GRO-coalesced buffer) fits; only touched pages cost memory
// CoDel: bulk packets may wait 1 ms in the receive queue; longer than that for 10 ms and they are dropped.
#define AQM_TARGET_NS 1000000
#define AQM_INTERVAL_NS 10000000
// Plain mode: packets written per round. A round receives up to U2T_BATCH, twice as many: the thread drains
// the socket faster than it writes, and a packet read in waits at most a round behind other flows.
#define U2T_PLAIN_ROUND 16
// With a socket for the peer (udp_peer.c) beside the listening one: rounds between two looks at the
// listening socket while the peer's keeps the thread busy, so a new agent's handshake is not left waiting.
#define U2T_LISTEN_CHECK_ROUNDS 64

// The queue's sockets, as udp2tun_main reads them: the peer's first, since it carries the data.
enum u2t_socket { U2T_PEER = 0, U2T_LISTEN = 1 };

union ctrl_buf {
  char buf[UDP_RECV_CTRL_LEN];
  struct cmsghdr align;
};

struct udp2tun {
  struct pump *p;
  struct pump_queue *q;
  uint8_t *slots;
  dgram_t msgs[U2T_BATCH];
  struct iovec iov[U2T_BATCH];
  struct sockaddr_storage names[U2T_BATCH];
  union ctrl_buf ctrl[U2T_BATCH];
  struct gro *gro;  // offload mode: packets wait in pkts[] and are written (coalesced) once per batch
  size_t npkts;
  struct tun_pkt pkts[GRO_MAX_PKTS];
  struct peer_view peer;
  struct src_filter filter;
  unsigned filter_gen;
  struct ctrl_limit limit;
  uint64_t now_ms;  // read once per batch
  uint32_t rx_drops[2];  // each socket's SO_RXQ_OVFL count last seen, by enum u2t_socket
  struct aqm aqm;       // offload mode
  struct fq_pool fq;    // plain mode: its CoDel runs on CLOCK_REALTIME, the clock of the receive timestamps
  uint64_t now_rt_ns;   // CLOCK_REALTIME, read once per batch: receive timestamps are in that clock
  uint64_t sojourn_ns;  // how long the message being handled waited in the receive queue (0: unknown)
  uint64_t rx_rt_ns;    // when the kernel received it (the batch's now_rt_ns when unknown)
  struct counter_batch cb;
};

struct udp2tun *udp2tun_new(struct pump_queue *q) {
  struct pump *p = q->p;
  struct udp2tun *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->p = p;
  aqm_init(&u->aqm, AQM_TARGET_NS, AQM_INTERVAL_NS);
  u->q = q;
  u->slots = malloc((size_t)U2T_BATCH * U2T_SLOT);
  if (p->offload) u->gro = gro_new();
  if (!u->slots || (p->offload && !u->gro) || (!p->offload && fq_pool_init_plain(&u->fq, p->mtu) != 0)) {
    udp2tun_free(u);
    return NULL;
  }
  return u;
}

void udp2tun_free(struct udp2tun *u) {
  if (!u) return;
  gro_free(u->gro);
  fq_pool_destroy(&u->fq);
  free(u->slots);
  free(u);
}

static void write_packet(struct udp2tun *u, const uint8_t *pkt, size_t len) {
  ssize_t n;
  do n = u->p->io.tun_write(u->q->tun_fd, pkt, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    u->cb.drop_tun_write++;  // EIO while the link is down, EINVAL for a packet the kernel rejects, ...
    return;
  }
  u->cb.tun_tx_packets++;
  u->cb.tun_tx_bytes += len;
}

// Plain mode: a copy of the packet into the flow queues, stamped with its receive time, so CoDel sees the
// wait in the socket's queue too. With every slot taken, the flow with the most bytes queued loses its
// oldest packet (as the TUN -> UDP thread does).
static void enqueue_plain(struct udp2tun *u, const uint8_t *pkt, size_t len) {
  int s = fq_slot_take(&u->fq.fq, &u->cb.drop_fq_full);
  if (s < 0) return;  // cannot happen: no slot is out between rounds
  memcpy(fq_pool_buf(&u->fq, s), pkt, len);
  fq_enqueue(&u->fq.fq, s, fq_flow_hash(pkt, len), (uint32_t)len, u->rx_rt_ns);
}

// Plain mode: up to a round of packets, in FQ-CoDel's order. A packet counts as received (udpRxPackets) here,
// as in offload mode once CoDel has let it pass; CoDel's drops count as the receive side's (dropQueueDelay).
static void write_round(struct udp2tun *u) {
  struct fq *f = &u->fq.fq;
  uint64_t now = pump_clock_ns(CLOCK_REALTIME);
  for (unsigned i = 0; i < U2T_PLAIN_ROUND; i++) {
    int s = fq_dequeue(f, now, &u->cb.drop_queue_delay);
    if (s < 0) return;
    u->cb.udp_rx_packets++;
    u->cb.udp_rx_bytes += f->len[s];
    write_packet(u, fq_pool_buf(&u->fq, s), f->len[s]);
    fq_slot_put(f, s);
  }
}

static void write_pending(struct udp2tun *u) {
  if (u->npkts == 0) return;
  offload_write(u->q->tun_fd, u->gro, u->pkts, u->npkts, &u->cb,
                atomic_load_explicit(&u->p->csum_fill, memory_order_relaxed));
  u->npkts = 0;
}

// One datagram. Order of checks: control first (any source may talk to the control plane; JS
// authenticates), then data must come from the pinned peer, fit the MTU, be one plausible IP packet and
// come from an address behind the peer.
static void handle_datagram(struct udp2tun *u, uint8_t *buf, size_t len, const struct sockaddr *from,
                            socklen_t from_len) {
  struct pump *p = u->p;
  if (!ip_is_data(buf, len)) {
    bool from_peer = u->peer.set && sockaddr_equal(from, (const struct sockaddr *)&u->peer.addr);
    if (len == 0) {
      u->cb.drop_malformed++;  // no type byte: neither data nor control
    } else if (!from_peer && !ctrl_limit_take(&u->limit, from, u->now_ms)) {
      u->cb.drop_control_rate++;
    } else if (p->on_control(p->control_ctx, buf, len, from, from_len, from_peer)) {
      u->cb.control_rx++;
    } else {
      u->cb.drop_control_queue++;
    }
    return;
  }
  if (!u->peer.set || !sockaddr_equal(from, (const struct sockaddr *)&u->peer.addr)) {
    u->cb.drop_not_peer++;
    return;
  }
  if (len > p->mtu) {
    u->cb.drop_oversize++;
    return;
  }
  if (!ip_header_valid(buf, len)) {
    u->cb.drop_malformed++;
    return;
  }
  if (!src_filter_allows(&u->filter, buf)) {
    u->cb.drop_spoofed++;  // the peer speaks for an address that is not behind it
    return;
  }
  if (!p->offload) {
    enqueue_plain(u, buf, len);  // counted in when it leaves the flow queues, past their CoDel
    return;
  }
  if (len > AQM_SMALL_PACKET && aqm_should_drop(&u->aqm, u->sojourn_ns, u->now_rt_ns)) {
    u->cb.drop_queue_delay++;
    return;
  }
  u->cb.udp_rx_packets++;
  u->cb.udp_rx_bytes += len;
  if (u->npkts == GRO_MAX_PKTS) write_pending(u);  // coalesced and written once per batch
  u->pkts[u->npkts].data = buf;
  u->pkts[u->npkts].len = (uint32_t)len;
  u->npkts++;
}

// The receive queue's drops since the last batch: the newest message carries the socket's running count.
// Datagrams dropped after it are counted with the next batch.
static void count_rx_drops(struct udp2tun *u, const struct udp_rx_info *newest, uint32_t *seen) {
  if (!newest->has_drops) return;
  u->cb.udp_rx_overflow += (uint32_t)(newest->drops - *seen);  // unsigned: survives the count's wrap
  *seen = newest->drops;
}

// Whether any of the r datagrams received carries data (control alone, a keepalive, kicks no spin).
static bool batch_has_data(const struct udp2tun *u, int r) {
  for (int k = 0; k < r; k++)
    if (ip_is_data(u->iov[k].iov_base, u->msgs[k].msg_len)) return true;
  return false;
}

static void reset_msgs(struct udp2tun *u) {
  for (unsigned k = 0; k < U2T_BATCH; k++) {
    struct msghdr *m = &u->msgs[k].msg_hdr;
    u->iov[k].iov_base = u->slots + (size_t)k * U2T_SLOT;
    u->iov[k].iov_len = U2T_SLOT;
    m->msg_iov = &u->iov[k];
    m->msg_iovlen = 1;
    m->msg_name = &u->names[k];
    m->msg_namelen = sizeof u->names[k];
    m->msg_control = u->ctrl[k].buf;  // UDP_GRO segment size, SO_RXQ_OVFL drop count
    m->msg_controllen = sizeof u->ctrl[k].buf;
    m->msg_flags = 0;
  }
}

// Receives one batch from socket `which` and handles each datagram: control at once; data written (offload
// mode, coalesced) or queued (plain mode). The number received, or -1 with errno.
static int receive_batch(struct udp2tun *u, enum u2t_socket which) {
  struct pump *p = u->p;
  struct pump_queue *q = u->q;
  reset_msgs(u);
  int r = p->io.udp_recv(which == U2T_PEER ? q->peer_fd : q->udp.fd, u->msgs, U2T_BATCH);
  if (r < 0) return -1;
  pump_peer_refresh(p, &u->peer);
  pump_filter_refresh(p, &u->filter, &u->filter_gen);
  u->now_ms = pump_mono_ns() / 1000000;
  u->now_rt_ns = pump_clock_ns(CLOCK_REALTIME);
  // The partner is kicked before the TUN writes, not after: its wake-up then runs beside the writes (and
  // beside the reply the kernel may produce within them, an echo reply or a TCP ACK).
  if (p->spin_max_ns && batch_has_data(u, r)) pump_note_data(p);
  for (int k = 0; k < r; k++) {
    struct msghdr *m = &u->msgs[k].msg_hdr;
    uint8_t *buf = u->iov[k].iov_base;
    size_t len = u->msgs[k].msg_len;
    const struct sockaddr *from = (const struct sockaddr *)&u->names[k];
    struct udp_rx_info info;
    udp_rx_info(m, &info);  // one pass over the control data: GRO size, receive time, drop count
    if (k == r - 1) count_rx_drops(u, &info, &u->rx_drops[which]);
    if (m->msg_flags & MSG_TRUNC) {
      u->cb.drop_oversize++;
      continue;
    }
    // How long the message waited between the kernel's receive and this batch.
    u->sojourn_ns = info.time_ns && u->now_rt_ns > info.time_ns ? u->now_rt_ns - info.time_ns : 0;
    u->rx_rt_ns = u->now_rt_ns - u->sojourn_ns;
    // With UDP GRO the buffer may hold several datagrams of one sender: all `gso` bytes but the last.
    size_t gso = q->udp.gro ? info.gro_size : 0;
    if (gso == 0 || gso >= len) {
      handle_datagram(u, buf, len, from, m->msg_namelen);
      continue;
    }
    for (size_t off = 0; off < len; off += gso)
      handle_datagram(u, buf + off, len - off < gso ? len - off : gso, from, m->msg_namelen);
  }
  write_pending(u);
  return r;
}

// An ICMP error that the kernel reports on a connected socket, the peer's (its port closed, its host gone):
// the call that returned it consumed it, and the socket is fine. Not worth a back-off.
static bool peer_went_away(int e) {
  return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN;
}

// Each round receives from the sockets that may hold datagrams (ready[]). A socket is received from until a
// short batch says it is drained, and then again once poll says it is readable. While packets wait in the
// flow queues (plain mode) the data socket is looked at after every round of writes, so a new arrival gets in
// ahead of them; with the pair, the listening socket every U2T_LISTEN_CHECK_ROUNDS rounds too.
void *udp2tun_main(void *arg) {
  struct udp2tun *u = arg;
  struct pump *p = u->p;
  struct pump_queue *q = u->q;
  pump_thread_init(q, PUMP_UDP2TUN);
  bool pair = q->peer_fd >= 0;
  enum u2t_socket data = pair ? U2T_PEER : U2T_LISTEN;
  bool ready[2] = {pair, true};
  unsigned rounds = 0;
  while (!pump_stopping(p)) {
    if (pair && ++rounds % U2T_LISTEN_CHECK_ROUNDS == 0) ready[U2T_LISTEN] = true;
    int got = 0, failed = 0;
    bool more = false;  // a socket gave a full batch, or a receive was interrupted: go on without waiting
    for (int s = U2T_PEER; s <= U2T_LISTEN; s++) {
      if (!ready[s]) continue;
      int r = receive_batch(u, (enum u2t_socket)s);
      if (r < 0 && (errno == EINTR || (s == U2T_PEER && peer_went_away(errno)))) {
        more = true;
      } else if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) failed = errno;
        ready[s] = false;
      } else {
        got += r;
        // A short batch means the socket is drained: poll() says when it has more, rather than one more
        // receive (one recvmsg per datagram on macOS and in mac-like mode) only to be told EAGAIN.
        if (r < U2T_BATCH) ready[s] = false;
        else more = true;
      }
    }
    if (!p->offload) write_round(u);
    size_t round_bytes = u->cb.udp_rx_bytes;  // this round's: the batch is published (and zeroed) each round
    counters_publish(&q->counters, &u->cb);
    pump_slice_round(p, round_bytes);
    if (failed) {
      pump_backoff(p);
      ready[U2T_PEER] = pair;
      ready[U2T_LISTEN] = true;
      continue;
    }
    if (!p->offload && !fq_empty(&u->fq.fq)) {  // more to write; receive meanwhile
      ready[data] = true;
      continue;
    }
    if (more) continue;
    if (got == 0) aqm_queue_empty(&u->aqm);
    if (pump_linger(p, round_bytes)) {
      u->cb.lingers++;  // published with the next round
      ready[U2T_LISTEN] = true;
      ready[U2T_PEER] = pair;
      continue;
    }
    int w = pump_wait_either(p, q->udp.fd, POLLIN, q->peer_fd, POLLIN);
    if (w == 0) break;
    ready[U2T_LISTEN] = w & PUMP_READY_FD;
    ready[U2T_PEER] = w & PUMP_READY_FD2;
  }
  counters_publish(&q->counters, &u->cb);
  return NULL;
}

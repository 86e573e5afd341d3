// UDP -> TUN thread: receive datagrams in batches (recvmmsg; with UDP GRO one buffer may hold many), keep
// data from the pinned peer that looks like one whole IP packet, write it to the TUN, and hand everything
// else (control) to the JS side without blocking.
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "aqm.h"
#include "ctrl_limit.h"
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
  uint32_t rx_drops;  // the socket's SO_RXQ_OVFL count last seen
  struct aqm aqm;
  uint64_t now_rt_ns;   // CLOCK_REALTIME, read once per batch: receive timestamps are in that clock
  uint64_t sojourn_ns;  // how long the message being handled waited in the receive queue (0: unknown)
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
  if (!u->slots || (p->offload && !u->gro)) {
    udp2tun_free(u);
    return NULL;
  }
  return u;
}

void udp2tun_free(struct udp2tun *u) {
  if (!u) return;
  gro_free(u->gro);
  free(u->slots);
  free(u);
}

static void write_pending(struct udp2tun *u) {
  if (u->npkts == 0) return;
  offload_write(u->q->tun_fd, u->gro, u->pkts, u->npkts, &u->cb);
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
  if (len > AQM_SMALL_PACKET && aqm_should_drop(&u->aqm, u->sojourn_ns, u->now_rt_ns)) {
    u->cb.drop_queue_delay++;
    return;
  }
  u->cb.udp_rx_packets++;
  u->cb.udp_rx_bytes += len;
  if (u->gro) {
    if (u->npkts == GRO_MAX_PKTS) write_pending(u);
    u->pkts[u->npkts].data = buf;
    u->pkts[u->npkts].len = (uint32_t)len;
    u->npkts++;
    return;
  }
  ssize_t n;
  do n = p->io.tun_write(u->q->tun_fd, buf, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    u->cb.drop_tun_write++;  // EIO while the link is down, EINVAL for a packet the kernel rejects, ...
    return;
  }
  u->cb.tun_tx_packets++;
  u->cb.tun_tx_bytes += len;
}

// The receive queue's drops since the last batch: the newest message carries the socket's running count.
// Datagrams dropped after it are counted with the next batch.
static void count_rx_drops(struct udp2tun *u, const struct udp_rx_info *newest) {
  if (!newest->has_drops) return;
  u->cb.udp_rx_overflow += (uint32_t)(newest->drops - u->rx_drops);  // unsigned: survives the count's wrap
  u->rx_drops = newest->drops;
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

void *udp2tun_main(void *arg) {
  struct udp2tun *u = arg;
  struct pump *p = u->p;
  struct pump_queue *q = u->q;
  pump_thread_init(q, PUMP_UDP2TUN);
  while (!pump_stopping(p)) {
    reset_msgs(u);
    int r = p->io.udp_recv(q->udp.fd, u->msgs, U2T_BATCH);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        aqm_queue_empty(&u->aqm);
        if (!pump_wait(p, q->udp.fd, POLLIN)) break;
      } else {
        pump_backoff(p);
      }
      continue;
    }
    pump_peer_refresh(p, &u->peer);
    pump_filter_refresh(p, &u->filter, &u->filter_gen);
    u->now_ms = pump_mono_ns() / 1000000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    u->now_rt_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
      if (k == r - 1) count_rx_drops(u, &info);
      if (m->msg_flags & MSG_TRUNC) {
        u->cb.drop_oversize++;
        continue;
      }
      // How long the message waited between the kernel's receive and this batch.
      u->sojourn_ns = info.time_ns && u->now_rt_ns > info.time_ns ? u->now_rt_ns - info.time_ns : 0;
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
    counters_publish(&q->counters, &u->cb);
    // A short batch means the socket is drained: sleep in poll() now rather than spend one more receive
    // (one recvmsg per datagram on macOS and in mac-like mode) only to be told EAGAIN.
    if (r < U2T_BATCH && !pump_wait(p, q->udp.fd, POLLIN)) break;
  }
  counters_publish(&q->counters, &u->cb);
  return NULL;
}

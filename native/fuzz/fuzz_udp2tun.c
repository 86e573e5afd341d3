// Fuzz target: the UDP -> TUN thread's receive path (native/src/pump_udp2tun.c, included here for its static
// functions), what the daemon runs as root on every datagram that reaches its port: the batch's control
// messages (UDP GRO segment size, receive time, drop count), the GRO buffer cut into datagrams, and each
// datagram's checks (control or data, the pinned peer, the MTU, a whole IP packet, the allowed inner
// sources), then the write: coalesced (with offloads: offload_write, which fuzz_offload_write checks, is a spy
// here) or through FQ-CoDel one packet per write (without). The socket and the TUN are stand-ins: each
// datagram arrives in a buffer of exactly its length (AddressSanitizer sees any read past it) and from an
// address the input picks (the peer, the peer's address on another port, a stranger, another family).
// Checked against this file's own reading of the same datagrams:
//  - with offloads, what reaches offload_write is exactly the datagrams that pass, in their order, but for
//    bulk packets CoDel dropped (counted); without, each packet written is one that passed, once, and the
//    packets written and CoDel's and FQ's drops add up to those that passed;
//  - JavaScript is handed exactly the control datagrams, in order, each saying rightly whether the peer sent
//    it; strangers' may be refused by the rate limit, the peer's never;
//  - every drop counter counts what this reading says it must.
#define offload_write spy_offload_write
#include "../src/pump_udp2tun.c"
#undef offload_write

#include <arpa/inet.h>
#include <netinet/udp.h>

#include "../src/error.h"
#include "fuzz_packets.h"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define MAX_SEGS 2048
#define MTU_MAX (576 + 255 * 8)
#define MAX_BATCHES 4

// This file's reading: what each datagram is, in the order the pump must meet them.
enum kind { K_CONTROL, K_MALFORMED, K_NOT_PEER, K_OVERSIZE, K_SPOOFED, K_PASS };

struct seg {
  uint8_t *data;  // a copy: the pump's buffers are gone when the checks run
  size_t len;
  enum kind kind;
  bool from_peer;
  bool met;  // control: handed up; pass: reached offload_write or the TUN
};

static struct {
  struct reader r;
  struct flow_state flows[FUZZ_FLOWS];
  struct sockaddr_storage peer;
  bool peer_set, filter_on, gro;
  size_t mtu;
  uint8_t *bufs[U2T_BATCH];  // this batch's datagrams, freed after it
  struct seg segs[MAX_SEGS];
  size_t nsegs;
  size_t next_control, next_pass;  // the next control / passing segment the pump must meet
  size_t controls_taken;
  size_t truncated;
} s;

static void make_peer(struct sockaddr_storage *ss, bool v6, uint16_t port) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, "fd99::2", &a->sin6_addr);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(0xc0a84102);  // 192.168.65.2
  }
}

static socklen_t addr_len(const struct sockaddr_storage *ss) {
  return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  return a->ss_family == b->ss_family && memcmp(a, b, addr_len(a)) == 0;
}

// An IP packet as the pump must take it: the version's header fits and its length field is the datagram's.
static bool whole_packet(const uint8_t *p, size_t len) {
  if (len >= 20 && p[0] >> 4 == 4) return (p[0] & 15) >= 5 && (size_t)(p[0] & 15) * 4 <= len && get16(p + 2) == len;
  if (len >= 40 && p[0] >> 4 == 6) return (size_t)get16(p + 4) + 40 == len;
  return false;
}

// The allowed sources when the filter is on: 10.0.0.0/24 and fd00::1/128 (fuzz_packet's sources, which byte
// flips move out of them).
static bool source_allowed(const uint8_t *p) {
  if (!s.filter_on) return true;
  static const uint8_t v6src[16] = {0xfd, [15] = 1};
  if (p[0] >> 4 == 4) return p[12] == 10 && p[13] == 0 && p[14] == 0;
  return memcmp(p + 8, v6src, 16) == 0;
}

static void note_segment(const uint8_t *p, size_t len, const struct sockaddr_storage *from) {
  FUZZ_CHECK(s.nsegs < MAX_SEGS, "too many segments");
  struct seg *g = &s.segs[s.nsegs++];
  g->data = malloc(len ? len : 1);
  memcpy(g->data, p, len);
  g->len = len;
  g->from_peer = s.peer_set && same_endpoint(from, &s.peer);
  bool data = len > 0 && (p[0] >> 4 == 4 || p[0] >> 4 == 6);
  if (len == 0) g->kind = K_MALFORMED;
  else if (!data) g->kind = K_CONTROL;
  else if (!g->from_peer) g->kind = K_NOT_PEER;
  else if (len > s.mtu) g->kind = K_OVERSIZE;
  else if (!whole_packet(p, len)) g->kind = K_MALFORMED;
  else if (!source_allowed(p)) g->kind = K_SPOOFED;
  else g->kind = K_PASS;
}

// The next segment of `kind` from *cursor on (which moves past it); one must be left.
static struct seg *next_of(enum kind kind, size_t *cursor, const char *none_left) {
  while (*cursor < s.nsegs && s.segs[*cursor].kind != kind) (*cursor)++;
  FUZZ_CHECK(*cursor < s.nsegs, "%s", none_left);
  return &s.segs[(*cursor)++];
}

static bool same_bytes(const struct seg *g, const void *p, size_t len) {
  return g->len == len && memcmp(g->data, p, len) == 0;
}

static void add_cmsg(struct msghdr *m, size_t *used, int level, int type, const void *v, size_t n) {
  FUZZ_CHECK(*used + CMSG_SPACE(n) <= UDP_RECV_CTRL_LEN, "control messages overflow");
  struct cmsghdr *c = (struct cmsghdr *)((char *)m->msg_control + *used);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(n);
  memcpy(CMSG_DATA(c), v, n);
  *used += CMSG_SPACE(n);
}

// The socket: up to n datagrams from the input, each in its own buffer of exactly its length.
static int fake_recv(int fd, dgram_t *msgs, unsigned int n) {
  (void)fd;
  unsigned count = s.r.n ? 1 + rd8(&s.r) % n : 0;
  if (count == 0) {
    errno = EAGAIN;
    return -1;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  for (unsigned k = 0; k < count; k++) {
    struct msghdr *m = &msgs[k].msg_hdr;
    uint8_t how = rd8(&s.r);
    // Where from: the peer (most), the peer's address on another port, a stranger, the peer's other family.
    struct sockaddr_storage from;
    bool v6 = s.peer.ss_family == AF_INET6;
    switch (how & 7) {
      case 5: make_peer(&from, v6, 40001); break;
      case 6: make_peer(&from, v6, 40000), ((uint8_t *)&from)[v6 ? 23 : 7] ^= 1; break;
      case 7: make_peer(&from, !v6, 40000); break;
      default: make_peer(&from, v6, 40000);
    }
    memcpy(m->msg_name, &from, addr_len(&from));
    m->msg_namelen = addr_len(&from);
    // The datagram: one packet, or (GRO) several of one size with a shorter last one.
    size_t gso = (how & 8) ? rd16(&s.r) % 1600 : 0;
    unsigned parts = gso ? 1 + rd8(&s.r) % 12 : 1;
    static uint8_t buf[U2T_SLOT];
    size_t len = 0;
    for (unsigned i = 0; i < parts; i++) {
      size_t plen;
      uint8_t *pkt = fuzz_packet(&s.r, s.flows, &plen);
      if (!pkt) break;
      size_t take = gso && (i + 1 < parts || plen > gso) ? gso : plen;
      if (len + take > U2T_SLOT) take = U2T_SLOT - len;
      memcpy(buf + len, pkt, take < plen ? take : plen);
      if (take > plen) memset(buf + len + plen, 0, take - plen);
      len += take;
      free(pkt);
    }
    s.bufs[k] = malloc(len ? len : 1);
    memcpy(s.bufs[k], buf, len);
    msgs[k].msg_len = (unsigned)len;
    m->msg_iov[0].iov_base = s.bufs[k];
    m->msg_iov[0].iov_len = len;
    m->msg_flags = (how & 16) ? MSG_TRUNC : 0;
    size_t used = 0;
    if (gso) add_cmsg(m, &used, SOL_UDP, UDP_GRO, &(int){(int)gso}, sizeof(int));
    if (how & 32) {
      uint64_t ago_ns = (uint64_t)rd8(&s.r) * 250000;  // up to 64 ms in the queue: CoDel may drop
      uint64_t t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec - ago_ns;
      struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
      add_cmsg(m, &used, SOL_SOCKET, SCM_TIMESTAMPNS, &ts, sizeof ts);
    }
    if (how & 64) add_cmsg(m, &used, SOL_SOCKET, SO_RXQ_OVFL, &(uint32_t){rd8(&s.r)}, sizeof(uint32_t));
    m->msg_controllen = used;
    // This file's reading of it: truncated, or cut as the pump must cut it.
    if (how & 16) {
      s.truncated++;
    } else if (!s.gro || gso == 0 || gso >= len) {
      note_segment(s.bufs[k], len, &from);
    } else {
      for (size_t off = 0; off < len; off += gso)
        note_segment(s.bufs[k] + off, len - off < gso ? len - off : gso, &from);
    }
  }
  return (int)count;
}

static bool fake_control(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *from, socklen_t from_len,
                         bool from_peer) {
  (void)ctx;
  struct seg *g;
  // Strangers' control may be refused by the rate limit before this: skip those, never the peer's.
  while (!same_bytes(g = next_of(K_CONTROL, &s.next_control, "a control datagram handed up that is not one"),
                     data, len))
    FUZZ_CHECK(!g->from_peer, "the peer's control datagram was not handed up");
  FUZZ_CHECK(from_peer == g->from_peer, "from_peer says %d", from_peer);
  FUZZ_CHECK(from_len == addr_len((const struct sockaddr_storage *)from), "the sender's address length");
  g->met = true;
  bool taken = len % 3 != 0;  // JavaScript's queue full now and then
  s.controls_taken += taken;
  return taken;
}

// With offloads: what is handed on to be coalesced must be the passing datagrams, in order, but for bulk
// packets CoDel dropped.
void spy_offload_write(int tun_fd, struct gro *g, struct tun_pkt *pkts, size_t n, struct counter_batch *cb,
                       bool fill) {
  (void)tun_fd, (void)g, (void)cb, (void)fill;
  for (size_t i = 0; i < n; i++) {
    struct seg *e;
    while (!same_bytes(e = next_of(K_PASS, &s.next_pass, "a packet handed to the TUN that did not pass"),
                       pkts[i].data, pkts[i].len))
      FUZZ_CHECK(e->len > AQM_SMALL_PACKET, "a small packet (%zu bytes) left out", e->len);
    e->met = true;
  }
}

// Without offloads: each packet written must be one that passed and was not written before.
static size_t written;
static ssize_t fake_tun_write(int fd, const void *pkt, size_t len) {
  (void)fd;
  size_t i = 0;
  while (i < s.nsegs && !(s.segs[i].kind == K_PASS && !s.segs[i].met && same_bytes(&s.segs[i], pkt, len))) i++;
  FUZZ_CHECK(i < s.nsegs, "a packet written that did not pass, or twice (%zu bytes)", len);
  s.segs[i].met = true;
  written++;
  return (ssize_t)len;
}

static size_t count(enum kind k) {
  size_t n = 0;
  for (size_t i = 0; i < s.nsegs; i++) n += s.segs[i].kind == k;
  return n;
}

static struct pump p;

// One thread state per mode, kept from input to input (its 2 MB of receive slots, unused here, would cost more
// than the run) and reset to what udp2tun_new gives but for them.
static struct udp2tun *thread_state(bool offload) {
  static struct udp2tun *kept[2];
  struct udp2tun *u = kept[offload];
  if (!u) {
    size_t mtu = p.mtu;
    p.mtu = MTU_MAX;  // the flow queues' buffers (without offloads) must hold any input's MTU
    u = kept[offload] = udp2tun_new(&p.q[0]);
    p.mtu = mtu;
  }
  FUZZ_CHECK(u != NULL, "udp2tun_new");
  FUZZ_CHECK(u->npkts == 0 && (offload || fq_empty(&u->fq.fq)), "packets left from the last input");
  memset(&u->peer, 0, sizeof u->peer);
  memset(&u->filter, 0, sizeof u->filter);
  u->filter_gen = 0;
  memset(&u->limit, 0, sizeof u->limit);
  memset(u->rx_drops, 0, sizeof u->rx_drops);
  aqm_init(&u->aqm, AQM_TARGET_NS, AQM_INTERVAL_NS);
  memset(&u->cb, 0, sizeof u->cb);
  return u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memset(&s, 0, sizeof s);
  memset(&p, 0, sizeof p);
  written = 0;
  s.r = (struct reader){data, size};
  uint8_t cfg = rd8(&s.r);
  p.offload = cfg & 1;
  s.peer_set = !(cfg & 2);
  make_peer(&s.peer, cfg & 4, 40000);
  s.filter_on = cfg & 8;
  s.gro = cfg & 16;
  s.mtu = p.mtu = 576 + (size_t)rd8(&s.r) * 8;  // to MTU_MAX
  p.io.udp_recv = fake_recv;
  p.io.tun_write = fake_tun_write;
  p.on_control = fake_control;
  pthread_mutex_init(&p.peer_lock, NULL);
  if (s.peer_set) {
    memcpy(&p.peer, &s.peer, sizeof s.peer);
    p.peer_len = addr_len(&s.peer);
    p.peer_set = true;
  }
  atomic_init(&p.peer_gen, 1);
  char err[ERRBUF_LEN];
  if (s.filter_on) {
    p.filter.on = true;
    FUZZ_CHECK(src_filter_add(&p.filter, "10.0.0.0/24", err) == 0 && src_filter_add(&p.filter, "fd00::1/128", err) == 0,
               "%s", err);
  }
  atomic_init(&p.filter_gen, 1);
  p.nqueues = 1;
  struct pump_queue *q = &p.q[0];
  q->p = &p;
  q->tun_fd = q->peer_fd = q->udp.fd = -1;
  q->udp.gro = s.gro;
  struct udp2tun *u = thread_state(p.offload);

  for (int b = 0; b < MAX_BATCHES && s.r.n > 0; b++) {
    int got = receive_batch(u, U2T_LISTEN);
    for (int k = 0; k < got; k++) free(s.bufs[k]);
    if (!p.offload)
      while (!fq_empty(&u->fq.fq)) write_round(u);
  }

  const struct counter_batch *c = &u->cb;
  size_t controls = count(K_CONTROL), passed = count(K_PASS), met = 0, peer_controls_refused = 0;
  for (size_t i = 0; i < s.nsegs; i++) {
    met += s.segs[i].kind == K_PASS && s.segs[i].met;
    peer_controls_refused += s.segs[i].kind == K_CONTROL && s.segs[i].from_peer && !s.segs[i].met;
  }
  FUZZ_CHECK(c->drop_not_peer == count(K_NOT_PEER), "dropNotPeer %llu, %zu", (unsigned long long)c->drop_not_peer,
             count(K_NOT_PEER));
  FUZZ_CHECK(c->drop_oversize == count(K_OVERSIZE) + s.truncated, "dropOversize");
  FUZZ_CHECK(c->drop_malformed == count(K_MALFORMED), "dropMalformed %llu, %zu",
             (unsigned long long)c->drop_malformed, count(K_MALFORMED));
  FUZZ_CHECK(c->drop_spoofed == count(K_SPOOFED), "dropSpoofed");
  FUZZ_CHECK(peer_controls_refused == 0, "the peer's control refused by the rate limit");
  FUZZ_CHECK(c->control_rx == s.controls_taken, "controlRx");
  FUZZ_CHECK(c->control_rx + c->drop_control_queue + c->drop_control_rate == controls, "control counts %zu",
             controls);
  FUZZ_CHECK(c->drop_tun_write == 0 && c->tun_tx_packets == written, "TUN writes");
  if (p.offload) {
    // What passed and was not handed on can only be bulk that CoDel dropped, and is counted so.
    for (size_t i = 0; i < s.nsegs; i++)
      if (s.segs[i].kind == K_PASS && !s.segs[i].met)
        FUZZ_CHECK(s.segs[i].len > AQM_SMALL_PACKET, "a small packet (%zu bytes) never handed on", s.segs[i].len);
    FUZZ_CHECK(c->udp_rx_packets == met && met + c->drop_queue_delay == passed,
               "udpRxPackets %llu, handed on %zu, dropQueueDelay %llu, passed %zu",
               (unsigned long long)c->udp_rx_packets, met, (unsigned long long)c->drop_queue_delay, passed);
  } else {
    FUZZ_CHECK(c->udp_rx_packets == written && written == met, "udpRxPackets");
    FUZZ_CHECK(met + c->drop_queue_delay + c->drop_fq_full == passed, "written %zu + dropped %llu + %llu != %zu", met,
               (unsigned long long)c->drop_queue_delay, (unsigned long long)c->drop_fq_full, passed);
  }
  for (size_t i = 0; i < s.nsegs; i++) free(s.segs[i].data);
  pthread_mutex_destroy(&p.peer_lock);
  return 0;
}

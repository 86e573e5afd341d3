// Pump lifecycle: socket, threads, peer, control sends, shutdown. The packet loops are in pump_tun2udp.c and
// pump_udp2tun.c.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#endif
#ifdef __APPLE__
#include <pthread/qos.h>
#endif

#include "error.h"
#include "pump_internal.h"
#include "sockaddr_util.h"
#include "tun.h"

#define BACKOFF_MS 50

void pump_peer_refresh(struct pump *p, struct peer_view *v) {
  if (atomic_load_explicit(&p->peer_gen, memory_order_acquire) == v->gen) return;
  pthread_mutex_lock(&p->peer_lock);
  v->addr = p->peer;
  v->len = p->peer_len;
  v->set = p->peer_set;
  v->connected = p->peer_set && p->peer_connected;
  v->gen = atomic_load_explicit(&p->peer_gen, memory_order_relaxed);
  pthread_mutex_unlock(&p->peer_lock);
}

void pump_filter_refresh(struct pump *p, struct src_filter *f, unsigned *gen) {
  if (atomic_load_explicit(&p->filter_gen, memory_order_acquire) == *gen) return;
  pthread_mutex_lock(&p->peer_lock);
  *f = p->filter;
  *gen = atomic_load_explicit(&p->filter_gen, memory_order_relaxed);
  pthread_mutex_unlock(&p->peer_lock);
}

// The spin after data (issue #15.3). A wake-up from poll costs 7-16 µs here (in a VM an idle vCPU must be
// woken out of HLT by the hypervisor), four per round trip through the tunnel: a part of what the tunnel
// adds to an idle ping, the cold network stack being most of the rest (bench/README.md). After data, a thread
// polls without sleeping for a window (yielding the CPU to anything else runnable: on a busy CPU a spinner
// must not hold the CPU the packet's next hop needs), and a thread that moves data kicks its sleeping partner
// (the other thread of its queue, where the reply will come back) awake, so the reply finds it polling; the
// partner's wake-up then runs beside the packet's trip instead of after it. Only the partner: one pipe for
// all threads woke every sleeping thread of the pump for each kick. The window adapts per thread: it doubles
// when data came while spinning and halves when none did (down to an eighth), so a thread whose spins find
// nothing soon spins only briefly. Off unless GANGWAY_SPIN_US (1..1000) is set (bench/README.md has the A/B).
#define SPIN_MAX_US 1000
static _Thread_local uint64_t spin_window_ns;
static _Thread_local uint64_t last_data_ns;  // this thread's own data, for the spin after it
static _Thread_local struct pump_kick *own_kick, *partner_kick;

static uint64_t spin_max_ns(void) {
  const char *v = getenv("GANGWAY_SPIN_US");
  if (!v || !*v) return 0;
  char *end;
  long us = strtol(v, &end, 10);
  return *end == '\0' && us > 0 && us <= SPIN_MAX_US ? (uint64_t)us * 1000 : 0;  // anything else: off
}

uint64_t pump_clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void pump_note_data(struct pump *p) {
  if (!p->spin_max_ns) return;
  last_data_ns = pump_mono_ns();
  if (partner_kick && atomic_load_explicit(&partner_kick->sleeping, memory_order_relaxed)) {
    ssize_t w;
    do w = write(partner_kick->wr, "k", 1);
    while (w < 0 && errno == EINTR);  // EAGAIN: a kick is already pending
  }
}

static void drain_kicks(int fd) {
  char buf[64];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

bool pump_wait(struct pump *p, int fd, short events) { return pump_wait_either(p, fd, events, -1, 0) != 0; }

int pump_wait_either(struct pump *p, int fd, short events, int fd2, short events2) {
  // poll() ignores a negative fd: without the spin there is no kick pipe.
  int kick_fd = own_kick ? own_kick->rd : -1;
  struct pollfd fds[4] = {{.fd = fd, .events = events},
                          {.fd = p->wake_rd, .events = POLLIN},
                          {.fd = kick_fd, .events = POLLIN},
                          {.fd = fd2, .events = events2}};
  const uint64_t max = p->spin_max_ns, min = max / 8;
  if (spin_window_ns < min || spin_window_ns > max) spin_window_ns = max;
  uint64_t now = max ? pump_mono_ns() : 0;
  uint64_t spin_until = max && now - last_data_ns < spin_window_ns ? now + spin_window_ns : 0;
  bool spun = false;
  while (!pump_stopping(p)) {
    bool spin = spin_until != 0 && pump_mono_ns() < spin_until;
    if (!spin && spun) {
      spin_window_ns = spin_window_ns / 2 < min ? min : spin_window_ns / 2;  // found nothing
      spun = false;
    }
    if (!spin && own_kick) atomic_store_explicit(&own_kick->sleeping, true, memory_order_relaxed);
    int r = poll(fds, 4, spin ? 0 : -1);
    if (!spin && own_kick) atomic_store_explicit(&own_kick->sleeping, false, memory_order_relaxed);
    // A polite spin: on a busy CPU the others run first (a spinning thread must not hold the CPU that the
    // packet's next hop, the other process or the kernel, needs); on an idle one it returns at once.
    if (spin && r == 0) sched_yield();
    spun |= spin;
    if (r < 0) {
      if (errno != EINTR) pump_backoff(p);
      continue;
    }
    if (fds[1].revents) return 0;
    if (fds[0].revents || fds[3].revents) {
      if (spun) spin_window_ns = spin_window_ns * 2 > max ? max : spin_window_ns * 2;
      // Including POLLERR/POLLHUP: the next call reports the error.
      return (fds[0].revents ? PUMP_READY_FD : 0) | (fds[3].revents ? PUMP_READY_FD2 : 0);
    }
    if (fds[2].revents) {
      drain_kicks(kick_fd);
      spin_until = pump_mono_ns() + max;
    }
  }
  return 0;
}

// The rest after bulk (issue #15). A thread that finds its queue empty sleeps in poll(), and the producer's
// next packet wakes it: on a VM's vCPUs (the VM of a Mac's Docker engine; this rig) each such wake-up is a
// cross-CPU interrupt and a hypervisor exit. A 1-stream upload made about 25,000 context switches a second
// here, and the scheduler's wake-up and switch paths took a fifth of the machine's samples. So after a round
// that moved bulk (LINGER_MIN_BYTES or more), a thread that finds nothing more first rests for a fixed time
// without waiting on its fds: the producer's packets queue without a wake-up, and the rest's end finds
// several of them. A ping or an ACK never moves that much in a round, so the idle path and its RTT are
// untouched; under load a packet waits at most one rest at each hop; a thread never short of work (full
// batches) never rests.
// Only with TUN offloads (Linux; the agent in every VM). Without them a queue entry is one packet: the
// kernel's TUN ring (500 on the mac-like path, standing for utun) filled during rests, and the mac-like path
// lost pings under 4-stream load with 5 times the ring's drops (bench/README.md). So a Mac's helper never
// rests. GANGWAY_LINGER_US (0..1000, 0 off) overrides the time, for A/B runs.
#define LINGER_US_DEFAULT 100
#define LINGER_US_MAX 1000
#define LINGER_MIN_BYTES (16u << 10)

static uint64_t linger_ns(void) {
  const char *v = getenv("GANGWAY_LINGER_US");
  if (!v || !*v) return LINGER_US_DEFAULT * 1000;
  char *end;
  long us = strtol(v, &end, 10);
  return *end == '\0' && us >= 0 && us <= LINGER_US_MAX ? (uint64_t)us * 1000 : LINGER_US_DEFAULT * 1000;
}

bool pump_linger(struct pump *p, size_t round_bytes) {
  if (!p->linger_ns || round_bytes < LINGER_MIN_BYTES) return false;
  // A plain sleep, not a poll on the wake pipe: macOS has no ppoll, and a stop waits one rest at most.
  struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)p->linger_ns};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return !pump_stopping(p);
}

void pump_backoff(struct pump *p) {
  struct pollfd wake = {.fd = p->wake_rd, .events = POLLIN};
  poll(&wake, 1, BACKOFF_MS);
}

// TUN fds owned by live pumps, so one handle given to two pumps is refused instead of being closed twice
// (the second close could hit an unrelated file that reused the number). Pumps are few; a list will do.
#define OWNED_MAX 64
static pthread_mutex_t owned_lock = PTHREAD_MUTEX_INITIALIZER;
static int owned_fds[OWNED_MAX];
static int owned_count;

static int own_fd(int fd, char *err) {
  int rc = 0;
  pthread_mutex_lock(&owned_lock);
  for (int i = 0; i < owned_count; i++)
    if (owned_fds[i] == fd) rc = -1;
  if (rc < 0)
    snprintf(err, ERRBUF_LEN, "tun fd %d already belongs to a pump", fd);
  else if (owned_count == OWNED_MAX)
    snprintf(err, ERRBUF_LEN, "too many pumps (%d)", OWNED_MAX), rc = -1;
  else
    owned_fds[owned_count++] = fd;
  pthread_mutex_unlock(&owned_lock);
  return rc;
}

static void disown_fd(int fd) {
  pthread_mutex_lock(&owned_lock);
  for (int i = 0; i < owned_count; i++) {
    if (owned_fds[i] == fd) {
      owned_fds[i] = owned_fds[--owned_count];
      break;
    }
  }
  pthread_mutex_unlock(&owned_lock);
}

// The pump threads stand where the kernel's softirq stands for routed traffic: a packet waits while they
// wait for a CPU. On a busy host that wait, not the work, made the tunnel's latency (bench/hops.ts: ms per
// hop at load 13 on 2 CPUs, against µs for direct routing), so each asks for a larger share, best effort:
//  - Linux: nice -10 (a weight, not a real-time class, so a flood still cannot starve the machine). Without
//    CAP_SYS_NICE the call fails and the thread keeps the default. (A short EEVDF time slice as well was
//    tried twice and not kept: README.md, "Latency under load".)
//  - macOS: the user-interactive QoS class, as Chromium gives its IO thread: the highest class below real
//    time, and performance cores on Apple Silicon, where default-class threads may run on efficiency cores.
#define PUMP_NICE (-10)
static void raise_priority(void) {
#ifdef __linux__
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PUMP_NICE);
#elif defined(__APPLE__)
  pthread_set_qos_class_self_np(QOS_CLASS_USER_INTERACTIVE, 0);
#endif
}

static void name_thread(const char *role, unsigned queue) {
  char name[16];  // the kernel keeps 15 characters
  snprintf(name, sizeof name, "gw-%s-%u", role, queue);
#ifdef __APPLE__
  pthread_setname_np(name);
#else
  pthread_setname_np(pthread_self(), name);
#endif
}

void pump_thread_init(struct pump_queue *q, enum pump_role role) {
  name_thread(role == PUMP_TUN2UDP ? "tun2udp" : "udp2tun", q->index);
  raise_priority();
  if (q->p->spin_max_ns) {
    own_kick = &q->kick[role];
    partner_kick = &q->kick[role == PUMP_TUN2UDP ? PUMP_UDP2TUN : PUMP_TUN2UDP];
  }
}

static int set_nonblocking(int fd, bool on, int *old_flags) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return -1;
  if (old_flags) *old_flags = fl;
  return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

// A non-blocking, close-on-exec pipe (wake-ups and kicks; a byte in it only means "look").
static int open_pipe(int *rd, int *wr, char *err) {
  int fds[2];
  if (pipe(fds) < 0) {
    set_errno_error(err, "pipe", errno);
    return -1;
  }
  *rd = fds[0];
  *wr = fds[1];
  if (set_nonblocking(*rd, true, NULL) < 0 || set_nonblocking(*wr, true, NULL) < 0 ||
      fcntl(*rd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(*wr, F_SETFD, FD_CLOEXEC) < 0) {
    set_errno_error(err, "fcntl(pipe)", errno);
    return -1;
  }
  return 0;
}

// Undoes pump_create's steps (threads must not be running). Leaves queue 0's TUN fd (the caller's) open.
static void release_resources(struct pump *p) {
  for (unsigned i = 0; i < PUMP_QUEUES_MAX; i++) {
    struct pump_queue *q = &p->q[i];
    if (q->udp.fd >= 0) close(q->udp.fd);
    if (q->peer_fd >= 0) close(q->peer_fd);
    if (i > 0 && q->tun_fd >= 0) close(q->tun_fd);
    q->udp.fd = q->peer_fd = -1;
    if (i > 0) q->tun_fd = -1;
    tun2udp_free(q->t2u);
    udp2tun_free(q->u2t);
    q->t2u = NULL;
    q->u2t = NULL;
    for (int r = 0; r < 2; r++) {
      if (q->kick[r].rd >= 0) close(q->kick[r].rd);
      if (q->kick[r].wr >= 0) close(q->kick[r].wr);
      q->kick[r].rd = q->kick[r].wr = -1;
    }
  }
  if (p->wake_rd >= 0) close(p->wake_rd);
  if (p->wake_wr >= 0) close(p->wake_wr);
  p->wake_rd = p->wake_wr = -1;
}

// Picks the packet calls. The TUN's framing comes from its handle (tun.macLike), as its offload mode does;
// the kernel cannot be asked: TUNGETIFF reports IFF_NOFILTER in the bit of IFF_NO_PI.
static int choose_io(struct pump *p, bool per_packet, char *err) {
#ifdef __APPLE__
  per_packet = true;  // macOS has no other calls, so the checks below hold there too
  p->io = (struct pump_io){tun_read, tun_write, udp_recv_batch, udp_send_batch, true};
#else
  p->io = (struct pump_io){tun_read, tun_write, udp_recv_batch, udp_send_batch, false};
#endif
  if (per_packet && p->offload) {
    snprintf(err, ERRBUF_LEN, "a per-packet (mac-like) pump needs a TUN opened without offloads");
    return -1;
  }
  if (per_packet && p->nqueues > 1) {
    snprintf(err, ERRBUF_LEN, "%u queues asked for: a per-packet pump (macOS, mac-like) has one, as utun does",
             p->nqueues);
    return -1;
  }
#ifdef __linux__
  if (per_packet)
    p->io = (struct pump_io){tun_read_framed, tun_write_framed, udp_recv_each, udp_send_each, true};
#endif
  return 0;
}

static void stop_threads(struct pump *p) {
  atomic_store(&p->stopping, true);
  if (p->wake_wr >= 0) {
    ssize_t w;
    do w = write(p->wake_wr, "x", 1);
    while (w < 0 && errno == EINTR);  // a full pipe (EAGAIN) is fine: it is already readable
  }
  for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  p->nthreads = 0;
}

// The UDP sockets: a group of one per queue (udp_open_group), or in per-packet mode with a specific bind
// address one queue's listening socket and the socket for the peer (udp_open_pair). The pair only saves
// work: when it cannot be had, one socket as before (whose own error, a port in use, is the one reported).
static int open_sockets(struct pump *p, const struct pump_config *cfg, char *err) {
  const struct sockaddr *bind_addr = (const struct sockaddr *)&cfg->bind_addr;
  struct udp_socket peer;
  if (p->io.per_packet && !sockaddr_is_any(bind_addr) &&
      udp_open_pair(bind_addr, cfg->bind_len, cfg->rcvbuf, cfg->sndbuf, &p->q[0].udp, &peer, err) == 0) {
    p->q[0].peer_fd = peer.fd;
    return 0;
  }
  struct udp_socket socks[PUMP_QUEUES_MAX];
  int opened = udp_open_group(bind_addr, cfg->bind_len, cfg->rcvbuf, cfg->sndbuf,
                              cfg->udp_offload && !cfg->per_packet, p->nqueues, socks, err);
  if (opened < 0) return -1;
  p->nqueues = (unsigned)opened;  // 1 when the kernel refused the steering program (queueStats() says so)
  for (unsigned i = 0; i < p->nqueues; i++) p->q[i].udp = socks[i];
  return 0;
}

// Queues 1.. : their TUN fds (non-blocking) and the thread state of every queue.
static int open_queues(struct pump *p, const struct pump_config *cfg, char *err) {
  for (unsigned i = 1; i < p->nqueues; i++) {
    if (tun_open_queue(cfg->tun_name, cfg->offload, &p->q[i].tun_fd, err) < 0) return -1;
    if (set_nonblocking(p->q[i].tun_fd, true, NULL) < 0) {
      set_errno_error(err, "fcntl(tun queue fd, O_NONBLOCK)", errno);
      return -1;
    }
  }
  for (unsigned i = 0; i < p->nqueues; i++) {
    p->q[i].t2u = tun2udp_new(&p->q[i]);
    p->q[i].u2t = udp2tun_new(&p->q[i]);
    if (!p->q[i].t2u || !p->q[i].u2t) {
      snprintf(err, ERRBUF_LEN, "out of memory");
      return -1;
    }
  }
  return 0;
}

static int start_threads(struct pump *p) {
  // Threads start with every signal blocked, so signals keep going to Node's own threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = 0;
  for (unsigned i = 0; i < p->nqueues && rc == 0; i++) {
    rc = pthread_create(&p->threads[p->nthreads], NULL, tun2udp_main, p->q[i].t2u);
    if (rc == 0) p->nthreads++;
    if (rc == 0) rc = pthread_create(&p->threads[p->nthreads], NULL, udp2tun_main, p->q[i].u2t);
    if (rc == 0) p->nthreads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

int pump_create(const struct pump_config *cfg, struct pump **out, char *err) {
  if (cfg->queues < 1 || cfg->queues > PUMP_QUEUES_MAX) {
    snprintf(err, ERRBUF_LEN, "queues must be between 1 and %d, got %u", PUMP_QUEUES_MAX, cfg->queues);
    return -1;
  }
  struct pump *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, ERRBUF_LEN, "out of memory");
    return -1;
  }
  p->offload = cfg->offload;
  p->mtu = cfg->mtu;
  p->on_control = cfg->on_control;
  p->control_ctx = cfg->control_ctx;
  p->nqueues = cfg->queues;
  for (unsigned i = 0; i < PUMP_QUEUES_MAX; i++) {
    p->q[i].p = p;
    p->q[i].index = i;
    p->q[i].tun_fd = p->q[i].udp.fd = p->q[i].peer_fd = -1;
    for (int r = 0; r < 2; r++) {
      p->q[i].kick[r].rd = p->q[i].kick[r].wr = -1;
      atomic_init(&p->q[i].kick[r].sleeping, false);
    }
  }
  p->q[0].tun_fd = cfg->tun_fd;
  p->wake_rd = p->wake_wr = -1;
  atomic_init(&p->stopping, false);
  p->spin_max_ns = spin_max_ns();
  p->light_slice_ns = pump_light_slice_ns();
  p->linger_ns = p->offload ? linger_ns() : 0;  // see pump_linger: never without offloads
  atomic_init(&p->peer_gen, 1);
  atomic_init(&p->filter_gen, 1);
  atomic_init(&p->csum_leave, false);
  atomic_init(&p->csum_fill, false);
  pthread_mutex_init(&p->peer_lock, NULL);

  int tun_flags = -1;
  if (own_fd(cfg->tun_fd, err) < 0) {
    p->q[0].tun_fd = -1;  // not ours: fail must not disown it
    goto fail;
  }
  if (choose_io(p, cfg->per_packet, err) < 0) goto fail;
  if (open_sockets(p, cfg, err) < 0) goto fail;
  if (open_pipe(&p->wake_rd, &p->wake_wr, err) < 0) goto fail;
  for (unsigned i = 0; i < p->nqueues && p->spin_max_ns; i++)
    for (int r = 0; r < 2; r++)
      if (open_pipe(&p->q[i].kick[r].rd, &p->q[i].kick[r].wr, err) < 0) goto fail;
  if (open_queues(p, cfg, err) < 0) goto fail;
  if (set_nonblocking(p->q[0].tun_fd, true, &tun_flags) < 0) {
    set_errno_error(err, "fcntl(tun fd, O_NONBLOCK)", errno);
    goto fail;
  }
  int rc = start_threads(p);
  if (rc != 0) {
    set_errno_error(err, "pthread_create", rc);
    stop_threads(p);
    fcntl(p->q[0].tun_fd, F_SETFL, tun_flags);  // the fd goes back to the caller as it came
    goto fail;
  }
  *out = p;
  return 0;

fail:
  if (p->q[0].tun_fd >= 0) disown_fd(p->q[0].tun_fd);
  release_resources(p);
  pthread_mutex_destroy(&p->peer_lock);
  free(p);
  return -1;
}

uint16_t pump_local_port(const struct pump *p) { return p->q[0].udp.port; }

int pump_family(const struct pump *p) { return p->q[0].udp.family; }

void pump_set_peer(struct pump *p, const struct sockaddr *addr, socklen_t len) {
  pthread_mutex_lock(&p->peer_lock);
  // The peer's socket follows the peer; a peer pinned again (after clearPeer, or a new handshake from the
  // same address) keeps its connection. Until the connect succeeds, or when it fails, the data goes out on
  // the listening socket, addressed, as it does without the pair; once retired (udp_connect_peer), for good.
  // A batch the TUN -> UDP thread sends on the socket while it is connected anew goes to the new peer, which
  // is pinned, so authenticated, too.
  int peer_fd = p->q[0].peer_fd;
  if (peer_fd >= 0 && !p->peer_retired &&
      !(p->peer_connected && sockaddr_equal((struct sockaddr *)&p->peer, addr))) {
    enum udp_peer_result r = udp_connect_peer(peer_fd, addr, len, p->q[0].udp.fd);
    p->peer_connected = r == UDP_PEER_CONNECTED;
    p->peer_retired = r == UDP_PEER_RETIRED;
  }
  memset(&p->peer, 0, sizeof p->peer);
  memcpy(&p->peer, addr, len);
  p->peer_len = len;
  p->peer_set = true;
  atomic_fetch_add_explicit(&p->peer_gen, 1, memory_order_release);
  pthread_mutex_unlock(&p->peer_lock);
}

void pump_clear_peer(struct pump *p) {
  pthread_mutex_lock(&p->peer_lock);
  p->peer_set = false;
  atomic_fetch_add_explicit(&p->peer_gen, 1, memory_order_release);
  pthread_mutex_unlock(&p->peer_lock);
}

void pump_set_filter(struct pump *p, const struct src_filter *f) {
  pthread_mutex_lock(&p->peer_lock);
  if (f)
    p->filter = *f;
  else
    p->filter.on = false;
  atomic_fetch_add_explicit(&p->filter_gen, 1, memory_order_release);
  pthread_mutex_unlock(&p->peer_lock);
}

int pump_set_checksum_offload(struct pump *p, bool leave, bool fill, char *err) {
  if (!p->offload && (leave || fill)) {
    snprintf(err, ERRBUF_LEN, "checksum offload needs a TUN with offloads");
    return -1;
  }
  atomic_store_explicit(&p->csum_fill, fill, memory_order_relaxed);
  atomic_store_explicit(&p->csum_leave, leave, memory_order_relaxed);
  return 0;
}

int pump_send_control(struct pump *p, const uint8_t *data, size_t len, const struct sockaddr *to, socklen_t to_len,
                      char *err) {
  if (p->closed) {
    snprintf(err, ERRBUF_LEN, "pump is closed");
    return -1;
  }
  ssize_t n;
  do n = sendto(p->q[0].udp.fd, data, len, MSG_DONTWAIT, to, to_len);
  while (n < 0 && errno == EINTR);
  if (n >= 0) {
    atomic_fetch_add_explicit(&p->q[0].counters.control_tx, 1, memory_order_relaxed);
    return 0;
  }
  int e = errno;
  if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
    atomic_fetch_add_explicit(&p->q[0].counters.drop_udp_send, 1, memory_order_relaxed);
    return 1;
  }
  char text[SOCKADDR_TEXT_MAX], what[96];
  uint16_t port;
  sockaddr_format(to, text, &port);
  snprintf(what, sizeof what, strchr(text, ':') ? "sendto([%s]:%u)" : "sendto(%s:%u)", text, (unsigned)port);
  set_errno_error(err, what, e);
  return -1;
}

void pump_stats(struct pump *p, pump_stats_t *out) {
  // The kernel's, not the threads': one count for the device (all its queues), read when asked (a file
  // read), kept in queue 0's counters for after close.
  if (p->q[0].tun_fd >= 0)
    atomic_store_explicit(&p->q[0].counters.drop_tun_queue, tun_queue_drops(p->q[0].tun_fd),
                          memory_order_relaxed);
  memset(out, 0, sizeof *out);
  for (unsigned i = 0; i < p->nqueues; i++) {
    pump_stats_t one;
    counters_snapshot(&p->q[i].counters, &one);
#define X(field, name) out->field += one.field;
    PUMP_COUNTERS(X)
#undef X
  }
}

unsigned pump_queues(const struct pump *p) { return p->nqueues; }

void pump_queue_stats(struct pump *p, unsigned queue, pump_stats_t *out) {
  if (queue < p->nqueues)
    counters_snapshot(&p->q[queue].counters, out);
  else
    memset(out, 0, sizeof *out);
}

bool pump_closed(const struct pump *p) { return p->closed; }

void pump_close(struct pump *p) {
  if (p->closed) return;
  p->closed = true;
  stop_threads(p);
  release_resources(p);
  if (p->q[0].tun_fd >= 0) {
    close(p->q[0].tun_fd);
    disown_fd(p->q[0].tun_fd);  // after close: until then nobody else may take the number
  }
  p->q[0].tun_fd = -1;
}

void pump_destroy(struct pump *p) {
  if (!p) return;
  pump_close(p);
  pthread_mutex_destroy(&p->peer_lock);
  free(p);
}

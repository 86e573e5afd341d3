// Shared by pump.c and the two thread files.
#ifndef GANGWAY_PUMP_INTERNAL_H
#define GANGWAY_PUMP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pump.h"
#include "src_filter.h"
#include "udp.h"

struct tun2udp;
struct udp2tun;

// A queue's two threads; indexes pump_queue.kick.
enum pump_role { PUMP_TUN2UDP = 0, PUMP_UDP2TUN = 1 };

// One thread's kick (issue #15.3): a pipe its partner writes to wake it for a spin, and whether it sleeps in
// poll (a kick is written only then). Only with the spin on; rd/wr are -1 otherwise.
struct pump_kick {
  int rd, wr;
  atomic_bool sleeping;
};

// The calls that move packets, chosen once by pump_create: batched (and, on Linux, offloaded), or one packet
// per syscall as on macOS (per_packet).
struct pump_io {
  ssize_t (*tun_read)(int fd, void *buf, size_t len);
  ssize_t (*tun_write)(int fd, const void *pkt, size_t len);
  int (*udp_recv)(int fd, dgram_t *msgs, unsigned int n);
  int (*udp_send)(int fd, dgram_t *msgs, unsigned int n);
  bool per_packet;  // udp_send makes one syscall per datagram (always on macOS)
};

// One queue: a TUN queue fd and a UDP socket (in the pump's SO_REUSEPORT group), served by its own
// TUN -> UDP and UDP -> TUN threads. The kernel keeps each flow on one queue: the socket group by
// flow_steer.h's program, and the TUN sends a flow's packets to the queue its replies were last written
// from (tun.c's flow table, "automq"; by the flow hash until then), so a flow moves at most once, early.
struct pump_queue {
  struct pump *p;
  unsigned index;
  int tun_fd;  // queue 0's is the caller's (see own_fd); the others the pump opened
  struct udp_socket udp;
  // Per-packet mode with a specific bind address: a second socket on udp's address and port, connected to
  // the pinned peer by pump_set_peer (udp_peer.c), which the data goes out on. -1 otherwise. Open as long as
  // the pump; only the peer it is connected to changes (or, retired, the socket it names: pump.peer_retired).
  int peer_fd;
  struct tun2udp *t2u;
  struct udp2tun *u2t;
  struct pump_counters counters;
  struct pump_kick kick[2];  // by enum pump_role
};

struct pump {
  // Fixed once the threads run.
  bool offload;
  struct pump_io io;
  size_t mtu;
  pump_control_fn on_control;
  void *control_ctx;

  // Shutdown: the flag is checked between batches, the pipe wakes threads blocked in poll().
  atomic_bool stopping;
  int wake_rd, wake_wr;

  // The pinned peer. Writers hold the lock and bump the generation; threads copy it under the lock only
  // when the generation moved, so the hot path costs one atomic load per batch.
  pthread_mutex_t peer_lock;
  struct sockaddr_storage peer;
  socklen_t peer_len;
  bool peer_set;
  bool peer_connected;  // q[0].peer_fd is connected to `peer` and sends from the bound address
  bool peer_retired;    // q[0].peer_fd is a descriptor of the listening socket now: never connect it
  atomic_uint peer_gen;

  // Checksum offload across the tunnel (offload.h; offload mode only): the TUN -> UDP threads leave TCP
  // checksums to the peer, the UDP -> TUN threads fill them in. Read once per batch.
  atomic_bool csum_leave, csum_fill;

  // Allowed inner sources of data from the peer, under peer_lock, copied by the UDP -> TUN thread when
  // filter_gen moved (the same scheme as the peer).
  struct src_filter filter;
  atomic_uint filter_gen;

  unsigned nqueues;
  struct pump_queue q[PUMP_QUEUES_MAX];

  // Idle RTT (issue #15.3): a thread that moves data wakes its sleeping partner (the other thread of its
  // queue) through the partner's kick pipe, so the reply finds it awake, polling without sleeping for a short
  // window (pump_wait). Never at idle: no data, no kick, no spin.
  uint64_t spin_max_ns;  // 0: no spin, no kicks (GANGWAY_SPIN_US sets it)
  uint64_t linger_ns;    // the rest after a bulk round (pump_linger); 0: none (always 0 without offloads)
  uint64_t light_slice_ns;  // the slice a thread moving little asks for (pump_slice.c); 0: none

  pthread_t threads[2 * PUMP_QUEUES_MAX];
  int nthreads;
  bool closed;  // JS thread only
};

// A thread's copy of the peer.
struct peer_view {
  struct sockaddr_storage addr;
  socklen_t len;
  bool set;
  bool connected;  // send on the queue's peer_fd, without an address
  unsigned gen;    // 0 never matches: pump_create starts the generation at 1
};

void pump_peer_refresh(struct pump *p, struct peer_view *v);
// Copies the filter into *f when it changed since *gen (0 never matches).
void pump_filter_refresh(struct pump *p, struct src_filter *f, unsigned *gen);

// Blocks until fd has `events` or the pump stops; false when stopping. Shortly after data moved (a kick
// from the partner thread, or this thread's own data), it polls without sleeping for a while first.
bool pump_wait(struct pump *p, int fd, short events);
// The same for two fds (fd2 < 0: none): which are ready, PUMP_READY_FD | PUMP_READY_FD2, or 0 when stopping.
#define PUMP_READY_FD 1
#define PUMP_READY_FD2 2
int pump_wait_either(struct pump *p, int fd, short events, int fd2, short events2);
// Called once per batch that moved data: lets pump_wait spin, and kicks a sleeping partner thread.
void pump_note_data(struct pump *p);
// A clock in ns: CLOCK_MONOTONIC for the pump's own deadlines, CLOCK_REALTIME where it is compared with the
// kernel's receive timestamps.
uint64_t pump_clock_ns(clockid_t clock);
static inline uint64_t pump_mono_ns(void) { return pump_clock_ns(CLOCK_MONOTONIC); }
// Sleeps briefly (or until stopped) after an unexpected error, so a broken fd cannot make a thread spin.
void pump_backoff(struct pump *p);
// After a round that moved round_bytes and left the thread nothing to do: rests (true) instead of waiting on
// the thread's fds, when the round was bulk. False: wait as usual (or stopping, after a rest).
bool pump_linger(struct pump *p, size_t round_bytes);
// pump_slice.c: GANGWAY_LIGHT_SLICE_US in ns (0: off), and each round's bytes, for the thread's slice.
uint64_t pump_light_slice_ns(void);
void pump_slice_round(struct pump *p, size_t round_bytes);

// Sets up the calling thread as queue q's `role` thread: its name ("gw-tun2udp-0", visible in top -H, perf,
// gdb, /proc), a larger CPU share where allowed (Linux: nice -10) and its own and its partner's kick.
void pump_thread_init(struct pump_queue *q, enum pump_role role);

static inline bool pump_stopping(struct pump *p) {
  return atomic_load_explicit(&p->stopping, memory_order_relaxed);
}

struct tun2udp *tun2udp_new(struct pump_queue *q);
void tun2udp_free(struct tun2udp *t);
void *tun2udp_main(void *arg);

struct udp2tun *udp2tun_new(struct pump_queue *q);
void udp2tun_free(struct udp2tun *u);
void *udp2tun_main(void *arg);

#endif

// The packet pump: per queue two native threads moving packets TUN -> UDP and UDP -> TUN. No N-API in here;
// addon.c is the only file that talks to JavaScript.
#ifndef GANGWAY_PUMP_H
#define GANGWAY_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "counters.h"
#include "src_filter.h"
#include "tun.h"

// Receives a control datagram on the UDP -> TUN thread. Must not block; returns false when it could not
// take the datagram (its queue is full), which the pump counts as dropControlQueue. from_peer: it came from
// the pinned peer, whose messages get their own queue so that a flood from elsewhere cannot crowd them out.
typedef bool (*pump_control_fn)(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *from,
                                socklen_t from_len, bool from_peer);

// Queues a pump may have: each is two threads, and more than the CPUs only adds switching.
#define PUMP_QUEUES_MAX 8

struct pump_config {
  int tun_fd;    // becomes the pump's only when pump_create succeeds; queue 0
  // queues > 1: tun_name is a multi-queue device (tun_open with multi_queue) and the pump attaches
  // queues - 1 more TUN queues to it and opens as many UDP sockets on the same port (Linux only).
  unsigned queues;
  char tun_name[TUN_NAME_MAX];
  bool offload;      // the TUN was opened with IFF_VNET_HDR
  bool udp_offload;  // UDP GSO/GRO on the socket; independent of the TUN mode (the wire format is the same)
  // The bench's mac-like mode: one packet per syscall on both sides, as macOS does (no recvmmsg/sendmmsg, no
  // UDP GSO/GRO, no TUN offloads); the TUN must be framed as utun is (Linux: tun_open_framed). On macOS the
  // pump always works this way.
  bool per_packet;
  struct sockaddr_storage bind_addr;
  socklen_t bind_len;
  size_t mtu;
  int rcvbuf, sndbuf;  // 0: default
  pump_control_fn on_control;
  void *control_ctx;
};

struct pump;

// Opens the UDP sockets (and the extra TUN queues) and starts the threads. On failure returns -1 with a
// message in err (ERRBUF_LEN), closes what it opened and leaves the TUN fd to the caller.
int pump_create(const struct pump_config *cfg, struct pump **out, char *err);

uint16_t pump_local_port(const struct pump *p);
int pump_family(const struct pump *p);  // the socket's: AF_INET or AF_INET6 (dual-stack)

// Thread-safe. The address must be in the socket's family (sockaddr_parse does that).
void pump_set_peer(struct pump *p, const struct sockaddr *addr, socklen_t len);
void pump_clear_peer(struct pump *p);
// Thread-safe. Data from the peer whose inner source lies outside f is dropped (dropSpoofed); NULL lets any
// source through.
void pump_set_filter(struct pump *p, const struct src_filter *f);

// Thread-safe. Checksum offload across the tunnel (offload.h), which the two ends agree on: leave, TCP
// checksums go out uncomputed (the peer fills them in); fill, TCP packets received are written as
// CHECKSUM_PARTIAL, whatever their checksum field holds. Returns -1 with a message in err without offloads.
int pump_set_checksum_offload(struct pump *p, bool leave, bool fill, char *err);

// Sends one control datagram. Returns 0 when sent, 1 when the socket buffer was full (dropped and counted
// as dropUdpSend: UDP may lose it anyway), -1 with a message in err.
int pump_send_control(struct pump *p, const uint8_t *data, size_t len, const struct sockaddr *to, socklen_t to_len,
                      char *err);

// The sum over the queues; pump_queue_stats: one queue's share (queue < pump_queues(p)).
void pump_stats(struct pump *p, pump_stats_t *out);
unsigned pump_queues(const struct pump *p);
void pump_queue_stats(struct pump *p, unsigned queue, pump_stats_t *out);
bool pump_closed(const struct pump *p);

// Stops and joins the threads, closes the socket and the TUN fd. Idempotent. Call from one thread at a time
// (the JS thread); the counters stay readable afterwards.
void pump_close(struct pump *p);
// pump_close, then frees the pump.
void pump_destroy(struct pump *p);

#endif

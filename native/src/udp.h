// The pump's UDP socket: one implementation per OS (udp_linux.c: recvmmsg/sendmmsg, UDP GSO/GRO;
// udp_darwin.c: one datagram per syscall).
#ifndef GANGWAY_UDP_H
#define GANGWAY_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __linux__
typedef struct mmsghdr dgram_t;  // so batches go to recvmmsg/sendmmsg as they are
#else
typedef struct {
  struct msghdr msg_hdr;
  unsigned int msg_len;
} dgram_t;
#endif

// Room for one UDP_SEGMENT or UDP_GRO control message.
#define UDP_CTRL_LEN 32
// Room for what a receive may carry: UDP_GRO and SO_RXQ_OVFL (24 bytes each on 64-bit Linux) and
// SO_TIMESTAMPNS (32); macOS's SO_TIMESTAMP, 32 at most.
#define UDP_RECV_CTRL_LEN 128

// Largest UDP payload; also the most one UDP GSO send may carry.
#define UDP_MAX_PAYLOAD 65507
// Segments per UDP GSO send (UDP_MAX_SEGMENTS was 64 before Linux 5.6).
#define UDP_GSO_MAX_SEGMENTS 64

struct udp_socket {
  int fd;
  int family;       // AF_INET or AF_INET6 (dual-stack)
  uint16_t port;    // bound port
  bool gro;         // UDP_GRO enabled: a received buffer may hold several datagrams (see udp_rx_info)
  bool gso;         // UDP_SEGMENT may be used to send several datagrams in one message
};

// Creates a non-blocking socket bound to `bind_addr`. rcvbuf/sndbuf 0 means the default. `offload` turns on
// UDP GRO and allows UDP GSO (Linux; ignored elsewhere). Returns -1 with a message naming the failed call
// and nothing left open.
int udp_open(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool offload,
             struct udp_socket *out, char *err);

// `n` sockets bound to one address and port (SO_REUSEPORT; bind_addr's port 0 picks one for all), one per
// pump queue. The kernel hands each received data datagram to the socket its inner packet's flow hashes to,
// so one flow always lands on one queue (no reordering) and several flows from the one pinned peer address
// and port spread over the queues; control datagrams all go to out[0]. n == 1 is udp_open. Linux only:
// elsewhere n > 1 fails with a message. Returns how many sockets it opened: n, or 1 when the kernel refuses
// the steering program (qemu-user, which runs the arm64 agent in the rig, answers ENOPROTOOPT; without the
// program a group would spread a flow's datagrams and reorder them), then a plain socket as udp_open makes.
// On failure -1, and nothing is left open.
int udp_open_group(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool offload,
                   unsigned n, struct udp_socket out[], char *err);

// udp_open with SO_REUSEPORT set before bind and no offloads: a second socket may then bind the same address
// and port (udp_open_pair).
int udp_open_shared(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf,
                    struct udp_socket *out, char *err);

// The per-packet pump's two sockets (macOS, the mac-like path; udp_peer.c): `listen`, as udp_open makes it,
// and `peer`, bound to the same address and port, for udp_connect_peer to connect to the pinned peer. Only
// for a specific bind address (the caller checks): on macOS another user may bind a wildcard-bound
// SO_REUSEPORT port too (xnu's in_pcbbind checks the owner only when one of the two addresses is specific)
// and would take a share of its datagrams. A port someone holds is refused, as with one socket. On failure
// -1, and nothing is left open.
int udp_open_pair(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf,
                  struct udp_socket *listen, struct udp_socket *peer, char *err);

// Whether the port of bind_addr is free (port 0: always): a plain socket binds it and is closed. -1 with err
// when it is taken.
int udp_probe_port(const struct sockaddr *bind_addr, socklen_t bind_len, char *err);

// Connects udp_open_pair's `peer_fd` to `peer`. CONNECTED: it is, and sends from `listen_fd`'s address.
// FAILED: it is not, and is bound as `listen_fd` (it may be connected again). RETIRED: a connect after an
// earlier one made macOS forget the bound address, and it could not be had back; `peer_fd` is now a
// descriptor of the listening socket and must never be connected again.
enum udp_peer_result { UDP_PEER_CONNECTED, UDP_PEER_FAILED, UDP_PEER_RETIRED };
enum udp_peer_result udp_connect_peer(int peer_fd, const struct sockaddr *peer, socklen_t peer_len, int listen_fd);

// Like recvmmsg/sendmmsg with MSG_DONTWAIT: the number of messages handled, or -1 with errno.
int udp_recv_batch(int fd, dgram_t *msgs, unsigned int n);
int udp_send_batch(int fd, dgram_t *msgs, unsigned int n);
// The same with one recvmsg/sendmsg per datagram (udp_each.c): macOS's batch calls, and on Linux the bench's
// mac-like mode, which pays per datagram what a Mac pays.
int udp_recv_each(int fd, dgram_t *msgs, unsigned int n);
int udp_send_each(int fd, dgram_t *msgs, unsigned int n);

// Marks msg as a UDP GSO send of `seg_size`-byte datagrams, using ctrl (UDP_CTRL_LEN bytes) for the cmsg.
void udp_set_gso(struct msghdr *msg, void *ctrl, uint16_t seg_size);
// What a received message's control data says, read in one pass over it.
struct udp_rx_info {
  size_t gro_size;   // the datagram size of a GRO-coalesced buffer; 0 when it holds a single datagram
  uint64_t time_ns;  // when the kernel queued it (CLOCK_REALTIME; SO_TIMESTAMPNS, macOS SO_TIMESTAMP); 0: unknown
  bool has_drops;    // whether `drops` was carried (none before the first drop, and never off Linux)
  uint32_t drops;    // the socket's receive-queue drops so far (SO_RXQ_OVFL: a 32-bit count that wraps)
};
void udp_rx_info(struct msghdr *msg, struct udp_rx_info *out);

#endif

// Linux UDP socket for the pump: batched syscalls, UDP GSO (UDP_SEGMENT) to send many datagrams with one
// call, UDP GRO to receive many with one buffer.
#include "udp.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "flow_steer.h"
#include "sockaddr_util.h"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

// The receive buffer is sized for bursts, the delay is bounded by time: the pump's CoDel (aqm.h) drops bulk
// packets once they wait over 1 ms for 10 ms, so the queue stays short under load whatever the buffer, and a
// bigger buffer only means that a stall (the thread waiting for a CPU) ends in CoDel's drops of bulk data
// rather than the kernel's drops at the tail, pings included. In the rig's 4-stream runs (bench/README.md)
// the agent's socket overflowed ~7,000 times a run at 1 MiB (the kernel doubles it for bookkeeping), ~200 at
// 4 MiB and not once at 8 MiB. Memory is only taken while datagrams wait.
#define DEFAULT_RCVBUF (8 << 20)
#define DEFAULT_SNDBUF (1 << 20)

// As root (CAP_NET_ADMIN) the FORCE variant ignores net.core.[rw]mem_max; otherwise take what we may get.
static int set_buffer(int fd, int force_opt, int opt, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return 0;
  return setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

static int open_one(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool offload,
                    bool reuseport, struct udp_socket *out, char *err) {
  int family = bind_addr->sa_family;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    set_errno_error(err, "socket(SOCK_DGRAM)", errno);
    return -1;
  }
  const char *failed = NULL;
  char what[96];
  int off = 0;
  // Dual-stack, so a "::" socket also serves IPv4 peers (seen as v4-mapped addresses).
  if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) {
    failed = "setsockopt(IPV6_V6ONLY)";
  } else if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){1}, sizeof(int)) < 0) {
    failed = "setsockopt(SO_REUSEPORT)";
  } else if (set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf > 0 ? rcvbuf : DEFAULT_RCVBUF) < 0) {
    failed = "setsockopt(SO_RCVBUF)";
  } else if (set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf > 0 ? sndbuf : DEFAULT_SNDBUF) < 0) {
    failed = "setsockopt(SO_SNDBUF)";
  } else if (bind(fd, bind_addr, bind_len) < 0) {
    char text[SOCKADDR_TEXT_MAX];
    uint16_t port;
    sockaddr_format(bind_addr, text, &port);
    snprintf(what, sizeof what, family == AF_INET6 ? "bind([%s]:%u)" : "bind(%s:%u)", text, (unsigned)port);
    failed = what;
  }
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (!failed && getsockname(fd, (struct sockaddr *)&local, &local_len) < 0) failed = "getsockname";
  if (failed) {
    int e = errno;
    close(fd);
    set_errno_error(err, failed, e);
    return -1;
  }
  out->fd = fd;
  out->family = family;
  out->port = sockaddr_port((struct sockaddr *)&local);
  out->gro = false;
  out->gso = offload;  // UDP_SEGMENT needs no setup; a kernel that refuses it fails the send (see tun2udp)
  int on = 1;
  if (offload && setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0) out->gro = true;  // Linux >= 5.0
  // Each received message then says how many datagrams the full receive queue dropped (udpRxOverflow):
  // per socket, and free, unlike polling /proc/net/udp. Best effort: a kernel without it only loses the count.
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  // And when the kernel received it, so the pump knows how long it queued (CoDel, aqm.h). Best effort too.
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  return 0;
}

int udp_open(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool offload,
             struct udp_socket *out, char *err) {
  return open_one(bind_addr, bind_len, rcvbuf, sndbuf, offload, false, out, err);
}

int udp_open_shared(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf,
                    struct udp_socket *out, char *err) {
  return open_one(bind_addr, bind_len, rcvbuf, sndbuf, false, true, out, err);
}

int udp_open_group(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool offload,
                   unsigned n, struct udp_socket out[], char *err) {
  if (n == 1) return udp_open(bind_addr, bind_len, rcvbuf, sndbuf, offload, out, err) < 0 ? -1 : 1;
  // A port someone holds, even another pump of ours (whose group would let us join and share its
  // datagrams), is refused as with one socket.
  if (udp_probe_port(bind_addr, bind_len, err) < 0) return -1;
  struct sockaddr_storage addr;
  memcpy(&addr, bind_addr, bind_len);
  unsigned opened = 0;
  for (; opened < n; opened++) {
    if (open_one((struct sockaddr *)&addr, bind_len, rcvbuf, sndbuf, offload, true, &out[opened], err) < 0) break;
    if (opened == 0) {
      // The rest join the port the first one got. Only sockets of the same user may join a reuseport
      // group, so as root nobody but root can take a share of the tunnel's datagrams.
      sockaddr_set_port((struct sockaddr *)&addr, out[0].port);
      if (flow_steer_attach(out[0].fd, n, err) < 0) {
        // One queue rather than none: a socket without SO_REUSEPORT, so nobody can join a group later.
        close(out[0].fd);
        return udp_open(bind_addr, bind_len, rcvbuf, sndbuf, offload, out, err) < 0 ? -1 : 1;
      }
    }
  }
  if (opened == n) return (int)n;
  for (unsigned i = 0; i < opened; i++) close(out[i].fd);
  return -1;
}

int udp_recv_batch(int fd, dgram_t *msgs, unsigned int n) { return recvmmsg(fd, msgs, n, MSG_DONTWAIT, NULL); }

int udp_send_batch(int fd, dgram_t *msgs, unsigned int n) { return sendmmsg(fd, msgs, n, MSG_DONTWAIT); }

void udp_set_gso(struct msghdr *msg, void *ctrl, uint16_t seg_size) {
  memset(ctrl, 0, CMSG_SPACE(sizeof seg_size));
  msg->msg_control = ctrl;
  msg->msg_controllen = CMSG_SPACE(sizeof seg_size);
  struct cmsghdr *c = CMSG_FIRSTHDR(msg);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof seg_size);
  memcpy(CMSG_DATA(c), &seg_size, sizeof seg_size);
}

void udp_rx_info(struct msghdr *msg, struct udp_rx_info *out) {
  memset(out, 0, sizeof *out);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size;
      memcpy(&size, CMSG_DATA(c), sizeof size);
      out->gro_size = size > 0 ? (size_t)size : 0;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
               c->cmsg_len >= CMSG_LEN(sizeof out->drops)) {
      memcpy(&out->drops, CMSG_DATA(c), sizeof out->drops);
      out->has_drops = true;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
               c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      out->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
  }
}

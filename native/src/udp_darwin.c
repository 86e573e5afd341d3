// macOS UDP socket for the pump: no recvmmsg/sendmmsg, no GSO/GRO; one datagram per syscall.
#include "udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "sockaddr_util.h"
#include "udp_rx_time.h"

#define DEFAULT_RCVBUF (1 << 20)
#define DEFAULT_SNDBUF (1 << 20)

// xnu's sbreserve refuses (ENOBUFS) a buffer above kern.ipc.maxsockbuf * MCLBYTES / (MSIZE + MCLBYTES),
// 7.28 MB at the default 8 MB, where Linux caps one at its maximum silently: halve the size until it is taken,
// down to BUF_FLOOR (then the error stands).
#define BUF_FLOOR (64 << 10)
static int set_buffer(int fd, int option, int size) {
  for (;;) {
    if (setsockopt(fd, SOL_SOCKET, option, &size, sizeof size) == 0) return 0;
    if (errno != ENOBUFS || size / 2 < BUF_FLOOR) return -1;
    size /= 2;
  }
}

static int open_one(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool reuseport,
                    struct udp_socket *out, char *err) {
  int family = bind_addr->sa_family;
  int fd = socket(family, SOCK_DGRAM, IPPROTO_UDP);
  if (fd < 0) {
    set_errno_error(err, "socket(SOCK_DGRAM)", errno);
    return -1;
  }
  const char *failed = NULL;
  char what[96];
  int off = 0;
  int rcv = rcvbuf > 0 ? rcvbuf : DEFAULT_RCVBUF, snd = sndbuf > 0 ? sndbuf : DEFAULT_SNDBUF;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    failed = "fcntl";
  } else if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) {
    failed = "setsockopt(IPV6_V6ONLY)";
  } else if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){1}, sizeof(int)) < 0) {
    failed = "setsockopt(SO_REUSEPORT)";
  } else if (set_buffer(fd, SO_RCVBUF, rcv) < 0) {
    failed = "setsockopt(SO_RCVBUF)";
  } else if (set_buffer(fd, SO_SNDBUF, snd) < 0) {
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
  out->gso = false;
  // Each received message then says when the kernel queued it, so the pump's CoDel (its flow queues' on
  // macOS, pump_udp2tun.c) counts that wait too, as SO_TIMESTAMPNS lets it on Linux. Best effort: without it
  // a packet's wait counts from when the pump read it.
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &(int){1}, sizeof(int));
  return 0;
}

int udp_open(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool offload,
             struct udp_socket *out, char *err) {
  (void)offload;
  return open_one(bind_addr, bind_len, rcvbuf, sndbuf, false, out, err);
}

int udp_open_shared(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf,
                    struct udp_socket *out, char *err) {
  return open_one(bind_addr, bind_len, rcvbuf, sndbuf, true, out, err);
}

// macOS's public API has no batched datagram calls (sendmsg_x/recvmsg_x are private: see ARCHITECTURE.md).
int udp_recv_batch(int fd, dgram_t *msgs, unsigned int n) { return udp_recv_each(fd, msgs, n); }

int udp_send_batch(int fd, dgram_t *msgs, unsigned int n) { return udp_send_each(fd, msgs, n); }

void udp_set_gso(struct msghdr *msg, void *ctrl, uint16_t seg_size) {
  (void)msg;
  (void)ctrl;
  (void)seg_size;  // never called: gso is false on macOS
}

// macOS has no UDP GRO and no SO_RXQ_OVFL (its receive-queue drops show only in netstat -s, udp: "dropped due
// to full socket buffers"), so the receive time (SO_TIMESTAMP, in microseconds) is all there is to read.
void udp_rx_info(struct msghdr *msg, struct udp_rx_info *out) {
  memset(out, 0, sizeof *out);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
    if (udp_cmsg_time_ns(c, &out->time_ns)) break;
}

int udp_open_group(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf, bool offload,
                   unsigned n, struct udp_socket out[], char *err) {
  if (n != 1) {
    snprintf(err, ERRBUF_LEN, "%u UDP queues asked for: macOS has one (SO_REUSEPORT steering is Linux-only)", n);
    return -1;
  }
  return udp_open(bind_addr, bind_len, rcvbuf, sndbuf, offload, out, err) < 0 ? -1 : 1;
}

// The per-packet pump's second socket, connected to the pinned peer. Sending to an address on an unconnected
// socket, the kernel finds the route and the source address again for every datagram (xnu's udp_output calls
// in_pcbladdr; Linux's udp_sendmsg, ip_route_output_flow); a connected socket keeps both. Where the pump pays
// one sendmsg per packet (macOS, the mac-like path) that lookup was about 2% of the daemon's time on the
// mac-like bench path, and the rate did not move measurably there (bench/README.md); on macOS it is
// in_pcbladdr per datagram, unmeasured. The kernel hands a connected socket the datagrams from its peer (an exact
// match wins over the listening socket on both kernels), so the UDP -> TUN thread reads both sockets, and
// treats what either gives it alike.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "sockaddr_util.h"
#include "udp.h"

int udp_probe_port(const struct sockaddr *bind_addr, socklen_t bind_len, char *err) {
  if (sockaddr_port(bind_addr) == 0) return 0;
  struct udp_socket probe;
  if (udp_open(bind_addr, bind_len, 0, 0, false, &probe, err) < 0) return -1;
  close(probe.fd);
  return 0;
}

int udp_open_pair(const struct sockaddr *bind_addr, socklen_t bind_len, int rcvbuf, int sndbuf,
                  struct udp_socket *listen, struct udp_socket *peer, char *err) {
  // Another pump of ours on the port would let us join its pair and share its datagrams: probe first.
  if (udp_probe_port(bind_addr, bind_len, err) < 0) return -1;
  if (udp_open_shared(bind_addr, bind_len, rcvbuf, sndbuf, listen, err) < 0) return -1;
  struct sockaddr_storage addr;
  memcpy(&addr, bind_addr, bind_len);
  sockaddr_set_port((struct sockaddr *)&addr, listen->port);
  if (udp_open_shared((struct sockaddr *)&addr, bind_len, rcvbuf, sndbuf, peer, err) < 0) {
    close(listen->fd);
    return -1;
  }
  return 0;
}

// Whether fd is bound to exactly listen_fd's address and port.
static bool bound_as(int fd, int listen_fd) {
  struct sockaddr_storage mine, theirs;
  socklen_t mine_len = sizeof mine, theirs_len = sizeof theirs;
  return getsockname(fd, (struct sockaddr *)&mine, &mine_len) == 0 &&
         getsockname(listen_fd, (struct sockaddr *)&theirs, &theirs_len) == 0 &&
         sockaddr_equal((struct sockaddr *)&mine, (struct sockaddr *)&theirs);
}

enum udp_peer_result udp_connect_peer(int peer_fd, const struct sockaddr *peer, socklen_t peer_len,
                                      int listen_fd) {
  int rc;
  do rc = connect(peer_fd, peer, peer_len);
  while (rc < 0 && errno == EINTR);
  // Linux keeps a bound address through every connect, failed or not (a failed one changes nothing).
  if (bound_as(peer_fd, listen_fd)) return rc == 0 ? UDP_PEER_CONNECTED : UDP_PEER_FAILED;
  // xnu disconnects a connected socket before connecting it again, and its udp_disconnect forgets the bound
  // address: a failed connect leaves the socket on *:port, a good one on whatever address the route picked.
  // Either way it takes datagrams to the port on addresses the specific bind refuses. Connected to the
  // listening socket's own address, it is bound to that address again (the route to a local address picks it
  // as the source) and hears nothing, as nobody else can send from there.
  struct sockaddr_storage self;
  socklen_t self_len = sizeof self;
  if (getsockname(listen_fd, (struct sockaddr *)&self, &self_len) == 0) {
    do rc = connect(peer_fd, (struct sockaddr *)&self, self_len);
    while (rc < 0 && errno == EINTR);
    if (rc == 0 && bound_as(peer_fd, listen_fd)) return UDP_PEER_FAILED;
  }
  // Still not: the socket goes. The pump threads use this descriptor without a lock, so it must not be closed
  // (anything may reuse the number): it becomes a second descriptor of the listening socket instead.
  int r;
  do r = dup2(listen_fd, peer_fd);
  while (r < 0 && (errno == EINTR || errno == EBUSY));  // EBUSY: a racing open or close
  (void)fcntl(peer_fd, F_SETFD, FD_CLOEXEC);          // dup2 clears it
  return UDP_PEER_RETIRED;
}

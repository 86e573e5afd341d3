// One datagram per syscall, for the platforms (and the bench mode) without recvmmsg/sendmmsg. Both stop at
// the first failure: a short count tells the caller the socket is drained (receive) or full (send).
#include <sys/socket.h>

#include "udp.h"

int udp_recv_each(int fd, dgram_t *msgs, unsigned int n) {
  unsigned int i = 0;
  for (; i < n; i++) {
    ssize_t r = recvmsg(fd, &msgs[i].msg_hdr, MSG_DONTWAIT);
    if (r < 0) break;
    msgs[i].msg_len = (unsigned int)r;
  }
  return i > 0 ? (int)i : -1;  // errno is the first call's when nothing was received
}

int udp_send_each(int fd, dgram_t *msgs, unsigned int n) {
  unsigned int i = 0;
  for (; i < n; i++) {
    ssize_t r = sendmsg(fd, &msgs[i].msg_hdr, MSG_DONTWAIT);
    if (r < 0) break;
    msgs[i].msg_len = (unsigned int)r;
  }
  return i > 0 ? (int)i : -1;
}

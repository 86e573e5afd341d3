#include "udp_rx_time.h"

#include <string.h>
#include <sys/time.h>

bool udp_cmsg_time_ns(struct cmsghdr *c, uint64_t *ns) {
  if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMP || c->cmsg_len < CMSG_LEN(sizeof(struct timeval)))
    return false;
  struct timeval tv;
  memcpy(&tv, CMSG_DATA(c), sizeof tv);  // CMSG_DATA need not be aligned for a struct timeval
  if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000) return false;
  *ns = (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
  return true;
}

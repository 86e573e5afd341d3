// A datagram's receive time from an SCM_TIMESTAMP control message (SO_TIMESTAMP: a struct timeval, in
// CLOCK_REALTIME). macOS's sockets offer only this one (no SO_TIMESTAMPNS); Linux offers both, so the parsing
// is tested there (tests/unit/udp-rx-time.test.ts) and used on macOS (udp_darwin.c).
#ifndef GANGWAY_UDP_RX_TIME_H
#define GANGWAY_UDP_RX_TIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

// True, with the time in ns, when c is an SCM_TIMESTAMP message; false for any other message.
bool udp_cmsg_time_ns(struct cmsghdr *c, uint64_t *ns);

#endif

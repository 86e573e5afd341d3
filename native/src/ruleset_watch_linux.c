// The nf_tables ruleset's change notifications: a netfilter netlink socket in the NFNLGRP_NFTABLES group. Every
// committed change (a rule, chain or table added or removed, a flush) is announced there to every member, per
// network namespace, and reading costs nothing while nothing changes. Needs CAP_NET_ADMIN, which the agent has
// for its TUN. The legacy x_tables backend announces nothing: the agent keeps its timer there.
#include "ruleset_watch.h"

#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

int ruleset_watch_open(char errbuf[ERRBUF_LEN]) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
  if (fd < 0) {
    set_errno_error(errbuf, "socket(AF_NETLINK, NETLINK_NETFILTER)", errno);
    return -1;
  }
  // Bound first (the kernel picks the port id): an unbound socket that joins the group is sent nothing.
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int err = errno;
    close(fd);
    set_errno_error(errbuf, "bind(NETLINK_NETFILTER)", err);
    return -1;
  }
  int group = NFNLGRP_NFTABLES;
  if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
    int err = errno;
    close(fd);
    set_errno_error(errbuf, "setsockopt(NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)", err);
    return -1;
  }
  return fd;
}

int ruleset_watch_drain(int fd, int max_reads, bool *overflowed, char errbuf[ERRBUF_LEN]) {
  // What changed is not read, only that something did: a datagram longer than this is cut (MSG_TRUNC), and
  // still counts once.
  char buf[4096];
  int reads = 0;
  for (int tries = 0; tries < max_reads; tries++) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n >= 0) {
      reads++;
    } else if (errno == ENOBUFS) {
      *overflowed = true;  // the queue overflowed: reported once, the socket goes on
    } else if (errno == EINTR) {
      // tried again, within the bound
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      set_errno_error(errbuf, "recv(nf_tables notifications)", errno);
      return -1;
    }
  }
  return reads;
}

// macOS utun: a PF_SYSTEM control socket connected to "com.apple.net.utun_control". Every packet on it is
// preceded by a 4-byte address family in network byte order; tun_read/tun_write below are the only code
// that knows about it. utun has no offloads and no batch reads.
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/kern_control.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

// Xcode's SDK has <net/if_utun.h> and <sys/sys_domain.h>; the libc headers of a cross toolchain (zig's, used
// for the prebuilds) lack them. Without them, define the four constants as Apple's headers do, so an Xcode
// build still takes Apple's own definitions.
#if __has_include(<net/if_utun.h>)
#include <net/if_utun.h>
#else
#define UTUN_CONTROL_NAME "com.apple.net.utun_control"  // <net/if_utun.h>
#define UTUN_OPT_IFNAME 2                               // <net/if_utun.h>
#endif
#if __has_include(<sys/sys_domain.h>)
#include <sys/sys_domain.h>
#else
#define SYSPROTO_CONTROL 2  // <sys/sys_domain.h>
#define AF_SYS_CONTROL 2    // <sys/sys_domain.h>
#endif
#ifndef UTUN_OPT_MAX_PENDING_PACKETS
#define UTUN_OPT_MAX_PENDING_PACKETS 16  // <net/if_utun.h> since the macOS 10.12 SDK
#endif

// Packets utun may queue on our socket before it stops the interface's output. xnu's default is 1: each read
// then has to re-enable output and wait for the interface's starter thread to hand over the next packet, so
// a reader that keeps up still finds the socket empty and pays a poll() per packet. 64 is the pump's TUN
// batch (T2U_PLAIN_BATCH); the packets would wait in the interface's queue otherwise, so no more queueing.
#define MAX_PENDING_PACKETS 64

#include "error.h"

#define AF_HEADER_LEN 4

// "" or "utun" lets the kernel choose (unit 0); "utunN" asks for unit N + 1 (sc_unit is one-based).
static int parse_unit(const char *name, uint32_t *unit, char *err) {
  if (name[0] == '\0' || strcmp(name, "utun") == 0) {
    *unit = 0;
    return 0;
  }
  if (strncmp(name, "utun", 4) == 0 && name[4] >= '0' && name[4] <= '9' && strlen(name) < TUN_NAME_MAX) {
    char *end = NULL;
    unsigned long n = strtoul(name + 4, &end, 10);
    if (*end == '\0' && n < 0xFFFF) {
      *unit = (uint32_t)n + 1;
      return 0;
    }
  }
  snprintf(err, ERRBUF_LEN, "invalid TUN name \"%s\": macOS names are utunN (or \"\" to pick one)", name);
  return -1;
}

int tun_open(const char *name, bool want_offload, bool multi_queue, struct tun_device *out, char *err) {
  (void)want_offload;  // utun has no offloads
  (void)multi_queue;   // nor queues: one fd carries every flow
  uint32_t unit;
  if (parse_unit(name, &unit, err) < 0) return -1;

  int fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) {
    set_errno_error(err, "socket(PF_SYSTEM)", errno);
    return -1;
  }
  const char *failed = NULL;
  struct ctl_info info;
  memset(&info, 0, sizeof info);
  strlcpy(info.ctl_name, UTUN_CONTROL_NAME, sizeof info.ctl_name);
  struct sockaddr_ctl sc;
  memset(&sc, 0, sizeof sc);
  socklen_t name_len = sizeof out->name;
  if (ioctl(fd, CTLIOCGINFO, &info) < 0) {
    failed = "ioctl(CTLIOCGINFO)";
  } else {
    sc.sc_len = sizeof sc;
    sc.sc_family = AF_SYSTEM;
    sc.ss_sysaddr = AF_SYS_CONTROL;
    sc.sc_id = info.ctl_id;
    sc.sc_unit = unit;
    if (connect(fd, (struct sockaddr *)&sc, sizeof sc) < 0) {
      failed = "connect(utun_control)";
    } else if (getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, out->name, &name_len) < 0) {
      failed = "getsockopt(UTUN_OPT_IFNAME)";
    } else if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
      failed = "fcntl(FD_CLOEXEC)";
    } else {
      // A public option, but an old kernel may not know it: then utun works as before, one packet at a time.
      uint32_t pending = MAX_PENDING_PACKETS;
      (void)setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_MAX_PENDING_PACKETS, &pending, sizeof pending);
      // A write after the control went away fails with EPIPE instead of raising SIGPIPE, which would kill a
      // host that does not ignore it (node does). Best effort, as above.
      (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &(int){1}, sizeof(int));
    }
  }
  if (failed) {
    int e = errno;
    close(fd);
    set_errno_error(err, failed, e);
    return -1;
  }
  out->name[TUN_NAME_MAX - 1] = '\0';
  out->fd = fd;
  out->offload = false;
  out->framed = true;
  out->multi_queue = false;
  return 0;
}

int tun_open_queue(const char *name, bool offload, int *fd, char *err) {
  (void)offload;
  (void)fd;
  snprintf(err, ERRBUF_LEN, "TUN %s: utun has one queue (multi-queue is Linux-only)", name);
  return -1;
}

ssize_t tun_read(int fd, void *buf, size_t len) {
  uint32_t family;
  struct iovec iov[2] = {{&family, AF_HEADER_LEN}, {buf, len}};
  ssize_t n = readv(fd, iov, 2);
  if (n < 0) return n;
  if (n == 0) {
    // Not a packet (utun always prepends the family): an error, so the caller backs off. As a runt it would
    // be dropped and read again at once, and poll() would keep saying readable: a spinning thread.
    errno = EIO;
    return -1;
  }
  return n >= AF_HEADER_LEN ? n - AF_HEADER_LEN : 0;  // a runt is reported as an empty packet and dropped
}

ssize_t tun_write(int fd, const void *pkt, size_t len) {
  if (len == 0) return 0;
  uint32_t family = htonl((((const uint8_t *)pkt)[0] >> 4) == 6 ? AF_INET6 : AF_INET);
  struct iovec iov[2] = {{&family, AF_HEADER_LEN}, {(void *)(uintptr_t)pkt, len}};
  ssize_t n = writev(fd, iov, 2);
  if (n < 0) return n;
  return n >= AF_HEADER_LEN ? n - AF_HEADER_LEN : 0;
}

// utun does not report queue drops per device; netstat -s shows the system's.
uint64_t tun_queue_drops(int fd) {
  (void)fd;
  return 0;
}

// Linux TUN: /dev/net/tun, IFF_TUN | IFF_NO_PI, optionally IFF_VNET_HDR + TUNSETOFFLOAD so the kernel hands
// us (and accepts from us) 64 KB TCP/UDP super-packets instead of MTU-sized ones: the per-packet syscall
// cost is what limits a TUN pump (see reference/perf-baseline.md).
#include "tun.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"

// UDP segmentation offload for TUN (Linux 6.2); Debian 12's uapi headers predate it.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

// Checks what the kernel would reject with a bare EINVAL, so the caller gets a message that says why.
static int check_name(const char *name, char *err) {
  size_t len = strlen(name);
  if (len >= IFNAMSIZ) {
    snprintf(err, ERRBUF_LEN, "invalid TUN name \"%s\": longer than %d characters", name, IFNAMSIZ - 1);
    return -1;
  }
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    snprintf(err, ERRBUF_LEN, "invalid TUN name \"%s\"", name);
    return -1;
  }
  for (const char *c = name; *c; c++) {
    if (*c == '/' || *c == ':' || *c <= ' ' || *c == 0x7f) {
      snprintf(err, ERRBUF_LEN, "invalid TUN name \"%s\": contains '/', ':', a space or a control character",
               name);
      return -1;
    }
  }
  return 0;
}

// Returns 0, or -errno of the failed call (with the message in err).
static int open_with_flags(const char *name, short flags, struct tun_device *out, char *err) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    set_errno_error(err, "open(/dev/net/tun)", e);
    return -e;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = flags;
  memcpy(ifr.ifr_name, name, strlen(name));  // fits: check_name() ran; the rest stays zero
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    set_errno_error(err, "ioctl(TUNSETIFF)", e);
    return -e;
  }
  out->fd = fd;
  memcpy(out->name, ifr.ifr_name, IFNAMSIZ);
  out->name[IFNAMSIZ - 1] = '\0';
  out->offload = false;
  out->framed = !(flags & IFF_NO_PI);
  out->multi_queue = (flags & IFF_MULTI_QUEUE) != 0;
  return 0;
}

// Asks for checksum + TSO (+ USO when the kernel knows it). Returns 0 when the device accepted offloads.
static int enable_offloads(int fd) {
  // A persistent device may carry another header size from an earlier user; we only speak the 10-byte one.
  int hdr_len = (int)sizeof(struct virtio_net_hdr);
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) return -1;
  unsigned long base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0) return 0;
  return ioctl(fd, TUNSETOFFLOAD, base);  // kernels before 6.2 refuse the USO bits with EINVAL
}

// Without offloads each entry of a TUN's queue towards the pump is one packet, and the kernel's default of
// 500 is 3 ms of a 2 Gbit/s download: a pump thread off its CPU that long finds the queue overflowed, pings
// dropped with the bulk (the bench's --no-offload download lost 0.3-1% of its pings to 8,000-14,000 drops a
// run at the agent's queue). The pump drains the queue eagerly into its flow queues (fq.c), which order and
// bound what waits, so the kernel's queue only has to outlast the thread's stalls: 2000 packets, 12 ms.
// With offloads an entry may be a 64 KB super-packet and 500 are plenty. Best effort (CAP_NET_ADMIN), and
// never lower than what an administrator set. The mac-like TUN (tun_open_framed) keeps the default: it
// stands for utun, whose queue is not ours to size.
#define PLAIN_TXQUEUELEN 2000
static void raise_txqueuelen(const char *name) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  if (ioctl(s, SIOCGIFTXQLEN, &ifr) == 0 && ifr.ifr_qlen < PLAIN_TXQUEUELEN) {
    ifr.ifr_qlen = PLAIN_TXQUEUELEN;
    ioctl(s, SIOCSIFTXQLEN, &ifr);
  }
  close(s);
}

int tun_open(const char *name, bool want_offload, bool multi_queue, struct tun_device *out, char *err) {
  if (check_name(name, err) < 0) return -1;
  const short plain = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0);
  if (want_offload) {
    int rc = open_with_flags(name, plain | IFF_VNET_HDR, out, err);
    if (rc == 0) {
      if (enable_offloads(out->fd) == 0) {
        out->offload = true;
        return 0;
      }
      // Refused: the header format cannot be switched off on an attached fd, so start over without it.
      close(out->fd);
    } else if (rc != -EINVAL) {
      return -1;  // EPERM, EBUSY, ...: the plain open would fail the same way; report the first failure
    }
  }
  if (open_with_flags(name, plain, out, err) != 0) return -1;
  raise_txqueuelen(out->name);
  return 0;
}

int tun_open_queue(const char *name, bool offload, int *fd, char *err) {
  if (check_name(name, err) < 0) return -1;
  // The same flags as the first queue: the kernel keeps one set per device and refuses a mismatched
  // IFF_MULTI_QUEUE; a queue without IFF_VNET_HDR would switch the header off for all of them.
  struct tun_device q;
  if (open_with_flags(name, IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (offload ? IFF_VNET_HDR : 0), &q, err) < 0)
    return -1;
  if (offload && enable_offloads(q.fd) < 0) {
    set_errno_error(err, "ioctl(TUNSETOFFLOAD) on a new queue", errno);
    close(q.fd);
    return -1;
  }
  *fd = q.fd;
  return 0;
}

ssize_t tun_read(int fd, void *buf, size_t len) { return read(fd, buf, len); }

ssize_t tun_write(int fd, const void *pkt, size_t len) { return write(fd, pkt, len); }

int tun_open_framed(const char *name, struct tun_device *out, char *err) {
  if (check_name(name, err) < 0) return -1;
  return open_with_flags(name, IFF_TUN, out, err) == 0 ? 0 : -1;
}

ssize_t tun_read_framed(int fd, void *buf, size_t len) {
  struct tun_pi pi;
  struct iovec iov[2] = {{&pi, sizeof pi}, {buf, len}};
  ssize_t n = readv(fd, iov, 2);
  if (n < 0) return n;
  return n >= (ssize_t)sizeof pi ? n - (ssize_t)sizeof pi : 0;  // a runt is reported as an empty packet and dropped
}

ssize_t tun_write_framed(int fd, const void *pkt, size_t len) {
  if (len == 0) return 0;
  // The kernel takes the protocol from the header, as utun takes the address family from its own.
  struct tun_pi pi = {.flags = 0, .proto = htons((((const uint8_t *)pkt)[0] >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP)};
  struct iovec iov[2] = {{&pi, sizeof pi}, {(void *)(uintptr_t)pkt, len}};
  ssize_t n = writev(fd, iov, 2);
  if (n < 0) return n;
  return n >= (ssize_t)sizeof pi ? n - (ssize_t)sizeof pi : 0;
}

uint64_t tun_queue_drops(int fd) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return 0;
  FILE *f = fopen("/proc/net/dev", "re");
  if (!f) return 0;
  // "  gw0: rx_bytes rx_packets errs drop fifo frame compressed multicast tx_bytes tx_packets errs drop ..."
  char line[512];
  uint64_t drops = 0;
  size_t name_len = strnlen(ifr.ifr_name, IFNAMSIZ);
  while (fgets(line, sizeof line, f)) {
    char *p = line;
    while (*p == ' ') p++;
    if (strncmp(p, ifr.ifr_name, name_len) != 0 || p[name_len] != ':') continue;
    unsigned long long v[12];
    if (sscanf(p + name_len + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) == 12)
      drops = v[11];
    break;
  }
  fclose(f);
  return drops;
}

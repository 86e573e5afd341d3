// The platform TUN interface: one implementation per OS (tun_linux.c, tun_darwin.c), chosen by binding.gyp.
// The pump moves packets only through tun_read/tun_write, so any per-platform framing (macOS utun's 4-byte
// address family) lives in exactly one place.
#ifndef GANGWAY_TUN_H
#define GANGWAY_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Large enough for IFNAMSIZ (16) on Linux and macOS.
#define TUN_NAME_MAX 16

struct tun_device {
  int fd;
  char name[TUN_NAME_MAX];
  // Linux only: IFF_VNET_HDR with TSO (and USO when the kernel has it). Every read and write then carries a
  // struct virtio_net_hdr in front of the packet; offload_linux.c owns that format.
  bool offload;
  // Every packet carries a 4-byte header: macOS utun's address family, or on Linux the packet information
  // header of a device opened by tun_open_framed (the bench's mac-like mode).
  bool framed;
  // Linux only: IFF_MULTI_QUEUE, so tun_open_queue can attach more queues (the kernel spreads flows over them).
  bool multi_queue;
};

// Opens (creating if needed) the TUN device `name` ("" lets the OS choose). On failure returns -1 with a
// message in err (ERRBUF_LEN bytes) naming the call that failed, and nothing left open.
// multi_queue: open it as a multi-queue device (Linux; ignored elsewhere, where out->multi_queue stays false).
int tun_open(const char *name, bool want_offload, bool multi_queue, struct tun_device *out, char *err);

// Attaches one more queue to the multi-queue device `name` (opened by tun_open with the same `offload`), so
// another thread can read and write its own share of the flows. -1 with a message in err where the platform
// has no multi-queue TUN (macOS utun).
int tun_open_queue(const char *name, bool offload, int *fd, char *err);

// One IP packet, without any platform framing. Same return convention as read(2)/write(2); tun_read may
// return more than len when the packet did not fit (Linux reports the full length of a truncated packet).
ssize_t tun_read(int fd, void *buf, size_t len);
ssize_t tun_write(int fd, const void *pkt, size_t len);

#ifdef __linux__
// The bench's mac-like mode: a device that frames packets as macOS utun does, so a Linux pump pays what a Mac
// pays per packet. Opened without IFF_NO_PI and without offloads, the kernel puts a 4-byte header (struct
// tun_pi: flags, ethertype) before every packet, as utun puts a 4-byte address family; tun_read_framed and
// tun_write_framed move it with readv/writev and two iovecs, exactly like tun_darwin.c's tun_read/tun_write.
int tun_open_framed(const char *name, struct tun_device *out, char *err);
ssize_t tun_read_framed(int fd, void *buf, size_t len);
ssize_t tun_write_framed(int fd, const void *pkt, size_t len);
#endif
// Packets the kernel dropped because the device's queue towards the reader was full (Linux: the TUN's
// tx_dropped, from /proc/net/dev of the calling thread's network namespace; counted since the device was
// created). 0 where the OS does not say (macOS) or it cannot be read. Not for the packet threads: it reads a
// file.
uint64_t tun_queue_drops(int fd);

#endif

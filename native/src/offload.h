// TUN offloads (Linux IFF_VNET_HDR): every TUN read/write carries a 10-byte struct virtio_net_hdr.
//  - TUN -> UDP: the kernel hands us TCP (and UDP) super-packets up to 64 KB; offload_split() cuts them into
//    MTU-sized packets, laid out back to back so one UDP GSO send can carry them all.
//  - UDP -> TUN: offload_write() coalesces consecutive TCP segments of one flow into one super-packet (like
//    the kernel's GRO, and wireguard-go's tun/offload_linux.go), so the receiving stack runs once per 64 KB;
//    the batch's small packets are written before its super-packets.
//  - Checksum offload across the tunnel, between two ends that both have TUN offloads (negotiated by the
//    control channel; never with macOS, whose utun wants every checksum complete). The receiving end writes
//    every TCP packet as CHECKSUM_PARTIAL, seeding the field itself ("fill"), so the sending end need not
//    compute TCP checksums at all ("leave"): as virtio-net passes a guest's partial checksums to the host.
//    The UDP checksum around each datagram still covers the bytes in transit.
// macOS has no TUN offloads: the stubs below are never reached there (tun_device.offload is always false).
#ifndef GANGWAY_OFFLOAD_H
#define GANGWAY_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counters.h"

#define VNET_HDR_LEN 10

// SPLIT_BAD_CSUM: a TCP packet with a complete checksum the kernel never checked (forwarded, not generated
// here) whose checksum is wrong; with `leave` it is dropped, since the peer would seed the field afresh.
enum split_result { SPLIT_OK = 0, SPLIT_MALFORMED, SPLIT_OVERSIZE, SPLIT_BAD_CSUM };

// Output of offload_split: `count` packets back to back from `base`; all but the last are `seg_size` bytes.
struct segments {
  uint8_t *base;
  size_t seg_size;
  size_t count;
  size_t last_size;
  size_t used;       // bytes of `out` consumed
  size_t csum_left;  // TCP packets whose checksum was left to the peer (`leave`)
  bool gso;          // came from a super-packet
};

// Most packets one frame may become: Linux's smallest TCP MSS is 88 bytes and UDP GSO sends carry at most
// 128 datagrams, so a 64 KB super-packet never needs more. Frames that would are dropped as malformed.
#define SPLIT_MAX_SEGMENTS 1024
// Worst-case bytes offload_split may write for one frame: 64 KB of payload plus one IP+TCP header (at most
// 120 bytes with options) per packet.
#define SPLIT_OUT_MAX (65536 + SPLIT_MAX_SEGMENTS * 120)

// A validated IP packet waiting in a receive buffer to be written to the TUN.
struct tun_pkt {
  uint8_t *data;
  uint32_t len;
};

// Most packets one offload_write call takes (the pump's receive batch: 32 buffers x 64 GRO datagrams).
#define GRO_MAX_PKTS 2048

struct gro;

#ifdef __linux__
// frame = virtio_net_hdr + packet, as read from the TUN. Writes the wire packets to out (>= SPLIT_OUT_MAX).
// leave_tcp_csum: the peer fills TCP checksums in, so they are not computed (see the top of this file).
enum split_result offload_split(const uint8_t *frame, size_t len, size_t mtu, uint8_t *out, struct segments *seg,
                                bool leave_tcp_csum);
struct gro *gro_new(void);
void gro_free(struct gro *g);
// Writes n (<= GRO_MAX_PKTS) packets to the TUN with vnet framing, coalescing TCP segments where possible,
// and counts into cb. Small packets go first unless an earlier packet of their flow is bulk; a flow's packets
// keep their order. Headers of coalesced packets are rewritten in place. fill_tcp_csum: every TCP packet goes
// to the kernel as CHECKSUM_PARTIAL with a seed computed here; its checksum field is neither read nor checked.
void offload_write(int tun_fd, struct gro *g, struct tun_pkt *pkts, size_t n, struct counter_batch *cb,
                   bool fill_tcp_csum);
#else
static inline enum split_result offload_split(const uint8_t *frame, size_t len, size_t mtu, uint8_t *out,
                                              struct segments *seg, bool leave_tcp_csum) {
  (void)frame, (void)len, (void)mtu, (void)out, (void)seg, (void)leave_tcp_csum;
  return SPLIT_MALFORMED;
}
static inline struct gro *gro_new(void) { return NULL; }
static inline void gro_free(struct gro *g) { (void)g; }
static inline void offload_write(int tun_fd, struct gro *g, struct tun_pkt *pkts, size_t n,
                                 struct counter_batch *cb, bool fill_tcp_csum) {
  (void)tun_fd, (void)g, (void)pkts, (void)n, (void)cb, (void)fill_tcp_csum;
}
#endif

#endif

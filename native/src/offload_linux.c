// Segmentation (TUN -> UDP) and coalescing (UDP -> TUN) for a TUN opened with IFF_VNET_HDR. The header
// fields are host-endian: the TUN is in legacy virtio mode (we never set TUNSETVNETLE/BE).
#include "offload.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "aqm.h"
#include "checksum.h"
#include "fq.h"
#include "ip.h"

_Static_assert(sizeof(struct virtio_net_hdr) == VNET_HDR_LEN, "virtio_net_hdr layout");

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
#define TCP_CSUM_OFFSET 16
#define UDP_CSUM_OFFSET 6
#define UDP_HEADER 8
#define IP_MAX_LEN 65535

// The IP-level facts segmentation and coalescing need.
struct ip_info {
  int version;
  size_t iph_len;
  uint8_t proto;
  size_t addrs;     // offset of the source address; the destination follows it
  size_t addr_len;  // 4 or 16
};

// Plain IPv4 (options allowed, never a fragment) or IPv6 without extension headers.
static bool parse_ip(const uint8_t *pkt, size_t len, struct ip_info *ip) {
  if (len >= IPV4_MIN_HEADER && (pkt[0] >> 4) == 4) {
    ip->version = 4;
    ip->iph_len = (size_t)(pkt[0] & 0x0f) * 4;
    ip->proto = pkt[9];
    ip->addrs = 12;
    ip->addr_len = 4;
    return ip->iph_len >= IPV4_MIN_HEADER && ip->iph_len <= len && (ip_read16(pkt + 6) & 0x3fff) == 0;
  }
  if (len >= IPV6_HEADER && (pkt[0] >> 4) == 6) {
    ip->version = 6;
    ip->iph_len = IPV6_HEADER;
    ip->proto = pkt[6];
    ip->addrs = 8;
    ip->addr_len = 16;
    return true;
  }
  return false;
}

// A TCP packet the checksum offload across the tunnel covers: parse_ip's, with a whole TCP header. Both ends
// decide by this one rule (the sender leaves a checksum out only where the receiver fills it in).
static bool parse_tcp_header(const uint8_t *pkt, size_t len, struct ip_info *ip, size_t *tcph_len) {
  if (!parse_ip(pkt, len, ip) || ip->proto != IPPROTO_TCP || len < ip->iph_len + 20) return false;
  *tcph_len = (size_t)(pkt[ip->iph_len + 12] >> 4) * 4;
  return *tcph_len >= 20 && ip->iph_len + *tcph_len <= len;
}

static void ipv4_set_checksum(uint8_t *iph, size_t iph_len) {
  memset(iph + 10, 0, 2);
  uint16_t c = csum_finish(csum_add(0, iph, iph_len));
  memcpy(iph + 10, &c, 2);
}

// Fills in a TCP/UDP checksum from scratch (the field is zeroed first).
static void l4_set_checksum(uint8_t *pkt, const struct ip_info *ip, size_t l4_len, size_t csum_off) {
  uint8_t *l4 = pkt + ip->iph_len;
  memset(l4 + csum_off, 0, 2);
  uint64_t sum = csum_pseudo(pkt + ip->addrs, ip->addr_len, ip->proto, (uint32_t)l4_len);
  uint16_t c = csum_finish(csum_add(sum, l4, l4_len));
  if (c == 0) c = 0xffff;  // 0 means "no checksum" to UDP; for TCP both encode ones'-complement zero
  memcpy(l4 + csum_off, &c, 2);
}

// Stores the CHECKSUM_PARTIAL seed (the uncomplemented pseudo-header sum) in a TCP checksum field.
static void tcp_set_seed(uint8_t *pkt, const struct ip_info *ip, size_t l4_len) {
  uint16_t seed = csum_fold(csum_pseudo(pkt + ip->addrs, ip->addr_len, IPPROTO_TCP, (uint32_t)l4_len));
  memcpy(pkt + ip->iph_len + TCP_CSUM_OFFSET, &seed, 2);
}

static bool l4_checksum_ok(const uint8_t *pkt, const struct ip_info *ip, size_t l4_len) {
  uint64_t sum = csum_pseudo(pkt + ip->addrs, ip->addr_len, ip->proto, (uint32_t)l4_len);
  return csum_finish(csum_add(sum, pkt + ip->iph_len, l4_len)) == 0;
}

// ---- TUN -> UDP: segmentation -------------------------------------------------------------------------

// Cuts a TCP or UDP super-packet into wire packets of at most `mtu` bytes, each with its own IP length,
// IPv4 id and checksum, TCP sequence number and flags (FIN/PSH only on the last, CWR only on the first, as
// the kernel's tcp_gso_segment does) and a full L4 checksum: the CHECKSUM_PARTIAL seed in the header
// covers the whole super-packet, so it is of no use per segment. With `leave`, a TCP segment gets its own
// seed instead, which the peer would compute anyway.
static enum split_result split_gso(const struct virtio_net_hdr *h, const uint8_t *pkt, size_t len, size_t mtu,
                                   uint8_t *out, struct segments *seg, bool tcp, bool leave) {
  struct ip_info ip;
  if (!parse_ip(pkt, len, &ip) || ip.proto != (tcp ? IPPROTO_TCP : IPPROTO_UDP)) return SPLIT_MALFORMED;
  if (len < ip.iph_len + (tcp ? 20 : UDP_HEADER)) return SPLIT_MALFORMED;
  size_t l4_hdr = tcp ? (size_t)(pkt[ip.iph_len + 12] >> 4) * 4 : UDP_HEADER;
  size_t hdr = ip.iph_len + l4_hdr;
  if ((tcp && l4_hdr < 20) || hdr > len || h->gso_size == 0) return SPLIT_MALFORMED;
  size_t payload = len - hdr;
  size_t mss = h->gso_size;
  if (hdr + mss > mtu) {
    // TCP may be re-segmented smaller; UDP datagram boundaries belong to the application.
    if (!tcp || mtu <= hdr) return SPLIT_OVERSIZE;
    mss = mtu - hdr;
  }
  size_t count = payload ? (payload + mss - 1) / mss : 1;
  if (count > SPLIT_MAX_SEGMENTS) return SPLIT_MALFORMED;

  uint32_t seq = tcp ? ip_read32(pkt + ip.iph_len + 4) : 0;
  uint16_t id = ip.version == 4 ? ip_read16(pkt + 4) : 0;
  uint8_t *w = out;
  size_t off = 0;
  for (size_t i = 0; i < count; i++) {
    size_t chunk = payload - off < mss ? payload - off : mss;
    size_t seg_len = hdr + chunk;
    memcpy(w, pkt, hdr);
    memcpy(w + hdr, pkt + hdr + off, chunk);
    if (ip.version == 4) {
      ip_write16(w + 2, (uint16_t)seg_len);
      ip_write16(w + 4, (uint16_t)(id + i));
      ipv4_set_checksum(w, ip.iph_len);
    } else {
      ip_write16(w + 4, (uint16_t)(seg_len - IPV6_HEADER));
    }
    uint8_t *l4 = w + ip.iph_len;
    if (tcp) {
      ip_write32(l4 + 4, seq + (uint32_t)off);
      uint8_t flags = l4[13];
      if (i + 1 < count) flags &= (uint8_t) ~(TCP_FIN | TCP_PSH);
      if (i > 0) flags &= (uint8_t)~TCP_CWR;
      l4[13] = flags;
      if (leave)
        tcp_set_seed(w, &ip, seg_len - ip.iph_len);
      else
        l4_set_checksum(w, &ip, seg_len - ip.iph_len, TCP_CSUM_OFFSET);
    } else {
      ip_write16(l4 + 4, (uint16_t)(seg_len - ip.iph_len));
      l4_set_checksum(w, &ip, seg_len - ip.iph_len, UDP_CSUM_OFFSET);
    }
    w += seg_len;
    off += chunk;
  }
  seg->base = out;
  seg->count = count;
  seg->last_size = hdr + (payload - (count - 1) * mss);
  seg->seg_size = count == 1 ? seg->last_size : hdr + mss;
  seg->used = (size_t)(w - out);
  seg->csum_left = tcp && leave ? count : 0;
  seg->gso = true;
  return SPLIT_OK;
}

enum split_result offload_split(const uint8_t *frame, size_t len, size_t mtu, uint8_t *out, struct segments *seg,
                                bool leave_tcp_csum) {
  if (len <= VNET_HDR_LEN) return SPLIT_MALFORMED;
  struct virtio_net_hdr h;
  memcpy(&h, frame, sizeof h);
  const uint8_t *pkt = frame + VNET_HDR_LEN;
  len -= VNET_HDR_LEN;
  switch (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
      return split_gso(&h, pkt, len, mtu, out, seg, true, leave_tcp_csum);
    case VIRTIO_NET_HDR_GSO_UDP_L4:
      return split_gso(&h, pkt, len, mtu, out, seg, false, false);
    case VIRTIO_NET_HDR_GSO_NONE:
      break;
    default:
      return SPLIT_MALFORMED;
  }
  if (len > mtu) return SPLIT_OVERSIZE;
  if (!ip_is_data(pkt, len)) return SPLIT_MALFORMED;
  memcpy(out, pkt, len);
  struct ip_info ip;
  size_t tcph_len;
  seg->csum_left = 0;
  if (leave_tcp_csum && parse_tcp_header(out, len, &ip, &tcph_len)) {
    // The peer seeds the field afresh. A checksum the local stack left partial, or the kernel checked
    // (DATA_VALID), needs nothing; a complete one nobody checked (a forwarded packet) is checked here, so the
    // peer never turns a corrupted segment into a valid one.
    if (!(h.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) &&
        !l4_checksum_ok(out, &ip, len - ip.iph_len))
      return SPLIT_BAD_CSUM;
    seg->csum_left = 1;
  } else if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; sum from csum_start to the end and store.
    size_t start = h.csum_start, field = (size_t)h.csum_start + h.csum_offset;
    if (field + 2 > len) return SPLIT_MALFORMED;
    uint16_t c = csum_finish(csum_add(0, out + start, len - start));
    if (c == 0) c = 0xffff;
    memcpy(out + field, &c, 2);
  }
  seg->base = out;
  seg->count = 1;
  seg->seg_size = seg->last_size = seg->used = len;
  seg->gso = false;
  return SPLIT_OK;
}

// ---- UDP -> TUN: coalescing ---------------------------------------------------------------------------

#define GRO_MAX_GROUPS 64
#define GRO_MAX_MEMBERS 64  // 64 x 1 KB+ segments reach the 64 KB IP limit anyway

enum { ROLE_ALONE = -1, ROLE_MERGED = -2, ROLE_WRITTEN = -3 };

// One TCP segment as coalescing sees it.
struct tcp_seg {
  struct ip_info ip;
  size_t tcph_len;
  size_t payload;
  uint32_t seq;
  uint8_t flags;
};

// A super-packet being built: the head packet (whose headers become the super-packet's) plus the payloads of
// the following segments, all still in the receive buffers; written with one writev.
struct group {
  uint32_t head;  // index into pkts
  struct tcp_seg first;
  uint32_t members;
  uint32_t next_seq;
  uint16_t next_id;
  size_t ip_len;  // IP length of the super-packet so far
  bool closed;    // a short segment or PSH ends a group, like the kernel's GRO
  bool psh;
  struct iovec iov[GRO_MAX_MEMBERS + 1];  // [0] vnet header, [1] head packet, [2..] member payloads
};

struct gro {
  struct group groups[GRO_MAX_GROUPS];
  int16_t role[GRO_MAX_PKTS];  // per packet: group index (head), ROLE_ALONE or ROLE_MERGED
};

struct gro *gro_new(void) { return calloc(1, sizeof(struct gro)); }

void gro_free(struct gro *g) { free(g); }

enum seg_kind { NOT_TCP, TCP_OTHER, TCP_DATA };

// TCP_DATA: an in-order data candidate (ACK with optional PSH, payload, valid checksum). TCP_OTHER: TCP, but
// it must be written on its own (SYN/FIN/RST/URG/ECN flags, no payload, IPv4 options, bad checksum).
// Checksums are verified here because a coalesced packet is marked CHECKSUM_PARTIAL and the receiving
// stack will not verify it again; not with `fill`, where the peer left them out (and every TCP packet is
// written CHECKSUM_PARTIAL anyway).
static enum seg_kind parse_tcp(const uint8_t *pkt, size_t len, struct tcp_seg *s, bool fill) {
  if (!parse_tcp_header(pkt, len, &s->ip, &s->tcph_len)) return NOT_TCP;
  const uint8_t *tcp = pkt + s->ip.iph_len;
  s->payload = len - s->ip.iph_len - s->tcph_len;
  s->seq = ip_read32(tcp + 4);
  s->flags = tcp[13];
  if (s->payload == 0 || (s->flags & ~TCP_PSH) != TCP_ACK) return TCP_OTHER;
  if (s->ip.version == 4 && s->ip.iph_len != IPV4_MIN_HEADER) return TCP_OTHER;
  if (!fill && !l4_checksum_ok(pkt, &s->ip, len - s->ip.iph_len)) return TCP_OTHER;
  return TCP_DATA;
}

static bool same_flow(const uint8_t *a, const struct tcp_seg *sa, const uint8_t *b, const struct tcp_seg *sb) {
  return sa->ip.version == sb->ip.version &&
         memcmp(a + sa->ip.addrs, b + sb->ip.addrs, 2 * sa->ip.addr_len) == 0 &&
         memcmp(a + sa->ip.iph_len, b + sb->ip.iph_len, 4) == 0;  // ports
}

// The kernel's tcp_gro_receive rules: same IP header fields, same ACK, window and options, the same
// reserved bits beside the data offset (AccECN's AE among them, which would otherwise be lost), the next
// sequence number, no larger than the first segment, and the total within one IP packet.
static bool can_append(const struct group *g, const uint8_t *head, const uint8_t *pkt, const struct tcp_seg *s) {
  if (g->closed || g->members >= GRO_MAX_MEMBERS || s->tcph_len != g->first.tcph_len) return false;
  if (s->seq != g->next_seq || s->payload > g->first.payload || g->ip_len + s->payload > IP_MAX_LEN) return false;
  if (s->ip.version == 4) {
    if (pkt[1] != head[1] || pkt[8] != head[8] || (pkt[6] & 0x40) != (head[6] & 0x40)) return false;
    if (ip_read16(pkt + 4) != g->next_id) return false;
  } else if (memcmp(pkt, head, 4) != 0 || pkt[7] != head[7]) {
    return false;
  }
  const uint8_t *t = pkt + s->ip.iph_len, *ht = head + g->first.ip.iph_len;
  return memcmp(t + 8, ht + 8, 4) == 0 &&   // ack
         t[12] == ht[12] &&                  // data offset and reserved bits
         memcmp(t + 14, ht + 14, 2) == 0 &&  // window
         memcmp(t + 20, ht + 20, s->tcph_len - 20) == 0;  // options
}

static void group_start(struct group *g, uint32_t index, uint8_t *pkt, size_t len, const struct tcp_seg *s) {
  g->head = index;
  g->first = *s;
  g->members = 1;
  g->next_seq = s->seq + (uint32_t)s->payload;
  g->next_id = s->ip.version == 4 ? (uint16_t)(ip_read16(pkt + 4) + 1) : 0;
  g->ip_len = len;
  g->psh = (s->flags & TCP_PSH) != 0;
  g->closed = g->psh;
  g->iov[1].iov_base = pkt;
  g->iov[1].iov_len = len;
}

static void group_append(struct group *g, uint8_t *pkt, const struct tcp_seg *s) {
  g->iov[1 + g->members].iov_base = pkt + s->ip.iph_len + s->tcph_len;
  g->iov[1 + g->members].iov_len = s->payload;
  g->members++;
  g->ip_len += s->payload;
  g->next_seq += (uint32_t)s->payload;
  g->next_id++;
  if (s->flags & TCP_PSH) g->psh = true;
  if (s->payload < g->first.payload || g->psh) g->closed = true;
}

// fill: a TCP packet is written CHECKSUM_PARTIAL with a seed of ours, whatever its checksum field held.
static void write_alone(int fd, const struct tun_pkt *p, bool fill, struct counter_batch *cb) {
  struct virtio_net_hdr vh;
  memset(&vh, 0, sizeof vh);  // no GSO, CHECKSUM_NONE: the kernel checks the packet as usual
  struct ip_info ip;
  size_t tcph_len;
  if (fill && parse_tcp_header(p->data, p->len, &ip, &tcph_len)) {
    tcp_set_seed(p->data, &ip, p->len - ip.iph_len);
    vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh.csum_start = (uint16_t)ip.iph_len;
    vh.csum_offset = TCP_CSUM_OFFSET;
  } else {
    fill = false;
  }
  struct iovec iov[2] = {{&vh, sizeof vh}, {p->data, p->len}};
  if (writev(fd, iov, 2) < 0) {
    cb->drop_tun_write++;
    return;
  }
  cb->tun_tx_packets++;
  cb->tun_tx_bytes += p->len;
  if (fill) cb->tun_tx_csum_filled++;
}

// Turns the head's headers into the super-packet's and hands the kernel a GSO frame with CHECKSUM_PARTIAL:
// the TCP checksum field then holds the (uncomplemented) pseudo-header sum, as the virtio spec requires.
static void write_group(int fd, struct group *g, bool fill, struct counter_batch *cb) {
  uint8_t *head = g->iov[1].iov_base;
  const struct ip_info *ip = &g->first.ip;
  if (ip->version == 4) {
    ip_write16(head + 2, (uint16_t)g->ip_len);
    ipv4_set_checksum(head, ip->iph_len);
  } else {
    ip_write16(head + 4, (uint16_t)(g->ip_len - IPV6_HEADER));
  }
  uint8_t *tcp = head + ip->iph_len;
  if (g->psh) tcp[13] |= TCP_PSH;
  tcp_set_seed(head, ip, g->ip_len - ip->iph_len);

  struct virtio_net_hdr vh;
  memset(&vh, 0, sizeof vh);
  vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh.gso_type = ip->version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
  vh.hdr_len = (uint16_t)(ip->iph_len + g->first.tcph_len);
  vh.gso_size = (uint16_t)g->first.payload;
  vh.csum_start = (uint16_t)ip->iph_len;
  vh.csum_offset = TCP_CSUM_OFFSET;
  g->iov[0].iov_base = &vh;
  g->iov[0].iov_len = sizeof vh;
  if (writev(fd, g->iov, (int)g->members + 1) < 0) {
    cb->drop_tun_write += g->members;
    return;
  }
  cb->tun_tx_packets++;
  cb->tun_tx_gro_packets++;
  cb->tun_tx_bytes += g->ip_len;
  if (fill) cb->tun_tx_csum_filled += g->members;
}

// Whether packet i, written on its own, may go ahead of the batch: small (a ping, a TCP ACK, a DNS answer,
// a keystroke: what CoDel never drops) and not part of a super-packet.
static bool small_alone(const struct gro *g, const struct tun_pkt *pkts, size_t i) {
  int16_t role = g->role[i];
  return pkts[i].len <= AQM_SMALL_PACKET && (role == ROLE_ALONE || (role >= 0 && g->groups[role].members == 1));
}

// Writes the batch's small packets before its bulk, as FQ-CoDel would let a sparse flow go first: a ping
// received behind a megabyte of super-packets otherwise waits for all their writes, each of which runs the
// receiving TCP stack. A flow's packets keep their order: a small packet goes ahead only when no earlier
// packet of its flow (its fq_flow_hash bucket; a shared bucket only keeps more in place) stays behind.
// Those written are marked ROLE_WRITTEN.
static void write_small_first(int tun_fd, struct gro *g, struct tun_pkt *pkts, size_t n, bool fill,
                              struct counter_batch *cb) {
  uint64_t behind[4] = {0};  // buckets (hash mod 256) of flows with a packet left for the second pass
  for (size_t i = 0; i < n; i++) {
    if (g->role[i] == ROLE_MERGED) continue;  // its group's head, earlier, stands for its flow
    uint32_t b = fq_flow_hash(pkts[i].data, pkts[i].len) & 255;
    uint64_t bit = 1ull << (b & 63);
    if (small_alone(g, pkts, i) && !(behind[b >> 6] & bit)) {
      write_alone(tun_fd, &pkts[i], fill, cb);
      g->role[i] = ROLE_WRITTEN;
    } else {
      behind[b >> 6] |= bit;
    }
  }
}

void offload_write(int tun_fd, struct gro *g, struct tun_pkt *pkts, size_t n, struct counter_batch *cb,
                   bool fill_tcp_csum) {
  if (n > GRO_MAX_PKTS) n = GRO_MAX_PKTS;  // the caller never passes more; keeps role[] in bounds
  int ngroups = 0;
  bool small = false, bulk = false;
  // Pass 1: assign every packet a role. A flow's latest group is found by scanning backwards; a packet of
  // that flow that cannot join it closes it, so a flow's packets keep their order: every member of a group
  // arrived before any later packet of the flow that is written after the group.
  for (size_t i = 0; i < n; i++) {
    g->role[i] = ROLE_ALONE;
    if (pkts[i].len <= AQM_SMALL_PACKET)
      small = true;
    else
      bulk = true;
    struct tcp_seg s;
    enum seg_kind kind = parse_tcp(pkts[i].data, pkts[i].len, &s, fill_tcp_csum);
    if (kind == NOT_TCP) continue;
    struct group *flow = NULL;
    for (int k = ngroups - 1; k >= 0; k--) {
      struct group *c = &g->groups[k];
      if (same_flow(c->iov[1].iov_base, &c->first, pkts[i].data, &s)) {
        flow = c;
        break;
      }
    }
    if (kind == TCP_DATA && flow && can_append(flow, flow->iov[1].iov_base, pkts[i].data, &s)) {
      group_append(flow, pkts[i].data, &s);
      g->role[i] = ROLE_MERGED;
      continue;
    }
    if (flow) flow->closed = true;
    if (kind == TCP_DATA && ngroups < GRO_MAX_GROUPS) {
      group_start(&g->groups[ngroups], (uint32_t)i, pkts[i].data, pkts[i].len, &s);
      g->role[i] = (int16_t)ngroups++;
    }
  }
  // Pass 2: small packets first (only a mixed batch can reorder), then the rest in arrival order of each
  // group's first packet.
  if (small && bulk) write_small_first(tun_fd, g, pkts, n, fill_tcp_csum, cb);
  for (size_t i = 0; i < n; i++) {
    int16_t role = g->role[i];
    if (role == ROLE_MERGED || role == ROLE_WRITTEN) continue;
    if (role >= 0 && g->groups[role].members > 1)
      write_group(tun_fd, &g->groups[role], fill_tcp_csum, cb);
    else
      write_alone(tun_fd, &pkts[i], fill_tcp_csum, cb);
  }
}

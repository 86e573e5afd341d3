// Fuzz target: the receive side's coalescing (offload_write, native/src/offload_linux.c), fed what the pump
// lets through from the peer (datagrams that pass ip_header_valid and fit the MTU). The TUN is a stand-in
// that keeps each frame written (offload_linux.c is built with -Dwritev=fuzz_writev). Checks beyond memory
// safety:
//  - every frame is one IP packet whose length fields agree with the frame, and a coalesced one carries a
//    sound virtio header and a checksum seed that makes a correct checksum;
//  - cut back into segments (offload_split), the frames carry every packet, each flow's in its order, with
//    everything that coalescing must keep (TCP header fields but the checksum and urgent pointer, the IP
//    fields the kernel's GRO compares, the payload) unchanged;
//  - the counters count what was written.
#include <linux/virtio_net.h>
#include <sys/uio.h>

#include "../src/ip.h"
#include "../src/offload.h"
#include "fuzz_packets.h"

#define MAX_FRAMES GRO_MAX_PKTS
#define MTU 1500

static struct {
  uint8_t *data[MAX_FRAMES];
  size_t len[MAX_FRAMES];
  size_t n;
} written;

ssize_t fuzz_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t fuzz_writev(int fd, const struct iovec *iov, int iovcnt) {
  (void)fd;
  FUZZ_CHECK(written.n < MAX_FRAMES, "more frames than packets");
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  uint8_t *f = malloc(total ? total : 1), *w = f;
  for (int i = 0; i < iovcnt; i++) {
    memcpy(w, iov[i].iov_base, iov[i].iov_len);
    w += iov[i].iov_len;
  }
  written.data[written.n] = f;
  written.len[written.n++] = total;
  return (ssize_t)total;
}

// What must arrive of one packet, as bytes to compare (see the top of this file).
static size_t unit_of(const uint8_t *p, size_t len, uint8_t *u) {
  struct tcp_view v = view_tcp(p, len);
  if (!v.ok) {
    u[0] = 'R';
    memcpy(u + 1, p, len);
    return len + 1;
  }
  size_t n = 0;
  u[n++] = 'T';
  if (p[0] >> 4 == 4) {
    u[n++] = p[1], u[n++] = p[8], u[n++] = p[6] & 0x40;
  } else {
    memcpy(u + n, p, 4), n += 4;
    u[n++] = p[7];
  }
  const uint8_t *t = p + v.iph;
  memcpy(u + n, t + 4, 12), n += 12;  // sequence, ack, offset and flags, window
  memcpy(u + n, t + 20, len - v.iph - 20), n += len - v.iph - 20;  // options and payload
  return n;
}

// Units in order, per flow.
struct record {
  uint8_t key[48];
  size_t key_len;
  uint8_t *unit;
  size_t unit_len;
};

struct log {
  struct record *r;
  size_t n, cap;
};

static void log_add(struct log *l, const uint8_t *p, size_t len) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->r = realloc(l->r, l->cap * sizeof *l->r);
  }
  struct record *r = &l->r[l->n++];
  r->key_len = flow_key(p, len, r->key);
  r->unit = malloc(len + 16);
  r->unit_len = unit_of(p, len, r->unit);
}

static void log_free(struct log *l) {
  for (size_t i = 0; i < l->n; i++) free(l->r[i].unit);
  free(l->r);
}

static bool same_key(const struct record *a, const struct record *b) {
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

// Each flow's units in the same order in both logs, and nothing more or less.
static void compare(const struct log *in, const struct log *out) {
  FUZZ_CHECK(in->n == out->n, "%zu packets in, %zu out", in->n, out->n);
  bool *used = calloc(out->n ? out->n : 1, 1);
  for (size_t i = 0; i < in->n; i++) {
    // The next unused output of this flow must be this packet.
    size_t j = 0;
    while (j < out->n && (used[j] || !same_key(&in->r[i], &out->r[j]))) j++;
    FUZZ_CHECK(j < out->n, "packet %zu's flow has no more packets out", i);
    FUZZ_CHECK(in->r[i].unit_len == out->r[j].unit_len &&
                   memcmp(in->r[i].unit, out->r[j].unit, in->r[i].unit_len) == 0,
               "packet %zu (its flow's next out is %zu) changed or out of order", i, j);
    used[j] = true;
  }
  free(used);
}

// The checksum a receiver computes over a CHECKSUM_PARTIAL packet (the field holding the seed) is correct.
static void check_partial(const uint8_t *p, size_t len, const struct virtio_net_hdr *h) {
  FUZZ_CHECK((size_t)h->csum_start + h->csum_offset + 2 <= len, "checksum field past the end");
  uint8_t *copy = malloc(len);
  memcpy(copy, p, len);
  put16(copy + h->csum_start + h->csum_offset, fuzz_csum(copy + h->csum_start, len - h->csum_start, 0));
  size_t iph = p[0] >> 4 == 6 ? 40 : (size_t)(p[0] & 15) * 4;
  FUZZ_CHECK(fuzz_l4_csum_ok(copy, len, iph, 6), "seed does not give a valid checksum");
  free(copy);
}

static uint8_t split_out[SPLIT_OUT_MAX];

// A frame as written: its checks, then its packets into the log.
static void read_frame(const uint8_t *f, size_t flen, struct log *out, size_t *members) {
  FUZZ_CHECK(flen > VNET_HDR_LEN, "frame of %zu bytes", flen);
  struct virtio_net_hdr h;
  memcpy(&h, f, sizeof h);
  const uint8_t *p = f + VNET_HDR_LEN;
  size_t len = flen - VNET_HDR_LEN;
  FUZZ_CHECK(ip_header_valid(p, len), "frame's IP header does not match its length");
  if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) check_partial(p, len, &h);
  if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    log_add(out, p, len);
    ++*members;
    return;
  }
  struct tcp_view v = view_tcp(p, len);
  FUZZ_CHECK(v.ok, "a GSO frame that is not TCP");
  FUZZ_CHECK(h.gso_type == (p[0] >> 4 == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6), "gso_type");
  FUZZ_CHECK(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, "GSO without CHECKSUM_PARTIAL");
  FUZZ_CHECK(h.hdr_len == v.iph + v.tcph && h.csum_start == v.iph && h.csum_offset == 16, "virtio header");
  FUZZ_CHECK(h.gso_size > 0 && h.gso_size < v.payload, "gso_size %u for %zu bytes", h.gso_size, v.payload);
  struct segments seg;
  FUZZ_CHECK(offload_split(f, flen, 65535, split_out, &seg, false) == SPLIT_OK, "frame does not split");
  const uint8_t *s = seg.base;
  for (size_t i = 0; i < seg.count; i++) {
    size_t sl = i + 1 < seg.count ? seg.seg_size : seg.last_size;
    log_add(out, s, sl);
    s += sl;
  }
  *members += seg.count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct gro *gro;
  if (!gro) gro = gro_new();
  struct reader r = {data, size};
  bool fill = rd8(&r) & 1;
  struct flow_state flows[FUZZ_FLOWS] = {{0}};
  struct tun_pkt pkts[GRO_MAX_PKTS];
  uint8_t *bufs[GRO_MAX_PKTS];
  size_t n = 0, len;
  uint8_t *p;
  struct log in = {0}, out = {0};
  while (n < GRO_MAX_PKTS && (p = fuzz_packet(&r, flows, &len))) {
    if (!ip_header_valid(p, len) || len > MTU) {  // the pump drops these before coalescing
      free(p);
      continue;
    }
    log_add(&in, p, len);
    bufs[n] = p;
    pkts[n].data = p;
    pkts[n++].len = (uint32_t)len;
  }
  struct counter_batch cb;
  memset(&cb, 0, sizeof cb);
  written.n = 0;
  offload_write(-1, gro, pkts, n, &cb, fill);
  size_t members = 0;
  for (size_t i = 0; i < written.n; i++) read_frame(written.data[i], written.len[i], &out, &members);
  FUZZ_CHECK(members == n, "%zu packets in, %zu written", n, members);
  FUZZ_CHECK(cb.tun_tx_packets == written.n && cb.drop_tun_write == 0, "counters");
  compare(&in, &out);
  for (size_t i = 0; i < written.n; i++) free(written.data[i]);
  for (size_t i = 0; i < n; i++) free(bufs[i]);
  log_free(&in);
  log_free(&out);
  return 0;
}

// Fuzz target: the send side's segmentation (offload_split, native/src/offload_linux.c) of frames as a TUN
// with IFF_VNET_HDR hands them over: a virtio header (GSO type, size, checksum offsets, all from the
// fuzzer) and a packet, up to a 64 KB super-packet. Checks beyond memory safety, for every frame it accepts:
//  - each packet out is one whole IP packet (ip_header_valid: what the peer's pump accepts) within the MTU;
//  - the packets out carry the frame's payload, in order, each TCP segment at its sequence number;
//  - every checksum out is correct, except a TCP one left to the peer (`leave`), which holds the seed the
//    peer's fill would put there anyway.
#include <linux/virtio_net.h>

#include "../src/ip.h"
#include "../src/offload.h"
#include "fuzz_packets.h"

static uint8_t out[SPLIT_OUT_MAX];

static void check_gso(const uint8_t *pkt, size_t len, bool tcp, bool leave, const struct segments *seg,
                      size_t mtu) {
  size_t iph = pkt[0] >> 4 == 4 ? (size_t)(pkt[0] & 15) * 4 : 40;
  size_t l4h = tcp ? (size_t)(pkt[iph + 12] >> 4) * 4 : 8;
  size_t hdr = iph + l4h, payload_off = 0;
  const uint8_t *s = seg->base;
  for (size_t i = 0; i < seg->count; i++) {
    size_t sl = i + 1 < seg->count ? seg->seg_size : seg->last_size;
    FUZZ_CHECK(ip_header_valid(s, sl) && sl <= mtu, "segment %zu of %zu bytes (mtu %zu)", i, sl, mtu);
    FUZZ_CHECK(sl >= hdr && memcmp(s + hdr, pkt + hdr + payload_off, sl - hdr) == 0, "segment %zu payload", i);
    const uint8_t *l4 = s + iph;
    if (tcp) {
      FUZZ_CHECK(get32(l4 + 4) == get32(pkt + iph + 4) + (uint32_t)payload_off, "segment %zu sequence", i);
      if (leave)
        FUZZ_CHECK(get16(l4 + 16) == fuzz_seed(s, sl, iph), "segment %zu seed", i);
      else
        FUZZ_CHECK(fuzz_l4_csum_ok(s, sl, iph, 6), "segment %zu csum", i);
    } else {
      FUZZ_CHECK(get16(l4 + 4) == sl - iph, "segment %zu UDP length", i);
      FUZZ_CHECK(fuzz_l4_csum_ok(s, sl, iph, 17), "segment %zu csum", i);
    }
    payload_off += sl - hdr;
    s += sl;
  }
  FUZZ_CHECK(payload_off == len - hdr, "%zu of %zu payload bytes out", payload_off, len - hdr);
  FUZZ_CHECK((size_t)(s - seg->base) == seg->used, "used");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct reader r = {data, size};
  struct virtio_net_hdr h;
  memset(&h, 0, sizeof h);
  static const uint8_t types[] = {VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, 5,
                                  VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 3, 0x7f, 0xff};
  uint8_t b = rd8(&r);
  h.gso_type = types[b & 7];
  h.flags = (uint8_t)(rd8(&r) & 3);  // NEEDS_CSUM, DATA_VALID
  h.gso_size = rd16(&r);
  h.csum_start = rd16(&r);
  h.csum_offset = rd16(&r);
  h.hdr_len = rd16(&r);
  bool leave = b & 8;
  size_t mtu = 576 + rd16(&r) % 9000;
  size_t extra = (b & 0x10) ? rd16(&r) : 0;  // grows the packet towards a super-packet
  struct flow_state flows[FUZZ_FLOWS] = {{0}};
  size_t plen;
  uint8_t *p = fuzz_packet(&r, flows, &plen);
  if (!p) return 0;
  if (plen + extra > 65535) extra = 65535 - plen;
  size_t flen = VNET_HDR_LEN + plen + extra;
  uint8_t *frame = malloc(flen);
  memcpy(frame, &h, sizeof h);
  memcpy(frame + VNET_HDR_LEN, p, plen);
  for (size_t i = 0; i < extra; i++) frame[VNET_HDR_LEN + plen + i] = (uint8_t)(i * 13 + 5);
  uint8_t *pkt = frame + VNET_HDR_LEN;
  size_t len = plen + extra;
  if (extra && (b & 0x20)) {  // the length fields follow the growth, as a real super-packet's do
    if (len >= 20 && pkt[0] >> 4 == 4) put16(pkt + 2, (uint16_t)len);
    if (len >= 40 && pkt[0] >> 4 == 6) put16(pkt + 4, (uint16_t)(len - 40));
  }
  free(p);

  struct segments seg;
  enum split_result res = offload_split(frame, flen, mtu, out, &seg, leave);
  if (res == SPLIT_OK) {
    FUZZ_CHECK(seg.count >= 1 && seg.used <= SPLIT_OUT_MAX, "count %zu, used %zu", seg.count, seg.used);
    unsigned type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (type == VIRTIO_NET_HDR_GSO_NONE) {
      FUZZ_CHECK(seg.count == 1 && seg.used == len && len <= mtu, "a plain packet is one packet");
      // Only a checksum field may differ from what came in.
      size_t diff = 0;
      for (size_t i = 0; i < len; i++) diff += out[i] != pkt[i];
      FUZZ_CHECK(diff <= 2, "%zu bytes of a plain packet changed", diff);
    } else {
      FUZZ_CHECK(seg.gso, "a GSO frame's segments say so");
      check_gso(pkt, len, type != 5, leave && type != 5, &seg, mtu);
    }
  }
  free(frame);
  return 0;
}

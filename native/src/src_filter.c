// Parsing of the allowed source prefixes (the per-packet check is inline in src_filter.h).
#include "src_filter.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static uint64_t mask64(int bits) {
  if (bits <= 0) return 0;
  if (bits >= 64) return ~(uint64_t)0;
  return ~(uint64_t)0 << (64 - bits);
}

int src_filter_add(struct src_filter *f, const char *cidr, char *err) {
  char addr[64];
  const char *slash = strchr(cidr, '/');
  size_t alen = slash ? (size_t)(slash - cidr) : 0;
  char *end = NULL;
  long bits = slash ? strtol(slash + 1, &end, 10) : -1;
  if (!slash || alen == 0 || alen >= sizeof addr || end == slash + 1 || *end != '\0' || bits < 0) {
    snprintf(err, ERRBUF_LEN, "\"%s\" is not a prefix (ADDRESS/LENGTH)", cidr);
    return -1;
  }
  memcpy(addr, cidr, alen);
  addr[alen] = '\0';
  uint8_t raw[16];
  if (inet_pton(AF_INET, addr, raw) == 1) {
    if (bits > 32) {
      snprintf(err, ERRBUF_LEN, "\"%s\": an IPv4 prefix length is 0 to 32", cidr);
      return -1;
    }
    uint32_t mask = bits == 0 ? 0 : ~(uint32_t)0 << (32 - bits);
    uint32_t net = ip_read32(raw);
    if ((net & mask) != net) {
      snprintf(err, ERRBUF_LEN, "\"%s\" has host bits set", cidr);
      return -1;
    }
    if (f->n4 == SRC_FILTER_MAX) {
      snprintf(err, ERRBUF_LEN, "more than %d IPv4 prefixes", SRC_FILTER_MAX);
      return -1;
    }
    f->v4[f->n4++] = (struct src_prefix4){.net = net, .mask = mask};
    return 0;
  }
  if (inet_pton(AF_INET6, addr, raw) == 1) {
    if (bits > 128) {
      snprintf(err, ERRBUF_LEN, "\"%s\": an IPv6 prefix length is 0 to 128", cidr);
      return -1;
    }
    struct src_prefix6 p = {
        .net = {src_read64(raw), src_read64(raw + 8)},
        .mask = {mask64((int)bits), mask64((int)bits - 64)},
    };
    if ((p.net[0] & p.mask[0]) != p.net[0] || (p.net[1] & p.mask[1]) != p.net[1]) {
      snprintf(err, ERRBUF_LEN, "\"%s\" has host bits set", cidr);
      return -1;
    }
    if (f->n6 == SRC_FILTER_MAX) {
      snprintf(err, ERRBUF_LEN, "more than %d IPv6 prefixes", SRC_FILTER_MAX);
      return -1;
    }
    f->v6[f->n6++] = p;
    return 0;
  }
  snprintf(err, ERRBUF_LEN, "\"%s\" is not an IPv4 or IPv6 prefix", cidr);
  return -1;
}

// See ctrl_limit.h.
#include "ctrl_limit.h"

#include <netinet/in.h>
#include <string.h>

bool ctrl_limit_take(struct ctrl_limit *l, const struct sockaddr *from, uint64_t now_ms) {
  uint8_t addr[16] = {0};
  uint16_t port;
  uint8_t family;
  if (from->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)from;
    memcpy(addr, &in->sin_addr, 4);
    port = in->sin_port;
    family = 4;
  } else if (from->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)from;
    memcpy(addr, &in6->sin6_addr, 16);
    port = in6->sin6_port;
    family = 6;
  } else {
    return true;
  }
  // FNV-1a over address and port.
  uint32_t h = 2166136261u;
  for (int i = 0; i < 16; i++) h = (h ^ addr[i]) * 16777619u;
  h = (h ^ (uint8_t)port) * 16777619u;
  h = (h ^ (uint8_t)(port >> 8)) * 16777619u;
  struct ctrl_slot *s = &l->slots[h % CTRL_LIMIT_SLOTS];
  if (!s->used || s->family != family || s->port != port || memcmp(s->addr, addr, 16) != 0) {
    memcpy(s->addr, addr, 16);
    s->port = port;
    s->family = family;
    s->used = true;
    s->tokens_milli = CTRL_LIMIT_BURST * 1000;
    s->at_ms = now_ms;
  }
  uint64_t refill = (now_ms - s->at_ms) * CTRL_LIMIT_RATE;  // milli-tokens: rate per second = per ms * 1000
  s->at_ms = now_ms;
  uint64_t t = s->tokens_milli + refill;
  s->tokens_milli = t > CTRL_LIMIT_BURST * 1000 ? CTRL_LIMIT_BURST * 1000 : (uint32_t)t;
  if (s->tokens_milli < 1000) return false;
  s->tokens_milli -= 1000;
  return true;
}

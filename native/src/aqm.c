// CoDel's state machine as in RFC 8289 section 5, one decision per packet instead of a dequeue loop.
#include "aqm.h"

void aqm_init(struct aqm *a, uint64_t target_ns, uint64_t interval_ns) {
  *a = (struct aqm){.target_ns = target_ns, .interval_ns = interval_ns};
}

static uint64_t isqrt64(uint64_t x) {
  uint64_t r = 0;
  for (uint64_t bit = 1ull << 62; bit; bit >>= 2) {
    if (x >= r + bit) {
      x -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
  }
  return r;
}

// The next drop: interval / sqrt(count) after t, so the drop rate rises while the queue stays long. In 16.16
// fixed point: sqrt(count << 32) is sqrt(count) * 65536.
static uint64_t control_law(const struct aqm *a, uint64_t t) {
  uint64_t s = isqrt64((uint64_t)(a->count ? a->count : 1) << 32);
  return t + (a->interval_ns << 16) / s;
}

// True once the wait has stayed at or above target for a whole interval.
static bool ok_to_drop(struct aqm *a, uint64_t sojourn_ns, uint64_t now_ns) {
  if (sojourn_ns < a->target_ns) {
    a->first_above_ns = 0;
    return false;
  }
  if (a->first_above_ns == 0) {
    a->first_above_ns = now_ns + a->interval_ns;
    return false;
  }
  return now_ns >= a->first_above_ns;
}

bool aqm_should_drop(struct aqm *a, uint64_t sojourn_ns, uint64_t now_ns) {
  bool ok = ok_to_drop(a, sojourn_ns, now_ns);
  if (a->dropping) {
    if (!ok) {
      a->dropping = false;
      return false;
    }
    if (now_ns < a->drop_next_ns) return false;
    a->count++;
    a->drop_next_ns = control_law(a, a->drop_next_ns);
    return true;
  }
  if (!ok) return false;
  a->dropping = true;
  // Back in a drop state soon after leaving one: start near the rate that was last needed.
  uint32_t delta = a->count - a->last_count;
  a->count = delta > 1 && now_ns - a->drop_next_ns < 16 * a->interval_ns ? delta : 1;
  a->last_count = a->count;
  a->drop_next_ns = control_law(a, now_ns);
  return true;
}

void aqm_queue_empty(struct aqm *a) {
  a->first_above_ns = 0;
  a->dropping = false;
}

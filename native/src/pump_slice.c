// A short scheduler slice for the thread of the lighter direction (issue #15.2). Under load a ping waits at
// each pump hop mostly for that hop's thread to get a CPU (bench/README.md, "Where a ping waits under load"):
// the reply's threads carry only ACKs, yet wait behind the bulk direction's threads and the applications at
// the same priority. Linux's EEVDF (6.12 and later) lets a thread ask for a shorter slice (sched_attr's
// sched_runtime for SCHED_OTHER); a thread with a shorter slice than the one running preempts it on waking.
// All pump threads asking for one cost 9% of one stream's throughput (a bulk thread then preempts whatever
// runs, for fewer packets each time), so here only a thread that moves little asks: each thread measures the
// bytes of its rounds over 20 ms windows and asks for the short slice below LIGHT_BPS, and for the kernel's
// default again above twice that. GANGWAY_LIGHT_SLICE_US (100..1000; unset or 0: off) sets the slice. Off by
// default: on 2 vCPUs it bought 0.7 ms of the CUBIC p99 under load for 9-12% of four streams (bench/README.md,
// "A short slice for the lighter direction's threads only"). A kernel before 6.12 ignores the request; macOS
// has no such call (its threads have the user-interactive QoS class).
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "pump_internal.h"

#define SLICE_US_MAX 1000
#define SLICE_US_MIN 100             // the kernel's own floor (it clamps below this)
#define WINDOW_NS (20 * 1000000ull)  // long enough to span bursts, short enough to follow a transfer starting
#define LIGHT_BPS (8u << 20)         // bytes a second: ACKs of a few Gbit/s, pings, DNS; bulk is 100 times more

uint64_t pump_light_slice_ns(void) {
  const char *v = getenv("GANGWAY_LIGHT_SLICE_US");
  if (!v || !*v) return 0;
  char *end;
  long us = strtol(v, &end, 10);
  if (*end != '\0' || us <= 0) return 0;
  if (us < SLICE_US_MIN) us = SLICE_US_MIN;
  return (uint64_t)(us > SLICE_US_MAX ? SLICE_US_MAX : us) * 1000;
}

static _Thread_local uint64_t window_start_ns, window_bytes;
static _Thread_local int light = -1;  // -1: not yet decided (the thread starts with the default slice)

#ifdef __linux__
// glibc 2.36 has no struct sched_attr (2.41 does); this is the kernel's first version of it (48 bytes).
struct slice_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
};

static void ask_slice(uint64_t slice_ns) {
  struct slice_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.sched_policy = 0;  // SCHED_OTHER
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
  a.sched_nice = errno ? 0 : nice;  // keep raise_priority's nice
  a.sched_runtime = slice_ns;       // 0: the kernel's default slice again
  syscall(SYS_sched_setattr, 0, &a, 0);  // best effort, like the nice
}
#endif

void pump_slice_round(struct pump *p, size_t round_bytes) {
  if (!p->light_slice_ns) return;
  window_bytes += round_bytes;
  uint64_t now = pump_mono_ns();
  if (window_start_ns == 0) window_start_ns = now;
  uint64_t span = now - window_start_ns;
  if (span < WINDOW_NS) return;
  uint64_t bps = window_bytes * 1000000000ull / span;
  window_start_ns = now;
  window_bytes = 0;
  int want = light == 1 ? bps < 2ull * LIGHT_BPS : bps < LIGHT_BPS;
  if (want == light) return;
  light = want;
#ifdef __linux__
  ask_slice(want ? p->light_slice_ns : 0);
#endif
}

// N-API glue: argument validation, the Pump class, and delivery of control datagrams to JavaScript through a
// thread-safe function. The only file that includes node_api.h; the contract is native/index.ts.
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>

#include "error.h"
#include "js_ruleset_watch.h"
#include "js_timer.h"
#include "napi_this.h"
#include "pump.h"
#include "sockaddr_util.h"
#include "src_filter.h"
#include "tun.h"

#define MTU_MIN 576
#define MTU_MAX 65507      // the largest UDP payload
#define SOCKBUF_MIN 4096
#define SOCKBUF_MAX (256 << 20)
#define CONTROL_QUEUE 256  // control datagrams waiting for the JS thread; more are dropped and counted
#define PEER_QUEUE 64      // the pinned peer's own queue: its keepalives never wait behind a stranger's flood
#define STRING_MAX 256

// ---- small helpers -------------------------------------------------------------------------------------

// Any N-API failure that is not a validation error: surface it rather than carry on with garbage.
#define NAPI_CALL(env, call)                                                          \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      bool pending = false;                                                           \
      napi_is_exception_pending((env), &pending);                                     \
      if (!pending) napi_throw_error((env), NULL, "gangway_native: " #call " failed"); \
      return NULL;                                                                    \
    }                                                                                 \
  } while (0)

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_error(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static bool is_type(napi_env env, napi_value v, napi_valuetype want) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == want;
}

static bool is_nullish(napi_env env, napi_value v) {
  return is_type(env, v, napi_undefined) || is_type(env, v, napi_null);
}

// Reads a string of at most STRING_MAX - 1 bytes; throws "<what> must be a string" otherwise.
static bool get_string(napi_env env, napi_value v, const char *what, char out[STRING_MAX]) {
  char msg[128];
  size_t len = 0;
  if (!is_type(env, v, napi_string) || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  if (len >= STRING_MAX) {
    snprintf(msg, sizeof msg, "%s is too long (%zu bytes)", what, len);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  napi_get_value_string_utf8(env, v, out, STRING_MAX, &len);
  return true;
}

// Reads an integer in [min, max]; throws a TypeError/RangeError naming `what` otherwise.
static bool get_int(napi_env env, napi_value v, const char *what, int64_t min, int64_t max, int64_t *out) {
  char msg[128];
  double d;
  // isfinite and the range check come before the cast: converting NaN or an out-of-range double to an
  // integer is undefined behaviour in C.
  if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok || !isfinite(d) ||
      (d >= (double)min && d <= (double)max && d != (double)(int64_t)d)) {
    snprintf(msg, sizeof msg, "%s must be an integer", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  if (d < (double)min || d > (double)max) {
    snprintf(msg, sizeof msg, "%s must be between %lld and %lld", what, (long long)min, (long long)max);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static bool get_prop(napi_env env, napi_value obj, const char *key, napi_value *out) {
  return napi_get_named_property(env, obj, key, out) == napi_ok;
}

// Optional integer property: absent (undefined) leaves *out alone.
static bool get_opt_int(napi_env env, napi_value obj, const char *key, const char *what, int64_t min, int64_t max,
                        int64_t *out) {
  napi_value v;
  if (!get_prop(env, obj, key, &v)) return false;
  if (is_type(env, v, napi_undefined)) return true;
  return get_int(env, v, what, min, max, out);
}

// Optional boolean property: absent (undefined) leaves *out alone.
static bool get_opt_bool(napi_env env, napi_value obj, const char *key, const char *what, bool *out) {
  napi_value v;
  if (!get_prop(env, obj, key, &v)) return false;
  if (is_type(env, v, napi_undefined)) return true;
  if (!is_type(env, v, napi_boolean)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return napi_get_value_bool(env, v, out) == napi_ok;
}

// ---- openTun -------------------------------------------------------------------------------------------

static napi_value open_tun(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[STRING_MAX];
  if (argc < 1 || !get_string(env, argv[0], "openTun: name", name)) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    return pending ? NULL : throw_type(env, "openTun: name must be a string");
  }
  bool offload = false, mac_like = false, multi_queue = false;
  if (argc >= 2 && !is_nullish(env, argv[1])) {
    if (!is_type(env, argv[1], napi_object)) return throw_type(env, "openTun: options must be an object");
    if (!get_opt_bool(env, argv[1], "offload", "openTun: options.offload", &offload) ||
        !get_opt_bool(env, argv[1], "macLike", "openTun: options.macLike", &mac_like) ||
        !get_opt_bool(env, argv[1], "multiQueue", "openTun: options.multiQueue", &multi_queue))
      return NULL;
    if (offload && mac_like) return throw_type(env, "openTun: options.offload and options.macLike exclude each other");
    if (multi_queue && mac_like)
      return throw_type(env, "openTun: options.multiQueue and options.macLike exclude each other (utun has one queue)");
  }

  struct tun_device dev;
  char err[ERRBUF_LEN];
#ifdef __linux__
  int rc = mac_like ? tun_open_framed(name, &dev, err) : tun_open(name, offload, multi_queue, &dev, err);
#else
  int rc = tun_open(name, offload, multi_queue, &dev, err);  // utun is framed and per-packet anyway
#endif
  if (rc < 0) return throw_error(env, err);

  napi_value result, fd, dev_name, dev_offload, dev_mac_like, dev_mq;
  if (napi_create_object(env, &result) != napi_ok || napi_create_int32(env, dev.fd, &fd) != napi_ok ||
      napi_create_string_utf8(env, dev.name, NAPI_AUTO_LENGTH, &dev_name) != napi_ok ||
      napi_get_boolean(env, dev.offload, &dev_offload) != napi_ok ||
      napi_get_boolean(env, dev.framed, &dev_mac_like) != napi_ok ||
      napi_get_boolean(env, dev.multi_queue, &dev_mq) != napi_ok ||
      napi_set_named_property(env, result, "fd", fd) != napi_ok ||
      napi_set_named_property(env, result, "name", dev_name) != napi_ok ||
      napi_set_named_property(env, result, "offload", dev_offload) != napi_ok ||
      napi_set_named_property(env, result, "macLike", dev_mac_like) != napi_ok ||
      napi_set_named_property(env, result, "multiQueue", dev_mq) != napi_ok) {
    close(dev.fd);  // nobody would ever learn the fd number
    return throw_error(env, "openTun: cannot build the result object");
  }
  return result;
}

// ---- Pump objects --------------------------------------------------------------------------------------

// What a JS Pump wraps. Freed when both its owners are done: the JS object (finalizer) and the thread-safe
// function (its finalizer runs after the last queued control datagram was delivered or dropped). Both run
// on the JS thread, so a plain counter suffices.
struct js_pump {
  struct pump *pump;
  napi_env env;
  napi_threadsafe_function tsfn;       // control datagrams from anyone but the pinned peer
  napi_threadsafe_function tsfn_peer;  // the pinned peer's
  int refs;
  bool closed;
  bool cleanup_hook;  // registered, so an env teardown without close() still joins the threads
};

struct control_msg {
  struct sockaddr_storage from;
  size_t len;
  uint8_t data[];
};

struct addon_data {
  napi_ref pump_ctor;
};

// Marks Pump construction as ours: `new Pump()` from JavaScript gets a TypeError.
static int construct_token;

static void js_pump_unref(struct js_pump *jp) {
  if (--jp->refs > 0) return;
  pump_destroy(jp->pump);
  free(jp);
}

static void env_cleanup(void *arg);

static void js_pump_close(struct js_pump *jp) {
  if (jp->closed) return;
  jp->closed = true;
  if (jp->pump) pump_close(jp->pump);  // joins the threads: nothing calls the tsfn after this
  // abort: control datagrams still queued are freed (call_js with env == NULL), not delivered after close().
  napi_release_threadsafe_function(jp->tsfn, napi_tsfn_abort);
  napi_release_threadsafe_function(jp->tsfn_peer, napi_tsfn_abort);
  if (jp->cleanup_hook) {
    jp->cleanup_hook = false;
    napi_remove_env_cleanup_hook(jp->env, env_cleanup, jp);
  }
}

static void env_cleanup(void *arg) {
  struct js_pump *jp = arg;
  jp->cleanup_hook = false;  // running now; removing it from inside itself is not allowed
  js_pump_close(jp);
}

// UDP -> TUN thread: copy the datagram and queue it for the JS thread. Never blocks.
static bool on_control(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *from, socklen_t from_len,
                       bool from_peer) {
  struct js_pump *jp = ctx;
  struct control_msg *m = malloc(sizeof *m + len);
  if (!m) return false;
  memset(&m->from, 0, sizeof m->from);
  memcpy(&m->from, from, from_len < sizeof m->from ? from_len : sizeof m->from);
  m->len = len;
  memcpy(m->data, data, len);
  if (napi_call_threadsafe_function(from_peer ? jp->tsfn_peer : jp->tsfn, m, napi_tsfn_nonblocking) != napi_ok) {
    free(m);  // napi_queue_full, or napi_closing during close()
    return false;
  }
  return true;
}

// JS thread: onControl(data, address, port). env is NULL when the tsfn is being torn down: Node then frees the
// leftover queue *after* tsfn_finalize, when jp may already be gone, so jp is only looked at when env is set.
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  struct js_pump *jp = context;
  struct control_msg *m = data;
  if (env && js_cb && !jp->closed) {
    char text[SOCKADDR_TEXT_MAX];
    uint16_t port;
    sockaddr_format((const struct sockaddr *)&m->from, text, &port);
    napi_value argv[3], undefined, result;
    void *copy;
    if (napi_create_buffer_copy(env, m->len, m->data, &copy, &argv[0]) == napi_ok &&
        napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &argv[1]) == napi_ok &&
        napi_create_uint32(env, port, &argv[2]) == napi_ok && napi_get_undefined(env, &undefined) == napi_ok) {
      if (napi_call_function(env, undefined, js_cb, 3, argv, &result) == napi_pending_exception) {
        // Same as an exception thrown by an event listener: it becomes an uncaught exception.
        napi_value exc;
        if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
      }
    }
  }
  free(m);
}

static void tsfn_finalize(napi_env env, void *finalize_data, void *hint) {
  (void)env;
  (void)hint;
  js_pump_unref(finalize_data);
}

static void wrap_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct js_pump *jp = data;
  js_pump_close(jp);  // a Pump nobody closed: stop its threads now
  js_pump_unref(jp);
}

// `this` of a Pump method, or a TypeError.
static struct js_pump *this_pump(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return napi_this(env, info, argc, argv, "not a Pump (call it as pump.method(...))");
}

static napi_value pump_ctor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *token = NULL;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || !is_type(env, argv[0], napi_external) || napi_get_value_external(env, argv[0], &token) != napi_ok ||
      token != &construct_token)
    return throw_type(env, "Pump objects are made by createPump()");
  return NULL;
}

static napi_value m_local_port(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct js_pump *jp = this_pump(env, info, &argc, NULL);
  if (!jp) return NULL;
  napi_value v;
  NAPI_CALL(env, napi_create_uint32(env, pump_local_port(jp->pump), &v));
  return v;
}

// Parses (address, port) for this pump's socket family. Port 0 is never a valid destination.
static bool get_endpoint(napi_env env, struct js_pump *jp, napi_value addr, napi_value port, const char *method,
                         struct sockaddr_storage *sa, socklen_t *sa_len) {
  char text[STRING_MAX], what[64], err[ERRBUF_LEN];
  int64_t p;
  snprintf(what, sizeof what, "%s: address", method);
  if (!get_string(env, addr, what, text)) return false;
  snprintf(what, sizeof what, "%s: port", method);
  if (!get_int(env, port, what, 1, 65535, &p)) return false;
  if (sockaddr_parse(text, (uint16_t)p, pump_family(jp->pump), sa, sa_len, err) < 0) {
    char msg[ERRBUF_LEN + 64];
    snprintf(msg, sizeof msg, "%s: %s", method, err);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

static napi_value m_set_peer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  struct js_pump *jp = this_pump(env, info, &argc, argv);
  if (!jp) return NULL;
  if (jp->closed) return throw_error(env, "setPeer: pump is closed");
  if (argc < 2) return throw_type(env, "setPeer(address, port) takes two arguments");
  struct sockaddr_storage sa;
  socklen_t len;
  if (!get_endpoint(env, jp, argv[0], argv[1], "setPeer", &sa, &len)) return NULL;
  pump_set_peer(jp->pump, (struct sockaddr *)&sa, len);
  return NULL;
}

static napi_value m_clear_peer(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct js_pump *jp = this_pump(env, info, &argc, NULL);
  if (!jp) return NULL;
  if (!jp->closed) pump_clear_peer(jp->pump);
  return NULL;
}

// setChecksumOffload({ leave, fill }): checksum offload across the tunnel (offload.h).
static napi_value m_set_checksum_offload(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct js_pump *jp = this_pump(env, info, &argc, argv);
  if (!jp) return NULL;
  if (argc < 1 || !is_type(env, argv[0], napi_object))
    return throw_type(env, "setChecksumOffload({ leave, fill }) takes an object");
  bool leave = false, fill = false;
  if (!get_opt_bool(env, argv[0], "leave", "setChecksumOffload: leave", &leave) ||
      !get_opt_bool(env, argv[0], "fill", "setChecksumOffload: fill", &fill))
    return NULL;
  if (jp->closed) {  // turning it off is a no-op on a closed pump, as clearPeer is
    return leave || fill ? throw_error(env, "setChecksumOffload: pump is closed") : NULL;
  }
  char err[ERRBUF_LEN], msg[ERRBUF_LEN + 32];
  if (pump_set_checksum_offload(jp->pump, leave, fill, err) < 0) {
    snprintf(msg, sizeof msg, "setChecksumOffload: %s", err);
    return throw_error(env, msg);
  }
  return NULL;
}

// setAllowedSources(prefixes | null): the inner sources data from the peer may carry.
static napi_value m_set_allowed_sources(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct js_pump *jp = this_pump(env, info, &argc, argv);
  if (!jp) return NULL;
  if (jp->closed) return throw_error(env, "setAllowedSources: pump is closed");
  if (argc < 1 || is_nullish(env, argv[0])) {
    pump_set_filter(jp->pump, NULL);
    return NULL;
  }
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &n) != napi_ok)
    return throw_type(env, "setAllowedSources: prefixes must be an array of strings, or null");
  if (n > 2 * SRC_FILTER_MAX) return throw_range(env, "setAllowedSources: too many prefixes");
  struct src_filter *f = calloc(1, sizeof *f);
  if (!f) return throw_error(env, "setAllowedSources: out of memory");
  f->on = true;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    char text[STRING_MAX], err[ERRBUF_LEN], msg[ERRBUF_LEN + 32];
    if (napi_get_element(env, argv[0], i, &v) != napi_ok ||
        !get_string(env, v, "setAllowedSources: each prefix", text)) {
      free(f);
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      return pending ? NULL : throw_type(env, "setAllowedSources: each prefix must be a string");
    }
    if (src_filter_add(f, text, err) < 0) {
      free(f);
      snprintf(msg, sizeof msg, "setAllowedSources: %s", err);
      return throw_type(env, msg);
    }
  }
  pump_set_filter(jp->pump, f);
  free(f);
  return NULL;
}

static napi_value m_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  struct js_pump *jp = this_pump(env, info, &argc, argv);
  if (!jp) return NULL;
  if (jp->closed) return throw_error(env, "send: pump is closed");
  if (argc < 3) return throw_type(env, "send(data, address, port) takes three arguments");
  void *data = NULL;
  size_t len = 0;
  bool is_typed = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &len, &data, &ab, &offset) != napi_ok || type != napi_uint8_array)
    return throw_type(env, "send: data must be a Buffer or Uint8Array");
  if (len == 0) return throw_range(env, "send: data is empty (a control datagram starts with its type byte)");
  uint8_t nibble = ((const uint8_t *)data)[0] >> 4;
  if (nibble == 4 || nibble == 6)
    return throw_range(env, "send: data starts with nibble 4 or 6, which the peer would take for an IP packet");
  if (len > MTU_MAX) return throw_range(env, "send: data is larger than one UDP datagram");
  struct sockaddr_storage sa;
  socklen_t sa_len;
  if (!get_endpoint(env, jp, argv[1], argv[2], "send", &sa, &sa_len)) return NULL;
  char err[ERRBUF_LEN];
  if (pump_send_control(jp->pump, data, len, (struct sockaddr *)&sa, sa_len, err) < 0) return throw_error(env, err);
  return NULL;
}

static napi_value stats_object(napi_env env, const pump_stats_t *s) {
  napi_value obj, v;
  NAPI_CALL(env, napi_create_object(env, &obj));
#define X(field, name)                                             \
  NAPI_CALL(env, napi_create_double(env, (double)s->field, &v)); \
  NAPI_CALL(env, napi_set_named_property(env, obj, name, v));
  PUMP_COUNTERS(X)
#undef X
  return obj;
}

static napi_value m_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct js_pump *jp = this_pump(env, info, &argc, NULL);
  if (!jp) return NULL;
  pump_stats_t s;
  pump_stats(jp->pump, &s);
  return stats_object(env, &s);
}

// queueStats(): one counters object per queue (stats() is their sum).
static napi_value m_queue_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct js_pump *jp = this_pump(env, info, &argc, NULL);
  if (!jp) return NULL;
  unsigned n = pump_queues(jp->pump);
  napi_value arr;
  NAPI_CALL(env, napi_create_array_with_length(env, n, &arr));
  for (unsigned i = 0; i < n; i++) {
    pump_stats_t s;
    pump_queue_stats(jp->pump, i, &s);
    napi_value obj = stats_object(env, &s);
    if (!obj) return NULL;
    NAPI_CALL(env, napi_set_element(env, arr, i, obj));
  }
  return arr;
}

// udpGsoFallbacks() and dataPackets(): what the agent looks at on every keepalive tick, without building the
// counters objects of stats() (their named properties were 7% of an idle agent's CPU).
static napi_value queue_sum(napi_env env, napi_callback_info info, uint64_t (*pick)(const pump_stats_t *)) {
  size_t argc = 0;
  struct js_pump *jp = this_pump(env, info, &argc, NULL);
  if (!jp) return NULL;
  uint64_t sum = 0;
  for (unsigned i = 0; i < pump_queues(jp->pump); i++) {
    pump_stats_t s;
    pump_queue_stats(jp->pump, i, &s);  // the threads' counters only; stats() also reads /proc
    sum += pick(&s);
  }
  napi_value v;
  NAPI_CALL(env, napi_create_double(env, (double)sum, &v));
  return v;
}

static uint64_t pick_gso_fallbacks(const pump_stats_t *s) { return s->udp_gso_fallback; }
// Data sent to the peer and written to the TUN: control datagrams have counters of their own, and what the
// pump drops (router solicitations, say) moved nothing.
static uint64_t pick_data_packets(const pump_stats_t *s) { return s->udp_tx_packets + s->tun_tx_packets; }

static napi_value m_udp_gso_fallbacks(napi_env env, napi_callback_info info) {
  return queue_sum(env, info, pick_gso_fallbacks);
}

static napi_value m_data_packets(napi_env env, napi_callback_info info) {
  return queue_sum(env, info, pick_data_packets);
}

static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct js_pump *jp = this_pump(env, info, &argc, NULL);
  if (!jp) return NULL;
  js_pump_close(jp);
  return NULL;
}

// ---- createPump ----------------------------------------------------------------------------------------

static napi_value create_pump(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &opts, NULL, NULL));
  if (argc < 1 || !is_type(env, opts, napi_object)) return throw_type(env, "createPump: options must be an object");

  struct pump_config cfg;
  memset(&cfg, 0, sizeof cfg);
  napi_value tun, v, on_control_fn;
  NAPI_CALL(env, napi_get_named_property(env, opts, "tun", &tun));
  if (!is_type(env, tun, napi_object)) return throw_type(env, "createPump: tun must be the object openTun returned");
  int64_t fd, port, mtu, rcvbuf = 0, sndbuf = 0, queues = 1;
  NAPI_CALL(env, napi_get_named_property(env, tun, "fd", &v));
  if (!get_int(env, v, "createPump: tun.fd", 0, INT32_MAX, &fd)) return NULL;
  NAPI_CALL(env, napi_get_named_property(env, tun, "offload", &v));
  if (!is_type(env, v, napi_boolean)) return throw_type(env, "createPump: tun.offload must be a boolean");
  NAPI_CALL(env, napi_get_value_bool(env, v, &cfg.offload));
  if (!get_opt_bool(env, tun, "macLike", "createPump: tun.macLike", &cfg.per_packet)) return NULL;
  if (!get_opt_int(env, opts, "queues", "createPump: queues", 1, PUMP_QUEUES_MAX, &queues)) return NULL;
  cfg.queues = (unsigned)queues;
  if (queues > 1) {
    bool mq = false;
    NAPI_CALL(env, napi_get_named_property(env, tun, "multiQueue", &v));
    if (is_type(env, v, napi_boolean)) NAPI_CALL(env, napi_get_value_bool(env, v, &mq));
    if (!mq)
      return throw_type(env, "createPump: queues > 1 needs a TUN opened with { multiQueue: true } (Linux only); "
                             "open it so, or pass queues: 1");
    NAPI_CALL(env, napi_get_named_property(env, tun, "name", &v));
    char tun_name[STRING_MAX];
    if (!get_string(env, v, "createPump: tun.name", tun_name)) return NULL;
    if (strlen(tun_name) >= TUN_NAME_MAX) return throw_type(env, "createPump: tun.name is too long");
    memcpy(cfg.tun_name, tun_name, strlen(tun_name) + 1);
  }

  char bind_text[STRING_MAX], err[ERRBUF_LEN];
  NAPI_CALL(env, napi_get_named_property(env, opts, "bindAddress", &v));
  if (!get_string(env, v, "createPump: bindAddress", bind_text)) return NULL;
  NAPI_CALL(env, napi_get_named_property(env, opts, "bindPort", &v));
  if (!get_int(env, v, "createPump: bindPort", 0, 65535, &port)) return NULL;
  NAPI_CALL(env, napi_get_named_property(env, opts, "mtu", &v));
  if (!get_int(env, v, "createPump: mtu", MTU_MIN, MTU_MAX, &mtu)) return NULL;
  if (!get_opt_int(env, opts, "rcvbuf", "createPump: rcvbuf", SOCKBUF_MIN, SOCKBUF_MAX, &rcvbuf)) return NULL;
  if (!get_opt_int(env, opts, "sndbuf", "createPump: sndbuf", SOCKBUF_MIN, SOCKBUF_MAX, &sndbuf)) return NULL;
  cfg.udp_offload = true;
  NAPI_CALL(env, napi_get_named_property(env, opts, "udpOffload", &v));
  if (!is_type(env, v, napi_undefined)) {
    if (!is_type(env, v, napi_boolean)) return throw_type(env, "createPump: udpOffload must be a boolean");
    NAPI_CALL(env, napi_get_value_bool(env, v, &cfg.udp_offload));
  }
  NAPI_CALL(env, napi_get_named_property(env, opts, "onControl", &on_control_fn));
  if (!is_type(env, on_control_fn, napi_function)) return throw_type(env, "createPump: onControl must be a function");

  if (sockaddr_parse(bind_text, (uint16_t)port, AF_UNSPEC, &cfg.bind_addr, &cfg.bind_len, err) < 0) {
    char msg[ERRBUF_LEN + 32];
    snprintf(msg, sizeof msg, "createPump: bindAddress: %s", err);
    return throw_type(env, msg);
  }
  if (fcntl((int)fd, F_GETFD) < 0) {
    snprintf(err, sizeof err, "createPump: tun.fd %lld is not an open file descriptor", (long long)fd);
    return throw_error(env, err);
  }
  cfg.tun_fd = (int)fd;
  cfg.mtu = (size_t)mtu;
  cfg.rcvbuf = (int)rcvbuf;
  cfg.sndbuf = (int)sndbuf;

  struct addon_data *ad = NULL;
  napi_value ctor, token, self;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&ad));
  NAPI_CALL(env, napi_get_reference_value(env, ad->pump_ctor, &ctor));
  NAPI_CALL(env, napi_create_external(env, &construct_token, NULL, NULL, &token));
  NAPI_CALL(env, napi_new_instance(env, ctor, 1, &token, &self));

  struct js_pump *jp = calloc(1, sizeof *jp);
  if (!jp) return throw_error(env, "createPump: out of memory");
  jp->env = env;
  napi_value resource_name;
  NAPI_CALL(env, napi_create_string_utf8(env, "gangway.pump.control", NAPI_AUTO_LENGTH, &resource_name));
  if (napi_create_threadsafe_function(env, on_control_fn, NULL, resource_name, CONTROL_QUEUE, 1, jp, tsfn_finalize,
                                      jp, call_js, &jp->tsfn) != napi_ok) {
    free(jp);
    return throw_error(env, "createPump: napi_create_threadsafe_function failed");
  }
  jp->refs = 1;  // the tsfn's
  if (napi_create_threadsafe_function(env, on_control_fn, NULL, resource_name, PEER_QUEUE, 1, jp, tsfn_finalize, jp,
                                      call_js, &jp->tsfn_peer) != napi_ok) {
    jp->closed = true;
    napi_release_threadsafe_function(jp->tsfn, napi_tsfn_abort);  // its finalizer frees jp
    return throw_error(env, "createPump: napi_create_threadsafe_function failed");
  }
  jp->refs++;  // the peer tsfn's

  cfg.on_control = on_control;
  cfg.control_ctx = jp;
  if (pump_create(&cfg, &jp->pump, err) < 0) {
    jp->closed = true;
    napi_release_threadsafe_function(jp->tsfn, napi_tsfn_abort);  // the two finalizers free jp
    napi_release_threadsafe_function(jp->tsfn_peer, napi_tsfn_abort);
    return throw_error(env, err);
  }
  if (napi_wrap(env, self, jp, wrap_finalize, NULL, NULL) != napi_ok) {
    js_pump_close(jp);
    return throw_error(env, "createPump: napi_wrap failed");
  }
  jp->refs++;  // the JS object's
  // Registered after the tsfn, so at env teardown it runs first (hooks run in reverse order): the threads
  // are joined before Node tears the tsfn down under them.
  if (napi_add_env_cleanup_hook(env, env_cleanup, jp) == napi_ok) jp->cleanup_hook = true;
  return self;
}

// ---- module --------------------------------------------------------------------------------------------

static void addon_data_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct addon_data *ad = data;
  napi_delete_reference(env, ad->pump_ctor);
  free(ad);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"localPort", NULL, m_local_port, NULL, NULL, NULL, napi_default, NULL},
      {"setPeer", NULL, m_set_peer, NULL, NULL, NULL, napi_default, NULL},
      {"clearPeer", NULL, m_clear_peer, NULL, NULL, NULL, napi_default, NULL},
      {"setAllowedSources", NULL, m_set_allowed_sources, NULL, NULL, NULL, napi_default, NULL},
      {"setChecksumOffload", NULL, m_set_checksum_offload, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, m_send, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, m_stats, NULL, NULL, NULL, napi_default, NULL},
      {"queueStats", NULL, m_queue_stats, NULL, NULL, NULL, napi_default, NULL},
      {"udpGsoFallbacks", NULL, m_udp_gso_fallbacks, NULL, NULL, NULL, napi_default, NULL},
      {"dataPackets", NULL, m_data_packets, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value ctor;
  NAPI_CALL(env, napi_define_class(env, "Pump", NAPI_AUTO_LENGTH, pump_ctor, NULL,
                                   sizeof methods / sizeof methods[0], methods, &ctor));
  struct addon_data *ad = calloc(1, sizeof *ad);
  if (!ad) return throw_error(env, "gangway_native: out of memory");
  if (napi_create_reference(env, ctor, 1, &ad->pump_ctor) != napi_ok ||
      napi_set_instance_data(env, ad, addon_data_finalize, NULL) != napi_ok) {
    free(ad);
    return throw_error(env, "gangway_native: cannot keep the Pump class");
  }
  napi_property_descriptor exported[] = {
      {"openTun", NULL, open_tun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createPump", NULL, create_pump, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, 2, exported));
  NAPI_CALL(env, js_timer_define(env, exports));
  NAPI_CALL(env, js_ruleset_watch_define(env, exports));
  return exports;
}

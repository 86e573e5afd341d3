// A one-shot timer for JavaScript whose restart moves the process's wake-up (issue #15.4, idle at zero).
//
// Node keeps one libuv timer for all of its setTimeout()s, armed for the earliest; clearTimeout() never moves it
// later. A deadline pushed back therefore still wakes the process once, for nothing: the agent's keepalive
// retry (400 ms after each keepalive, cancelled by the answer 2 ms later) and the helper's peer timeout
// (pushed back by each keepalive) cost one empty wake-up per keepalive each (strace, bench/README.md). Here
// every timer has its own libuv handle: uv_timer_start() re-arms it, and libuv takes its poll timeout from the
// armed timers on every turn, so a deadline moved later costs nothing until it is due.
#include "js_timer.h"

#include "napi_this.h"

#include <stdbool.h>
#include <stdlib.h>
#include <uv.h>

static void env_cleanup_hook(void *arg);

struct js_timer {
  napi_env env;
  uv_timer_t handle;
  napi_ref callback;
  // The JS object: strong while the timer is armed (an armed timer fires even if nobody else holds it, as a
  // setTimeout does), weak otherwise; the environment's cleanup uses it to unwrap the object.
  napi_ref self;
  bool held;
  napi_async_context async;
};

// Holds (or lets go of) the JS object while the timer is armed.
static void hold(struct js_timer *t, bool on) {
  if (t->held == on) return;
  uint32_t count;
  if ((on ? napi_reference_ref : napi_reference_unref)(t->env, t->self, &count) == napi_ok) t->held = on;
}

static void free_timer(uv_handle_t *h) { free(h->data); }

static void release(struct js_timer *t) {
  napi_delete_reference(t->env, t->callback);
  napi_delete_reference(t->env, t->self);
  napi_async_destroy(t->env, t->async);
  uv_close((uv_handle_t *)&t->handle, free_timer);  // the struct goes with the handle
}

// The JS object was collected.
static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct js_timer *t = data;
  napi_remove_env_cleanup_hook(env, env_cleanup_hook, t);
  release(t);
}

// The environment is going away (process exit, a worker ending) with the object still alive: unwrap it, so
// that the finalizer the environment's teardown would call does not find a freed struct.
static void env_cleanup_hook(void *arg) {
  struct js_timer *t = arg;
  napi_unwrap_ref(t->env, t->self);
  release(t);
}

// Calls the callback as setTimeout would: in its own async context, microtasks run after it, and an exception
// it throws becomes the process's uncaught exception.
static void on_timer(uv_timer_t *h) {
  struct js_timer *t = h->data;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  hold(t, false);  // before the call: the callback may start it again
  napi_value cb, recv, result;
  if (napi_get_reference_value(env, t->callback, &cb) == napi_ok && cb && napi_get_global(env, &recv) == napi_ok &&
      napi_make_callback(env, t->async, recv, cb, 0, NULL, &result) == napi_pending_exception) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static struct js_timer *this_timer(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return napi_this(env, info, argc, argv, "not a Timer (call it as timer.method(...))");
}

// start(ms): (re-)arms the timer to fire once, ms from now; a pending start is replaced.
static napi_value m_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct js_timer *t = this_timer(env, info, &argc, argv);
  if (!t) return NULL;
  double ms = -1;
  if (argc < 1 || napi_get_value_double(env, argv[0], &ms) != napi_ok || !(ms >= 0) || ms > 2147483647) {
    napi_throw_range_error(env, NULL, "start(ms): ms must be a number from 0 to 2147483647");
    return NULL;
  }
  // libuv counts from the loop's cached time, stale after a long synchronous stretch of JavaScript (an
  // execFileSync, say): the timer would fire that much early.
  uv_update_time(t->handle.loop);
  uv_timer_start(&t->handle, on_timer, (uint64_t)ms, 0);
  hold(t, true);
  return NULL;
}

// stop(): disarms it; a stopped timer does not keep the process alive.
static napi_value m_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct js_timer *t = this_timer(env, info, &argc, NULL);
  if (!t) return NULL;
  uv_timer_stop(&t->handle);
  hold(t, false);
  return NULL;
}

static napi_value timer_ctor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "Timer(callback): callback must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "Timer: no event loop");
    return NULL;
  }
  struct js_timer *t = calloc(1, sizeof *t);
  if (!t) {
    napi_throw_error(env, NULL, "Timer: out of memory");
    return NULL;
  }
  t->env = env;
  napi_value name;
  if (napi_create_string_utf8(env, "GangwayTimer", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, self, name, &t->async) != napi_ok) {
    free(t);
    napi_throw_error(env, NULL, "Timer: cannot create its async context");
    return NULL;
  }
  if (napi_create_reference(env, argv[0], 1, &t->callback) != napi_ok) {
    napi_async_destroy(env, t->async);
    free(t);
    napi_throw_error(env, NULL, "Timer: cannot keep the callback");
    return NULL;
  }
  uv_timer_init(loop, &t->handle);
  t->handle.data = t;
  if (napi_wrap(env, self, t, finalize, NULL, &t->self) != napi_ok) {
    napi_delete_reference(env, t->callback);
    napi_async_destroy(env, t->async);
    uv_close((uv_handle_t *)&t->handle, free_timer);
    napi_throw_error(env, NULL, "Timer: cannot wrap");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup_hook, t);
  return self;
}

napi_status js_timer_define(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"start", NULL, m_start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, m_stop, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value ctor;
  napi_status s = napi_define_class(env, "Timer", NAPI_AUTO_LENGTH, timer_ctor, NULL, 2, methods, &ctor);
  if (s != napi_ok) return s;
  return napi_set_named_property(env, exports, "Timer", ctor);
}

// The ruleset watch for JavaScript (issue #15.4, idle at zero): the VM agent's firewall rules are checked when
// the ruleset changed, not every few minutes on a timer that wakes the process for nothing.
//
// The notification socket (ruleset_watch_linux.c) is polled on the main thread's libuv loop: a change costs one
// wake-up, no change costs none, and there is no thread. The handle is unreferenced: a watch never keeps the
// process alive. The callback gets (changes, overflowed, error): `changes` datagrams read, `overflowed` when
// the kernel dropped some, `error` (a string) when reading failed, after which the watch is closed.
#include "js_ruleset_watch.h"

#include "napi_this.h"
#include "ruleset_watch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

// Datagrams read per wake-up before the loop gets its turn back (more wait: libuv polls again at once).
#define READS_PER_WAKEUP 256

static void env_cleanup_hook(void *arg);

struct js_watch {
  napi_env env;
  uv_poll_t handle;
  int fd;
  bool closed;
  napi_ref callback;
  napi_ref self;  // weak: the cleanup hook unwraps the object through it
  napi_async_context async;
};

static void free_watch(uv_handle_t *h) {
  struct js_watch *w = h->data;
  close(w->fd);  // only now: libuv must not be polling a closed (and perhaps reused) descriptor
  free(w);
}

// Stops polling; the struct and the fd go when libuv has closed the handle.
static void stop(struct js_watch *w) {
  if (w->closed) return;
  w->closed = true;
  uv_poll_stop(&w->handle);
}

static void release(struct js_watch *w) {
  stop(w);
  napi_delete_reference(w->env, w->callback);
  napi_delete_reference(w->env, w->self);
  napi_async_destroy(w->env, w->async);
  uv_close((uv_handle_t *)&w->handle, free_watch);
}

// The JS object was collected: nobody can hear about changes any more.
static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct js_watch *w = data;
  napi_remove_env_cleanup_hook(env, env_cleanup_hook, w);
  release(w);
}

// The environment is going away with the object still alive (as in js_timer.c): unwrap it first, so that the
// finalizer the teardown would call does not find a freed struct.
static void env_cleanup_hook(void *arg) {
  struct js_watch *w = arg;
  napi_unwrap_ref(w->env, w->self);
  release(w);
}

// Calls back as any libuv callback into JS: its own async context, microtasks after it, and an exception it
// throws becomes the process's uncaught exception.
static void call_back(struct js_watch *w, int changes, bool overflowed, const char *error) {
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result, argv[3];
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && cb && napi_get_global(env, &recv) == napi_ok &&
      napi_create_int32(env, changes, &argv[0]) == napi_ok && napi_get_boolean(env, overflowed, &argv[1]) == napi_ok &&
      (error ? napi_create_string_utf8(env, error, NAPI_AUTO_LENGTH, &argv[2]) : napi_get_undefined(env, &argv[2])) ==
          napi_ok &&
      napi_make_callback(env, w->async, recv, cb, 3, argv, &result) == napi_pending_exception) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  struct js_watch *w = h->data;
  char errbuf[ERRBUF_LEN];
  bool overflowed = false;
  int changes = ruleset_watch_drain(w->fd, READS_PER_WAKEUP, &overflowed, errbuf);
  if (changes >= 0 && status < 0) {
    // An overflow is an error pending on the socket (ENOBUFS), which poll reports as POLLERR; libuv then stops
    // the handle and says UV_EBADF. Once the drain has read the ENOBUFS the socket goes on, and so does the
    // watch. Any other POLLERR would be there again at once: that ends the watch rather than spin.
    int rc = overflowed ? uv_poll_start(&w->handle, UV_READABLE, on_readable) : status;
    if (rc < 0) {
      snprintf(errbuf, sizeof errbuf, "poll(nf_tables notifications): %s", uv_strerror(rc));
      changes = -1;
    }
  }
  if (changes < 0) {
    stop(w);
    call_back(w, 0, false, errbuf);
  } else if (changes > 0 || overflowed) {
    call_back(w, changes, overflowed, NULL);
  }
}

// close(): stops the watch; idempotent. The callback is not called after it.
static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct js_watch *w = napi_this(env, info, &argc, NULL, "not a RulesetWatch (call it as watch.close())");
  if (w) stop(w);
  return NULL;
}

static napi_value watch_ctor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "RulesetWatch(callback): callback must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "RulesetWatch: no event loop");
    return NULL;
  }
  char errbuf[ERRBUF_LEN];
  int fd = ruleset_watch_open(errbuf);
  if (fd < 0) {
    napi_throw_error(env, NULL, errbuf);
    return NULL;
  }
  struct js_watch *w = calloc(1, sizeof *w);
  napi_value name;
  if (!w || napi_create_string_utf8(env, "GangwayRulesetWatch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, self, name, &w->async) != napi_ok) {
    free(w);
    close(fd);
    napi_throw_error(env, NULL, "RulesetWatch: cannot create its async context");
    return NULL;
  }
  w->env = env;
  w->fd = fd;
  if (napi_create_reference(env, argv[0], 1, &w->callback) != napi_ok) {
    napi_async_destroy(env, w->async);
    free(w);
    close(fd);
    napi_throw_error(env, NULL, "RulesetWatch: cannot keep the callback");
    return NULL;
  }
  int rc = uv_poll_init(loop, &w->handle, fd);
  if (rc < 0) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->async);
    free(w);
    close(fd);
    snprintf(errbuf, sizeof errbuf, "RulesetWatch: uv_poll_init: %s", uv_strerror(rc));
    napi_throw_error(env, NULL, errbuf);
    return NULL;
  }
  w->handle.data = w;
  uv_unref((uv_handle_t *)&w->handle);
  if (napi_wrap(env, self, w, finalize, NULL, &w->self) != napi_ok) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->async);
    w->closed = true;
    uv_close((uv_handle_t *)&w->handle, free_watch);
    napi_throw_error(env, NULL, "RulesetWatch: cannot wrap");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup_hook, w);
  uv_poll_start(&w->handle, UV_READABLE, on_readable);
  return self;
}

napi_status js_ruleset_watch_define(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value ctor;
  napi_status s = napi_define_class(env, "RulesetWatch", NAPI_AUTO_LENGTH, watch_ctor, NULL, 1, methods, &ctor);
  if (s != napi_ok) return s;
  return napi_set_named_property(env, exports, "RulesetWatch", ctor);
}

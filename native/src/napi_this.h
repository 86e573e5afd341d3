// `this` of a wrapped class's method (Pump, Timer, RulesetWatch): its native struct, or a TypeError with
// `not_this`; and the unwrap a cleanup hook needs.
#ifndef GANGWAY_NAPI_THIS_H
#define GANGWAY_NAPI_THIS_H

#include <node_api.h>

static inline void *napi_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                              const char *not_this) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &data) != napi_ok ||
      !data) {
    napi_throw_type_error(env, NULL, not_this);
    return NULL;
  }
  return data;
}

// Unwraps the object `self` refers to, if it is still alive: for an environment cleanup hook that frees the
// native struct itself, so that the finalizer the environment's teardown would call does not find it freed.
static inline void napi_unwrap_ref(napi_env env, napi_ref self) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value obj;
  void *unused;
  if (napi_get_reference_value(env, self, &obj) == napi_ok && obj) napi_remove_wrap(env, obj, &unused);
  napi_close_handle_scope(env, scope);
}

#endif

// `this` of a wrapped class's method (Pump, Timer): its native struct, or a TypeError with `not_this`.
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

#endif

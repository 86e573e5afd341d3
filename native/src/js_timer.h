// Timer: a one-shot libuv timer for JavaScript that can be moved later without waking the process (js_timer.c).
#ifndef GANGWAY_JS_TIMER_H
#define GANGWAY_JS_TIMER_H

#include <node_api.h>

// Adds the class `Timer` (new Timer(callback); start(ms); stop()) to exports.
napi_status js_timer_define(napi_env env, napi_value exports);

#endif

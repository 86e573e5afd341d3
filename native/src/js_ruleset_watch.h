// RulesetWatch: calls JavaScript when the network namespace's nf_tables ruleset changed (js_ruleset_watch.c).
#ifndef GANGWAY_JS_RULESET_WATCH_H
#define GANGWAY_JS_RULESET_WATCH_H

#include <node_api.h>

// Adds the class `RulesetWatch` (new RulesetWatch(callback); close()) to exports.
napi_status js_ruleset_watch_define(napi_env env, napi_value exports);

#endif

{
  # Plain C N-API addon: no node-addon-api, nothing downloaded. Headers come from npm's nodedir (/usr).
  "targets": [
    {
      "target_name": "gangway_native",
      "sources": [
        "src/addon.c",
        "src/checksum.c",
        "src/pump.c",
        "src/pump_tun2udp.c",
        "src/pump_udp2tun.c",
        "src/pump_slice.c",
        "src/sockaddr_util.c",
        "src/src_filter.c",
        "src/ctrl_limit.c",
        "src/udp_each.c",
        "src/udp_peer.c",
        "src/aqm.c",
        "src/fq.c",
        "src/js_timer.c",
        "src/js_ruleset_watch.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-pthread"],
      # node's common.gypi adds -Wno-unused-parameter and (for Release) -O3; we want neither.
      "cflags!": ["-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "configurations": {
        "Release": { "cflags!": ["-O3"], "cflags": ["-O2"] }
      },
      "ldflags": ["-pthread"],
      "conditions": [
        [
          "OS=='linux'",
          {
            "sources": ["src/tun_linux.c", "src/udp_linux.c", "src/flow_steer_linux.c", "src/offload_linux.c",
                        "src/ruleset_watch_linux.c"]
          }
        ],
        [
          "OS=='mac'",
          {
            "sources": ["src/tun_darwin.c", "src/udp_darwin.c", "src/udp_rx_time.c", "src/ruleset_watch_darwin.c"],
            "xcode_settings": {
              "GCC_C_LANGUAGE_STANDARD": "gnu11",
              "OTHER_CFLAGS": ["-Wall", "-Wextra", "-Werror", "-O2"]
            }
          }
        ]
      ]
    }
  ]
}

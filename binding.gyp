{
  # wasmvs TUN/TAP addon: plain C against Node-API (no C++, no node-addon-api).
  # Build: `npm install` (npm runs `node-gyp rebuild` for a root binding.gyp) or `npx node-gyp rebuild`.
  # Output: build/Release/wasmvs_tun.node, loaded by host/native/tun.ts (and steer.ts: the steering eBPF program).
  "targets": [
    {
      "target_name": "wasmvs_tun",
      "sources": ["host/native/tun.c", "host/native/steer.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-O3"],
      "conditions": [
        ["OS!='linux'", {
          # TUN/TAP through /dev/net/tun is Linux only; the .ts binding reports a missing addon elsewhere.
          "type": "none",
          "sources!": ["host/native/tun.c", "host/native/steer.c"]
        }]
      ]
    }
  ]
}

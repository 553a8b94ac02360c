# examples/edge/workerd/config.capnp - run examples/edge/workerd/worker.js in workerd:
#   WASMVS_CONFIG='{"sched":"mh","upstreams":[{"url":"https://a.example"},{"url":"https://b.example"}]}' \
#   npx workerd serve config.capnp --socket-addr http=127.0.0.1:8080
# The paths are those of a project with wasmvs in node_modules (this file in its root).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .balancer),
    # where the worker's fetch() may go: public addresses only
    (name = "upstreams", network = (allow = ["public"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8080", http = (), service = "main")],
);

const balancer :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    # the package's edge module and its engine as a compiled wasm module
    (name = "wasmvs/edge", esModule = embed "node_modules/wasmvs/dist/edge/wasmvs-edge.js"),
    (name = "wasmvs/release.wasm", wasm = embed "node_modules/wasmvs/wasm/release.wasm"),
  ],
  bindings = [(name = "WASMVS_CONFIG", fromEnvironment = "WASMVS_CONFIG")],
  globalOutbound = "upstreams",
);

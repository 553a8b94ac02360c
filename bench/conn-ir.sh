#!/bin/sh
# bench/conn-ir.sh [new|est] [N_A N_B] - instructions per new conn / per established packet
# (callgrind, two runs differenced: docs/engine.md "Counting instructions"). Needs valgrind and
# a build (npm run build). Takes one to three minutes a mode.
set -e
cd "$(dirname "$0")/.."
mode=${1:-new}; na=${2:-16384}; nb=${3:-49152}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# the release build with names (asc --debug adds the name section; the code is the same bytes)
npx asc assembly/index.ts --target release --debug -o "$tmp/named.wasm" >/dev/null
for n in $na $nb; do
  WVS_IR_WASM="$tmp/named.wasm" valgrind --tool=callgrind --dump-instr=yes --compress-pos=no \
    --compress-strings=no --callgrind-out-file="$tmp/cg.$n" \
    node --no-liftoff --perf-basic-prof dist/bench/conn-ir.js "$mode" "$n" 2>/dev/null
done
node dist/bench/conn-ir-report.js "$tmp/cg.$na" "$na" "$tmp/cg.$nb" "$nb"
for f in "$tmp"/cg.*; do rm -f "/tmp/perf-$(sed -n 's/^pid: //p' "$f").map"; done

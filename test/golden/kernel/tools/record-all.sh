#!/bin/bash
# record-all.sh [CASE...]  (default: all cases, in this order)
# Builds each case (build-case.sh), runs it in the kernel oracle VM (one VM at
# a time), replaces recorded/<case>/ with the outputs, then post-processes:
# pcaps -> *.jsonl (pcap2jsonl.py), tcp-states.jsonl -> transitions.json.
# Needs root and the kernel-oracle setup (see /work/shared/kernel-oracle/README.md).
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
RUN=${KO_RUN:-/work/shared/kernel-oracle/run.sh}
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(tcp-states conn-reuse timeouts-udp nat-bytes nat6 sched adm-formats persist-tun tun-frag sctp fwmark local-answers ops nat-frag nat-frag-expire frag-tun sysctl gso-tun keepalived-start keepalived-checks sync sync-feed sync-modes defense)
declare -A TMO=([tcp-states]=1500 [conn-reuse]=900 [timeouts-udp]=600 [nat-bytes]=300 [nat6]=300 [sched]=900 [adm-formats]=300 [persist-tun]=300 [tun-frag]=300 [sctp]=900 [fwmark]=300 [local-answers]=300 [ops]=300 [nat-frag]=300 [nat-frag-expire]=300 [frag-tun]=300 [sysctl]=300 [gso-tun]=300 [keepalived-start]=300 [keepalived-checks]=300 [sync]=300 [sync-feed]=300 [sync-modes]=300 [defense]=300)
rc=0
for c in "${CASES[@]}"; do
  "$HERE/tools/build-case.sh" "$c" || exit 2
  out="$HERE/recorded/$c"
  rm -rf "$out.new"
  "$RUN" -t "${TMO[$c]:-600}" -o "$out.new" "$HERE/build/$c.sh" > /dev/null
  r=$?
  if [ $r != 0 ]; then echo "$c: run.sh rc=$r (kept old recorded/$c; new output in $out.new)" >&2; rc=1; continue; fi
  rm -rf "$out"; mv "$out.new" "$out"
  for p in "$out"/*.pcap; do [ -e "$p" ] && python3 "$HERE/tools/pcap2jsonl.py" "$p" > "${p%.pcap}.jsonl"; done
  [ "$c" = tcp-states ] && python3 "$HERE/tools/derive-tcp-table.py" "$out/tcp-states.jsonl" > "$out/transitions.json"
  echo "$c: recorded in $out"
done
exit $rc

# Case d-sched-load (wasmvs, test/golden/sched): scheduler choices that depend on load and on
# dest changes: lc/wlc/sed/nq/fo/ovf/lblc/lblcr SYN by SYN, an upper threshold (-x), a
# quiesced dest (-w 0), and sh/mh/lc after a dest is deleted or quiesced (with and without
# the -fallback flag).
# Run: /work/shared/kernel-oracle/run.sh -t 600 -o test/golden/sched/d-sched-load test/golden/sched/cases/d-sched-load.sh
# Dests never answer, so every conn stays SYN_RECV (counted in InActConn).
# Probe k of a run comes from 198.19.(k/250).(k%250+1):(10000+k), sent in k order.
# Output sched-load.jsonl, one JSON object per run:
#   {"run":N,"sched":"wlc","flags":"","port":9001,"dests":[{"addr":"198.18.1.1:80","weight":1,"x":0},...],
#    "cut":K,"op":"del 198.18.1.2:80"|"w0 198.18.1.2:80"|"","n":N,
#    "conns":[["198.19.0.1:10001","198.18.1.3:80"],...]}
# (dests in -a order; op applied after probes 1..cut; a probe without a conn got no dest).
. /host/lib/lib-net.sh
net_setup
VIP=198.18.0.100
RUN=0
: > sched-load.jsonl
probes() { # $1 first $2 last -> "src sport" lines
  awk -v a="$1" -v b="$2" 'BEGIN{for(k=a;k<=b;k++) printf "198.19.%d.%d %d\n", int(k/250), k%250+1, 10000+k}'
}
send() { probes $1 $2 | ip netns exec cli synsend $VIP $PORT; sleep 0.3; }
# one_run SCHED FLAGS "a:w[:x] ..." N [CUT "OP ADDR"]
one_run() {
  sched=$1 flags=$2 dests=$3 n=$4 cut=${5:-0} op=${6:-}
  RUN=$((RUN+1)); PORT=$((9000+RUN))
  fl=; [ -n "$flags" ] && fl="-b $flags"
  ipvsadm -A -t $VIP:$PORT -s $sched $fl
  dj=
  for d in $dests; do
    a=${d%%:*}; rest=${d#*:}; w=${rest%%:*}; x=0
    [ "$rest" != "$w" ] && x=${rest#*:}
    xo=; [ "$x" != 0 ] && xo="-x $x"
    ipvsadm -a -t $VIP:$PORT -r $a:80 -m -w $w $xo
    dj="$dj${dj:+,}{\"addr\":\"$a:80\",\"weight\":$w,\"x\":$x}"
  done
  if [ -n "$op" ]; then
    send 1 $cut
    set -- $op
    case $1 in
      del) ipvsadm -d -t $VIP:$PORT -r $2 ;;
      w0) ipvsadm -e -t $VIP:$PORT -r $2 -m -w 0 ;;
    esac
    send $((cut+1)) $n
  else
    send 1 $n
  fi
  sleep 0.5
  cj=$(ipvsadm -L -n -c | awk -v p=":$PORT\$" '$1=="TCP" && $5 ~ p {printf "%s[\"%s\",\"%s\"]", (n++?",":""), $4, $6}')
  echo "{\"run\":$RUN,\"sched\":\"$sched\",\"flags\":\"$flags\",\"port\":$PORT,\"dests\":[$dj],\"cut\":$cut,\"op\":\"$op\",\"n\":$n,\"conns\":[$cj]}" >> sched-load.jsonl
  echo "run $RUN: $sched [$flags] [$dests] n=$n op=[$op] conns=$(echo "$cj" | grep -o '\]' | wc -l)"
  ipvsadm -L -n -t $VIP:$PORT | tail -n +4
}
D123="198.18.1.1:1 198.18.1.2:2 198.18.1.3:3"
one_run lc "" "198.18.1.1:1 198.18.1.2:1 198.18.1.3:1" 30
one_run wlc "" "$D123" 60
one_run wlc "" "198.18.1.1:3 198.18.1.2:0 198.18.1.3:1" 30
one_run wlc "" "198.18.1.1:1 198.18.1.2:2 198.18.1.3:3:5" 40
one_run sed "" "$D123" 30
one_run nq "" "$D123" 30
one_run fo "" "198.18.1.1:2 198.18.1.2:5 198.18.1.3:5" 20
one_run ovf "" "198.18.1.1:2 198.18.1.2:5 198.18.1.3:5" 20
one_run lblc "" "$D123" 20
one_run lblcr "" "$D123" 20
one_run lc "" "198.18.1.1:1 198.18.1.2:1 198.18.1.3:1" 30 15 "del 198.18.1.2:80"
one_run wlc "" "$D123" 40 20 "w0 198.18.1.3:80"
one_run mh "" "$D123" 300 100 "del 198.18.1.2:80"
one_run mh "" "$D123" 300 100 "w0 198.18.1.2:80"
one_run mh "mh-fallback" "$D123" 300 100 "w0 198.18.1.2:80"
one_run sh "" "$D123" 300 100 "del 198.18.1.2:80"
one_run sh "sh-fallback" "$D123" 300 100 "w0 198.18.1.2:80"
one_run mh "mh-fallback,mh-port" "198.18.1.1:4 198.18.1.2:6 198.18.1.3:10" 300 100 "w0 198.18.1.3:80"
echo "runs: $RUN"

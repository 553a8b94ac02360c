# Case sched: rr and wrr choices, SYN by SYN. Each run is its own NAT service
# 198.18.2.3:(5000+run) -s SCHED with dests 198.18.1.2x:80 (silent, never
# answer) added with -a in the order given. SYNs are sent one at a time by
# synsend from netns cli from client 198.19.6.1, source ports 10001, 10002,
# ... (in that order); after CUT SYNs an optional change is made (del = -d,
# w0 = -e -w 0, w = -e -w W, add = -a), then the rest are sent. The chosen
# dest per client port is read from ipvsadm -L -n -c. One JSON line per run
# in sched.jsonl; kernel_order is the service's dest list as the kernel keeps
# it (/proc/net/ip_vs, which ipvsadm -L does not re-sort... /proc is read
# directly here).
golden_setup
J=sched.jsonl; : > $J
VIP=198.18.2.3; R=0
korder() { # $1 port -> JSON array of the dests of VIP:port in kernel order
  awk -v svc="$(hex4 $VIP):$(hexport $1)" '
  function h2d(h,   i, v) { v = 0; for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1; return v }
  function ip(h) { return h2d(substr(h,1,2)) "." h2d(substr(h,3,2)) "." h2d(substr(h,5,2)) "." h2d(substr(h,7,2)) }
  $1 == "TCP" || $1 == "UDP" || $1 == "FWM" { on = ($2 == svc); next }
  on && $1 == "->" && $2 != "RemoteAddress:Port" { split($2, a, ":"); o = o (o ? "," : "") sprintf("{\"dest\":\"%s:%d\",\"weight\":%s}", ip(a[1]), h2d(a[2]), $4) }
  END { printf "[%s]", o }' /proc/net/ip_vs
}
syns() { # $1 port $2 first $3 last
  k=$2; : > /tmp/syns
  while [ $k -le $3 ]; do echo "198.19.6.1 $((10000 + k))" >> /tmp/syns; k=$((k + 1)); done
  ip netns exec cli synsend $VIP $1 < /tmp/syns
  sleep 0.1
}
# sched_run SCHED "ADDR:W ..." NSYN [CUT OP ARG [W]]
sched_run() {
  SCH=$1; DL=$2; NS=$3; CUT=${4:-0}; OP=${5:-}; ARG=${6:-}; W=${7:-}
  R=$((R + 1)); P=$((5000 + R))
  ipvsadm -A -t $VIP:$P -s $SCH
  ADDS=
  for d in $DL; do
    a=198.18.1.${d%%:*}; w=${d#*:}
    ipvsadm -a -t $VIP:$P -r $a:80 -m -w $w
    ADDS="$ADDS${ADDS:+,}{\"dest\":\"$a:80\",\"weight\":$w}"
  done
  K0=$(korder $P)
  MOD=null
  if [ -n "$OP" ]; then
    syns $P 1 $CUT
    a=198.18.1.$ARG:80
    case $OP in
      del) ipvsadm -d -t $VIP:$P -r $a; MOD="{\"op\":\"del\",\"dest\":\"$a\",\"after\":$CUT}" ;;
      w0)  ipvsadm -e -t $VIP:$P -r $a -m -w 0; MOD="{\"op\":\"edit\",\"dest\":\"$a\",\"weight\":0,\"after\":$CUT}" ;;
      w)   ipvsadm -e -t $VIP:$P -r $a -m -w $W; MOD="{\"op\":\"edit\",\"dest\":\"$a\",\"weight\":$W,\"after\":$CUT}" ;;
      add) ipvsadm -a -t $VIP:$P -r $a -m -w $W; MOD="{\"op\":\"add\",\"dest\":\"$a\",\"weight\":$W,\"after\":$CUT}" ;;
    esac
    syns $P $((CUT + 1)) $NS
  else
    syns $P 1 $NS
  fi
  K1=$(korder $P)
  CH=$(ipvsadm -L -n -c | grep " $VIP:$P " | awk '{ split($4, c, ":"); print c[2], $6 }' | sort -n |
       awk '{ p = p (p ? "," : "") $1; d = d (d ? "," : "") "\"" $2 "\"" } END { printf "\"client_ports\":[%s],\"chosen\":[%s]", p, d }')
  printf '{"run":%d,"sched":"%s","vip":"%s:%d","nsyn":%d,"adds":[%s],"kernel_order":%s,"mod":%s,"kernel_order_after":%s,%s}\n' \
    $R $SCH $VIP $P $NS "$ADDS" "$K0" "$MOD" "$K1" "$CH" >> $J
  echo "run $R: $SCH [$DL] n=$NS mod=$OP $ARG $W after $CUT: $(tail -n 1 $J | grep -o '"chosen":.*' | sed 's/198\.18\.1\.//g; s/:80//g')"
}
# plain cycles
sched_run rr "21:1 22:1 23:1" 12
sched_run rr "23:1 21:1 22:1" 12
sched_run rr "21:1 22:0 23:1" 12
sched_run rr "21:3 22:1 23:2" 12
sched_run wrr "21:1 22:2 23:3" 12
sched_run wrr "23:3 22:2 21:1" 12
sched_run wrr "21:4 22:3 23:2" 18
sched_run wrr "23:2 22:3 21:4" 18
sched_run wrr "21:5 22:0 23:1" 12
sched_run wrr "21:1 22:1 23:1" 12
sched_run wrr "21:100 22:50 23:1" 302
sched_run wrr "21:2 22:2 23:4 24:4 25:6" 36
sched_run wrr "21:2 22:2 23:4 24:4 25:6 26:6" 48
sched_run wrr "21:2 22:4 23:6" 24
sched_run wrr "21:0 22:0 23:0" 3
sched_run rr "21:0 22:0 23:0" 3
# mid-run changes
for cut in 1 2; do
  for d in 21 22 23; do sched_run rr "21:1 22:1 23:1" $((cut + 9)) $cut del $d; done
  for d in 21 22 23; do sched_run rr "21:1 22:1 23:1" $((cut + 9)) $cut w0 $d; done
  sched_run rr "21:1 22:1 23:1" $((cut + 12)) $cut add 24 1
  sched_run rr "21:1 22:1 23:1" $((cut + 9)) $cut w 22 3
done
for cut in 2 4; do
  for d in 21 22 23; do sched_run wrr "21:1 22:2 23:3" $((cut + 18)) $cut del $d; done
  for d in 21 22 23; do sched_run wrr "21:1 22:2 23:3" $((cut + 18)) $cut w0 $d; done
  sched_run wrr "21:1 22:2 23:3" $((cut + 24)) $cut add 24 2
  sched_run wrr "21:1 22:2 23:3" $((cut + 24)) $cut w 21 5
done
for d in 21 22 23; do sched_run wrr "21:4 22:3 23:2" 30 3 del $d; done
for d in 21 22 23; do sched_run wrr "21:4 22:3 23:2" 30 3 w0 $d; done
sched_run wrr "21:4 22:3 23:2" 30 3 add 24 5
sched_run wrr "21:4 22:3 23:2" 30 3 w 23 9
echo "=== $R runs"

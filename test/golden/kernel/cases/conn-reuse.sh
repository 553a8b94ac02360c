# Case conn-reuse: what a new SYN does to an existing conn with the same
# client addr:port, per state and per conn_reuse_mode. Each sequence has its
# own service 198.18.2.4:(2000+N) -s rr with TWO dests (NAT: 198.18.1.11 and
# .13, DR: .12 and .14, same port), so a conn re-created by the SYN goes to
# the other dest (rr), while a conn that is kept keeps its dest. "i:"/"o:"
# packets as in tcp-states ("o:" is sent from the conn's current dest).
# conn-reuse.jsonl: jsnap lines labelled "N MODE FWD PREFIX | before SYN",
# "... | after SYN" (50 ms), "... | 1.1 s after SYN"; then one line per
# service {"stats":...} with ipvsadm --stats --exact (read after 2.5 s, when
# the kernel has folded the per-CPU counters): "conns" = conns ever created.
golden_setup
start_senders
J=conn-reuse.jsonl; : > $J
VIP=198.18.2.4; CLI=198.19.0.4; N=0
pkt() {
  d=${1%%:*}; f=${1#*:}
  RS=$(ipvsadm -L -n -c | grep " $CLI:$CPORT " | head -n 1 | awk '{ split($6, a, ":"); print a[1] }')
  case $d in
  i) if [ "$f" = S ]; then s=1000 a=0; else s=1001 a=5001; fi
     send_cli tcp $CLI $CPORT $VIP $VPORT $f $s $a ;;
  o) case $f in S) s=5000 a=0;; SA) s=5000 a=1001;; *) s=5001 a=1001;; esac
     send_dst tcp $RS $VPORT $CLI $CPORT $f $s $a ;;
  esac
  sleep 0.05
}
reuse_seq() { # $1 nat|dr, prefix tokens...
  FWD=$1; shift
  N=$((N + 1)); VPORT=$((2000 + N)); CPORT=$((30000 + N))
  ipvsadm -A -t $VIP:$VPORT -s rr
  if [ $FWD = nat ]; then
    ipvsadm -a -t $VIP:$VPORT -r 198.18.1.11:$VPORT -m; ipvsadm -a -t $VIP:$VPORT -r 198.18.1.13:$VPORT -m
  else
    ipvsadm -a -t $VIP:$VPORT -r 198.18.1.12:$VPORT -g; ipvsadm -a -t $VIP:$VPORT -r 198.18.1.14:$VPORT -g
  fi
  for t in "$@"; do pkt $t; done
  L="$N reuse_mode=$MODE $FWD $* + i:S"
  jsnap $J "$L | before SYN" $CLI $CPORT -t $VIP:$VPORT
  pkt i:S
  jsnap $J "$L | after SYN" $CLI $CPORT -t $VIP:$VPORT
  sleep 1.1
  jsnap $J "$L | 1.1 s after SYN" $CLI $CPORT -t $VIP:$VPORT
}
ES="i:S o:SA i:A"
for MODE in 1 0 2 3; do
  echo $MODE > /proc/sys/net/ipv4/vs/conn_reuse_mode
  echo "conn_reuse_mode=$(cat /proc/sys/net/ipv4/vs/conn_reuse_mode)"
  reuse_seq nat i:S
  reuse_seq nat $ES
  reuse_seq nat $ES i:FA
  reuse_seq nat $ES o:FA
  reuse_seq nat $ES i:FA o:FA
  reuse_seq nat $ES i:R
  reuse_seq nat $ES i:FA o:S
  reuse_seq dr i:S i:A
  reuse_seq dr i:S i:A i:FA
  reuse_seq dr i:S i:A i:FA i:FA
  reuse_seq dr i:S i:A i:R
done
sleep 2.5
ipvsadm -L -n --stats --exact | awk '$1 == "TCP" { svc = $2; print "{\"stats\":{\"service\":\"" svc "\",\"conns\":" $3 ",\"inpkts\":" $4 ",\"outpkts\":" $5 "}}" }' >> $J
run ipvsadm -L -n --stats --exact
stop_senders

# Case tcp-states: the IPVS TCP state machine, packet by packet.
# Every sequence gets its own service 198.18.2.1:(1000+N) with one dest
# 198.18.1.11:(1000+N) (NAT, -m) or 198.18.1.12:(1000+N) (DR, -g), and its own
# client 198.19.0.1:(20000+N). Lines "MODE each|last TOKENS": snapshot after
# every packet (each) or only after the last one (last; the prefixes are
# themselves sequences of the table). Nobody answers on its own: every packet is made
# by pktsend - "i:" from netns cli (client -> VIP, IPVS input direction),
# "o:" from netns dst with the real-server address as source (real server ->
# client, IPVS output direction). After each packet (and 50 ms) one JSON line
# goes to tcp-states.jsonl with the conn(s) of that client port as listed by
# ipvsadm -L -n -c and /proc/net/ip_vs_conn, and the dest's ActiveConn/InActConn
# (--stats is not recorded per step: the kernel only folds the per-CPU
# counters into what ipvsadm reads every 2 s, so it lags.)
golden_setup
start_senders
echo "=== sysctls"
for f in conn_reuse_mode expire_nodest_conn sloppy_tcp secure_tcp nat_icmp_send conntrack; do
  echo "$f=$(cat /proc/sys/net/ipv4/vs/$f)"
done
CLI=198.19.0.1; CLIHEX=$(hex4 $CLI); VIP=198.18.2.1
OUT=tcp-states.jsonl; : > $OUT
N=0
snap() { # $1 step, $2 packet token
  C=$(ipvsadm -L -n -c | grep " $CLI:$CPORT ")
  P=$(grep " $CLIHEX $(hexport $CPORT) " /proc/net/ip_vs_conn)
  D=$(ipvsadm -L -n -t $VIP:$VPORT | tail -n 1)
  printf '@C\n%s\n@P\n%s\n@D\n%s\n' "$C" "$P" "$D" | awk -v seq=$N -v mode=$MODE \
    -v name="$TOKS" -v step=$1 -v pkt="$2" -v cport=$CPORT -v vport=$VPORT -v rs=$RS '
  /^@/ { sec = $0; next }
  sec == "@C" && NF { c = c (c ? "," : "") sprintf("{\"state\":\"%s\",\"expire\":\"%s\",\"dest\":\"%s\",\"raw\":\"%s\"}", $3, $2, $6, $0) }
  sec == "@P" && NF { p = p (p ? "," : "") sprintf("{\"state\":\"%s\",\"expires\":%s,\"raw\":\"%s\"}", $8, $9, $0) }
  sec == "@D" && NF { act = $5; ina = $6 }
  END { printf "{\"seq\":%d,\"mode\":\"%s\",\"name\":\"%s\",\"step\":%d,\"pkt\":\"%s\",\"client\":\"198.19.0.1:%d\",\"vip\":\"198.18.2.1:%d\",\"rs\":\"%s:%d\",\"conns\":[%s],\"proc\":[%s],\"active\":%s,\"inact\":%s}\n", seq, mode, name, step, pkt, cport, vport, rs, vport, c, p, act, ina }' >> $OUT
}
pkt() { # $1 = i:FLAGS | o:FLAGS | w:SECONDS
  d=${1%%:*}; f=${1#*:}; data=
  case $f in *P*) data=data=68656c6c6f;; esac
  case $d in
  i) if [ "$f" = S ]; then s=1000 a=0; else s=1001 a=5001; fi
     send_cli tcp $CLI $CPORT $VIP $VPORT $f $s $a $data ;;
  o) case $f in S) s=5000 a=0;; SA) s=5000 a=1001;; *) s=5001 a=1001;; esac
     send_dst tcp $RS $VPORT $CLI $CPORT $f $s $a $data ;;
  w) sleep "$f"; return ;;
  esac
  sleep 0.05
}
runseq() { # $1 mode (nat|dr), $2 snapshots (each|last), rest tokens
  MODE=$1; SNAPS=$2; shift 2; TOKS="$*"
  N=$((N + 1)); VPORT=$((1000 + N)); CPORT=$((20000 + N))
  if [ $MODE = nat ]; then RS=198.18.1.11; else RS=198.18.1.12; fi
  i=0
  for t in "$@"; do
    i=$((i + 1)); pkt $t
    if [ $SNAPS = each ] || [ $i = $# ]; then snap $i $t; fi
  done
}
ES="i:S o:SA i:A"
ALL="i:S i:SA i:A i:FA i:R i:RA o:S o:SA o:A o:FA o:R o:RA"
INS="i:S i:SA i:A i:FA i:R i:RA"
{
  # NAT: every packet kind after each prefix
  for pre in "" "i:S" "i:S o:SA" "$ES" "$ES i:FA" "$ES o:FA" "$ES i:FA o:FA" "$ES o:FA i:FA" "$ES i:R" "$ES o:R" \
             "i:S o:R" "i:S i:R" "$ES o:FA o:S" "$ES o:S" "$ES i:FA o:A" "$ES o:FA i:A" "$ES i:FA o:FA i:A" \
             "i:S o:S" "$ES i:R o:S" "$ES i:FA o:S" "$ES i:FA o:R" "$ES i:FA o:S o:R"; do
    for p in $ALL; do echo "nat last $pre $p"; done
  done
  # NAT: other first packets and flag kinds
  for p in i:PA i:F i:- i:SF i:SR i:SRA o:PA; do echo "nat last $p"; done
  for p in i:PA o:PA i:F o:F i:- o:-; do echo "nat last $ES $p"; done
  # NAT: whole conversations
  echo "nat each $ES i:PA o:A o:PA i:A i:FA o:A o:FA i:A"
  echo "nat each $ES o:FA i:A i:FA o:A"
  echo "nat each $ES i:FA o:FA i:A o:A"
  echo "nat each $ES i:FA o:FA i:A w:1 i:S w:1 o:SA i:A"
  echo "nat each $ES i:R w:1 i:S w:1 o:SA i:A"
  echo "nat each i:S i:S i:S o:SA o:SA i:A"
  # DR (input-only table): input packets after each prefix
  for pre in "" "i:S" "i:S i:A" "i:S i:A i:FA" "i:S i:A i:R" "i:S i:A i:FA i:A" "i:S i:R" "i:S i:FA" \
             "i:S i:A i:FA i:FA"; do
    for p in $INS; do echo "dr last $pre $p"; done
  done
  echo "dr each i:S i:A i:FA w:1 i:S w:1 i:A"
  echo "dr each i:S i:A i:R w:1 i:S w:1 i:A"
} > /tmp/seqs
echo "=== $(wc -l < /tmp/seqs) sequences"
# all services in one ipvsadm -R (one dest each: NAT 198.18.1.11, DR 198.18.1.12)
awk '{ n++; p = 1000 + n; print "-A -t 198.18.2.1:" p " -s rr";
       if ($1 == "nat") print "-a -t 198.18.2.1:" p " -r 198.18.1.11:" p " -m -w 1";
       else print "-a -t 198.18.2.1:" p " -r 198.18.1.12:" p " -g -w 1" }' /tmp/seqs | ipvsadm -R
while read -r line; do runseq $line; done < /tmp/seqs
stop_senders
echo "=== done: $N sequences, $(wc -l < $OUT) snapshots"
echo "=== ipvsadm -L -n -c (end)"; ipvsadm -L -n -c | head -5

# Case sctp: the IPVS SCTP state machine (ip_vs_proto_sctp.c) and SCTP NAT bytes,
# packet by packet, as tcp-states does for TCP. Every sequence gets its own SCTP
# service (ipvsadm --sctp-service, rr, one NAT (-m) dest) and its own client port:
#   nat   198.18.2.5:(3000+N) -> 198.18.1.11:(4000+N)   client 198.19.0.5:(30000+N)
#   natsp 198.18.2.5:(3000+N) -> 198.18.1.11:(3000+N)   (same port: no CRC32c rewrite)
#   nat6  [2001:2::100]:(3000+N) -> [2001:2:0:1::11]:(4000+N)  client [2001:2:0:2::9]:(30000+N)
# Nobody answers on its own: every packet is made by pktsend - "i:" from netns cli
# (client -> VIP, IPVS input direction), "o:" from netns dst with the real server's
# address as source (real server -> client, IPVS output direction). Tokens:
# i:CHUNK[+CHUNK...][/bad] (chunks bundled in that order; /bad = wrong CRC32c),
# o:..., w:N = sleep N s. Verification tags: client 0x0c0c0c0c, server 0x5e5e5e5e
# (INIT carries vtag 0); TSNs client 1000, server 5000.
# Every packet has its own IPv4 id / IPv6 flow label (counting from 1 in send order),
# recorded as "id" in the snapshot after it, so the pcaps can be matched to the steps.
# After each packet (and 50 ms; "each" sequences) or only after the last one ("last":
# the matrix, whose prefixes are sequences of their own) one JSON line goes to
# sctp.jsonl: the conn(s) of that client port from ipvsadm -L -n -c and
# /proc/net/ip_vs_conn, and the dest's ActiveConn/InActConn.
# Both sides are captured (cli:vc0 client-side.pcap, dst:vd0 dest-side.pcap; SCTP only).
golden_setup
golden_setup6 2001:2::100
ip -6 neigh replace 2001:2:0:1::11 lladdr 02:00:00:00:01:01 dev vd1 nud permanent
start_senders
echo "=== sysctls"
for f in sloppy_sctp conn_reuse_mode expire_nodest_conn nat_icmp_send conntrack; do
  echo "$f=$(cat /proc/sys/net/ipv4/vs/$f)"
done
OUT=sctp.jsonl; : > $OUT
N=0; PKTID=0
CVTAG=0x0c0c0c0c; SVTAG=0x5e5e5e5e
snap() { # $1 step, $2 packet token
  C=$(ipvsadm -L -n -c | grep -F " $CLIB:$CPORT ")
  P=$(grep " $(hexport $CPORT) " /proc/net/ip_vs_conn)
  D=$(ipvsadm -L -n --sctp-service $VIPB:$VPORT | tail -n 1)
  printf '@C\n%s\n@P\n%s\n@D\n%s\n' "$C" "$P" "$D" | awk -v seq=$N -v mode=$MODE -v fam=$FAM -v id=$LASTID \
    -v name="$TOKS" -v step=$1 -v pkt="$2" -v client="$CLIB:$CPORT" -v vip="$VIPB:$VPORT" -v rs="$RSB:$RPORT" '
  /^@/ { sec = $0; next }
  sec == "@C" && NF { c = c (c ? "," : "") sprintf("{\"state\":\"%s\",\"expire\":\"%s\",\"dest\":\"%s\",\"raw\":\"%s\"}", $3, $2, $6, $0) }
  sec == "@P" && NF { p = p (p ? "," : "") sprintf("{\"state\":\"%s\",\"expires\":%s,\"raw\":\"%s\"}", $8, $9, $0) }
  sec == "@D" && NF { act = $5; ina = $6 }
  END { printf "{\"seq\":%d,\"mode\":\"%s\",\"fam\":%d,\"name\":\"%s\",\"step\":%d,\"pkt\":\"%s\",\"id\":%d,\"client\":\"%s\",\"vip\":\"%s\",\"rs\":\"%s\",\"conns\":[%s],\"proc\":[%s],\"active\":%s,\"inact\":%s}\n", seq, mode, fam, name, step, pkt, id, client, vip, rs, c, p, act, ina }' >> $OUT
}
pkt() { # $1 = i:CHUNKS | o:CHUNKS | w:SECONDS
  d=${1%%:*}; f=${1#*:}
  if [ "$d" = w ]; then sleep "$f"; return; fi
  extra=
  case $f in */bad) extra=csum=bad; f=${f%/bad};; esac
  chunks=$(echo "$f" | tr + ' ')
  PKTID=$((PKTID + 1)); LASTID=$PKTID
  if [ $FAM = 6 ]; then idk=flow=$PKTID; else idk=id=$PKTID; fi
  case $d in
  i) vt=$SVTAG; [ "$chunks" = INIT ] && vt=0
     send_cli sctp $CLI $CPORT $VIP $VPORT $chunks vtag=$vt itag=$CVTAG tsn=1000 ack=5000 $idk $extra ;;
  o) vt=$CVTAG; [ "$chunks" = INIT ] && vt=0
     send_dst sctp $RS $RPORT $CLI $CPORT $chunks vtag=$vt itag=$SVTAG tsn=5000 ack=1000 $idk $extra ;;
  esac
  sleep 0.05
}
runseq() { # $1 mode (nat|natsp|nat6), $2 snapshots (each|last), rest tokens
  MODE=$1; SNAPS=$2; shift 2; TOKS="$*"
  N=$((N + 1)); VPORT=$((3000 + N)); CPORT=$((30000 + N)); RPORT=$((4000 + N)); LASTID=0
  if [ $MODE = nat6 ]; then
    FAM=6; CLI=2001:2:0:2::9; VIP=2001:2::100; RS=2001:2:0:1::11
    CLIB="[$CLI]"; VIPB="[$VIP]"; RSB="[$RS]"
  else
    FAM=4; CLI=198.19.0.5; VIP=198.18.2.5; RS=198.18.1.11; CLIB=$CLI; VIPB=$VIP; RSB=$RS
  fi
  [ $MODE = natsp ] && RPORT=$VPORT
  i=0
  for t in "$@"; do
    i=$((i + 1)); pkt $t
    if [ $SNAPS = each ] || [ $i = $# ]; then snap $i $t; fi
  done
}
ES="i:INIT o:INIT_ACK i:COOKIE_ECHO o:COOKIE_ACK"
EVS="INIT INIT_ACK COOKIE_ECHO COOKIE_ACK DATA SHUTDOWN SHUTDOWN_ACK SHUTDOWN_COMPLETE ERROR ABORT"
{
  # whole associations and special cases, a snapshot after every packet
  echo "nat each $ES i:DATA o:SACK o:DATA i:SACK i:HEARTBEAT o:HEARTBEAT_ACK o:HEARTBEAT i:HEARTBEAT_ACK i:SHUTDOWN o:SHUTDOWN_ACK i:SHUTDOWN_COMPLETE"
  echo "nat each $ES o:DATA i:SACK o:SHUTDOWN i:SHUTDOWN_ACK o:SHUTDOWN_COMPLETE"
  echo "nat each $ES i:DATA i:ABORT w:1 i:INIT o:INIT_ACK i:COOKIE_ECHO o:COOKIE_ACK"
  echo "nat each $ES o:ABORT i:DATA i:INIT o:INIT_ACK"
  echo "nat each i:INIT o:ABORT i:INIT o:INIT_ACK i:COOKIE_ECHO o:COOKIE_ACK"
  echo "nat each i:INIT o:INIT_ACK i:ABORT i:INIT"
  echo "nat each i:INIT o:INIT i:INIT_ACK o:INIT_ACK i:COOKIE_ECHO o:COOKIE_ECHO o:COOKIE_ACK i:COOKIE_ACK i:DATA o:SACK"
  echo "nat each i:INIT i:INIT i:INIT o:INIT_ACK i:INIT o:INIT_ACK i:COOKIE_ECHO i:COOKIE_ECHO o:COOKIE_ACK i:INIT"
  echo "nat each i:INIT o:INIT_ACK i:COOKIE_ECHO+DATA o:COOKIE_ACK+SACK i:SACK+DATA o:SHUTDOWN+SACK i:SHUTDOWN_ACK o:SHUTDOWN_COMPLETE"
  echo "nat each i:INIT o:INIT_ACK i:COOKIE_ECHO+ABORT i:INIT"
  echo "nat each i:INIT o:INIT_ACK i:COOKIE_ECHO o:COOKIE_ACK+ABORT"
  echo "nat each $ES o:ERROR i:ERROR i:HEARTBEAT o:HEARTBEAT_ACK"
  echo "nat each i:DATA i:ABORT i:COOKIE_ECHO i:HEARTBEAT o:INIT o:INIT_ACK o:DATA i:INIT"
  echo "nat each i:INIT w:5 i:DATA i:INIT"
  echo "nat each i:INIT o:ABORT w:5 i:INIT"
  echo "nat each i:INIT/bad o:INIT_ACK/bad i:COOKIE_ECHO o:COOKIE_ACK i:DATA/bad o:DATA/bad"
  echo "natsp each i:INIT o:INIT_ACK i:COOKIE_ECHO/bad o:COOKIE_ACK/bad i:DATA o:SACK i:ABORT"
  echo "nat6 each $ES i:DATA o:SACK o:DATA i:SACK i:HEARTBEAT o:HEARTBEAT_ACK i:SHUTDOWN o:SHUTDOWN_ACK i:SHUTDOWN_COMPLETE"
  echo "nat6 each i:INIT o:ABORT i:INIT o:INIT_ACK i:COOKIE_ECHO+ABORT"
  # the table: every event from either side after a prefix reaching each state
  for pre in "" "i:INIT" "i:INIT i:INIT" "i:INIT o:INIT_ACK" "i:INIT o:INIT_ACK i:COOKIE_ECHO" "i:INIT o:INIT" \
             "i:INIT o:INIT i:INIT_ACK" "i:INIT o:COOKIE_ECHO" "$ES" "$ES o:SHUTDOWN" "$ES i:SHUTDOWN" \
             "$ES i:SHUTDOWN o:SHUTDOWN_ACK" "i:INIT o:ABORT" "$ES i:ABORT"; do
    for d in i o; do for e in $EVS; do echo "nat last $pre $d:$e"; done; done
  done
} > /tmp/seqs
echo "=== $(wc -l < /tmp/seqs) sequences"
awk '{ n++; v = 3000 + n; r = 4000 + n; if ($1 == "natsp") r = v;
       if ($1 == "nat6") { print "-A --sctp-service [2001:2::100]:" v " -s rr";
                           print "-a --sctp-service [2001:2::100]:" v " -r [2001:2:0:1::11]:" r " -m -w 1" }
       else { print "-A --sctp-service 198.18.2.5:" v " -s rr";
              print "-a --sctp-service 198.18.2.5:" v " -r 198.18.1.11:" r " -m -w 1" } }' /tmp/seqs | ipvsadm -R
echo "rc=$? services: $(grep -c SCTP /proc/net/ip_vs)"
ipvsadm -L -n | head -8
F='(ip and ip[9] == 132) or (ip6 and ip6[6] == 132)'
capture_start "$F"
while read -r line; do runseq $line; done < /tmp/seqs
sleep 1
capture_stop
echo "=== done: $N sequences, $PKTID packets, $(wc -l < $OUT) snapshots"
echo "=== ipvsadm -L -n -c (end, first lines)"; ipvsadm -L -n -c | head -5
echo "=== first sequence decoded (client side, then dest side)"
tcpdump -nn -vv -r client-side.pcap 2>/dev/null | head -60
tcpdump -nn -vv -r dest-side.pcap 2>/dev/null | head -60

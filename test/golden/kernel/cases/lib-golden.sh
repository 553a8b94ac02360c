# lib-golden.sh: helpers shared by the golden cases (concatenated into each
# generated script by tools/build-case.sh).
#
# golden_setup: the shared topology (lib-net.sh: cli 198.18.0.2, director,
# dst 198.18.1.1-3, VIP 198.18.0.100, 198.18.2.0/24 local, 198.19/16 via cli)
# plus:
#  * dst gets a default route back via the director 198.18.1.254;
#  * forwarding is off in cli and dst, so packets to addresses they do not own
#    are dropped silently (no RST, no ICMP);
#  * fixed MACs: cli:vc0 02:00:00:00:00:02, vc1 02:00:00:00:00:01,
#    vd1 02:00:00:00:01:fe, dst:vd0 02:00:00:00:01:01;
#  * "silent real servers" 198.18.1.11-19 and .21-29: not configured anywhere, but the
#    director has a permanent neighbour entry for them pointing at dst:vd0,
#    so IPVS forwards to them and nobody answers. The cases impersonate them
#    with pktsend from netns dst. Spoofed clients 198.19.x.y are likewise
#    silent (cli does not own them and does not forward).
golden_setup() {
  . /host/lib/lib-net.sh
  net_setup
  ip netns exec cli sysctl -q -w net.ipv4.ip_forward=0
  ip netns exec dst sysctl -q -w net.ipv4.ip_forward=0
  ip -n dst route add default via 198.18.1.254
  VD0MAC=$(ip -n dst link show vd0 | awk '/link\/ether/ {print $2}')
  VC0MAC=$(ip -n cli link show vc0 | awk '/link\/ether/ {print $2}')
  # fixed MACs, so pcaps are byte-identical from run to run
  ip -n cli link set vc0 address 02:00:00:00:00:02
  ip link set vc1 address 02:00:00:00:00:01
  ip link set vd1 address 02:00:00:00:01:fe
  ip -n dst link set vd0 address 02:00:00:00:01:01
  for i in 11 12 13 14 15 16 17 18 19 21 22 23 24 25 26 27 28 29; do
    ip neigh replace 198.18.1.$i lladdr "$VD0MAC" dev vd1 nud permanent
  done
}

# start_senders: a pktsend reading specs from a fifo in each of cli and dst.
#   send_cli SPEC / send_dst SPEC  -> sends, waits for "ok", sets $PKT_R
# The IPv6 side of the lab (2001:2::/48, RFC 5180): client 2001:2::2 behind vc1, real servers
# 2001:2:0:1::1-3 behind vd1, routes both ways; $1 = a VIP to put on the director.
golden_setup6() {
  ip -6 addr add 2001:2::1/64 dev vc1 nodad
  ip -6 addr add "$1/128" dev vc1 nodad
  ip -6 addr add 2001:2:0:1::fe/64 dev vd1 nodad
  ip -6 route add 2001:2:0:2::/64 via 2001:2::2
  sysctl -q -w net.ipv6.conf.all.forwarding=1
  ip -n cli -6 addr add 2001:2::2/64 dev vc0 nodad
  ip -n cli -6 route add default via 2001:2::1
  for i in 1 2 3; do ip -n dst -6 addr add 2001:2:0:1::$i/64 dev vd0 nodad; done
  ip -n dst -6 route add default via 2001:2:0:1::fe
}

start_senders() {
  mkfifo /tmp/ci /tmp/co /tmp/di /tmp/do
  ip netns exec cli pktsend < /tmp/ci > /tmp/co 2>&1 &
  PS_CLI=$!
  exec 3>/tmp/ci 4</tmp/co
  ip netns exec dst pktsend < /tmp/di > /tmp/do 2>&1 &
  PS_DST=$!
  exec 5>/tmp/di 6</tmp/do
}
send_cli() { echo "$*" >&3; read -r PKT_R <&4; case $PKT_R in ok*) ;; *) echo "pktsend(cli) $*: $PKT_R" >&2;; esac; }
send_dst() { echo "$*" >&5; read -r PKT_R <&6; case $PKT_R in ok*) ;; *) echo "pktsend(dst) $*: $PKT_R" >&2;; esac; }
stop_senders() { exec 3>&- 5>&- ; sleep 0.2; exec 4<&- 6<&-; }
# Capture both sides with tcpdump filter $1: cli:vc0 (the client's view: VIP) into
# /tmp/client-side.pcap, dst:vd0 (the real servers' side) into /tmp/dest-side.pcap.
capture_start() {
  ip netns exec cli tcpdump -Z root -U -n -i vc0 -w /tmp/client-side.pcap "$1" 2>/tmp/td1.err &
  TD1=$!
  ip netns exec dst tcpdump -Z root -U -n -i vd0 -w /tmp/dest-side.pcap "$1" 2>/tmp/td2.err &
  TD2=$!
  sleep 2
}
# Stop the captures and the senders, copy both pcaps into the output; with "dump", also their
# hex dumps (client-side.txt, dest-side.txt) and a decoded listing of each on stdout.
capture_stop() {
  kill -TERM $TD1 $TD2; sleep 1
  stop_senders
  cp /tmp/client-side.pcap /tmp/dest-side.pcap .
  cat /tmp/td1.err /tmp/td2.err
  [ "$1" = dump ] || return 0
  tcpdump -nn -vv -xx -r client-side.pcap > client-side.txt 2>/dev/null
  tcpdump -nn -vv -xx -r dest-side.pcap > dest-side.txt 2>/dev/null
  echo "=== client-side.pcap"; tcpdump -nn -vv -r client-side.pcap 2>/dev/null
  echo "=== dest-side.pcap"; tcpdump -nn -vv -r dest-side.pcap 2>/dev/null
}

# hex of an IPv4 address / a port as /proc/net/ip_vs_conn prints them
hex4() { echo "$1" | awk -F. '{printf "%02X%02X%02X%02X", $1, $2, $3, $4}'; }
hexport() { printf '%04X' "$1"; }

# run CMD... : print "=== $ CMD ===", its output, "--- rc=N"
run() { echo "=== \$ $* ==="; "$@" 2>&1; echo "--- rc=$?"; }

# jsnap FILE LABEL CLIENTIP CPORT SVCOPT SVC : one JSON line with the conns of
# CLIENTIP:CPORT (ipvsadm -L -n -c and /proc/net/ip_vs_conn), every dest of
# the service (ipvsadm -L -n SVCOPT SVC: ActiveConn/InActConn) and the guest
# uptime (s). LABEL must not contain '"' or '\'.
jsnap() {
  _C=$(ipvsadm -L -n -c | grep " $3:$4 ")
  _P=$(grep " $(hex4 $3) $(hexport $4) " /proc/net/ip_vs_conn)
  _D=$(ipvsadm -L -n $5 $6 | grep -e '->' | grep -v RemoteAddress)
  _U=$(cut -d' ' -f1 /proc/uptime)
  printf '@C\n%s\n@P\n%s\n@D\n%s\n' "$_C" "$_P" "$_D" | awk -v label="$2" -v up="$_U" -v client="$3:$4" '
  /^@/ { sec = $0; next }
  sec == "@C" && NF { c = c (c ? "," : "") sprintf("{\"state\":\"%s\",\"expire\":\"%s\",\"vip\":\"%s\",\"dest\":\"%s\",\"raw\":\"%s\"}", $3, $2, $5, $6, $0) }
  sec == "@P" && NF { p = p (p ? "," : "") sprintf("{\"state\":\"%s\",\"expires\":%s,\"raw\":\"%s\"}", $8, $9, $0) }
  sec == "@D" && NF { d = d (d ? "," : "") sprintf("{\"dest\":\"%s\",\"active\":%s,\"inact\":%s}", $2, $5, $6) }
  END { printf "{\"label\":\"%s\",\"uptime\":%s,\"client\":\"%s\",\"conns\":[%s],\"proc\":[%s],\"dests\":[%s]}\n", label, up, client, c, p, d }' >> "$1"
}

# ---- nat_flow: the NAT byte-level exchange used by cases nat-bytes (IPv4)
# and nat6 (IPv6). Needs: FAM (4|6), CL (silent spoofed client), VIP, RS
# (silent real server, impersonated from dst), RSR (a real address of netns
# dst, whose kernel answers), PINGSRC (cli's own address), services
#   TCP VIP:80 -> RS:8080, UDP VIP:54 -> RS:5454, UDP VIP:53 -> RSR:5353 (-m).
# Prints "--- step N: what" before each packet and the conn table after it.
hexs() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
vipb() { if [ "$FAM" = 6 ]; then echo "[$1]"; else echo "$1"; fi; }
nstep() { NSTEP=$((NSTEP + 1)); echo "--- step $NSTEP: $*"; }
nlist() { sleep 0.1; ipvsadm -L -n -c | tail -n +3; }
nat_flow() {
  NSTEP=0
  if [ "$FAM" = 6 ]; then
    ERR_TOOBIG="2 0 rest=00000500"; ECHO=128
  else
    ERR_TOOBIG="3 4 rest=000004d8"; ECHO=8
  fi
  REQ=$(hexs "GET / HTTP/1.0
")
  RSP=$(hexs "HTTP/1.0 200 OK
hello
")
  TSO=0101080a0000123500005678
  nstep "client SYN with options (MSS 1460, SACK-permitted, timestamps, NOP, wscale 7) -> VIP:80"
  send_cli tcp $CL 40001 $VIP 80 S 1000 0 id=101 opt=020405b40402080a000012340000000001030307; nlist
  nstep "real server SYN-ACK with options -> client"
  send_dst tcp $RS 8080 $CL 40001 SA 5000 1001 id=201 win=65160 opt=020405b40402080a000056780000123401030307; nlist
  nstep "client ACK (timestamps option)"
  send_cli tcp $CL 40001 $VIP 80 A 1001 5001 id=102 win=502 opt=$TSO; nlist
  nstep "client data segment PSH+ACK, 15 bytes"
  send_cli tcp $CL 40001 $VIP 80 PA 1001 5001 id=103 win=502 opt=$TSO data=$REQ; nlist
  nstep "real server data segment PSH+ACK, 22 bytes"
  send_dst tcp $RS 8080 $CL 40001 PA 5001 1016 id=202 win=509 opt=0101080a0000567900001235 data=$RSP; nlist
  nstep "client ACK"
  send_cli tcp $CL 40001 $VIP 80 A 1016 5023 id=104 win=502 opt=$TSO; nlist
  nstep "client data segment with a WRONG TCP checksum (is it forwarded?)"
  send_cli tcp $CL 40001 $VIP 80 PA 1016 5023 id=105 win=502 csum=bad data=$REQ; nlist
  INNER=$(pktsend -p tcp $CL 40001 $RS 8080 PA 1001 5001 id=103 ttl=63 win=502 opt=$TSO data=$REQ)
  nstep "real server ICMP too-big quoting the whole client data segment as it saw it ($CL:40001 -> $RS:8080)"
  send_dst icmp $RS $CL $ERR_TOOBIG id=203 data=$INNER; nlist
  if [ "$FAM" = 4 ]; then SHORT=$(echo $INNER | cut -c1-56); else SHORT=$(echo $INNER | cut -c1-96); fi
  nstep "real server ICMP too-big quoting only the IP header + 8 bytes of that segment"
  send_dst icmp $RS $CL $ERR_TOOBIG id=204 data=$SHORT; nlist
  INNER2=$(pktsend -p tcp $VIP 80 $CL 40001 PA 5001 1016 id=202 ttl=63 win=509 opt=0101080a0000567900001235 data=$RSP)
  nstep "client ICMP too-big to VIP quoting the server data segment as the client saw it ($VIP:80 -> $CL:40001)"
  send_cli icmp $CL $VIP $ERR_TOOBIG id=106 data=$INNER2; nlist
  nstep "client FIN"
  send_cli tcp $CL 40001 $VIP 80 FA 1016 5023 id=107 win=502 opt=$TSO; nlist
  nstep "real server FIN"
  send_dst tcp $RS 8080 $CL 40001 FA 5023 1017 id=205 win=509 opt=0101080a0000567a00001236; nlist
  nstep "client ACK"
  send_cli tcp $CL 40001 $VIP 80 A 1017 5024 id=108 win=502 opt=$TSO; nlist
  nstep "UDP client -> VIP:54, 5 bytes payload"
  send_cli udp $CL 40002 $VIP 54 id=109 data=$(hexs "ping
"); nlist
  nstep "UDP real server -> client reply, 5 bytes"
  send_dst udp $RS 5454 $CL 40002 id=206 data=$(hexs "pong
"); nlist
  nstep "UDP client -> VIP:54 with checksum 0"
  send_cli udp $CL 40003 $VIP 54 id=110 csum=0 data=$(hexs "zero
"); nlist
  nstep "UDP real server -> client reply with checksum 0"
  send_dst udp $RS 5454 $CL 40003 id=207 csum=0 data=$(hexs "orez
"); nlist
  nstep "UDP client -> VIP:53 -> real server $RSR:5353 with no listener: its kernel answers ICMP port unreachable"
  send_cli udp $CL 40004 $VIP 53 id=111 data=$(hexs "query
"); sleep 0.3; nlist
  nstep "ICMP echo request client $CL -> VIP (crafted, id 0x1234 seq 1)"
  send_cli icmp $CL $VIP $ECHO 0 id=112 rest=12340001 data=$(hexs "echo-data"); nlist
  nstep "ping from cli's own address $PINGSRC -> VIP (busybox ping -c 1)"
  if [ "$FAM" = 6 ]; then ip netns exec cli ping6 -c 1 -W 2 $VIP; else ip netns exec cli ping -c 1 -W 2 $VIP; fi
  echo "ping rc=$?"
  sleep 0.5
}

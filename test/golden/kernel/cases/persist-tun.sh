# Case persist-tun: persistence templates (-p, -M, port-zero service, UDP,
# expire_quiescent_template, deleted dest, reuse of a controlled conn, a template
# outliving its timeout while it controls a conn), then the bytes of the
# non-NAT forwarding methods: DR (-g), IPIP (-i), GUE (--tun-type gue, three
# checksum modes), GRE (--tun-type gre, with and without csum), IPv6-in-IPv6,
# IPv4-in-IPv6, IPv6-in-IPv4, and path-MTU (ICMP frag needed / packet too big
# for a DF packet that would not fit the tunnel).
# Snapshots: "=== snap LABEL" then `ipvsadm -L -n -c` (sorted), "--- proc"
# /proc/net/ip_vs_conn (sorted), "--- persist" `ipvsadm -L -n --persistent-conn`.
# Captures: client-side.pcap (cli:vc0), dest-side.pcap (dst:vd0), Ethernet.
golden_setup
golden_setup6 2001:2::200
ip -6 neigh replace 2001:2:0:1::11 lladdr 02:00:00:00:01:01 dev vd1 nud permanent
ip -6 neigh replace 2001:2:0:1::12 lladdr 02:00:00:00:01:01 dev vd1 nud permanent
start_senders
snap() {
  sleep 0.1
  echo "=== snap $*"
  ipvsadm -L -n -c | tail -n +3 | sort
  echo "--- proc"
  tail -n +2 /proc/net/ip_vs_conn | sort
  echo "--- persist"
  ipvsadm -L -n --persistent-conn | tail -n +4
}
# ---------------- A. persistence ----------------
run sysctl net.ipv4.vs.expire_quiescent_template
ipvsadm -A -t 198.18.2.10:80 -s rr -p 300
ipvsadm -a -t 198.18.2.10:80 -r 198.18.1.11:8080 -m
ipvsadm -a -t 198.18.2.10:80 -r 198.18.1.13:8080 -m
ipvsadm -A -t 198.18.2.11:80 -s rr -p 120 -M 255.255.255.0
ipvsadm -a -t 198.18.2.11:80 -r 198.18.1.11:8080 -m
ipvsadm -a -t 198.18.2.11:80 -r 198.18.1.13:8080 -m
ipvsadm -A -t 198.18.2.12:0 -s rr -p 60
ipvsadm -a -t 198.18.2.12:0 -r 198.18.1.14 -m
ipvsadm -a -t 198.18.2.12:0 -r 198.18.1.15 -m
ipvsadm -A -u 198.18.2.10:53 -s rr -p 200
ipvsadm -a -u 198.18.2.10:53 -r 198.18.1.11:5353 -m
ipvsadm -A -t 198.18.2.13:80 -s rr -p 3
ipvsadm -a -t 198.18.2.13:80 -r 198.18.1.16:80 -m
ipvsadm -A -f 7 -s rr -p 100
ipvsadm -a -f 7 -r 198.18.1.17:0 -g
run ipvsadm -S -n
run cat /proc/net/ip_vs
echo "--- A1 i:S 198.19.0.1:10001 -> 198.18.2.10:80"
send_cli tcp 198.19.0.1 10001 198.18.2.10 80 S 1000 0 id=1; snap A1
echo "--- A2 i:S 198.19.0.1:10002 -> 198.18.2.10:80 (same client, other port)"
send_cli tcp 198.19.0.1 10002 198.18.2.10 80 S 1000 0 id=2; snap A2
echo "--- A3 i:S 198.19.0.2:10001 -> 198.18.2.10:80 (other client)"
send_cli tcp 198.19.0.2 10001 198.18.2.10 80 S 1000 0 id=3; snap A3
echo "--- A4 netmask /24: 198.19.0.1:11001, 198.19.0.7:11002, 198.19.1.1:11003 -> 198.18.2.11:80"
send_cli tcp 198.19.0.1 11001 198.18.2.11 80 S 1000 0 id=4
send_cli tcp 198.19.0.7 11002 198.18.2.11 80 S 1000 0 id=5
send_cli tcp 198.19.1.1 11003 198.18.2.11 80 S 1000 0 id=6; snap A4
echo "--- A5 port zero: 198.19.0.1:12001 -> 198.18.2.12:80, 198.19.0.1:12002 -> :443, 198.19.0.2:12003 -> :22"
send_cli tcp 198.19.0.1 12001 198.18.2.12 80 S 1000 0 id=7
send_cli tcp 198.19.0.1 12002 198.18.2.12 443 S 1000 0 id=8
send_cli tcp 198.19.0.2 12003 198.18.2.12 22 S 1000 0 id=9; snap A5
echo "--- A6 UDP persistent: 198.19.0.1:13001 and :13002 -> 198.18.2.10:53"
send_cli udp 198.19.0.1 13001 198.18.2.10 53 id=10 data=71756572790a
send_cli udp 198.19.0.1 13002 198.18.2.10 53 id=11 data=71756572790a; snap A6
echo "--- A7 controlled conn 198.19.0.2:10001 (dest .11) to TIME_WAIT: o:SA i:A i:FA o:FA"
send_dst tcp 198.18.1.11 8080 198.19.0.2 10001 SA 5000 1001 id=201
send_cli tcp 198.19.0.2 10001 198.18.2.10 80 A 1001 5001 id=12
send_cli tcp 198.19.0.2 10001 198.18.2.10 80 FA 1001 5001 id=13
send_dst tcp 198.18.1.11 8080 198.19.0.2 10001 FA 5001 1002 id=202; snap A7
echo "--- A8 i:S on the TIME_WAIT controlled conn 198.19.0.2:10001"
send_cli tcp 198.19.0.2 10001 198.18.2.10 80 S 2000 0 id=14; snap A8
echo "--- A9 weight 0 on 198.18.1.13:8080 (expire_quiescent_template=0), i:S 198.19.0.1:10004"
ipvsadm -e -t 198.18.2.10:80 -r 198.18.1.13:8080 -m -w 0
send_cli tcp 198.19.0.1 10004 198.18.2.10 80 S 1000 0 id=15; snap A9
echo "--- A10 expire_quiescent_template=1, i:S 198.19.0.1:10005"
sysctl -q -w net.ipv4.vs.expire_quiescent_template=1
send_cli tcp 198.19.0.1 10005 198.18.2.10 80 S 1000 0 id=16; snap A10
echo "--- A11 delete dest 198.18.1.13:8080 of 198.18.2.11:80, i:S 198.19.0.9:11004 (same /24)"
ipvsadm -d -t 198.18.2.11:80 -r 198.18.1.13:8080
send_cli tcp 198.19.0.9 11004 198.18.2.11 80 S 1000 0 id=17; snap A11
echo "--- A12 -p 3: i:S 198.19.0.1:14001 -> 198.18.2.13:80, then 5 s"
send_cli tcp 198.19.0.1 14001 198.18.2.13 80 S 1000 0 id=18; snap A12a
sleep 5; snap A12b
echo "--- A13 i:S 198.19.0.1:14002 -> 198.18.2.13:80 on the late template"
send_cli tcp 198.19.0.1 14002 198.18.2.13 80 S 1000 0 id=19; snap A13
run ipvsadm -L -n
run ipvsadm -L -n --stats --exact
# ---------------- B. forwarding bytes ----------------
ipvsadm -A -t 198.18.2.20:80 -s rr; ipvsadm -a -t 198.18.2.20:80 -r 198.18.1.11 -g
ipvsadm -A -t 198.18.2.21:80 -s rr; ipvsadm -a -t 198.18.2.21:80 -r 198.18.1.12 -i
ipvsadm -A -u 198.18.2.21:53 -s rr; ipvsadm -a -u 198.18.2.21:53 -r 198.18.1.12 -i
ipvsadm -A -t 198.18.2.22:80 -s rr; ipvsadm -a -t 198.18.2.22:80 -r 198.18.1.12 -i --tun-type gue --tun-port 6080
ipvsadm -A -t 198.18.2.23:80 -s rr; ipvsadm -a -t 198.18.2.23:80 -r 198.18.1.12 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -A -t 198.18.2.24:80 -s rr; ipvsadm -a -t 198.18.2.24:80 -r 198.18.1.12 -i --tun-type gue --tun-port 6080 --tun-remcsum
ipvsadm -A -t 198.18.2.25:80 -s rr; ipvsadm -a -t 198.18.2.25:80 -r 198.18.1.12 -i --tun-type gre
ipvsadm -A -t 198.18.2.26:80 -s rr; ipvsadm -a -t 198.18.2.26:80 -r 198.18.1.12 -i --tun-type gre --tun-csum
ipvsadm -A -t 198.18.2.27:80 -s rr; ipvsadm -a -t 198.18.2.27:80 -r [2001:2:0:1::11]:80 -i
ipvsadm -A -t [2001:2::200]:80 -s rr; ipvsadm -a -t [2001:2::200]:80 -r [2001:2:0:1::11]:80 -i
ipvsadm -A -t [2001:2::200]:81 -s rr; ipvsadm -a -t [2001:2::200]:81 -r [2001:2:0:1::11]:81 -g
ipvsadm -A -t [2001:2::200]:82 -s rr; ipvsadm -a -t [2001:2::200]:82 -r 198.18.1.12 -i
ipvsadm -A -t [2001:2::200]:83 -s rr; ipvsadm -a -t [2001:2::200]:83 -r [2001:2:0:1::11]:83 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -A -t [2001:2::200]:84 -s rr; ipvsadm -a -t [2001:2::200]:84 -r [2001:2:0:1::11]:84 -i --tun-type gre --tun-csum
run ipvsadm -S -n
run ipvsadm -L -n --tun-info
F='ip or arp or (ip6 and not (ip6[6] == 58 and ip6[40] >= 130))'
capture_start "$F"
D=68656c6c6f
B=0
for v in 20 21 22 23 24 25 26 27; do
  B=$((B + 1))
  echo "--- B$B 198.18.2.$v:80 i:S, i:PA (tos 0x10, ttl 9), i:PA df=0"
  send_cli tcp 198.19.0.3 $((15000 + v)) 198.18.2.$v 80 S 1000 0 id=$((300 + v))
  send_cli tcp 198.19.0.3 $((15000 + v)) 198.18.2.$v 80 PA 1001 5001 id=$((400 + v)) tos=16 ttl=9 data=$D
  send_cli tcp 198.19.0.3 $((15000 + v)) 198.18.2.$v 80 PA 1006 5001 id=$((500 + v)) df=0 data=$D
  sleep 0.1
done
echo "--- B9 UDP IPIP 198.18.2.21:53, checksum and zero checksum"
send_cli udp 198.19.0.3 15100 198.18.2.21 53 id=600 data=$D
send_cli udp 198.19.0.3 15101 198.18.2.21 53 id=601 csum=0 data=$D
P=80
for p in 80 81 82 83 84; do
  echo "--- B v6 [2001:2::200]:$p i:S, i:PA (tclass 0x10 hop 9)"
  send_cli tcp 2001:2:0:2::3 $((16000 + p)) 2001:2::200 $p S 1000 0 id=1
  send_cli tcp 2001:2:0:2::3 $((16000 + p)) 2001:2::200 $p PA 1001 5001 tos=16 ttl=9 data=$D
  sleep 0.1
done
BIG=$(head -c 1460 /dev/zero | od -An -v -tx1 | tr -d ' \n')
echo "--- C1 PMTU: IPIP 198.18.2.21:80, 1500-byte DF segment"
send_cli tcp 198.19.0.3 15021 198.18.2.21 80 PA 1011 5001 id=701 data=$BIG; sleep 0.2
echo "--- C2 PMTU: GUE 198.18.2.22:80, 1500-byte DF segment"
send_cli tcp 198.19.0.3 15022 198.18.2.22 80 PA 1011 5001 id=702 data=$BIG; sleep 0.2
echo "--- C3 PMTU: GRE csum 198.18.2.26:80, 1500-byte DF segment"
send_cli tcp 198.19.0.3 15026 198.18.2.26 80 PA 1011 5001 id=703 data=$BIG; sleep 0.2
echo "--- C4 PMTU: DR 198.18.2.20:80, 1500-byte DF segment (fits: no tunnel)"
send_cli tcp 198.19.0.3 15020 198.18.2.20 80 PA 1011 5001 id=704 data=$BIG; sleep 0.2
BIG6=$(head -c 1440 /dev/zero | od -An -v -tx1 | tr -d ' \n')
echo "--- C5 PMTU: v6 IPIP [2001:2::200]:80, 1500-byte segment"
send_cli tcp 2001:2:0:2::3 16080 2001:2::200 80 PA 1011 5001 data=$BIG6; sleep 0.2
echo "--- C6 PMTU: 4in6 198.18.2.27:80, 1480-byte DF segment"
BIG7=$(head -c 1440 /dev/zero | od -An -v -tx1 | tr -d ' \n')
send_cli tcp 198.19.0.3 15027 198.18.2.27 80 PA 1011 5001 id=706 data=$BIG7; sleep 0.2
sleep 1
snap B
run ipvsadm -L -n --stats --exact
capture_stop dump

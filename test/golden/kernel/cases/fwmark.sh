# Case fwmark: fwmark services (ipvsadm -f MARK) with the marks set by tc at the
# director's client-facing interface: an ingress qdisc on vc1 with flower filters
# whose skbedit action sets skb->mark. Ingress tc runs before PREROUTING, so IPVS
# (LOCAL_IN) sees the mark as it would one set by iptables -t mangle -j MARK.
# The image has neither the modules nor iproute2's tc: build-case.sh embeds them.
# needs-modules: net/sched/sch_ingress net/sched/cls_flower net/sched/act_skbedit
# needs-bins: /usr/sbin/tc
#
# A. -f 7 rr NAT -> 198.18.1.11:8080, .12:8080 for TCP to 198.18.2.30:80-81 (marked),
#    next to -t 198.18.2.30:82 (unmarked, own service), :83 (no service) and UDP :80
#    (not marked: the filter is TCP only).
# B. -t 198.18.2.30:80 added next to -f 7: marked SYNs to :80 still go to -f 7.
# C. -f 9 rr -p 300 -M 255.255.255.0 -> 198.18.1.15, .16 (port 0) for TCP 198.18.2.31:80-81,
#    TCP 198.18.2.32:443 and UDP 198.18.2.31:53: one template per client /24 for all of them.
# D. -f 8 -6 rr -p 120 -> [2001:2:0:1::11]:8080, [::12]:8080 for TCP [2001:2::300]:80-81.
# E. -D -f 7: marked SYNs to :80 now go to the -t 198.18.2.30:80 service; an existing -f 7
#    conn keeps being forwarded.
# Every packet the case sends carries a sequence number N (IPv4 id / IPv6 flow label);
# "=== cfg after N: CMD" and "=== snap LABEL after N" say where in that sequence a
# command ran or a snapshot was taken. Snapshot = --- conns (ipvsadm -L -n -c, sorted),
# --- proc (/proc/net/ip_vs_conn, sorted), --- list (ipvsadm -L -n), --- persist
# (ipvsadm -L -n --persistent-conn), --- save (ipvsadm -S -n), --- end.
# Captures: client-side.pcap (cli:vc0), dest-side.pcap (dst:vd0), Ethernet.
golden_setup
golden_setup6 2001:2::300
for i in 11 12 13 14; do ip -6 neigh replace 2001:2:0:1::$i lladdr 02:00:00:00:01:01 dev vd1 nud permanent; done
echo "=== modules"
grep -E '^(sch_ingress|cls_flower|act_skbedit) ' /proc/modules | cut -d' ' -f1
run tc qdisc add dev vc1 ingress
PRIO=0
mark() {  # mark ip|ipv6 DST tcp|udp PORTS MARK
  PRIO=$((PRIO + 1))
  run tc filter add dev vc1 ingress protocol $1 prio $PRIO flower dst_ip $2 ip_proto $3 dst_port $4 action skbedit mark $5
}
mark ip 198.18.2.30 tcp 80-81 7
mark ip 198.18.2.31 tcp 80-81 9
mark ip 198.18.2.32 tcp 443 9
mark ip 198.18.2.31 udp 53 9
mark ipv6 2001:2::300 tcp 80-81 8
run tc filter show dev vc1 ingress

N=0
# fromc / fromd SPEC: send SPEC from netns cli / dst with the next sequence number
seqkey() { case $1 in *:*) echo flow=$N;; *) echo id=$N;; esac; }
fromc() { N=$((N + 1)); send_cli "$@" $(seqkey $2); }
fromd() { N=$((N + 1)); send_dst "$@" $(seqkey $2); }
cfg() { echo "=== cfg after $N: $*"; "$@"; echo "--- rc=$?"; }
snap() {
  sleep 0.1
  echo "=== snap $1 after $N"
  echo "--- conns"; ipvsadm -L -n -c | tail -n +3 | sort
  echo "--- proc"; tail -n +2 /proc/net/ip_vs_conn | sort
  echo "--- list"; ipvsadm -L -n
  echo "--- persist"; ipvsadm -L -n --persistent-conn
  echo "--- save"; ipvsadm -S -n
  echo "--- end"
}
# dest CLIENT:PORT -> DA DP: the real server IPVS chose for that client (from ipvsadm -L -n -c)
dest() {
  _d=$(ipvsadm -L -n -c | awk -v c="$1" '$4 == c {print $6; exit}')
  DP=${_d##*:}; DA=${_d%:*}; DA=${DA#[}; DA=${DA%]}
  [ -n "$_d" ] || { echo "no conn for $1" >&2; DA=198.18.1.19; DP=1; }
}
REQ=$(hexs "GET / HTTP/1.0
")
RSP=$(hexs "HTTP/1.0 200 OK
hello
")
OPT=020405b40402080a000012340000000001030307
# conv CLIENT CPORT VIP VPORT: server SYN-ACK, client ACK, client data, server data
conv() {
  case $1 in *:*) dest "[$1]:$2";; *) dest "$1:$2";; esac
  fromd tcp $DA $DP $1 $2 SA 5000 1001 win=65160
  fromc tcp $1 $2 $3 $4 A 1001 5001 win=502
  fromc tcp $1 $2 $3 $4 PA 1001 5001 win=502 data=$REQ
  fromd tcp $DA $DP $1 $2 PA 5001 1016 win=509 data=$RSP
}

# ---------------- A. -f 7 NAT with ports, unmarked neighbours ----------------
cfg ipvsadm -A -f 7 -s rr
cfg ipvsadm -a -f 7 -r 198.18.1.11:8080 -m
cfg ipvsadm -a -f 7 -r 198.18.1.12:8080 -m
cfg ipvsadm -A -t 198.18.2.30:82 -s rr
cfg ipvsadm -a -t 198.18.2.30:82 -r 198.18.1.13:8082 -m
start_senders
capture_start '(ip or ip6) and not (ip6[6] == 58 and ip6[40] >= 130)'
snap A0
echo "--- A1 marked SYN 198.19.0.1:20001 -> 198.18.2.30:80"
fromc tcp 198.19.0.1 20001 198.18.2.30 80 S 1000 0 opt=$OPT; snap A1
echo "--- A2 its server SYN-ACK, client ACK, client data, server data"
conv 198.19.0.1 20001 198.18.2.30 80; snap A2
echo "--- A3 marked SYN 198.19.0.1:20002 -> 198.18.2.30:81"
fromc tcp 198.19.0.1 20002 198.18.2.30 81 S 1000 0; snap A3
echo "--- A4 marked SYN 198.19.0.2:20003 -> 198.18.2.30:81, then the exchange"
fromc tcp 198.19.0.2 20003 198.18.2.30 81 S 1000 0
conv 198.19.0.2 20003 198.18.2.30 81; snap A4
echo "--- A5 unmarked SYN 198.19.0.1:20004 -> 198.18.2.30:82 (its own -t service), then the exchange"
fromc tcp 198.19.0.1 20004 198.18.2.30 82 S 1000 0
conv 198.19.0.1 20004 198.18.2.30 82; snap A5
echo "--- A6 unmarked SYN 198.19.0.1:20005 -> 198.18.2.30:83 (no service: the director's own RST)"
fromc tcp 198.19.0.1 20005 198.18.2.30 83 S 1000 0; snap A6
echo "--- A7 UDP 198.19.0.1:20006 -> 198.18.2.30:80 (the filter marks TCP only: port unreachable)"
fromc udp 198.19.0.1 20006 198.18.2.30 80 data=$REQ; snap A7

# ---------------- B. a VIP:80 service next to -f 7 ----------------
cfg ipvsadm -A -t 198.18.2.30:80 -s rr
cfg ipvsadm -a -t 198.18.2.30:80 -r 198.18.1.14:8080 -m
echo "--- B1 marked SYN 198.19.0.3:20101 -> 198.18.2.30:80 (fwmark first)"
fromc tcp 198.19.0.3 20101 198.18.2.30 80 S 1000 0; snap B1
echo "--- B2 marked SYN 198.19.0.3:20102 -> 198.18.2.30:80"
fromc tcp 198.19.0.3 20102 198.18.2.30 80 S 1000 0; snap B2

# ---------------- C. persistent fwmark service with a netmask ----------------
cfg ipvsadm -A -f 9 -s rr -p 300 -M 255.255.255.0
cfg ipvsadm -a -f 9 -r 198.18.1.15 -m
cfg ipvsadm -a -f 9 -r 198.18.1.16 -m
echo "--- C1 marked SYN 198.19.1.1:21001 -> 198.18.2.31:80"
fromc tcp 198.19.1.1 21001 198.18.2.31 80 S 1000 0; snap C1
echo "--- C2 marked SYN 198.19.1.1:21002 -> 198.18.2.31:81 (same client, other port)"
fromc tcp 198.19.1.1 21002 198.18.2.31 81 S 1000 0; snap C2
echo "--- C3 marked SYN 198.19.1.7:21003 -> 198.18.2.32:443 (same /24, other VIP address and port)"
fromc tcp 198.19.1.7 21003 198.18.2.32 443 S 1000 0; snap C3
echo "--- C4 marked UDP 198.19.1.1:21004 -> 198.18.2.31:53 and the server's reply"
fromc udp 198.19.1.1 21004 198.18.2.31 53 data=$REQ
dest 198.19.1.1:21004
fromd udp $DA $DP 198.19.1.1 21004 data=$RSP; snap C4
echo "--- C5 marked SYN 198.19.2.1:21005 -> 198.18.2.31:80 (other /24)"
fromc tcp 198.19.2.1 21005 198.18.2.31 80 S 1000 0; snap C5
echo "--- C6 the exchange of 198.19.1.1:21001"
conv 198.19.1.1 21001 198.18.2.31 80; snap C6

# ---------------- D. IPv6 persistent fwmark service ----------------
cfg ipvsadm -A -f 8 -6 -s rr -p 120
cfg ipvsadm -a -f 8 -6 -r [2001:2:0:1::11]:8080 -m
cfg ipvsadm -a -f 8 -6 -r [2001:2:0:1::12]:8080 -m
echo "--- D1 marked SYN [2001:2:0:2::9]:22001 -> [2001:2::300]:80"
fromc tcp 2001:2:0:2::9 22001 2001:2::300 80 S 1000 0 opt=$OPT; snap D1
echo "--- D2 its exchange"
conv 2001:2:0:2::9 22001 2001:2::300 80; snap D2
echo "--- D3 marked SYN [2001:2:0:2::9]:22002 -> [2001:2::300]:81 (same client)"
fromc tcp 2001:2:0:2::9 22002 2001:2::300 81 S 1000 0; snap D3
echo "--- D4 marked SYN [2001:2:0:2::a]:22003 -> [2001:2::300]:80 (other client)"
fromc tcp 2001:2:0:2::a 22003 2001:2::300 80 S 1000 0; snap D4
echo "--- D5 unmarked SYN [2001:2:0:2::9]:22004 -> [2001:2::300]:82 (no service)"
fromc tcp 2001:2:0:2::9 22004 2001:2::300 82 S 1000 0; snap D5
run ipvsadm -L -n -f 7
run ipvsadm -L -n -f 9
run ipvsadm -L -n -f 8 -6
run ipvsadm -L -n -c
run cat /proc/net/ip_vs
run cat /proc/net/ip_vs_conn

# ---------------- E. fwmark 7 deleted ----------------
cfg ipvsadm -D -f 7
echo "--- E1 marked SYN 198.19.0.3:20103 -> 198.18.2.30:80 (-f 7 gone: the -t service)"
fromc tcp 198.19.0.3 20103 198.18.2.30 80 S 1000 0; snap E1
echo "--- E2 marked SYN 198.19.0.3:20104 -> 198.18.2.30:81 (no service left)"
fromc tcp 198.19.0.3 20104 198.18.2.30 81 S 1000 0; snap E2
echo "--- E3 client data and server data on the old -f 7 conn 198.19.0.1:20001"
dest 198.19.0.1:20001
fromc tcp 198.19.0.1 20001 198.18.2.30 80 PA 1016 5023 win=502 data=$REQ
fromd tcp $DA $DP 198.19.0.1 20001 PA 5023 1031 win=509 data=$RSP; snap E3
sleep 2.2
run ipvsadm -L -n --stats --exact
run tc -s filter show dev vc1 ingress
capture_stop dump

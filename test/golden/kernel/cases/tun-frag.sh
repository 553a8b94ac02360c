# Case tun-frag: what the kernel does with a packet too big for the tunnel that the
# path-MTU rule lets through (ensure_mtu_is_adequate refuses only DF IPv4 / IPv6
# inner packets): IPv4 without DF inside IPIP, GUE (--tun-csum), GRE (--tun-csum)
# and IPv4-in-IPv6. ip_vs_tunnel_xmit sets skb->ignore_df, so ip_local_out
# fragments the outer packet (IPv4: ip_do_fragment; IPv6: ip6_fragment with a
# Fragment header). Plus the same sizes with DF (refused: ICMP frag needed) and
# one that fits exactly. Captures: client-side.pcap (cli:vc0), dest-side.pcap
# (dst:vd0), Ethernet; vd1's MTU is 1500.
golden_setup
golden_setup6 2001:2::200
ip -6 neigh replace 2001:2:0:1::11 lladdr 02:00:00:00:01:01 dev vd1 nud permanent
start_senders
ipvsadm -A -u 198.18.2.21:53 -s rr; ipvsadm -a -u 198.18.2.21:53 -r 198.18.1.12 -i
ipvsadm -A -t 198.18.2.21:80 -s rr; ipvsadm -a -t 198.18.2.21:80 -r 198.18.1.12 -i
ipvsadm -A -t 198.18.2.23:80 -s rr; ipvsadm -a -t 198.18.2.23:80 -r 198.18.1.12 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -A -t 198.18.2.26:80 -s rr; ipvsadm -a -t 198.18.2.26:80 -r 198.18.1.12 -i --tun-type gre --tun-csum
ipvsadm -A -t 198.18.2.27:80 -s rr; ipvsadm -a -t 198.18.2.27:80 -r [2001:2:0:1::11]:80 -i
run ip link show dev vd1
run ipvsadm -S -n
F='ip or arp or ip6'
capture_start "$F"
hexof() { head -c "$1" /dev/zero | tr '\0' "$2" | od -An -v -tx1 | tr -d ' \n'; }
U1472=$(hexof 1472 'u')
U1452=$(hexof 1452 'v')
T1460=$(hexof 1460 't')
T1440=$(hexof 1440 's')
echo "--- F1 IPIP UDP 1500 bytes df=0 (outer 1520: two fragments)"
send_cli udp 198.19.0.3 15200 198.18.2.21 53 id=801 df=0 data=$U1472; sleep 0.2
echo "--- F2 IPIP UDP 1480 bytes df=0 (outer 1500: fits)"
send_cli udp 198.19.0.3 15201 198.18.2.21 53 id=802 df=0 data=$U1452; sleep 0.2
echo "--- F3 IPIP UDP 1500 bytes DF (refused: frag needed 1480)"
send_cli udp 198.19.0.3 15202 198.18.2.21 53 id=803 df=1 data=$U1472; sleep 0.2
echo "--- F4 IPIP TCP SYN then 1500-byte segment df=0"
send_cli tcp 198.19.0.3 15210 198.18.2.21 80 S 1000 0 id=804 df=0
send_cli tcp 198.19.0.3 15210 198.18.2.21 80 PA 1001 5001 id=805 df=0 data=$T1460; sleep 0.2
echo "--- F5 GUE csum TCP SYN then 1500-byte segment df=0 (outer 1532)"
send_cli tcp 198.19.0.3 15223 198.18.2.23 80 S 1000 0 id=806 df=0
send_cli tcp 198.19.0.3 15223 198.18.2.23 80 PA 1001 5001 id=807 df=0 data=$T1460; sleep 0.2
echo "--- F6 GRE csum TCP SYN then 1500-byte segment df=0 (outer 1528)"
send_cli tcp 198.19.0.3 15226 198.18.2.26 80 S 1000 0 id=808 df=0
send_cli tcp 198.19.0.3 15226 198.18.2.26 80 PA 1001 5001 id=809 df=0 data=$T1460; sleep 0.2
echo "--- F7 4in6 TCP SYN then 1480-byte segment df=0 (outer IPv6 1520)"
send_cli tcp 198.19.0.3 15227 198.18.2.27 80 S 1000 0 id=810 df=0
send_cli tcp 198.19.0.3 15227 198.18.2.27 80 PA 1001 5001 id=811 df=0 data=$T1440; sleep 0.2
sleep 1
run ipvsadm -L -n --stats --exact
run ipvsadm -L -n -c
capture_stop dump

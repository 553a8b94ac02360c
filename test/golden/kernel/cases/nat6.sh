# Case nat6: the nat-bytes exchange over IPv6 (RFC 5180 prefix 2001:2::/48,
# inside the VM only). Director: 2001:2::1/64 + VIP 2001:2::100 on vc1,
# 2001:2:0:1::fe/64 on vd1, route 2001:2:0:2::/64 (spoofed clients) via cli.
# cli: 2001:2::2/64. dst: 2001:2:0:1::1-3/64 (real), 2001:2:0:1::11 silent
# (permanent neighbour entry on the director). ICMPv6 packet too big is
# crafted; ICMPv6 port unreachable comes from dst's kernel (2001:2:0:1::1).
golden_setup
golden_setup6 2001:2::100
ip -6 neigh replace 2001:2:0:1::11 lladdr 02:00:00:00:01:01 dev vd1 nud permanent
ip netns exec cli sysctl -q net.ipv6.conf.all.forwarding
ip netns exec dst sysctl -q net.ipv6.conf.all.forwarding
start_senders
FAM=6 CL=2001:2:0:2::9 VIP=2001:2::100 RS=2001:2:0:1::11 RSR=2001:2:0:1::1 PINGSRC=2001:2::2
ipvsadm -A -t [$VIP]:80 -s rr;  ipvsadm -a -t [$VIP]:80 -r [$RS]:8080 -m
ipvsadm -A -u [$VIP]:54 -s rr;  ipvsadm -a -u [$VIP]:54 -r [$RS]:5454 -m
ipvsadm -A -u [$VIP]:53 -s rr;  ipvsadm -a -u [$VIP]:53 -r [$RSR]:5353 -m
F6='ip6 and (ip6[6] == 6 or ip6[6] == 17 or (ip6[6] == 58 and ip6[40] < 130))'
capture_start "$F6"
nat_flow
sleep 2.2
run ipvsadm -L -n
run ipvsadm -L -n --stats --exact
run ipvsadm -L -n -c
run cat /proc/net/ip_vs_conn
capture_stop dump

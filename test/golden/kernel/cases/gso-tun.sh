# Case gso-tun: TCP super-packets (GSO TCPv4, 20,000 bytes, PSH and CWR) to IPVS tunnel
# dests, sent by the client as a guest's virtio NIC or a TUN with offloads would hand them
# over: through a packet socket with a virtio-net header (tools/gsosend.c: gso_size, partial
# checksum). vd1 has no TSO and no checksum offload (ethtool -K vd1 tx off tso off), so 6.1
# cuts each tunnel packet into segments in software (validate_xmit_skb -> skb_gso_segment:
# tcp_gso_segment, inet_gso_segment, skb_udp_tunnel_segment, gre_gso_segment) and completes
# every checksum before it leaves: dest-side.pcap shows what the kernel's GSO makes of an
# IPVS tunnel packet. G1-G4: IPIP, GUE --tun-csum, GRE, GRE --tun-csum at gso_size 1400 (15
# segments, the last 400). G5: IPIP at gso_size 1460 with DF (1500-byte segments, 1520 once
# encapsulated: over the MTU of vd1). G6: the same without DF. G7-G9: IPv6 super-packets
# (GSO TCPv6, gso_size 1360) through 6in6 and 6in4, and an IPv4 one through 4in6.
# Captures: client-side.pcap (cli:vc0), dest-side.pcap (dst:vd0), Ethernet.
# Recording needs ethtool on the recording machine (apt-get install ethtool).
# needs-tools: gsosend
# needs-bins: /usr/sbin/ethtool
golden_setup
golden_setup6 2001:2::200
ip -6 neigh replace 2001:2:0:1::11 lladdr 02:00:00:00:01:01 dev vd1 nud permanent
start_senders
ipvsadm -A -t 198.18.2.21:80 -s rr; ipvsadm -a -t 198.18.2.21:80 -r 198.18.1.12 -i
ipvsadm -A -t 198.18.2.23:80 -s rr; ipvsadm -a -t 198.18.2.23:80 -r 198.18.1.12 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -A -t 198.18.2.25:80 -s rr; ipvsadm -a -t 198.18.2.25:80 -r 198.18.1.12 -i --tun-type gre
ipvsadm -A -t 198.18.2.26:80 -s rr; ipvsadm -a -t 198.18.2.26:80 -r 198.18.1.12 -i --tun-type gre --tun-csum
ipvsadm -A -t [2001:2::200]:80 -s rr; ipvsadm -a -t [2001:2::200]:80 -r [2001:2:0:1::11]:80 -i
ipvsadm -A -t [2001:2::200]:82 -s rr; ipvsadm -a -t [2001:2::200]:82 -r 198.18.1.12 -i
ipvsadm -A -t 198.18.2.27:80 -s rr; ipvsadm -a -t 198.18.2.27:80 -r [2001:2:0:1::11]:80 -i
run ethtool -K vd1 tx off tso off
run ethtool -k vd1
run ip link show dev vd1
run ipvsadm -S -n
capture_start 'ip or ip6'
G=0
for v in 21 23 25 26; do
  G=$((G + 1))
  P=$((15300 + v))
  echo "--- G$G 198.18.2.$v:80 i:S, then a 20000-byte super-packet PA+CWR, gso_size 1400, id 0x1000"
  send_cli tcp 198.19.0.3 $P 198.18.2.$v 80 S 1000 0 id=$((900 + v))
  run ip netns exec cli gsosend vc0 198.19.0.3 198.18.2.$v $P 80 1001 5001 PAC 20000 1400 4096 1
  sleep 0.3
done
echo "--- G5 198.18.2.21:80 i:S, then a 10000-byte super-packet PA, gso_size 1460, DF"
send_cli tcp 198.19.0.3 15331 198.18.2.21 80 S 1000 0 id=931
run ip netns exec cli gsosend vc0 198.19.0.3 198.18.2.21 15331 80 1001 5001 PA 10000 1460 8192 1
sleep 0.3
echo "--- G6 198.18.2.21:80 i:S, then a 10000-byte super-packet PA, gso_size 1460, no DF"
send_cli tcp 198.19.0.3 15332 198.18.2.21 80 S 1000 0 id=932 df=0
run ip netns exec cli gsosend vc0 198.19.0.3 198.18.2.21 15332 80 1001 5001 PA 10000 1460 12288 0
sleep 0.3
for p in 80 82; do
  echo "--- G$((p == 80 ? 7 : 8)) [2001:2::200]:$p i:S, then a 20000-byte IPv6 super-packet PA+CWR, gso_size 1360"
  send_cli tcp 2001:2:0:2::3 $((16300 + p)) 2001:2::200 $p S 1000 0 id=1
  run ip netns exec cli gsosend vc0 2001:2:0:2::3 2001:2::200 $((16300 + p)) $p 1001 5001 PAC 20000 1360 0 0
  sleep 0.3
done
echo "--- G9 198.18.2.27:80 (4in6) i:S, then a 20000-byte super-packet PA, gso_size 1400, id 0x5000"
send_cli tcp 198.19.0.3 15327 198.18.2.27 80 S 1000 0 id=927
run ip netns exec cli gsosend vc0 198.19.0.3 198.18.2.27 15327 80 1001 5001 PA 20000 1400 20480 1
sleep 1
run ipvsadm -L -n --stats --exact
run ipvsadm -L -n -c
run ip -s link show dev vd1
capture_stop dump

# Case local-answers: what the director's own stack answers for a VIP (a local
# address there) when IPVS does not take the packet, and what 6.1 does with
# replies of DR and tunnel conns that come back through the director.
#
# Part 1 (IPv4, VIP 198.18.0.100 on vc1): service TCP VIP:80 -m to the silent
# 198.18.1.11; spoofed client 198.19.0.9 (its answers are routed to cli and
# captured on cli:vc0). A SYN, a FIN, a bare data segment to VIP:81 (no
# service), an ACK and an ACK with data to VIP:80 (service, no conn), a RST
# (no answer expected), UDP to VIP:55 (no service). Then 10 UDP datagrams
# back to back from 198.19.0.8 (icmp_ratelimit: how many are answered).
# Part 2 (IPv6, VIP6 2001:2::100): a SYN and an ACK to VIP6:81, UDP to VIP6:55.
# Part 3 (replies through the director): DR service TCP 198.18.2.1:80 -g to the
# silent 198.18.1.12, tunnel service TCP 198.18.2.2:80 -i to the silent
# 198.18.1.13. A client SYN each; then the "real server" (pktsend in dst,
# whose default route is the director) sends the SYN-ACK from the VIP, as a
# DR/tunnel real server does; conn listing and --stats before and after; the
# same with accept_local=1 on vd1; then a SYN-ACK from the real server's own
# address (RIP:80), which the kernel's conn_out_get can match.
golden_setup
golden_setup6 2001:2::100
start_senders
VIP=198.18.0.100 CL=198.19.0.9 CL2=198.19.0.8
ipvsadm -A -t $VIP:80 -s rr; ipvsadm -a -t $VIP:80 -r 198.18.1.11:80 -m
ipvsadm -A -u $VIP:53 -s rr; ipvsadm -a -u $VIP:53 -r 198.18.1.11:53 -m
capture_start 'ip or ip6'
step() { echo "--- $*"; }
step "1 SYN to VIP:81 (no service), seq 1000"
send_cli tcp $CL 40001 $VIP 81 S 1000 0 id=101
step "2 FIN (no ACK) to VIP:81, seq 4000"
send_cli tcp $CL 40002 $VIP 81 F 4000 0 id=102
step "3 PSH (no ACK) with 5 bytes to VIP:81, seq 4500"
send_cli tcp $CL 40003 $VIP 81 P 4500 0 id=103 data=68656c6c6f
step "4 ACK to VIP:80 (service, no conn), seq 2000 ack 7000"
send_cli tcp $CL 40004 $VIP 80 A 2000 7000 id=104
step "5 PSH+ACK with 10 bytes to VIP:80 (no conn), seq 3000 ack 8000"
send_cli tcp $CL 40005 $VIP 80 PA 3000 8000 id=105 data=30313233343536373839
step "6 RST to VIP:80 (no conn)"
send_cli tcp $CL 40006 $VIP 80 R 5000 0 id=106
step "7 FIN+ACK to VIP:81, seq 6000 ack 9000"
send_cli tcp $CL 40007 $VIP 81 FA 6000 9000 id=107
step "8 SYN with 3 bytes to VIP:81, seq 6500"
send_cli tcp $CL 40008 $VIP 81 S 6500 0 id=108 data=616263
step "9 UDP to VIP:55 (no service), 4 bytes"
send_cli udp $CL 40009 $VIP 55 id=109 data=71727374
sleep 0.3
step "10 UDP x10 to VIP:56 from $CL2, back to back"
for i in 0 1 2 3 4 5 6 7 8 9; do send_cli udp $CL2 4100$i $VIP 56 id=11$i data=7878; done
sleep 0.3
step "11 IPv6 SYN to [VIP6]:81, seq 1000"
send_cli tcp 2001:2:0:2::9 40011 2001:2::100 81 S 1000 0
step "12 IPv6 ACK to [VIP6]:81, seq 2000 ack 7000"
send_cli tcp 2001:2:0:2::9 40012 2001:2::100 81 A 2000 7000
step "13 IPv6 UDP to [VIP6]:55"
send_cli udp 2001:2:0:2::9 40013 2001:2::100 55 data=71727374
sleep 0.5
run ipvsadm -L -n --stats --exact
run grep -E '^(Tcp|Icmp):' /proc/net/snmp
run grep -E 'Icmp6OutDestUnreachs|Icmp6OutMsgs' /proc/net/snmp6
# ---- part 3: replies of DR / tunnel conns through the director
VDR=198.18.2.1 VTU=198.18.2.2
ipvsadm -A -t $VDR:80 -s rr; ipvsadm -a -t $VDR:80 -r 198.18.1.12:80 -g
ipvsadm -A -t $VTU:80 -s rr; ipvsadm -a -t $VTU:80 -r 198.18.1.13:80 -i
step "20 client SYN to DR VIP $VDR:80 and tunnel VIP $VTU:80"
send_cli tcp $CL 40020 $VDR 80 S 1000 0 id=120
send_cli tcp $CL 40021 $VTU 80 S 1000 0 id=121
sleep 0.3
run ipvsadm -L -n -c
run ipvsadm -L -n --stats --exact
step "21 real servers' SYN-ACK from the VIP, via the director (dst default route)"
send_dst tcp $VDR 80 $CL 40020 SA 5000 1001 id=220
send_dst tcp $VTU 80 $CL 40021 SA 5000 1001 id=221
sleep 0.3
run ipvsadm -L -n -c
run ipvsadm -L -n --stats --exact
run grep -E '^Ip:' /proc/net/snmp
step "22 the same with accept_local=1 on vd1 (and rp_filter 0)"
sysctl -q -w net.ipv4.conf.vd1.accept_local=1
sysctl -q -w net.ipv4.conf.all.rp_filter=0
sysctl -q -w net.ipv4.conf.vd1.rp_filter=0
run sysctl net.ipv4.conf.vd1.accept_local net.ipv4.conf.all.rp_filter
send_dst tcp $VDR 80 $CL 40020 SA 5000 1001 id=222
send_dst tcp $VTU 80 $CL 40021 SA 5000 1001 id=223
sleep 0.3
run ipvsadm -L -n -c
step "22b ACK with 2 bytes from the DR VIP (accept_local=1)"
send_dst tcp $VDR 80 $CL 40020 A 5001 1001 id=224 data=6869
sleep 0.3
run ipvsadm -L -n -c
run ipvsadm -L -n --stats --exact
step "22c ACK without data from the tunnel VIP (accept_local=1)"
send_dst tcp $VTU 80 $CL 40021 A 5001 1001 id=228
sleep 0.3
run ipvsadm -L -n -c
run ipvsadm -L -n --stats --exact
run grep -E '^Ip:' /proc/net/snmp
step "23 SYN-ACK from the real server's own address (RIP:80 -> client)"
send_dst tcp 198.18.1.12 80 $CL 40020 SA 5000 1001 id=225
send_dst tcp 198.18.1.13 80 $CL 40021 SA 5000 1001 id=226
send_dst tcp 198.18.1.12 80 $CL 40020 FA 5001 1001 id=227
sleep 0.3
run ipvsadm -L -n -c
run ipvsadm -L -n --stats --exact
run cat /proc/net/ip_vs_conn
capture_stop dump

# Case timeouts-udp: UDP conns (part A), then timeouts after
# "ipvsadm --set 30 20 40" (part B) and conns expiring (part C).
# Same silent topology as tcp-states (lib-golden.sh): real server
# 198.18.1.11 is impersonated by pktsend in netns dst, clients 198.19.0.x by
# pktsend in netns cli. Snapshots (jsnap) go to timeouts-udp.jsonl, one JSON
# line each with a "label"; stdout has the plain listings.
golden_setup
start_senders
J=timeouts-udp.jsonl; : > $J
VIP=198.18.2.2
run ipvsadm -L --timeout
# ---- A. UDP: NAT service VIP:53 -> 198.18.1.11:5353, client 198.19.0.2
ipvsadm -A -u $VIP:53 -s rr
ipvsadm -a -u $VIP:53 -r 198.18.1.11:5353 -m
C=198.19.0.2
send_cli udp $C 30001 $VIP 53 data=71756572790a; sleep 0.05
jsnap $J "udp: after 1st datagram client->VIP (port 30001)" $C 30001 -u $VIP:53
run ipvsadm -L -n -c
run cat /proc/net/ip_vs_conn
run ipvsadm -L -n
sleep 1.2
jsnap $J "udp: 1.2 s later, no packet" $C 30001 -u $VIP:53
send_dst udp 198.18.1.11 5353 $C 30001 data=616e737765720a; sleep 0.05
jsnap $J "udp: after reply real server->client" $C 30001 -u $VIP:53
send_cli udp $C 30001 $VIP 53 data=71756572790a; sleep 0.05
jsnap $J "udp: after 2nd datagram client->VIP" $C 30001 -u $VIP:53
send_cli udp $C 30002 $VIP 53 data=71756572790a; sleep 0.05
jsnap $J "udp: after 1st datagram of a 2nd client port 30002" $C 30002 -u $VIP:53
# a reply-first flow: real server -> client with no conn
send_dst udp 198.18.1.11 5353 $C 30003 data=616e737765720a; sleep 0.05
jsnap $J "udp: real server->client datagram with no conn (port 30003)" $C 30003 -u $VIP:53
# UDP over a DR service
ipvsadm -A -u $VIP:54 -s rr
ipvsadm -a -u $VIP:54 -r 198.18.1.12:54 -g
send_cli udp $C 30004 $VIP 54 data=71756572790a; sleep 0.05
jsnap $J "udp-dr: after 1st datagram (port 30004)" $C 30004 -u $VIP:54
run ipvsadm -L -n -c
run ipvsadm -L -n
run ipvsadm -L -n --stats --exact
# ---- B. timeouts
ipvsadm -A -t $VIP:80 -s rr
ipvsadm -a -t $VIP:80 -r 198.18.1.11:80 -m
ipvsadm -A -u $VIP:55 -s rr
ipvsadm -a -u $VIP:55 -r 198.18.1.11:55 -m
C=198.19.0.3
tcp_in()  { send_cli tcp $C $1 $VIP 80 $2 $3 $4; sleep 0.05; }
tcp_out() { send_dst tcp 198.18.1.11 80 $C $1 $2 $3 $4; sleep 0.05; }
es() { tcp_in $1 S 1000 0; tcp_out $1 SA 5000 1001; tcp_in $1 A 1001 5001; }
es 40001
jsnap $J "default timeouts: ESTABLISHED (port 40001)" $C 40001 -t $VIP:80
send_cli udp $C 40101 $VIP 55 data=00; sleep 0.05
jsnap $J "default timeouts: UDP (port 40101)" $C 40101 -u $VIP:55
run ipvsadm --set 30 20 40
run ipvsadm -L --timeout
jsnap $J "after --set 30 20 40, no packet: ESTABLISHED conn from before (40001)" $C 40001 -t $VIP:80
jsnap $J "after --set 30 20 40, no packet: UDP conn from before (40101)" $C 40101 -u $VIP:55
tcp_in 40001 A 1001 5001
jsnap $J "after --set: old conn 40001 after one more ACK in" $C 40001 -t $VIP:80
send_cli udp $C 40101 $VIP 55 data=00; sleep 0.05
jsnap $J "after --set: old UDP conn 40101 after one more datagram" $C 40101 -u $VIP:55
tcp_in 40002 S 1000 0
jsnap $J "after --set: SYN_RECV (40002)" $C 40002 -t $VIP:80
es 40003
jsnap $J "after --set: ESTABLISHED (40003)" $C 40003 -t $VIP:80
es 40004; tcp_out 40004 FA 5001 1001
jsnap $J "after --set: ES + out FIN (40004)" $C 40004 -t $VIP:80
es 40005; tcp_in 40005 FA 1001 5001
jsnap $J "after --set: ES + in FIN (40005)" $C 40005 -t $VIP:80
es 40006; tcp_in 40006 FA 1001 5001; tcp_out 40006 FA 5001 1002
jsnap $J "after --set: ES + in FIN + out FIN (40006)" $C 40006 -t $VIP:80
es 40007; tcp_in 40007 R 1001 0
jsnap $J "after --set: ES + in RST (40007)" $C 40007 -t $VIP:80
es 40008; tcp_out 40008 FA 5001 1001; tcp_in 40008 FA 1001 5002
jsnap $J "after --set: ES + out FIN + in FIN (40008)" $C 40008 -t $VIP:80
send_cli udp $C 40102 $VIP 55 data=00; sleep 0.05
jsnap $J "after --set: UDP new (40102)" $C 40102 -u $VIP:55
run ipvsadm -L -n -c
run cat /proc/net/ip_vs_conn
run ipvsadm --set 0 0 0
run ipvsadm -L --timeout
run ipvsadm --set 1 1 1
run ipvsadm -L --timeout
run ipvsadm --set 30 20 40
# ---- C. expiry: a CLOSE conn (10 s: ES + RST in) and a UDP conn with
# --set 30 20 3, polled until both are gone
es 40009; tcp_in 40009 R 1001 0
T0=$(cut -d' ' -f1 /proc/uptime)
echo "CLOSE conn 40009 (ES + in RST) made at uptime $T0"
ipvsadm --set 30 20 3
send_cli udp $C 40103 $VIP 55 data=00; sleep 0.05
echo "UDP conn 40103 created at uptime $(cut -d' ' -f1 /proc/uptime) with udp timeout 3"
k=0; gone=0
while [ $k -lt 40 ] && [ $gone -lt 3 ]; do
  jsnap $J "expiry poll $k: CLOSE conn (40009)" $C 40009 -t $VIP:80
  jsnap $J "expiry poll $k: UDP conn, timeout 3 (40103)" $C 40103 -u $VIP:55
  if [ "$(tail -n 2 $J | grep -c '"conns":\[\]')" = 2 ]; then gone=$((gone + 1)); fi
  sleep 0.3; k=$((k + 1))
done
run ipvsadm -L --timeout
run ipvsadm -L -n -c
stop_senders

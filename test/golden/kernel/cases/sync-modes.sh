# Case sync-modes: the master's rules under other sync sysctls (ip_vs_sync_conn_needed), one phase
# each, 3 s apart so each phase's messages leave on their own (IPVS_SYNC_FLUSH_TIME 2 s):
#  P1 sync_version 0 (v0 messages)          TCP S,A,PA + UDP x3 on 198.18.2.40
#  P2 sync_threshold "1 0" (once, pkts==1)  TCP S,A,PA,PA + UDP x3 on 198.18.2.41
#  P3 sync_persist_mode 1                   TCP S,A,PA on persistent 198.18.2.42 (-p 300)
#  P4 sync_threshold "3 5"                  UDP x13 on 198.18.2.43 (sent at 3, 8, 13)
# sync.pcap: the datagrams as the backup (netns bak) received them; stdout: "=== phase N" marks.
golden_setup
ip netns add bak
ip link add vs1 type veth peer name vs0 netns bak
ip link set vs1 address 02:00:00:00:03:01
ip -n bak link set vs0 address 02:00:00:00:03:02
ip addr add 198.18.3.1/24 dev vs1; ip link set vs1 up
ip -n bak link set lo up
ip -n bak addr add 198.18.3.2/24 dev vs0; ip -n bak link set vs0 up
start_senders
for v in 40 41 43; do
  ipvsadm -A -t 198.18.2.$v:80 -s rr; ipvsadm -a -t 198.18.2.$v:80 -r 198.18.1.11:8080 -m
  ipvsadm -A -u 198.18.2.$v:53 -s rr; ipvsadm -a -u 198.18.2.$v:53 -r 198.18.1.13:5353 -m
done
ipvsadm -A -t 198.18.2.42:80 -s rr -p 300; ipvsadm -a -t 198.18.2.42:80 -r 198.18.1.14:80 -m
ip netns exec bak tcpdump -Z root -U -n -i vs0 -w /tmp/sync.pcap udp port 8848 2>/tmp/td.err &
TD=$!
sleep 2
run ip netns exec bak ipvsadm --start-daemon backup --mcast-interface vs0 --syncid 3
run ipvsadm --start-daemon master --mcast-interface vs1 --syncid 3
sleep 1
tcp3() { send_cli tcp $1 $2 $3 80 S 1000 0; send_cli tcp $1 $2 $3 80 A 1001 1; send_cli tcp $1 $2 $3 80 PA 1001 1 data=6869; }
udpn() { i=0; while [ $i -lt $4 ]; do send_cli udp $1 $2 $3 53 data=7171; i=$((i + 1)); done; }
echo "=== phase 1"
sysctl -q -w net.ipv4.vs.sync_version=0
tcp3 198.19.20.1 50001 198.18.2.40
udpn 198.19.20.2 50002 198.18.2.40 3
sleep 3
echo "=== phase 2"
sysctl -q -w net.ipv4.vs.sync_version=1
sysctl -q -w net.ipv4.vs.sync_threshold="1 0"
tcp3 198.19.20.3 50003 198.18.2.41
send_cli tcp 198.19.20.3 50003 198.18.2.41 80 PA 1003 1 data=6869
udpn 198.19.20.4 50004 198.18.2.41 3
sleep 3
echo "=== phase 3"
sysctl -q -w net.ipv4.vs.sync_threshold="3 50"
sysctl -q -w net.ipv4.vs.sync_persist_mode=1
tcp3 198.19.20.5 50005 198.18.2.42
sleep 3
echo "=== phase 4"
sysctl -q -w net.ipv4.vs.sync_persist_mode=0
sysctl -q -w net.ipv4.vs.sync_threshold="3 5"
udpn 198.19.20.6 50006 198.18.2.43 13
sleep 3
echo "=== master conns"
ipvsadm -L -n -c | tail -n +3 | sort
echo "=== backup conns"
ip netns exec bak ipvsadm -L -n -c | tail -n +3 | sort
kill -TERM $TD; sleep 1
stop_senders
cp /tmp/sync.pcap .
echo "=== sync.pcap"; tcpdump -nn -tt -r sync.pcap 2>/dev/null

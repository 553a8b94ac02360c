# Case sync: the sync daemon (net/netfilter/ipvs/ip_vs_sync.c), protocol version 1.
# Master = the director (root netns), backup = netns "bak", joined by veth vs1 (198.18.3.1)
# <-> bak:vs0 (198.18.3.2); multicast 224.0.0.81:8848 (the defaults), syncid 7.
# The backup has the same services, except that TCP 198.18.2.21:80 has no dest there
# (the backup's rule for a missing dest). Traffic on the master: TCP NAT conns driven to
# ESTABLISHED (sync on the state change), UDP conns (sync at the threshold's packet),
# a persistent service (template + conn), DR/tunnel conns, an IPv6 NAT conn.
# Outputs: sync.pcap (the datagrams, captured in bak on vs0; sync.txt = hex dump),
# stdout = master's and backup's `ipvsadm -L -n -c` (sorted), /proc/net/ip_vs_conn,
# `ipvsadm -L --daemon` on both, and the sync sysctls.
golden_setup
golden_setup6 2001:2::200
ip -6 neigh replace 2001:2:0:1::11 lladdr 02:00:00:00:01:01 dev vd1 nud permanent
ip netns add bak
ip link add vs1 type veth peer name vs0 netns bak
ip link set vs1 address 02:00:00:00:03:01
ip -n bak link set vs0 address 02:00:00:00:03:02
ip addr add 198.18.3.1/24 dev vs1; ip link set vs1 up
ip -n bak link set lo up
ip -n bak addr add 198.18.3.2/24 dev vs0; ip -n bak link set vs0 up
ip -n bak route add default via 198.18.3.1
start_senders
svcs() {
  $1 ipvsadm -A -t 198.18.2.20:80 -s rr
  $1 ipvsadm -a -t 198.18.2.20:80 -r 198.18.1.11:8080 -m
  $1 ipvsadm -a -t 198.18.2.20:80 -r 198.18.1.12:8080 -m
  $1 ipvsadm -A -u 198.18.2.20:53 -s rr
  $1 ipvsadm -a -u 198.18.2.20:53 -r 198.18.1.13:5353 -m
  $1 ipvsadm -A -t 198.18.2.22:80 -s rr -p 300
  $1 ipvsadm -a -t 198.18.2.22:80 -r 198.18.1.14:80 -g
  $1 ipvsadm -A -t 198.18.2.23:80 -s rr
  $1 ipvsadm -a -t 198.18.2.23:80 -r 198.18.1.15:80 -i
  $1 ipvsadm -A -t [2001:2::200]:80 -s rr
  $1 ipvsadm -a -t [2001:2::200]:80 -r [2001:2:0:1::11]:8080 -m
  $1 ipvsadm -A -t 198.18.2.21:80 -s rr
}
svcs ""
ipvsadm -a -t 198.18.2.21:80 -r 198.18.1.16:80 -m
svcs "ip netns exec bak"
echo "=== sysctls (master)"
for s in sync_version sync_threshold sync_period sync_refresh_period sync_retries sync_persist_mode sync_qlen_max sync_sock_size sync_ports; do
  printf '%s = %s\n' $s "$(cat /proc/sys/net/ipv4/vs/$s | tr '\t' ' ')"
done
ip netns exec bak tcpdump -Z root -U -n -i vs0 -w /tmp/sync.pcap udp port 8848 2>/tmp/td.err &
TD=$!
sleep 2
run ip netns exec bak ipvsadm --start-daemon backup --mcast-interface vs0 --syncid 7
run ipvsadm --start-daemon master --mcast-interface vs1 --syncid 7
sleep 1
run ipvsadm -L --daemon
run ip netns exec bak ipvsadm -L --daemon
run ipvsadm -L -n --daemon
echo "--- traffic"
# TCP NAT: SYN, ACK -> ESTABLISHED, then data: ip_vs_sync_conn_needed sends ESTABLISHED only at
# the packet where pkts % sync_period == sync_threshold (the 3rd), other states on the change
send_cli tcp 198.19.5.1 40001 198.18.2.20 80 S 1000 0
send_cli tcp 198.19.5.1 40001 198.18.2.20 80 A 1001 1
send_cli tcp 198.19.5.1 40001 198.18.2.20 80 PA 1001 1 data=6869
send_cli tcp 198.19.5.2 40002 198.18.2.20 80 S 2000 0
send_cli tcp 198.19.5.2 40002 198.18.2.20 80 A 2001 1
# ... then FIN -> FIN_WAIT? (input FIN from ESTABLISHED -> CLOSE_WAIT in IPVS's table)
send_cli tcp 198.19.5.2 40002 198.18.2.20 80 FA 2001 1
# a SYN only: SYN_RECV is not synced
send_cli tcp 198.19.5.3 40003 198.18.2.20 80 S 3000 0
# UDP: synced at the 3rd packet (sync_threshold 3 50)
for i in 1 2 3; do send_cli udp 198.19.5.4 40004 198.18.2.20 53 data=7171; done
for i in 1 2; do send_cli udp 198.19.5.5 40005 198.18.2.20 53 data=7171; done
# persistent DR service: template + conn
send_cli tcp 198.19.5.6 40006 198.18.2.22 80 S 6000 0
send_cli tcp 198.19.5.6 40006 198.18.2.22 80 A 6001 1
send_cli tcp 198.19.5.6 40006 198.18.2.22 80 PA 6001 1 data=6869
# tunnel
send_cli tcp 198.19.5.7 40007 198.18.2.23 80 S 7000 0
send_cli tcp 198.19.5.7 40007 198.18.2.23 80 A 7001 1
send_cli tcp 198.19.5.7 40007 198.18.2.23 80 PA 7001 1 data=6869
# IPv6 NAT
send_cli tcp 2001:2::2 40008 2001:2::200 80 S 8000 0
send_cli tcp 2001:2::2 40008 2001:2::200 80 A 8001 1
send_cli tcp 2001:2::2 40008 2001:2::200 80 PA 8001 1 data=6869
# the service whose dest the backup lacks
send_cli tcp 198.19.5.9 40009 198.18.2.21 80 S 9000 0
send_cli tcp 198.19.5.9 40009 198.18.2.21 80 A 9001 1
send_cli tcp 198.19.5.9 40009 198.18.2.21 80 PA 9001 1 data=6869
sleep 4
echo "=== master conns"
ipvsadm -L -n -c | tail -n +3 | sort
echo "--- proc"
tail -n +2 /proc/net/ip_vs_conn | sort
echo "=== backup conns"
ip netns exec bak ipvsadm -L -n -c | tail -n +3 | sort
echo "--- proc"
ip netns exec bak sh -c 'tail -n +2 /proc/net/ip_vs_conn' | sort
echo "--- backup services"
ip netns exec bak ipvsadm -L -n
echo "=== backup services with stats"
ip netns exec bak ipvsadm -L -n --stats | tail -n +3
run ipvsadm --stop-daemon master
run ipvsadm -L --daemon
run ip netns exec bak ipvsadm --stop-daemon backup
kill -TERM $TD; sleep 1
stop_senders
cat /tmp/td.err
cp /tmp/sync.pcap .
tcpdump -nn -vv -xx -r sync.pcap > sync.txt 2>/dev/null
echo "=== sync.pcap"; tcpdump -nn -vv -r sync.pcap 2>/dev/null

# Case defense: IPVS's defense strategies (update_defense_level, ip_vs_todrop,
# ip_vs_random_dropentry) as 6.1 runs them. "Memory low" is forced with
# amemthresh = 2147483647 pages (more than any machine has free) and lifted with
# amemthresh = 0. Silent real server 198.18.1.11 (NAT), spoofed silent clients
# 198.19.x.y: every conn stays in SYN_RECV (60 s).
#  1. drop_packet=3 (am_droprate 10, then 3): which of N SYNs from distinct
#     clients get a conn (ip_vs_todrop's counter from a fresh netns);
#  2. the automatic modes: 1 flips to 2 at the write when memory is low
#     (proc_do_defense_mode runs update_defense_level), back to 1 within the
#     1 s defense timer when it is not; drop_packet=2 with memory low drops
#     every SYN (rate amemthresh / (amemthresh - availmem) = 1);
#  3. drop_entry=3: SYN_RECV conns removed at random, 1/32 of the table a
#     second; the count of 2000 half-open conns after 1..5 s, and an
#     ESTABLISHED conn (in_pkts 2, idle < 60 s) kept.
golden_setup
start_senders
D=/proc/sys/net/ipv4/vs
VIP=198.18.2.4
rd() { echo "drop_entry=$(cat $D/drop_entry) drop_packet=$(cat $D/drop_packet) secure_tcp=$(cat $D/secure_tcp)"; }
nconn() { ipvsadm -L -n -c | grep -c "$1"; }
ipvsadm -A -t $VIP:80 -s rr
ipvsadm -a -t $VIP:80 -r 198.18.1.11:80 -m
syns() { # $1 = third octet, $2 = count: clients 198.19.$1.1..N port 1000
  i=1; while [ $i -le $2 ]; do echo "198.19.$1.$i 1000"; i=$((i + 1)); done | ip netns exec cli synsend $VIP 80 > /dev/null
  sleep 0.3
}
kept() { # which clients of 198.19.$1.* got a conn, as a list of host numbers
  ipvsadm -L -n -c | awk -v p="198.19.$1." 'index($4, p) == 1 { split($4, a, ":"); split(a[1], b, "."); print b[4] }' | sort -n | tr '\n' ' '; echo
}
echo "== 1 drop_packet=3"
echo "defaults: $(rd) amemthresh=$(cat $D/amemthresh) am_droprate=$(cat $D/am_droprate)"
echo 3 > $D/drop_packet; echo "set drop_packet=3: $(rd)"
syns 1 100; echo "am_droprate=10, 100 SYNs: conns=$(nconn 198.19.1.)"; echo "kept: $(kept 1)"
echo 3 > $D/am_droprate
sleep 1.2   # am_droprate is a plain int: drop_rate takes it at the next defense run
syns 2 30; echo "am_droprate=3, 30 SYNs: conns=$(nconn 198.19.2.)"; echo "kept: $(kept 2)"
echo 0 > $D/drop_packet; echo 10 > $D/am_droprate
syns 3 10; echo "drop_packet=0, 10 SYNs: conns=$(nconn 198.19.3.)"
echo "== 2 automatic modes"
echo 2147483647 > $D/amemthresh
echo "amemthresh=2147483647 (no write to a mode yet): $(rd)"
echo 1 > $D/drop_entry; echo "write drop_entry=1: $(rd)"
echo 1 > $D/drop_packet; echo "write drop_packet=1: $(rd)"
echo 1 > $D/secure_tcp; echo "write secure_tcp=1: $(rd)"
syns 4 10; echo "drop_packet=2 with memory low, 10 SYNs: conns=$(nconn 198.19.4.)"
echo 0 > $D/drop_entry; echo "write drop_entry=0: $(rd)"
echo 2 > $D/drop_entry; echo "write drop_entry=2 (memory low): $(rd)"
echo 0 > $D/amemthresh
echo "amemthresh=0, at once: $(rd)"
sleep 1.5
echo "amemthresh=0, 1.5 s later: $(rd)"
echo 2 > $D/drop_packet; echo "write drop_packet=2 (memory plentiful): $(rd)"
echo 3 > $D/secure_tcp; echo "write secure_tcp=3: $(rd)"
echo 0 > $D/drop_entry; echo 0 > $D/drop_packet; echo 0 > $D/secure_tcp
echo "== 3 drop_entry=3"
ipvsadm -C
ipvsadm -A -t $VIP:80 -s rr
ipvsadm -a -t $VIP:80 -r 198.18.1.11:80 -m
# an ESTABLISHED conn: client SYN, server SYN-ACK, client ACK
send_cli tcp 198.19.9.9 2000 $VIP 80 S 1000 0; sleep 0.05
send_dst tcp 198.18.1.11 80 198.19.9.9 2000 SA 5000 1001; sleep 0.05
send_cli tcp 198.19.9.9 2000 $VIP 80 A 1001 5001; sleep 0.05
i=0; while [ $i -lt 2000 ]; do echo "198.19.$((10 + i / 200)).$((1 + i % 200)) 1000"; i=$((i + 1)); done | ip netns exec cli synsend $VIP 80 > /dev/null
sleep 0.3
# counts of this part's clients only (198.19.10-19.x; part 1's conns are still there), with
# the uptime at the start of each listing (a listing of 2000 conns takes a while)
half() { ipvsadm -L -n -c | grep SYN_RECV | grep -cE ' 198\.19\.1[0-9]\.'; }
snap() { echo "$1 uptime=$(cut -d' ' -f1 /proc/uptime): SYN_RECV=$(half) ESTABLISHED=$(nconn ESTABLISHED)"; }
snap before
echo 3 > $D/drop_entry; echo "write drop_entry=3 at uptime=$(cut -d' ' -f1 /proc/uptime): $(rd)"
t=1; while [ $t -le 5 ]; do sleep 1; snap "after ${t} s"; t=$((t + 1)); done
echo 0 > $D/drop_entry

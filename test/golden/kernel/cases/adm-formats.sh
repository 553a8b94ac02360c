# Case adm-formats: ipvsadm listing formats and error texts beyond oracle case a
# (test/rules/oracle-a): IPv6 services and dests, fwmark services (-f, also -6),
# persistence (-p, -p N -M mask), scheduler flags (-b sh-*/mh-*), -L without -n
# for ports named in /etc/services (22 ssh, 53 domain, 80 http, 443 https),
# --stats/--rate/--exact with real traffic, --thresholds, --persistent-conn,
# -c with IPv4 and IPv6 conns and templates, -S / -S -n, error texts for bad
# addresses, ports, netmasks and scheduler flags.
#
# Traffic: spoofed clients send SYNs (synsend for IPv4, pktsend for IPv6 and
# UDP) from netns cli; the real servers 198.18.1.1-3 / 2001:2:0:1::1-3 in netns
# dst answer with RST (nothing listens) or ICMP port unreachable, so outpkts
# count too. Listings are taken > 2 s after the last packet (the estimator runs
# every 2 s), one right after the other.
# Output: stdout.txt, sections "=== $ cmd ===" ... "--- rc=N" (lib-golden run()).
golden_setup
golden_setup6 2001:2::100
sleep 1
ipvsadm --version

echo "##### services"
V=198.18.0.100; V6=2001:2::100
run ipvsadm -A -t $V:80 -s wlc
run ipvsadm -a -t $V:80 -r 198.18.1.1:80 -m -w 2
run ipvsadm -a -t $V:80 -r 198.18.1.2:80 -m -w 1 -x 50 -y 10
run ipvsadm -A -t $V:443 -s sh -b sh-port,sh-fallback -p 120
run ipvsadm -a -t $V:443 -r 198.18.1.1:443 -m
run ipvsadm -a -t $V:443 -r 198.18.1.2:443 -m -w 3
run ipvsadm -A -t $V:22 -s mh -b mh-fallback,mh-port
run ipvsadm -a -t $V:22 -r 198.18.1.3:22 -g -w 1
run ipvsadm -A -u $V:53 -s rr -p -M 255.255.255.0
run ipvsadm -a -u $V:53 -r 198.18.1.3:53 -m
run ipvsadm -A -t $V:8443 -s mh -b mh-port -p 600 -M 255.255.0.0
run ipvsadm -a -t $V:8443 -r 198.18.1.3:8443 -i -w 5 -x 100 -y 0
run ipvsadm -A -f 1 -s rr
run ipvsadm -a -f 1 -r 198.18.1.1:0 -g
run ipvsadm -a -f 1 -r 198.18.1.2 -i -w 4
run ipvsadm -A -f 2 -6 -s wrr -p 30 -M 64
run ipvsadm -a -f 2 -6 -r [2001:2:0:1::2] -g -w 2
run ipvsadm -a -f 2 -6 -r 2001:2:0:1::2 -g -w 2
run ipvsadm -a -f 2 -6 -r [2001:2:0:1::2]:0 -g -w 2
run ipvsadm -A -t [$V6]:80 -s rr
run ipvsadm -a -t [$V6]:80 -r [2001:2:0:1::1]:80 -m -w 3
run ipvsadm -a -t [$V6]:80 -r [2001:2:0:1::2]:80 -m -x 20 -y 5
run ipvsadm -A -u [$V6]:53 -s sh -b sh-port
run ipvsadm -a -u [$V6]:53 -r [2001:2:0:1::3]:53 -m
run ipvsadm -A -t [$V6]:443 -s rr -p 60 -M 64
run ipvsadm -a -t [$V6]:443 -r [2001:2:0:1::1]:443 -m
run ipvsadm -A -t [$V6]:22 -s mh -b mh-fallback
run ipvsadm -a -t [$V6]:22 -r [2001:2:0:1::3]:22 -g

echo "##### error texts"
run ipvsadm -A -t 198.18.0.300:80 -s rr
run ipvsadm -A -t 198.18.0:80 -s rr
run ipvsadm -A -t nosuchhost.invalid:80 -s rr
run ipvsadm -A -t [2001:2::zz]:80 -s rr
run ipvsadm -A -t 2001:2::100:80 -s rr
run ipvsadm -A -t [2001:2::100:80 -s rr
run ipvsadm -A -t $V:99999 -s rr
run ipvsadm -A -t $V:-1 -s rr
run ipvsadm -A -t $V:nosuchport -s rr
run ipvsadm -A -t $V:0 -s rr
run ipvsadm -a -t $V:80 -r 198.18.1.9:70000 -m
run ipvsadm -a -t $V:80 -r 198.18.1.999:80 -m
run ipvsadm -a -t [$V6]:80 -r 198.18.1.9:80 -m
run ipvsadm -a -t $V:80 -r [2001:2:0:1::9]:80 -m
run ipvsadm -A -t $V:81 -s rr -p 60 -M 255.0.255.0
run ipvsadm -A -t $V:81 -s rr -p 60 -M 255.255.255.256
run ipvsadm -A -t $V:81 -s rr -p 60 -M nomask
run ipvsadm -A -t [$V6]:81 -s rr -p 60 -M 129
run ipvsadm -A -t [$V6]:81 -s rr -p 60 -M 255.255.255.0
run ipvsadm -A -t $V:81 -s rr -M 255.255.255.0
run ipvsadm -A -t $V:81 -s sh -b nosuchflag
run ipvsadm -A -t $V:81 -s sh -b sh-port,bogus
run ipvsadm -A -t $V:81 -s mh -b mh-port,sh-port
run ipvsadm -A -t $V:81 -s rr -b sh-port
run ipvsadm -A -t $V:81 -s rr -p 0
run ipvsadm -A -t $V:81 -s rr -p abc
run ipvsadm -A -f 0 -s rr
run ipvsadm -A -f abc -s rr
run ipvsadm -L -n -t $V:81
run ipvsadm -L -n

echo "##### traffic"
i=1; while [ $i -le 40 ]; do echo "198.19.1.$i $((41000 + i))"; i=$((i + 1)); done | ip netns exec cli synsend $V 80
i=1; while [ $i -le 6 ]; do echo "198.19.2.$i $((42000 + i))"; i=$((i + 1)); done | ip netns exec cli synsend $V 443
ip netns exec cli synsend $V 22 198.19.3.1 43001
start_senders
send_cli udp 198.19.4.1 44001 $V 53 data=68656c6c6f
send_cli udp 198.19.4.2 44002 $V 53 data=68656c6c6f
i=1; while [ $i -le 12 ]; do send_cli tcp 2001:2:0:2::$i $((45000 + i)) $V6 80 S 1000 0; i=$((i + 1)); done
send_cli udp 2001:2:0:2::21 46001 $V6 53 data=68656c6c6f
send_cli tcp 2001:2:0:2::31 47001 $V6 443 S 1000 0
send_cli tcp 2001:2:0:2::32 47002 $V6 22 S 1000 0
# 80 datagrams of 1400 bytes on one conn: byte counters past 99999 (K in the listings)
D=$(i=0; while [ $i -lt 1400 ]; do printf 61; i=$((i + 1)); done)
i=1; while [ $i -le 80 ]; do send_cli udp 198.19.5.1 45555 $V 53 data=$D; i=$((i + 1)); done
stop_senders
sleep 2.5

echo "##### listings"
run ipvsadm -L -n
run ipvsadm -L
run ipvsadm -S -n
run ipvsadm -S
run ipvsadm -L -n --stats
run ipvsadm -L -n --stats --exact
run ipvsadm -L -n --rate
run ipvsadm -L -n --rate --exact
run ipvsadm -L --stats
run ipvsadm -L -n --thresholds
run ipvsadm -L -n --persistent-conn
run ipvsadm -L -n -c
run ipvsadm -L -c
run ipvsadm -L -n -c --persistent-conn
run ipvsadm -L -n -t [$V6]:80
run ipvsadm -L -n -t [$V6]:80 --stats
run ipvsadm -L -t [$V6]:80
run ipvsadm -L -n -u $V:53
run ipvsadm -L -n -f 1
run ipvsadm -L -n -f 2
run ipvsadm -L -n -f 2 -6
run ipvsadm -L -f 1
run ipvsadm -L -n -t $V:443 --thresholds
run ipvsadm -L -n -t [$V6]:80 --persistent-conn
run ipvsadm -S -n -t [$V6]:80
run ipvsadm -S -n -f 2
run cat /proc/net/ip_vs
run cat /proc/net/ip_vs_conn
run cat /proc/net/ip_vs_stats
run cat /proc/net/ip_vs_stats_percpu

# Case keepalived-checks: real keepalived 2.2.7 (checker process, -C) against real servers in the
# oracle's dst namespace (busybox httpd on 198.18.1.1 and .2), to record which tables its checkers
# set and when: the server behind HTTP_GET is killed at ~4 s and started again at ~10 s; quorum 2
# with a sorry server (198.18.1.3) and inhibit_on_failure on the other server.
# Output: "t=MS TABLE" (ms since keepalived started, ipvsadm -S -n joined by " | ") each time the
# table changes, and "t=MS event: ..." for what the case did; 20 s in all.
# needs-bins: /usr/sbin/keepalived
. /host/lib/lib-net.sh
net_setup
D=/tmp/ka
mkdir -p $D/www
printf 'ok\n' > $D/www/index.html
cat > $D/k.conf <<'KA_CONF_END'
virtual_server 198.18.0.100 80 {
  delay_loop 2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  quorum 2
  sorry_server 198.18.1.3 80
  real_server 198.18.1.1 80 {
    weight 1
    inhibit_on_failure
    TCP_CHECK {
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
  real_server 198.18.1.2 80 {
    weight 1
    HTTP_GET {
      url {
        path /index.html
        digest 2f28ca4c3b8b2d0b8ba7a3ab3e3e2f3c
      }
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
}
KA_CONF_END
sed -i "s/2f28ca4c3b8b2d0b8ba7a3ab3e3e2f3c/$(md5sum < $D/www/index.html | cut -d' ' -f1)/" $D/k.conf
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# httpd ADDR / stophttpd ADDR: busybox httpd on ADDR:80 in dst (found by its command line: $! is the ip wrapper's)
httpd_on() { ip netns exec dst httpd -f -p $1:80 -h $D/www & }
stophttpd() { for p in $(pidof httpd); do tr '\0' ' ' < /proc/$p/cmdline | grep -q "$1:80" && kill $p; done; }
httpd_on 198.18.1.1
httpd_on 198.18.1.2
sleep 0.5
T0=$(ms)
keepalived -C -n -l -D -f $D/k.conf -p $D/k.pid -c $D/c.pid > $D/k.log 2>&1 &
KA=$!
prev=""
killed=0; restarted=0
while :; do
  t=$(( $(ms) - T0 ))
  [ $t -ge 20000 ] && break
  if [ $killed = 0 ] && [ $t -ge 4000 ]; then stophttpd 198.18.1.2; killed=1; echo "t=$t event: httpd on 198.18.1.2 killed"; fi
  if [ $restarted = 0 ] && [ $t -ge 10000 ]; then httpd_on 198.18.1.2; restarted=1; echo "t=$t event: httpd on 198.18.1.2 started"; fi
  cur=$(ipvsadm -S -n | tr '\n' '|' | sed 's/|$//; s/|/ | /g')
  if [ "$cur" != "$prev" ]; then echo "t=$t $cur"; prev=$cur; fi
  sleep 0.05
done
kill -9 $KA; wait $KA 2>/dev/null
[ -s $D/c.pid ] && kill -9 $(cat $D/c.pid)
for p in $(pidof keepalived); do kill -9 $p; done
stophttpd 198.18.1.1; stophttpd 198.18.1.2
grep -E 'Gained|Lost|Removing|Adding|Enabling|Disabling|TCP connection|HTTP|md5' $D/k.log | sed 's/^[^:]*:[^:]*:[^:]*: //'
ipvsadm -C

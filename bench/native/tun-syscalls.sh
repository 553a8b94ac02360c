#!/bin/sh
# bench/native/tun-syscalls.sh - build and run bench/native/tun-syscalls.c in two namespaces of its own
# (198.18.249.0/24 .. 198.18.253.0/24, names carry the pid), removed at exit. Needs root, gcc. ~10 s.
set -eu
here=$(dirname "$0"); ns=wvs-tsys-$$; sink=wvs-tsysk-$$; bin=$(mktemp /tmp/wvs-tsys.XXXXXX)
trap 'ip netns del $ns 2>/dev/null; ip netns del $sink 2>/dev/null; rm -f $bin' EXIT INT TERM
gcc -O2 -Wall -o "$bin" "$here/tun-syscalls.c"
ip netns add $ns; ip netns add $sink
ip -n $ns link set lo up
ip -n $ns link add vb0 type veth peer name vb1 netns $sink
ip -n $ns link set vb0 up; ip -n $sink link set vb1 up
ip -n $ns addr add 198.18.253.254/24 dev vb0
ip -n $ns link add wd0 type ifb; ip -n $ns link set wd0 up; ip -n $ns addr add 198.18.249.254/24 dev wd0
for d in 1 2 3; do ip -n $ns neigh add 198.18.253.$d lladdr 02:00:00:00:00:0$d dev vb0 nud permanent; done
for k in net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
         net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0; do
  ip netns exec $ns sysctl -qw $k
done
echo "load $(cat /proc/loadavg)"
ip netns exec $ns "$bin"

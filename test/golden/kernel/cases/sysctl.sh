# Case sysctl: every net.ipv4.vs.* the 6.1 kernel has, its default (sysctl -a
# format), and which values its proc handler accepts. For each name, each probe
# value is written with `echo V > /proc/sys/...`; the line says ok or the error
# and the value read back, then the default is written back. Output: stdout
# (no traffic, no helpers from lib-golden.sh needed).
D=/proc/sys/net/ipv4/vs
echo "== defaults"
for f in $D/*; do
  n=${f##*/}
  printf 'net.ipv4.vs.%s = %s\n' "$n" "$(cat $f | tr '\t' ' ')"
done
echo "== probes"
for f in $D/*; do
  n=${f##*/}
  def=$(cat $f)
  for v in -1 0 1 2 3 4 5 100 abc "1 2" "3 200" "1000 50"; do
    if echo "$v" > $f 2>/dev/null; then r=ok; else r=refused; fi
    printf '%s <- "%s": %s, reads %s\n' "$n" "$v" "$r" "$(cat $f | tr '\t' ' ')"
    echo "$def" > $f 2>/dev/null
  done
done

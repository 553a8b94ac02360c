# Case ops: one-packet scheduling (ipvsadm -o / --ops, IP_VS_SVC_F_ONEPACKET).
# Silent topology of lib-golden.sh: dests 198.18.1.11-13 impersonated by nobody,
# client 198.19.0.2 spoofed by pktsend in netns cli. Each service is rr over
# the three dests; six datagrams (or three SYNs) from ONE client port, and a
# jsnap (conns of that client port, the dests' Active/InActConn) after each.
# dest-side.pcap says where each packet went.
#   A  UDP  VIP:53 -o   : the kernel schedules every datagram (rr: .11 .12 .13 .11 ...),
#                         and keeps no conn (ip_vs_conn_new does not hash it,
#                         ip_vs_conn_put expires it at once)
#   B  UDP  VIP:54      : without -o the first datagram's conn takes them all
#   C  TCP  VIP:80 -o   : ipvsadm refuses it ("One-Packet Scheduling is only for UDP
#                         virtual services"), so the SYNs find no service
golden_setup
start_senders
J=ops.jsonl; : > $J
VIP=198.18.2.2
C=198.19.0.2
capture_start "udp or tcp"
for P in 53 54; do
  if [ $P = 53 ]; then O=-o; else O=; fi
  ipvsadm -A -u $VIP:$P -s rr $O
  for d in 11 12 13; do ipvsadm -a -u $VIP:$P -r 198.18.1.$d:$P -m; done
  for k in 1 2 3 4 5 6; do
    send_cli udp $C 30001 $VIP $P data=71756572790a; sleep 0.05
    jsnap $J "udp $P${O:+ -o}: after datagram $k" $C 30001 -u $VIP:$P
  done
done
ipvsadm -A -t $VIP:80 -s rr -o
for d in 11 12 13; do ipvsadm -a -t $VIP:80 -r 198.18.1.$d:80 -m; done
for k in 1 2 3; do
  send_cli tcp $C 30002 $VIP 80 S 1000 0; sleep 0.05
  jsnap $J "tcp 80 -o: after SYN $k" $C 30002 -t $VIP:80
done
capture_stop
run ipvsadm -L -n -c
run ipvsadm -L -n --stats --exact
run ipvsadm -S -n

# Case keepalived-start: the IPVS table real keepalived (Debian 12's 2.2.7, checker process
# only: -C) sets up at start from each of wasmvs's keepalived fixtures
# (test/keepalived/fixtures/*.conf, embedded below verbatim; test/keepalived/parse.test.ts
# checks they have not drifted), before any check has changed it: the table is read once it
# has stopped changing, then the checker process is stopped (SIGSTOP) - its first checks run
# one second after start (check_api.c BOOTSTRAP_DELAY) - and `ipvsadm -S -n` is recorded.
# Output per fixture: "=== NAME", the table, "--- end".
# needs-bins: /usr/sbin/keepalived
D=/tmp/ka
mkdir -p $D/conf.d
cat > $D/sample.conf <<'KA_FIXTURE_END'
! Configuration File for keepalived (the constructs of doc/samples/keepalived.conf.sample)
global_defs {
   notification_email {
     lb-admin
   }
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 50
    priority 100
    advert_int 1
    virtual_ipaddress {
        198.18.2.11
    }
}

virtual_server 198.18.2.1 1358 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP

    sorry_server 198.18.1.200 1358

    real_server 198.18.1.11 1358 {
        weight 1
        HTTP_GET {
            url {
              path /testurl/test.jsp
              digest 640205b7b0fc66c1ea91c463fac6334d
            }
            url {
              path /testurl2/test.jsp
              digest 640205b7b0fc66c1ea91c463fac6334d
            }
            connect_timeout 3
            retry 3
            delay_before_retry 3
        }
    }

    real_server 198.18.1.12 1358 {
        weight 3
        TCP_CHECK {
            connect_timeout 3
        }
    }
}

virtual_server 198.18.2.2 53 {
    delay_loop 10
    lvs_sched wlc
    lvs_method NAT
    protocol UDP
    ops
    real_server 198.18.1.11 53 {
        weight 2
        DNS_CHECK {
            type A
            name example.org
        }
    }
    real_server 198.18.1.12 53 {
        UDP_CHECK {
            payload 00ff
            require_reply
        }
    }
}
KA_FIXTURE_END
cat > $D/inhibit-alpha.conf <<'KA_FIXTURE_END'
! inhibit_on_failure, alpha and the sorry server (doc/samples/keepalived.conf.inhibit, .quorum)
virtual_server 198.18.2.1 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    alpha
    sorry_server 198.18.1.200 8080
    real_server 198.18.1.11 80 {
        weight 5
        inhibit_on_failure        ! weight 0 instead of removing the server
        HTTP_GET {
            url {
              path /
              status_code 200-299 400-499 503 505
            }
            connect_timeout 3
        }
    }
    real_server 198.18.1.12 80 {
        weight 2
        TCP_CHECK {
            connect_port 8080
        }
    }
}

virtual_server 198.18.2.3 443 {
    lb_algo rr
    protocol TCP
    persistence_timeout
    persistence_granularity 255.255.255.0
    sorry_server 198.18.1.201 443
    sorry_server_inhibit
    real_server 198.18.1.13 443 {
        weight 1
        SSL_GET {
            url {
              path /mrtg/
              digest 9b3a0c85a887a256d6939da88aabd8cd
              status_code 200
            }
            virtualhost www.example.org
            enable_sni
        }
    }
}
KA_FIXTURE_END
cat > $D/group-fwmark.conf <<'KA_FIXTURE_END'
! virtual_server_group with a range and fwmarks (doc/samples/keepalived.conf.virtual_server_group, .fwmark)
virtual_server_group VSG_1 {
	198.18.2.1 8080
	198.18.2.5-7 80
	fwmark 1
}

virtual_server group VSG_1 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 198.18.1.11 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
}

virtual_server fwmark 7 {
  delay_loop 6
  lb_algo sh
  sh-port
  lb_kind DR
  persistence_timeout 900
  real_server 198.18.1.21 {
    weight 1
    TCP_CHECK {
      connect_port    80
      connect_timeout 3
    }
  }
  real_server 198.18.1.22 {
    weight 1
    lvs_method TUN type gue port 6080
    TCP_CHECK {
      connect_port    80
    }
  }
}
KA_FIXTURE_END
cat > $D/misc-include.conf <<'KA_FIXTURE_END'
# MISC_CHECK, quorum with hysteresis and include (doc/samples/keepalived.conf.misc_check, .quorum)
include conf.d/*.conf
virtual_server 2001:2:0:2::1 80 {
    protocol TCP
    lb_algo wlc
    quorum 3
    hysteresis 1
    quorum_up "/bin/true up"
    quorum_down /bin/true
    omega
    real_server 2001:2:0:1::11 80 {
        weight 2
        notify_up "/bin/true rs up"
        notify_down /bin/true
        MISC_CHECK {
          misc_path "/bin/sh -c exit"
          misc_timeout 5
          misc_dynamic
        }
    }
    real_server 2001:2:0:1::12 80 {
        weight 2
        uthreshold 100
        lthreshold 10
    }
}

virtual_server fwmark 3 {
    lb_algo rr
    real_server 2001:2:0:1::13 80 {
        TCP_CHECK {
        }
    }
}
KA_FIXTURE_END
cat > $D/conf.d/a.conf <<'KA_FIXTURE_END'
virtual_server 198.18.2.9 25 {
    protocol TCP
    lb_algo lc
    real_server 198.18.1.11 25 {
        weight 4
    }
}
KA_FIXTURE_END
cat > $D/conf.d/b.conf <<'KA_FIXTURE_END'
virtual_server 198.18.2.9 110 { protocol SCTP
    lb_algo rr
    real_server 198.18.1.11 110 { weight 1 }
}
KA_FIXTURE_END

# a table that is the same on two reads 100 ms apart, at most ~5 s after start
settled() {
  prev=""; i=0
  while [ $i -lt 50 ]; do
    cur=$(ipvsadm -S -n)
    if [ -n "$cur" ] && [ "$cur" = "$prev" ]; then return 0; fi
    prev=$cur; i=$((i + 1)); sleep 0.1
  done
  echo "table did not settle"
}
for n in sample inhibit-alpha group-fwmark misc-include; do
  ipvsadm -C
  rm -f $D/k.pid $D/c.pid
  keepalived -C -n -l -D -f $D/$n.conf -p $D/k.pid -c $D/c.pid > $D/$n.log 2>&1 &
  KA=$!
  settled
  [ -s $D/c.pid ] && kill -STOP $(cat $D/c.pid)
  echo "=== $n"
  ipvsadm -S -n
  echo "--- end"
  # the parent first (it would respawn the checker process), then the checker; nothing may
  # touch IPVS while the next fixture starts (this runs inside the oracle VM only)
  kill -9 $KA
  wait $KA 2>/dev/null
  [ -s $D/c.pid ] && kill -9 $(cat $D/c.pid)
  for p in $(pidof keepalived); do kill -9 $p; done
  sleep 0.2
  cp $D/$n.log ./keepalived-$n.log
done
ipvsadm -C

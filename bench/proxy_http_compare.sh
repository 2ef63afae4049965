#!/usr/bin/env bash
# Forwarded HTTP through two rampart proxy binaries (say, before and after
# a change) and Squid, interleaved: ROUNDS rounds of wrk against each in
# turn, so machine load hits all three alike. The setup is
# bench/proxy_bench.sh's HTTP part (nginx origin answering a fixed 200,
# the same 10,000-name allowlist, 2 workers, access log off; Squid with
# dstdomain -n, no cache). Prints requests/s and the proxy's CPU time
# (user + system, all threads, from schedstat) per request for each run.
#   bench/proxy_http_compare.sh BINARY_A BINARY_B
#   env: ROUNDS (3), DURATION (8), CONNS (16)
set -euo pipefail
A=$1 B=$2
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-16}
WORK=$(mktemp -d)
chmod 777 "$WORK"
trap 'kill $(jobs -p) 2>/dev/null || true; { [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")"; } || true; rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Nanoseconds on CPU so far, all threads (schedstat: finer than the
# 10 ms ticks of /proc/PID/stat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%.0f\n", s}'; }
wait_port() { for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

OP=$(port)
mkdir -p "$WORK/nginx" "$WORK/squid"
chmod 777 "$WORK/squid"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$OP; location / { return 200 "ok"; } }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_port "$OP"

AP=$(port); BP=$(port); SP=$(port)
python3 - "$WORK" "$AP" "$BP" "$OP" <<'PY'
import json, sys
work, ap, bp, op = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
names = [f"host-{i}.bench-{i % 97}.example" for i in range(10000)] + ["127.0.0.1", "localhost"]
open(f"{work}/allow.txt", "w").write("\n".join(names) + "\n")
for tag, p in (("a", ap), ("b", bp)):
    json.dump({"listen": f"127.0.0.1:{p}", "allowed_clients": ["127.0.0.0/8"], "allow": names,
               "allowed_ports": [op, 443], "ssrf_allow": ["127.0.0.0/8"], "workers": 2,
               "watch_config": False, "require_sni": False, "limits": {"max_connections": 100000}},
              open(f"{work}/{tag}.json", "w"))
PY
chmod 644 "$WORK/allow.txt"
cat >"$WORK/squid/squid.conf" <<SQUID
http_port 127.0.0.1:$SP
pid_filename $WORK/squid/squid.pid
cache_log $WORK/squid/cache.log
access_log none
cache deny all
cache_mem 8 MB
coredump_dir $WORK/squid
shutdown_lifetime 1 seconds
max_filedescriptors 65536
acl allowed dstdomain -n "$WORK/allow.txt"
acl bench_ports port $OP 443
http_access deny !bench_ports
http_access allow allowed
http_access deny all
SQUID
"$A" proxy --config "$WORK/a.json" >/dev/null 2>&1 &
APID=$!
"$B" proxy --config "$WORK/b.json" >/dev/null 2>&1 &
BPID=$!
squid -N -f "$WORK/squid/squid.conf" >/dev/null 2>&1 &
wait_port "$AP"; wait_port "$BP"; wait_port "$SP"
sleep 1
SPID=$(cat "$WORK/squid/squid.pid")
cat >"$WORK/proxy.lua" <<LUA
wrk.path = "http://127.0.0.1:$OP/"
wrk.headers["Host"] = "127.0.0.1:$OP"
LUA

echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ); A=$A B=$B"
for r in $(seq "$ROUNDS"); do
  for p in "A $AP $APID" "B $BP $BPID" "squid $SP $SPID"; do
    set -- $p
    t0=$(cpu_ns "$3")
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$WORK/proxy.lua" "http://127.0.0.1:$2")
    t1=$(cpu_ns "$3")
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    errs=$(echo "$out" | grep -cE "Socket errors|Non-2xx" || true)
    us=$(echo "scale=1; ($t1 - $t0) / 1000 / $n" | bc)
    echo "round $r $1: $rps req/s, $us us CPU per request, load $(cut -d' ' -f1 /proc/loadavg)$([ "$errs" -gt 0 ] && echo ', ERRORS')"
  done
done

#!/usr/bin/env bash
# Egress proxy benchmark (issue 7): rampart proxy against Squid and
# tinyproxy in one run, each with the same 10,000-entry allowlist (plus the
# origin, 127.0.0.1) in front of an nginx origin answering a fixed 200 on
# loopback. For each proxy:
#   - plain HTTP through the proxy (absolute-form GET, keep-alive) with wrk:
#     requests/s, p50, p99 at $CONNS connections for $DURATION seconds;
#   - reloads under load: the same wrk run while the proxy reloads its
#     config ten times (rampart: SIGHUP; Squid: squid -k reconfigure;
#     tinyproxy: SIGUSR1); wrk's socket errors and non-2xx counts, and how
#     many reloads each proxy logged;
#   - new CONNECT+TLS tunnels/s and p50/p99 time to first byte against an
#     nginx TLS origin (bench/proxy_tls_load.cc: every iteration a new TCP
#     connection, CONNECT, full TLS 1.3 handshake with SNI, one GET), and
#     the same straight to the origin as the baseline;
#   - bulk throughput through one tunnel against direct loopback
#     (bench/proxy_tunnel_throughput.py --attach; rampart also with its
#     buffered relay, "splice": false);
#   - RSS per idle CONNECT tunnel (bench/proxy_tunnel_memory.py --attach).
# Squid (squid-openssl, for ssl_bump) and tinyproxy are installed with
# apt-get if missing (bench only). Squid is configured as in the AWS
# design: dstdomain -n for HTTP, ssl_bump peek at step 1, splice for
# allowlisted SNI, terminate the rest.
#   bench/proxy_bench.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
TUNNELS=${TUNNELS:-1000}
BULK_MIB=${BULK_MIB:-2048}
cd "$(dirname "$0")/.."
BIN=$PWD/$BUILD/bin/rampart
WORK=$(mktemp -d)
chmod 777 "$WORK"
trap 'kill $(jobs -p) 2>/dev/null; [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")"; rm -rf "$WORK"' EXIT

need=()
squid -v 2>/dev/null | grep -q -- --with-openssl || need+=(squid-openssl)
command -v tinyproxy >/dev/null || need+=(tinyproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU time (user + system, all threads) a process has used, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Microseconds of CPU per unit of work between two tick readings.
cpu_us_per() { echo "($2 - $1) * 1000000 / $(getconf CLK_TCK) / $3" | bc; }
wait_port() { for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

g++ -O2 -std=c++20 bench/proxy_tls_load.cc -o "$WORK/proxy_tls_load" -lssl -lcrypto -pthread
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# --- origin ---------------------------------------------------------------
OP=$(port); OTP=$(port)
mkdir -p "$WORK/nginx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$WORK/nginx/key.pem" -out "$WORK/nginx/cert.pem" 2>/dev/null
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
  server {
    listen 127.0.0.1:$OTP ssl;
    ssl_certificate $WORK/nginx/cert.pem;
    ssl_certificate_key $WORK/nginx/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_tickets off;
    location / { return 200 "ok"; }
  }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_port "$OP"; wait_port "$OTP"

# --- the same allowlist for all three ---------------------------------------
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
names = [f"host-{i}.bench-{i % 97}.example" for i in range(10000)]
with open(f"{work}/allow.txt", "w") as f:
    f.write("\n".join(names + ["127.0.0.1", "localhost"]) + "\n")
with open(f"{work}/tinyproxy-filter.txt", "w") as f:
    f.write("\n".join("^" + n.replace(".", "\\.") + "$" for n in names + ["127.0.0.1", "localhost"]) + "\n")
PY

# --- the proxies --------------------------------------------------------------
RP=$(port); SP=$(port); TP=$(port)
export BENCH_ORIGIN_PORT=$(port)  # the silent origin of the tunnel memory test
export BENCH_BULK_PORT=$(port)    # the origin of the bulk throughput test
python3 - "$WORK" "$RP" "$OP" "$BENCH_ORIGIN_PORT" "$OTP" "$BENCH_BULK_PORT" <<'PY'
import json, sys
work, rp = sys.argv[1], sys.argv[2]
ports = [int(p) for p in sys.argv[3:]]
allow = open(f"{work}/allow.txt").read().split()
json.dump({"listen": f"127.0.0.1:{rp}", "allowed_clients": ["127.0.0.0/8"], "allow": allow,
           "allowed_ports": ports + [443], "ssrf_allow": ["127.0.0.0/8"], "workers": 2,
           "hosts": {"localhost": ["127.0.0.1"]},
           "watch_config": False, "require_sni": False, "limits": {"max_connections": 100000}},
          open(f"{work}/rampart.json", "w"))
PY
mkdir -p "$WORK/squid"; chmod 777 "$WORK/squid"
# ssl_bump needs a certificate on the port even when it only peeks and splices.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-bump \
  -keyout "$WORK/squid/bump-key.pem" -out "$WORK/squid/bump.pem" 2>/dev/null
chmod 644 "$WORK/squid/bump-key.pem"
cat >"$WORK/squid/squid.conf" <<SQUID
http_port 127.0.0.1:$SP ssl-bump tls-cert=$WORK/squid/bump.pem tls-key=$WORK/squid/bump-key.pem generate-host-certificates=off
pid_filename $WORK/squid/squid.pid
cache_log $WORK/squid/cache.log
access_log none
cache deny all
cache_mem 8 MB
coredump_dir $WORK/squid
shutdown_lifetime 1 seconds
max_filedescriptors 65536
acl allowed dstdomain -n "$WORK/allow.txt"
acl bench_ports port $OP $BENCH_ORIGIN_PORT $OTP $BENCH_BULK_PORT 443
acl step1 at_step SslBump1
acl allowed_sni ssl::server_name "$WORK/allow.txt"
http_access deny !bench_ports
http_access allow allowed
http_access deny all
ssl_bump peek step1
ssl_bump splice allowed_sni
ssl_bump terminate all
SQUID
cat >"$WORK/tinyproxy.conf" <<TINY
User nobody
Group nogroup
Port $TP
Listen 127.0.0.1
Timeout 600
MaxClients 5000
PidFile "$WORK/tinyproxy.pid"
LogFile "$WORK/tinyproxy.log"
LogLevel Critical
Filter "$WORK/tinyproxy-filter.txt"
FilterURLs Off
FilterExtended On
FilterDefaultDeny Yes
ConnectPort $OP
ConnectPort $BENCH_ORIGIN_PORT
ConnectPort $OTP
ConnectPort $BENCH_BULK_PORT
TINY
chmod 644 "$WORK"/*.txt "$WORK"/*.conf

"$BIN" proxy --config "$WORK/rampart.json" >/dev/null 2>"$WORK/rampart.log" &
RPID=$!
squid -N -f "$WORK/squid/squid.conf" >/dev/null 2>&1 &
tinyproxy -d -c "$WORK/tinyproxy.conf" >/dev/null 2>&1 &
TPID=$!
wait_port "$RP"; wait_port "$SP"; wait_port "$TP"
sleep 1
SPID=$(cat "$WORK/squid/squid.pid")

cat >"$WORK/proxy.lua" <<LUA
wrk.path = "http://127.0.0.1:$OP/"
wrk.headers["Host"] = "127.0.0.1:$OP"
LUA

for p in "rampart $RP $RPID" "squid $SP $SPID" "tinyproxy $TP $TPID"; do
  set -- $p
  code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$2" "http://127.0.0.1:$OP/")
  echo "## $1: check allowed GET -> $code"
  echo "## $1: HTTP GET through the proxy, $CONNS connections, ${DURATION}s"
  t0=$(ticks "$3")
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/proxy.lua" "http://127.0.0.1:$2")
  t1=$(ticks "$3")
  echo "$out" | grep -E "Requests/sec|^ +50%|^ +99%|Socket errors|Non-2xx"
  echo "  proxy CPU per request: $(cpu_us_per "$t0" "$t1" "$(echo "$out" | awk '/requests in/ {print $1}')") us"
done

echo "## direct: new TLS connections to the origin, $CONNS threads, ${DURATION}s"
"$WORK/proxy_tls_load" --direct --origin "127.0.0.1:$OTP" --sni localhost --threads "$CONNS" --seconds "$DURATION" || true
for p in "rampart $RP $RPID" "squid $SP $SPID" "tinyproxy $TP $TPID"; do
  set -- $p
  echo "## $1: new CONNECT+TLS tunnels, $CONNS threads, ${DURATION}s"
  t0=$(ticks "$3")
  out=$("$WORK/proxy_tls_load" --proxy "127.0.0.1:$2" --target "localhost:$OTP" --sni localhost \
    --threads "$CONNS" --seconds "$DURATION" || true)
  t1=$(ticks "$3")
  echo "$out"
  n=$(echo "$out" | sed -n 's/^tunnels=\([0-9]*\).*/\1/p')
  [ "${n:-0}" -gt 0 ] && echo "  proxy CPU per tunnel: $(cpu_us_per "$t0" "$t1" "$n") us"
done

for p in "rampart $RP" "squid $SP" "tinyproxy $TP"; do
  set -- $p
  echo "## $1: bulk throughput through one tunnel (${BULK_MIB} MiB, best of 3) against direct loopback"
  python3 bench/proxy_tunnel_throughput.py --attach "$2" "$BULK_MIB" || echo "failed"
done
echo "## rampart: splice relay against the buffered relay (own proxy processes)"
python3 bench/proxy_tunnel_throughput.py "$BIN" "$BULK_MIB" || echo "failed"

for p in "rampart $RP $RPID" "squid $SP $SPID" "tinyproxy $TP $TPID"; do
  set -- $p
  echo "## $1: RSS per idle CONNECT tunnel ($TUNNELS tunnels)"
  python3 bench/proxy_tunnel_memory.py --attach "$3" "$2" "$TUNNELS" || echo "failed"
done

reload() {  # name
  case "$1" in
    rampart) kill -HUP "$RPID" ;;
    squid) squid -k reconfigure -f "$WORK/squid/squid.conf" >/dev/null 2>&1 ;;
    tinyproxy) kill -USR1 "$TPID" ;;  # tinyproxy 1.11 reloads on SIGUSR1
  esac
}
for p in "rampart $RP" "squid $SP" "tinyproxy $TP"; do
  set -- $p
  echo "## $1: ten reloads during ${DURATION}s of load"
  ( sleep 0.5; for i in $(seq 10); do reload "$1"; sleep "$(echo "($DURATION - 1) / 10" | bc -l)"; done ) &
  wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$WORK/proxy.lua" "http://127.0.0.1:$2" |
    grep -E "requests in|Requests/sec|Socket errors|Non-2xx" || true
  wait $! || true
done
echo "## reloads logged: rampart $(grep -c 'proxy config reloaded' "$WORK/rampart.log" || true)," \
  "squid $(grep -c 'Reconfiguring Squid' "$WORK/squid/cache.log" || true)," \
  "tinyproxy alive: $(kill -0 "$TPID" 2>/dev/null && echo yes || echo no)"

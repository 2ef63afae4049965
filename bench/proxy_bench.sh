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
#   - RSS per idle CONNECT tunnel (bench/proxy_tunnel_memory.py --attach);
#   - rampart's TLS listener (tls_listen): bulk throughput of one tunnel
#     opened inside a TLS connection to the proxy, against its plain
#     listener (splice) and direct loopback, and the proxy's CPU seconds
#     per GiB relayed each way.
# Squid (squid-openssl, for ssl_bump) and tinyproxy are installed with
# apt-get if missing (bench only). Squid is configured as in the AWS
# design: dstdomain -n for HTTP, ssl_bump peek at step 1, splice for
# allowlisted SNI, terminate the rest.
#   bench/proxy_bench.sh [BUILD_DIR]
#   bench/proxy_bench.sh BUILD_DIR tls-listener   (only the last part; no Squid,
#                                                  tinyproxy or nginx needed)
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

# One tunnel through rampart's plain listener and through its TLS
# listener (the client speaks TLS to the proxy, CONNECT inside), against
# direct loopback; best of three each, and the proxy's CPU per GiB. The
# client is Python, whose TLS reads (one record per call) also limit the
# TLS figure: the CPU column is the proxy's own cost.
tls_listener_bulk() {
  echo "## rampart: TLS listener against the plain listener (${BULK_MIB} MiB, best of 3)"
  python3 - "$BIN" bench "$BULK_MIB" <<'PY' || echo "failed"
"""Bulk throughput of one tunnel through rampart's plain listener (splice)
and through its TLS listener (client TLS to the proxy, CONNECT inside),
against direct loopback. Best of three runs each, MiB/s."""
import json, os, socket, ssl, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[2])  # bench/
from proxy_tunnel_throughput import origin, drain, best_of_three  # noqa: E402
from proxy_tunnel_memory import client_hello  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*a):
    subprocess.run(["openssl", *a], check=True, capture_output=True)


def tunnel(sock, port):
    sock.sendall(f"CONNECT origin.test:{port} HTTP/1.1\r\nHost: origin.test:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 200 " in head.split(b"\r\n")[0], head
    return sock


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    binary, size = sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    port = origin(size)
    hello = client_hello("origin.test")
    with tempfile.TemporaryDirectory() as d:
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                "-keyout", key, "-out", cert, "-subj", "/CN=proxy.test", "-addext", "subjectAltName=IP:127.0.0.1")
        plain_port, tls_port = free_port(), free_port()
        cfg = {"listen": f"127.0.0.1:{plain_port}", "tls_listen": f"127.0.0.1:{tls_port}",
               "tls": {"cert_file": cert, "key_file": key}, "allowed_clients": ["127.0.0.0/8"],
               "allow": ["origin.test"], "allowed_ports": [port], "ssrf_allow": ["127.0.0.0/8"], "workers": 2,
               "hosts": {"origin.test": ["127.0.0.1"]}}
        path = os.path.join(d, "proxy.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        proc = subprocess.Popen([binary, "proxy", "--config", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc.stdout.readline(); proc.stdout.readline()
        ctx = ssl.create_default_context(cafile=cert)
        try:
            direct = best_of_three(lambda: socket.create_connection(("127.0.0.1", port)), hello)
            c0 = cpu_s(proc.pid)
            plain = best_of_three(lambda: tunnel(socket.create_connection(("127.0.0.1", plain_port)), port), hello)
            c1 = cpu_s(proc.pid)
            tls = best_of_three(lambda: tunnel(ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)),
                                                               server_hostname="127.0.0.1"), port), hello)
            c2 = cpu_s(proc.pid)
        finally:
            proc.terminate(); proc.wait()
    gib = 3 * size / 1024
    print(json.dumps({"mib": size, "direct_mib_s": round(direct), "plain_listener_mib_s": round(plain),
                      "tls_listener_mib_s": round(tls), "tls_ratio_to_direct": round(tls / direct, 3),
                      "tls_ratio_to_plain": round(tls / plain, 3),
                      "proxy_cpu_s_per_gib_plain": round((c1 - c0) / gib, 2),
                      "proxy_cpu_s_per_gib_tls": round((c2 - c1) / gib, 2)}))


main()
PY
}
if [ "${2:-}" = tls-listener ]; then
  echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
  tls_listener_bulk
  exit 0
fi

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
tls_listener_bulk

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

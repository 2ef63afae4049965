#!/usr/bin/env bash
# Cost of one forwarded HTTP request through `rampart proxy`, counted
# rather than timed (stable on the shared machine, unlike requests/s):
#   - instructions (callgrind Ir) per request, whole proxy process;
#   - system calls per request (strace -c -f), by name.
# The setup is bench/proxy_bench.sh's HTTP part: an nginx origin answering
# a fixed 200 on loopback, the same 10,000-name allowlist, 2 workers,
# access log off, absolute-form GETs on keep-alive connections. The
# client (Python, one thread per connection) sends requests one at a time
# per connection and reads each response before the next.
#
# Each measure runs the proxy twice: with WARMUP requests, and with
# WARMUP + REQUESTS; the difference divided by REQUESTS is the cost of a
# request in steady state (start-up, the allowlist load, the first
# connections and the shutdown cancel out).
#   bench/proxy_callgrind.sh [BUILD_DIR] [callgrind|strace|both]
#   env: REQUESTS (20000), WARMUP (2000), CONNECTIONS (4), BIN (overrides
#        BUILD_DIR/bin/rampart, e.g. to compare two builds), CALLGRIND_OUT
#        (keep the busy run's callgrind file there, for callgrind_annotate)
set -euo pipefail
BUILD=${1:-build}
MODE=${2:-both}
REQUESTS=${REQUESTS:-20000}
WARMUP=${WARMUP:-2000}
CONNECTIONS=${CONNECTIONS:-4}
cd "$(dirname "$0")/.."
[[ "$BUILD" = /* ]] || BUILD=$PWD/$BUILD
BIN=${BIN:-$BUILD/bin/rampart}
WORK=$(mktemp -d)
chmod 777 "$WORK"
trap 'kill $(jobs -p) 2>/dev/null || true; { [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")"; } || true; rm -rf "$WORK"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

OP=$(port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$OP; location / { return 200 "ok"; } }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_port "$OP"

RP=$(port)
python3 - "$WORK" "$RP" "$OP" <<'PY'
import json, sys
work, rp, op = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = [f"host-{i}.bench-{i % 97}.example" for i in range(10000)] + ["127.0.0.1", "localhost"]
json.dump({"listen": f"127.0.0.1:{rp}", "allowed_clients": ["127.0.0.0/8"], "allow": names,
           "allowed_ports": [op, 443], "ssrf_allow": ["127.0.0.0/8"], "workers": 2,
           "watch_config": False, "require_sni": False, "limits": {"max_connections": 100000}},
          open(f"{work}/rampart.json", "w"))
PY

# The client: CONNECTIONS keep-alive connections, n requests in all.
cat >"$WORK/client.py" <<'PY'
import socket, sys, threading
proxy_port, origin_port, total, conns = (int(a) for a in sys.argv[1:5])
req = (f"GET http://127.0.0.1:{origin_port}/ HTTP/1.1\r\nHost: 127.0.0.1:{origin_port}\r\n"
       "User-Agent: proxy-callgrind\r\nAccept: */*\r\n\r\n").encode()
failed = []

def run(n):
    s = socket.create_connection(("127.0.0.1", proxy_port))
    buf = b""
    for _ in range(n):
        s.sendall(req)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = buf[:end].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v)
                if len(buf) >= end + 4 + length:
                    if not head.startswith("HTTP/1.1 200"):
                        failed.append(head.split("\r\n")[0])
                    buf = buf[end + 4 + length:]
                    break
            chunk = s.recv(65536)
            if not chunk:
                failed.append("closed")
                return
            buf += chunk
    s.close()

threads = [threading.Thread(target=run, args=(total // conns + (i < total % conns),)) for i in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
if failed:
    sys.exit(f"{len(failed)} failed: {failed[:3]}")
PY

# Runs the proxy under `$@` (a tool prefix), sends n requests, stops it.
run_proxy() {
  local n=$1; shift
  "$@" "$BIN" proxy --config "$WORK/rampart.json" >/dev/null 2>"$WORK/proxy.log" &
  local pid=$!
  wait_port "$RP"
  python3 "$WORK/client.py" "$RP" "$OP" "$n" "$CONNECTIONS"
  # The proxy itself: strace runs it as a child (valgrind does not).
  kill -TERM "$(pgrep -P $pid || echo $pid)"
  wait $pid || true
}

# Total instructions of one proxy run with n requests.
callgrind_ir() {
  local out=$WORK/cg.$1
  run_proxy "$1" valgrind --tool=callgrind --callgrind-out-file="$out" >/dev/null
  awk '/^(summary|totals):/{print $2; exit}' "$out"
}

# Syscall counts (name count) of one proxy run with n requests.
strace_counts() {
  local out=$WORK/st.$1
  run_proxy "$1" strace -f -c -o "$out" >/dev/null
  # "% time, seconds, usecs/call, calls, [errors,] syscall"; not the total line
  awk 'NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" { print $NF, $4 }' "$out"
}

echo "# $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg); $BIN"
echo "# $REQUESTS requests after $WARMUP warm-up, $CONNECTIONS keep-alive connections"
if [ "$MODE" = callgrind ] || [ "$MODE" = both ]; then
  base=$(callgrind_ir "$WARMUP")
  busy=$(callgrind_ir $((WARMUP + REQUESTS)))
  echo "instructions_per_request=$(( (busy - base) / REQUESTS ))"
  [ -n "${CALLGRIND_OUT:-}" ] && cp "$WORK/cg.$((WARMUP + REQUESTS))" "$CALLGRIND_OUT"
  # The heaviest functions of the busy run (inclusive cost is in the file).
  callgrind_annotate --threshold=95 "$WORK/cg.$((WARMUP + REQUESTS))" 2>/dev/null | sed -n '/^Ir/,$p' | head -40 || true
fi
if [ "$MODE" = strace ] || [ "$MODE" = both ]; then
  strace_counts "$WARMUP" | sort >"$WORK/base.txt"
  strace_counts $((WARMUP + REQUESTS)) | sort >"$WORK/busy.txt"
  echo "syscalls per request (by name, then total):"
  join -a2 -e0 -o '0,1.2,2.2' "$WORK/base.txt" "$WORK/busy.txt" |
    awk -v n="$REQUESTS" '{ d = ($3 - $2) / n; if (d >= 0.01) printf "  %-18s %6.2f\n", $1, d; t += d } END { printf "  %-18s %6.2f\n", "total", t }'
fi

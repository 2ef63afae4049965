#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: GetCallerIdentity load at 1/16/64
# keep-alive connections against rampart and, in the same run, against
# nginx answering a fixed 200 (the plain-HTTP ceiling of this machine), then
# p99 at fixed rates (RATES, default 40000) at 64 connections,
# plus the SigV4 and protocol microbenchmarks, idle RSS and start-up time.
set -euo pipefail
BUILD=${1:-build}
DURATION=${DURATION:-10}
cd "$(dirname "$0")/.."
BIN=$PWD/$BUILD/bin/rampart
LOADGEN=$PWD/$BUILD/rampart-loadgen
# Load generator threads (its connections are spread over them).
LOADGEN_THREADS=${LOADGEN_THREADS:-2}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

if ! command -v nginx >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 || true
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.02; done; return 1; }

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short HEAD)"

# Start-up time: exec until /health answers, existing data dir, 10 runs.
RP=$(port)
"$BIN" server --data-dir "$WORK/data" --listen 127.0.0.1:$RP >/dev/null 2>&1 &
wait_http "http://127.0.0.1:$RP/health"; kill %1; wait %1 || true
total=0
for i in $(seq 10); do
  t0=$(date +%s%N)
  "$BIN" server --data-dir "$WORK/data" --listen 127.0.0.1:$RP >/dev/null 2>&1 &
  wait_http "http://127.0.0.1:$RP/health"
  t1=$(date +%s%N)
  kill %1; wait %1 || true
  total=$((total + (t1 - t0) / 1000000))
done
echo "startup_ms_avg: $((total / 10))"

"$BIN" server --data-dir "$WORK/data" --listen 127.0.0.1:$RP >/dev/null 2>"$WORK/rampart.log" &
RPID=$!
wait_http "http://127.0.0.1:$RP/health"
sleep 1
echo "idle_rss_kb: $(awk '/VmRSS/{print $2}' /proc/$RPID/status)"
AK=$(awk -F' = ' '/aws_access_key_id/{print $2}' "$WORK/data/credentials")
SK=$(awk -F' = ' '/aws_secret_access_key/{print $2}' "$WORK/data/credentials")

NP=""
if command -v nginx >/dev/null; then
  NP=$(port)
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NP; location / { return 200 "<GetCallerIdentityResponse/>"; } }
}
NGINX
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
  wait_http "http://127.0.0.1:$NP/"
fi

for c in 1 16 64; do
  echo "## rampart GetCallerIdentity, $c connections"
  "$LOADGEN" --threads "$LOADGEN_THREADS" --host 127.0.0.1 --port "$RP" --connections "$c" --duration "$DURATION" \
    --access-key "$AK" --secret-key "$SK" --region us-east-1 --op sts-get-caller-identity
  if [ -n "$NP" ]; then
    echo "## nginx fixed 200, same signed request, $c connections"
    "$LOADGEN" --threads "$LOADGEN_THREADS" --host 127.0.0.1 --port "$NP" --connections "$c" --duration "$DURATION" \
      --access-key "$AK" --secret-key "$SK" --region us-east-1 --op sts-get-caller-identity
  fi
done
# p99 at given throughputs (fixed schedule, latency from each scheduled
# start): the issue's 40,000 req/s at 64 connections by default.
for rate in ${RATES:-40000}; do
  echo "## rampart GetCallerIdentity, 64 connections, fixed rate $rate req/s"
  "$LOADGEN" --threads "$LOADGEN_THREADS" --host 127.0.0.1 --port "$RP" --connections 64 --duration "$DURATION" --rate "$rate" \
    --access-key "$AK" --secret-key "$SK" --region us-east-1 --op sts-get-caller-identity
  if [ -n "$NP" ]; then
    echo "## nginx fixed 200, 64 connections, fixed rate $rate req/s"
    "$LOADGEN" --threads "$LOADGEN_THREADS" --host 127.0.0.1 --port "$NP" --connections 64 --duration "$DURATION" --rate "$rate" \
      --access-key "$AK" --secret-key "$SK" --region us-east-1 --op sts-get-caller-identity
  fi
done
echo "busy_rss_kb: $(awk '/VmRSS/{print $2}' /proc/$RPID/status)"
[ -n "$NP" ] && kill "$(cat "$WORK/nginx/nginx.pid")"

for b in "$BUILD"/*_bench; do
  [ -x "$b" ] || continue
  echo "## $(basename "$b")"
  "$b" --benchmark_min_time=0.5
done

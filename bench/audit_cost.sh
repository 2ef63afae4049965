#!/usr/bin/env bash
# What the audit trail costs on the hot path: GetCallerIdentity load with
# the audit trail on and off (RAMPART_BENCH_NO_AUDIT=1, honoured only in
# --dev mode, so both runs use --dev and its test/test credentials),
# alternating, in one run. Reports requests/s and the server's CPU time per request (utime +
# stime from /proc, so the number holds even when other work shares the
# machine). Usage: bench/audit_cost.sh [build-dir]; DURATION, ROUNDS.
set -euo pipefail
BUILD=${1:-build}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
cd "$(dirname "$0")/.."
BIN=$PWD/$BUILD/bin/rampart
LOADGEN=$PWD/$BUILD/rampart-loadgen
# Load generator threads (its connections are spread over them).
LOADGEN_THREADS=${LOADGEN_THREADS:-2}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
TICK=$(getconf CLK_TCK)

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.05; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "# machine: $(nproc) cores; date: $(date -u +%FT%TZ); commit: $(git rev-parse --short HEAD)"
for round in $(seq "$ROUNDS"); do
  for mode in on off; do
    rm -rf "$WORK/data"
    RP=$(port)
    if [ "$mode" = off ]; then export RAMPART_BENCH_NO_AUDIT=1; else unset RAMPART_BENCH_NO_AUDIT; fi
    "$BIN" server --dev --data-dir "$WORK/data" --listen 127.0.0.1:$RP >/dev/null 2>"$WORK/log" &
    PID=$!
    wait_http "http://127.0.0.1:$RP/health"
    AK=test
    SK=test
    for c in 16 64; do
      t0=$(cpu_ticks $PID)
      out=$("$LOADGEN" --threads "$LOADGEN_THREADS" --host 127.0.0.1 --port "$RP" --connections "$c" --duration "$DURATION" \
        --access-key "$AK" --secret-key "$SK" --region us-east-1 --op sts-get-caller-identity)
      t1=$(cpu_ticks $PID)
      reqs=$(echo "$out" | awk '/^requests:/{print $2}')
      rps=$(echo "$out" | awk '/^requests:/{print $(NF-1)}')
      p99=$(echo "$out" | awk '/^latency ms:/{print $8}')
      us=$(awk -v t=$((t1 - t0)) -v hz="$TICK" -v n="$reqs" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')
      echo "round $round audit=$mode connections=$c req/s=$rps p99_ms=$p99 server_cpu_us_per_req=$us"
    done
    kill $PID; wait $PID || true
  done
done

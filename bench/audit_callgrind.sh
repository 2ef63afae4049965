#!/usr/bin/env bash
# Instructions per GetCallerIdentity request with the audit trail on and
# off, whole server, counted by valgrind's callgrind (stable on a noisy
# machine, unlike requests/s). Each mode runs the server twice under
# callgrind: idle (start, health check, stop) and with REQUESTS requests;
#
#   Ir per request = (Ir with requests - Ir idle) / REQUESTS
#
# Both use --dev (RAMPART_BENCH_NO_AUDIT=1 is honoured only there).
#   bench/audit_callgrind.sh [build-dir]     env: REQUESTS (20000), CONNECTIONS (8)
set -euo pipefail
BUILD=${1:-build}
REQUESTS=${REQUESTS:-20000}
CONNECTIONS=${CONNECTIONS:-8}
cd "$(dirname "$0")/.."
[[ "$BUILD" = /* ]] || BUILD=$PWD/$BUILD
BIN=$BUILD/bin/rampart
LOADGEN=$BUILD/rampart-loadgen
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Total Ir of one server run under callgrind that serves n requests.
run_ir() {
  local mode=$1 n=$2 rp out=$WORK/cg.$1.$2
  rp=$(port)
  rm -rf "$WORK/data"
  if [ "$mode" = off ]; then export RAMPART_BENCH_NO_AUDIT=1; else unset RAMPART_BENCH_NO_AUDIT; fi
  valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" server --dev \
    --data-dir "$WORK/data" --listen 127.0.0.1:$rp >/dev/null 2>"$WORK/log" &
  local pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$rp/health" >/dev/null && break; sleep 0.1; done
  if [ "$n" -gt 0 ]; then
    "$LOADGEN" --host 127.0.0.1 --port "$rp" --connections "$CONNECTIONS" --requests "$n" \
      --access-key test --secret-key test --region us-east-1 --op sts-get-caller-identity >/dev/null
  fi
  sleep 1.5  # the audit writer's group commit
  kill -INT $pid
  wait $pid || true
  awk '/^(summary|totals):/{print $2; exit}' "$out"
}

echo "# commit $(git rev-parse --short HEAD); $REQUESTS requests, $CONNECTIONS connections"
declare -A per
for mode in off on; do
  idle=$(run_ir "$mode" 0)
  busy=$(run_ir "$mode" "$REQUESTS")
  per[$mode]=$(( (busy - idle) / REQUESTS ))
  echo "audit=$mode instructions_per_request=${per[$mode]}"
done
echo "audit cost: $(( per[on] - per[off] )) instructions per request ($(awk -v a="${per[on]}" -v b="${per[off]}" 'BEGIN{printf "%.1f", (a-b)*100/b}')% of the request without audit)"

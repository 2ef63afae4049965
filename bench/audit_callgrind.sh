#!/usr/bin/env bash
# Instructions per request with the audit trail on and off, whole server
# (worker threads and the audit writer), counted by valgrind's callgrind:
# stable on a noisy machine, unlike requests/s. Both modes use --dev
# (RAMPART_BENCH_NO_AUDIT=1 is honoured only there; root test/test).
#
# One server run per mode. For each operation: warm-up requests, a pause
# for the audit writer's group commit, counters zeroed, REQUESTS requests,
# a pause long enough for every group commit of their records
# (flush interval plus the commit), then a dump:
#
#   Ir per request = (Ir of the dump - idle Ir over as long) / REQUESTS
#
# The idle rate comes from a dump of the same server with no requests.
# The writer thread's share is reported apart (--separate-threads): it is
# what the group commits cost, spread over the requests.
#
#   bench/audit_callgrind.sh [build-dir] [out-dir]
#     env: REQUESTS (20000), CONNECTIONS (8),
#          OPS (default "GetCallerIdentity UpdateKeyDescription"; also Encrypt),
#          MODES (default "off on")
# The callgrind.out.* files stay in out-dir for callgrind_annotate.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-$(mktemp -d)}
REQUESTS=${REQUESTS:-20000}
CONNECTIONS=${CONNECTIONS:-8}
OPS=${OPS:-GetCallerIdentity UpdateKeyDescription}
MODES=${MODES:-off on}
cd "$(dirname "$0")/.."
[[ "$BUILD" = /* ]] || BUILD=$PWD/$BUILD
[[ "$OUT" = /* ]] || OUT=$PWD/$OUT
BIN=$BUILD/bin/rampart
LOADGEN=${LOADGEN:-$BUILD/rampart-loadgen}
WORK=$(mktemp -d)
mkdir -p "$OUT"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1000); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

# Sum of the Ir of every thread's file of dump number n of server pid, and
# that of the audit writer's thread (the one running StoreAuditSink::Run).
dump_ir() {
  local pid=$1 n=$2 total=0 writer=0 f ir
  for f in "$OUT"/callgrind.out."$pid"."$n"-*; do
    ir=$(awk '/^(summary|totals):/{print $2; exit}' "$f")
    total=$((total + ir))
    if grep -q 'StoreAuditSink::Run' "$f"; then writer=$((writer + ir)); fi
  done
  echo "$total $writer"
}

# Sends n requests of op (a label) with the loadgen.
send() {
  local op=$1 n=$2 rp=$3
  local common=(--host 127.0.0.1 --port "$rp" --connections "$CONNECTIONS" --threads 1
                --requests "$n" --access-key test --secret-key test --region us-east-1)
  case $op in
    GetCallerIdentity) "$LOADGEN" "${common[@]}" --op sts-get-caller-identity ;;
    Encrypt)
      "$LOADGEN" "${common[@]}" --op json --service kms --target TrentService.Encrypt \
        --content-type application/x-amz-json-1.1 \
        --body "{\"KeyId\":\"$KEY\",\"Plaintext\":\"aGVsbG8gd29ybGQ=\"}" ;;
    UpdateKeyDescription)
      "$LOADGEN" "${common[@]}" --op json --service kms --target TrentService.UpdateKeyDescription \
        --content-type application/x-amz-json-1.1 \
        --body "{\"KeyId\":\"$KEY\",\"Description\":\"audit cost\"}" ;;
    *) echo "unknown op $op" >&2; return 2 ;;
  esac >"$WORK/loadgen.out"
  if ! grep -q '^requests:' "$WORK/loadgen.out" || grep -qE '^errors: *[1-9]' "$WORK/loadgen.out"; then
    echo "loadgen failed for $op:" >&2; cat "$WORK/loadgen.out" >&2; return 1
  fi
}

echo "# $(date -u +%FT%TZ); $REQUESTS requests, $CONNECTIONS connections; bin $BIN"
declare -A per
for mode in $MODES; do
  rm -rf "$WORK/data"
  RP=$(port)
  if [ "$mode" = off ]; then export RAMPART_BENCH_NO_AUDIT=1; else unset RAMPART_BENCH_NO_AUDIT; fi
  valgrind --tool=callgrind --separate-threads=yes --dump-instr=no \
    --callgrind-out-file="$OUT/callgrind.out.%p" "$BIN" server --dev \
    --data-dir "$WORK/data" --listen 127.0.0.1:$RP >/dev/null 2>"$WORK/log.$mode" &
  PID=$!
  wait_http "http://127.0.0.1:$RP/health"
  KEY=$(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    /usr/bin/aws --endpoint-url "http://127.0.0.1:$RP" --cli-read-timeout 0 --output text \
    kms create-key --query KeyMetadata.KeyId)
  dumps=0
  # Idle rate: instructions per second with no requests.
  sleep 1
  callgrind_control -z $PID >/dev/null 2>&1
  t0=$(date +%s.%N); sleep 3
  callgrind_control -d "idle" $PID >/dev/null 2>&1; t1=$(date +%s.%N)
  dumps=$((dumps + 1))
  read -r idle_ir _ < <(dump_ir $PID $dumps)
  idle_rate=$(awk -v i="$idle_ir" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", i / (b - a)}')
  for op in $OPS; do
    send "$op" 200 "$RP"
    sleep 1.5
    callgrind_control -z $PID >/dev/null 2>&1
    t0=$(date +%s.%N)
    send "$op" "$REQUESTS" "$RP"
    sleep 1.5  # the group commit of the last records
    callgrind_control -d "$op" $PID >/dev/null 2>&1; t1=$(date +%s.%N)
    dumps=$((dumps + 1))
    read -r ir writer < <(dump_ir $PID $dumps)
    line=$(awk -v ir="$ir" -v w="$writer" -v rate="$idle_rate" -v a="$t0" -v b="$t1" -v n="$REQUESTS" \
      -v op="$op" -v mode="$mode" 'BEGIN{
        printf "audit=%s op=%s instructions_per_request=%.0f writer_thread_per_request=%.0f idle_per_request=%.0f\n",
          mode, op, (ir - rate * (b - a)) / n, w / n, rate * (b - a) / n }')
    echo "$line"
    per["$mode $op"]=$(echo "$line" | sed 's/.*instructions_per_request=\([0-9-]*\).*/\1/')
  done
  kill -INT $PID
  wait $PID || true
done
for op in $OPS; do
  if [ -n "${per[on $op]:-}" ] && [ -n "${per[off $op]:-}" ]; then
    echo "audit cost op=$op: $(( per[on $op] - per[off $op] )) instructions per request" \
      "($(awk -v a="${per[on $op]}" -v b="${per[off $op]}" 'BEGIN{printf "%.1f", (a-b)*100/b}')% of the request without audit)"
  fi
done

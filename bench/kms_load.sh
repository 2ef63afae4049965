#!/usr/bin/env bash
# KMS request throughput over keep-alive HTTP with full SigV4, key-policy
# evaluation and real cryptography: Encrypt (256 bytes), Decrypt,
# GenerateDataKey (AES_256) and Sign (ECC_NIST_P256, RSA_2048), each with
# the raw OpenSSL figure of the same machine in the same run.
#
# Besides requests/s, each load prints the CPU time the server and the load
# generator spent per request (from /proc and getrusage), which other
# processes on a shared machine disturb far less than throughput: "cpu us
# per request" next to `openssl speed`'s per-operation CPU time (openssl
# speed measures CPU time by default) says what two dedicated cores could
# serve.
#
#   bench/kms_load.sh [build-dir]    (DURATION, CONNECTIONS env overrides)
set -euo pipefail
BUILD=${1:-build}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
cd "$(dirname "$0")/.."
[[ "$BUILD" = /* ]] || BUILD=$PWD/$BUILD
BIN=$BUILD/bin/rampart
LOADGEN=$BUILD/rampart-loadgen
# Load generator threads (its connections are spread over them).
LOADGEN_THREADS=${LOADGEN_THREADS:-2}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.02; done; return 1; }

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# date: $(date -u +%FT%TZ)  duration: ${DURATION}s  connections: $CONNECTIONS"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

RP=$(port)
"$BIN" server --data-dir "$WORK/data" --listen 127.0.0.1:$RP >/dev/null 2>"$WORK/rampart.log" &
SERVER_PID=$!
wait_http "http://127.0.0.1:$RP/health"
TICK=$(getconf CLK_TCK)
# The server's user + system CPU time so far, in clock ticks.
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
export AWS_ACCESS_KEY_ID=$(awk -F' = ' '/aws_access_key_id/{print $2}' "$WORK/data/credentials")
export AWS_SECRET_ACCESS_KEY=$(awk -F' = ' '/aws_secret_access_key/{print $2}' "$WORK/data/credentials")
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
kms() { /usr/bin/aws --endpoint-url "http://127.0.0.1:$RP" --output text kms "$@"; }

SYM=$(kms create-key --query KeyMetadata.KeyId)
P256=$(kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId)
RSA=$(kms create-key --key-spec RSA_2048 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId)
PLAIN=$(head -c 256 /dev/urandom | base64 -w0)
BLOB=$(/usr/bin/aws --endpoint-url "http://127.0.0.1:$RP" --output text kms encrypt --key-id "$SYM" \
  --plaintext "$PLAIN" --cli-binary-format base64 --query CiphertextBlob)
MSG=$(head -c 64 /dev/urandom | base64 -w0)

# Runs the load generator with the given operation arguments; prints its
# summary and the server's and the generator's CPU time per request.
measure() {
  local before after
  before=$(server_ticks)
  /usr/bin/time -f "%U %S" -o "$WORK/loadgen.time" "$LOADGEN" --port "$RP" \
    --connections "$CONNECTIONS" --threads "$LOADGEN_THREADS" --duration "$DURATION" "$@" >"$WORK/loadgen.out"
  after=$(server_ticks)
  grep -E "requests:|latency|non-2xx" "$WORK/loadgen.out"
  local n
  n=$(awk '/^requests:/{print $2}' "$WORK/loadgen.out")
  awk -v n="$n" -v s=$((after - before)) -v tick="$TICK" '{
    server = s / tick * 1e6 / n; gen = ($1 + $2) * 1e6 / n
    printf "cpu us per request: server %.1f  loadgen %.1f  total %.1f  (2 dedicated cores: %.0f req/s)\n",
      server, gen, server + gen, 2e6 / (server + gen) }' "$WORK/loadgen.time"
}

load() {
  local name=$1 target=$2 body=$3
  echo "## $name"
  measure --op json --service kms --target "TrentService.$target" --body "$body" \
    --content-type application/x-amz-json-1.1
}

echo "## baseline: sts GetCallerIdentity (HTTP + SigV4, no KMS work)"
measure --op sts-get-caller-identity
load "Encrypt 256 B SYMMETRIC_DEFAULT" Encrypt "{\"KeyId\":\"$SYM\",\"Plaintext\":\"$PLAIN\"}"
load "Decrypt" Decrypt "{\"CiphertextBlob\":\"$BLOB\"}"
load "GenerateDataKey AES_256" GenerateDataKey "{\"KeyId\":\"$SYM\",\"KeySpec\":\"AES_256\"}"
load "Sign ECC_NIST_P256" Sign "{\"KeyId\":\"$P256\",\"Message\":\"$MSG\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}"
load "Sign RSA_2048" Sign "{\"KeyId\":\"$RSA\",\"Message\":\"$MSG\",\"SigningAlgorithm\":\"RSASSA_PSS_SHA_256\"}"

echo "## openssl speed (one core; multiply by cores for the machine)"
openssl speed -seconds 3 -evp aes-256-gcm -bytes 256 2>/dev/null | tail -1
openssl speed -seconds 3 ecdsap256 2>/dev/null | grep -E "^ *256 bits ecdsa"
openssl speed -seconds 3 rsa2048 2>/dev/null | grep -E "^rsa 2048"
# The same primitives on every core at once: what "x cores" really gives on
# this machine (a shared VM's cores need not add up).
echo "## openssl speed -multi $(nproc) (all cores at once, total)"
openssl speed -seconds 3 -multi "$(nproc)" ecdsap256 2>/dev/null | grep -E "^ *256 bits ecdsa"
openssl speed -seconds 3 -multi "$(nproc)" rsa2048 2>/dev/null | grep -E "^rsa 2048"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Instructions per KMS request, whole server (HTTP, SigV4, key policy,
# cryptography, audit), counted by valgrind's callgrind: stable on a noisy
# shared machine where throughput is not. The server runs under callgrind;
# counters are zeroed after setup, a fixed number of requests is sent per
# operation, and each operation's profile is dumped separately:
#
#   Ir per request = (Ir of the dump - Ir of an idle dump of the same
#                     length) / requests
#
#   bench/kms_callgrind.sh [build-dir] [out-dir]
#     env: REQUESTS (2000), RSA_REQUESTS (200: an RSA-2048 signature is
#     about 6.7M instructions, slow under valgrind), CONNECTIONS (8),
#     OPS (labels to run, space-separated; default all: GetCallerIdentity
#     Encrypt Decrypt GenerateDataKey SignP256 VerifyP256 SignRSA2048
#     SignRSA2048PKCS1)
#
# Prints one line per operation; the callgrind.out.* files stay in out-dir
# for callgrind_annotate.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-$(mktemp -d)}
REQUESTS=${REQUESTS:-2000}
RSA_REQUESTS=${RSA_REQUESTS:-200}
CONNECTIONS=${CONNECTIONS:-8}
cd "$(dirname "$0")/.."
[[ "$BUILD" = /* ]] || BUILD=$PWD/$BUILD
BIN=$BUILD/bin/rampart
LOADGEN=${LOADGEN:-$BUILD/rampart-loadgen}
WORK=$(mktemp -d)
mkdir -p "$OUT"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1000); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

RP=$(port)
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" --dump-instr=no \
  "$BIN" server --data-dir "$WORK/data" --listen 127.0.0.1:$RP >/dev/null 2>"$WORK/rampart.log" &
VG_PID=$!
wait_http "http://127.0.0.1:$RP/health"
export AWS_ACCESS_KEY_ID=$(awk -F' = ' '/aws_access_key_id/{print $2}' "$WORK/data/credentials")
export AWS_SECRET_ACCESS_KEY=$(awk -F' = ' '/aws_secret_access_key/{print $2}' "$WORK/data/credentials")
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
# No read timeout: under valgrind on a loaded machine, creating the RSA key
# can take longer than the CLI's default 60 s.
kms() { /usr/bin/aws --endpoint-url "http://127.0.0.1:$RP" --cli-read-timeout 0 --output text kms "$@"; }

SYM=$(kms create-key --query KeyMetadata.KeyId)
P256=$(kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId)
RSA=$(kms create-key --key-spec RSA_2048 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId)
PLAIN=$(head -c 256 /dev/urandom | base64 -w0)
BLOB=$(kms encrypt --key-id "$SYM" --plaintext "$PLAIN" --cli-binary-format base64 \
  --query CiphertextBlob)
MSG=$(head -c 64 /dev/urandom | base64 -w0)
SIG=$(kms sign --key-id "$P256" --message "$MSG" --cli-binary-format base64 \
  --signing-algorithm ECDSA_SHA_256 --query Signature)
OPS=${OPS:-GetCallerIdentity Encrypt Decrypt GenerateDataKey SignP256 VerifyP256 SignRSA2048 SignRSA2048PKCS1}
wanted() { [[ " $OPS " == *" $1 "* ]]; }

# Total Ir of the last dump named label.
dump_ir() {
  callgrind_control -d "$1" "$VG_PID" >/dev/null
  sleep 0.5
  local f
  f=$(ls -t "$OUT"/callgrind.out.* | head -1)
  awk '/^(summary|totals):/{print $2; exit}' "$f"
}

run() {
  local label=$1 count=$2
  shift 2
  wanted "$label" || return 0
  # Warm caches (key entry, policies, credentials), then count.
  "$LOADGEN" --port "$RP" --connections "$CONNECTIONS" --threads 1 --requests 50 "$@" >/dev/null
  callgrind_control -z "$VG_PID" >/dev/null
  local start=$SECONDS
  "$LOADGEN" --port "$RP" --connections "$CONNECTIONS" --threads 1 --requests "$count" "$@" \
    >"$WORK/loadgen.out"
  local elapsed=$((SECONDS - start + 1))
  local busy
  busy=$(dump_ir "$label")
  # The same wall time idle: background threads' share.
  callgrind_control -z "$VG_PID" >/dev/null
  sleep "$elapsed"
  local idle
  idle=$(dump_ir "$label-idle")
  awk -v b="$busy" -v i="$idle" -v n="$count" -v l="$label" \
    'BEGIN { printf "%-28s Ir/request %8.0f   (busy %.0f, idle %.0f, %d requests)\n", l, (b - i) / n, b, i, n }'
}

kmsop() {
  local label=$1 count=$2 target=$3 body=$4
  run "$label" "$count" --op json --service kms --target "TrentService.$target" --body "$body" \
    --content-type application/x-amz-json-1.1
}

run GetCallerIdentity "$REQUESTS" --op sts-get-caller-identity
kmsop Encrypt "$REQUESTS" Encrypt "{\"KeyId\":\"$SYM\",\"Plaintext\":\"$PLAIN\"}"
kmsop Decrypt "$REQUESTS" Decrypt "{\"CiphertextBlob\":\"$BLOB\"}"
kmsop GenerateDataKey "$REQUESTS" GenerateDataKey "{\"KeyId\":\"$SYM\",\"KeySpec\":\"AES_256\"}"
kmsop SignP256 "$REQUESTS" Sign "{\"KeyId\":\"$P256\",\"Message\":\"$MSG\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}"
kmsop VerifyP256 "$REQUESTS" Verify "{\"KeyId\":\"$P256\",\"Message\":\"$MSG\",\"Signature\":\"$SIG\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}"
kmsop SignRSA2048 "$RSA_REQUESTS" Sign "{\"KeyId\":\"$RSA\",\"Message\":\"$MSG\",\"SigningAlgorithm\":\"RSASSA_PSS_SHA_256\"}"
kmsop SignRSA2048PKCS1 "$RSA_REQUESTS" Sign "{\"KeyId\":\"$RSA\",\"Message\":\"$MSG\",\"SigningAlgorithm\":\"RSASSA_PKCS1_V1_5_SHA_256\"}"
echo "# callgrind profiles in $OUT"

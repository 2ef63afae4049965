#!/usr/bin/env bash
# HSM throughput, all in one run on this machine (issue 6, "Speed"):
#
#  1. ECDSA P-256 and RSA-2048 signatures/s through librampart-pkcs11.so
#     over loopback TLS to one `rampart hsm-server` node, against the same
#     program (bench/hsm_sign_load.cc) signing with SoftHSM2 directly. The
#     node's token is a SoftHSM2 token too, so the ratio is the cost of the
#     network module. Goal: >= 50% of direct SoftHSM2.
#  2. KMS Encrypt/s (256 bytes) on a custom-key-store key (AES-256 inside a
#     two-token SoftHSM2 cluster) against a normal KMS key, with
#     bench/loadgen. Goal: >= 1,800 custom-key-store Encrypt requests/s.
#
#   bench/hsm_bench.sh [build-dir]   (DURATION, THREADS, CONNECTIONS env overrides;
#                                     PARTS=sign or PARTS=kms runs one part only)
#
# Needs the rampart, rampart-pkcs11, hsm_sign_load and rampart-loadgen
# targets of the build, softhsm2, openssl and the aws CLI.
set -euo pipefail
BUILD=${1:-build}
DURATION=${DURATION:-10}
THREADS=${THREADS:-4}
CONNECTIONS=${CONNECTIONS:-32}
PARTS=${PARTS:-sign,kms}
cd "$(dirname "$0")/.."
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
BIN=$BUILD/bin/rampart
MODULE=$BUILD/lib/librampart-pkcs11.so
SIGNLOAD=$BUILD/hsm_sign_load
LOADGEN=$BUILD/rampart-loadgen
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
for f in "$BIN" "$MODULE" "$SIGNLOAD" "$LOADGEN" "$SOFTHSM"; do
  [ -e "$f" ] || { echo "missing $f (ninja -C $BUILD rampart rampart-pkcs11 hsm_sign_load rampart-loadgen)" >&2; exit 2; }
done
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
# Every file below is private to us: hsm-server refuses PIN, password and
# key files that the group or others may read.
umask 077

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_tcp() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.05; done; return 1; }
quiet() { "$@" >/dev/null 2>&1; }

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# date: $(date -u +%FT%TZ)  duration: ${DURATION}s  signing threads: $THREADS  KMS connections: $CONNECTIONS"

# --- SoftHSM2 tokens: one used directly, one behind the network node, two for KMS.
mkdir -p "$WORK/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK" >"$WORK/softhsm2.conf"
export SOFTHSM2_CONF=$WORK/softhsm2.conf
for label in direct nethsm kms1 kms2; do
  quiet softhsm2-util --init-token --free --label "$label" --pin bench-pin-1 --so-pin bench-so-1
done
printf 'bench-pin-1\n' >"$WORK/token.pin"

# --- One network HSM node (mutual TLS with a throw-away CA) and a crypto user.
# Logins use the lowest PBKDF2 count the node accepts: each of the module's
# connections logs in once, and that is not what is measured here.
cert() {  # name [ca-name] [extension]
  if [ $# -eq 1 ]; then
    quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -days 1 \
      -keyout "$WORK/$1.key" -out "$WORK/$1.pem"
    return
  fi
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$WORK/$1.key" -out "$WORK/$1.csr"
  printf '%s\n' "$3" >"$WORK/$1.ext"
  quiet openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/$2.pem" -CAkey "$WORK/$2.key" -CAcreateserial \
    -days 1 -extfile "$WORK/$1.ext" -out "$WORK/$1.pem"
}
cert ca
cert server ca "subjectAltName=IP:127.0.0.1"
cert app ca "basicConstraints=CA:FALSE"
printf 'bench-officer-1\n' >"$WORK/officer.pw"
printf 'bench-user-pw-1\n' >"$WORK/user.pw"
HP=$(port)
cat >"$WORK/node.json" <<EOF
{"listen": "127.0.0.1:$HP", "node_name": "bench", "cert": "$WORK/server.pem", "key": "$WORK/server.key",
 "ca": "$WORK/ca.pem", "data_dir": "$WORK/hsmdata", "module": "$SOFTHSM", "token_label": "nethsm",
 "pin_file": "$WORK/token.pin", "officer_password_file": "$WORK/officer.pw", "max_connections": 256,
 "password_iterations": 10000}
EOF
"$BIN" hsm-server --config "$WORK/node.json" >"$WORK/node.log" 2>&1 &
NODE_PID=$!
wait_tcp "$HP"
printf 'node = 127.0.0.1:%s\ncert = %s/app.pem\nkey = %s/app.key\nca = %s/ca.pem\n' "$HP" "$WORK" "$WORK" "$WORK" \
  >"$WORK/client.conf"
export RAMPART_PKCS11_CONF=$WORK/client.conf
quiet "$BIN" hsm-admin --config "$WORK/client.conf" --user admin --password-file "$WORK/officer.pw" --role CO \
  create-user bench CU --new-password-file "$WORK/user.pw"

# CPU ticks (user + system) the HSM node has used so far.
node_ticks() { awk '{ print $14 + $15 }' "/proc/$NODE_PID/stat"; }
sign() {  # label module pin token mech
  local out before after
  before=$(node_ticks)
  out=$("$SIGNLOAD" --module "$2" --pin "$3" --token "$4" --mech "$5" --threads "$THREADS" --seconds "$DURATION")
  after=$(node_ticks)
  echo "$1: $out"
  if [ "$2" = "$MODULE" ]; then
    echo "$out" | awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '{
      split($4, n, "="); printf "  hsm-server CPU per signature: %.0f us\n", (n[2] > 0 ? t / hz * 1e6 / n[2] : 0) }'
  fi
  echo "$out" | sed -n 's/.*per_second=\([0-9]*\).*/\1/p'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }

if [[ $PARTS == *sign* ]]; then
echo "## signatures/s, $THREADS threads, one session each"
for mech in ecdsa rsa; do
  # Keys are made before the timed runs (first run of each generates it).
  quiet "$SIGNLOAD" --module "$SOFTHSM" --pin bench-pin-1 --token direct --mech $mech --threads 1 --seconds 0.2
  quiet "$SIGNLOAD" --module "$MODULE" --pin bench:bench-user-pw-1 --mech $mech --threads 1 --seconds 0.2
  direct=$(sign "softhsm2 direct   " "$SOFTHSM" bench-pin-1 direct $mech | tee /dev/stderr | tail -1)
  network=$(sign "librampart-pkcs11 " "$MODULE" bench:bench-user-pw-1 "" $mech | tee /dev/stderr | tail -1)
  echo "$mech: network module at $(ratio "$network" "$direct") of direct SoftHSM2 (goal >= 50%)"
done 2>&1 | grep -v '^[0-9]*$'
fi
[[ $PARTS == *kms* ]] || exit 0

# --- KMS: a custom key store over the kms1+kms2 cluster, and a normal key.
RP=$(port)
cat >"$WORK/server.json" <<EOF
{"hsm": {"backends": [
   {"name": "kms1", "module": "$SOFTHSM", "token_label": "kms1", "pin_file": "$WORK/token.pin"},
   {"name": "kms2", "module": "$SOFTHSM", "token_label": "kms2", "pin_file": "$WORK/token.pin"}],
 "clusters": [{"id": "cluster-0bench000001", "members": ["kms1", "kms2"], "min_members": 2}]}}
EOF
"$BIN" server --data-dir "$WORK/data" --listen 127.0.0.1:$RP \
  --config "$WORK/server.json" >/dev/null 2>"$WORK/rampart.log" &
wait_http "http://127.0.0.1:$RP/health"
export AWS_ACCESS_KEY_ID=$(awk -F' = ' '/aws_access_key_id/{print $2}' "$WORK/data/credentials")
export AWS_SECRET_ACCESS_KEY=$(awk -F' = ' '/aws_secret_access_key/{print $2}' "$WORK/data/credentials")
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
kms() { /usr/bin/aws --endpoint-url "http://127.0.0.1:$RP" --output text kms "$@"; }
STORE=$(kms create-custom-key-store --custom-key-store-name bench --cloud-hsm-cluster-id cluster-0bench000001 \
  --key-store-password bench-pin-1 --trust-anchor-certificate "$(cat "$WORK/ca.pem")" --query CustomKeyStoreId)
kms connect-custom-key-store --custom-key-store-id "$STORE" >/dev/null
for _ in $(seq 100); do
  state=$(kms describe-custom-key-stores --custom-key-store-id "$STORE" --query 'CustomKeyStores[0].ConnectionState')
  [ "$state" = CONNECTED ] && break
  sleep 0.1
done
HSMKEY=$(kms create-key --origin AWS_CLOUDHSM --custom-key-store-id "$STORE" --query KeyMetadata.KeyId)
SYM=$(kms create-key --query KeyMetadata.KeyId)
PLAIN=$(head -c 256 /dev/urandom | base64 -w0)

encrypt() {  # name key
  echo "## KMS Encrypt 256 B, $2 ($1), $CONNECTIONS connections"
  "$LOADGEN" --port "$RP" --connections "$CONNECTIONS" --threads 1 --duration "$DURATION" \
    --op json --service kms --target TrentService.Encrypt --body "{\"KeyId\":\"$2\",\"Plaintext\":\"$PLAIN\"}" \
    --content-type application/x-amz-json-1.1 | grep -E "requests:|latency|non-2xx"
}
encrypt "custom key store, AES-256-GCM in the SoftHSM2 cluster; goal >= 1,800/s" "$HSMKEY"
encrypt "normal key" "$SYM"

#!/usr/bin/env bash
# Installs the Debian 12 packages Rampart needs to build, run and test.
# Idempotent: installs only what is missing; does nothing when all present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  clang libclang-rt-14-dev
  libboost1.81-dev libssl-dev libsqlite3-dev libre2-dev libcli11-dev zlib1g-dev libisal-dev
  libgtest-dev libgmock-dev libbenchmark-dev libc-ares-dev libqrencode-dev libidn2-dev
  python3 python3-botocore python3-boto3 python3-pytest awscli
  openssl curl ca-certificates procps bc zbar-tools
  iptables
  libp11-kit-dev softhsm2 opensc
  libengine-pkcs11-openssl
  osslsigncode
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm run the JavaScript SDK tests (tests/js). A machine may
# already have them from another source (NodeSource bundles npm in its
# nodejs package), so look for the commands rather than Debian's packages.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]}" >&2
  echo "run as root (or install them with apt-get) and try again" >&2
  exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

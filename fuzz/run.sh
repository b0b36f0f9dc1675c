#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 300) one after another, on one core
# each ($2 jobs at once, default 1), and prints each target's executions.
# TARGETS="pg_wire:1200 stream" picks the targets, each for its own seconds or $1.
set -eu
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lgs-fuzz-target}"
secs=${1:-300}
jobs=${2:-1}
mkdir -p fuzz/logs
targets="${TARGETS:-csv wdi pg_dump pg_copy_line pg_insert_values values xlsx parquet stream pg_wire}"
run() {
  t=$1
  s=$2
  cargo +nightly fuzz run "$t" -s none --codegen-units 16 "fuzz/corpus/$t" -- \
    -max_total_time="$s" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 > "fuzz/logs/$t.log" 2>&1 || echo "$t: FAILED (see fuzz/logs/$t.log)"
  echo "$t: $(grep -E 'stat::number_of_executed_units' fuzz/logs/$t.log | awk '{print $2}') executions in $s s"
}
n=0
for spec in $targets; do
  t=${spec%%:*}
  s=${spec#*:}
  [ "$s" = "$spec" ] && s=$secs
  run "$t" "$s" &
  n=$((n+1))
  if [ "$n" -ge "$jobs" ]; then wait -n; n=$((n-1)); fi
done
wait

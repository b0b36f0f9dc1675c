#!/bin/bash
# Per-stage report times at 10M and 100M rows: LGS_BIN=<release lgs> bench/report_growth.sh (logs in $W/log*)
set -e
B=${LGS_BIN:-$HOME/.cache/lgs-target/release/lgs}
W=/work/bench-scratch/growth
mkdir -p $W
for n in 10000000 100000000; do
  [ -d $W/wh$n ] && continue
  $B generate retail --rows $n --seed 1 --out $W/r$n.csv 2>/dev/null
  $B --quiet --warehouse $W/wh$n ingest $W/r$n.csv > /dev/null
  rm -f $W/r$n.csv
done
for round in 1 2; do
for n in 10000000 100000000; do
  s=$(date +%s%N)
  LGS_LOG=lgs=debug $B --warehouse $W/wh$n report --format json > /dev/null 2> $W/log$n.$round
  e=$(date +%s%N)
  echo "$n round $round: $(( (e-s)/1000000 )) ms"
done
done

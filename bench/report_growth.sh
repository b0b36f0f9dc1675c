#!/bin/bash
# Per-stage report times at generated sizes (default 10M and 100M rows):
#   LGS_BIN=<release lgs> [SIZES="10000000"] [ROUNDS=2] bench/report_growth.sh
# Logs (LGS_LOG=lgs=debug: every stage's time) in $W/log<size>.<round>.
set -e
B=${LGS_BIN:-$HOME/.cache/lgs-target/release/lgs}
W=/work/bench-scratch/growth
SIZES=${SIZES:-10000000 100000000}
ROUNDS=${ROUNDS:-2}
mkdir -p $W
for n in $SIZES; do
  [ -d $W/wh$n ] && continue
  $B generate retail --rows $n --seed 1 --out $W/r$n.csv 2>/dev/null
  $B --quiet --warehouse $W/wh$n ingest $W/r$n.csv > /dev/null
  rm -f $W/r$n.csv
done
for round in $(seq 1 $ROUNDS); do
for n in $SIZES; do
  s=$(date +%s%N)
  LGS_LOG=lgs=debug $B --warehouse $W/wh$n report --format json > /dev/null 2> $W/log$n.$round
  e=$(date +%s%N)
  echo "$n round $round: $(( (e-s)/1000000 )) ms"
done
done

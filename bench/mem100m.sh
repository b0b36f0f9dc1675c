#!/usr/bin/env bash
# Peak RSS and wall time of the 100M-row basket, recommend and report runs under a memory limit.
# LGS=binary W=warehouse LIMITS="2GB 2667MB" CMDS="basket recommend report" OUT=dir
set -u
OUT=${OUT:-/work/bench-scratch/mem}
mkdir -p "$OUT"
for cmd in ${CMDS:-basket recommend report}; do
  for limit in ${LIMITS:-2GB}; do
    case $cmd in
      basket) args="basket --min-support 0.02 --format json" ;;
      recommend) args="recommend --calibration-end 2011-09-30 --format json" ;;
      report) args="report --format json" ;;
    esac
    tag=$(basename "$LGS")-$cmd-$limit
    /usr/bin/time -f "%e s %U u %S sys %M KB" -o "$OUT/$tag.time" \
      "$LGS" -q --warehouse "$W" --memory-limit "$limit" $args > "$OUT/$tag.out" 2> "$OUT/$tag.err"
    echo "$cmd $limit $(basename "$LGS"): rc=$? $(cat "$OUT/$tag.time" | tail -1) $(md5sum < "$OUT/$tag.out" | cut -c1-8)"
  done
done

#!/bin/bash
# Ingest speed (issue 31): `lgs ingest` of one generated CSV (plain, gzip, zstd) into
# an empty warehouse, whole process, interleaved rounds; prints wall s, CPU s, peak
# RSS, MB/s of the CSV text and rows/s per (binary, --threads, input kind).
#
#   LGS_BIN=<release lgs> [LGS_BIN_B=<another lgs>] [ROWS=10000000] [RUNS=3] \
#     [THREADS="1 2"] [KINDS="csv gz zst"] bench/ingest_speed.sh
#
# Generated data (`lgs generate retail --seed 1`) is kept in $W and reused.
set -e
A=${LGS_BIN:-$HOME/.cache/lgs-target/release/lgs}
B=${LGS_BIN_B:-}
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
THREADS=${THREADS:-1 2}
KINDS=${KINDS:-csv gz zst}
W=${W:-/work/bench-scratch/ingest}
mkdir -p $W
CSV=$W/r$ROWS.csv
[ -f $CSV ] || $A generate retail --rows $ROWS --seed 1 --out $CSV 2>/dev/null
[ -f $CSV.gz ] || [[ " $KINDS " != *" gz "* ]] || gzip -1 -k -c $CSV > $CSV.gz
[ -f $CSV.zst ] || [[ " $KINDS " != *" zst "* ]] || zstd -q -3 -T0 -k -c $CSV > $CSV.zst
BYTES=$(stat -c %s $CSV)
echo "# $ROWS rows, $BYTES bytes of CSV; $(nproc) cores"
echo "binary threads kind run wall_s cpu_s peak_mb mb_per_s rows_per_s"
for run in $(seq 1 $RUNS); do
  for bin in $A $B; do
    for t in $THREADS; do
      for kind in $KINDS; do
        input=$CSV; [ $kind = csv ] || input=$CSV.$kind
        rm -rf $W/wh
        out=$( { /usr/bin/time -f "%e %U %S %M" $bin --quiet --threads $t --warehouse $W/wh \
                   ingest $input > /dev/null; } 2>&1 | tail -1 )
        read wall user sys rss <<< "$out"
        awk -v b=$bin -v t=$t -v k=$kind -v r=$run -v w=$wall -v u=$user -v s=$sys -v m=$rss \
            -v bytes=$BYTES -v rows=$ROWS 'BEGIN { printf "%s %s %s %s %.2f %.2f %.0f %.0f %.0f\n",
            b, t, k, r, w, u + s, m / 1024, bytes / 1e6 / w, rows / w }'
      done
    done
  done
done
rm -rf $W/wh

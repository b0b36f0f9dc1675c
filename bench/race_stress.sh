#!/usr/bin/env bash
# Six `lgs ingest` processes at once on a fresh S3 warehouse, round after round:
# the concurrency test's scenario as a stress loop (RELIABILITY.md, Concurrent
# writers). Every round must end with 13,000 rows in retail and 13,000 reported.
#
#   bench/race_stress.sh PORT ROUNDS     (a moto_server on 127.0.0.1:PORT with a
#                                         bucket named race; LGS=path/to/lgs)
set -u
port=$1
rounds=$2
lgs=${LGS:-lgs}
dir=$(mktemp -d)
cd "$dir"
for x in "a 6000 1" "b 4000 2" "c 3000 3"; do
  set -- $x
  "$lgs" -q generate retail --rows "$2" --seed "$3" --out "$1.csv"
done
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
bad=0
for r in $(seq 1 "$rounds"); do
  wh=s3://race/stress-$$-$r
  pids=""
  i=0
  for files in "a.csv" "a.csv" "a.csv b.csv" "b.csv" "a.csv b.csv c.csv" "c.csv"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    "$lgs" -q --warehouse "$wh" ingest --format json $files > "out$i.json" 2> "err$i.txt" &
    pids="$pids $!"
  done
  # shellcheck disable=SC2086
  wait $pids
  n=$("$lgs" -q --warehouse "$wh" sql "SELECT count(*) AS n FROM retail" --format csv | tail -1)
  echo "round $r: retail has $n rows ($wh)"
  [ "$n" = "13000" ] || bad=$((bad + 1))
done
echo "$bad of $rounds rounds wrong"
[ "$bad" = 0 ]

#!/usr/bin/env bash
# Runs a command, samples its RSS every 0.1 s: prints "t_seconds rss_MB" lines to $RSS_OUT, then the max.
out=${RSS_OUT:-/tmp/rss.txt}
"$@" > /tmp/rss-cmd.out 2> /tmp/rss-cmd.err &
pid=$!
start=$(date +%s.%N)
: > "$out"
while kill -0 $pid 2>/dev/null; do
  r=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null)
  [ -n "$r" ] && echo "$(echo "$(date +%s.%N) - $start" | bc | cut -c1-5) $((r/1024))" >> "$out"
  sleep 0.1
done
wait $pid; echo "rc=$? max_MB=$(sort -k2 -n "$out" | tail -1)"

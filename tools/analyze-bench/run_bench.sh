#!/bin/bash
# Import throughput of ct-analyze as a ratio to `zstd -dc FILE > /dev/null` on
# the same capture in the same run, and database size over capture size.
#   tools/analyze-bench/run_bench.sh BUILD_DIR [TARGET_MIB]
set -euo pipefail
build=${1:?usage: run_bench.sh BUILD_DIR [TARGET_MIB]}
mib=${2:-256}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/tools/analyze-bench/analyze-bench-gen" "$work/bench.ctz" "$mib"
capture_size=$(stat -c %s "$work/bench.ctz")
plain_size=$(zstd -dc "$work/bench.ctz" | wc -c)

now() { date +%s.%N; }
t0=$(now); zstd -dc "$work/bench.ctz" > /dev/null; t1=$(now)
"$build/replay/analyze/ct-analyze" --quiet --no-progress --db "$work/bench.db" "$work/bench.ctz"
t2=$(now)
db_size=$(( $(stat -c %s "$work/bench.db") + $(stat -c %s "$work/bench.db-wal" 2>/dev/null || echo 0) ))

awk -v z="$(echo "$t1 - $t0" | bc)" -v a="$(echo "$t2 - $t1" | bc)" -v c="$capture_size" -v p="$plain_size" -v d="$db_size" 'BEGIN {
  printf "capture: %.1f MiB compressed, %.1f MiB decompressed records\n", c/1048576, p/1048576
  printf "zstd -dc:   %.3f s (%.0f MiB/s of records)\n", z, p/1048576/z
  printf "ct-analyze: %.3f s (%.0f MiB/s of records)\n", a, p/1048576/a
  printf "import time / zstd -dc time: %.1fx (aim: <= 10x)\n", a/z
  printf "database size / capture size: %.2f\n", d/c
}'

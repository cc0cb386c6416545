#!/bin/bash
# Import throughput of ct-analyze as a ratio to `zstd -dc FILE > /dev/null` on
# the same capture in the same run, and database size over capture size.
# Each side runs RUNS times (default 3) and the fastest wall time counts, so
# that other load on the machine disturbs the ratio less.
#   tools/analyze-bench/run_bench.sh BUILD_DIR [TARGET_MIB] [RUNS]
set -euo pipefail
build=${1:?usage: run_bench.sh BUILD_DIR [TARGET_MIB] [RUNS]}
mib=${2:-256}
runs=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/tools/analyze-bench/analyze-bench-gen" "$work/bench.ctz" "$mib" > /dev/null
capture_size=$(stat -c %s "$work/bench.ctz")
plain_size=$(zstd -dc "$work/bench.ctz" | wc -c)

now() { date +%s.%N; }
best_zstd=999999
best_import=999999
for _ in $(seq "$runs"); do
  t0=$(now); zstd -dc "$work/bench.ctz" > /dev/null; t1=$(now)
  rm -f "$work"/bench.db*
  "$build/replay/analyze/ct-analyze" --quiet --no-progress --db "$work/bench.db" "$work/bench.ctz"
  t2=$(now)
  best_zstd=$(echo "z=$t1 - $t0; if (z < $best_zstd) z else $best_zstd" | bc)
  best_import=$(echo "a=$t2 - $t1; if (a < $best_import) a else $best_import" | bc)
done
db_size=$(( $(stat -c %s "$work/bench.db") + $(stat -c %s "$work/bench.db-wal" 2>/dev/null || echo 0) ))

awk -v z="$best_zstd" -v a="$best_import" -v c="$capture_size" -v p="$plain_size" -v d="$db_size" \
    -v runs="$runs" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
  printf "capture: %.1f MiB compressed, %.1f MiB of records (plaintext and events)\n", c/1048576, p/1048576
  printf "best of %d runs (load average %s):\n", runs, load
  printf "  zstd -dc:   %.3f s (%.0f MiB/s of records)\n", z, p/1048576/z
  printf "  ct-analyze: %.3f s (%.0f MiB/s of records)\n", a, p/1048576/a
  printf "import time / zstd -dc time: %.1fx (aim: <= 10x)\n", a/z
  printf "database size / capture size: %.2f\n", d/c
}'

#!/bin/bash
# Peak memory of ct-analyze on captures of ONE connection at two plaintext sizes
# (SMALL and 10 x SMALL MiB) in the same run, and their ratio: a ratio near 1
# means the memory does not grow with the connection's plaintext. Cases:
#   keepalive  one keep-alive connection of 1 MiB exchanges (SMALL of them)
#   sse        one SSE response of SMALL MiB (chunked, text/event-stream)
#   ssekeep    one keep-alive connection of 1 MiB SSE responses (SMALL of them)
#   body       one response body of SMALL MiB (Content-Length)
#   h2         one HTTP/2 connection of 1 MiB streams (SMALL of them)
# Bodies are kept up to MAX_BODY bytes each (--max-body-size; default 4096, so
# that the database, and SQLite's page cache with it, stay small).
#   tools/analyze-bench/single_connection.sh BUILD_DIR [SMALL_MIB] [MAX_BODY] [CASE...]
# With CT_BENCH_MAX_RATIO set, exits 1 if a case's ratio is above it.
# With CT_BENCH_MAX_SLOPE set, exits 1 if a case's peak RSS grew by more than
# that many MiB per MiB of plaintext added (from SMALL to 10 x SMALL): with
# MAX_BODY above the bodies, they are held whole, and this bounds how many
# copies of them the import holds at once.
set -euo pipefail
build=${1:?usage: single_connection.sh BUILD_DIR [SMALL_MIB] [MAX_BODY] [CASE...]}
small=${2:-16}
max_body=${3:-4096}
shift $(( $# < 3 ? $# : 3 ))
cases=${*:-keepalive sse body h2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gen=$build/tools/analyze-bench/analyze-bench-bigplain
mem=$build/tools/analyze-bench/analyze-bench-memory

status=0
printf '%-10s %10s %12s %12s %12s %7s\n' case plaintext peak_rss held_now exch_streamed ratio
for c in $cases; do
  rss=()
  for mib in "$small" $((small * 10)); do
    rm -f "$work/c.ctz"
    exchanges=$mib
    case $c in
      keepalive) "$gen" "$work/c.ctz" "$mib" 1 "$exchanges" > /dev/null ;;
      sse) "$gen" "$work/c.ctz" "$mib" 1 1 sse > /dev/null ;;
      ssekeep) "$gen" "$work/c.ctz" "$mib" 1 "$exchanges" sse > /dev/null ;;
      body) "$gen" "$work/c.ctz" "$mib" 1 1 > /dev/null ;;
      h2) "$gen" "$work/c.ctz" "$mib" 1 "$exchanges" h2 > /dev/null ;;
      *) echo "unknown case $c" >&2; exit 2 ;;
    esac
    rm -f "$work"/c.db*
    out=$("$mem" stream "$work/c.ctz" "$work/c.db" "$max_body")
    peak=$(sed -E 's/.*peak_rss_mib=([0-9.]+).*/\1/' <<< "$out")
    held=$(sed -E 's/.*held_plaintext_mib=([0-9.]+) streamed_held_mib=([0-9.]+).*/\1+\2/' <<< "$out")
    streamed=$(sed -E 's/.*exchanges_streamed=([0-9]+).*/\1/' <<< "$out")
    printf '%-10s %7s MiB %8s MiB %12s %12s\n' "$c" "$mib" "$peak" "$held" "$streamed"
    rss+=("$peak")
  done
  ratio=$(awk -v a="${rss[0]}" -v b="${rss[1]}" 'BEGIN { printf "%.2f", b / a }')
  slope=$(awk -v a="${rss[0]}" -v b="${rss[1]}" -v s="$small" \
    'BEGIN { printf "%.2f", (b - a) / (9 * s) }')
  printf '%-10s %50s %7s\n' "$c" "peak RSS ratio (10x plaintext):" "$ratio"
  printf '%-10s %50s %7s\n' "$c" "peak RSS MiB per plaintext MiB added:" "$slope"
  if [ -n "${CT_BENCH_MAX_SLOPE:-}" ] &&
     awk -v r="$slope" -v m="$CT_BENCH_MAX_SLOPE" 'BEGIN { exit !(r > m) }'; then
    echo "FAIL: $c: peak RSS grew ${slope} MiB per MiB of plaintext (bound $CT_BENCH_MAX_SLOPE)"
    status=1
  fi
  if [ -n "${CT_BENCH_MAX_RATIO:-}" ] &&
     awk -v r="$ratio" -v m="$CT_BENCH_MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
    echo "FAIL: $c: peak RSS grew ${ratio}x with 10x the plaintext (bound $CT_BENCH_MAX_RATIO)"
    status=1
  fi
done
exit $status

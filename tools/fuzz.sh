#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in
# BUILD_DIR (default build-fuzz) and runs each one for RUNS inputs (default
# 2000; a count, not a time) from its seed corpus in tests/fuzz/corpus/.
# New inputs go to BUILD_DIR/tests/fuzz/scratch, never into the repository.
#   tools/fuzz.sh [BUILD_DIR] [RUNS] [TARGET...]
# RUNS 0 only builds. tools/fuzz-long.sh runs them for millions of inputs.
# Needs clang 16 or later with libFuzzer (Debian: clang-16 libclang-rt-16-dev;
# tools/install-deps.sh installs them).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-fuzz}
runs=${2:-2000}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
targets=${*:-"fuzz_capture_reader fuzz_stream_assembly fuzz_http1 fuzz_http2 fuzz_sse fuzz_llm_anthropic fuzz_llm_openai fuzz_llm_gemini fuzz_importer fuzz_export fuzz_go_pclntab fuzz_locator fuzz_ship_tail"}

# CT_FUZZ_CXX picks the compiler; clang 14 (Debian's default clang) cannot
# compile libstdc++ 12's <expected>, so 16 or later.
cxx=${CT_FUZZ_CXX:-}
if [ -z "$cxx" ]; then
    for c in clang++-19 clang++-18 clang++-17 clang++-16; do
        if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
    done
fi
[ -n "$cxx" ] || { echo "fuzz.sh: needs clang++ 16 or later (apt-get install clang-16 libclang-rt-16-dev)" >&2; exit 2; }
cc=$(echo "$cxx" | sed 's/clang++/clang/')

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" -DCT_FUZZ=ON \
    -DCT_FUZZ_RUNS="$runs" >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"${JOBS:-2}" --target $targets
# The source each binary was built from (ninja just brought the listed targets up
# to date with this tree): tools/fuzz-long.sh puts it in its history lines.
commit=$(git -C "$src" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
for t in $targets; do echo "$commit" >"$build/tests/fuzz/$t.source-commit"; done
[ "$runs" -gt 0 ] || exit 0

status=0
for t in $targets; do
    scratch=$build/tests/fuzz/scratch/$t
    mkdir -p "$scratch"
    log=$build/tests/fuzz/$t.log
    if "$build/tests/fuzz/$t" -runs="$runs" -max_len=65536 -rss_limit_mb=1024 -timeout=10 \
        -print_final_stats=1 "$scratch" "$src/tests/fuzz/corpus/$t" >"$log" 2>&1; then
        echo "$t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') inputs, no crash"
    else
        echo "$t: FAILED, see $log" >&2
        status=1
    fi
done
exit $status

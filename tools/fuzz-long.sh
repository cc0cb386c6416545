#!/bin/sh
# A long run of the libFuzzer targets (tests/fuzz), one target at a time, each
# until it has executed RUNS inputs in all (default 10 million), with
# -timeout=10 -rss_limit_mb=1024. Resumable: each target keeps its work corpus
# and its count of executions in WORK_DIR/<target>/, so running the script again
# continues where it stopped (a target that reached RUNS is skipped).
#   tools/fuzz-long.sh [BUILD_DIR] [RUNS] [TARGET...]
# BUILD_DIR holds the fuzz build (default build-fuzz; built here as tools/fuzz.sh
# does when a target is missing). Environment:
#   FUZZ_WORK      work directory (default BUILD_DIR/fuzz-long)
#   FUZZ_MAX_TIME  seconds one target may run in this invocation (default: no
#                  limit); the run stops there and the next invocation resumes it
#   FUZZ_MAX_LEN   -max_len for every target (default: per target, below)
#   FUZZ_NICE      niceness of the fuzzers (default 10)
#   FUZZ_RECORD    a file to which each run also appends its line as a row of a
#                  Markdown table (tests/fuzz/long-runs.md keeps the record)
# Each run of a target appends a line to WORK_DIR/<target>/history: when it
# started (UTC), the commit of the source tree its binary was built from (as
# tools/fuzz.sh wrote it beside the binary; with "-dirty" for local changes),
# the inputs it executed, its CPU seconds and the findings it added, so that a
# count made over several sessions says which code it was made on.
# Prints per target: executions done, exec/s of this session (and per second of
# the fuzzer's CPU time, which a busy machine does not change), crashes, timeouts,
# OOMs and leaks found (their inputs in WORK_DIR/<target>/artifacts/) and the
# size of the work corpus. Exits 1 when any target has a finding.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-fuzz}
runs=${2:-10000000}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
# Fast targets first.
targets=${*:-"fuzz_ship_tail fuzz_go_pclntab fuzz_sse fuzz_http1 fuzz_http2 fuzz_llm_anthropic fuzz_llm_openai fuzz_llm_gemini fuzz_stream_assembly fuzz_capture_reader fuzz_locator fuzz_importer fuzz_export"}
work=${FUZZ_WORK:-$build/fuzz-long}
niceness=${FUZZ_NICE:-10}

missing=
for t in $targets; do
    [ -x "$build/tests/fuzz/$t" ] || missing="$missing $t"
done
if [ -n "$missing" ]; then
    # tools/fuzz.sh builds them (RUNS 0: build only).
    # shellcheck disable=SC2086
    "$src/tools/fuzz.sh" "$build" 0 $missing >/dev/null
fi

# The input sizes a target needs to reach its code: the 64 KiB of CI's short
# run (ct-analyze --watch reads a 64 KiB tail, decoders are cut at 16 KiB bodies),
# whole captures for the capture reader (its seeds go up to 114 KiB). libFuzzer
# grows inputs slowly from the seeds' sizes anyway (-len_control).
max_len_of() {
    if [ -n "${FUZZ_MAX_LEN:-}" ]; then echo "$FUZZ_MAX_LEN"; return; fi
    case $1 in
        fuzz_capture_reader) echo 131072 ;;
        *) echo 65536 ;;
    esac
}

stat_of() {  # stat_of NAME LOG: a stat:: line of libFuzzer's final stats
    sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

count_files() {  # count_files DIR [PATTERN]
    find "$1" -maxdepth 1 -type f -name "${2:-*}" 2>/dev/null | wc -l
}

status=0
for t in $targets; do
    dir=$work/$t
    mkdir -p "$dir/corpus" "$dir/artifacts"
    commit=$(cat "$build/tests/fuzz/$t.source-commit" 2>/dev/null || echo unknown)
    done_runs=$(cat "$dir/executions" 2>/dev/null || echo 0)
    left=$((runs - done_runs))
    rate="- exec/s"
    if [ "$left" -gt 0 ] && [ "$(count_files "$dir/artifacts")" -eq 0 ]; then
        started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        log=$dir/session-$(date -u +%Y%m%dT%H%M%SZ).log
        set -- -runs="$left" -max_len="$(max_len_of "$t")" -timeout=10 -rss_limit_mb=1024 \
            -print_final_stats=1 -artifact_prefix="$dir/artifacts/"
        [ -n "${FUZZ_MAX_TIME:-}" ] && set -- "$@" -max_total_time="$FUZZ_MAX_TIME"
        # The work corpus first: libFuzzer adds new inputs to the first directory.
        # `times` in the subshell: the fuzzer's CPU time (user, system).
        (
            nice -n "$niceness" "$build/tests/fuzz/$t" "$@" "$dir/corpus" \
                "$src/tests/fuzz/corpus/$t" >"$log" 2>&1 || true
            times >"$dir/cpu"
        )
        executed=$(stat_of number_of_executed_units "$log")
        if [ -z "$executed" ]; then
            # Killed before the final stats: the last progress line ("#N ...").
            executed=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
        fi
        done_runs=$((done_runs + ${executed:-0}))
        echo "$done_runs" >"$dir/executions"
        rate=$(stat_of average_exec_per_sec "$log")
        rate=${rate:--}
        # Inputs per second of CPU time: what the target costs, however busy the
        # machine was (on a shared machine exec/s mostly says how much CPU it got).
        cpu=$(awk 'NR == 2 {
            n = split($0, f, /[ms ]+/); s = 0
            for (i = 1; i + 1 <= n; i += 2) s += f[i] * 60 + f[i + 1]
            print s }' "$dir/cpu")
        cpu_rate=$(awk -v e="${executed:-0}" -v s="$cpu" 'BEGIN { if (s > 0) printf "%d", e / s; else print "-" }')
        rate="$rate exec/s ($cpu_rate per CPU second, ${cpu} s CPU)"
        found=$(count_files "$dir/artifacts")
        echo "$started $commit ${executed:-0} $cpu $found" >>"$dir/history"
        if [ -n "${FUZZ_RECORD:-}" ]; then
            echo "| $started | $t | $commit | ${executed:-0} | $cpu | $found |" >>"$FUZZ_RECORD"
        fi
    fi
    crashes=$(($(count_files "$dir/artifacts" 'crash-*') + $(count_files "$dir/artifacts" 'deadly-*')))
    timeouts=$(count_files "$dir/artifacts" 'timeout-*')
    ooms=$(count_files "$dir/artifacts" 'oom-*')
    leaks=$(count_files "$dir/artifacts" 'leak-*')
    corpus=$(count_files "$dir/corpus")
    corpus_kb=$(du -sk "$dir/corpus" | cut -f1)
    echo "$t: $done_runs of $runs executions, $rate, crashes $crashes, timeouts $timeouts, ooms $ooms, leaks $leaks, corpus $corpus inputs ($corpus_kb KiB)"
    [ $((crashes + timeouts + ooms + leaks)) -eq 0 ] || status=1
done
exit $status

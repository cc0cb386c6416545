#!/usr/bin/env bash
# Builds ct with warnings as errors and runs every test:
#   unit     no privileges needed (format, parsers, analyzer, locator)
#   network  downloads Claude Code builds from npm for the locator (skipped offline),
#            and the HAR / OTLP checkers of the export tests (these fail offline)
#   root     real clients, real TLS, real BPF (skipped when not root)
# then an AddressSanitizer/UndefinedBehaviorSanitizer build of the unit tests,
# then a short run of the libFuzzer targets (clang; tools/fuzz.sh).
# Usage: sudo tools/run-tests.sh        (CT_SKIP_ASAN=1 to skip the sanitizer build,
#                                        CT_SKIP_FUZZ=1 the fuzz targets)
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${CT_BUILD_DIR:-$src/build}
jobs=$(nproc)
status=0
step() { printf '\n==== %s\n' "$*"; }

step "configure and build ($build)"
cmake -S "$src" -B "$build" -G Ninja -DCT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$build" -j"$jobs" || exit 1

step "unit and network tests"
# --timeout: a cap per test, far above what any test takes on a busy machine, so
# that a hang (say, on a hostile input) fails that one test with its output
# instead of running into CI's overall limit. Not a speed check.
ctest --test-dir "$build" -LE root --output-on-failure -j"$jobs" --timeout 3600 || status=1

if [ "$(id -u)" = 0 ]; then
    step "root tests (BPF, real TLS clients)"
    ctest --test-dir "$build" -L root --output-on-failure --timeout 1800 || status=1
else
    step "root tests SKIPPED: run as root to include them"
fi

if [ "${CT_SKIP_ASAN:-0}" != 1 ]; then
    step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    asan=${build}-asan
    cmake -S "$src" -B "$asan" -G Ninja -DCT_WERROR=ON -DCT_SANITIZE=ON \
        -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
        cmake --build "$asan" -j"$jobs" &&
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
            ctest --test-dir "$asan" -L unit --output-on-failure -j"$jobs" --timeout 3600 || status=1
fi

if [ "${CT_SKIP_FUZZ:-0}" != 1 ]; then
    # A short run of every libFuzzer target from its seed corpus: a fixed number of
    # inputs each (CT_FUZZ_RUNS), not a time.
    step "fuzz targets, ${CT_FUZZ_RUNS:-2000} inputs each"
    JOBS=$jobs "$src/tools/fuzz.sh" "${build}-fuzz" "${CT_FUZZ_RUNS:-2000}" || status=1
fi

if [ $status = 0 ]; then step "ALL TESTS PASSED"; else step "SOME TESTS FAILED"; fi
exit $status

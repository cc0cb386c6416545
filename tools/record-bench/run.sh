#!/bin/bash
# record-bench: ct-record's per-call cost, losses, CPU, capture size and memory,
# measured side by side in one run. Not a test. See README.md.
#   sudo tools/record-bench/run.sh [--quick] [bench.py options]
# Builds what it needs in CT_BUILD_DIR (default: build/ in the repository) first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${CT_BUILD_DIR:-$repo/build}
if [ "$(id -u)" != 0 ]; then
  echo "record-bench: run as root (it loads BPF programs): sudo $0 $*" >&2
  exit 1
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build" -G Ninja >&2
fi
cmake --build "$build" --target record-bench -j2 >&2
exec /usr/bin/python3 "$here/bench.py" --build "$build" "$@"

#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a recorded, analyzed session:
# installs the dependencies, builds ct, starts the project's mock LLM server on
# 127.0.0.1, records a small agent (python3) and curl talking HTTPS to it with
# ct-record, and shows what was captured with ct-analyze.
# Usage: sudo tools/demo.sh
#   CT_BUILD_DIR=DIR       build directory (default: build/ in the source tree)
#   CT_DEMO_NO_BUILD=1     use the binaries already in the build directory: no
#                          apt-get, no cmake
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${CT_BUILD_DIR:-$src/build}
if [ "$(id -u)" != 0 ]; then
    echo "demo: ct-record loads BPF programs and needs root: sudo tools/demo.sh" >&2
    exit 1
fi
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -z "${CT_DEMO_NO_BUILD:-}" ]; then
    say "installing dependencies (apt-get)"
    "$src/tools/install-deps.sh"

    say "building ct-record and ct-analyze in $build"
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" --target ct-record ct-analyze ct-dump -j"$(nproc)"
fi

work=$(mktemp -d /tmp/ct-demo-XXXXXX)
server_pid=
# The mock server must not outlive the demo, however it ends (error, Ctrl-C, kill).
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null

say "starting the mock LLM server (HTTPS, 127.0.0.1)"
# Started as a plain background command, so $! is python itself (a coproc or a
# subshell would leave the server running when only the shell around it is killed).
/usr/bin/python3 "$src/tests/servers/mock_llm_server.py" --cert "$work/cert.pem" \
    --key "$work/key.pem" --log-dir "$work/server-log" >"$work/server.out" &
server_pid=$!
port=
for _ in $(seq 100); do
    port=$(head -n1 "$work/server.out" 2>/dev/null || true)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || { echo "demo: the mock server did not start" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "demo: the mock server printed no port" >&2; exit 1; }
port=${port##* }
echo "listening on https://127.0.0.1:$port"

say "recording: a python3 agent that calls a tool, then curl (ct-record -- ...)"
"$build/record/ct-record" -w "$work/demo.ctz" -- sh -c "
    /usr/bin/python3 '$src/tools/demo/agent_client.py' https://127.0.0.1:$port '$work/cert.pem' &&
    curl -sS --compressed --cacert '$work/cert.pem' https://127.0.0.1:$port/v1/models -o /dev/null"

say "what was captured: ct-analyze (imports into $work/demo.db)"
"$build/replay/analyze/ct-analyze" --no-progress --db "$work/demo.db" "$work/demo.ctz"

say "which tools did the agent call, and what did it cost? (SQL)"
"$build/replay/analyze/ct-analyze" --db "$work/demo.db" --sql "
  SELECT t.name AS tool, count(*) AS uses, sum(l.input_tokens) AS input_tokens,
         sum(l.output_tokens) AS output_tokens
  FROM llm_tool_calls t JOIN llm_calls l ON l.id = t.llm_call_id GROUP BY t.name"

say "the session as a timeline (first lines)"
# Into a file, then its start: piped into head, ct-analyze would die of SIGPIPE
# when head stops reading, and pipefail would end the demo there.
"$build/replay/analyze/ct-analyze" --timeline "$work/demo.ctz" >"$work/timeline.txt"
head -n 40 "$work/timeline.txt"
echo "... all of it: $work/timeline.txt"

say "done: capture $work/demo.ctz, database $work/demo.db"
echo "try: $build/replay/analyze/ct-analyze --db $work/demo.db --sql 'SELECT * FROM v_llm_calls'"

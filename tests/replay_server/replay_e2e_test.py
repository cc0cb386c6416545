#!/usr/bin/python3
"""End to end, as root: ct-record records a python client (http.client) making an
Anthropic-style tool round-trip (two streamed calls) against the mock LLM server;
the mock is stopped; `ct-replay run` replays the session to the same client: its
output must equal the recorded run's and the report must say everything matched.
Then the client sends a different tool_result: the report names the differing
JSON path and ct-replay exits 1. The same for an OpenAI Responses stream
(urllib, through OPENAI_BASE_URL), and ct-record around a replay sees the
recorded SSE events with the recorded spacing. With CT_CLAUDE_BIN set (a Claude
Code binary, or "node .../cli.js" for Claude Code 1.0.x), the same for Claude
Code doing a Bash tool round-trip (`ls -la`), and then with a changed file in
the listed directory.

  replay_e2e_test.py CT_RECORD CT_REPLAY MOCK_SERVER
"""

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

CT_RECORD, CT_REPLAY, SERVER = (os.path.abspath(a) for a in sys.argv[1:4])
del sys.argv[1:4]
CT_ANALYZE = os.path.join(os.path.dirname(CT_REPLAY), "..", "analyze", "ct-analyze")

# Talks to $ANTHROPIC_BASE_URL, trusting the CAs the default context trusts
# ($SSL_CERT_FILE); answers the tool call with argv[1]; prints what it received.
CLIENT = r'''
import http.client, json, os, ssl, sys, urllib.parse
base = urllib.parse.urlparse(os.environ["ANTHROPIC_BASE_URL"])
conn = http.client.HTTPSConnection(base.hostname, base.port, context=ssl.create_default_context())
messages = [{"role": "user", "content": "read the secret"}]
for turn in range(2):
    body = json.dumps({"model": "claude-e2e", "max_tokens": 64, "stream": True, "messages": messages,
                       "metadata": {"user_id": "session-%d" % os.getpid()}})
    conn.request("POST", "/v1/messages", body=body,
                 headers={"content-type": "application/json", "x-api-key": os.environ["ANTHROPIC_API_KEY"]})
    r = conn.getresponse()
    data = r.read().decode()
    print(r.status, r.getheader("content-type"))
    print(data)
    if turn == 0:
        tool = None
        for line in data.splitlines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event.get("type") == "content_block_start" and event["content_block"]["type"] == "tool_use":
                    tool = event["content_block"]
        messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": tool["id"], "name": tool["name"],
                                                         "input": {}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool["id"],
                                                   "content": sys.argv[1]}]}]
conn.close()
'''

# OpenAI Responses API through $OPENAI_BASE_URL with urllib: a streamed function
# call, then the function's output (argv[1]) and the streamed answer.
OPENAI_CLIENT = r'''
import json, os, sys, urllib.request
items = [{"role": "user", "content": "list the files"}]
for turn in range(2):
    body = json.dumps({"model": "gpt-e2e", "stream": True, "input": items}).encode()
    request = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/responses", data=body, headers={
        "content-type": "application/json", "authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
    try:
        with urllib.request.urlopen(request) as r:
            status, data = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read().decode()
    print(status)
    print(data)
    if turn == 0:
        call = None
        for line in data.splitlines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                for item in (event.get("response") or {}).get("output", []):
                    if item.get("type") == "function_call":
                        call = {k: item[k] for k in ("type", "call_id", "name", "arguments")}
        items += [call, {"type": "function_call_output", "call_id": call["call_id"], "output": sys.argv[1]}]
'''


class RecordThenReplay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        server = subprocess.Popen(["/usr/bin/python3", SERVER, "--cert", cert, "--key", key, "--event-delay-ms", "5"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline())
            cls.record_claude(port, cert)
            env = dict(os.environ, ANTHROPIC_BASE_URL="https://127.0.0.1:%d" % port, SSL_CERT_FILE=cert,
                       ANTHROPIC_API_KEY="sk-recorded-secret")
            cls.capture = os.path.join(d, "session.ctz")
            rec = subprocess.run([CT_RECORD, "-f", "-w", cls.capture, "--", "/usr/bin/python3", "-c", CLIENT,
                                  "swordfish-42"], capture_output=True, text=True, timeout=120, env=env)
            assert rec.returncode == 0, rec.stderr
            cls.recorded_output = rec.stdout
            cls.openai_capture = os.path.join(d, "openai.ctz")
            env = dict(os.environ, OPENAI_BASE_URL="https://127.0.0.1:%d/v1" % port, SSL_CERT_FILE=cert,
                       OPENAI_API_KEY="sk-recorded-secret")
            rec = subprocess.run([CT_RECORD, "-f", "-w", cls.openai_capture, "--", "/usr/bin/python3", "-c",
                                  OPENAI_CLIENT, "a.txt b.txt"], capture_output=True, text=True, timeout=120, env=env)
            assert rec.returncode == 0, rec.stderr
            cls.openai_output = rec.stdout
        finally:
            server.terminate()  # the replay runs without it
            server.wait(10)
            server.stdout.close()
        cls.cert, cls.key = cert, key

    # A Claude Code binary, or a command: "/usr/bin/node .../claude-code/cli.js" for 1.0.x.
    # Without it, the newest native build the other Claude tests cached (tests/locate/fetch_claude_builds.sh).
    CLAUDE = shlex.split(os.environ.get("CT_CLAUDE_BIN", ""))
    if not CLAUDE:
        _cache = os.path.join(os.environ.get("CT_TEST_CACHE", "/var/cache/ct-test"), "claude-code-linux-x64")
        try:
            with open(os.path.join(_cache, "latest-version")) as _f:
                _bin = os.path.join(_cache, _f.read().strip(), "claude")
            if os.access(_bin, os.X_OK):
                CLAUDE = [_bin]
        except OSError:
            pass
    CLAUDE_ARGS = ["-p", "list the files", "--allowedTools", "Bash", "--model", "claude-sonnet-4-5"]

    @classmethod
    def claude_env(cls, **extra):
        return dict(os.environ, HOME=os.path.join(cls.tmp.name, "claude", "home"), DISABLE_TELEMETRY="1",
                    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", **extra)

    @classmethod
    def freeze_listing(cls):
        """Every run starts from the same state: a fresh HOME (Claude Code keeps per-project
        state there, and a second run in a project behaves differently), and the tool runs
        `ls -la` in claude/work, so the times it shows are fixed."""
        home = os.path.join(cls.tmp.name, "claude", "home")
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(home)
        for path in (os.path.join(cls.tmp.name, "claude", "work", "hello.txt"),
                     os.path.join(cls.tmp.name, "claude", "work"), os.path.join(cls.tmp.name, "claude")):
            os.utime(path, (1767225600, 1767225600))

    @classmethod
    def record_claude(cls, port, cert):
        if not cls.CLAUDE:
            return
        work = os.path.join(cls.tmp.name, "claude", "work")
        os.makedirs(work)
        with open(os.path.join(work, "hello.txt"), "w") as f:
            f.write("swordfish-42\n")
        cls.freeze_listing()
        cls.claude_capture = os.path.join(cls.tmp.name, "claude.ctz")
        rec = subprocess.run([CT_RECORD, "-f", "-w", cls.claude_capture, "--", *cls.CLAUDE, *cls.CLAUDE_ARGS],
                             capture_output=True, text=True, timeout=300, cwd=work,
                             env=cls.claude_env(ANTHROPIC_BASE_URL="https://127.0.0.1:%d" % port,
                                                ANTHROPIC_API_KEY="sk-recorded-secret", NODE_EXTRA_CA_CERTS=cert))
        assert rec.returncode == 0, rec.stderr
        cls.claude_output = rec.stdout

    def replay_claude(self):
        self.freeze_listing()
        env = self.claude_env()
        env.pop("ANTHROPIC_API_KEY", None)
        return subprocess.run([CT_REPLAY, "run", self.claude_capture, "--", *self.CLAUDE, *self.CLAUDE_ARGS],
                              capture_output=True, text=True, timeout=300, env=env,
                              cwd=os.path.join(self.tmp.name, "claude", "work"))

    def test_claude_code(self):
        if not self.CLAUDE:
            self.skipTest("CT_CLAUDE_BIN is not set and no Claude Code build is cached")
        r = self.replay_claude()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.claude_output)
        # Claude Code 1.0.x also asks a small model which files the command touched: 3 calls.
        self.assertRegex(r.stderr, r"(\d+) requests, \1 matched, 0 unmatched; (\d+) of \2 recorded exchanges served")
        # The file the tool lists changes size: the second call's tool_result differs.
        with open(os.path.join(self.tmp.name, "claude", "work", "hello.txt"), "w") as f:
            f.write("swordfish-43 and more\n")
        r = self.replay_claude()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"UNMATCHED request \d+")
        self.assertRegex(r.stderr, r"messages\[2\]\.content\[0\]\.content \(at byte \d+\): '.*hello")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def replay(self, tool_text):
        env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "SSL_CERT_FILE")}
        return subprocess.run([CT_REPLAY, "run", self.capture, "--", "/usr/bin/python3", "-c", CLIENT, tool_text],
                              capture_output=True, text=True, timeout=120, env=env)

    def test_openai_responses(self):
        self.assertIn("function_call", self.openai_output)
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "SSL_CERT_FILE")}
        command = [CT_REPLAY, "run", self.openai_capture, "--", "/usr/bin/python3", "-c", OPENAI_CLIENT]
        r = subprocess.run(command + ["a.txt b.txt"], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.openai_output)
        self.assertIn("2 requests, 2 matched, 0 unmatched; 2 of 2 recorded exchanges served", r.stderr)
        r = subprocess.run(command + ["a.txt"], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("input[2].output: 'a.txt b.txt' -> 'a.txt'  [turn 3, tool result of Bash]", r.stderr)

    def sse_of(self, capture, name):
        """Per streamed response of the python client, in order: its events and their times."""
        db = os.path.join(self.tmp.name, name + ".db")
        imp = subprocess.run([CT_ANALYZE, "--quiet", "--no-progress", "--db", db, capture], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        con = sqlite3.connect(db)
        out = []
        for (rid,) in con.execute("SELECT r.id FROM http_responses r JOIN connections c ON c.id = r.connection_id"
                                  " WHERE c.comm LIKE 'python%' AND r.interim = 0 ORDER BY r.start_ns"):
            events = con.execute("SELECT event, data, time_ns FROM sse_events WHERE response_id = ? ORDER BY idx",
                                 (rid,)).fetchall()
            out.append(events)
        return out

    def test_replayed_stream_recorded_again(self):
        """ct-record around the replay: the client receives the same SSE events, and their
        spacing follows the recording (never faster; at most twice as slow on a busy machine)."""
        if not os.path.exists(CT_ANALYZE):
            self.skipTest("no ct-analyze next to ct-replay")
        server = subprocess.Popen(["/usr/bin/python3", SERVER, "--cert", self.cert, "--key", self.key,
                                   "--event-delay-ms", "40"], stdout=subprocess.PIPE, text=True)
        original = os.path.join(self.tmp.name, "slow.ctz")
        try:
            port = int(server.stdout.readline())
            env = dict(os.environ, ANTHROPIC_BASE_URL="https://127.0.0.1:%d" % port, SSL_CERT_FILE=self.cert,
                       ANTHROPIC_API_KEY="sk-recorded-secret")
            rec = subprocess.run([CT_RECORD, "-f", "-w", original, "--", "/usr/bin/python3", "-c", CLIENT, "x"],
                                 capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(rec.returncode, 0, rec.stderr)
        finally:
            server.terminate()
            server.wait(10)
            server.stdout.close()
        again = os.path.join(self.tmp.name, "again.ctz")
        env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "SSL_CERT_FILE")}
        rec = subprocess.run([CT_RECORD, "-f", "-w", again, "--", CT_REPLAY, "run", original, "--", "/usr/bin/python3",
                              "-c", CLIENT, "x"], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(rec.returncode, 0, rec.stderr)
        recorded, replayed = self.sse_of(original, "slow"), self.sse_of(again, "again")
        self.assertEqual(len(recorded), 2)
        self.assertEqual([[e[:2] for e in r] for r in replayed], [[e[:2] for e in r] for r in recorded])
        for rec_events, rep_events in zip(recorded, replayed):
            # An event's time is when the client's read returned it; the first read of a
            # stream can return the first two events at once (the client was still busy
            # with the headers), which takes one whole interval off a span that starts
            # there. The span from the second event on is paced by the server alone.
            self.assertGreater(len(rec_events), 2)
            rec_span = rec_events[-1][2] - rec_events[1][2]
            rep_span = rep_events[-1][2] - rep_events[1][2]
            self.assertGreater(rec_span, 0)
            self.assertGreaterEqual(rep_span / rec_span, 0.9, (rec_span, rep_span))
            self.assertLessEqual(rep_span / rec_span, 2.0, (rec_span, rep_span))

    def test_recorded_run_was_a_tool_round_trip(self):
        self.assertEqual(self.recorded_output.count("200 text/event-stream"), 2)
        self.assertIn("tool_use", self.recorded_output)

    def test_same_client_replays_identically(self):
        r = self.replay("swordfish-42")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.recorded_output)
        self.assertIn("2 requests, 2 matched, 0 unmatched; 2 of 2 recorded exchanges served", r.stderr)
        self.assertIn("the run followed the recording", r.stderr)

    def test_changed_tool_result_is_named(self):
        r = self.replay("swordfish-43")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("messages[2].content[0].content: 'swordfish-42' -> 'swordfish-43'", r.stderr)
        self.assertIn("not asked #2 POST /v1/messages", r.stderr)
        self.assertIn("DIVERGED", r.stderr)
        # The client got the API-shaped error instead of the recorded answer.
        self.assertIn("599", r.stdout)
        self.assertIn("ct_replay_unmatched", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

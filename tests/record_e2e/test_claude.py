"""Claude Code end to end: the native Bun build (stripped BoringSSL) and the
node-based 1.0.x, recorded by ct-record while talking to the project's mock
Anthropic server over HTTPS, then imported by ct-analyze.

Builds come from npm and are cached outside the repository
(${CT_TEST_CACHE:-/var/cache/ct-test}); the tests skip only when the npm
registry cannot be reached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from agent_support import CACHE, CT_ANALYZE, MockLlm
from harness import CT_RECORD, Capture, require_root

HERE = os.path.dirname(os.path.abspath(__file__))
FETCH_NATIVE = os.path.join(HERE, "..", "locate", "fetch_claude_builds.sh")
# An early, a middle, the documented and the newest release we test; the locator
# tests cover the same set.
NATIVE_VERSIONS = ["2.1.110", "2.1.220", "2.1.328", "latest"]
NODE_VERSION = "1.0.128"


def native_claude(version):
    args = ["--latest"] if version == "latest" else [version]
    proc = subprocess.run(["bash", FETCH_NATIVE, *args], capture_output=True, text=True)
    if proc.returncode == 3:
        raise unittest.SkipTest("npm registry unreachable: cannot download Claude Code")
    if proc.returncode != 0:
        raise RuntimeError(f"fetching Claude Code {version} failed: {proc.stderr}")
    root = os.path.join(CACHE, "claude-code-linux-x64")
    if version == "latest":
        with open(os.path.join(root, "latest-version")) as f:
            version = f.read().strip()
    return version, os.path.join(root, version, "claude")


def node_claude():
    dest = os.path.join(CACHE, "claude-code-node", NODE_VERSION)
    cli = os.path.join(dest, "package", "cli.js")
    if os.path.exists(cli):
        return cli
    os.makedirs(dest, exist_ok=True)
    proc = subprocess.run(["npm", "pack", f"@anthropic-ai/claude-code@{NODE_VERSION}",
                           "--fetch-retries=1", "--fetch-timeout=60000"],
                          cwd=dest, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise unittest.SkipTest(f"npm registry unreachable: {proc.stderr.strip()[:200]}")
    tarball = proc.stdout.strip().splitlines()[-1]
    subprocess.run(["tar", "xzf", tarball], cwd=dest, check=True)
    return cli


class ClaudeCode(unittest.TestCase):
    maxDiff = 2000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-claude-")

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def claude_env(self, mock, name):
        home = os.path.join(self.tmp, name, "home")
        os.makedirs(home, exist_ok=True)
        return home, dict(os.environ, HOME=home,
                          ANTHROPIC_BASE_URL=f"https://127.0.0.1:{mock.port}",
                          ANTHROPIC_API_KEY="sk-test-not-a-key", NODE_EXTRA_CA_CERTS=mock.cert,
                          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1")

    def run_claude(self, argv, scenario, name):
        mock = MockLlm(os.path.join(self.tmp, name), scenario)
        self.addCleanup(mock.stop)
        home, env = self.claude_env(mock, name)
        path = os.path.join(self.tmp, name, "claude.ctz")
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", *argv,
                               "-p", "list the files in this directory"],
                              capture_output=True, text=True, env=env, timeout=300,
                              cwd=home)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return mock, path, proc

    def check_capture_equals_mock(self, mock, path):
        cap = Capture(path, os.path.dirname(path))
        logged = {c["peer_port"]: c for c in mock.settled()}
        api_calls = 0
        for port, c in logged.items():
            matches = [k for k in cap.connections if k["local_port"] == port]
            self.assertEqual(len(matches), 1, f"no captured connection for port {port}")
            k = matches[0]
            self.assertEqual(k["write"], mock.read(c["recv_file"]), "request bytes differ")
            self.assertEqual(k["read"], mock.read(c["sent_file"]), "response bytes differ")
            self.assertEqual(k["write_gaps"] + k["read_gaps"], 0)
            api_calls += sum(1 for x in c["exchanges"] if x.get("llm"))
        self.assertEqual(cap.summary["lost_events"], 0)
        return api_calls

    def check_database(self, mock, path, expect_calls):
        db = path + ".db"
        imp = subprocess.run([CT_ANALYZE, "--no-progress", "--db", db, path],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        out = subprocess.run(
            [CT_ANALYZE, "--db", db, "--json", "--sql",
             "SELECT l.model, l.streamed, l.stop_reason, l.input_tokens, l.output_tokens, "
             "l.cache_creation_input_tokens, l.cache_read_input_tokens, l.response_text, "
             "l.tool_calls, r.body_size FROM llm_calls l "
             "JOIN http_requests r ON r.id = l.request_id ORDER BY l.start_ns"],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = json.loads(out.stdout)
        sent = [x["llm"] | {"request_body_length": x["request_body_length"]}
                for c in mock.settled() for x in c["exchanges"] if x.get("llm")]
        sent.sort(key=lambda x: x["call"])
        self.assertEqual(len(rows), expect_calls)
        self.assertEqual(len(rows), len(sent))
        for row, llm in zip(rows, sent):
            self.assertEqual(row["model"], llm["model"])
            self.assertEqual(row["stop_reason"], llm["stop_reason"])
            for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                      "cache_read_input_tokens"):
                self.assertEqual(row[k], llm[k], k)
            self.assertEqual(row["response_text"], llm["text"])
            self.assertEqual(row["body_size"], llm["request_body_length"])
            tools = json.loads(row["tool_calls"])
            self.assertEqual([t["name"] for t in tools], [t["name"] for t in llm["tool_calls"]])
        return rows

    def test_native_builds_text_reply(self):
        for version in NATIVE_VERSIONS:
            with self.subTest(version=version):
                version, claude = native_claude(version)
                mock, path, proc = self.run_claude([claude], "text", f"native-{version}")
                self.assertIn("boringssl-structure", proc.stderr)
                self.assertEqual(self.check_capture_equals_mock(mock, path), 1)
                rows = self.check_database(mock, path, 1)
                self.assertGreater(rows[0]["body_size"], 20000, "the full request body")

    def test_native_tool_call_makes_two_api_calls(self):
        _, claude = native_claude("2.1.328")
        mock, path, _ = self.run_claude([claude], "tool-then-text", "native-tool")
        self.assertEqual(self.check_capture_equals_mock(mock, path), 2)
        rows = self.check_database(mock, path, 2)
        self.assertEqual(json.loads(rows[0]["tool_calls"])[0]["name"], "Bash")
        second_request = [x for c in mock.settled() for x in c["exchanges"]
                          if x.get("llm", {}).get("call") == 2][0]
        body = mock.read(second_request["request_body_file"])
        self.assertIn(b"tool_result", body)
        self.check_html_report(path, rows)

    def check_html_report(self, path, rows):
        """ct-analyze --html of the recording, opened in headless Chromium: the two
        calls with the mock's figures, the Bash call with the result Claude Code
        sent back, the timeline bars; a screenshot is kept in CT_TEST_ARTIFACTS."""
        import sys
        sys.path.insert(0, os.path.join(HERE, "..", "replay"))
        from chromium_cdp import Browser  # needs chromium and python3-websocket
        report = path + ".html"
        out = subprocess.run([CT_ANALYZE, "--db", path + ".db", "--html", report],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(report, encoding="utf-8") as f:
            self.assertNotIn("sk-test-not-a-key", f.read())
        browser = Browser(self.tmp)
        try:
            browser.open(report)
            self.assertEqual(browser.problems(), [])
            calls = browser.js("""[...document.querySelectorAll('.call')].map(c => ({
                tin: c.querySelector('.tin').textContent, tout: c.querySelector('.tout').textContent,
                stop: c.querySelector('.stop').textContent}))""")
            self.assertEqual(calls, [{"tin": f"{r['input_tokens']:,}", "tout": f"{r['output_tokens']:,}",
                                      "stop": r["stop_reason"]} for r in rows])
            # Each call shows only what it added: the second one the tool result (the
            # echo of the first answer left out), with no "history differs" note.
            turns = browser.js("[...document.querySelectorAll('#conversations .turn .role, "
                               "#conversations .call .n, #conversations .note')]"
                               ".map(e => e.textContent)")
            self.assertEqual(turns[turns.index("LLM call 1"):],
                             ["LLM call 1", "assistant", "tool", "LLM call 2", "assistant"])
            browser.js("document.querySelectorAll('.turn.answer').forEach(t => t.toggle(true))")
            tool = browser.js("""(() => { const t = document.querySelector('.turn.answer .block.tool_use');
                return {name: t.querySelector('.tname').textContent,
                        result: !!t.querySelector('.result')}; })()""")
            self.assertEqual(tool, {"name": "Bash", "result": True})
            self.assertGreaterEqual(browser.js("document.querySelectorAll('.tl-bar.sse.llm').length"), 2)
            self.assertEqual(browser.js("document.querySelectorAll('.tl-ttft').length"), 2)
            self.assertEqual(browser.problems(), [])
            artifacts = os.environ.get("CT_TEST_ARTIFACTS", self.tmp)
            os.makedirs(artifacts, exist_ok=True)
            # The timeline and the conversation in view, the first answer open.
            browser.js("document.querySelectorAll('.turn.open').forEach(t => t.toggle(false))")
            browser.js("document.querySelector('.turn.answer').toggle(true)")
            browser.js("window.scrollTo(0, document.getElementById('timeline').offsetTop - 40)")
            browser.screenshot(os.path.join(artifacts, "html_report_claude_code.png"))
        finally:
            browser.close()

    def test_native_recorded_by_pid(self):
        # Claude is already running when ct-record attaches: the first answer is
        # streaming slowly; the second API call (with the tool result) is recorded whole.
        _, claude = native_claude("2.1.328")
        mock = MockLlm(os.path.join(self.tmp, "pid"), "tool-then-text", event_delay_ms=250)
        self.addCleanup(mock.stop)
        home, env = self.claude_env(mock, "pid")
        target = subprocess.Popen([claude, "-p", "list the files"], env=env, cwd=home,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Attach once the first request is in and its answer is streaming (~5 s).
        first_request = os.path.join(mock.log_dir, "conn-0001.recv")
        deadline = time.time() + 60
        while time.time() < deadline and not (os.path.exists(first_request) and
                                              os.path.getsize(first_request) > 20000):
            time.sleep(0.05)
        path = os.path.join(self.tmp, "pid", "claude.ctz")
        rec = subprocess.run([CT_RECORD, "--no-status", "-p", str(target.pid), "-w", path],
                             capture_output=True, text=True, timeout=300)
        target.wait(timeout=60)
        self.assertEqual(rec.returncode, 0, rec.stderr)
        self.assertIn("boringssl-structure", rec.stderr)
        cap = Capture(path, os.path.dirname(path))
        self.assertEqual(cap.summary["end_reason"], "target exited")
        exchanges = [(c, x) for c in mock.settled() for x in c["exchanges"]
                     if x.get("llm")]
        self.assertEqual(len(exchanges), 2)
        conn, second = exchanges[1]
        request = mock.read(conn["recv_file"])[second["request_offset"]:]
        # Joined mid-connection: Bun writes this connection's ciphertext outside its TLS
        # calls and ct-record cannot match it (BoringSSL's BIO_write is not located in
        # the stripped binary), so its socket is unknown, and said so, not guessed: it is
        # the connection that holds the request.
        self.assertEqual([k for k in cap.connections if k["local_port"] == conn["peer_port"]], [])
        self.assertIn("UNKNOWN SOCKET", rec.stderr)
        captured = [k for k in cap.connections if k["write"].endswith(request)]
        self.assertEqual(len(captured), 1)
        self.assertEqual(captured[0]["local_port"], 0)
        # Its stream starts at the second request.
        self.assertFalse(captured[0]["from_start"])
        self.assertTrue(captured[0]["write"].endswith(request),
                        f"captured {len(captured[0]['write'])} bytes, request {len(request)}: "
                        f"{captured[0]['write'][:80]!r} vs {request[:80]!r}")
        self.assertIn(b"tool_result", captured[0]["write"])
        response = mock.read(conn["sent_file"])[second["response_offset"]:]
        self.assertTrue(captured[0]["read"].endswith(response))
        # The analyzer resynchronises on the joined stream and finds the second call whole.
        db = path + ".db"
        imp = subprocess.run([CT_ANALYZE, "--no-progress", "--db", db, path],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        out = subprocess.run([CT_ANALYZE, "--db", db, "--json", "--sql",
                              "SELECT response_text, output_tokens FROM llm_calls"],
                             capture_output=True, text=True, timeout=120)
        rows = json.loads(out.stdout)
        self.assertEqual([r["response_text"] for r in rows], [second["llm"]["text"]])
        self.assertEqual(rows[0]["output_tokens"], second["llm"]["output_tokens"])

    def test_two_recordings_of_one_binary_at_once(self):
        # Recording A starts Claude through a shell (held at its exec, located with a
        # cold cache); while A's probes are in place, the locator's cache still
        # matches the binary and a second recording B of the same binary captures
        # everything too.
        _, claude = native_claude("2.1.328")
        cache_dir = os.path.join(self.tmp, "locator-cache")
        mock_a = MockLlm(os.path.join(self.tmp, "a"), "text", event_delay_ms=150)
        self.addCleanup(mock_a.stop)
        home_a, env_a = self.claude_env(mock_a, "a")
        env_a["CT_CACHE_DIR"] = cache_dir
        path_a = os.path.join(self.tmp, "a", "claude.ctz")
        rec_a = subprocess.Popen([CT_RECORD, "--no-status", "-w", path_a, "--", "sh", "-c",
                                  f"{claude} -p 'list the files in this directory'"],
                                 stderr=subprocess.PIPE, text=True, env=env_a, cwd=home_a)
        lines_a = []
        probed = threading.Event()

        def read_a():
            for line in rec_a.stderr:
                lines_a.append(line)
                if f"probing {claude}" in line:
                    probed.set()
        reader = threading.Thread(target=read_a, daemon=True)
        reader.start()
        self.assertTrue(probed.wait(timeout=120), "".join(lines_a))

        report = subprocess.run([CT_RECORD, "--probe-report", claude], capture_output=True,
                                text=True, env=dict(os.environ, CT_CACHE_DIR=cache_dir),
                                timeout=120)
        self.assertIn("from cache file", report.stdout, report.stdout[-2000:])
        self.assertNotIn("differs", report.stdout)

        mock_b = MockLlm(os.path.join(self.tmp, "b"), "text")
        self.addCleanup(mock_b.stop)
        home_b, env_b = self.claude_env(mock_b, "b")
        env_b["CT_CACHE_DIR"] = cache_dir
        path_b = os.path.join(self.tmp, "b", "claude.ctz")
        rec_b = subprocess.run([CT_RECORD, "--no-status", "-w", path_b, "--", claude, "-p",
                                "list the files in this directory"],
                               capture_output=True, text=True, env=env_b, cwd=home_b,
                               timeout=300)
        self.assertEqual(rec_b.returncode, 0, rec_b.stderr)
        self.assertEqual(rec_a.wait(timeout=300), 0, "".join(lines_a))
        reader.join(timeout=30)
        self.assertRegex("".join(lines_a), rf"held pid \d+ for [0-9.]+ ms while probing {claude}")
        self.assertEqual(self.check_capture_equals_mock(mock_a, path_a), 1)
        self.assertEqual(self.check_capture_equals_mock(mock_b, path_b), 1)

    def test_node_based_claude_code_1_0(self):
        cli = node_claude()
        mock, path, proc = self.run_claude(["/usr/bin/node", cli], "tool-then-text", "node")
        self.assertIn("/usr/bin/node", proc.stderr)
        calls = self.check_capture_equals_mock(mock, path)
        self.assertGreaterEqual(calls, 2)
        self.check_database(mock, path, calls)


if __name__ == "__main__":
    unittest.main()

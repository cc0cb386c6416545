"""opencode end to end: the npm package's Bun executable (BoringSSL compiled
in, found by structure like the native Claude Code's) recorded by ct-record
while it talks to the project's mock Anthropic API over HTTPS with a tool
round-trip (its read tool), then imported by ct-analyze.

The package comes from npm, installed outside the repository (agent_support.py);
the test skips only when the npm registry cannot be reached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from agent_support import AgentChecks, MockLlm, npm_install
from harness import CT_RECORD, require_root

# The newest opencode-ai on npm when this test was written.
OPENCODE_VERSION = "1.18.33"
MODEL = "claude-sonnet-4-5"


def opencode_binary():
    package_json = npm_install("opencode-ai", OPENCODE_VERSION, "package.json")
    modules = os.path.dirname(os.path.dirname(package_json))
    # What the package's install script would pick: the baseline build without AVX2.
    with open("/proc/cpuinfo") as f:
        avx2 = " avx2" in f.read()
    variant = "opencode-linux-x64" if avx2 else "opencode-linux-x64-baseline"
    return os.path.join(modules, variant, "bin", "opencode")


class Opencode(AgentChecks, unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-opencode-")

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_anthropic_tool_round_trip(self):
        opencode = opencode_binary()
        mock = MockLlm(os.path.join(self.tmp, "opencode"), "tool-then-text")
        self.addCleanup(mock.stop)
        home = os.path.join(self.tmp, "opencode", "home")
        work = os.path.join(home, "work")
        os.makedirs(work)
        with open(os.path.join(work, "notes.txt"), "w") as f:
            f.write("swordfish\n")
        config = {"$schema": "https://opencode.ai/config.json", "autoupdate": False,
                  "share": "disabled", "model": f"anthropic/{MODEL}",
                  "provider": {"anthropic": {"options": {
                      "baseURL": f"https://127.0.0.1:{mock.port}/v1", "apiKey": "sk-test-not-a-key"}}}}
        # PWD too: opencode takes its directory from it rather than from getcwd.
        env = dict(os.environ, HOME=home, PWD=work, NODE_EXTRA_CA_CERTS=mock.cert,
                   OPENCODE_CONFIG_CONTENT=json.dumps(config), OPENCODE_DISABLE_MODELS_FETCH="1",
                   OPENCODE_DISABLE_AUTOUPDATE="1", OPENCODE_DISABLE_LSP_DOWNLOAD="1",
                   OPENCODE_DISABLE_DEFAULT_PLUGINS="1")
        path = os.path.join(self.tmp, "opencode", "opencode.ctz")
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", opencode, "run",
                               "list the files in this directory"],
                              capture_output=True, text=True, env=env, timeout=600, cwd=work)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertIn(f"probing {opencode} [boringssl-structure]", proc.stderr)

        exchanges = self.check_capture_equals_mock(mock, path)
        # The session's two calls (tool, then text) and a title for it from a small
        # model, in either order.
        with_tools = [x for x in exchanges
                      if json.loads(mock.read(x["request_body_file"])).get("tools")]
        self.assertEqual(len(with_tools), 2, [x["llm"]["model"] for x in exchanges])
        self.assertEqual(len(exchanges), 3)
        first, second = with_tools
        self.assertEqual(first["llm"]["tool_calls"][0]["name"], "read")
        tool_id = first["llm"]["tool_calls"][0]["id"]
        last = json.loads(mock.read(second["request_body_file"]))["messages"][-1]
        results = [b for b in last["content"] if b.get("type") == "tool_result"]
        self.assertEqual([r["tool_use_id"] for r in results], [tool_id])
        self.assertFalse(results[0].get("is_error"), results[0])
        self.assertIn("swordfish", json.dumps(results[0]["content"]))

        db = self.import_and_check_bodies(mock, path)
        rows = {r["message_id"]: r for r in self.sql(
            db, "SELECT message_id, provider, api, model, stop_reason, input_tokens, "
                "output_tokens, cache_creation_input_tokens, cache_read_input_tokens, "
                "response_text, tool_calls, ttft_ns, complete, "
                "nullif(hex(conversation_key), '') AS conversation "
                "FROM llm_calls")}
        self.assertEqual(len(rows), 3)
        for x in exchanges:
            llm = x["llm"]
            row = rows[f"msg_mock_{llm['call']}"]
            self.assertEqual((row["provider"], row["api"]), ("anthropic", "messages"))
            self.assertEqual(row["model"], llm["model"])
            self.assertEqual(row["stop_reason"], llm["stop_reason"])
            for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                      "cache_read_input_tokens"):
                self.assertEqual(row[k], llm[k], k)
            self.assertEqual(row["response_text"], llm["text"])
            self.assertEqual([(t["name"], t["input"]) for t in json.loads(row["tool_calls"])],
                             [(t["name"], t["input"]) for t in llm["tool_calls"]])
            self.assertGreater(row["ttft_ns"], 0)
            self.assertEqual(row["complete"], 1)
        # The two session calls are one conversation; the title request another.
        session = {rows[f"msg_mock_{x['llm']['call']}"]["conversation"] for x in with_tools}
        self.assertEqual(len(session), 1)
        self.assertEqual(self.sql(db, "SELECT count(*) AS n FROM v_llm_conversations"), [{"n": 2}])
        self.assertIn(second["llm"]["text"], proc.stdout)


if __name__ == "__main__":
    unittest.main()

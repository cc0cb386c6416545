"""qwen-code end to end: the npm package (node, so node's OpenSSL carries its
traffic) recorded by ct-record while it talks to the project's mock OpenAI Chat
Completions API over HTTPS with a tool round-trip (its glob tool), then
imported by ct-analyze.

The package comes from npm, installed outside the repository (agent_support.py);
the test skips only when the npm registry cannot be reached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from agent_support import NODE, AgentChecks, MockLlm, npm_install
from harness import CT_RECORD, require_root

# The newest @qwen-code/qwen-code on npm when this test was written.
QWEN_CODE_VERSION = "0.24.4"
MODEL = "qwen3-coder-plus"


class QwenCode(AgentChecks, unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-qwen-")

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_chat_completions_tool_round_trip(self):
        cli = npm_install("@qwen-code/qwen-code", QWEN_CODE_VERSION, "cli.js")
        mock = MockLlm(os.path.join(self.tmp, "qwen"), "tool-then-text")
        self.addCleanup(mock.stop)
        home = os.path.join(self.tmp, "qwen", "home")
        work = os.path.join(home, "work")
        os.makedirs(os.path.join(home, ".qwen"))
        os.makedirs(work)
        with open(os.path.join(work, "notes.txt"), "w") as f:
            f.write("hello\n")
        # The OpenAI-compatible provider, no usage statistics, telemetry or update checks.
        with open(os.path.join(home, ".qwen", "settings.json"), "w") as f:
            json.dump({"security": {"auth": {"selectedType": "openai"}},
                       "privacy": {"usageStatisticsEnabled": False},
                       "telemetry": {"enabled": False},
                       "general": {"disableAutoUpdate": True, "disableUpdateNag": True}}, f)
        env = dict(os.environ, HOME=home, NODE_EXTRA_CA_CERTS=mock.cert, NO_COLOR="1",
                   OPENAI_API_KEY="sk-test-not-a-key", OPENAI_MODEL=MODEL,
                   OPENAI_BASE_URL=f"https://127.0.0.1:{mock.port}/v1")
        path = os.path.join(self.tmp, "qwen", "qwen.ctz")
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", NODE, cli,
                               "-p", "list the files in this directory"],
                              capture_output=True, text=True, env=env, timeout=600, cwd=work)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertIn(NODE, proc.stderr)

        exchanges = self.check_capture_equals_mock(mock, path)
        self.assertEqual(len(exchanges), 2, [x["target"] for x in exchanges])
        self.assertEqual(exchanges[0]["llm"]["tool_calls"][0]["name"], "glob")
        # The second request carries the tool's result for the first call's id.
        second = json.loads(mock.read(exchanges[1]["request_body_file"]))
        tool_messages = [m for m in second["messages"] if m.get("role") == "tool"]
        self.assertEqual([m["tool_call_id"] for m in tool_messages], ["toolu_mock_1"])
        self.assertIn("notes.txt", json.dumps(tool_messages[0]["content"]))

        db = self.import_and_check_bodies(mock, path)
        rows = self.llm_rows(db)
        self.assertEqual(len(rows), 2)
        for row, x in zip(rows, exchanges):
            llm = x["llm"]
            self.assertEqual(row["target"], "/v1/chat/completions")
            self.assertEqual((row["provider"], row["api"], row["streamed"]),
                             ("openai", "chat.completions", 1))
            self.assertEqual(row["model"], MODEL)
            self.assertEqual(row["response_model"], llm["model"])
            self.assertEqual(row["stop_reason"], llm["stop_reason"])
            for k in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
                self.assertEqual(row[k], llm[k], k)
            self.assertEqual(row["response_text"], llm["text"])
            self.assertEqual([(t["name"], t["input"]) for t in json.loads(row["tool_calls"])],
                             [(t["name"], t["input"]) for t in llm["tool_calls"]])
            self.assertGreater(row["ttft_ns"], 0)
            self.assertEqual(row["complete"], 1)
        self.check_one_conversation(db, rows, exchanges)
        # Its first message is the prompt, not the system message sent before it.
        self.assertEqual(self.sql(db, "SELECT first_message FROM v_llm_conversations"),
                         [{"first_message": "list the files in this directory"}])
        self.assertIn(exchanges[1]["llm"]["text"], proc.stdout)


if __name__ == "__main__":
    unittest.main()

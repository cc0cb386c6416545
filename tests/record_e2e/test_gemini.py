"""Gemini CLI end to end: the npm package (node, so node's OpenSSL carries its
traffic) recorded by ct-record while it talks to the project's mock Gemini API
over HTTPS with a tool round-trip (list_directory), then imported by ct-analyze.

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

# The newest @google/gemini-cli on npm when this test was written.
GEMINI_CLI_VERSION = "0.61.0"


class GeminiCli(AgentChecks, unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-gemini-")

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run_gemini(self, name, model, extra_env):
        cli = npm_install("@google/gemini-cli", GEMINI_CLI_VERSION, "bundle/gemini.js")
        mock = MockLlm(os.path.join(self.tmp, name), "tool-then-text")
        self.addCleanup(mock.stop)
        home = os.path.join(self.tmp, name, "home")
        work = os.path.join(home, "work")
        os.makedirs(os.path.join(home, ".gemini"))
        os.makedirs(work)
        with open(os.path.join(work, "notes.txt"), "w") as f:
            f.write("hello\n")
        # API-key auth, no usage statistics, telemetry or update checks (no internet).
        with open(os.path.join(home, ".gemini", "settings.json"), "w") as f:
            json.dump({"security": {"auth": {"selectedType": extra_env.pop("AUTH")}},
                       "privacy": {"usageStatisticsEnabled": False},
                       "telemetry": {"enabled": False},
                       "general": {"disableAutoUpdate": True, "disableUpdateNag": True}}, f)
        env = dict(os.environ, HOME=home, NODE_EXTRA_CA_CERTS=mock.cert,
                   GEMINI_CLI_TRUST_WORKSPACE="true", NO_COLOR="1", **extra_env)
        for k, v in list(env.items()):
            env[k] = v.replace("{PORT}", str(mock.port))
        path = os.path.join(self.tmp, name, "gemini.ctz")
        # -m: a fixed model, so the CLI asks no routing classifier first.
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", NODE, cli,
                               "-m", model, "-p", "list the files in this directory"],
                              capture_output=True, text=True, env=env, timeout=600, cwd=work)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertIn(NODE, proc.stderr)
        return mock, path, proc

    def check_database(self, mock, path, exchanges, path_prefix):
        db = self.import_and_check_bodies(mock, path)
        rows = self.llm_rows(db)
        self.assertEqual(len(rows), len(exchanges))
        for row, x in zip(rows, exchanges):
            llm = x["llm"]
            self.assertTrue(row["target"].startswith(path_prefix), row["target"])
            self.assertEqual(row["provider"], "google")
            self.assertEqual(row["api"], "streamGenerateContent")
            self.assertEqual(row["streamed"], 1)
            self.assertEqual(row["model"], llm["model"])
            self.assertEqual(row["response_model"], llm["model"])
            self.assertEqual(row["stop_reason"], llm["stop_reason"])
            for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                      "cache_read_input_tokens", "reasoning_tokens"):
                self.assertEqual(row[k], llm[k], k)
            self.assertEqual(row["response_text"], llm["text"])
            self.assertEqual(row["thinking_text"] or "", llm["thinking"])
            self.assertEqual([(t["name"], t["input"]) for t in json.loads(row["tool_calls"])],
                             [(t["name"], t["input"]) for t in llm["tool_calls"]])
            self.assertGreater(row["ttft_ns"], 0)
            self.assertEqual(row["complete"], 1)
        self.check_one_conversation(db, rows, exchanges)
        # Its first message as text: the prompt, after the CLI's session context.
        self.assertEqual(self.sql(db, "SELECT first_message FROM v_llm_conversations"),
                         [{"first_message": "list the files in this directory"}])
        return rows

    def tool_round_trip(self, name, model, env, path_prefix):
        mock, path, proc = self.run_gemini(name, model, env)
        exchanges = self.check_capture_equals_mock(mock, path)
        self.assertEqual(len(exchanges), 2, [x["target"] for x in exchanges])
        self.assertEqual(exchanges[0]["llm"]["tool_calls"][0]["name"], "list_directory")
        # The second request answers the function call with its functionResponse.
        second = json.loads(mock.read(exchanges[1]["request_body_file"]))
        last = second["contents"][-1]
        responses = [p["functionResponse"] for p in last["parts"] if "functionResponse" in p]
        self.assertEqual([r["name"] for r in responses], ["list_directory"])
        self.assertIn("notes.txt", json.dumps(responses[0]["response"]))
        self.check_database(mock, path, exchanges, path_prefix)
        self.assertIn(exchanges[1]["llm"]["text"], proc.stdout)

    def test_gemini_api_key_tool_round_trip(self):
        self.tool_round_trip("gemini-api", "gemini-2.5-flash",
                             {"AUTH": "gemini-api-key", "GEMINI_API_KEY": "test-key-not-real",
                              "GOOGLE_GEMINI_BASE_URL": "https://127.0.0.1:{PORT}"},
                             "/v1beta/models/gemini-2.5-flash:streamGenerateContent")

    def test_vertex_ai_express_tool_round_trip(self):
        self.tool_round_trip("vertex", "gemini-2.5-pro",
                             {"AUTH": "vertex-ai", "GOOGLE_GENAI_USE_VERTEXAI": "true",
                              "GOOGLE_API_KEY": "test-key-not-real",
                              "GOOGLE_VERTEX_BASE_URL": "https://127.0.0.1:{PORT}"},
                             "/v1beta1/publishers/google/models/gemini-2.5-pro:")


if __name__ == "__main__":
    unittest.main()

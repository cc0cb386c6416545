"""Gemini CLI end to end: the npm package (node, so node's OpenSSL carries its
traffic) recorded by ct-record while it talks to the project's mock Gemini API
over HTTPS with a tool round-trip (list_directory), then imported by ct-analyze.

The package comes from npm and is installed outside the repository
(${CT_TEST_CACHE:-/var/cache/ct-test}/gemini-cli/VERSION); the test skips only
when the npm registry cannot be reached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CT_RECORD, Capture, require_root
from test_claude import CACHE, CT_ANALYZE, MockAnthropic

# The newest @google/gemini-cli on npm when this test was written.
GEMINI_CLI_VERSION = "0.61.0"
NODE = "/usr/bin/node"


def gemini_cli():
    dest = os.path.join(CACHE, "gemini-cli", GEMINI_CLI_VERSION)
    cli = os.path.join(dest, "node_modules", "@google", "gemini-cli", "bundle", "gemini.js")
    if os.path.exists(cli):
        return cli
    os.makedirs(dest, exist_ok=True)
    # Its install scripts only build optional native modules (keytar, node-pty)
    # that -p does not need.
    proc = subprocess.run(["npm", "install", "--prefix", dest, "--no-audit", "--no-fund",
                           "--ignore-scripts", "--fetch-retries=1", "--fetch-timeout=60000",
                           f"@google/gemini-cli@{GEMINI_CLI_VERSION}"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        error = proc.stderr.strip()
        if any(s in error for s in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT",
                                    "ECONNRESET", "network")):
            raise unittest.SkipTest(f"npm registry unreachable: {error[:200]}")
        raise RuntimeError(f"npm install @google/gemini-cli@{GEMINI_CLI_VERSION}: {error}")
    return cli


class GeminiCli(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-gemini-")

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run_gemini(self, name, model, extra_env):
        cli = gemini_cli()
        mock = MockAnthropic(os.path.join(self.tmp, name), "tool-then-text")
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

    def check_capture_equals_mock(self, mock, path):
        cap = Capture(path, os.path.dirname(path))
        exchanges = []
        for c in mock.connections():
            matches = [k for k in cap.connections if k["local_port"] == c["peer_port"]]
            self.assertEqual(len(matches), 1, f"no captured connection for port {c['peer_port']}")
            k = matches[0]
            self.assertEqual(k["write"], mock.read(c["recv_file"]), "request bytes differ")
            self.assertEqual(k["read"], mock.read(c["sent_file"]), "response bytes differ")
            self.assertEqual(k["write_gaps"] + k["read_gaps"], 0)
            exchanges += [x for x in c["exchanges"] if x.get("llm")]
        self.assertEqual(cap.summary["lost_events"], 0)
        return sorted(exchanges, key=lambda x: x["llm"]["call"])

    def sql(self, db, query):
        out = subprocess.run([CT_ANALYZE, "--db", db, "--json", "--sql", query],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def check_database(self, mock, path, exchanges, path_prefix):
        db = path + ".db"
        imp = subprocess.run([CT_ANALYZE, "--no-progress", "--db", db, path],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        # Every body the mock received and sent, byte for byte.
        bodies = self.sql(db, "SELECT q.target, hex(b.body) AS request, hex(r.body) AS response "
                              "FROM http_requests q JOIN http_request_bodies b ON b.request_id = q.id "
                              "JOIN http_responses r ON r.request_id = q.id ORDER BY q.start_ns")
        logged = [x for c in mock.connections() for x in c["exchanges"]]
        self.assertEqual(len(bodies), len(logged))
        for x in logged:
            row = [b for b in bodies if b["target"] == x["target"] and
                   bytes.fromhex(b["request"]) == mock.read(x["request_body_file"])]
            self.assertEqual(len(row), 1, f"request body of {x['target']} not stored byte-exact")
            self.assertEqual(bytes.fromhex(row[0]["response"]), mock.read(x["response_body_file"]))
        rows = self.sql(db, "SELECT l.provider, l.api, l.model, l.response_model, l.streamed, "
                            "l.stop_reason, l.input_tokens, l.output_tokens, "
                            "l.cache_creation_input_tokens, l.cache_read_input_tokens, "
                            "l.reasoning_tokens, l.response_text, l.thinking_text, l.tool_calls, "
                            "l.ttft_ns, l.complete, hex(l.conversation_key) AS conversation, q.target "
                            "FROM llm_calls l JOIN http_requests q ON q.id = l.request_id "
                            "ORDER BY l.start_ns")
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
        # One conversation: the second call resends the first one's turns.
        self.assertIsNotNone(rows[0]["conversation"])
        self.assertEqual({r["conversation"] for r in rows}, {rows[0]["conversation"]})
        conv = self.sql(db, "SELECT calls, tool_calls, input_tokens FROM v_llm_conversations")
        self.assertEqual(conv, [{"calls": len(rows), "tool_calls": 1,
                                 "input_tokens": sum(x["llm"]["input_tokens"] for x in exchanges)}])
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

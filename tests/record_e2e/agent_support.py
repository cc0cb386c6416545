"""Shared by the end-to-end tests of AI coding agents installed from npm
(test_gemini.py, test_qwen.py): the install into the test cache, and the checks
of a recording against the mock LLM server's own log.

Packages are installed outside the repository
(${CT_TEST_CACHE:-/var/cache/ct-test}/NAME/VERSION); a test skips only when the
npm registry cannot be reached.
"""
import json
import os
import subprocess
import unittest

from harness import Capture

CT_ANALYZE = os.environ.get("CT_ANALYZE", "ct-analyze")
CACHE = os.environ.get("CT_TEST_CACHE", "/var/cache/ct-test")
NODE = "/usr/bin/node"


def npm_install(package, version, entry):
    """Installs package@version once; returns the path of `entry` inside it."""
    dest = os.path.join(CACHE, package.replace("@", "").replace("/", "-"), version)
    path = os.path.join(dest, "node_modules", package, entry)
    if os.path.exists(path):
        return path
    os.makedirs(dest, exist_ok=True)
    # Install scripts only build optional native modules (keytar, node-pty) that
    # a non-interactive run does not need.
    proc = subprocess.run(["npm", "install", "--prefix", dest, "--no-audit", "--no-fund",
                           "--ignore-scripts", "--fetch-retries=1", "--fetch-timeout=60000",
                           f"{package}@{version}"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        error = proc.stderr.strip()
        if any(s in error for s in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT",
                                    "ECONNRESET", "network")):
            raise unittest.SkipTest(f"npm registry unreachable: {error[:200]}")
        raise RuntimeError(f"npm install {package}@{version}: {error}")
    return path


class AgentChecks:
    """Mixin for unittest.TestCase: the recording against the mock's log."""

    def check_capture_equals_mock(self, mock, path):
        """Every connection the mock logged was captured byte-exact, under the client
        port the mock saw; returns the LLM exchanges in call order."""
        cap = Capture(path, os.path.dirname(path))
        exchanges = []
        to_mock = [k for k in cap.connections if k["remote_port"] == mock.port]
        self.assertEqual(len(to_mock), len(mock.connections()))
        for c in mock.connections():
            matches = [k for k in to_mock if k["local_port"] == c["peer_port"]]
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

    def import_and_check_bodies(self, mock, path):
        """Imports the capture; every request and response body the mock logged is
        in the database byte-exact. Returns the database path."""
        db = path + ".db"
        imp = subprocess.run([CT_ANALYZE, "--no-progress", "--db", db, path],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        # Only the mock's connections: an agent may reach other hosts too.
        bodies = self.sql(db, "SELECT q.target, hex(b.body) AS request, hex(r.body) AS response "
                              "FROM http_requests q JOIN http_request_bodies b ON b.request_id = q.id "
                              "JOIN http_responses r ON r.request_id = q.id "
                              "JOIN connections n ON n.id = q.connection_id "
                              f"WHERE n.remote_port = {int(mock.port)} ORDER BY q.start_ns")
        logged = [x for c in mock.connections() for x in c["exchanges"]]
        self.assertEqual(len(bodies), len(logged))
        for x in logged:
            row = [b for b in bodies if b["target"] == x["target"] and
                   bytes.fromhex(b["request"]) == mock.read(x["request_body_file"])]
            self.assertEqual(len(row), 1, f"request body of {x['target']} not stored byte-exact")
            self.assertEqual(bytes.fromhex(row[0]["response"]), mock.read(x["response_body_file"]))
        return db

    def llm_rows(self, db):
        return self.sql(db, "SELECT l.provider, l.api, l.model, l.response_model, l.streamed, "
                            "l.stop_reason, l.input_tokens, l.output_tokens, "
                            "l.cache_creation_input_tokens, l.cache_read_input_tokens, "
                            "l.reasoning_tokens, l.response_text, l.thinking_text, l.tool_calls, "
                            "l.ttft_ns, l.complete, nullif(hex(l.conversation_key), '') AS conversation, "
                            "q.target "
                            "FROM llm_calls l JOIN http_requests q ON q.id = l.request_id "
                            "ORDER BY l.start_ns")

    def check_one_conversation(self, db, rows, exchanges):
        """The calls form one conversation: each resends the first one's turns."""
        self.assertIsNotNone(rows[0]["conversation"])
        self.assertEqual({r["conversation"] for r in rows}, {rows[0]["conversation"]})
        conv = self.sql(db, "SELECT calls, tool_calls, input_tokens FROM v_llm_conversations")
        self.assertEqual(conv, [{"calls": len(rows), "tool_calls": 1,
                                 "input_tokens": sum(x["llm"]["input_tokens"] for x in exchanges)}])

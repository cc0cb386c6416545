"""Shared by the end-to-end tests of AI coding agents installed from npm
(test_claude.py, test_gemini.py, test_qwen.py, test_opencode.py, test_sdks.py,
test_static_openssl.py): the install into the test cache, the mock LLM server
(tests/servers/mock_llm_server.py) with its certificates, and the checks of a
recording against the mock's own log.

Packages are installed outside the repository
(${CT_TEST_CACHE:-/var/cache/ct-test}/NAME/VERSION); a test skips only when the
npm registry cannot be reached.
"""
import json
import os
import shutil
import subprocess
import sys
import unittest

from harness import PYTHON, SERVERS, Capture, make_cert

sys.path.insert(0, SERVERS)
import mock_llm_log  # noqa: E402

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


def make_ca_and_leaf(directory):
    """A CA and a server certificate it signed (rustls rejects a self-signed
    certificate that is its own CA, as `openssl req -x509` makes it), and a hashed
    directory holding the CA for OpenSSL's SSL_CERT_DIR."""
    def run(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=directory)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=ct-test-ca")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
        "leaf.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf")
    with open(os.path.join(directory, "chain.pem"), "w") as out:
        for name in ("leaf.pem", "ca.pem"):
            with open(os.path.join(directory, name)) as f:
                out.write(f.read())
    cadir = os.path.join(directory, "cadir")
    os.makedirs(cadir)
    shutil.copy(os.path.join(directory, "ca.pem"), cadir)
    run("openssl", "rehash", cadir)
    return {"chain": os.path.join(directory, "chain.pem"), "key": os.path.join(directory, "key.pem"),
            "ca": os.path.join(directory, "ca.pem"), "cadir": cadir}


class MockLlm:
    """tests/servers/mock_llm_server.py on 127.0.0.1 with its log in DIRECTORY/mock-log.
    `cert` is the certificate a client must trust (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE);
    with ca=True the server's certificate is a leaf signed by a CA (`cert` is then
    the CA, `cadir` a hashed directory of it for SSL_CERT_DIR)."""

    def __init__(self, directory, scenario, event_delay_ms=5, ca=False):
        os.makedirs(directory, exist_ok=True)
        if ca:
            certs = make_ca_and_leaf(directory)
            self.cert, self.cadir = certs["ca"], certs["cadir"]
            served, self.key = certs["chain"], certs["key"]
        else:
            self.cert, self.key = make_cert(directory)
            served, self.cadir = self.cert, None
        self.log_dir = os.path.join(directory, "mock-log")
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(SERVERS, "mock_llm_server.py"), "--cert", served,
             "--key", self.key, "--log-dir", self.log_dir, "--scenario", scenario,
             "--event-delay-ms", str(event_delay_ms)],
            stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[-1])

    def settled(self):
        """The log once every connection is closed (tests/servers/mock_llm_log.py)."""
        return mock_llm_log.settled(self.log_dir)

    def read(self, name):
        with open(os.path.join(self.log_dir, name), "rb") as f:
            return f.read()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class AgentChecks:
    """Mixin for unittest.TestCase: the recording against the mock's log."""

    def check_capture_equals_mock(self, mock, path, may_leave_terminator=False):
        """Every connection the mock logged was captured byte-exact, under the client
        port the mock saw; returns the LLM exchanges in call order.

        may_leave_terminator: the client acts on a stream's last event and may drop
        the connection without reading the chunked body's terminator ("0\\r\\n\\r\\n",
        which the mock sends in a TLS record of its own after that event), as Codex
        does on response.completed when the terminator arrives late (a busy
        machine): the client never reads those 5 bytes, so there is nothing to
        capture. Only those bytes, at the very end of a connection, may be missing;
        that no read was lost is checked by lost_events == 0 and the gap counts."""
        cap = Capture(path, os.path.dirname(path))
        exchanges = []
        to_mock = [k for k in cap.connections if k["remote_port"] == mock.port]
        logged = mock.settled()
        self.assertEqual(len(to_mock), len(logged))
        for c in logged:
            matches = [k for k in to_mock if k["local_port"] == c["peer_port"]]
            self.assertEqual(len(matches), 1, f"no captured connection for port {c['peer_port']}")
            k = matches[0]
            self.assertEqual(k["write"], mock.read(c["recv_file"]), "request bytes differ")
            sent = mock.read(c["sent_file"])
            if may_leave_terminator and sent.endswith(b"\r\n0\r\n\r\n") and k["read"] == sent[:-5]:
                sent = sent[:-5]
            self.assertEqual(k["read"], sent, "response bytes differ")
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
        logged = [x for c in mock.settled() for x in c["exchanges"]]
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

    def check_llm_rows(self, rows, exchanges, provider, api, target):
        """Each llm_calls row equals what the mock logged for its call: model, stop
        reason, every token count the mock sent (None where the API has none), text,
        reasoning summary, tool calls; streamed, with a first token, complete."""
        self.assertEqual(len(rows), len(exchanges), [r["target"] for r in rows])
        for row, x in zip(rows, exchanges):
            llm = x["llm"]
            self.assertEqual(row["target"], target)
            self.assertEqual((row["provider"], row["api"], row["streamed"]), (provider, api, 1))
            self.assertEqual(row["model"], llm["model"])
            self.assertEqual(row["response_model"], llm["model"])
            self.assertEqual(row["stop_reason"], llm["stop_reason"])
            for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                      "cache_read_input_tokens", "reasoning_tokens"):
                if k in llm:
                    self.assertEqual(row[k], llm[k], f"call {llm['call']}: {k}")
            self.assertEqual(row["response_text"], llm["text"])
            if "thinking" in llm:
                self.assertEqual(row["thinking_text"] or "", llm["thinking"])
            self.assertEqual([(t["id"], t["name"], t["input"]) for t in json.loads(row["tool_calls"])],
                             [(t["id"], t["name"], t["input"]) for t in llm["tool_calls"]])
            self.assertGreater(row["ttft_ns"], 0)
            self.assertEqual(row["complete"], 1)

    def check_tool_round_trip(self, db, exchanges, result_text):
        """llm_tool_calls holds the first call's tool call as the mock sent it
        (id, name, arguments byte-exact), and the next call's request carries the
        result for that id, holding result_text. Returns the result."""
        sent = exchanges[0]["llm"]["tool_calls"]
        self.assertEqual(len(sent), 1)
        tools = self.sql(db, "SELECT t.llm_call_id, t.tool_use_id, t.name, t.input, t.input_raw, "
                             "t.input_valid FROM llm_tool_calls t "
                             "JOIN llm_calls l ON l.id = t.llm_call_id ORDER BY l.start_ns, t.idx")
        self.assertEqual(len(tools), 1, tools)
        tool = tools[0]
        self.assertEqual((tool["tool_use_id"], tool["name"], json.loads(tool["input"]),
                          tool["input_valid"]), (sent[0]["id"], sent[0]["name"], sent[0]["input"], 1))
        self.assertEqual(tool["input_raw"], json.dumps(sent[0]["input"]))
        calls = self.sql(db, "SELECT r.llm_call_id, r.messages FROM v_llm_requests r "
                             "JOIN llm_calls l ON l.id = r.llm_call_id ORDER BY l.start_ns")
        self.assertEqual(calls[0]["llm_call_id"], tool["llm_call_id"])
        results = []
        for m in json.loads(calls[1]["messages"]):
            if m.get("type") == "function_call_output" and m.get("call_id") == tool["tool_use_id"]:
                results.append(m["output"])  # Responses API
            elif m.get("role") == "tool" and m.get("tool_call_id") == tool["tool_use_id"]:
                results.append(m["content"])  # Chat Completions
            elif isinstance(m.get("content"), list):  # Anthropic Messages
                results += [b.get("content") for b in m["content"] if isinstance(b, dict) and
                            b.get("type") == "tool_result" and b.get("tool_use_id") == tool["tool_use_id"]]
        self.assertEqual(len(results), 1, f"no result for {tool['tool_use_id']} in the next request")
        self.assertIn(result_text, json.dumps(results[0]))
        return results[0]

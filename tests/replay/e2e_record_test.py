#!/usr/bin/python3
"""End to end, as root: ct-record records curl, python3 and node talking to the
mock LLM server (and curl over HTTP/2 to a small node server); ct-analyze imports the capture; the database must equal what
the server logged: request and response bodies byte-exact, every SSE event,
exact token counts.

  e2e_record_test.py CT_RECORD CT_ANALYZE MOCK_SERVER
"""

import base64
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

CT_RECORD, CT_ANALYZE, SERVER = (os.path.abspath(a) for a in sys.argv[1:4])
sys.path.insert(0, os.path.dirname(SERVER))
import mock_llm_log  # noqa: E402  (beside the server)
del sys.argv[1:4]

STREAM_BODY = json.dumps({"model": "claude-e2e", "max_tokens": 64, "stream": True, "thinking": {"type": "enabled"},
                          "system": "Be brief.", "messages": [{"role": "user", "content": "list the files"}],
                          "tools": [{"name": "Bash", "input_schema": {"type": "object"}}]})
RESULT_BODY = json.dumps({"model": "claude-e2e", "max_tokens": 64, "stream": True, "messages": [
    {"role": "user", "content": "list the files"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_mock_1", "name": "Bash", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_1", "content": "a b c"}]}]})
JSON_BODY = json.dumps({"model": "claude-e2e", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
CHAT_BODY = json.dumps({"model": "gpt-e2e", "stream": True, "stream_options": {"include_usage": True},
                        "messages": [{"role": "user", "content": "hi"}]})

PYTHON_CLIENT = r'''
import http.client, json, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
bodies = json.loads(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)   # one keep-alive connection
for path, body in bodies:
    headers = {"content-type": "application/json", "x-api-key": "sk-e2e-secret", "accept-encoding": "gzip"}
    conn.request("POST" if body else "GET", path, body=body or None, headers=headers)
    conn.getresponse().read()
conn.close()
'''

NODE_CLIENT = r'''
const https = require("https"), fs = require("fs");
const [port, cafile, bodiesJson] = process.argv.slice(1);
const agent = new https.Agent({keepAlive: true, maxSockets: 1, ca: fs.readFileSync(cafile)});
const bodies = JSON.parse(bodiesJson);
(async () => {
  for (const [path, body] of bodies) {
    await new Promise((resolve, reject) => {
      const req = https.request({host: "127.0.0.1", port: Number(port), path, agent, method: body ? "POST" : "GET",
        headers: {"content-type": "application/json", "x-api-key": "sk-e2e-secret", "accept-encoding": "gzip"}},
        res => { res.on("data", () => {}); res.on("end", resolve); });
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }
  agent.destroy();
})();
'''


# A small HTTP/2 server (node's http2 module): an Anthropic-like SSE stream and a gzip JSON answer.
H2_SERVER = r'''
const http2 = require("http2"), fs = require("fs"), zlib = require("zlib");
const [key, cert] = process.argv.slice(1);
const server = http2.createSecureServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)});
server.on("stream", (stream, headers) => {
  stream.on("data", () => {});
  stream.on("end", async () => {
    if (headers[":path"] === "/v1/messages") {
      stream.respond({":status": 200, "content-type": "text/event-stream"});
      const ev = (t, d) => `event: ${t}\ndata: ${JSON.stringify(d)}\n\n`;
      stream.write(ev("message_start", {type: "message_start", message: {id: "msg_h2", model: "claude-h2",
                                        usage: {input_tokens: 11, output_tokens: 1}}}));
      stream.write(ev("content_block_start", {type: "content_block_start", index: 0, content_block: {type: "text", text: ""}}));
      for (const t of ["Hello ", "over ", "h2"]) {
        await new Promise(r => setTimeout(r, 5));
        stream.write(ev("content_block_delta", {type: "content_block_delta", index: 0, delta: {type: "text_delta", text: t}}));
      }
      stream.write(ev("message_delta", {type: "message_delta", delta: {stop_reason: "end_turn"}, usage: {output_tokens: 3}}));
      stream.end(ev("message_stop", {type: "message_stop"}));
    } else {
      stream.respond({":status": 200, "content-type": "application/json", "content-encoding": "gzip"});
      stream.end(zlib.gzipSync(JSON.stringify({ok: true, path: headers[":path"]})));
    }
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
'''


def client_bodies():
    return [["/v1/messages", STREAM_BODY], ["/v1/messages", RESULT_BODY], ["/v1/messages", JSON_BODY],
            ["/v1/chat/completions", CHAT_BODY], ["/v1/models", ""]]


class RecordAndAnalyze(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cls.cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        cls.logs = os.path.join(d, "logs")
        cls.server = subprocess.Popen(["/usr/bin/python3", SERVER, "--cert", cls.cert, "--key", key,
                                       "--log-dir", cls.logs, "--event-delay-ms", "2"], stdout=subprocess.PIPE, text=True)
        cls.port = int(cls.server.stdout.readline())

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(10)
        cls.server.stdout.close()
        cls.tmp.cleanup()

    def record(self, name, command):
        capture = os.path.join(self.tmp.name, name + ".ctz")
        db = os.path.join(self.tmp.name, name + ".db")
        rec = subprocess.run([CT_RECORD, "-f", "-w", capture, "--", *command], capture_output=True, text=True,
                             timeout=120)
        self.assertEqual(rec.returncode, 0, rec.stderr)
        imp = subprocess.run([CT_ANALYZE, "--quiet", "--no-progress", "--db", db, capture], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        return sqlite3.connect(db)

    def server_connections(self):
        """The server's log once every connection it accepted is closed, by client port."""
        return {c["peer_port"]: c for c in mock_llm_log.settled(self.logs)}

    def log(self, name):
        with open(os.path.join(self.logs, name), "rb") as f:
            return f.read()

    def check(self, db, expected_exchanges):
        conns = self.server_connections()
        rows = db.execute("SELECT id, local_port FROM connections WHERE remote_port = ?", (self.port,)).fetchall()
        self.assertTrue(rows, "no connection to the mock server in the capture")
        checked = 0
        for conn_id, local_port in rows:
            logged = conns[local_port]
            recv = self.log(logged["recv_file"])
            # What the client sent, byte for byte, is the concatenation of the requests.
            total = db.execute("SELECT bytes_sent, bytes_received, gaps FROM connections WHERE id = ?",
                               (conn_id,)).fetchone()
            self.assertEqual(total, (logged["recv_bytes"], logged["sent_bytes"], 0))
            requests = db.execute(
                "SELECT q.id, q.method, q.target, q.stream_pos, q.wire_size, b.body, q.complete FROM http_requests q"
                " JOIN http_request_bodies b ON b.request_id = q.id WHERE q.connection_id = ? ORDER BY q.seq",
                (conn_id,)).fetchall()
            self.assertEqual(len(requests), len(logged["exchanges"]))
            for (qid, method, target, pos, wire, body, complete), x in zip(requests, logged["exchanges"]):
                self.assertEqual((method, target, pos, wire, complete), (x["method"], x["target"],
                                                                         x["request_offset"], x["request_length"], 1))
                raw = recv[x["request_offset"]:x["request_offset"] + x["request_length"]]
                self.assertTrue(raw.startswith(("%s %s HTTP/1.1\r\n" % (method, target)).encode()))
                self.assertEqual(bytes(body or b""), self.log(x["request_body_file"]))
                resp = db.execute("SELECT id, status, body, encoded_size, complete FROM http_responses"
                                  " WHERE request_id = ? AND interim = 0", (qid,)).fetchone()
                self.assertIsNotNone(resp, target)
                rid, status, rbody, encoded, rcomplete = resp
                self.assertEqual((status, rcomplete, encoded), (x["status"], 1, x["response_encoded_size"]))
                self.assertEqual(bytes(rbody), self.log(x["response_body_file"]))
                events = db.execute("SELECT count(*) FROM sse_events WHERE response_id = ?", (rid,)).fetchone()[0]
                self.assertEqual(events, x.get("sse_events", 0))
                if "llm" in x:
                    llm = x["llm"]
                    call = db.execute("SELECT model, input_tokens, output_tokens, cache_creation_input_tokens,"
                                      " cache_read_input_tokens, stop_reason, response_text, tool_calls, streamed"
                                      " FROM llm_calls WHERE request_id = ?", (qid,)).fetchone()
                    self.assertIsNotNone(call, target)
                    model, inp, out, cw, cr, stop, text, tools, streamed = call
                    self.assertEqual((model, inp, out, stop, bool(streamed)),
                                     (llm["model"], llm["input_tokens"], llm["output_tokens"], llm["stop_reason"],
                                      llm["streamed"]))
                    if "/v1/messages" in target:
                        self.assertEqual((cw, cr), (llm["cache_creation_input_tokens"], llm["cache_read_input_tokens"]))
                    self.assertEqual(text, llm["text"])
                    self.assertEqual([t["name"] for t in json.loads(tools)], [t["name"] for t in llm["tool_calls"]])
                    self.assertEqual([t["input"] for t in json.loads(tools)], [t["input"] for t in llm["tool_calls"]])
                checked += 1
        self.assertEqual(checked, expected_exchanges)
        # Secrets are fingerprinted.
        self.assertEqual(db.execute("SELECT count(*) FROM http_requests WHERE headers LIKE '%sk-e2e-secret%'").fetchone()[0], 0)
        self.check_exports(db, conns)

    def check_exports(self, db, conns):
        """--har and --otlp of the recorded session hold what the server logged."""
        db_path = db.execute("PRAGMA database_list").fetchone()[2]
        har_path, otlp_path = db_path + ".har", db_path + ".otlp.json"
        uuid = db.execute("SELECT uuid FROM captures").fetchone()[0]
        exp = subprocess.run([CT_ANALYZE, "--db", db_path, "--capture", uuid, "--har", har_path, "--otlp", otlp_path],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(exp.returncode, 0, exp.stderr)
        with open(har_path) as f:
            entries = {e["_ct_request_id"]: e for e in json.load(f)["log"]["entries"]}
        with open(otlp_path) as f:
            spans = [s for rs in json.load(f)["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]

        def attrs(span):
            return {kv["key"]: next(iter(kv["value"].values())) for kv in span["attributes"]}
        chat = {int(attrs(s)["ct.llm_call_id"]): attrs(s) for s in spans if s["name"].startswith("chat")}
        rows = db.execute("SELECT q.id, n.local_port, q.seq FROM http_requests q JOIN connections n"
                          " ON n.id = q.connection_id WHERE n.remote_port = ?", (self.port,)).fetchall()
        llm_checked = 0
        for qid, local_port, seq in rows:
            x = conns[local_port]["exchanges"][seq]
            e = entries[qid]
            content = e["response"]["content"]
            body = (base64.b64decode(content["text"]) if content.get("encoding") == "base64"
                    else content.get("text", "").encode())
            self.assertEqual(body, self.log(x["response_body_file"]))
            self.assertEqual(e["response"]["status"], x["status"])
            sent = self.log(x["request_body_file"])
            if sent:
                post = e["request"]["postData"]
                got = base64.b64decode(post["text"]) if post.get("encoding") == "base64" else post["text"].encode()
                self.assertEqual(got, sent)
            if "llm" not in x:
                continue
            llm = x["llm"]
            call_id = db.execute("SELECT id FROM llm_calls WHERE request_id = ?", (qid,)).fetchone()[0]
            a = chat[call_id]
            inp = llm["input_tokens"]
            if "/v1/messages" in x["target"]:
                inp += llm["cache_creation_input_tokens"] + llm["cache_read_input_tokens"]
            self.assertEqual((a["gen_ai.request.model"], int(a["gen_ai.usage.input_tokens"]),
                              int(a["gen_ai.usage.output_tokens"])), (llm["model"], inp, llm["output_tokens"]))
            self.assertEqual(a["gen_ai.response.finish_reasons"]["values"], [{"stringValue": llm["stop_reason"]}])
            llm_checked += 1
        self.assertGreater(llm_checked, 0)

    def test_curl(self):
        args = ["curl", "-sS", "--cacert", self.cert]
        base = "https://127.0.0.1:%d" % self.port
        command = []
        for path, body in client_bodies():
            if command:
                command += ["--next"] + args[1:]
            else:
                command += args
            command += ["-H", "content-type: application/json", "-H", "x-api-key: sk-e2e-secret", "--compressed",
                        "-o", "/dev/null"]
            if body:
                command += ["-d", body]
            command.append(base + path)
        db = self.record("curl", command)
        self.check(db, len(client_bodies()))

    def test_python(self):
        db = self.record("python", ["/usr/bin/python3", "-c", PYTHON_CLIENT, str(self.port), self.cert,
                                    json.dumps(client_bodies())])
        self.check(db, len(client_bodies()))

    def test_curl_http2(self):
        if not os.path.exists("/usr/bin/node"):
            self.skipTest("node is not installed")
        key = os.path.join(self.tmp.name, "key.pem")
        server = subprocess.Popen(["/usr/bin/node", "-e", H2_SERVER, key, self.cert], stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline())
            base = "https://127.0.0.1:%d" % port
            r1, r2 = os.path.join(self.tmp.name, "h2r1"), os.path.join(self.tmp.name, "h2r2")
            db = self.record("curl-h2", ["curl", "-sS", "--http2", "--cacert", self.cert, "-H", "x-api-key: sk-e2e-secret",
                                         "-d", STREAM_BODY, "-o", r1, base + "/v1/messages", "--next", "--http2",
                                         "--cacert", self.cert, "--compressed", "-o", r2, base + "/other"])
        finally:
            server.terminate()
            server.wait(10)
            server.stdout.close()
        rows = db.execute("SELECT q.method, q.path, q.http_version, r.status, r.body, r.complete FROM http_requests q"
                          " JOIN http_responses r ON r.request_id = q.id ORDER BY q.path").fetchall()
        self.assertEqual([r[:4] for r in rows], [("GET", "/other", "HTTP/2", 200), ("POST", "/v1/messages", "HTTP/2", 200)])
        with open(r2, "rb") as f:
            self.assertEqual(bytes(rows[0][4]), f.read())
        with open(r1, "rb") as f:
            self.assertEqual(bytes(rows[1][4]), f.read())
        self.assertEqual(db.execute("SELECT body FROM http_request_bodies").fetchall()[0][0], STREAM_BODY.encode())
        call = db.execute("SELECT response_text, input_tokens, output_tokens, stop_reason FROM llm_calls").fetchone()
        self.assertEqual(call, ("Hello over h2", 11, 3, "end_turn"))
        self.assertEqual(db.execute("SELECT count(*) FROM sse_events").fetchone()[0], 7)

    def test_claude_code(self):
        """A real agent: set CT_CLAUDE_BIN to a Claude Code binary (e.g. from the npm package
        @anthropic-ai/claude-code-linux-x64). The scripted server makes it call twice: a
        Bash tool call, then the answer."""
        claude = os.environ.get("CT_CLAUDE_BIN")
        if not claude:
            self.skipTest("CT_CLAUDE_BIN is not set")
        work = os.path.join(self.tmp.name, "claude-work")
        os.makedirs(work, exist_ok=True)
        env = dict(os.environ, HOME=os.path.join(self.tmp.name, "claude-home"),
                   ANTHROPIC_BASE_URL="https://127.0.0.1:%d" % self.port, ANTHROPIC_API_KEY="sk-e2e-secret",
                   NODE_EXTRA_CA_CERTS=self.cert, DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
        capture = os.path.join(self.tmp.name, "claude.ctz")
        rec = subprocess.run([CT_RECORD, "-f", "-w", capture, "--", claude, "-p", "list the files", "--allowedTools",
                              "Bash", "--model", "claude-sonnet-4-5"], capture_output=True, text=True, timeout=300,
                             cwd=work, env=env)
        self.assertEqual(rec.returncode, 0, rec.stderr)
        db_path = os.path.join(self.tmp.name, "claude.db")
        imp = subprocess.run([CT_ANALYZE, "--quiet", "--no-progress", "--db", db_path, capture], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        db = sqlite3.connect(db_path)
        calls = db.execute("SELECT stop_reason FROM llm_calls ORDER BY id").fetchall()
        self.assertEqual(calls, [("tool_use",), ("end_turn",)])
        self.assertEqual(db.execute("SELECT name FROM llm_tool_calls").fetchall(), [("Bash",)])
        # Both calls belong to one conversation, the one that asked to list the files.
        conv = db.execute("SELECT calls, first_message FROM v_llm_conversations").fetchall()
        self.assertEqual(len(conv), 1)
        self.assertEqual(conv[0][0], 2)
        self.assertIn("list the files", conv[0][1])
        self.check(db, db.execute("SELECT count(*) FROM http_requests").fetchone()[0])

    def test_node(self):
        if not os.path.exists("/usr/bin/node"):
            self.skipTest("node is not installed")
        db = self.record("node", ["/usr/bin/node", "-e", NODE_CLIENT, str(self.port), self.cert,
                                  json.dumps(client_bodies())])
        self.check(db, len(client_bodies()))


if __name__ == "__main__":
    unittest.main(verbosity=2)

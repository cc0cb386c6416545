#!/usr/bin/env python3
"""ct-analyze --har / --otlp / --otlp-endpoint on a synthetic capture.

The HAR must pass the HAR 1.2 JSON schema (npm har-validator with har-schema) and
its requests, responses and bodies must equal the database's. The OTLP/JSON must be
accepted by a local OTLP/HTTP receiver that decodes it against the official OTLP
protobuf definitions (otlp_receiver.cjs), and its spans must carry the mock's
gen_ai.* values. The npm packages are installed into NPM_DIR (in the build tree).

  export_test.py CT_ANALYZE EXPORT_TEST_CAPTURE SOURCE_DIR NPM_DIR
"""
import base64
import datetime
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import unittest

CT_ANALYZE, MAKE_CAPTURE, SOURCE_DIR, NPM_DIR = map(os.path.abspath, sys.argv[1:5])
del sys.argv[1:5]
NPM_PACKAGES = ["har-validator@5.1.5", "@opentelemetry/otlp-transformer@0.57.2", "typescript@5.9.3"]
DEVTOOLS = "chrome-devtools-frontend@1.0.1705227"  # only its HAR model is used
HAR_FORMAT = os.path.join(NPM_DIR, "devtools", "HARFormat.ts")
MODULES = os.path.join(NPM_DIR, "node_modules")

HAR_CHECK = """
const hv = require(process.argv[2] + '/har-validator');
const har = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
hv.har(har).then(() => console.log('valid'))
  .catch(e => { console.log(JSON.stringify(e.errors || String(e))); process.exit(1); });
"""


def npm_install():
    marker = os.path.join(NPM_DIR, "installed.txt")
    if os.path.exists(marker):
        with open(marker) as f:
            if f.read() == " ".join(NPM_PACKAGES):
                return
    os.makedirs(NPM_DIR, exist_ok=True)
    with open(os.path.join(NPM_DIR, "package.json"), "w") as f:
        f.write('{"name": "ct-export-test-deps", "private": true}\n')
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", NPM_DIR]
                          + NPM_PACKAGES, capture_output=True, text=True, timeout=500)
    if proc.returncode != 0:
        raise RuntimeError("npm install failed (the network tests need the npm registry): "
                           + proc.stderr[-2000:])
    # DevTools' HAR parser: one file of the (large) chrome-devtools-frontend package.
    packed = os.path.join(NPM_DIR, "devtools")
    os.makedirs(packed, exist_ok=True)
    proc = subprocess.run(["npm", "pack", DEVTOOLS, "--pack-destination", packed],
                          capture_output=True, text=True, timeout=500)
    if proc.returncode != 0:
        raise RuntimeError("npm pack failed: " + proc.stderr[-2000:])
    tarball = os.path.join(packed, proc.stdout.strip().splitlines()[-1])
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/front_end/models/har/HARFormat.ts")
        with open(HAR_FORMAT, "wb") as f:
            f.write(member.read())
    os.remove(tarball)
    with open(marker, "w") as f:
        f.write(" ".join(NPM_PACKAGES))


def run(*args, check=True):
    proc = subprocess.run([CT_ANALYZE, "--no-progress", *args], capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"ct-analyze {' '.join(args)} exited {proc.returncode}: "
                             f"{proc.stderr}")
    return proc


def attrs(span):
    out = {}
    for kv in span.get("attributes", []):
        (kind, value), = kv["value"].items()
        if kind == "arrayValue":
            value = [next(iter(v.values())) for v in value.get("values", [])]
        elif kind == "intValue":
            value = int(value)
        out[kv["key"]] = value
    return out


def spans_of(request):
    return [s for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


class Receiver:
    """otlp_receiver.cjs on a free loopback port."""

    def __init__(self, tmp):
        self.out = os.path.join(tmp, "received.jsonl")
        open(self.out, "w").close()
        self.proc = subprocess.Popen(["node", os.path.join(SOURCE_DIR, "otlp_receiver.cjs"),
                                      MODULES, self.out], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def received(self):
        with open(self.out) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        npm_install()
        cls.tmp = tempfile.mkdtemp(prefix="ct-export-test-")
        cls.capture = os.path.join(cls.tmp, "session.ctz")
        subprocess.run([MAKE_CAPTURE, cls.capture], check=True)
        cls.db_path = os.path.join(cls.tmp, "sessions.db")
        cls.har_path = os.path.join(cls.tmp, "session.har")
        cls.otlp_path = os.path.join(cls.tmp, "session.otlp.json")
        run("--db", cls.db_path, cls.capture, "--har", cls.har_path, "--otlp", cls.otlp_path,
            "-q")
        cls.db = sqlite3.connect(cls.db_path)
        cls.db.row_factory = sqlite3.Row
        cls.uuid = cls.db.execute("SELECT uuid FROM captures").fetchone()[0]

    @classmethod
    def tearDownClass(cls):
        cls.db.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_har_is_valid_har_1_2(self):
        check = os.path.join(self.tmp, "har_check.js")
        with open(check, "w") as f:
            f.write(HAR_CHECK)
        proc = subprocess.run(["node", check, MODULES, self.har_path], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(proc.stdout.strip(), "valid")
        # The checker is not a rubber stamp: the same file without a required field fails.
        with open(self.har_path) as f:
            har = json.load(f)
        del har["log"]["entries"][0]["request"]["httpVersion"]
        broken = os.path.join(self.tmp, "broken.har")
        with open(broken, "w") as f:
            json.dump(har, f)
        proc = subprocess.run(["node", check, MODULES, broken], capture_output=True, text=True,
                              timeout=60)
        self.assertNotEqual(proc.returncode, 0, proc.stdout)

    def test_har_parses_with_chromium_devtools_har_model(self):
        script = os.path.join(SOURCE_DIR, "devtools_har_parse.cjs")
        proc = subprocess.run(["node", script, MODULES, HAR_FORMAT, self.har_path],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        parsed = json.loads(proc.stdout)
        with open(self.har_path) as f:
            entries = json.load(f)["log"]["entries"]
        self.assertEqual([(p["method"], p["url"], p["status"]) for p in parsed],
                         [(e["request"]["method"], e["request"]["url"], e["response"]["status"])
                          for e in entries])
        self.assertEqual(sum(p["encoding"] == "base64" for p in parsed), 1)
        self.assertEqual([p["started"][:23] for p in parsed],
                         [e["startedDateTime"][:23] for e in entries])
        # The parser refuses what DevTools cannot import.
        entries[0]["startedDateTime"] = "yesterday"
        broken = os.path.join(self.tmp, "broken-date.har")
        with open(broken, "w") as f:
            json.dump({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                               "entries": entries}}, f)
        proc = subprocess.run(["node", script, MODULES, HAR_FORMAT, broken],
                              capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)

    def test_har_equals_database(self):
        with open(self.har_path) as f:
            text = f.read()
        har = json.loads(text)["log"]
        self.assertEqual(har["version"], "1.2")
        entries = har["entries"]
        rows = self.db.execute(
            "SELECT q.*, n.remote_addr, (SELECT body FROM http_request_bodies b WHERE"
            " b.request_id = q.id) AS full_body FROM http_requests q JOIN connections n ON"
            " n.id = q.connection_id ORDER BY q.id").fetchall()
        self.assertEqual(len(entries), len(rows))
        self.assertEqual(len(entries), 9)
        starts = [e["startedDateTime"] for e in entries]
        self.assertEqual(starts, sorted(starts))
        by_id = {e["_ct_request_id"]: e for e in entries}
        for q in rows:
            e = by_id[q["id"]]
            req = e["request"]
            self.assertEqual(req["method"], q["method"])
            self.assertEqual(req["url"], "https://" + q["host"] + q["target"])
            self.assertEqual(req["httpVersion"], q["http_version"])
            self.assertEqual([[h["name"], h["value"]] for h in req["headers"]],
                             json.loads(q["headers"]))
            body = bytes(q["full_body"] or b"")
            if body:
                post = req["postData"]
                sent = (base64.b64decode(post["text"]) if post.get("encoding") == "base64"
                        else post["text"].encode())
                self.assertEqual(sent, body)
                self.assertEqual(post["mimeType"], q["content_type"] or "")
            self.assertEqual(req["bodySize"], q["encoded_size"])
            start = datetime.datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00"))
            self.assertEqual(int(start.timestamp() * 1e6), q["start_ns"] // 1000)
            self.assertAlmostEqual(e["timings"]["send"], (q["end_ns"] - q["start_ns"]) / 1e6)
            r = self.db.execute("SELECT * FROM http_responses WHERE request_id = ? AND"
                                " interim = 0", (q["id"],)).fetchone()
            resp = e["response"]
            if r is None:
                self.assertEqual(resp["status"], 0)
                self.assertIn("no response captured", e["comment"])
                continue
            self.assertEqual(e["_ct_response_id"], r["id"])
            self.assertEqual(resp["status"], r["status"])
            self.assertEqual(resp["statusText"], r["reason"] or "")
            self.assertEqual([[h["name"], h["value"]] for h in resp["headers"]],
                             json.loads(r["headers"]))
            content = resp["content"]
            got = (base64.b64decode(content["text"]) if content.get("encoding") == "base64"
                   else content["text"].encode())
            self.assertEqual(got, bytes(r["body"] or b""))
            self.assertEqual(content["size"], len(got))
            self.assertEqual(resp["bodySize"], r["encoded_size"])
            wait = max(0, r["start_ns"] - q["end_ns"]) / 1e6
            self.assertAlmostEqual(e["timings"]["wait"], wait)
            total = e["timings"]["send"] + e["timings"]["wait"] + e["timings"]["receive"]
            self.assertAlmostEqual(e["time"], total)
            self.assertEqual(e.get("serverIPAddress"), q["remote_addr"])

        # What the capture holds, seen through the HAR.
        by_path = {e["request"]["url"].split("?")[0]: e for e in entries}
        png = by_path["https://api.anthropic.com/upload"]
        self.assertEqual(png["response"]["content"]["encoding"], "base64")
        self.assertTrue(base64.b64decode(png["response"]["content"]["text"])
                        .startswith(b"\x89PNG\r\n"))
        self.assertEqual(base64.b64decode(png["request"]["postData"]["text"]),
                         b"\xff\xfe\x00\x01binary\x80")
        models = by_path["https://api.anthropic.com/v1/models"]
        self.assertEqual(json.loads(models["response"]["content"]["text"])["has_more"], False,
                         "the gzip body is decoded")
        self.assertIn({"name": "q", "value": "a b c"}, models["request"]["queryString"])
        self.assertEqual(models["request"]["cookies"][0]["name"], "theme")
        sse = [e for e in entries if e["response"]["content"]["mimeType"].startswith(
            "text/event-stream")]
        self.assertEqual(len(sse), 2)
        self.assertIn("event: message_start", sse[0]["response"]["content"]["text"])
        h2 = [e for e in entries if e["request"]["httpVersion"] == "HTTP/2"]
        self.assertEqual(sorted(e["response"]["status"] for e in h2), [200, 404])
        post = next(e for e in h2 if e["request"]["method"] == "POST")
        self.assertEqual(post["request"]["postData"]["text"], "h2 request body")
        self.assertEqual(post["response"]["content"]["text"], '{"created":true}')
        # Secrets stay fingerprinted, as in the database.
        for secret in ("sk-ant-secret-123", "sk-query-secret", "s3cr3t", "sk-openai-9"):
            self.assertNotIn(secret, text)
        self.assertIn("ct-hmac:", text)

    def test_otlp_accepted_by_receiver_with_genai_values(self):
        receiver = Receiver(self.tmp)
        try:
            file_path = os.path.join(self.tmp, "sent.otlp.json")
            proc = run("--db", self.db_path, "--capture", self.uuid, "--otlp-endpoint",
                       receiver.url, "--otlp", file_path)
            got = receiver.received()
        finally:
            receiver.stop()
        self.assertEqual(len(got), 1, got)
        self.assertNotIn("refused", got[0], got[0])
        self.assertIn("Sent 18 spans (3 LLM calls)", proc.stderr)
        self.assertEqual(got[0]["contentType"], "application/json")
        with open(file_path) as f:
            sent = json.load(f)
        with open(self.otlp_path) as f:
            self.assertEqual(sent, json.load(f), "the same export from the same database")
        spans = spans_of(got[0]["request"])
        self.assertEqual(len(spans), got[0]["spans"])
        self.assertEqual(len(spans), len(spans_of(sent)))
        self.assertEqual({s["traceId"] for s in spans}, {self.uuid.replace("-", "")})
        by_id = {s["spanId"]: s for s in spans}
        self.assertEqual(len(by_id), len(spans), "span ids are unique")

        roots = [s for s in spans if not s.get("parentSpanId")]
        self.assertEqual(len(roots), 1)
        root = roots[0]
        self.assertEqual(root["name"], "session agent")
        for s in spans:
            if s is not root:
                self.assertIn(s["parentSpanId"], by_id, s["name"])
        procs = {attrs(s)["process.pid"]: s for s in spans if s["name"].startswith("process ")}
        self.assertEqual(sorted(procs), [100, 101])
        self.assertEqual(procs[100]["parentSpanId"], root["spanId"])
        self.assertEqual(procs[101]["parentSpanId"], procs[100]["spanId"])

        http = {attrs(s)["ct.http.request_id"]: s for s in spans
                if "ct.http.request_id" in attrs(s)}
        self.assertEqual(len(http), 9)
        for request_id, s in http.items():
            a = attrs(s)
            q = self.db.execute("SELECT q.method, q.host, q.target, n.pid FROM http_requests q"
                                " JOIN connections n ON n.id = q.connection_id WHERE q.id = ?",
                                (request_id,)).fetchone()
            self.assertEqual(s["kind"], 3, "SPAN_KIND_CLIENT")
            self.assertEqual(s["name"], q["method"])
            self.assertEqual(a["http.request.method"], q["method"])
            self.assertEqual(a["url.full"], "https://" + q["host"] + q["target"])
            self.assertEqual(a["server.address"], q["host"])
            self.assertEqual(s["parentSpanId"], procs[q["pid"]]["spanId"])
            r = self.db.execute("SELECT status FROM http_responses WHERE request_id = ?",
                                (request_id,)).fetchone()
            if r:
                self.assertEqual(a["http.response.status_code"], r["status"])
            failed = r is None or r["status"] >= 400
            self.assertEqual(s.get("status", {}).get("code", 0), 2 if failed else 0)

        # One "chat {model}" span per LLM call, under its HTTP span, with the mock's values.
        llm = [s for s in spans if attrs(s).get("gen_ai.operation.name") == "chat"]
        self.assertEqual(len(llm), 3)
        expected = {  # request id -> what the mock answered
            1: ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", 120 + 30 + 400, 57,
                400, 30, "tool_use"),
            2: ("anthropic", "claude-sonnet-4-5", "claude-haiku-4-5", 10 + 0 + 7, 5, 7, 0,
                "tool_use"),
            6: ("openai", "gpt-4o", "gpt-4o", 50, 9, 32, None, "tool_calls"),
        }
        for s in llm:
            a = attrs(s)
            call = self.db.execute("SELECT * FROM llm_calls WHERE id = ?",
                                   (a["ct.llm_call_id"],)).fetchone()
            provider, model, response_model, inp, out, cache_read, cache_write, finish = \
                expected[call["request_id"]]
            self.assertEqual(s["name"], "chat " + model)
            self.assertEqual(s["kind"], 3)
            self.assertEqual(s["parentSpanId"], http[call["request_id"]]["spanId"])
            self.assertEqual(a["gen_ai.provider.name"], provider)
            self.assertEqual(a["gen_ai.system"], provider)
            self.assertEqual(a["gen_ai.request.model"], model)
            self.assertEqual(a["gen_ai.response.model"], response_model)
            self.assertEqual(a["gen_ai.usage.input_tokens"], inp)
            self.assertEqual(a["gen_ai.usage.output_tokens"], out)
            self.assertEqual(a["gen_ai.usage.cache_read.input_tokens"], cache_read)
            self.assertEqual(a.get("gen_ai.usage.cache_creation.input_tokens"), cache_write)
            self.assertEqual(a["gen_ai.response.finish_reasons"], [finish])
            self.assertEqual(a["gen_ai.conversation.id"], call["conversation_key"].hex().upper())
            self.assertEqual(int(s["startTimeUnixNano"]), call["start_ns"])
            self.assertEqual(int(s["endTimeUnixNano"]), call["end_ns"])
            output = json.loads(a["gen_ai.output.messages"])
            tool_parts = [p for p in output[0]["parts"] if p["type"] == "tool_call"]
            db_tools = json.loads(call["tool_calls"])
            self.assertEqual([(p["id"], p["name"], p["arguments"]) for p in tool_parts],
                             [(t["id"], t["name"], t["input"]) for t in db_tools])

        # execute_tool spans: bash ran from the answer asking for it to the call that
        # sent its result back.
        tools = {attrs(s)["gen_ai.tool.name"]: s for s in spans
                 if attrs(s).get("gen_ai.operation.name") == "execute_tool"}
        self.assertEqual(sorted(tools), ["bash", "get_weather", "read_file"])
        bash = tools["bash"]
        first, second = self.db.execute("SELECT start_ns, end_ns FROM llm_calls WHERE"
                                        " request_id IN (1, 2) ORDER BY id").fetchall()
        self.assertEqual(int(bash["startTimeUnixNano"]), first["end_ns"])
        self.assertEqual(int(bash["endTimeUnixNano"]), second["start_ns"])
        self.assertEqual(attrs(bash)["gen_ai.tool.call.id"], "toolu_1")
        self.assertEqual(json.loads(attrs(bash)["gen_ai.tool.call.arguments"]),
                         {"command": "ls -la"})
        self.assertTrue(attrs(bash)["ct.tool.result_seen"])
        self.assertFalse(attrs(tools["read_file"])["ct.tool.result_seen"])
        self.assertEqual(tools["get_weather"]["parentSpanId"], procs[101]["spanId"])

    def test_one_conversation(self):
        key = self.db.execute("SELECT conversation FROM v_llm_conversations WHERE"
                              " first_message = 'List files'").fetchone()[0]
        har_path = os.path.join(self.tmp, "conversation.har")
        otlp_path = os.path.join(self.tmp, "conversation.json")
        run("--db", self.db_path, "--conversation", key.lower(), "--har", har_path,
            "--otlp", otlp_path)
        with open(har_path) as f:
            entries = json.load(f)["log"]["entries"]
        self.assertEqual([e["_ct_request_id"] for e in entries], [1, 2])
        with open(otlp_path) as f:
            spans = spans_of(json.load(f))
        names = sorted(s["name"] for s in spans)
        self.assertEqual(names, ["POST", "POST", "chat claude-sonnet-4-5",
                                 "chat claude-sonnet-4-5", "execute_tool bash",
                                 "execute_tool read_file", "process agent", "session agent"])

    def test_bad_endpoints_and_selections(self):
        proc = run("--db", self.db_path, "--capture", self.uuid, "--otlp-endpoint",
                   "https://otlp.example:4318", check=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("https is not supported", proc.stderr)
        proc = run("--db", self.db_path, "--conversation", "ABCDEF", "--har",
                   os.path.join(self.tmp, "x.har"), check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no conversation ABCDEF", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.har")))
        proc = run("--db", self.db_path, "--capture", self.uuid, check=False)
        self.assertEqual(proc.returncode, 2)
        receiver = Receiver(self.tmp)
        try:
            proc = run("--db", self.db_path, "--capture", self.uuid, "--otlp-endpoint",
                       receiver.url + "/elsewhere", check=False)
        finally:
            receiver.stop()
        self.assertEqual(proc.returncode, 1)
        self.assertIn("404", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""Drives tests/servers/mock_llm_server.py with curl over real TLS on loopback and
checks that its logs hold exactly what crossed the wire."""

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

SERVER = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "servers", "mock_llm_server.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(SERVER)))
import mock_llm_log  # noqa: E402  (beside the server)


class MockServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.cert, cls.key, cls.logs = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"), os.path.join(d, "logs")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cls.key, "-out", cls.cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        cls.server = subprocess.Popen(["/usr/bin/python3", SERVER, "--cert", cls.cert, "--key", cls.key, "--port", "0",
                                       "--log-dir", cls.logs, "--event-delay-ms", "1"],
                                      stdout=subprocess.PIPE, text=True)
        cls.port = int(cls.server.stdout.readline())
        cls.base = "https://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(10)
        cls.tmp.cleanup()

    def curl(self, *args):
        out = subprocess.run(["curl", "-sS", "--cacert", self.cert, "--max-time", "20", *args],
                             check=True, capture_output=True)
        return out.stdout

    def index(self):
        return {"connections": mock_llm_log.read_index(self.logs)}

    def connection_by_port(self, port, exchanges):
        """The server's log of the connection from `port`, once it holds `exchanges`
        exchanges: the server may still be writing it when curl has its answer."""
        for _ in range(600):
            for c in self.index()["connections"]:
                if c["peer_port"] == port and len(c["exchanges"]) >= exchanges:
                    return c
            time.sleep(0.05)
        self.fail("no connection with %d exchanges from port %d in the log" % (exchanges, port))

    def read_log(self, name):
        with open(os.path.join(self.logs, name), "rb") as f:
            return f.read()

    def test_anthropic_stream_then_tool_result_keep_alive(self):
        first = json.dumps({"model": "claude-test", "max_tokens": 100, "stream": True, "thinking": {"type": "enabled"},
                            "messages": [{"role": "user", "content": "list files"}]})
        second = json.dumps({"model": "claude-test", "max_tokens": 100, "stream": True,
                             "messages": [{"role": "user", "content": "list files"},
                                          {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
                                          {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "a b"}]}]})
        out_dir = self.tmp.name
        # Two requests on one keep-alive connection; -w prints the local port of each.
        ports = self.curl("-w", "%{local_port}\n", "-H", "content-type: application/json", "-d", first,
                          "-o", os.path.join(out_dir, "r1"), self.base + "/v1/messages", "--next",
                          "--cacert", self.cert, "-w", "%{local_port}\n", "-H", "content-type: application/json",
                          "-d", second, "-o", os.path.join(out_dir, "r2"), self.base + "/v1/messages").decode().split()
        self.assertEqual(ports[0], ports[1])  # kept alive
        conn = self.connection_by_port(int(ports[0]), 2)
        self.assertEqual(len(conn["exchanges"]), 2)
        x1, x2 = conn["exchanges"]
        self.assertEqual(x1["llm"]["tool_calls"][0]["name"], "Bash")
        self.assertEqual(x1["llm"]["stop_reason"], "tool_use")
        self.assertEqual(x2["llm"]["tool_calls"], [])
        self.assertEqual(x2["llm"]["stop_reason"], "end_turn")
        # The logged bodies are what curl received, byte for byte.
        with open(os.path.join(out_dir, "r1"), "rb") as f:
            self.assertEqual(f.read(), self.read_log(x1["response_body_file"]))
        r1 = self.read_log(x1["response_body_file"]).decode()
        self.assertIn("thinking_delta", r1)
        self.assertIn("input_json_delta", r1)
        self.assertEqual(r1.count("event: "), x1["sse_events"])
        # The raw logs hold the requests and the responses at the recorded offsets.
        recv = self.read_log(conn["recv_file"])
        sent = self.read_log(conn["sent_file"])
        self.assertEqual(len(recv), x2["request_offset"] + x2["request_length"])
        self.assertTrue(recv[x1["request_offset"]:].startswith(b"POST /v1/messages HTTP/1.1\r\n"))
        self.assertTrue(recv[x1["request_offset"]:x1["request_offset"] + x1["request_length"]].endswith(first.encode()))
        self.assertTrue(sent[x2["response_offset"]:].startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertEqual(len(sent), x2["response_offset"] + x2["response_length"])

    def test_gzip_and_json(self):
        raw = self.curl("-H", "Accept-Encoding: gzip", self.base + "/gzip?size=5000")
        self.assertEqual(len(gzip.decompress(raw)), 5000)
        decoded = self.curl("--compressed", self.base + "/v1/models")
        self.assertEqual(json.loads(decoded)["data"][0]["id"], "claude-sonnet-4-5")
        body = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
        answer = json.loads(self.curl("--compressed", "-d", body, self.base + "/v1/chat/completions"))
        self.assertEqual(answer["choices"][0]["finish_reason"], "tool_calls")
        self.assertEqual(answer["usage"]["prompt_tokens"] > 0, True)

    def test_openai_streams(self):
        body = json.dumps({"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        out = self.curl("-d", body, self.base + "/v1/chat/completions").decode()
        self.assertTrue(out.rstrip().endswith("data: [DONE]"))
        self.assertIn('"tool_calls"', out)
        body = json.dumps({"model": "gpt-test", "stream": True, "input": "hi"})
        out = self.curl("-d", body, self.base + "/v1/responses").decode()
        self.assertIn("event: response.completed", out)

    def test_responses_stream_follows_the_api(self):
        """The event order a client such as Codex CLI relies on: every delta belongs to
        an item added before it and finished after it, sequence numbers count up,
        and response.completed carries the finished items and the usage."""
        body = json.dumps({"model": "gpt-test", "stream": True, "reasoning": {"summary": "auto"},
                           "include": ["reasoning.encrypted_content"],
                           "input": [{"role": "user", "content": "hi"}],
                           "tools": [{"type": "function", "name": "exec_command",
                                      "parameters": {"type": "object"}}]})
        out = self.curl("-d", body, self.base + "/v1/responses").decode()
        events = []
        for block in out.split("\n\n"):
            if block.strip():
                kind, data = block.split("\n")
                events.append((kind[len("event: "):], json.loads(data[len("data: "):])))
        self.assertEqual([d["sequence_number"] for _, d in events], list(range(len(events))))
        self.assertEqual([k for k, d in events], [d["type"] for _, d in events])
        self.assertEqual([k for k, _ in events[:2]], ["response.created", "response.in_progress"])
        self.assertEqual(events[-1][0], "response.completed")
        added, done = {}, {}
        for kind, d in events[2:-1]:
            index = d["output_index"]
            if kind == "response.output_item.added":
                added[index] = d["item"]
            elif kind == "response.output_item.done":
                done[index] = d["item"]
            else:
                self.assertIn(index, added, kind)
                self.assertNotIn(index, done, kind)
        final = events[-1][1]["response"]
        self.assertEqual(final["output"], [done[i] for i in sorted(done)])
        self.assertEqual([i["type"] for i in final["output"]], ["reasoning", "message", "function_call"])
        self.assertTrue(final["output"][0]["encrypted_content"])
        self.assertEqual(json.loads(final["output"][2]["arguments"]), {"cmd": "cat notes.txt"})
        usage = final["usage"]
        self.assertEqual(usage["total_tokens"], usage["input_tokens"] + usage["output_tokens"])
        self.assertLessEqual(usage["input_tokens_details"]["cached_tokens"], usage["input_tokens"])
        self.assertGreater(usage["output_tokens_details"]["reasoning_tokens"], 0)

    def test_unknown_path(self):
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", self.cert,
                              self.base + "/nope"], capture_output=True, text=True)
        self.assertEqual(out.stdout, "404")


if __name__ == "__main__":
    unittest.main(verbosity=2)

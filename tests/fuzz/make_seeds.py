#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

Run from anywhere: python3 tests/fuzz/make_seeds.py. The inputs follow the
layouts the targets read (tests/fuzz/fuzz_support.hpp and llm_fuzz_common.hpp);
fuzz_capture_reader also gets the hostile captures of tests/fixtures/hostile.
"""
import gzip
import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
import mock_llm_server  # noqa: E402  (the Responses event sequence)

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SEP = b"\n~~\n"


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- BPF events as the capture stores them (bpf/ct_abi.h) -------------------
class Events:
    def __init__(self):
        self.seq = 0
        self.ts = 1_000_000_000
        self.pos = {}

    def hdr(self, type_, size, pid=7):
        self.seq += 1
        self.ts += 1000
        return struct.pack("<HHIQQII", type_, size, 0, self.seq, self.ts, pid, pid)

    def conn(self, gen, kind, func=8, ret=0, written=0, read=0):
        body = struct.pack("<QQQQiBBH", 0x10, gen, written, read, ret, kind, func, 0)
        return self.hdr(3, 88) + body + b"client".ljust(16, b"\0")

    def data(self, gen, direction, payload, flags=2, call_len=None, pos=None):
        key = (gen, direction)
        p = self.pos.get(key, 0) if pos is None else pos
        self.pos[key] = p + len(payload)
        body = struct.pack("<QQQQQQIHBB", 0x10, gen, p, self.ts, call_len or len(payload), 0,
                           len(payload), flags, direction, 1 if direction == 0 else 3)
        return self.hdr(1, 104) + body + b"client".ljust(16, b"\0") + payload

    def loss(self, gen, direction, length, reason=1):
        key = (gen, direction)
        p = self.pos.get(key, 0)
        self.pos[key] = p + length
        body = struct.pack("<QQQQIBBH", 0x10, gen, p, length, reason, direction, 0, 0)
        return self.hdr(2, 72) + body


def records(events):
    out = b""
    for e in events:
        out += b"\x00" + struct.pack("<H", len(e)) + e
    return out


def http_request(path, body, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


ANTHROPIC_REQUEST = json.dumps({
    "model": "claude-x", "max_tokens": 100, "stream": True, "system": "be brief",
    "tools": [{"name": "read", "input_schema": {"type": "object"}}],
    "messages": [{"role": "user", "content": "hello"}]}).encode()
ANTHROPIC_SSE = b"".join(
    b"event: " + t.encode() + b"\ndata: " + json.dumps(d).encode() + b"\n\n" for t, d in [
        ("message_start", {"type": "message_start", "message": {"id": "m1", "model": "claude-x",
                                                                 "usage": {"input_tokens": 5}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "tool_use", "id": "t1", "name": "read",
                                                   "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"})])
OPENAI_REQUEST = json.dumps({
    "model": "gpt-x", "stream": True, "messages": [{"role": "system", "content": "brief"},
                                                   {"role": "user", "content": "hello"}],
    "tools": [{"type": "function", "function": {"name": "f"}}]}).encode()
OPENAI_SSE = b"".join(b"data: " + json.dumps(d).encode() + b"\n\n" for d in [
    {"id": "c1", "model": "gpt-x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call1", "function": {"name": "f", "arguments": "{\"x\""}}]}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": ":2}"}}]}, "finish_reason": "tool_calls"}]},
    {"id": "c1", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}]) + b"data: [DONE]\n\n"
RESPONSES_REQUEST = json.dumps({"model": "gpt-x", "instructions": "brief", "stream": False,
                                "input": [{"role": "user", "content": "hi"}]}).encode()
RESPONSES_JSON = json.dumps({"id": "r1", "model": "gpt-x", "status": "completed", "output": [
    {"type": "message", "content": [{"type": "output_text", "text": "Hello"}]},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
    "usage": {"input_tokens": 3, "output_tokens": 1}}).encode()
GEMINI_REQUEST = json.dumps({
    "contents": [{"role": "user", "parts": [{"text": "list the files"}]},
                 {"role": "model", "parts": [{"functionCall": {"name": "list_directory", "args": {}}}]},
                 {"role": "user", "parts": [{"functionResponse": {"name": "list_directory",
                                                                  "response": {"output": "a.txt"}}}]}],
    "systemInstruction": {"parts": [{"text": "terse"}]},
    "tools": [{"functionDeclarations": [{"name": "list_directory"}]}, {"googleSearch": {}}],
    "generationConfig": {"maxOutputTokens": 100}}).encode()


def chunked(body, size=40):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def sse_response(body):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked(body))


def json_response(body, gz=False):
    if gz:
        body = gzip.compress(body, mtime=0)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + (b"Content-Encoding: gzip\r\n" if gz else b"")
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


# --- HTTP/2 frames, HPACK literals without Huffman ---------------------------
def h2_frame(type_, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([type_, flags]) + struct.pack(">I", stream) + payload


def hpack(headers):
    out = b""
    for name, value in headers:
        out += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    return out


def h2_exchange(request_body, response_body, content_type=b"application/json"):
    client = (h2_frame(4, 0, 0, b"") +
              h2_frame(1, 4, 1, hpack([(b":method", b"POST"), (b":path", b"/v1/messages"),
                                       (b":scheme", b"https"), (b":authority", b"api.example.com"),
                                       (b"content-type", b"application/json")])) +
              h2_frame(0, 1, 1, request_body))
    server = (h2_frame(4, 0, 0, b"") + h2_frame(4, 1, 0, b"") +
              h2_frame(1, 4, 1, hpack([(b":status", b"200"), (b"content-type", content_type)])) +
              h2_frame(0, 0, 1, response_body[:50]) + h2_frame(0, 1, 1, response_body[50:]))
    return client, server


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)

    # Connection-level inputs: "<n><n control bytes>sent\n~~\n<n><controls>received".
    exchanges = {
        "anthropic_sse": (http_request(b"/v1/messages", ANTHROPIC_REQUEST), sse_response(ANTHROPIC_SSE)),
        "openai_sse": (http_request(b"/v1/chat/completions", OPENAI_REQUEST), sse_response(OPENAI_SSE)),
        "gzip_json": (http_request(b"/v1/responses", RESPONSES_REQUEST, b"Accept-Encoding: gzip\r\n"),
                      json_response(RESPONSES_JSON, gz=True)),
        "gemini_array": (http_request(b"/v1beta/models/gemini-x:streamGenerateContent", GEMINI_REQUEST),
                         b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + chunked(b'[{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}\n,\r\n'
                                   b'{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3}}\n]')),
        "keepalive": (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n",
                      b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
                      b"HTTP/1.1 204 No Content\r\n\r\n"),
        "upgrade": (b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi"),
    }
    for name, (sent, received) in exchanges.items():
        put("fuzz_http1", name, b"\x00" + sent + SEP + b"\x00" + received + b"\x01")
        put("fuzz_http1", name + "_cut", b"\x03\x10\x41\x80" + sent + SEP + b"\x02\x33\x90" + received)
    client, server = h2_exchange(ANTHROPIC_REQUEST, ANTHROPIC_SSE, b"text/event-stream")
    put("fuzz_http2", "anthropic_sse", b"\x00" + client + SEP + b"\x00" + server)
    put("fuzz_http2", "anthropic_sse_cut", b"\x02\x20\x81" + client + SEP + b"\x01\x61" + server)
    client, server = h2_exchange(RESPONSES_REQUEST, RESPONSES_JSON)
    put("fuzz_http2", "json", b"\x00" + client + SEP + b"\x00" + server)

    for name, body in {"anthropic": ANTHROPIC_SSE, "openai": OPENAI_SSE,
                       "fields": b"\xef\xbb\xbfid: 7\nretry: 100\n: comment\r\ndata: a\rdata: b\r\n\r\nevent: x\ndata\n\n"}.items():
        put("fuzz_sse", name, b"\x00" + body)
        put("fuzz_sse", name + "_gaps", b"\x02\x30\x90" + body)

    put("fuzz_llm_anthropic", "stream", b"\x01" + ANTHROPIC_REQUEST + SEP + ANTHROPIC_SSE)
    put("fuzz_llm_anthropic", "json", b"\x00" + ANTHROPIC_REQUEST + SEP + json.dumps({
        "id": "m1", "model": "claude-x", "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "Hi"}, {"type": "thinking", "thinking": "hmm"}],
        "usage": {"input_tokens": 1, "output_tokens": 2}}).encode())
    put("fuzz_llm_anthropic", "error", b"\x00" + ANTHROPIC_REQUEST + SEP +
        b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}')
    put("fuzz_llm_openai", "chat_stream", b"\x01" + OPENAI_REQUEST + SEP + OPENAI_SSE)
    put("fuzz_llm_openai", "responses_json", b"\x04" + RESPONSES_REQUEST + SEP + RESPONSES_JSON)
    put("fuzz_llm_openai", "responses_stream", b"\x05" + RESPONSES_REQUEST + SEP + b"".join(
        b"event: " + t.encode() + b"\ndata: " + json.dumps(d).encode() + b"\n\n" for t, d in [
            ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "He"}),
            ("response.completed", {"type": "response.completed", "response": json.loads(RESPONSES_JSON)})]))

    # The API's whole event sequence (reasoning, message and function call items),
    # as the mock server sends it, and the same stream cut inside the function call.
    events, _ = mock_llm_server.responses_events(
        mock_llm_server.responses_plan(
            dict(mock_llm_server.plan_answer("tool-then-text", [], 1),
                 tool={"id": "t", "name": "exec_command", "input": {"cmd": "cat notes.txt"}}),
            {"reasoning": {"summary": "auto"}, "include": ["reasoning.encrypted_content"]}, 1),
        "gpt-x", 1, {"reasoning": {"summary": "auto"}})
    put("fuzz_llm_openai", "responses_items_stream", b"\x05" + RESPONSES_REQUEST + SEP + b"".join(events))
    cut = [e for e in events if b"function_call_arguments.done" not in e][:-3]
    put("fuzz_llm_openai", "responses_items_cut", b"\x05" + RESPONSES_REQUEST + SEP + b"".join(cut))

    gemini_chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hmm", "thought": True}]}, "index": 0}],
         "modelVersion": "gemini-2.5-pro", "responseId": "r1"},
        {"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Listing."}, {"functionCall": {"name": "list_directory", "args": {"dir_path": "."}}}]},
            "index": 0}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
         "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "cachedContentTokenCount": 2,
                           "thoughtsTokenCount": 3, "totalTokenCount": 16}}]
    gemini_sse = b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in gemini_chunks)
    gemini_array = b"[" + b"\n,\r\n".join(json.dumps(c).encode() for c in gemini_chunks) + b"\n]"
    put("fuzz_llm_gemini", "stream_sse", b"\x01" + GEMINI_REQUEST + SEP + gemini_sse)
    put("fuzz_llm_gemini", "stream_array", b"\x00" + GEMINI_REQUEST + SEP + gemini_array)
    put("fuzz_llm_gemini", "vertex_json", b"\x04" + GEMINI_REQUEST + SEP + json.dumps(gemini_chunks[1]).encode())
    put("fuzz_llm_gemini", "count_tokens", b"\x08" + GEMINI_REQUEST + SEP + b'{"totalTokens":12}')
    put("fuzz_llm_gemini", "code_assist", b"\x0d" + b'{"model":"gemini-2.5-pro","project":"p","request":' +
        GEMINI_REQUEST + b"}" + SEP + b"".join(
            b"data: " + json.dumps({"response": c, "traceId": "t"}).encode() + b"\r\n\r\n" for c in gemini_chunks))
    put("fuzz_llm_gemini", "error", b"\x00" + GEMINI_REQUEST + SEP +
        b'[{"error":{"code":429,"message":"busy","status":"RESOURCE_EXHAUSTED"}}]')

    # Records for stream assembly and the importer.
    for target in ("fuzz_stream_assembly", "fuzz_importer", "fuzz_export"):
        e = Events()
        evs = [e.conn(1, 1), e.data(1, 0, http_request(b"/v1/messages", ANTHROPIC_REQUEST))]
        resp = sse_response(ANTHROPIC_SSE)
        evs += [e.data(1, 1, resp[:100]), e.data(1, 1, resp[100:])]
        evs += [e.conn(1, 2, func=10, written=e.pos[(1, 0)], read=e.pos[(1, 1)])]
        put(target, "anthropic", records(evs))
        e = Events()
        resp = json_response(RESPONSES_JSON, gz=True)
        evs = [e.conn(2, 1), e.data(2, 0, http_request(b"/v1/responses", RESPONSES_REQUEST)),
               e.data(2, 1, resp[:30]), e.loss(2, 1, 20), e.data(2, 1, resp[50:]),
               e.data(2, 0, b"GET / HTTP/1.1\r\n\r\n", flags=3, call_len=4000)]
        put(target, "losses", records(evs))
        e = Events()
        client, server = h2_exchange(OPENAI_REQUEST, OPENAI_SSE, b"text/event-stream")
        evs = [e.conn(3, 1), e.data(3, 0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + client),
               e.data(3, 1, server), e.data(3, 1, b"late", pos=2**62 - 2)]
        put(target, "http2_and_wrap", records(evs))

    fixtures = os.path.join(HERE, "..", "fixtures", "hostile")
    for f in sorted(os.listdir(fixtures)):
        if f.endswith(".ctz"):
            with open(os.path.join(fixtures, f), "rb") as src:
                put("fuzz_capture_reader", f, src.read())
    go_seeds()

# --- Go pclntab and buildinfo (record/locate/go/go_pclntab.hpp) -------------
def go_pclntab(magic=0xfffffff0, names=(b"runtime.text", b"crypto/tls.(*Conn).Write")):
    """A Go 1.18+ pclntab: header, funcnametab, (empty cutab/filetab/pctab), functab."""
    nametab = b"".join(n + b"\0" for n in names)
    name_offs, off = [], 0
    for n in names:
        name_offs.append(off)
        off += len(n) + 1
    cu = 72 + len(nametab)
    pcln = cu
    n = len(names)
    functab_len = (n + 1) * 8
    functab, records = b"", b""
    for i in range(n):
        func_off = functab_len + len(records)
        functab += struct.pack("<II", i * 0x100, func_off)
        records += struct.pack("<Ii", i * 0x100, name_offs[i])
    functab += struct.pack("<II", n * 0x100, 0)
    header = struct.pack("<IBBBBQQQQQQQQ", magic, 0, 0, 1, 8, n, 0, 0x401000, 72, cu, cu, cu,
                         pcln)
    return header + nametab + functab + records


def go_buildinfo(version=b"go1.19.8"):
    blob = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16
    return blob + bytes([len(version)]) + version + b"\0"


def go_seeds():
    put("fuzz_go_pclntab", "go118", go_pclntab())
    table = go_pclntab(0xfffffff1)
    table += b"\0" * (-len(table) % 16)  # the blob is 16-byte aligned
    put("fuzz_go_pclntab", "go120_with_buildinfo", table + go_buildinfo())
    put("fuzz_go_pclntab", "buildinfo", go_buildinfo())
    # Pre-1.18 buildinfo: pointers (offsets into the input) to a string header.
    old = b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", 32, 0)
    old += struct.pack("<QQ", 48, 9) + b"go1.16.15"
    put("fuzz_go_pclntab", "buildinfo_pointers", old)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A mock LLM HTTPS server for ct's tests (python3 standard library only).

Serves, on 127.0.0.1:
  POST /v1/messages           Anthropic Messages API, JSON or SSE stream (text,
                              thinking when asked for, tool_use)
  POST /v1/chat/completions   OpenAI Chat Completions, JSON or SSE stream
  POST /v1/responses          OpenAI Responses API, JSON or SSE stream (the API's
                              event sequence: output items added and done,
                              content parts, text and argument deltas, a
                              reasoning item with its summary when asked for)
  POST .../models/M:generateContent, :streamGenerateContent, :countTokens
                              Google Gemini API (/v1beta/models/M, Vertex AI
                              /v1/projects/P/locations/L/publishers/google/models/M):
                              JSON, an SSE stream with ?alt=sse, else a JSON
                              array streamed element by element; function calls
  GET  /v1/models             a JSON list (gzip when the client accepts it)
  GET  /gzip?size=N           N bytes of text, always gzip-encoded
  anything else               404 JSON error
Connections are kept alive (HTTP/1.1) until the client closes them.

Scenario "tool-then-text" (default): a call whose last user message carries no
tool result is answered with a tool call; a call carrying the tool result is
answered with text, so an agent makes exactly two calls. Scenario "text":
always text.

It logs every byte it received and sent, per connection, to --log-dir:
  conn-NNNN.recv / conn-NNNN.sent   the raw plaintext, as read and written
  conn-NNNN-xM.body                 the decoded response body of exchange M
  conn-NNNN-xM.req                  the request body of exchange M (de-chunked)
  index.json                        per connection: peer port, files, and per
                                    exchange the request and response offsets
                                    in those files, status, SSE events, usage,
                                    text and tool calls as sent
When ready it prints the port (one line) on stdout.

  mock_llm_server.py --cert CERT.pem --key KEY.pem [--port 0] [--log-dir DIR]
                     [--scenario tool-then-text|text] [--event-delay-ms 5]
"""

import argparse
import gzip
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

LOCK = threading.Lock()


class Logger:
    """Raw per-connection logs plus an index rewritten after every exchange."""

    def __init__(self, directory):
        self.directory = directory
        self.connections = []
        if directory:
            os.makedirs(directory, exist_ok=True)

    def new_connection(self, peer_port):
        with LOCK:
            conn_id = len(self.connections) + 1
            entry = {"id": conn_id, "peer_port": peer_port,
                     "recv_file": "conn-%04d.recv" % conn_id,
                     "sent_file": "conn-%04d.sent" % conn_id,
                     "recv_bytes": 0, "sent_bytes": 0, "exchanges": [], "closed": False}
            self.connections.append(entry)
        # Listed at once, still open, before the TLS handshake: a reader that waits
        # for every listed connection to close (settled() in the e2e tests) must
        # never take an index written before a connection's first answer for the
        # finished log of a client that has exited.
        self.save()
        return entry

    def append(self, entry, which, data):
        if not self.directory or not data:
            return
        with open(os.path.join(self.directory, entry[which + "_file"]), "ab") as f:
            f.write(data)

    def write_body(self, entry, index, body, suffix="body"):
        name = "conn-%04d-x%d.%s" % (entry["id"], index, suffix)
        if self.directory:
            with open(os.path.join(self.directory, name), "wb") as f:
                f.write(body)
        return name

    def save(self):
        if not self.directory:
            return
        # One writer at a time: two threads sharing the temporary name would let a
        # reader see a half-written index.
        with LOCK:
            text = json.dumps({"connections": self.connections}, indent=1)
            tmp = os.path.join(self.directory, "index.json.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, os.path.join(self.directory, "index.json"))


class Connection:
    """Reads from and writes to one TLS connection, logging every byte."""

    def __init__(self, sock, logger, entry):
        self.sock = sock
        self.logger = logger
        self.entry = entry
        self.buffer = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        self.logger.append(self.entry, "recv", data)
        self.entry["recv_bytes"] += len(data)
        self.buffer += data
        return True

    def recv_offset(self):
        """Offset in the .recv file of the first unconsumed byte."""
        return self.entry["recv_bytes"] - len(self.buffer)

    def read_until(self, marker, limit=1 << 20):
        while marker not in self.buffer:
            if len(self.buffer) > limit or not self._fill():
                return None
        end = self.buffer.index(marker) + len(marker)
        out, self.buffer = self.buffer[:end], self.buffer[end:]
        return out

    def read_exact(self, n):
        while len(self.buffer) < n:
            if not self._fill():
                return None
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send(self, data):
        self.sock.sendall(data)
        self.logger.append(self.entry, "sent", data)
        self.entry["sent_bytes"] += len(data)


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return method, target, version, headers


def header(headers, name):
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return ""


def read_body(conn, headers):
    if "chunked" in header(headers, "Transfer-Encoding").lower():
        body = b""
        while True:
            line = conn.read_until(b"\r\n")
            if line is None:
                return None
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers up to the blank line
                    t = conn.read_until(b"\r\n")
                    if t is None or t == b"\r\n":
                        return body
            data = conn.read_exact(size + 2)
            if data is None:
                return None
            body += data[:-2]
    length = int(header(headers, "Content-Length") or "0")
    return conn.read_exact(length) if length else b""


# ---- answers -------------------------------------------------------------------------------

WORDS = ("The files are listed below and everything looks in order so the task "
         "is complete").split()


def has_tool_result(messages):
    """True if the last message carries a tool result (Anthropic, OpenAI or Gemini shape)."""
    if not messages:
        return False
    last = messages[-1]
    if not isinstance(last, dict):
        return False
    if last.get("role") == "tool" or last.get("type") == "function_call_output":
        return True
    content = last.get("content")
    if isinstance(content, list):
        return any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    parts = last.get("parts")
    if isinstance(parts, list):
        return any(isinstance(p, dict) and "functionResponse" in p for p in parts)
    return False


def plan_answer(scenario, messages, call_index):
    """What to answer: text, or a tool call, with deterministic token counts."""
    use_tool = scenario == "tool-then-text" and not has_tool_result(messages)
    words = WORDS[: 6 + call_index % 5]
    text_pieces = [w + " " for w in words[:-1]] + [words[-1] + "."]
    plan = {
        "text_pieces": ["I will list the files."] if use_tool else text_pieces,
        "tool": {"id": "toolu_mock_%d" % call_index, "name": "Bash",
                 "input": {"command": "ls -la", "description": "List files"}} if use_tool else None,
        "input_tokens": 100 + 7 * call_index,
        "output_tokens": 20 + call_index,
        "cache_creation_input_tokens": 50,
        "cache_read_input_tokens": 200 + call_index,
    }
    plan["text"] = "".join(plan["text_pieces"])
    return plan


def sse(event, data):
    return ("event: %s\ndata: %s\n\n" % (event, json.dumps(data, separators=(",", ":")))).encode()


def anthropic_events(plan, model, thinking, call_index):
    usage_start = {"input_tokens": plan["input_tokens"],
                   "cache_creation_input_tokens": plan["cache_creation_input_tokens"],
                   "cache_read_input_tokens": plan["cache_read_input_tokens"], "output_tokens": 1}
    events = [sse("message_start", {"type": "message_start", "message": {
        "id": "msg_mock_%d" % call_index, "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage_start}})]
    index = 0
    if thinking:
        events.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                  "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
        for piece in ["Let me think ", "about this."]:
            events.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                      "delta": {"type": "thinking_delta", "thinking": piece}}))
        events.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "signature_delta", "signature": "c2lnbmF0dXJl"}}))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    events.append(sse("ping", {"type": "ping"}))
    events.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                              "content_block": {"type": "text", "text": ""}}))
    for piece in plan["text_pieces"]:
        events.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "text_delta", "text": piece}}))
    events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    index += 1
    if plan["tool"]:
        tool = plan["tool"]
        events.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                  "content_block": {"type": "tool_use", "id": tool["id"],
                                                                    "name": tool["name"], "input": {}}}))
        raw = json.dumps(tool["input"])
        for part in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
            events.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                      "delta": {"type": "input_json_delta", "partial_json": part}}))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = "tool_use" if plan["tool"] else "end_turn"
    events.append(sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                        "usage": {"output_tokens": plan["output_tokens"]}}))
    events.append(sse("message_stop", {"type": "message_stop"}))
    return events, stop


def anthropic_json(plan, model, call_index):
    content = [{"type": "text", "text": plan["text"]}]
    if plan["tool"]:
        content.append({"type": "tool_use", "id": plan["tool"]["id"], "name": plan["tool"]["name"],
                        "input": plan["tool"]["input"]})
    stop = "tool_use" if plan["tool"] else "end_turn"
    return {"id": "msg_mock_%d" % call_index, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": plan["input_tokens"], "output_tokens": plan["output_tokens"],
                      "cache_creation_input_tokens": plan["cache_creation_input_tokens"],
                      "cache_read_input_tokens": plan["cache_read_input_tokens"]}}, stop


def chat_events(plan, model, call_index, include_usage):
    base = {"id": "chatcmpl-mock-%d" % call_index, "object": "chat.completion.chunk", "created": 1700000000,
            "model": model}

    def chunk(choices, usage=None):
        d = dict(base, choices=choices)
        if usage is not None:
            d["usage"] = usage
        return ("data: %s\n\n" % json.dumps(d, separators=(",", ":"))).encode()

    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    for piece in plan["text_pieces"]:
        events.append(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
    if plan["tool"]:
        raw = json.dumps(plan["tool"]["input"])
        events.append(chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": plan["tool"]["id"], "type": "function",
                                                                      "function": {"name": plan["tool"]["name"], "arguments": raw[:5]}}]},
                              "finish_reason": None}]))
        events.append(chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": raw[5:]}}]},
                              "finish_reason": None}]))
    finish = "tool_calls" if plan["tool"] else "stop"
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
    if include_usage:
        events.append(chunk([], {"prompt_tokens": plan["input_tokens"], "completion_tokens": plan["output_tokens"],
                                 "total_tokens": plan["input_tokens"] + plan["output_tokens"],
                                 "prompt_tokens_details": {"cached_tokens": plan["cache_read_input_tokens"]}}))
    events.append(b"data: [DONE]\n\n")
    return events, finish


def chat_json(plan, model, call_index):
    message = {"role": "assistant", "content": plan["text"]}
    if plan["tool"]:
        message["tool_calls"] = [{"id": plan["tool"]["id"], "type": "function",
                                  "function": {"name": plan["tool"]["name"], "arguments": json.dumps(plan["tool"]["input"])}}]
    finish = "tool_calls" if plan["tool"] else "stop"
    return {"id": "chatcmpl-mock-%d" % call_index, "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": plan["input_tokens"], "completion_tokens": plan["output_tokens"],
                      "total_tokens": plan["input_tokens"] + plan["output_tokens"],
                      "prompt_tokens_details": {"cached_tokens": plan["cache_read_input_tokens"]}}}, finish


def responses_plan(plan, request, call_index):
    """The Responses API's view of a plan: a call id in OpenAI's shape, input tokens
    that include the cached ones (as OpenAI counts them), and a reasoning item when
    the request asks for reasoning (its summary when it asks for one, its encrypted
    content when it includes reasoning.encrypted_content)."""
    plan = dict(plan)
    if plan["tool"]:
        plan["tool"] = dict(plan["tool"], id="call_mock_%d" % call_index)
    plan["input_tokens"] = plan["input_tokens"] + plan["cache_read_input_tokens"]
    reasoning = request.get("reasoning")
    plan["reasoning"] = None
    plan["reasoning_tokens"] = 0
    if isinstance(reasoning, dict) and reasoning:
        include = request.get("include") or []
        plan["reasoning"] = {
            "summary": ["Let me think ", "about this."] if reasoning.get("summary") else [],
            "encrypted_content": "Z0FBQUFBQm1vY2stcmVhc29uaW5n%d" % call_index
            if "reasoning.encrypted_content" in include else None}
        plan["reasoning_tokens"] = 30 + call_index
        plan["output_tokens"] += plan["reasoning_tokens"]
    return plan


def responses_output(plan, call_index):
    """The finished output items: reasoning, the message, the function call."""
    items = []
    if plan.get("reasoning"):
        r = plan["reasoning"]
        item = {"id": "rs_mock_%d" % call_index, "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "".join(r["summary"])}] if r["summary"] else []}
        if r["encrypted_content"] is not None:
            item["encrypted_content"] = r["encrypted_content"]
        items.append(item)
    items.append({"id": "msg_mock_%d" % call_index, "type": "message", "status": "completed",
                  "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": plan["text"]}],
                  "role": "assistant"})
    if plan["tool"]:
        items.append({"id": "fc_mock_%d" % call_index, "type": "function_call", "status": "completed",
                      "arguments": json.dumps(plan["tool"]["input"]), "call_id": plan["tool"]["id"],
                      "name": plan["tool"]["name"]})
    return items


def responses_usage(plan):
    return {"input_tokens": plan["input_tokens"],
            "input_tokens_details": {"cached_tokens": plan["cache_read_input_tokens"]},
            "output_tokens": plan["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": plan.get("reasoning_tokens", 0)},
            "total_tokens": plan["input_tokens"] + plan["output_tokens"]}


def responses_object(plan, model, call_index, status, request):
    """A Response object with the members the API sends (status in_progress: no
    output and no usage yet)."""
    done = status == "completed"
    reasoning = request.get("reasoning") if isinstance(request.get("reasoning"), dict) else {}
    return {"id": "resp_mock_%d" % call_index, "object": "response", "created_at": 1700000000 + call_index,
            "status": status, "background": False, "error": None, "incomplete_details": None,
            "instructions": request.get("instructions"), "max_output_tokens": request.get("max_output_tokens"),
            "model": model, "output": responses_output(plan, call_index) if done else [],
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "store": request.get("store", True), "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools") or [],
            "top_p": 1.0, "truncation": "disabled", "usage": responses_usage(plan) if done else None,
            "user": None, "metadata": {}}


def responses_events(plan, model, call_index, request):
    """The event sequence of the Responses API's stream: response.created and
    .in_progress, then per output item .output_item.added, its parts and deltas
    and their .done events, .output_item.done, and response.completed with the
    whole response and its usage. Every event carries its sequence_number."""
    events = []

    def emit(kind, **fields):
        events.append(sse(kind, dict({"type": kind, "sequence_number": len(events)}, **fields)))

    emit("response.created", response=responses_object(plan, model, call_index, "in_progress", request))
    emit("response.in_progress", response=responses_object(plan, model, call_index, "in_progress", request))
    for index, item in enumerate(responses_output(plan, call_index)):
        item_id = item["id"]
        if item["type"] == "reasoning":
            added = dict(item, summary=[])
            emit("response.output_item.added", output_index=index, item=added)
            pieces = plan["reasoning"]["summary"]
            if pieces:
                text = "".join(pieces)
                emit("response.reasoning_summary_part.added", item_id=item_id, output_index=index,
                     summary_index=0, part={"type": "summary_text", "text": ""})
                for piece in pieces:
                    emit("response.reasoning_summary_text.delta", item_id=item_id, output_index=index,
                         summary_index=0, delta=piece)
                emit("response.reasoning_summary_text.done", item_id=item_id, output_index=index,
                     summary_index=0, text=text)
                emit("response.reasoning_summary_part.done", item_id=item_id, output_index=index,
                     summary_index=0, part={"type": "summary_text", "text": text})
        elif item["type"] == "message":
            emit("response.output_item.added", output_index=index,
                 item=dict(item, status="in_progress", content=[]))
            emit("response.content_part.added", item_id=item_id, output_index=index, content_index=0,
                 part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""})
            for piece in plan["text_pieces"]:
                emit("response.output_text.delta", item_id=item_id, output_index=index, content_index=0,
                     delta=piece, logprobs=[])
            emit("response.output_text.done", item_id=item_id, output_index=index, content_index=0,
                 text=plan["text"], logprobs=[])
            emit("response.content_part.done", item_id=item_id, output_index=index, content_index=0,
                 part=item["content"][0])
        else:  # function_call
            emit("response.output_item.added", output_index=index,
                 item=dict(item, status="in_progress", arguments=""))
            raw = item["arguments"]
            for piece in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
                emit("response.function_call_arguments.delta", item_id=item_id, output_index=index,
                     delta=piece)
            emit("response.function_call_arguments.done", item_id=item_id, output_index=index,
                 arguments=raw)
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed", response=responses_object(plan, model, call_index, "completed", request))
    return events, "completed"


GEMINI_PATH = re.compile(r"^/(?:v1|v1beta|v1beta1|v1alpha)/(?:projects/[^/]+/locations/[^/]+/)?"
                         r"(?:publishers/google/)?models/([^/:]+):"
                         r"(generateContent|streamGenerateContent|countTokens)$")


def openai_tool(request):
    """A read-only tool the client offers, with its arguments: Codex CLI's
    exec_command of `cat notes.txt`, list_directory of ".", opencode's read of notes.txt, qwen-code's glob of "*"; else None (the
    plan's Bash). Tools in the OpenAI (function) or Anthropic shape."""
    offered = {}
    for tool in request.get("tools") or []:
        if isinstance(tool, dict):
            f = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            offered[f.get("name")] = f.get("parameters") or f.get("input_schema") or {}
    if "exec_command" in offered:  # Codex CLI's shell
        return "exec_command", {"cmd": "cat notes.txt"}
    if "list_directory" in offered:
        return "list_directory", {(offered["list_directory"].get("required") or ["path"])[0]: "."}
    if "read" in offered and "filePath" in (offered["read"].get("required") or []):
        return "read", {"filePath": "notes.txt"}
    if "glob" in offered:
        return "glob", {"pattern": "*"}
    return None


def gemini_tool(request):
    """The function call to make: list_directory of "." when the client offers it
    (Gemini CLI), else the first declared function with no arguments."""
    declared = []
    for tool in request.get("tools") or []:
        if isinstance(tool, dict):
            declared += [f for f in tool.get("functionDeclarations") or tool.get("function_declarations") or []
                         if isinstance(f, dict)]
    for f in declared:
        if f.get("name") == "list_directory":
            schema = f.get("parameters") or f.get("parametersJsonSchema") or {}
            required = schema.get("required") or ["dir_path"]
            return {"name": "list_directory", "args": {required[0]: "."}}
    if declared:
        return {"name": declared[0].get("name", "tool"), "args": {}}
    return None


def gemini_chunks(plan, model, call_index, request, thinking):
    """The GenerateContentResponse chunks of one answer: a thought when asked for,
    the text pieces, the function call, then the end with the usage."""
    tail = {"modelVersion": model, "responseId": "gemini-mock-%d" % call_index}
    usage = {"promptTokenCount": plan["input_tokens"], "candidatesTokenCount": plan["output_tokens"],
             "cachedContentTokenCount": plan["cache_read_input_tokens"],
             "thoughtsTokenCount": plan["reasoning_tokens"],
             "totalTokenCount": plan["input_tokens"] + plan["output_tokens"] + plan["reasoning_tokens"]}

    def chunk(parts, finish=None, usage_metadata=None):
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        d = {"candidates": [candidate]}
        if usage_metadata:
            d["usageMetadata"] = usage_metadata
        return dict(d, **tail)

    chunks = []
    if thinking:
        chunks.append(chunk([{"text": "Let me think about this.", "thought": True}]))
    for piece in plan["text_pieces"]:
        chunks.append(chunk([{"text": piece}]))
    if plan["tool"]:
        chunks.append(chunk([{"functionCall": {"name": plan["tool"]["name"], "args": plan["tool"]["input"]}}]))
    chunks.append(chunk([{"text": ""}], "STOP", usage))
    return chunks


# ---- the server ----------------------------------------------------------------------------

class Server:
    def __init__(self, args, logger):
        self.args = args
        self.logger = logger
        self.calls = 0

    def next_call(self):
        with LOCK:
            self.calls += 1
            return self.calls

    def respond(self, conn, method, target, headers, body, record):
        path = target.split("?")[0]
        accepts_gzip = "gzip" in header(headers, "Accept-Encoding").lower()
        if method == "POST" and path in ("/v1/messages", "/v1/chat/completions", "/v1/responses"):
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return self.send_json(conn, 400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                             "message": "body is not JSON"}}, False, record)
            call_index = self.next_call()
            model = request.get("model", "mock-model")
            messages = request.get("messages") if path != "/v1/responses" else request.get("input")
            plan = plan_answer(self.args.scenario, messages if isinstance(messages, list) else [], call_index)
            offered = openai_tool(request) if plan["tool"] else None
            if offered:
                plan["tool"] = dict(plan["tool"], name=offered[0], input=offered[1])
            if path == "/v1/responses":
                plan = responses_plan(plan, request, call_index)
            record["llm"] = {"call": call_index, "model": model, "text": plan["text"],
                             "tool_calls": [plan["tool"]] if plan["tool"] else [],
                             "input_tokens": plan["input_tokens"], "output_tokens": plan["output_tokens"],
                             "cache_creation_input_tokens": plan["cache_creation_input_tokens"],
                             "cache_read_input_tokens": plan["cache_read_input_tokens"],
                             "streamed": bool(request.get("stream"))}
            if path != "/v1/messages":  # OpenAI reports no cache writes
                record["llm"]["cache_creation_input_tokens"] = None
            elif request.get("stream"):
                record["llm"]["thinking"] = "Let me think about this." if request.get("thinking") else ""
            if path == "/v1/responses":
                record["llm"]["reasoning_tokens"] = plan["reasoning_tokens"]
                record["llm"]["thinking"] = "".join(plan["reasoning"]["summary"]) if plan["reasoning"] else ""
            if request.get("stream"):
                if path == "/v1/messages":
                    events, stop = anthropic_events(plan, model, bool(request.get("thinking")), call_index)
                elif path == "/v1/chat/completions":
                    include_usage = bool((request.get("stream_options") or {}).get("include_usage", True))
                    events, stop = chat_events(plan, model, call_index, include_usage)
                    if not include_usage:
                        for k in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
                            record["llm"][k] = None
                else:
                    events, stop = responses_events(plan, model, call_index, request)
                record["llm"]["stop_reason"] = stop
                return self.send_stream(conn, events, record)
            if path == "/v1/messages":
                payload, stop = anthropic_json(plan, model, call_index)
            elif path == "/v1/chat/completions":
                payload, stop = chat_json(plan, model, call_index)
            else:
                payload, stop = responses_object(plan, model, call_index, "completed", request), "completed"
            record["llm"]["stop_reason"] = stop
            return self.send_json(conn, 200, payload, accepts_gzip, record)
        gemini = GEMINI_PATH.match(path)
        if method == "POST" and gemini:
            return self.respond_gemini(conn, target, gemini.group(1), gemini.group(2), body, record)
        if method == "GET" and path == "/v1/models":
            return self.send_json(conn, 200, {"data": [{"id": "claude-sonnet-4-5", "type": "model"},
                                                       {"id": "gpt-4o", "type": "model"}], "has_more": False},
                                  accepts_gzip, record)
        if method == "GET" and path == "/gzip":
            size = 4096
            for part in target.partition("?")[2].split("&"):
                if part.startswith("size="):
                    size = min(int(part[5:] or 0), 16 << 20)
            text = (" ".join(WORDS) + "\n").encode() * (size // 80 + 1)
            return self.send_body(conn, 200, "text/plain", text[:size], True, record)
        if method == "HEAD":
            return self.send_body(conn, 200, "text/plain", b"", False, record, content_length=1234)
        return self.send_json(conn, 404, {"error": {"type": "not_found", "message": path}}, False, record)

    def respond_gemini(self, conn, target, model, method, body, record):
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self.send_json(conn, 400, {"error": {"code": 400, "message": "body is not JSON",
                                                        "status": "INVALID_ARGUMENT"}}, False, record)
        contents = request.get("contents")
        contents = contents if isinstance(contents, list) else []
        call_index = self.next_call()
        if method == "countTokens":
            total = 40 + 3 * len(json.dumps(contents)) // 16
            record["llm"] = {"call": call_index, "model": model, "api": method, "input_tokens": total}
            return self.send_json(conn, 200, {"totalTokens": total}, False, record)
        plan = plan_answer(self.args.scenario, contents, call_index)
        plan["reasoning_tokens"] = 30 + call_index
        tool = gemini_tool(request) if plan["tool"] else None
        if tool:
            plan["tool"] = {"id": "", "name": tool["name"], "input": tool["args"]}
        elif plan["tool"]:  # no function offered: text
            plan = plan_answer("text", contents, call_index)
            plan["reasoning_tokens"] = 30 + call_index
        thinking = bool(((request.get("generationConfig") or {}).get("thinkingConfig") or {})
                        .get("includeThoughts"))
        chunks = gemini_chunks(plan, model, call_index, request, thinking)
        stream = method == "streamGenerateContent"
        record["llm"] = {"call": call_index, "model": model, "api": method, "text": plan["text"],
                         "thinking": "Let me think about this." if thinking else "",
                         "tool_calls": [plan["tool"]] if plan["tool"] else [],
                         "input_tokens": plan["input_tokens"], "output_tokens": plan["output_tokens"],
                         "cache_creation_input_tokens": None,
                         "cache_read_input_tokens": plan["cache_read_input_tokens"],
                         "reasoning_tokens": plan["reasoning_tokens"],
                         "stop_reason": "STOP", "streamed": stream}
        if not stream:
            parts = []
            if thinking:
                parts.append({"text": "Let me think about this.", "thought": True})
            parts.append({"text": plan["text"]})
            if plan["tool"]:
                parts.append({"functionCall": {"name": plan["tool"]["name"], "args": plan["tool"]["input"]}})
            whole = dict(chunks[-1])
            whole["candidates"] = [dict(whole["candidates"][0], content={"role": "model", "parts": parts})]
            return self.send_json(conn, 200, whole, False, record)
        if "alt=sse" in target.partition("?")[2].split("&"):
            events = [("data: %s\r\n\r\n" % json.dumps(c, separators=(",", ":"))).encode() for c in chunks]
            return self.send_stream(conn, events, record)
        # Without alt=sse: one JSON array, written element by element.
        pieces = [("[" if i == 0 else "\n,\r\n").encode() + json.dumps(c).encode() for i, c in enumerate(chunks)]
        pieces.append(b"\n]")
        return self.send_stream(conn, pieces, record, content_type=b"application/json; charset=UTF-8")

    def send_json(self, conn, status, payload, use_gzip, record):
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self.send_body(conn, status, "application/json", body, use_gzip, record)

    def send_body(self, conn, status, content_type, body, use_gzip, record, content_length=None):
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
        wire = gzip.compress(body, mtime=0) if use_gzip else body
        head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nrequest-id: req_mock\r\n" % (status, reason, content_type)
        if use_gzip:
            head += "Content-Encoding: gzip\r\n"
        head += "Content-Length: %d\r\n\r\n" % (content_length if content_length is not None else len(wire))
        record["status"] = status
        record["response_body"] = body
        record["response_encoded_size"] = len(wire)
        conn.send(head.encode() + wire)

    def send_stream(self, conn, events, record, content_type=b"text/event-stream; charset=utf-8"):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\n"
                  b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
        for e in events:
            time.sleep(self.args.event_delay_ms / 1000.0)
            conn.send(b"%x\r\n%s\r\n" % (len(e), e))
        conn.send(b"0\r\n\r\n")
        record["status"] = 200
        record["response_body"] = b"".join(events)
        record["response_encoded_size"] = len(record["response_body"])
        record["sse_events"] = len(events)

    def serve_connection(self, raw, peer):
        entry = self.logger.new_connection(peer[1])
        try:
            sock = self.args.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            entry["closed"] = True
            self.logger.save()
            return
        conn = Connection(sock, self.logger, entry)
        try:
            while True:
                request_offset = conn.recv_offset()
                head = conn.read_until(b"\r\n\r\n")
                if head is None:
                    break
                method, target, version, headers = parse_head(head)
                body = read_body(conn, headers)
                if body is None:
                    break
                record = {"method": method, "target": target,
                          "request_offset": request_offset,
                          "request_length": conn.recv_offset() - request_offset,
                          "request_body_length": len(body),
                          "response_offset": entry["sent_bytes"]}
                self.respond(conn, method, target, headers, body, record)
                record["response_length"] = entry["sent_bytes"] - record["response_offset"]
                index = len(entry["exchanges"]) + 1
                record["response_body_file"] = self.logger.write_body(entry, index, record.pop("response_body"))
                record["request_body_file"] = self.logger.write_body(entry, index, body, "req")
                entry["exchanges"].append(record)
                self.logger.save()
                if version == "HTTP/1.0" or header(headers, "Connection").lower() == "close":
                    break
        except (ssl.SSLError, OSError, ValueError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
            entry["closed"] = True
            self.logger.save()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-dir", default="")
    parser.add_argument("--scenario", choices=["tool-then-text", "text"], default="tool-then-text")
    parser.add_argument("--event-delay-ms", type=float, default=5.0)
    args = parser.parse_args()
    args.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    args.context.load_cert_chain(args.cert, args.key)
    args.context.set_alpn_protocols(["http/1.1"])

    logger = Logger(args.log_dir)
    logger.save()
    server = Server(args, logger)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    try:
        while True:
            raw, peer = listener.accept()
            threading.Thread(target=server.serve_connection, args=(raw, peer), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

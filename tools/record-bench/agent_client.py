#!/usr/bin/python3
"""An agent-like LLM client for record-bench (python3 standard library only).

Holds one keep-alive HTTPS connection to the mock LLM server and has a
conversation that grows every turn, as coding agents do: each request resends
the system prompt, the tool definitions and every previous message (tens to
hundreds of KB of JSON), asks for a streamed (SSE) answer and reads it to the
end. The tool results are real source files of the repository (with line
numbers, as an agent's Read tool returns them), so the JSON compresses the way
an agent's does.

  agent_client.py --port PORT --repo DIR [--turns 50] [--max-file-bytes 6000]

Prints one JSON line: turns, request and response bytes (bodies), seconds.
"""

import argparse
import http.client
import json
import os
import ssl
import sys
import time

SOURCE_DIRS = ("record", "bpf", "replay", "schema", "tests", "tools", "docs")
SOURCE_EXTS = (".cpp", ".hpp", ".c", ".h", ".py", ".md", ".sh", ".sql", ".txt")

INSTRUCTIONS = """You are an interactive coding agent that helps users with software
engineering tasks. Use the instructions below and the tools available to you to
assist the user. Read files before you change them, keep changes small, follow
the conventions of the code around you, and run the tests after every change.
When you are not sure what a piece of code does, read it: do not guess. Report
what you did and what you found in a few sentences, with file paths and line
numbers so that the user can check. Never commit secrets. Prefer the project's
own scripts for building and testing; they know the flags the project needs.
"""

TOOLS = [
    {"name": "Read", "description": "Reads a file from the local filesystem. The file_path "
     "must be absolute. By default reads up to 2000 lines from the start; give offset and limit "
     "for long files. Lines are returned cat -n style, numbered from 1.",
     "input_schema": {"type": "object", "properties": {
         "file_path": {"type": "string", "description": "Absolute path of the file to read"},
         "offset": {"type": "number", "description": "Line to start reading at"},
         "limit": {"type": "number", "description": "Number of lines to read"}},
         "required": ["file_path"], "additionalProperties": False}},
    {"name": "Bash", "description": "Runs a bash command in a persistent shell session with an "
     "optional timeout. Use it for builds, tests and git; do not use it to read or search files.",
     "input_schema": {"type": "object", "properties": {
         "command": {"type": "string", "description": "The command to run"},
         "timeout": {"type": "number", "description": "Timeout in milliseconds (max 600000)"},
         "description": {"type": "string", "description": "What the command does, in 5-10 words"}},
         "required": ["command"], "additionalProperties": False}},
    {"name": "Grep", "description": "Searches file contents with a regular expression (ripgrep "
     "syntax). Returns matching file paths, or matching lines with output_mode content.",
     "input_schema": {"type": "object", "properties": {
         "pattern": {"type": "string", "description": "The regular expression to search for"},
         "path": {"type": "string", "description": "File or directory to search in"},
         "glob": {"type": "string", "description": "Glob pattern to filter files"},
         "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]}},
         "required": ["pattern"], "additionalProperties": False}},
    {"name": "Edit", "description": "Performs an exact string replacement in a file. The edit "
     "fails if old_string is not unique in the file unless replace_all is set.",
     "input_schema": {"type": "object", "properties": {
         "file_path": {"type": "string"}, "old_string": {"type": "string"},
         "new_string": {"type": "string"}, "replace_all": {"type": "boolean", "default": False}},
         "required": ["file_path", "old_string", "new_string"], "additionalProperties": False}},
    {"name": "Glob", "description": "Fast file pattern matching for any codebase size; returns "
     "matching file paths sorted by modification time.",
     "input_schema": {"type": "object", "properties": {
         "pattern": {"type": "string"}, "path": {"type": "string"}},
         "required": ["pattern"], "additionalProperties": False}},
]


def source_files(repo):
    out = []
    for top in SOURCE_DIRS:
        for root, dirs, files in os.walk(os.path.join(repo, top)):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "build")))
            out += [os.path.join(root, f) for f in sorted(files) if f.endswith(SOURCE_EXTS)]
    return out


def read_numbered(path, limit):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(limit)
    return "".join("%6d\t%s\n" % (i + 1, line) for i, line in enumerate(text.splitlines()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--max-file-bytes", type=int, default=6000)
    args = ap.parse_args()

    files = source_files(args.repo)
    if not files:
        sys.exit("agent_client.py: no source files under " + args.repo)
    docs = [f for f in files if f.endswith(".md")] or files
    system = INSTRUCTIONS + "\nContents of the project's notes:\n\n" + read_numbered(docs[0], 12000)

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", args.port, context=ctx, timeout=60)
    messages = [{"role": "user", "content": "Read the recorder's sources one by one and tell me "
                 "how the capture pipeline works, from the BPF probes to the file on disk."}]
    request_bytes = response_bytes = 0
    start = time.monotonic()
    for turn in range(args.turns):
        body = json.dumps({
            "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "tools": TOOLS, "messages": messages,
            "metadata": {"user_id": "user_bench_session_0001"}}).encode()
        conn.request("POST", "/v1/messages", body=body, headers={
            "Content-Type": "application/json", "anthropic-version": "2023-06-01",
            "x-api-key": "sk-ant-bench-not-a-secret", "Accept": "text/event-stream",
            "User-Agent": "record-bench-agent/1.0"})
        resp = conn.getresponse()
        text = []
        for raw in resp:  # SSE lines
            response_bytes += len(raw)
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("data: "):
                event = json.loads(line[6:])
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta":
                    text.append(delta["text"])
        if resp.status != 200:
            sys.exit("agent_client.py: HTTP %d" % resp.status)
        request_bytes += len(body)
        path = files[turn % len(files)]
        tool_id = "toolu_bench_%04d" % turn
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": "".join(text)},
            {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": path}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool_id,
             "content": read_numbered(path, args.max_file_bytes)}]})
    conn.close()
    print(json.dumps({"turns": args.turns, "request_body_bytes": request_bytes,
                      "response_body_bytes": response_bytes,
                      "last_request_bytes": len(body),
                      "seconds": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A tiny LLM agent for the demo: asks the (mock) Anthropic Messages API a
question with one tool, streams the answer, runs the tool the model asks for,
sends the result back and prints the final text. python3 standard library only.

  agent_client.py BASE_URL CAFILE
"""
import http.client
import json
import ssl
import sys
import urllib.parse

TOOLS = [{
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]},
}]


# Canned results: the demo does not really run tools.
TOOL_RESULTS = {"get_weather": "18 degrees C, light wind, clear sky",
                "Bash": "README.md  bpf  record  replay  schema  tests  tools"}


def stream_message(conn, messages):
    body = json.dumps({"model": "claude-demo-1", "max_tokens": 512, "stream": True,
                       "system": "You are a helpful weather assistant.",
                       "tools": TOOLS, "messages": messages})
    conn.request("POST", "/v1/messages?beta=true", body=body, headers={
        "Content-Type": "application/json", "x-api-key": "sk-demo-not-a-real-key",
        "anthropic-version": "2023-06-01", "Accept": "text/event-stream"})
    resp = conn.getresponse()
    blocks, text = {}, ""
    event = None
    for raw in resp:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = json.loads(line[5:])
            if event == "content_block_start":
                blocks[data["index"]] = dict(data["content_block"], partial="")
            elif event == "content_block_delta":
                delta = data["delta"]
                if delta["type"] == "text_delta":
                    text += delta["text"]
                    print(delta["text"], end="", flush=True)
                elif delta["type"] == "input_json_delta":
                    blocks[data["index"]]["partial"] += delta["partial_json"]
    resp.read()  # the end of the chunked body, so the connection can be reused
    print()
    tool_uses = [b for b in blocks.values() if b.get("type") == "tool_use"]
    return text, tool_uses


def main():
    base, cafile = sys.argv[1], sys.argv[2]
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPSConnection(url.hostname, url.port,
                                       context=ssl.create_default_context(cafile=cafile))
    messages = [{"role": "user", "content": "What is the weather in Lisbon right now?"}]
    text, tool_uses = stream_message(conn, messages)
    if tool_uses:
        use = tool_uses[0]
        args = json.loads(use["partial"] or "{}")
        print(f"[agent] model asked for {use['name']}({args}); running it")
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": use["id"], "name": use["name"], "input": args}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use["id"],
             "content": TOOL_RESULTS.get(use["name"], "done")}]})
        stream_message(conn, messages)
    conn.close()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A small HTTPS/1.1 server for tests that logs every plaintext byte it
received and sent, per connection, so tests can compare a capture byte for byte.

  tls_log_server.py --cert C --key K --log-dir DIR [--port 0] [--git-root DIR]

Prints "PORT <n>" on stdout when ready. For each connection it writes
DIR/<id>.recv and DIR/<id>.sent (raw bytes) and appends one JSON line to
DIR/index.jsonl: {"id", "peer_port", "recv", "sent"} when the connection ends.

Routes:
  GET  /bytes/N      N deterministic bytes (Content-Length); ?ms=M sends them in
                     16 KiB pieces, M milliseconds apart
  POST /echo         the request body back
  GET  /sse?n=K      K server-sent events, then the stream ends (chunked);
                     &ms=M waits M milliseconds before each event
  .../info/refs, .../git-upload-pack
                     with --git-root: git's smart HTTP, answered by `git http-backend`
                     (the repositories under DIR, read-only)
  anything else      a small JSON document
"""
import argparse
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time


def pattern(n):
    """Deterministic, poorly compressible bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:n])


class Conn:
    def __init__(self, sock, conn_id, peer_port, log_dir):
        self.sock = sock
        self.id = conn_id
        self.peer_port = peer_port
        self.recv_log = open(os.path.join(log_dir, f"{conn_id}.recv"), "wb")
        self.sent_log = open(os.path.join(log_dir, f"{conn_id}.sent"), "wb")
        self.buf = b""

    def read_more(self):
        data = self.sock.recv(1 << 20)
        if data:
            self.recv_log.write(data)
        self.buf += data
        return bool(data)

    def read_until(self, marker):
        while marker not in self.buf:
            if not self.read_more():
                return None
        head, _, self.buf = self.buf.partition(marker)
        return head

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self.read_more():
                return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data):
        self.sock.sendall(data)
        self.sent_log.write(data)

    def close(self):
        self.recv_log.close()
        self.sent_log.close()


def read_body(conn, headers):
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line = conn.read_until(b"\r\n")
            if size_line is None:
                return None
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                conn.read_until(b"\r\n")
                return body
            body += conn.read_exact(size)
            conn.read_exact(2)
    return conn.read_exact(int(headers.get("content-length", "0")))


def respond(conn, status, body, content_type="application/octet-stream", keep_alive=True,
            pace_ms=0):
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n").encode()
    if not pace_ms:
        conn.send(head + body)
        return
    conn.send(head)
    for i in range(0, len(body), 16384):
        time.sleep(pace_ms / 1000)
        conn.send(body[i:i + 16384])


GIT_ROOT = None


def is_git_request(path):
    return GIT_ROOT is not None and (path.endswith("/info/refs") or
                                     path.endswith("/git-upload-pack"))


def git_backend(method, path, query, headers, body):
    """Runs `git http-backend` as a CGI program; returns (status, content type, body)."""
    env = {"GIT_PROJECT_ROOT": GIT_ROOT, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
           "QUERY_STRING": query, "REQUEST_METHOD": method, "REMOTE_ADDR": "127.0.0.1",
           "CONTENT_TYPE": headers.get("content-type", ""), "CONTENT_LENGTH": str(len(body)),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                         check=True).stdout
    head, _, content = out.partition(b"\r\n\r\n")
    status, content_type = "200 OK", "application/octet-stream"
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = value.strip()
        elif name.lower() == "content-type":
            content_type = value.strip()
    return status, content_type, content


def handle(conn):
    while True:
        head = conn.read_until(b"\r\n\r\n")
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = read_body(conn, headers)
        if body is None:
            return
        keep_alive = headers.get("connection", "").lower() != "close"
        path, _, query = target.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if is_git_request(path):
            status, content_type, content = git_backend(method, path, query, headers, body)
            respond(conn, status, content, content_type, keep_alive)
        elif path.startswith("/bytes/"):
            respond(conn, "200 OK", pattern(int(path[len("/bytes/"):])), keep_alive=keep_alive,
                    pace_ms=int(params.get("ms", "0")))
        elif path == "/echo":
            respond(conn, "200 OK", body, keep_alive=keep_alive)
        elif path == "/sse":
            n, pause = int(params.get("n", "3")), int(params.get("ms", "0")) / 1000
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(n):
                if pause:
                    time.sleep(pause)
                event = f"event: tick\ndata: {{\"i\": {i}}}\n\n".encode()
                conn.send(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            conn.send(b"0\r\n\r\n")
        else:
            doc = json.dumps({"method": method, "path": path, "bytes": len(body)}).encode()
            respond(conn, "200 OK", doc, "application/json", keep_alive)
        if not keep_alive:
            return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--git-root", help="serve the git repositories under this directory")
    args = ap.parse_args()
    global GIT_ROOT
    GIT_ROOT = args.git_root
    os.makedirs(args.log_dir, exist_ok=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(256)
    index = open(os.path.join(args.log_dir, "index.jsonl"), "a")
    index_lock = threading.Lock()
    counter = [0]
    print(f"PORT {listener.getsockname()[1]}", flush=True)

    def serve(raw, peer):
        with index_lock:
            counter[0] += 1
            conn_id = counter[0]
        conn = None
        try:
            tls = ctx.wrap_socket(raw, server_side=True)
            conn = Conn(tls, conn_id, peer[1], args.log_dir)
            handle(conn)
        except (ssl.SSLError, ConnectionError, OSError, ValueError):
            pass
        finally:
            if conn:
                conn.close()
                with index_lock:
                    index.write(json.dumps({"id": conn_id, "peer_port": peer[1],
                                            "recv": f"{conn_id}.recv",
                                            "sent": f"{conn_id}.sent"}) + "\n")
                    index.flush()
            try:
                raw.close()
            except OSError:
                pass

    while True:
        raw, peer = listener.accept()
        threading.Thread(target=serve, args=(raw, peer), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

"""Traffic no TLS probe can read is named, not lost in silence: a raw TCP socket
from python, wget over plain HTTP, and a python server accepting a connection are
each reported as unseen, with the right peer, by ct-record's summary and by ct-analyze
(tcp_connections table and summary). Recordings of curl (OpenSSL), wget over HTTPS
(GnuTLS) and a Go HTTPS client (crypto/tls), all probed, report nothing unseen."""
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import unittest

from clients import NODE_REQUESTS, PYTHON_REQUESTS
from harness import CT_RECORD, PYTHON, RecordTest, terminate, wait_for

CT_ANALYZE = os.environ.get("CT_ANALYZE", "ct-analyze")
GO = os.environ.get("CT_TEST_GO", "/usr/lib/go-1.19/bin/go")

RAW_CLIENT = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"x" * 1000)
got = b""
while len(got) < 3000:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
s.close()
print(len(got))
"""

# Looks at the answer with MSG_PEEK (recvfrom and recvmsg) before reading it, and throws
# 100 bytes of it away with MSG_TRUNC (consumed, not copied).
PEEKING_CLIENT = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"x" * 1000)
peeked = 0
while peeked < 3000:
    peeked = len(s.recv(65536, socket.MSG_PEEK))
assert len(s.recvmsg(65536, 0, socket.MSG_PEEK)[0]) == 3000
assert len(s.recv(100, socket.MSG_TRUNC)) == 100
got = 100
while got < 3000:
    assert len(s.recv(10, socket.MSG_PEEK)) > 0
    got += len(s.recv(700))
s.close()
print(got)
"""

FORKED_CLIENT = r"""
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
pid = os.fork()
if pid == 0:
    s.sendall(b"x" * 1000)
    got = b""
    while len(got) < 3000:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    os._exit(0)
os.waitpid(pid, 0)
s.close()
print(pid)
"""

RAW_SERVER = r"""
import socket, sys
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.bind(("::1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
got = b""
while len(got) < 1234:
    chunk = conn.recv(65536)
    if not chunk:
        break
    got += chunk
conn.sendall(b"y" * 4321)
conn.close()
"""

GO_CLIENT = r"""
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	pem, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(os.Args[2])
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, len(body))
}
"""


class PlainTcpServer:
    """Reads 1000 bytes per connection and answers 3000."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                got = b""
                while len(got) < 1000:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                conn.sendall(b"z" * 3000)

    def stop(self):
        self.sock.close()


class UnseenTraffic(RecordTest):
    def analyze(self, capture_path):
        """Imports the capture; returns (summary text, rows of tcp_connections)."""
        db = capture_path + ".db"  # one database per capture
        imp = subprocess.run([CT_ANALYZE, "--no-progress", "--db", db, capture_path],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(imp.returncode, 0, imp.stderr)
        q = subprocess.run([CT_ANALYZE, "--db", db, "--json", "--sql",
                            "SELECT pid, exe, origin, family, remote_addr, remote_port, bytes_sent,"
                            " bytes_received, tls_seen, unseen, end_reason, inherited FROM tcp_connections"
                            " ORDER BY id"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(q.returncode, 0, q.stderr)
        return imp.stdout, json.loads(q.stdout)

    def record_python_with_plain_server(self, script):
        """Records the python `script` (argv: a PlainTcpServer's port) against a fresh
        PlainTcpServer; returns (server, Capture, ct-record's completed process)."""
        server = PlainTcpServer()
        try:
            cap, proc = self.record([PYTHON, "-c", script, str(server.port)])
        finally:
            server.stop()
        return server, cap, proc

    def assert_unseen(self, stderr, exe_pattern, peer, why=None):
        """ct-record's summary names the connection and does not say "nothing lost"."""
        pattern = (r"pid \d+ " + exe_pattern + r": 1 connection " + re.escape(peer) +
                   r" that no probe could read \(")
        self.assertRegex(stderr, pattern)
        if why:
            self.assertIn(why, stderr)
        self.assertNotIn("nothing lost", stderr)

    def test_python_raw_tcp_socket(self):
        server, cap, proc = self.record_python_with_plain_server(RAW_CLIENT)
        peer = f"to 127.0.0.1:{server.port}"
        self.assert_unseen(proc.stderr, r"/usr/bin/python3[.\d]*", peer,
                           "plain TCP, or TLS in a library ct does not probe")
        self.assertIn("1000 B sent, 2.9 KiB received", proc.stderr)
        summary, rows = self.analyze(cap.path)
        unseen = [r for r in rows if r["unseen"] == 1]
        self.assertEqual(len(unseen), 1, rows)
        r = unseen[0]
        self.assertEqual((r["remote_addr"], r["remote_port"]), ("127.0.0.1", server.port))
        self.assertEqual((r["bytes_sent"], r["bytes_received"]), (1000, 3000))
        self.assertEqual((r["origin"], r["family"], r["end_reason"]), ("connect", "ipv4", "close"))
        self.assertRegex(summary, r"pid \d+ /usr/bin/python3[.\d]*: connect to 127\.0\.0\.1:" +
                         str(server.port) + r"  sent 1000 B  received 2\.9 KiB")

    def test_peeked_bytes_count_once(self):
        server, cap, proc = self.record_python_with_plain_server(PEEKING_CLIENT)
        self.assertEqual(proc.stdout.split(), ["3000"])
        self.assertIn("1000 B sent, 2.9 KiB received", proc.stderr)
        _, rows = self.analyze(cap.path)
        self.assertEqual([(r["bytes_sent"], r["bytes_received"]) for r in rows], [(1000, 3000)])

    def test_child_using_its_parents_socket(self):
        server, cap, proc = self.record_python_with_plain_server(FORKED_CLIENT)
        child = int(proc.stdout.split()[-1])
        peer = f"to 127.0.0.1:{server.port}"
        self.assertRegex(proc.stderr, rf"pid {child} /usr/bin/python3[.\d]*: 1 connection " +
                         re.escape(peer) + r" that no probe could read \(.*; 1000 B sent, "
                         r"2\.9 KiB received\)")
        self.assertEqual(len(re.findall(r"pid \d+ .*connection", proc.stderr)), 1, proc.stderr)
        _, rows = self.analyze(cap.path)
        got = sorted((r["pid"] == child, r["inherited"], r["bytes_sent"], r["bytes_received"],
                      r["unseen"]) for r in rows)
        self.assertEqual(got, [(False, 0, 0, 0, 0), (True, 1, 1000, 3000, 1)], rows)

    def test_python_server_accepting_over_ipv6(self):
        path = self.capture_path()
        rec = subprocess.Popen([CT_RECORD, "--no-status", "-w", path, "--", PYTHON, "-c",
                                RAW_SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        port = int(rec.stdout.readline())
        with socket.create_connection(("::1", port)) as c:
            c.sendall(b"q" * 1234)
            got = b""
            while len(got) < 4321:
                chunk = c.recv(65536)
                if not chunk:
                    break
                got += chunk
            client_port = c.getsockname()[1]
        _, stderr = rec.communicate(timeout=120)
        self.assertEqual(rec.returncode, 0, stderr)
        self.assert_unseen(stderr, r"/usr/bin/python3[.\d]*", f"from [::1]:{client_port}")
        _, rows = self.analyze(path)
        unseen = [r for r in rows if r["unseen"] == 1]
        self.assertEqual(len(unseen), 1, rows)
        r = unseen[0]
        self.assertEqual((r["origin"], r["family"], r["remote_addr"], r["remote_port"]),
                         ("accept", "ipv6", "::1", client_port))
        self.assertEqual((r["bytes_sent"], r["bytes_received"]), (4321, 1234))

    def test_wget_gnutls_has_nothing_unseen(self):
        # GnuTLS is probed (gnutls_record_send/recv): wget's HTTPS is seen.
        wget = shutil.which("wget")
        if not wget:
            self.skipTest("wget is not installed (tools/install-deps.sh installs it)")
        s = self.server
        cap, proc = self.record([wget, "-q", "--ca-certificate", s.cert, "-O", "/dev/null",
                                 f"{s.url}/bytes/5000"])
        self.assertIn("nothing lost", proc.stderr)
        self.assertNotIn("no probe could read", proc.stderr)
        self.assert_matches_server(cap, 1)
        summary, rows = self.analyze(cap.path)
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual((rows[0]["tls_seen"], rows[0]["unseen"]), (1, 0))
        self.assertEqual((rows[0]["remote_addr"], rows[0]["remote_port"]), ("127.0.0.1", s.port))
        self.assertIn("Unseen TCP traffic (connections no TLS probe could read):\n  (none)",
                      summary)

    def test_wget_plain_http_says_gnutls_is_probed(self):
        # The same GnuTLS program over plain HTTP: unseen, and the reason does not claim
        # that GnuTLS is unsupported.
        wget = shutil.which("wget")
        if not wget:
            self.skipTest("wget is not installed (tools/install-deps.sh installs it)")
        server = PlainTcpServer()
        try:
            cap, proc = self.record([wget, "-q", "--tries=1", "--post-data=" + "x" * 1000,
                                     "-O", "/dev/null", f"http://127.0.0.1:{server.port}/"],
                                    expect_rc=None)
        finally:
            server.stop()
        self.assert_unseen(proc.stderr, re.escape(os.path.realpath(wget)),
                           f"to 127.0.0.1:{server.port}",
                           "it uses GnuTLS, whose gnutls_record_send/recv are probed: plain TCP")
        self.assertNotIn("not supported", proc.stderr)
        summary, rows = self.analyze(cap.path)
        unseen = [r for r in rows if r["unseen"] == 1]
        self.assertEqual(len(unseen), 1, rows)
        # wget peeks (recv MSG_PEEK) at the answer before reading it: the syscall totals
        # count the peeked bytes too.
        self.assertGreaterEqual(unseen[0]["bytes_received"], 3000)
        self.assertRegex(summary, r"warning \(recorder\): unseen traffic: pid \d+ /usr/bin/wget: "
                         r"1 connection .*GnuTLS, whose")

    def test_go_crypto_tls_client_is_seen(self):
        if not os.path.exists(GO):
            self.skipTest(f"no Go toolchain at {GO} (Debian's golang-1.19-go; set CT_TEST_GO)")
        src = os.path.join(self.tmp, "client.go")
        with open(src, "w") as f:
            f.write(GO_CLIENT)
        binary = os.path.join(self.tmp, "goclient")
        env = dict(os.environ, GOCACHE=os.path.join(self.tmp, "gocache"), GO111MODULE="off",
                   GOPATH=os.path.join(self.tmp, "gopath"), CGO_ENABLED="0")
        build = subprocess.run([GO, "build", "-o", binary, src], capture_output=True, text=True,
                               env=env, timeout=600)
        self.assertEqual(build.returncode, 0, build.stderr)
        s = self.server
        cap, proc = self.record([binary, s.cert, f"{s.url}/bytes/3000"])
        self.assertIn("200 3000", proc.stdout)
        # Go's crypto/tls is probed (test_go.py): its connection is seen, not unseen.
        self.assertIn("nothing lost", proc.stderr)
        self.assertNotIn("UNSEEN", proc.stderr)
        summary, rows = self.analyze(cap.path)
        self.assertEqual([r for r in rows if r["unseen"] == 1], [], rows)
        seen = [r for r in rows if r["remote_port"] == s.port]
        self.assertEqual(len(seen), 1, rows)
        self.assertGreater(seen[0]["bytes_received"], 3000)
        self.assert_matches_server(cap, 1)

    def test_curl_has_nothing_unseen(self):
        s = self.server
        cap, proc = self.record(["curl", "-sS", "--cacert", s.cert, "-o", "/dev/null",
                                 f"{s.url}/bytes/4096"])
        self.assertIn("nothing lost", proc.stderr)
        self.assertNotIn("UNSEEN", proc.stderr)
        self.assert_matches_server(cap, 1)
        summary, rows = self.analyze(cap.path)
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual((rows[0]["tls_seen"], rows[0]["unseen"]), (1, 0))
        self.assertEqual(rows[0]["remote_port"], s.port)
        self.assertIn("Unseen TCP traffic (connections no TLS probe could read):\n  (none)",
                      summary)

    def record_plain_client_with_p(self, script, open_before=False):
        """Runs the python `script` (argv: a PlainTcpServer's port, a path P) and records
        it with `ct-record -p`, once P.open exists if `open_before`; then creates P.go
        and stops recording when the client has created P. Its one connection must be
        reported unseen. Returns (ct-record's stderr, capture path, server port)."""
        server = PlainTcpServer()
        ready = os.path.join(self.tmp, "sent")
        client = subprocess.Popen([PYTHON, "-c", script, str(server.port), ready])
        try:
            if open_before:
                self.assertTrue(wait_for(lambda: os.path.exists(ready + ".open"), timeout=30))
            rec, path = self.record_pid(client.pid, extra=("--wait",))
            open(ready + ".go", "w").close()
            self.assertTrue(wait_for(lambda: os.path.exists(ready), timeout=30))
            self.assertEqual(terminate(rec), 0)
            stderr = rec.stderr.read()
        finally:
            client.kill()
            client.wait()
            server.stop()
        self.assert_unseen(stderr, r"/usr/bin/python3[.\d]*", f"to 127.0.0.1:{server.port}")
        return stderr, path, server.port

    def test_connection_still_open_when_recording_stops(self):
        stderr, path, _ = self.record_plain_client_with_p(
            "import socket, sys, time\n"
            "while not __import__('os').path.exists(sys.argv[2] + '.go'):\n"
            "    time.sleep(0.02)\n"
            "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
            "s.sendall(b'a' * 777)\n"
            "open(sys.argv[2], 'w').close()\n"
            "time.sleep(600)\n")
        self.assertIn("777 B sent", stderr)
        _, rows = self.analyze(path)
        self.assertEqual([(r["end_reason"], r["bytes_sent"], r["unseen"]) for r in rows],
                         [("open-at-end", 777, 1)], rows)

    def test_connection_open_before_recording_with_p(self):
        # The connection is open (and its first 100 B sent) before recording starts.
        stderr, path, port = self.record_plain_client_with_p(
            "import os, socket, sys, time\n"
            "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
            "s.sendall(b'b' * 100)\n"
            "open(sys.argv[2] + '.open', 'w').close()\n"
            "while not os.path.exists(sys.argv[2] + '.go'):\n"
            "    time.sleep(0.02)\n"
            "s.sendall(b'a' * 900)\n"
            "open(sys.argv[2], 'w').close()\n"
            "time.sleep(600)\n", open_before=True)
        self.assertIn("900 B sent", stderr)  # what it sent while recorded
        _, rows = self.analyze(path)
        self.assertEqual([(r["origin"], r["end_reason"], r["bytes_sent"], r["unseen"],
                           r["remote_port"]) for r in rows],
                         [("already-open", "open-at-end", 900, 1, port)], rows)

    def test_probed_python_and_node_have_nothing_unseen(self):
        # node's sockets are found by their ciphertext (memory BIOs, docs/recorder.md).
        s = self.server
        for name, command in (("python.ctz", [PYTHON, "-c", PYTHON_REQUESTS, s.cert, str(s.port)]),
                              ("node.ctz", ["/usr/bin/node", "-e", NODE_REQUESTS, s.cert,
                                            str(s.port)])):
            with self.subTest(client=name):
                cap, proc = self.record(command, name=name)
                self.assertIn("nothing lost", proc.stderr)
                self.assertNotIn("UNSEEN", proc.stderr)
                _, rows = self.analyze(cap.path)
                mine = [r for r in rows if r["remote_port"] == s.port]
                self.assertEqual([(r["tls_seen"], r["unseen"]) for r in mine], [(1, 0)], rows)


if __name__ == "__main__":
    unittest.main()

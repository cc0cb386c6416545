"""Go programs: crypto/tls plaintext recorded from (*tls.Conn).Write/Read, located in
the pclntab, with returns probed on the RET instructions. The clients are built from
tests/go/https_client.go by golang-1.19 (tests/go/CMakeLists.txt): with symbols and
cgo (dynamically linked), and stripped (-s -w) and static (CGO_ENABLED=0).

Run by hand with CT_GO_CLIENT_DIR=build/tests/go as well as the harness's variables."""
import os
import shlex
import shutil
import struct
import subprocess
import tempfile
import unittest

from harness import RecordTest

HERE = os.path.dirname(os.path.abspath(__file__))
GO_CLIENT_DIR = os.environ.get("CT_GO_CLIENT_DIR",
                               os.path.join(HERE, "..", "..", "build", "tests", "go"))


def go_client(name):
    path = os.path.join(GO_CLIENT_DIR, name)
    if not os.path.exists(path):
        raise unittest.SkipTest(f"{path} not built (no Go toolchain at configure time)")
    return path


# An HTTP/2 server (node's http2, not traced): GET /h2/N answers N deterministic bytes.
NODE_H2_SERVER = r"""
const http2 = require('http2'), fs = require('fs');
const [key, cert] = process.argv.slice(1);
const server = http2.createSecureServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)},
  (req, res) => {
    const n = parseInt(req.url.split('/')[2] || '0');
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = (i * 7 + 3) % 251;
    res.writeHead(200, {'content-type': 'application/octet-stream'});
    res.end(body);
  });
server.listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
"""


def h2_frames(stream):
    """(type, flags, stream id, payload) of each frame after the client preface, if any."""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    pos = len(preface) if stream.startswith(preface) else 0
    frames = []
    while pos + 9 <= len(stream):
        length = int.from_bytes(stream[pos:pos + 3], "big")
        ftype, flags = stream[pos + 3], stream[pos + 4]
        sid = struct.unpack(">I", stream[pos + 5:pos + 9])[0] & 0x7fffffff
        frames.append((ftype, flags, sid, stream[pos + 9:pos + 9 + length]))
        pos += 9 + length
    return frames, pos == len(stream)


class GoClients(RecordTest):
    def record_go(self, name, size, connections, extra=()):
        client = go_client(name)
        cap, proc = self.record([client, self.server.cert, str(self.server.port), str(size),
                                 str(connections)], extra=extra)
        self.assertIn(f"OK {connections}", proc.stdout)
        self.assertRegex(proc.stderr, rf"probing \S*{name} \[go-pclntab\]: "
                                      r"crypto/tls\.\(\*Conn\)\.Write@")
        return cap, proc

    def assert_go_connections(self, cap, connections, size):
        self.assert_matches_server(cap, connections)
        for conn in cap.with_data():
            self.assertEqual(conn["socket_origin"], "go-conn")
            self.assertEqual(conn["remote_addr"], "127.0.0.1")
            self.assertTrue(conn["write"].startswith(b"GET /bytes/"))
            self.assertIn(b"POST /echo HTTP/1.1\r\n", conn["write"])
            self.assertTrue(conn["closed"], "(*Conn).Close ends the connection")
            self.assertGreater(len(conn["read"]), size)

    def test_stripped_static_client_is_byte_exact(self):
        cap, _ = self.record_go("go_https_client_static", 100000, 3)
        self.assert_go_connections(cap, 3, 100000)

    def test_client_with_symbols_is_byte_exact(self):
        cap, _ = self.record_go("go_https_client", 100000, 2)
        self.assert_go_connections(cap, 2, 100000)

    def test_stripped_dynamic_client_is_byte_exact(self):
        cap, _ = self.record_go("go_https_client_stripped", 5000, 2)
        self.assert_go_connections(cap, 2, 5000)

    def test_4mib_response_and_2mib_request(self):
        # Calls larger than one 64 KiB data event: io.ReadAll's buffers, net/http's body
        # writes; the payload is split into chunks and reassembled in order.
        cap, _ = self.record_go("go_https_client_static", 4 << 20, 1)
        self.assert_go_connections(cap, 1, 4 << 20)
        self.assertGreater(len(cap.with_data()[0]["write"]), 2 << 20)

    def test_50_sequential_connections_stay_distinct(self):
        # Each *tls.Conn is freed and its address may be reused by the next one: Close
        # ends a connection, so no two are merged.
        cap, _ = self.record_go("go_https_client_static", 1000, 50)
        self.assert_go_connections(cap, 50, 1000)
        self.assertEqual(len({c["gen"] for c in cap.with_data()}), 50)
        for c in cap.with_data():
            self.assertEqual(c["write"].count(b"GET /bytes/"), 1)

    def test_direct_tls_client_without_net_http(self):
        # tls.Client on a net.Dial'ed socket; the handshake runs inside the first Write.
        client = go_client("go_https_client_static")
        cap, proc = self.record([client, self.server.cert, str(self.server.port), "direct"])
        self.assertIn("OK direct 1100", proc.stdout)
        self.assert_matches_server(cap, 1)
        conn = cap.with_data()[0]
        self.assertTrue(conn["write"].startswith(b"GET /bytes/1000 HTTP/1.1\r\n"))
        self.assertEqual(conn["socket_origin"], "go-conn")

    def test_http2_goes_through_the_same_calls(self):
        # net/http negotiates h2 by ALPN and frames it through the same *tls.Conn Write
        # and Read: the capture holds the client preface and every frame, and the DATA
        # frames of the response reassemble into the body the server sent.
        client = go_client("go_https_client_static")
        node = shutil.which("node") or "/usr/bin/node"
        if not os.path.exists(node):
            self.skipTest("node is not installed (the HTTP/2 server)")
        srv = subprocess.Popen([node, "-e", NODE_H2_SERVER, self.server.key, self.server.cert],
                               stdout=subprocess.PIPE, text=True)
        try:
            line = srv.stdout.readline()
            self.assertTrue(line.startswith("PORT "), line)
            port = line.split()[1]
            size = 300000
            cap, proc = self.record([client, self.server.cert, port, "h2", f"/h2/{size}"])
        finally:
            srv.kill()
            srv.wait()
        self.assertIn(f"OK h2 {size}", proc.stdout)
        self.assertEqual(cap.summary["lost_events"], 0)
        conns = cap.with_data()
        self.assertEqual(len(conns), 1)
        conn = conns[0]
        self.assertEqual(conn["write_gaps"], 0)
        self.assertEqual(conn["read_gaps"], 0)
        self.assertTrue(conn["write"].startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
        sent, sent_whole = h2_frames(conn["write"])
        got, got_whole = h2_frames(conn["read"])
        self.assertTrue(sent_whole and got_whole, "the streams end on frame boundaries")
        self.assertIn(1, [t for t, _, sid, _ in sent if sid == 1])  # HEADERS of stream 1
        body = b"".join(p for t, _, sid, p in got if t == 0 and sid == 1)  # DATA, stream 1
        self.assertEqual(body, bytes((i * 7 + 3) % 251 for i in range(size)))

    def test_go_program_executed_by_the_traced_tree_is_held_and_probed(self):
        # sh executes a Go program nobody examined up front: the exec is held until its
        # probes are in place, so its first connection is recorded.
        private = tempfile.mkdtemp(prefix="ct-go-", dir=self.tmp)
        agent = shutil.copy(go_client("go_https_client_static"),
                            os.path.join(private, "go-agent"))
        cmd = shlex.join([agent, self.server.cert, str(self.server.port), "2000", "1"])
        cap, proc = self.record(["sh", "-c", cmd], extra=("--no-system-libs",))
        self.assertIn("OK 1", proc.stdout)
        self.assertIn("held pid", proc.stderr)
        self.assertIn(f"while probing {agent}", proc.stderr)
        self.assertNotIn("ms after pid", proc.stderr)
        self.assert_go_connections(cap, 1, 2000)


if __name__ == "__main__":
    unittest.main()

"""Go programs: crypto/tls plaintext recorded from (*tls.Conn).Write/Read, located in
the pclntab, with returns probed on the RET instructions. The clients are built from
tests/go/https_client.go by golang-1.19 (tests/go/CMakeLists.txt): with symbols and
cgo (dynamically linked), and stripped (-s -w) and static (CGO_ENABLED=0).

Run by hand with CT_GO_CLIENT_DIR=build/tests/go as well as the harness's variables."""
import os
import shlex
import shutil
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

"""Real clients (curl, python3, node) talking HTTPS to a local server while
ct-record records them: the capture must equal what the server logged."""
import os
import unittest

from clients import (NODE_FETCH, NODE_REQUESTS, PYTHON_BIG, PYTHON_MANY_CONNECTIONS, PYTHON_REQUESTS,
                     PYTHON_RETRY_WRITE)
from harness import PYTHON, RecordTest


class Clients(RecordTest):
    def test_curl_keepalive_requests_are_byte_exact(self):
        s = self.server
        cap, _ = self.record(["curl", "-sS", "--cacert", s.cert, "-o", "/dev/null",
                              f"{s.url}/bytes/4096", "--next", "-sS", "--cacert", s.cert,
                              "-o", "/dev/null", "--data-binary", "curl says hi",
                              f"{s.url}/echo"])
        self.assert_matches_server(cap, 1)
        conn = cap.with_data()[0]
        self.assertTrue(conn["write"].startswith(b"GET /bytes/4096 HTTP/1.1\r\n"))
        self.assertIn(b"POST /echo HTTP/1.1\r\n", conn["write"])
        self.assertTrue(conn["from_start"], "SSL_new/handshake seen: the stream is complete")
        # The socket: a send that began with the ciphertext OpenSSL gave BIO_write.
        self.assertEqual(cap.socket_origins()[conn["gen"]], [(8, conn["local_port"])])
        self.assertEqual(conn["remote_addr"], "127.0.0.1")
        self.assertTrue(any(p["exe"].endswith("curl") for p in cap.processes))

    def test_python_ssl_module(self):
        cap, _ = self.record([PYTHON, "-c", PYTHON_REQUESTS, self.server.cert,
                              str(self.server.port)])
        self.assert_matches_server(cap, 1)
        self.assertIn(b"hello from python", cap.with_data()[0]["write"])

    def test_node_with_openssl_linked_in(self):
        cap, proc = self.record(["/usr/bin/node", "-e", NODE_REQUESTS, self.server.cert,
                                 str(self.server.port)])
        self.assertIn("/usr/bin/node", proc.stderr, "node's own OpenSSL must be probed")
        self.assert_matches_server(cap, 1)
        conn = cap.with_data()[0]
        self.assertIn(b"hello from node", conn["write"])
        self.assertTrue(conn["from_start"])
        # node feeds OpenSSL through memory BIOs and writes the ciphertext after the TLS
        # calls: the send that carries it is found by its first bytes.
        self.assertEqual(cap.socket_origins()[conn["gen"]], [(8, conn["local_port"])])

    def test_node_fetch_writes_from_a_read_callback(self):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=self.server.cert)
        cap, _ = self.record(["/usr/bin/node", "-e", NODE_FETCH, str(self.server.port), "60000"],
                             env=env)
        self.assert_matches_server(cap, 1)
        self.assertGreater(len(cap.with_data()[0]["write"]), 60000)

    def test_2mib_request_and_8mib_response(self):
        cap, _ = self.record([PYTHON, "-c", PYTHON_BIG, self.server.cert, str(self.server.port),
                              str(2 << 20), str(8 << 20)])
        self.assert_matches_server(cap, 1)
        conn = cap.with_data()[0]
        self.assertGreater(len(conn["write"]), 2 << 20)
        self.assertGreater(len(conn["read"]), 8 << 20)

    def test_200_sequential_connections_stay_distinct(self):
        cap, _ = self.record([PYTHON, "-c", PYTHON_MANY_CONNECTIONS, self.server.cert,
                              str(self.server.port), "200"])
        self.assert_matches_server(cap, 200)
        gens = {c["gen"] for c in cap.with_data()}
        self.assertEqual(len(gens), 200)
        # Each connection carries exactly one request (no two merged).
        for c in cap.with_data():
            self.assertEqual(c["write"].count(b"GET /bytes/"), 1)

    def test_retried_ssl_write_is_recorded_once(self):
        cap, proc = self.record([PYTHON, "-c", PYTHON_RETRY_WRITE, self.server.cert,
                                 str(self.server.port)])
        retries = int(proc.stdout.split("RETRIES ")[1])
        self.assertGreater(retries, 0, "the client never hit WANT_WRITE: the test proves nothing")
        self.assert_matches_server(cap, 1)


if __name__ == "__main__":
    unittest.main()

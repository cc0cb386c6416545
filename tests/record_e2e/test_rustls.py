"""rustls: a client whose TLS is rustls (tests/rustls, rustls 0.20 from Debian's crates,
built with and without symbols) is named as unseen, not recorded in silence: ct has no
rustls probes (docs/agents-tls.md, "rustls" says why). ct-record's `NOT seen:` line,
its UNSEEN summary, --probe-report and a refused --binary name the file and rustls-0.20.8;
the capture holds no plaintext of those connections although the server logged them
complete.

Run by hand with CT_RUSTLS_CLIENT_DIR=build/tests/rustls as well as the harness's
variables."""
import os
import re
import subprocess
import unittest

from harness import CT_RECORD, LogServer, RecordTest
from agent_support import make_ca_and_leaf

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.environ.get("CT_RUSTLS_CLIENT_DIR",
                            os.path.join(HERE, "..", "..", "build", "tests", "rustls"))
VERSION = "rustls-0.20.8"


def rustls_client(name):
    path = os.path.join(CLIENT_DIR, name)
    if not os.path.exists(path):
        raise unittest.SkipTest(f"{path} not built (no cargo or librust-rustls-dev at "
                                "configure time)")
    return path


class RustlsClient(RecordTest):
    def setUp(self):
        super().setUp()
        # rustls (webpki) refuses a self-signed leaf that is its own CA: serve a leaf
        # signed by a CA instead of the harness's certificate.
        self.server.stop()
        self.server.proc.stdout.close()
        certs = make_ca_and_leaf(self.tmp)
        self.ca = certs["ca"]
        self.server = LogServer(self.tmp, cert=certs["chain"], key=certs["key"])

    def check_named_unseen(self, name):
        client = rustls_client(name)
        size, connections = 20000, 2
        capture, proc = self.record([client, self.ca, str(self.server.port), str(size),
                                     str(connections)])
        # The client ran to the end: both requests of each connection were answered.
        self.assertIn(f"OK {connections}", proc.stdout)
        logged = self.server.connection_list(expect=connections)
        self.assertEqual(len(logged), connections)
        for _, entry in logged:
            self.assertGreater(len(entry["sent"]), size)
            self.assertGreater(len(entry["recv"]), size // 2)
        # Nothing of them was captured, and ct-record says so, naming rustls and the file.
        ports = {port for port, _ in logged}
        self.assertEqual([c for c in capture.with_data() if c["local_port"] in ports], [])
        self.assertIn(f"NOT seen: {client} contains {VERSION}, and ct has no probes for rustls",
                      proc.stderr)
        self.assertRegex(
            proc.stderr,
            rf"UNSEEN:[\s\S]*{re.escape(name)}: {connections} connections to 127\.0\.0\.1:"
            rf"{self.server.port} that no probe could read \({re.escape(client)} contains "
            rf"{re.escape(VERSION)}, which ct does not probe: TLS through rustls is not recorded")
        report = subprocess.run([CT_RECORD, "--probe-report", client], capture_output=True,
                                text=True, timeout=120)
        self.assertIn(f"NOT seen: {VERSION} is linked in and ct has no probes for it",
                      report.stdout)
        # Scripts can trust the exit code: nothing of this binary's TLS would be recorded.
        self.assertEqual(report.returncode, 1, report.stdout)
        # Asked to probe it with --binary, ct-record refuses and says why.
        refused = subprocess.run([CT_RECORD, "--no-status", "--binary", client, "-w",
                                  self.capture_path("refused.ctz"), "--", "true"],
                                 capture_output=True, text=True, timeout=120)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn(f"--binary {client}: no TLS functions found there (it contains {VERSION}, "
                      "which ct has no probes for)", refused.stderr)

    def test_client_with_symbols_is_named_unseen(self):
        self.check_named_unseen("rustls_https_client")

    def test_stripped_client_is_named_unseen(self):
        self.check_named_unseen("rustls_https_client_stripped")


if __name__ == "__main__":
    unittest.main()

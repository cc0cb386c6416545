"""GnuTLS clients (Debian's wget, git over HTTPS through libcurl-gnutls, libcurl-gnutls
itself, and GnuTLS called directly) talking HTTPS to a local server while ct-record
records them: the capture must equal what the server logged, byte for byte."""
import os
import re
import shutil
import subprocess
import unittest

from clients import PYTHON_CURL_GNUTLS, PYTHON_GNUTLS_OPENSSL, PYTHON_GNUTLS_RETRY
from harness import PYTHON, LogServer, RecordTest

LIBGNUTLS = "libgnutls.so.30"


def git(*args, cwd=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="ct", GIT_AUTHOR_EMAIL="ct@example.invalid",
               GIT_COMMITTER_NAME="ct", GIT_COMMITTER_EMAIL="ct@example.invalid",
               GIT_CONFIG_NOSYSTEM="1", HOME=cwd or "/tmp")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True)


class GnuTLS(RecordTest):
    def setUp(self):
        super().setUp()
        # A server that also answers git's smart HTTP from a repository made here.
        self.server.stop()
        self.server.proc.stdout.close()
        self.git_root = os.path.join(self.tmp, "git")
        os.makedirs(self.git_root)
        self.server = LogServer(self.tmp, extra=("--git-root", self.git_root))

    def assert_probed_gnutls(self, stderr):
        self.assertRegex(stderr, rf"probing \S*{re.escape(LIBGNUTLS)}\S* \[GnuTLS, dynsym[^\]]*\]: "
                         r"gnutls_record_send@0x[0-9a-f]+ .*gnutls_record_recv@0x")
        self.assertNotIn("no probe could read", stderr)

    def assert_all_logged_connections_captured(self, cap):
        """Every connection the server logged is in the capture, byte for byte."""
        data = cap.with_data()
        self.assertGreater(len(data), 0, "nothing captured")
        self.assert_matches_server(cap, len(data))
        for c in data:
            self.assertTrue(c["from_start"], "gnutls_handshake seen: the stream is complete")
            self.assertEqual(c["socket_origin"], "in-call")
            self.assertEqual(c["remote_addr"], "127.0.0.1")

    def test_wget_two_downloads(self):
        wget = shutil.which("wget")
        if not wget:
            self.skipTest("wget is not installed (tools/install-deps.sh installs it)")
        s = self.server
        cap, proc = self.record([wget, "-q", "--ca-certificate", s.cert, "-O", "/dev/null",
                                 f"{s.url}/bytes/100000", f"{s.url}/bytes/777"])
        self.assert_probed_gnutls(proc.stderr)
        self.assert_all_logged_connections_captured(cap)
        write = b"".join(c["write"] for c in cap.with_data())
        self.assertIn(b"GET /bytes/100000 HTTP/1.1\r\n", write)
        self.assertIn(b"GET /bytes/777 HTTP/1.1\r\n", write)
        self.assertGreater(sum(len(c["read"]) for c in cap.with_data()), 100777)
        self.assertTrue(any(p["exe"].endswith("wget") for p in cap.processes))

    def make_repository(self):
        work = os.path.join(self.tmp, "work")
        os.makedirs(work)
        git("init", "-q", "-b", "main", cwd=work)
        for i in range(3):
            with open(os.path.join(work, f"file{i}.txt"), "w") as f:
                f.write(f"content {i}\n" * (1000 * (i + 1)))
            git("add", ".", cwd=work)
            git("commit", "-q", "-m", f"commit {i}", cwd=work)
        bare = os.path.join(self.git_root, "repo.git")
        git("clone", "-q", "--bare", work, bare, cwd=self.tmp)
        return git("rev-parse", "HEAD", cwd=work).stdout.strip()

    def test_git_ls_remote_and_clone(self):
        head = self.make_repository()
        s = self.server
        url = f"{s.url}/repo.git"
        env = dict(os.environ, GIT_SSL_CAINFO=s.cert, GIT_CONFIG_NOSYSTEM="1",
                   HOME=self.tmp, GIT_TERMINAL_PROMPT="0")
        cap, proc = self.record(["sh", "-c", f"git ls-remote {url} && "
                                 f"git clone -q {url} {self.tmp}/clone"], env=env)
        self.assertIn(head, proc.stdout)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "clone", "file2.txt")))
        self.assert_probed_gnutls(proc.stderr)
        self.assert_all_logged_connections_captured(cap)
        write = b"".join(c["write"] for c in cap.with_data())
        read = b"".join(c["read"] for c in cap.with_data())
        self.assertIn(b"GET /repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\n", write)
        self.assertIn(b"POST /repo.git/git-upload-pack HTTP/1.1\r\n", write)
        self.assertIn(head.encode(), read)
        self.assertIn(b"PACK", read, "the clone's pack file is in the capture")
        self.assertTrue(any("git-remote-http" in p["exe"] for p in cap.processes), cap.processes)

    def test_curl_gnutls_loaded_later_is_held_and_probed(self):
        s = self.server
        # --no-system-libs: libgnutls is not probed up front; python maps it only when
        # ctypes loads libcurl-gnutls, and must be held until its probes are in place.
        cap, proc = self.record([PYTHON, "-c", PYTHON_CURL_GNUTLS, s.cert, str(s.port)],
                                extra=("--no-system-libs",))
        self.assertRegex(proc.stderr, rf"held pid \d+ for [0-9.]+ ms while probing "
                         rf"\S*{re.escape(LIBGNUTLS)}")  # (held for the library, or for a link to it)
        self.assert_probed_gnutls(proc.stderr)
        self.assert_matches_server(cap, 1)
        conn = cap.with_data()[0]
        self.assertTrue(conn["write"].startswith(b"GET /bytes/70000 HTTP/1.1\r\n"))
        self.assertIn(b"POST /echo HTTP/1.1\r\n", conn["write"])
        self.assertTrue(conn["write"].endswith(b"curl-gnutls says hi " * 250))
        self.assertTrue(conn["from_start"])
        self.assertEqual(conn["socket_origin"], "in-call")

    def retried_sends(self, mode):
        s = self.server
        cap, proc = self.record([PYTHON, "-c", PYTHON_GNUTLS_RETRY, str(s.port), mode])
        retries = int(proc.stdout.split("RETRIES ")[1])
        self.assertGreater(retries, 0, "the client never hit GNUTLS_E_AGAIN: the test proves "
                           "nothing")
        self.assert_matches_server(cap, 1)
        conn = cap.with_data()[0]
        self.assertGreater(len(conn["write"]), 3 << 20)
        self.assertTrue(conn["closed"], "gnutls_deinit ends the connection")

    def test_send_retried_with_the_same_data_is_recorded_once(self):
        self.retried_sends("same")

    def test_send_retried_with_null_is_recorded_from_the_first_call(self):
        self.retried_sends("null")

    def test_openssl_api_over_gnutls_records_each_write_once(self):
        # libgnutls-openssl's SSL_write calls gnutls_record_send: both are probed, the
        # bytes must be recorded once, under the SSL*.
        if not os.path.exists("/usr/lib/x86_64-linux-gnu/libgnutls-openssl.so.27"):
            self.skipTest("libgnutls-openssl27 is not installed")
        s = self.server
        cap, proc = self.record([PYTHON, "-c", PYTHON_GNUTLS_OPENSSL, str(s.port)])
        self.assertIn("libgnutls-openssl.so.27", proc.stderr)
        logged = s.connections(expect=1)
        self.assertEqual(len(logged), 1)
        request = next(iter(logged.values()))["recv"]
        writes = [c for c in cap.connections if c["write"]]
        self.assertEqual(len(writes), 1, [(c["gen"], c["ssl"]) for c in cap.connections])
        self.assertEqual(writes[0]["write"], request)
        self.assertEqual(writes[0]["write_gaps"], 0)
        read = int(proc.stdout.split("READ ")[1])
        self.assertEqual(sum(len(c["read"]) for c in cap.connections), read)


if __name__ == "__main__":
    unittest.main()

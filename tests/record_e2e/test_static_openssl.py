"""Stripped static OpenSSL end to end (docs/agents-tls.md, docs/locator.md):

- a small client linked with Debian's libssl.a/libcrypto.a and stripped, built here;
- OpenAI Codex CLI (a static Rust binary, vendored OpenSSL 3.6 and rustls) against the
  mock's Responses API: byte-exact through OpenSSL in its default configuration, and
  named as unseen rustls traffic when SSL_CERT_FILE switches it to rustls;
- GitHub Copilot CLI (node SEA whose runtime.node holds OpenSSL 3.5 and rustls) with a
  bring-your-own-key provider pointing at the mock: byte-exact.

The agents come from npm (pinned versions), cached outside the repository
(${CT_TEST_CACHE:-/var/cache/ct-test}); those tests skip only when the npm registry
cannot be reached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CT_RECORD, PYTHON, SERVERS, Capture, RecordTest, require_root

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("CT_TEST_CACHE", "/var/cache/ct-test")
CODEX_VERSION = "0.171.0"
COPILOT_VERSION = "1.0.102"
CLIENT_SRC = os.path.join(HERE, "..", "locate", "fixtures", "static_openssl_client.c")
LIBDIR = "/usr/lib/x86_64-linux-gnu"


def npm_install(name, version):
    """Installs NAME@VERSION (with its platform package) into the cache; its directory."""
    dest = os.path.join(CACHE, "npm-" + name.replace("/", "+") + "-" + version)
    marker = os.path.join(dest, ".installed")
    if os.path.exists(marker):
        return dest
    os.makedirs(dest, exist_ok=True)
    proc = subprocess.run(["npm", "install", "--prefix", dest, "--no-audit", "--no-fund",
                           "--fetch-retries=1", "--fetch-timeout=60000", f"{name}@{version}"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise unittest.SkipTest(f"npm registry unreachable: {proc.stderr.strip()[:200]}")
    open(marker, "w").close()
    return dest


def make_ca_and_leaf(directory):
    """A CA and a server certificate it signed (rustls rejects a CA used as the leaf)."""
    def run(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=directory)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=ct-test-ca")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
        "leaf.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf")
    with open(os.path.join(directory, "chain.pem"), "w") as out:
        for name in ("leaf.pem", "ca.pem"):
            with open(os.path.join(directory, name)) as f:
                out.write(f.read())
    # A hashed directory for OpenSSL's SSL_CERT_DIR.
    cadir = os.path.join(directory, "cadir")
    os.makedirs(cadir)
    shutil.copy(os.path.join(directory, "ca.pem"), cadir)
    run("openssl", "rehash", cadir)
    return {"chain": os.path.join(directory, "chain.pem"), "key": os.path.join(directory, "key.pem"),
            "ca": os.path.join(directory, "ca.pem"), "cadir": cadir}


class MockLlm:
    def __init__(self, directory, certs):
        self.log_dir = os.path.join(directory, "mock-log")
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(SERVERS, "mock_llm_server.py"), "--cert", certs["chain"],
             "--key", certs["key"], "--log-dir", self.log_dir, "--scenario", "text"],
            stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[-1])

    def connections(self):
        with open(os.path.join(self.log_dir, "index.json")) as f:
            return json.load(f)["connections"]

    def read(self, name):
        with open(os.path.join(self.log_dir, name), "rb") as f:
            return f.read()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class StaticClient(RecordTest):
    """The stripped static OpenSSL 3.0 client: SSL_write, SSL_write_ex, SSL_read and
    SSL_read_ex all go through the two internal functions the locator hooks."""

    def test_stripped_static_client_is_byte_exact(self):
        if not (os.path.exists(f"{LIBDIR}/libssl.a") and os.path.exists(f"{LIBDIR}/libcrypto.a")):
            self.skipTest("needs libssl.a and libcrypto.a (Debian: libssl-dev)")
        client = os.path.join(self.tmp, "client")
        subprocess.run(["gcc", "-O2", "-o", client + ".full", CLIENT_SRC, f"{LIBDIR}/libssl.a",
                        f"{LIBDIR}/libcrypto.a", "-ldl", "-pthread"], check=True)
        subprocess.run(["strip", "--strip-all", "-o", client, client + ".full"], check=True)
        capture, proc = self.record([client, "127.0.0.1", str(self.server.port), "/echo", "6",
                                     "70000"])
        self.assertIn("[openssl-structure]", proc.stderr)
        self.assert_matches_server(capture, 1)
        # 6 requests of 70000 body bytes, each echoed back.
        self.assertGreater(len(capture.with_data()[0]["write"]), 6 * 70000)


class Agents(unittest.TestCase):
    maxDiff = 2000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-agents-")
        self.certs = make_ca_and_leaf(self.tmp)
        self.mock = MockLlm(self.tmp, self.certs)
        self.addCleanup(self.mock.stop)
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def base_env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS",
                            "CODEX_CA_CERTIFICATE")}
        env["HOME"] = self.home
        env["CT_CACHE_DIR"] = os.path.join(self.tmp, "locator-cache")
        return env

    def record(self, name, argv, env):
        path = os.path.join(self.tmp, name + ".ctz")
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", *argv],
                              capture_output=True, text=True, env=env, timeout=600, cwd=self.home)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        return path, proc

    def assert_api_calls_byte_exact(self, path, api_path):
        cap = Capture(path, os.path.dirname(path))
        calls = 0
        for c in self.mock.connections():
            if not any(x.get("target", "").endswith(api_path) for x in c["exchanges"]):
                continue
            calls += 1
            matches = [k for k in cap.connections if k["local_port"] == c["peer_port"]]
            self.assertEqual(len(matches), 1, f"no captured connection for port {c['peer_port']}")
            k = matches[0]
            self.assertEqual(k["write"], self.mock.read(c["recv_file"]), "request bytes differ")
            self.assertEqual(k["read"], self.mock.read(c["sent_file"]), "response bytes differ")
            self.assertEqual(k["write_gaps"] + k["read_gaps"], 0)
        self.assertGreaterEqual(calls, 1, "the agent made no API call to the mock")
        self.assertEqual(cap.summary["lost_events"], 0)
        return cap

    def codex(self):
        root = npm_install("@openai/codex", CODEX_VERSION)
        binary = os.path.join(root, "node_modules", "@openai", "codex-linux-x64", "vendor",
                              "x86_64-unknown-linux-musl", "bin", "codex")
        if not os.path.exists(binary):
            self.skipTest(f"no linux-x64 codex binary in {root}")
        os.makedirs(os.path.join(self.home, ".codex"), exist_ok=True)
        with open(os.path.join(self.home, ".codex", "config.toml"), "w") as f:
            f.write('model = "gpt-mock"\nmodel_provider = "mock"\n[model_providers.mock]\n'
                    f'name = "mock"\nbase_url = "https://127.0.0.1:{self.mock.port}/v1"\n'
                    'env_key = "OPENAI_API_KEY"\nwire_api = "responses"\n'
                    'supports_websockets = false\n')
        return [binary, "exec", "--skip-git-repo-check", "say hi"]

    def test_codex_default_tls_is_openssl_and_byte_exact(self):
        argv = self.codex()
        # No SSL_CERT_FILE/CODEX_CA_CERTIFICATE: Codex builds its client with native-tls,
        # the vendored OpenSSL. The mock's CA is trusted through OpenSSL's SSL_CERT_DIR.
        env = self.base_env() | {"OPENAI_API_KEY": "sk-test", "SSL_CERT_DIR": self.certs["cadir"]}
        path, proc = self.record("codex", argv, env)
        self.assertRegex(proc.stderr, r"probing \S*codex \[openssl-structure\]: .*"
                                      r"ssl_read_internal@.*ssl_write_internal\+flags@")
        self.assert_api_calls_byte_exact(path, "/v1/responses")

    def test_codex_with_ssl_cert_file_uses_rustls_and_says_so(self):
        argv = self.codex()
        env = self.base_env() | {"OPENAI_API_KEY": "sk-test", "SSL_CERT_FILE": self.certs["ca"]}
        path, proc = self.record("codex-rustls", argv, env)
        api = [c for c in self.mock.connections()
               if any(x.get("target", "").endswith("/v1/responses") for x in c["exchanges"])]
        self.assertGreaterEqual(len(api), 1, "codex made no API call")
        cap = Capture(path, self.tmp)
        ports = {c["peer_port"] for c in api}
        self.assertFalse([k for k in cap.with_data() if k["local_port"] in ports],
                         "rustls traffic cannot have been captured")
        self.assertIn("contains rustls-0.23.46, and ct has no probes for rustls", proc.stderr)
        self.assertRegex(proc.stderr, r"UNSEEN:[\s\S]*codex: \d+ connections? to 127\.0\.0\.1:"
                                      rf"{self.mock.port} that no probe could read \(\S*codex "
                                      r"contains rustls-0\.23\.46, which ct does not probe")

    def test_copilot_byok_is_byte_exact(self):
        root = npm_install("@github/copilot", COPILOT_VERSION)
        binary = os.path.join(root, "node_modules", "@github", "copilot-linux-x64", "copilot")
        if not os.path.exists(binary):
            self.skipTest(f"no linux-x64 copilot binary in {root}")
        env = self.base_env() | {
            "COPILOT_PROVIDER_BASE_URL": f"https://127.0.0.1:{self.mock.port}/v1",
            "COPILOT_PROVIDER_API_KEY": "sk-test", "COPILOT_PROVIDER_TYPE": "openai",
            "COPILOT_MODEL": "gpt-mock", "COPILOT_OFFLINE": "1",
            "SSL_CERT_FILE": self.certs["ca"], "NODE_EXTRA_CA_CERTS": self.certs["ca"]}
        path, proc = self.record("copilot", [binary, "-p", "say hi", "--allow-all-tools"], env)
        # The API call goes through the OpenSSL inside runtime.node, not node's own.
        self.assertRegex(proc.stderr, r"probing \S*runtime\.node \[openssl-structure")
        cap = self.assert_api_calls_byte_exact(path, "/v1/chat/completions")
        self.assertTrue(any(k["comm"].startswith("copilot") for k in cap.with_data()))


if __name__ == "__main__":
    unittest.main()

"""Stripped static OpenSSL end to end (docs/agents-tls.md, docs/locator.md):

- a small client linked with Debian's libssl.a/libcrypto.a and stripped, built here;
- OpenAI Codex CLI (a static Rust binary, vendored OpenSSL 3.6 and rustls) against the
  mock's Responses API with a tool round-trip (its exec_command runs `cat notes.txt`):
  byte-exact through OpenSSL in its default configuration, decoded into llm_calls
  and llm_tool_calls; named as unseen rustls traffic when SSL_CERT_FILE switches it
  to rustls;
- GitHub Copilot CLI (node SEA whose runtime.node holds OpenSSL 3.5 and rustls) with a
  bring-your-own-key provider pointing at the mock, over Chat Completions (its
  default), the Responses API and Anthropic Messages, each with a tool round-trip
  (its glob tool): byte-exact and decoded.

The agents come from npm (pinned versions), installed outside the repository
(agent_support.py); those tests skip only when the npm registry cannot be reached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from agent_support import AgentChecks, MockLlm, npm_install
from harness import CT_RECORD, Capture, RecordTest, require_root

HERE = os.path.dirname(os.path.abspath(__file__))
# The newest releases on npm when these tests were written.
CODEX_VERSION = "0.171.0"
COPILOT_VERSION = "1.0.102"
CLIENT_SRC = os.path.join(HERE, "..", "locate", "fixtures", "static_openssl_client.c")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PROMPT = "list the files in this directory"
SECRET = "swordfish"


def platform_binary(package, version, platform_path):
    """The linux-x64 executable of an npm package whose platform build comes as an
    optional dependency (node_modules/PLATFORM_PATH); skips on other platforms."""
    package_json = npm_install(package, version, "package.json")
    modules = os.path.dirname(os.path.dirname(os.path.dirname(package_json)))
    binary = os.path.join(modules, platform_path)
    if not os.path.exists(binary):
        raise unittest.SkipTest(f"no linux-x64 build of {package} in {modules}")
    return binary


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


class Agents(AgentChecks, unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-agents-")
        self.home = os.path.join(self.tmp, "home")
        self.work = os.path.join(self.home, "work")
        os.makedirs(self.work)
        with open(os.path.join(self.work, "notes.txt"), "w") as f:
            f.write(SECRET + "\n")

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start_mock(self, scenario):
        # A CA and a leaf it signed: rustls (Codex with SSL_CERT_FILE) refuses a
        # self-signed certificate that is its own CA.
        mock = MockLlm(os.path.join(self.tmp, "mock"), scenario, ca=True)
        self.addCleanup(mock.stop)
        return mock

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
                              capture_output=True, text=True, env=env, timeout=600,
                              cwd=self.work, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        return path, proc

    def codex(self, mock):
        binary = platform_binary("@openai/codex", CODEX_VERSION,
                                 "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex")
        # A custom provider: 0.171.0 does not take OPENAI_BASE_URL for the model
        # provider, and without supports_websockets = false it first tries a WebSocket.
        os.makedirs(os.path.join(self.home, ".codex"), exist_ok=True)
        with open(os.path.join(self.home, ".codex", "config.toml"), "w") as f:
            f.write('model = "gpt-mock"\nmodel_provider = "mock"\n[model_providers.mock]\n'
                    f'name = "mock"\nbase_url = "https://127.0.0.1:{mock.port}/v1"\n'
                    'env_key = "OPENAI_API_KEY"\nwire_api = "responses"\n'
                    'supports_websockets = false\n')
        return [binary, "exec", "--skip-git-repo-check", PROMPT]

    def test_codex_tool_round_trip_is_byte_exact_and_decoded(self):
        mock = self.start_mock("tool-then-text")
        argv = self.codex(mock)
        # No SSL_CERT_FILE/CODEX_CA_CERTIFICATE: Codex builds its client with native-tls,
        # the vendored OpenSSL. The mock's CA is trusted through OpenSSL's SSL_CERT_DIR.
        env = self.base_env() | {"OPENAI_API_KEY": "sk-test-not-a-key", "SSL_CERT_DIR": mock.cadir}
        path, proc = self.record("codex", argv, env)
        self.assertRegex(proc.stderr, r"probing \S*codex \[openssl-structure\]: .*"
                                      r"ssl_read_internal@.*ssl_write_internal\+flags@")

        exchanges = self.check_capture_equals_mock(mock, path, may_leave_terminator=True)
        self.assertEqual(len(exchanges), 2, [x["target"] for x in exchanges])
        tool = exchanges[0]["llm"]["tool_calls"][0]
        self.assertEqual((tool["name"], tool["input"]), ("exec_command", {"cmd": "cat notes.txt"}))
        # Codex ran the command and sent its output back for the call's id.
        second = json.loads(mock.read(exchanges[1]["request_body_file"]))
        outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
        self.assertEqual([i["call_id"] for i in outputs], [tool["id"]])
        self.assertIn(SECRET, outputs[0]["output"])
        # The reasoning item went back too, with its encrypted content.
        self.assertTrue(any(i.get("type") == "reasoning" and i.get("encrypted_content")
                            for i in second["input"]))

        db = self.import_and_check_bodies(mock, path)
        rows = self.llm_rows(db)
        self.check_llm_rows(rows, exchanges, "openai", "responses", "/v1/responses")
        # The mock asked for the reasoning Codex requests, so these are not zero.
        self.assertTrue(all(r["reasoning_tokens"] > 0 and r["thinking_text"] for r in rows))
        self.check_tool_round_trip(db, exchanges, SECRET)
        self.check_one_conversation(db, rows, exchanges)
        self.assertIn(exchanges[1]["llm"]["text"], proc.stdout)

    def test_codex_with_ssl_cert_file_uses_rustls_and_says_so(self):
        mock = self.start_mock("text")
        argv = self.codex(mock)
        env = self.base_env() | {"OPENAI_API_KEY": "sk-test-not-a-key", "SSL_CERT_FILE": mock.cert}
        path, proc = self.record("codex-rustls", argv, env)
        api = [c for c in mock.settled()
               if any(x.get("target", "").endswith("/v1/responses") for x in c["exchanges"])]
        self.assertGreaterEqual(len(api), 1, "codex made no API call")
        cap = Capture(path, self.tmp)
        ports = {c["peer_port"] for c in api}
        self.assertFalse([k for k in cap.with_data() if k["local_port"] in ports],
                         "rustls traffic cannot have been captured")
        self.assertIn("contains rustls-0.23.46, and ct has no probes for rustls", proc.stderr)
        self.assertRegex(proc.stderr, r"UNSEEN:[\s\S]*codex: \d+ connections? to 127\.0\.0\.1:"
                                      rf"{mock.port} that no probe could read \(\S*codex "
                                      r"contains rustls-0\.23\.46, which ct does not probe")

    def copilot_round_trip(self, name, provider_env, model, provider, api, target,
                           may_leave_terminator=False):
        binary = platform_binary("@github/copilot", COPILOT_VERSION, "@github/copilot-linux-x64/copilot")
        mock = self.start_mock("tool-then-text")
        # Bring your own key: COPILOT_PROVIDER_BASE_URL switches it to the provider
        # and needs no GitHub sign-in; COPILOT_OFFLINE keeps it off the network.
        env = self.base_env() | {
            "COPILOT_PROVIDER_API_KEY": "sk-test-not-a-key", "COPILOT_MODEL": model,
            "COPILOT_OFFLINE": "1", "SSL_CERT_FILE": mock.cert, "NODE_EXTRA_CA_CERTS": mock.cert}
        for k, v in provider_env.items():
            env[k] = v.replace("{PORT}", str(mock.port))
        path, proc = self.record(name, [binary, "-p", PROMPT, "--allow-all-tools"], env)
        # The API calls go through the OpenSSL inside runtime.node, not node's own.
        self.assertRegex(proc.stderr, r"probing \S*runtime\.node \[openssl-structure")

        exchanges = self.check_capture_equals_mock(mock, path, may_leave_terminator)
        self.assertEqual(len(exchanges), 2, [x["target"] for x in exchanges])
        tool = exchanges[0]["llm"]["tool_calls"][0]
        self.assertEqual((tool["name"], tool["input"]), ("glob", {"pattern": "*"}))
        db = self.import_and_check_bodies(mock, path)
        rows = self.llm_rows(db)
        self.check_llm_rows(rows, exchanges, provider, api, target)
        self.check_tool_round_trip(db, exchanges, "notes.txt")
        self.check_one_conversation(db, rows, exchanges)
        self.assertIn(exchanges[1]["llm"]["text"], proc.stdout)
        self.assertTrue(any(k["comm"].startswith("copilot")
                            for k in Capture(path, self.tmp).with_data()))
        return rows

    def test_copilot_byok_chat_completions_tool_round_trip(self):
        # The "openai" provider's default wire API.
        self.copilot_round_trip("copilot-chat", {
            "COPILOT_PROVIDER_TYPE": "openai", "COPILOT_PROVIDER_WIRE_API": "completions",
            "COPILOT_PROVIDER_BASE_URL": "https://127.0.0.1:{PORT}/v1"},
            "gpt-mock", "openai", "chat.completions", "/v1/chat/completions",
            # It stops reading at data: [DONE], as Codex does at response.completed.
            may_leave_terminator=True)

    def test_copilot_byok_responses_tool_round_trip(self):
        rows = self.copilot_round_trip("copilot-responses", {
            "COPILOT_PROVIDER_TYPE": "openai", "COPILOT_PROVIDER_WIRE_API": "responses",
            "COPILOT_PROVIDER_BASE_URL": "https://127.0.0.1:{PORT}/v1"},
            "gpt-mock", "openai", "responses", "/v1/responses")
        # Copilot asks for reasoning: the mock answers with a reasoning item.
        self.assertTrue(all(r["reasoning_tokens"] > 0 for r in rows))

    def test_copilot_byok_anthropic_tool_round_trip(self):
        self.copilot_round_trip("copilot-anthropic", {
            "COPILOT_PROVIDER_TYPE": "anthropic",
            "COPILOT_PROVIDER_BASE_URL": "https://127.0.0.1:{PORT}"},
            "claude-sonnet-4-5", "anthropic", "messages", "/v1/messages")


if __name__ == "__main__":
    unittest.main()

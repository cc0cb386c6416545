"""The official SDKs end to end: OpenAI (Chat Completions and Responses),
Anthropic (Messages) and Google Gen AI (Gemini: streamed, JSON and countTokens)
for node, from npm, run by /usr/bin/node (node's OpenSSL) against the project's
mock LLM server over HTTPS, recorded by ct-record and imported by ct-analyze.

The packages come from npm, installed outside the repository (agent_support.py);
the test skips only when the npm registry cannot be reached.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from agent_support import NODE, AgentChecks, MockLlm, npm_install
from harness import CT_RECORD, require_root

# The newest releases on npm when this test was written.
SDKS = {"openai": "7.59.0", "@anthropic-ai/sdk": "1.14.0", "@google/genai": "3.3.0"}

CLIENT = r"""
const load = (name) => { const m = require(process.env[name]); return m.default ?? m; };
const OpenAI = load("OPENAI_PKG");
const Anthropic = load("ANTHROPIC_PKG");
const { GoogleGenAI } = require(process.env.GENAI_PKG);
const base = process.env.MOCK_URL;
(async () => {
  const openai = new OpenAI({ baseURL: base + "/v1", apiKey: "sk-test-not-a-key" });
  const chat = await openai.chat.completions.create({
    model: "gpt-sdk-chat", stream: true, stream_options: { include_usage: true },
    messages: [{ role: "user", content: "list the files" }],
    tools: [{ type: "function", function: { name: "Bash", parameters: { type: "object" } } }] });
  for await (const _ of chat) {}
  const responses = await openai.responses.create({ model: "gpt-sdk-responses", input: "hi", stream: true });
  for await (const _ of responses) {}
  const anthropic = new Anthropic({ baseURL: base, apiKey: "sk-ant-test-not-a-key" });
  await anthropic.messages.stream({ model: "claude-sdk", max_tokens: 64,
    messages: [{ role: "user", content: "hi" }] }).finalMessage();
  const ai = new GoogleGenAI({ apiKey: "test-key-not-real", httpOptions: { baseUrl: base } });
  const tools = [{ functionDeclarations: [{ name: "list_directory",
    parameters: { type: "OBJECT", properties: { dir_path: { type: "STRING" } }, required: ["dir_path"] } }] }];
  const stream = await ai.models.generateContentStream({ model: "gemini-sdk-stream",
    contents: "list the files", config: { tools } });
  for await (const _ of stream) {}
  await ai.models.generateContent({ model: "gemini-sdk-json", contents: "hi" });
  await ai.models.countTokens({ model: "gemini-sdk-count", contents: "hi" });
})().catch((e) => { console.error(e); process.exit(1); });
"""


class Sdks(AgentChecks, unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-sdks-")

    def tearDown(self):
        if not os.environ.get("CT_KEEP_TEST_FILES"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_openai_anthropic_and_genai_sdks(self):
        packages = {name: os.path.dirname(npm_install(name, version, "package.json"))
                    for name, version in SDKS.items()}
        mock = MockLlm(os.path.join(self.tmp, "sdks"), "tool-then-text")
        self.addCleanup(mock.stop)
        script = os.path.join(self.tmp, "client.js")
        with open(script, "w") as f:
            f.write(CLIENT)
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=mock.cert, MOCK_URL=f"https://127.0.0.1:{mock.port}",
                   OPENAI_PKG=packages["openai"], ANTHROPIC_PKG=packages["@anthropic-ai/sdk"],
                   GENAI_PKG=packages["@google/genai"])
        path = os.path.join(self.tmp, "sdks", "sdks.ctz")
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", NODE, script],
                              capture_output=True, text=True, env=env, timeout=300, cwd=self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])

        # node keeps several connections open on one thread: each must carry its own
        # client port (matched to the mock's log by port, not by content). The OpenAI
        # SDK stops reading a chat stream at data: [DONE], so a late chunked
        # terminator stays unread (see check_capture_equals_mock).
        exchanges = self.check_capture_equals_mock(mock, path, may_leave_terminator=True)
        self.assertEqual([x["llm"]["model"] for x in exchanges],
                         ["gpt-sdk-chat", "gpt-sdk-responses", "claude-sdk", "gemini-sdk-stream",
                          "gemini-sdk-json", "gemini-sdk-count"])
        db = self.import_and_check_bodies(mock, path)
        rows = self.llm_rows(db)
        self.assertEqual([(r["provider"], r["api"], r["streamed"]) for r in rows],
                         [("openai", "chat.completions", 1), ("openai", "responses", 1),
                          ("anthropic", "messages", 1), ("google", "streamGenerateContent", 1),
                          ("google", "generateContent", 0), ("google", "countTokens", 0)])
        self.assertTrue(rows[3]["target"].endswith(":streamGenerateContent?alt=sse"), rows[3]["target"])
        for row, x in zip(rows, exchanges):
            llm = x["llm"]
            self.assertEqual(row["model"], llm["model"])
            self.assertEqual(row["input_tokens"], llm["input_tokens"], llm["model"])
            if llm.get("api") == "countTokens":
                self.assertIsNone(row["conversation"])
                self.assertIsNone(row["output_tokens"])
                continue
            self.assertEqual(row["complete"], 1, llm["model"])
            self.assertEqual(row["response_text"], llm["text"], llm["model"])
            for k in ("output_tokens", "cache_read_input_tokens"):
                self.assertEqual(row[k], llm[k], f"{llm['model']} {k}")
            self.assertEqual([t["name"] for t in json.loads(row["tool_calls"])],
                             [t["name"] for t in llm["tool_calls"]], llm["model"])
        self.assertEqual(rows[3]["reasoning_tokens"], exchanges[3]["llm"]["reasoning_tokens"])
        self.assertEqual(json.loads(rows[3]["tool_calls"])[0]["input"], {"dir_path": "."})


if __name__ == "__main__":
    unittest.main()

"""ct-analyze --html in a real browser: Debian's headless Chromium, driven over
the DevTools protocol (python3-websocket), opens reports written from synthetic
captures (no root needed).

  html_report_test.py CAPTURE_GEN CT_ANALYZE OUT_DIR

- A Claude Code-like session with a tool round-trip: no console errors, no
  network request, the turns, tool name, tool input and tool result, the token
  figures, TTFT and stop reasons, timeline bars (LLM and other HTTP, TTFT marks,
  the unseen connection, the gap, the warning) are in the DOM; secrets are not
  in the file. Screenshot: OUT_DIR/html_report_tool.png.
- Two Codex sessions: each conversation is titled by its prompt, not by the
  AGENTS.md text Codex sends as a user message before it.
- A 500-call session: the load time is measured and printed (not asserted);
  what is asserted is what keeps it fast: the DOM stays small (calls render 50
  at a time, bodies only when opened, the timeline only its visible rows).
  Screenshot: OUT_DIR/html_report_500.png.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from chromium_cdp import Browser

GEN, CT_ANALYZE, OUT_DIR = sys.argv[1:4] if len(sys.argv) >= 4 else (None, None, None)


def make_report(workdir, name, *gen_args):
    capture = os.path.join(workdir, name + ".ctz")
    subprocess.run([GEN, capture, *gen_args], check=True)
    report = os.path.join(OUT_DIR, "html_report_" + name + ".html")
    r = subprocess.run([CT_ANALYZE, "--db", os.path.join(workdir, name + ".db"), "--no-progress",
                        "-q", "--html", report, capture], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"ct-analyze failed ({r.returncode}): {r.stderr}")
    return capture, report


def report_data(path):
    """The JSON the report embeds."""
    with open(path, encoding="utf-8") as f:
        html = f.read()
    m = re.search(r'<script type="application/json" id="ct-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


class Selection(unittest.TestCase):
    """Which captures and calls a report covers, from the command line (no browser)."""

    def run_analyze(self, *args):
        return subprocess.run([CT_ANALYZE, "--no-progress", "-q", *args], capture_output=True,
                              text=True)

    def test_captures_and_conversations(self):
        tmp = tempfile.mkdtemp(prefix="ct-html-sel-")
        self.addCleanup(shutil.rmtree, tmp, True)
        db = os.path.join(tmp, "s.db")
        tool, longer = os.path.join(tmp, "tool.ctz"), os.path.join(tmp, "long.ctz")
        subprocess.run([GEN, tool, "tool"], check=True)
        subprocess.run([GEN, longer, "long", "60"], check=True)
        both = os.path.join(tmp, "both.html")
        r = self.run_analyze("--db", db, "--html", both, tool, longer)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(both).st_mode & 0o777, 0o600)
        data = report_data(both)
        self.assertEqual(len(data["captures"]), 2)
        self.assertEqual(len(data["llm"]), 62)
        # From the database: several captures need a choice.
        r = self.run_analyze("--db", db, "--html", os.path.join(tmp, "x.html"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("several captures", r.stderr)
        uuids = [c["uuid"] for c in data["captures"]]
        for uuid in uuids:
            self.assertIn(uuid, r.stderr)
        one = os.path.join(tmp, "one.html")
        tool_uuid = next(c["uuid"] for c in data["captures"] if c["file"] == tool)
        r = self.run_analyze("--db", db, "--capture", tool_uuid, "--html", one)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = report_data(one)
        self.assertEqual([c["uuid"] for c in d["captures"]], [tool_uuid])
        self.assertEqual(len(d["llm"]), 2)
        self.assertEqual(len(d["http"]), 4)
        # One conversation, by a key prefix: its calls and their exchanges only.
        r = subprocess.run([CT_ANALYZE, "--db", db, "--json", "--sql",
                            "SELECT conversation, calls FROM v_llm_conversations ORDER BY calls"],
                           capture_output=True, text=True, check=True)
        convs = json.loads(r.stdout)
        side = convs[0]
        chat = os.path.join(tmp, "chat.html")
        r = self.run_analyze("--db", db, "--conversation", side["conversation"][:10].lower(),
                             "--html", chat)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = report_data(chat)
        self.assertEqual(d["meta"]["conversation"], side["conversation"])
        self.assertEqual(len(d["llm"]), side["calls"])
        self.assertEqual({c["conv"] for c in d["llm"]}, {side["conversation"]})
        self.assertEqual(sorted(h["id"] for h in d["http"]), sorted(c["req"] for c in d["llm"]))
        # Mistakes.
        r = self.run_analyze("--db", db, "--conversation", "00000000", "--html", chat)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no conversation 00000000", r.stderr)
        r = self.run_analyze("--db", db, "--conversation", "not-hex", "--html", chat)
        self.assertEqual(r.returncode, 1)
        r = self.run_analyze("--db", db, "--capture", tool_uuid)
        self.assertEqual(r.returncode, 2)
        r = self.run_analyze("--timeline", "--html", chat, tool)
        self.assertEqual(r.returncode, 2)


class HtmlReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(OUT_DIR, exist_ok=True)
        cls.tmp = tempfile.mkdtemp(prefix="ct-html-")
        cls.browser = Browser(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_tool_round_trip(self):
        _, report = make_report(self.tmp, "tool", "tool")
        with open(report, encoding="utf-8") as f:
            html = f.read()
        # Self-contained: no external resource, and the data cannot end its element.
        for needle in ("<link", "<script src", "@import", "url(http"):
            self.assertNotIn(needle, html)
        self.assertEqual(html.count("</script>"), 2)
        # The database's redaction holds in the report.
        self.assertNotIn("sk-ant-api03-SECRET", html)
        self.assertNotIn("tel-SECRET-token", html)
        self.assertIn("ct-hmac:", html)

        b = self.browser
        b.open(report)
        self.assertEqual(b.problems(), [])
        self.assertEqual(b.js("document.querySelectorAll('.conversation').length"), 1)
        roles = b.js("[...document.querySelectorAll('.turn .role')].map(e => e.textContent)")
        self.assertEqual(roles, ["system", "system", "user", "assistant", "tool", "assistant"])
        calls = b.js("""[...document.querySelectorAll('.call')].map(c => ({
            model: c.querySelector('.model').textContent, tin: c.querySelector('.tin').textContent,
            tout: c.querySelector('.tout').textContent, ttft: c.querySelector('.ttft').textContent,
            stop: c.querySelector('.stop').textContent,
            running: c.querySelector('.running').textContent, all: c.textContent}))""")
        self.assertEqual([c["tin"] for c in calls], ["1,200", "1,350"])
        self.assertEqual([c["tout"] for c in calls], ["87", "14"])
        self.assertEqual([c["stop"] for c in calls], ["tool_use", "end_turn"])
        # Running total: input + output + cache read + cache write so far.
        self.assertEqual([c["running"] for c in calls], ["4,787", "10,351"])
        self.assertIn("claude-sonnet-4-5-20250929", calls[0]["model"])
        self.assertIn("cache 3,000 / 500", calls[0]["all"])
        for c in calls:
            self.assertRegex(c["ttft"], r"^\d+ ms$")
        # Bodies exist only once opened; open every turn.
        self.assertEqual(b.js("document.querySelectorAll('.turn > .body').length"), 0)
        b.js("document.querySelectorAll('.turn > .row').forEach(r => r.click())")
        self.assertEqual(b.js("document.querySelectorAll('.turn > .body').length"), 6)
        b.js("document.querySelectorAll('details.thinking').forEach(d => d.open = true)")
        text = b.js("document.getElementById('conversations').innerText")
        for needle in ("You are Claude Code", "List the files here", "I will list the files.",
                       "The user wants the files", "ls -1", "alpha.txt", "There are two files"):
            self.assertIn(needle, text)
        # The image shows as an image; the long tool output is cut until asked; markup
        # in the data stays text.
        image = b.js("""(() => { const i = document.querySelector('.turn.user img');
            return i && i.decode().then(() => ({src: i.src.slice(0, 22), width: i.naturalWidth})); })()""")
        self.assertEqual(image, {"src": "data:image/png;base64,", "width": 2})
        self.assertIn("file010.log", text)
        self.assertNotIn("file799.log", text)
        self.assertEqual(b.js("document.querySelectorAll('img').length"), 1)
        self.assertFalse(b.js("'pwned' in window"))
        b.js("document.querySelectorAll('.turn.tool button.more').forEach(m => m.click())")
        text = b.js("document.getElementById('conversations').innerText")
        self.assertIn("file799.log", text)
        self.assertIn("</script><img src=x onerror=window.pwned=1>", text)
        self.assertFalse(b.js("'pwned' in window"))
        # The tool call in the first answer shows the result that came back.
        tool_use = b.js("""(() => { const t = document.querySelector('.turn.answer .block.tool_use');
            return {name: t.querySelector('.tname').textContent,
                    result: t.querySelector('.result').innerText}; })()""")
        self.assertEqual(tool_use["name"], "Bash")
        self.assertIn("alpha.txt", tool_use["result"])
        self.assertIn("result of Bash", tool_use["result"])
        # Timeline: the process, both connections, 4 exchanges (2 LLM calls with a
        # TTFT mark and an SSE stream), the unseen connection, the gap, the warning.
        tl = b.js("""(() => { const q = s => document.querySelectorAll('#timeline ' + s).length;
            return {proc: q('.tl-row.proc'), conn: q('.tl-row.conn'), http: q('.tl-row.http'),
                    unseen: q('.tl-row.unseen'), llm_sse: q('.tl-bar.sse.llm'), ttft: q('.tl-ttft'),
                    gap: q('.tl-gap'), note: q('.tl-note'), rows: window.ctReport.rows}; })()""")
        self.assertEqual(tl, {"proc": 1, "conn": 2, "http": 4, "unseen": 1, "llm_sse": 2,
                              "ttft": 2, "gap": 1, "note": 1, "rows": 8})
        # Hovering a bar gives its details.
        hover = b.js("""(() => { const bar = document.querySelector('.tl-bar.sse.llm');
            const r = bar.getBoundingClientRect();
            bar.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: r.x + 1, clientY: r.y + 1}));
            return document.querySelector('.tooltip').textContent; })()""")
        self.assertIn("TTFT", hover)
        self.assertIn("tokens in 1,200", hover)
        # Losses, unseen traffic and warnings are listed.
        issues = b.js("document.getElementById('issues').innerText")
        self.assertIn("attached 12.0 ms after pid 4321", issues)
        # Informational notes are folded away (and not marked in the timeline).
        self.assertIn("1 informational notes", issues)
        self.assertNotIn("held pid 4321", issues)
        self.assertIn("140.82.112.3:443", issues)
        self.assertIn("ring", issues.lower())
        self.assertEqual(b.js("document.querySelectorAll('.http-row').length"), 2)
        # Search marks the words and keeps the matching calls.
        b.js("window.ctReport.setQuery('beta.txt')")
        self.assertGreater(b.js("document.querySelectorAll('#conversations mark').length"), 0)
        # Only the second call sent the tool result that holds it.
        self.assertEqual(b.js("[...document.querySelectorAll('.call .n')].map(e => e.textContent)"),
                         ["LLM call 2"])
        b.js("window.ctReport.setQuery('')")
        self.assertEqual(b.js("document.querySelectorAll('.call').length"), 2)
        self.assertEqual(b.problems(), [])
        # The screenshot: the first answer open, the timeline and conversation in view.
        b.js("document.querySelectorAll('.turn.open').forEach(t => t.toggle(false))")
        b.js("document.querySelector('.turn.answer').toggle(true)")
        b.js("window.scrollTo(0, document.getElementById('timeline').offsetTop - 40)")
        b.js("document.querySelector('.tooltip').classList.add('hidden')")
        shot = os.path.join(OUT_DIR, "html_report_tool.png")
        b.screenshot(shot)
        self.assertGreater(os.path.getsize(shot), 10000)
        print(f"tool round-trip report: {os.path.getsize(report)} bytes, screenshot {shot}")

    def test_openai_function_call(self):
        _, report = make_report(self.tmp, "openai", "openai")
        b = self.browser
        b.open(report)
        self.assertEqual(b.problems(), [])
        self.assertEqual(b.js("[...document.querySelectorAll('.conversation .title')]"
                              ".map(e => e.textContent)"), ["Weather in Paris?", "And in Lyon?"])
        roles = b.js("[...document.querySelectorAll('.turn .role')].map(e => e.textContent)")
        self.assertEqual(roles, ["system", "system", "user", "assistant", "tool", "assistant"])
        calls = b.js("""[...document.querySelectorAll('.call')].map(c => [c.querySelector('.model').textContent,
            c.querySelector('.tin').textContent, c.querySelector('.tout').textContent,
            c.querySelector('.stop').textContent])""")
        # (the open conversation; the Responses one below starts collapsed)
        self.assertEqual(calls, [["gpt-4o · stream", "50", "9", "tool_calls"],
                                 ["gpt-4o", "80", "12", "stop"]])
        b.js("document.querySelectorAll('.turn.answer').forEach(t => t.toggle(true))")
        tool = b.js("""(() => { const t = document.querySelector('.turn.answer .block.tool_use');
            return [t.querySelector('.tname').textContent, t.querySelector('pre').textContent,
                    t.querySelector('.result').innerText]; })()""")
        self.assertEqual(tool[0], "get_weather")
        self.assertIn('"city": "Paris"', tool[1])
        self.assertIn("18 C, sunny", tool[2])
        self.assertIn("It is 18 C and sunny in Paris.",
                      b.js("document.getElementById('conversations').innerText"))
        # The Responses API call: instructions, input items, reasoning, a new call.
        b.js("document.querySelectorAll('.conversation')[1].toggle(true)")
        b.js("document.querySelectorAll('.conversation')[1]"
             ".querySelectorAll('.turn > .row').forEach(r => r.click())")
        roles = b.js("[...document.querySelectorAll('.conversation')[1]"
                     ".querySelectorAll('.turn .role')].map(e => e.textContent)")
        self.assertEqual(roles, ["system", "user", "assistant", "tool", "assistant"])
        text = b.js("document.querySelectorAll('.conversation')[1].innerText")
        for needle in ("Answer about the weather.", "And in Lyon?", "21 C", "The tool said 21 C.",
                       "21 C in Lyon.", "get_forecast", "stop completed"):
            self.assertIn(needle, text.replace("\n", " "))
        self.assertEqual(b.problems(), [])

    def test_codex_titles_are_the_prompts(self):
        # Codex sends AGENTS.md and its environment as user messages before the
        # prompt: a conversation is titled by the prompt, as first_message.
        _, report = make_report(self.tmp, "codex", "codex")
        b = self.browser
        b.open(report)
        self.assertEqual(b.problems(), [])
        titles = b.js("[...document.querySelectorAll('.conversation .title')]"
                      ".map(e => e.textContent)")
        self.assertEqual(sorted(titles), ["Fix the build", "Write the docs"])

    def test_hostile_captures(self):
        # Captures with impossible times and stream positions still give a page that
        # opens without errors (and without hanging on a timeline of absurd span).
        hostile = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                               "hostile")
        names = sorted(n for n in os.listdir(hostile) if n.endswith(".ctz"))
        self.assertGreater(len(names), 0)
        for name in names:
            with self.subTest(capture=name):
                report = os.path.join(self.tmp, name + ".html")
                r = subprocess.run([CT_ANALYZE, "--db", os.path.join(self.tmp, name + ".db"),
                                    "-q", "--no-progress", "--html", report,
                                    os.path.join(hostile, name)],
                                   capture_output=True, text=True, timeout=300)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.browser.open(report)
                self.assertEqual(self.browser.problems(), [])

    def test_huge_message_is_cut(self):
        # A 6 MiB question is embedded up to 4 MiB, with a note, and still opens.
        _, report = make_report(self.tmp, "big", "big", "6")
        size = os.path.getsize(report)
        self.assertLess(size, 5 << 20)
        self.assertGreater(size, 4 << 20)
        self.browser.open(report)
        self.assertEqual(self.browser.problems(), [])
        with open(report, encoding="utf-8") as f:
            self.assertIn("cut by ct-analyze --html: 62", f.read())
        self.browser.js("document.querySelector('.turn.user').toggle(true)")
        self.assertIn("show all", self.browser.js("document.querySelector('.turn.user').innerText"))
        self.assertEqual(self.browser.problems(), [])

    def test_500_calls(self):
        _, report = make_report(self.tmp, "500", "long", "500")
        size = os.path.getsize(report)
        b = self.browser
        seconds = b.open(report)
        in_page_ms = b.js("window.ctReport.readyAt")
        self.assertEqual(b.problems(), [])
        self.assertEqual(b.js("window.ctReport.calls"), 500)
        print(f"500-call report: {size} bytes ({size / 1024:.0f} KiB); opened in Chromium in "
              f"{seconds * 1000:.0f} ms (navigation to ready; script done {in_page_ms:.0f} ms "
              f"after navigation start); main thread: {b.metrics()}")
        # What keeps a long session fast, counted rather than timed.
        counts = b.js("""({nodes: document.getElementsByTagName('*').length,
            calls: document.querySelectorAll('.call').length,
            bodies: document.querySelectorAll('.turn > .body').length,
            drawn: document.querySelectorAll('#timeline .tl-row').length,
            rows: window.ctReport.rows, convs: document.querySelectorAll('.conversation').length})""")
        print(f"500-call report DOM: {counts}")
        self.assertEqual(counts["convs"], 5)
        self.assertEqual(counts["calls"], 50)       # the open conversation's first page
        self.assertEqual(counts["bodies"], 0)       # nothing opened yet
        self.assertGreater(counts["rows"], 500)     # every exchange has a timeline row...
        self.assertLess(counts["drawn"], 80)        # ...but only those in view are drawn
        self.assertLess(counts["nodes"], 3000)
        # The timeline draws the rows scrolled to.
        last = b.js("""(() => { const s = document.querySelector('.tl-scroll');
            s.scrollTop = s.scrollHeight; s.dispatchEvent(new Event('scroll'));
            return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => {
              const rows = document.querySelectorAll('#timeline .tl-row');
              r({n: rows.length, last: +rows[rows.length - 1].dataset.i}); }))); })()""")
        self.assertEqual(last["last"], counts["rows"] - 1)
        self.assertLess(last["n"], 80)
        # The table of all calls is built when opened, 100 rows a page, and sorts.
        self.assertEqual(b.js("document.querySelectorAll('.llm-row').length"), 0)
        b.js("document.querySelector('details.calls-table').open = true")
        table = b.js("""new Promise(r => setTimeout(() => {
            const rows = () => [...document.querySelectorAll('.llm-row')];
            const n = rows().length;
            const th = [...document.querySelectorAll('.calls-table th')].find(t => t.textContent === 'out');
            th.click();
            const outs = rows().map(tr => +tr.children[5].textContent.replace(/,/g, ''));
            r({n: n, first: outs[0], sorted: outs.every((v, i) => i === 0 || outs[i - 1] >= v)}); }, 50))""")
        self.assertEqual(table["n"], 100)
        self.assertEqual(table["first"], 69)   # 40 + i % 30 output tokens at most
        self.assertTrue(table["sorted"])
        # More calls on demand; jumping to the last call renders up to it.
        b.js("document.querySelector('.conversation.open > .content > .more').click()")
        self.assertEqual(b.js("document.querySelectorAll('.call').length"), 100)
        b.js("window.ctReport.revealCall(window.ctReport.lastCallId)")
        self.assertTrue(b.js("!!document.getElementById('call-' + window.ctReport.lastCallId)"))
        # The last call sent one new message: the result of the call before it.
        before = b.js("document.getElementById('call-' + window.ctReport.lastCallId)"
                      ".previousElementSibling.innerText")
        self.assertIn("output of call 498 in main", before)
        self.assertEqual(b.problems(), [])
        b.js("window.scrollTo(0, 0)")
        b.screenshot(os.path.join(OUT_DIR, "html_report_500.png"))


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:])

"""ct-record --watch: always-on recording of the processes that match rules, into a
directory of rotated captures. Each capture must decode on its own, byte-exact
against the server's log; processes that do not match must leave nothing in any
capture; SIGTERM closes every file with its trailer; kill -9 then a restart loses at
most the flush interval.

The log server runs from a copy of python named `ctw-server`, so that a python3 rule
does not match it (its traffic would be the clients' traffic seen from the other side).
The test runner itself is a python3: ct-record never matches its own ancestors at start.
"""
import glob
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import unittest

from clients import PYTHON_PACED, PYTHON_REQUESTS
from harness import (CT_DUMP, CT_RECORD, PYTHON, Capture, LogServer, RecordTest, wait_for,
                     require_root)

CT_ANALYZE = os.environ.get("CT_ANALYZE", "ct-analyze")

# argv: cafile port count size; one persistent connection plus a new one per exchange,
# random (incompressible) bodies so that the compressed captures grow.
PYTHON_ROTATE = r'''
import http.client, os, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
port, count, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keep = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
for i in range(count):
    body = os.urandom(size)
    keep.request("POST", "/echo", body=body)
    assert keep.getresponse().read() == body
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    conn.request("POST", "/echo", body=body[: size // 2])
    assert conn.getresponse().read() == body[: size // 2]
    conn.close()
    print(f"DONE {i}", flush=True)
keep.close()
'''


def real_python():
    return os.path.realpath(PYTHON)


class WatchBase(RecordTest):
    """A log server from a python copy named ctw-server, a captures directory, helpers."""

    def setUp(self):
        require_root(self)
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="ct-e2e-watch-")
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        server_python = os.path.join(self.bin, "ctw-server")
        shutil.copy(real_python(), server_python)
        self.server = LogServer(self.tmp, python=server_python)
        self.out = os.path.join(self.tmp, "captures")

    def agent_python(self, name="ctw-agent"):
        """A private copy of python: rules on it match nobody else's processes."""
        path = os.path.join(self.bin, name)
        if not os.path.exists(path):
            shutil.copy(real_python(), path)
        return path

    def start_watcher(self, *rules, extra=(), log="watch.log", env=None):
        log_path = os.path.join(self.tmp, log)
        err = open(log_path, "w")
        self.addCleanup(err.close)
        rec = subprocess.Popen([CT_RECORD, "--watch", "--no-status", *rules, "--output-dir",
                                self.out, *extra], stdout=subprocess.DEVNULL, stderr=err,
                               text=True, env=None if env is None else {**os.environ, **env})
        self.addCleanup(lambda: rec.poll() is None and rec.kill())

        def ready():
            if rec.poll() is not None:
                return True
            with open(log_path) as f:
                return "watching for" in f.read()
        self.assertTrue(wait_for(ready, timeout=120), "ct-record --watch did not start")
        self.assertIsNone(rec.poll(), self.read_log(log))
        return rec

    def read_log(self, log="watch.log"):
        with open(os.path.join(self.tmp, log)) as f:
            return f.read()

    def stop_watcher(self, rec, sig=signal.SIGTERM):
        rec.send_signal(sig)
        self.assertEqual(rec.wait(timeout=120), 0, self.read_log())

    def finished_captures(self):
        return sorted(glob.glob(os.path.join(self.out, "ct-*.ctz")))

    def partial_captures(self):
        return sorted(glob.glob(os.path.join(self.out, "ct-*.ctz.part")))

    def server_connections(self):
        """Logged connections as (client port, entry), in the server's order."""
        return self.server.connection_list()

    def to_server(self, cap):
        return [c for c in cap.connections if c["remote_port"] == self.server.port]

    def assert_imports(self, path):
        db = os.path.join(self.tmp, "watch.db")
        proc = subprocess.run([CT_ANALYZE, "--db", db, path], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, f"ct-analyze {path}: {proc.stderr}")



class Watch(WatchBase):
    def test_python3_rule_records_new_clients_and_ignores_curl(self):
        rec = self.start_watcher("--match-name", "python3", "--match-name", "claude")
        # Both start after the watcher; only the python3 one matches.
        subprocess.run([PYTHON, "-c", PYTHON_REQUESTS, self.server.cert, str(self.server.port)],
                       check=True)
        subprocess.run(["curl", "-sS", "--cacert", self.server.cert, "-o", "/dev/null",
                        f"{self.server.url}/bytes/4321"], check=True)
        logged = self.server.connection_list(expect=2)
        self.assertEqual(len(logged), 2)
        # Written once flushed; the capture is still open.
        python_port = logged[0][0]
        self.stop_watcher(rec)
        self.assertEqual(self.partial_captures(), [])
        files = self.finished_captures()
        self.assertGreaterEqual(len(files), 1)
        seen = []
        for path in files:
            cap = Capture(path, self.tmp)
            self.assertTrue(cap.summary["ended_cleanly"], path)
            self.assertEqual(cap.summary["lost_events"], 0)
            seen += self.to_server(cap)
            self.assert_imports(path)
        ours = [c for c in seen if c["write"] or c["read"]]
        self.assertEqual([c["local_port"] for c in ours], [python_port],
                         "only the python3 client's connection is recorded, not curl's")
        server = dict(logged)[python_port]
        self.assertTrue(ours[0]["from_start"])
        self.assertEqual(ours[0]["write"], server["recv"])
        self.assertEqual(ours[0]["read"], server["sent"])
        self.assertNotIn(b"4321", b"".join(c["write"] for c in seen))

    def test_cmdline_rule(self):
        agent = self.agent_python("ctw-cmdline")
        rec = self.start_watcher("--match-cmdline", r"ctw-marker-\d+")
        script = os.path.join(self.tmp, "ctw-marker-42.py")
        with open(script, "w") as f:
            f.write(PYTHON_REQUESTS)
        subprocess.run([agent, script, self.server.cert, str(self.server.port)], check=True)
        # Not matched: the same program without the marker.
        other = os.path.join(self.tmp, "plain.py")
        shutil.copy(script, other)
        subprocess.run([agent, other, self.server.cert, str(self.server.port)], check=True)
        logged = self.server.connection_list(expect=2)
        self.stop_watcher(rec)
        seen = []
        for path in self.finished_captures():
            cap = Capture(path, self.tmp)
            self.assertTrue(cap.summary["ended_cleanly"])
            seen += [c for c in self.to_server(cap) if c["write"] or c["read"]]
        self.assertEqual([c["local_port"] for c in seen], [logged[0][0]])
        self.assertEqual(seen[0]["write"], logged[0][1]["recv"])
        self.assertEqual(seen[0]["read"], logged[0][1]["sent"])

    def test_rotation_by_size_every_file_decodes_alone(self):
        agent = self.agent_python()
        rec = self.start_watcher("--match-exe", agent, extra=("--rotate-size", "1M"))
        # Each body is echoed and half of it resent: about `size` new bytes per exchange
        # after compression.
        count, size = 60, 128 * 1024
        subprocess.run([agent, "-c", PYTHON_ROTATE, self.server.cert, str(self.server.port),
                        str(count), str(size)], check=True, stdout=subprocess.DEVNULL)
        logged = self.server.connection_list(expect=count + 1)
        self.stop_watcher(rec)
        self.assertEqual(self.partial_captures(), [])
        files = self.finished_captures()
        self.assertGreaterEqual(len(files), 4, f"expected several rotated files: {files}")
        log = self.read_log()
        self.assertIn("rotated (size)", log)
        by_port = {}
        for port, entry in logged:
            by_port.setdefault(port, []).append(entry)
        # Each file alone: clean trailer, nothing lost, every connection that began and
        # ended in it equal to the server's log; a connection carried over from the
        # previous file starts exactly where that file's part ended.
        parts = {}  # gen -> [(file index, connection)]
        whole = 0
        for index, path in enumerate(files):
            cap = Capture(path, self.tmp)
            self.assertTrue(cap.summary["ended_cleanly"], path)
            self.assertEqual(cap.summary["lost_events"], 0, path)
            self.assertEqual(cap.summary["trailer_lost_events"], 0, path)
            self.assert_imports(path)
            for c in self.to_server(cap):
                if not (c["write"] or c["read"] or c.get("socket_origin") == "continued"):
                    continue
                parts.setdefault(c["gen"], []).append((index, c))
                if c["from_start"] and c["closed"]:
                    whole += 1
                    self.assertEqual(c["write_gaps"] + c["read_gaps"], 0)
                    server = by_port[c["local_port"]]
                    self.assertIn(c["write"], [s["recv"] for s in server])
                    self.assertIn(c["read"], [s["sent"] for s in server])
        self.assertGreaterEqual(whole, count - len(files))
        # Every logged connection, joined across files, equals the server's log.
        joined = {}
        for gen, pieces in parts.items():
            indexes = [i for i, _ in pieces]
            self.assertEqual(indexes, list(range(indexes[0], indexes[0] + len(indexes))),
                             f"connection {gen} skips a file")
            write = b"".join(c["write"] for _, c in pieces)
            read = b"".join(c["read"] for _, c in pieces)
            for _, c in pieces[1:]:
                self.assertEqual(c["socket_origin"], "continued")
            port = pieces[0][1]["local_port"]
            joined.setdefault(port, []).append((write, read))
        self.assertEqual(sorted(joined), sorted(by_port))
        for port, entries in by_port.items():
            got = joined[port]
            self.assertEqual(len(got), len(entries))
            for (write, read), server in zip(got, entries):
                self.assertTrue(write == server["recv"], f"port {port}: request bytes differ")
                self.assertTrue(read == server["sent"], f"port {port}: response bytes differ")
        carried = [g for g, p in parts.items() if len(p) > 1]
        self.assertTrue(carried, "the persistent connection spans several files")
        print(f"rotation: {len(files)} files, {whole} connections whole in one file, "
              f"{len(carried)} carried across files (the longest over "
              f"{max(len(parts[g]) for g in carried)} files)")

    KILL9_WINDOW_S = 1.5  # the flush interval (1 s) and the exchange in flight

    def test_kill_9_then_restart(self):
        agent = self.agent_python()
        rules = ("--match-exe", agent)
        rec = self.start_watcher(*rules)
        client = subprocess.Popen([agent, "-c", PYTHON_PACED, self.server.cert,
                                   str(self.server.port), "steady"],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        done = []

        def read_until(predicate):
            while not predicate():
                line = client.stdout.readline()
                self.assertTrue(line, "the client stopped")
                if line.startswith("DONE "):
                    _, i, t = line.split()
                    done.append((int(i), float(t)))

        read_until(lambda: sum(1 for _, t in done if t < time.time() - self.KILL9_WINDOW_S) >= 20)
        killed_at = time.time()
        rec.kill()
        rec.wait()
        first = self.partial_captures()
        self.assertEqual(len(first), 1, "the killed recorder leaves its partial file")
        # The restart keeps the partial file (under its final name, without a trailer)
        # and records the running client again, in a new file.
        rec2 = self.start_watcher(*rules, log="watch2.log")
        self.assertIn("a capture a previous recorder did not close", self.read_log("watch2.log"))
        self.assertFalse(os.path.exists(first[0]))
        kept_file = first[0][: -len(".part")]
        self.assertTrue(os.path.exists(kept_file))
        restarted_at = time.time()
        read_until(lambda: sum(1 for _, t in done if t > restarted_at) >= 20)
        client.kill()
        client.wait()
        self.stop_watcher(rec2)
        files = self.finished_captures()
        self.assertEqual(len(files), 2)
        old = Capture(kept_file, self.tmp)
        self.assertFalse(old.summary["ended_cleanly"])
        self.assertEqual(old.summary["bad_frames"], 0)
        new = Capture([f for f in files if f != kept_file][0], self.tmp)
        self.assertTrue(new.summary["ended_cleanly"])

        def markers(cap):
            written = b"".join(c["write"] for c in self.to_server(cap))
            read = b"".join(c["read"] for c in self.to_server(cap))
            return {i for i, _ in done
                    if f"marker-{i:06d}".encode() in written and
                    f"marker-{i:06d}".encode() in read}

        in_old, in_new = markers(old), markers(new)
        old_enough = [i for i, t in done if t < killed_at - self.KILL9_WINDOW_S]
        self.assertEqual([i for i in old_enough if i not in in_old], [],
                         "exchanges finished before the flush interval were lost")
        # After the restart, every exchange that began once the new recorder ran.
        after = [i for i, t in done if t > restarted_at + self.KILL9_WINDOW_S]
        self.assertTrue(after)
        self.assertEqual([i for i in after if i not in in_new], [])
        lost = [i for i, t in done if i not in in_old and i not in in_new]
        newest_old = max(t for i, t in done if i in in_old)
        print(f"kill -9 + restart: {len(old_enough)} exchanges older than "
              f"{self.KILL9_WINDOW_S} s all in the killed file (newest kept finished "
              f"{killed_at - newest_old:.2f} s before the kill); {len(lost)} exchanges in "
              f"neither file (made in the {restarted_at - killed_at:.1f} s without a recorder, "
              f"or in flight): {lost[:10]}")


class WatchRetention(WatchBase):
    def test_keep_removes_the_oldest_finished_captures(self):
        agent = self.agent_python()
        rec = self.start_watcher("--match-exe", agent, extra=("--rotate", "1s", "--keep", "2s"))
        client = subprocess.Popen([agent, "-c", PYTHON_PACED, self.server.cert,
                                   str(self.server.port), "steady"],
                                  stdout=subprocess.DEVNULL)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        # Waits for removals to have happened, not for a time.
        self.assertTrue(wait_for(lambda: self.read_log().count("(--keep/--keep-size)") >= 3,
                                 timeout=300), self.read_log())
        client.kill()
        client.wait()
        self.stop_watcher(rec)
        log = self.read_log()
        closed = [line.split("closed ")[1].split(" (")[0] for line in log.splitlines()
                  if ": closed " in line]
        removed = [line.split("removed ")[1].split(" (")[0] for line in log.splitlines()
                   if line.startswith("ct-record: removed ")]
        left = self.finished_captures()
        self.assertGreaterEqual(len(removed), 3)
        for path in removed:
            self.assertFalse(os.path.exists(path))
            self.assertIn(path, closed, "only finished captures are removed")
        # Oldest first: every capture removed is older (sorts before) every one kept.
        self.assertLess(max(removed), min(left))
        for path in left:
            self.assertTrue(Capture(path, self.tmp).summary["ended_cleanly"])


class WatchClaude(WatchBase):
    """Two Claude Code runs (the native build, a tool round-trip each) that start after a
    `--match-name claude` watcher, against the mock Anthropic API: every connection of
    both runs equal to the mock's log, in captures rotated meanwhile."""

    def test_two_claude_code_runs(self):
        from agent_support import MockLlm
        from test_claude import native_claude
        _, claude = native_claude("2.1.328")
        # Rotated every second: the runs' connections span files and are joined back.
        rec = self.start_watcher("--match-name", "claude", extra=("--rotate", "1s"))
        mocks = []
        for run in range(2):
            mock = MockLlm(os.path.join(self.tmp, f"claude-{run}"), "tool-then-text")
            self.addCleanup(mock.stop)
            home = os.path.join(self.tmp, f"claude-{run}", "home")
            os.makedirs(home, exist_ok=True)
            env = dict(os.environ, HOME=home, ANTHROPIC_BASE_URL=f"https://127.0.0.1:{mock.port}",
                       ANTHROPIC_API_KEY="sk-test-not-a-key", NODE_EXTRA_CA_CERTS=mock.cert,
                       CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1")
            proc = subprocess.run([claude, "-p", "list the files in this directory"], env=env,
                                  cwd=home, capture_output=True, text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            mocks.append(mock)
        self.stop_watcher(rec)
        self.assertEqual(self.partial_captures(), [])
        caps = [Capture(p, self.tmp) for p in self.finished_captures()]
        for cap in caps:
            self.assertTrue(cap.summary["ended_cleanly"])
            self.assertEqual(cap.summary["lost_events"], 0)
        api_calls = 0
        for mock in mocks:
            for c in mock.settled():
                # A connection may span files: its parts, in file order, joined.
                parts = [k for cap in caps for k in cap.connections
                         if k["remote_port"] == mock.port and k["local_port"] == c["peer_port"]]
                self.assertTrue(parts, f"no captured connection for port {c['peer_port']}")
                self.assertEqual(b"".join(k["write"] for k in parts), mock.read(c["recv_file"]))
                self.assertEqual(b"".join(k["read"] for k in parts), mock.read(c["sent_file"]))
                api_calls += sum(1 for x in c["exchanges"] if x.get("llm"))
        self.assertEqual(api_calls, 4, "two runs, a tool round-trip each")
        for path in self.finished_captures():
            self.assert_imports(path)
        print(f"claude: 2 runs, {api_calls} API calls, {len(caps)} capture files")


class WatchArguments(unittest.TestCase):
    """Bad command lines are refused before anything privileged happens."""

    def run_record(self, *args):
        return subprocess.run([CT_RECORD, *args], capture_output=True, text=True, timeout=60)

    def test_errors(self):
        p = self.run_record("--watch", "--output-dir", "/tmp/x")
        self.assertEqual(p.returncode, 2)
        self.assertIn("at least one rule", p.stderr)
        p = self.run_record("--watch", "--match-name", "python3")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--output-dir", p.stderr)
        p = self.run_record("--match-name", "python3", "-w", "x.ctz", "--", "true")
        self.assertEqual(p.returncode, 2)
        self.assertIn("need --watch", p.stderr)
        p = self.run_record("--watch", "--match-name", "x", "-p", "1", "--output-dir", "/tmp/x")
        self.assertEqual(p.returncode, 2)
        p = self.run_record("--watch", "--match-name", "x", "--output-dir", "/tmp/x",
                            "--rotate", "5 parsecs")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--rotate", p.stderr)
        p = self.run_record("--help")
        self.assertEqual(p.returncode, 0)
        for word in ("--watch", "--match-name", "--match-cmdline", "--rotate-size", "--keep-size"):
            self.assertIn(word, p.stdout)

    def test_setup_errors(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root")
        p = self.run_record("--watch", "--match-user", "no-such-user-ct", "--output-dir",
                            "/tmp/ct-watch-nouser")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such user", p.stderr)
        p = self.run_record("--watch", "--match-name", "x", "--output-dir", "/dev/null/captures")
        self.assertEqual(p.returncode, 1)
        self.assertIn("output directory", p.stderr)


if __name__ == "__main__":
    unittest.main()

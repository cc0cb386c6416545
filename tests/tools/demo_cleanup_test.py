"""tools/demo.sh must not leave its mock LLM server running, however it ends, and
must run to its end when the timeline it shows is long.

Runs the demo with stand-in ct binaries (CT_DEMO_NO_BUILD=1, CT_BUILD_DIR set to a
directory of small scripts), so no BPF, build or network is needed; it needs
root only because the demo refuses to start without it.
Usage: demo_cleanup_test.py SOURCE_DIR
"""
import glob
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SRC = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
DEMO = os.path.join(SRC, "tools", "demo.sh")


def listening(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


class DemoCleanup(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("tools/demo.sh refuses to run without root")
        self.build = tempfile.mkdtemp(prefix="ct-demo-test-")
        for sub in ("record", "replay/analyze"):
            os.makedirs(os.path.join(self.build, sub))

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.build])

    def stand_in(self, path, script):
        full = os.path.join(self.build, path)
        with open(full, "w") as f:
            f.write("#!/bin/sh\n" + script + "\n")
        os.chmod(full, 0o755)

    def run_demo(self, during=None, env_extra=None):
        """Returns (ended demo, server port, the demo's work directories); `during`,
        if given, is called with the running demo's Popen."""
        before = set(glob.glob("/tmp/ct-demo-??????"))
        env = dict(os.environ, CT_DEMO_NO_BUILD="1", CT_BUILD_DIR=self.build, **(env_extra or {}))
        # Output to files, not pipes: a leftover server would hold a pipe open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen(["bash", DEMO], env=env, stdout=out, stderr=err, text=True)
            try:
                if during:
                    during(p)
                p.wait(timeout=120)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        work = sorted(set(glob.glob("/tmp/ct-demo-??????")) - before)
        for w in work:
            self.addCleanup(subprocess.run, ["rm", "-rf", w])
            # Stop a server the demo left behind, so that a failing run cleans up too.
            self.addCleanup(lambda w=w: [os.kill(pid, 9) for pid in processes_mentioning(w)])
        ports = [int(line.rsplit(":", 1)[1]) for line in p.stdout.splitlines()
                 if line.startswith("listening on https://127.0.0.1:")]
        self.assertEqual(len(ports), 1, f"the server did not start:\n{p.stdout}\n{p.stderr}")
        return p, ports[0], work

    def assert_server_gone(self, port, work):
        # The server runs with the work directory in its command line.
        self.assertTrue(work)
        leftovers = lambda: [pid for w in work for pid in processes_mentioning(w)]
        # kill is asynchronous; wait for the condition, not for a time.
        deadline = time.time() + 30
        while time.time() < deadline and (leftovers() or listening(port)):
            time.sleep(0.1)
        self.assertEqual(leftovers(), [], "the mock server outlived the demo")
        self.assertFalse(listening(port), f"something still listens on {port}")

    def test_server_stopped_after_a_complete_run(self):
        self.stand_in("record/ct-record", "exit 0")
        self.stand_in("replay/analyze/ct-analyze", "exit 0")
        p, port, work = self.run_demo()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_server_gone(port, work)

    def test_a_long_timeline_does_not_end_the_demo(self):
        # A timeline of far more than a pipe's 64 KiB: the demo shows its start
        # and still runs to the end (exit 0), as a real session's does.
        self.stand_in("record/ct-record", "exit 0")
        self.stand_in("replay/analyze/ct-analyze",
                      'case "$1" in --timeline) yes "timeline line" | head -n 100000; exit $? ;; esac\nexit 0')
        p, port, work = self.run_demo()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("timeline line\n"), 40)
        self.assertIn("== done: capture", p.stdout)
        self.assert_server_gone(port, work)

    def test_server_stopped_when_the_demo_fails(self):
        self.stand_in("record/ct-record", "echo 'ct-record: setup failed' >&2; exit 1")
        self.stand_in("replay/analyze/ct-analyze", "exit 0")
        p, port, work = self.run_demo()
        self.assertNotEqual(p.returncode, 0)
        self.assert_server_gone(port, work)

    def test_server_stopped_when_the_demo_is_killed(self):
        # `kill PID` (SIGTERM) or a closed terminal (SIGHUP) reaches the demo's shell
        # while ct-record records; the shell runs its trap once ct-record has ended.
        for sig, status in ((signal.SIGTERM, 143), (signal.SIGHUP, 143)):
            with self.subTest(signal=sig.name):
                flags = tempfile.mkdtemp(prefix="ct-demo-flags-")
                self.addCleanup(subprocess.run, ["rm", "-rf", flags])
                recording, go = os.path.join(flags, "recording"), os.path.join(flags, "go")
                self.stand_in("record/ct-record",
                              'touch "$CT_TEST_RECORDING"\n'
                              'while [ ! -e "$CT_TEST_GO" ]; do sleep 0.05; done\nexit 0')
                self.stand_in("replay/analyze/ct-analyze", "exit 0")

                def interrupt(p):
                    deadline = time.time() + 60
                    while not os.path.exists(recording) and p.poll() is None and time.time() < deadline:
                        time.sleep(0.05)
                    self.assertTrue(os.path.exists(recording), "the demo never started recording")
                    p.send_signal(sig)
                    open(go, "w").close()

                p, port, work = self.run_demo(interrupt, {"CT_TEST_RECORDING": recording,
                                                          "CT_TEST_GO": go})
                self.assertEqual(p.returncode, status, p.stderr)
                self.assertNotIn("== done", p.stdout)
                self.assert_server_gone(port, work)


if __name__ == "__main__":
    unittest.main(verbosity=2)

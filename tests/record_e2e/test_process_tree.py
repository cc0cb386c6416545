"""Following the process tree: children are recorded, strangers are not, and a
running process can be recorded by PID."""
import os
import shutil
import subprocess
import sys
import time
import unittest

from clients import NODE_REQUESTS, PYTHON_WAIT_THEN_REQUEST
from harness import CT_RECORD, PYTHON, Capture, RecordTest

LAZY_SSL = r'''
import os, sys, time
go = sys.argv[3]
print("READY", flush=True)
while not os.path.exists(go):
    time.sleep(0.02)
import ssl, http.client   # libssl is loaded only now
ctx = ssl.create_default_context(cafile=sys.argv[1])
conn = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[2]), context=ctx)
conn.request("GET", "/bytes/321")
conn.getresponse().read()
conn.close()
'''


STRANGER = r'''
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
for i in range(int(sys.argv[3])):
    conn = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[2]), context=ctx)
    conn.request("GET", f"/stranger-{i}")
    conn.getresponse().read()
    conn.close()
'''


class ProcessTree(RecordTest):
    def test_children_are_recorded_and_strangers_are_not(self):
        s = self.server
        # A stranger uses the same libssl.so.3 at the same time, outside the tree.
        stranger = subprocess.Popen([PYTHON, "-c", STRANGER, s.cert, str(s.port), "60"])
        script = (f"curl -sS --cacert {s.cert} -o /dev/null {s.url}/child-curl && "
                  f"{PYTHON} -c 'import http.client,ssl; "
                  f"c=http.client.HTTPSConnection(\"127.0.0.1\",{s.port},"
                  f"context=ssl.create_default_context(cafile=\"{s.cert}\")); "
                  f"c.request(\"GET\",\"/child-python\"); c.getresponse().read()'")
        cap, _ = self.record(["sh", "-c", script])
        stranger.wait(timeout=60)
        data = cap.with_data()
        self.assertEqual(len(data), 2, [c["comm"] for c in data])
        everything = b"".join(c["write"] + c["read"] for c in cap.connections)
        self.assertIn(b"GET /child-curl", everything)
        self.assertIn(b"GET /child-python", everything)
        self.assertNotIn(b"stranger", everything, "a process outside the tree was recorded")
        logged = s.connections(expect=62)
        for c in data:
            self.assertEqual(c["write"], logged[c["local_port"]]["recv"])
            self.assertEqual(c["read"], logged[c["local_port"]]["sent"])
        exes = {os.path.basename(p["exe"]) for p in cap.processes}
        self.assertTrue({"curl"} <= exes and any(e.startswith("python3") for e in exes), exes)
        sh = [p for p in cap.processes if os.path.basename(p["exe"]) in ("sh", "dash")]
        self.assertTrue(sh, "the shell itself is in the process list")
        for p in cap.processes:
            if os.path.basename(p["exe"]) == "curl":
                self.assertEqual(p["ppid"], sh[0]["pid"])

    def test_node_in_path_is_probed_before_a_child_starts_it(self):
        # `sh` starts node, which connects at once: node from PATH is probed up front.
        script = f"node -e \"$0\" {self.server.cert} {self.server.port}"
        cap, proc = self.record(["sh", "-c", script, NODE_REQUESTS])
        self.assertNotIn("mapped by pid", proc.stderr)
        self.assert_matches_server(cap, 1)
        self.assertTrue(cap.with_data()[0]["from_start"])

    def test_unknown_static_tls_binary_executed_by_a_child(self):
        # A program with TLS compiled in that ct-record cannot know up front is held at
        # its exec until its probes are attached: its first request is recorded.
        private = os.path.join(self.tmp, "bin")
        os.mkdir(private)
        node = shutil.copy("/usr/bin/node", os.path.join(private, "my-agent"))
        script = f"{node} -e \"$0\" {self.server.cert} {self.server.port}"
        cap, proc = self.record(["sh", "-c", script, NODE_REQUESTS])
        self.assertIn(f"probing {node}", proc.stderr)
        self.assertIn("mapped by pid", proc.stderr)
        self.assertRegex(proc.stderr, rf"held pid \d+ for [0-9.]+ ms while probing {node}")
        self.assertNotIn("ms after pid", proc.stderr)
        self.assert_matches_server(cap, 1)
        self.assertTrue(cap.with_data()[0]["from_start"])

    def test_record_a_running_process_by_pid(self):
        go = os.path.join(self.tmp, "go")
        target = subprocess.Popen([PYTHON, "-c", PYTHON_WAIT_THEN_REQUEST, self.server.cert,
                                   str(self.server.port), go], stdout=subprocess.PIPE, text=True)
        self.assertEqual(target.stdout.readline().strip(), "READY")
        rec, path = self.record_pid(target.pid)
        time.sleep(0.3)
        open(go, "w").close()
        target.wait(timeout=30)
        rc = rec.wait(timeout=30)  # stops by itself when the target exits
        err = rec.stderr.read()
        self.assertEqual(rc, 0, err)
        self.assertIn("recording pid", err)
        cap = Capture(path, self.tmp)
        self.assertEqual(cap.summary["end_reason"], "target exited")
        self.assert_matches_server(cap, 1)

    def test_pid_without_tls_yet_needs_wait(self):
        go = os.path.join(self.tmp, "go")
        target = subprocess.Popen([PYTHON, "-c", LAZY_SSL, self.server.cert,
                                   str(self.server.port), go], stdout=subprocess.PIPE, text=True)
        self.assertEqual(target.stdout.readline().strip(), "READY")
        refused = subprocess.run([CT_RECORD, "-p", str(target.pid), "-w",
                                  self.capture_path("refused.ctz")], capture_output=True,
                                 text=True, timeout=60)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("no TLS library found", refused.stderr)
        self.assertIn("--wait", refused.stderr)
        self.assertIn("python", refused.stderr, "the examined binaries are named")
        self.assertFalse(os.path.exists(self.capture_path("refused.ctz")))

        rec, path = self.record_pid(target.pid, extra=["--wait"])
        time.sleep(0.3)
        open(go, "w").close()
        target.wait(timeout=30)
        self.assertEqual(rec.wait(timeout=30), 0)
        self.assert_matches_server(Capture(path, self.tmp), 1)

    def test_exit_status_of_the_command(self):
        _, proc = self.record(["sh", "-c", "exit 7"], expect_rc=7)
        _, proc = self.record(["sh", "-c", "kill -TERM $$"], name="killed.ctz", expect_rc=143)
        proc = subprocess.run([CT_RECORD, "-w", self.capture_path("missing.ctz"), "--",
                               "/nonexistent/command"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 127)
        self.assertIn("command not found", proc.stderr)
        self.assertFalse(os.path.exists(self.capture_path("missing.ctz")))


if __name__ == "__main__":
    unittest.main()

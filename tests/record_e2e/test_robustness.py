"""Crashes, signals, full disks, bad arguments and missing permissions: clear
messages, trustworthy exit codes, and every byte that can be kept."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import re

from clients import PYTHON_BIG, PYTHON_STREAM
from harness import CT_DUMP, CT_RECORD, PYTHON, Capture, RecordTest


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Robustness(RecordTest):
    def start_streaming(self, extra=()):
        path = self.capture_path()
        rec = subprocess.Popen([CT_RECORD, "--no-status", "-w", path, *extra, "--", PYTHON, "-c",
                                PYTHON_STREAM, self.server.cert, str(self.server.port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return path, rec

    def test_kill_9_keeps_every_frame_but_the_last_second(self):
        path, rec = self.start_streaming()
        sent = []  # (index, time)
        deadline = time.time() + 3.5
        while time.time() < deadline:
            line = rec.stdout.readline()
            if line.startswith("SENT "):
                _, i, t = line.split()
                sent.append((int(i), float(t)))
        client = children_of(rec.pid)
        killed_at = time.time()
        os.kill(rec.pid, signal.SIGKILL)
        rec.wait()
        for pid in client:
            os.kill(pid, signal.SIGKILL)
        cap = Capture(path, self.tmp)
        self.assertFalse(cap.summary["ended_cleanly"])
        self.assertEqual(cap.summary["bad_frames"], 0)
        written = b"".join(c["write"] for c in cap.connections)
        # Units are flushed every second: everything sent 1.5 s before the kill is on disk.
        old_enough = [i for i, t in sent if t < killed_at - 1.5]
        self.assertGreater(len(old_enough), 20)
        for i in old_enough:
            self.assertIn(f"marker-{i:06d}".encode(), written, f"request {i} lost")

    def test_recorder_and_reader_count_lost_events_alike(self):
        # A 16 KiB ring cannot hold a 64 KiB DATA chunk: those reservations fail and
        # LOSS events (same sequence number) take their place. Lost events are the
        # numbers no event in the file carries, for ct-record as for the readers.
        cap, proc = self.record([PYTHON, "-c", PYTHON_BIG, self.server.cert,
                                 str(self.server.port), str(4 << 20), str(4 << 20)],
                                extra=["--ring-size", "16K"])
        self.assertTrue(cap.summary["ended_cleanly"])
        self.assertGreater(cap.summary["ring_full_events"], 0, "the ring never overflowed")
        m = re.search(r"LOST: (\d+) events", proc.stderr)
        printed = int(m.group(1)) if m else 0
        self.assertEqual(printed, cap.summary["lost_events"], proc.stderr)
        self.assertEqual(cap.summary["trailer_lost_events"], cap.summary["lost_events"])

    def start_streaming_client(self):
        client = subprocess.Popen([PYTHON, "-c", PYTHON_STREAM, self.server.cert,
                                   str(self.server.port)], stdout=subprocess.PIPE, text=True)
        client.stdout.readline()
        return client

    def test_sigterm_with_pid_ends_cleanly(self):
        client = self.start_streaming_client()
        rec, path = self.record_pid(client.pid)
        time.sleep(1.0)
        rec.send_signal(signal.SIGTERM)
        rc = rec.wait(timeout=30)
        client.kill()
        client.wait()
        err = rec.stderr.read()
        self.assertEqual(rc, 0, err)
        cap = Capture(path, self.tmp)
        self.assertTrue(cap.summary["ended_cleanly"])
        self.assertEqual(cap.summary["end_reason"], "stopped by SIGTERM")
        written = b"".join(c["write"] for c in cap.connections)
        self.assertIn(b"marker-", written,
                      f"ct-record said:\n{err}\nsummary {cap.summary}\n"
                      f"connections {[(c['gen'], c['pid'], c['comm'], len(c['write'])) for c in cap.connections]}\n"
                      f"records:\n{subprocess.run([CT_DUMP, path], capture_output=True, text=True).stdout[-3000:]}")

    def test_target_killed_mid_stream(self):
        client = self.start_streaming_client()
        rec, path = self.record_pid(client.pid)
        time.sleep(1.0)
        client.kill()
        client.wait()
        self.assertEqual(rec.wait(timeout=30), 0)
        cap = Capture(path, self.tmp)
        self.assertEqual(cap.summary["end_reason"], "target exited")
        self.assertTrue(cap.summary["ended_cleanly"])

    def test_disk_full_keeps_a_readable_capture(self):
        mnt = os.path.join(self.tmp, "small")
        os.mkdir(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        path = os.path.join(mnt, "full.ctz")
        # 4 MiB of incompressible plaintext cannot fit in 256 KiB.
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", "curl", "-sS",
                               "--cacert", self.server.cert, "-o", "/dev/null",
                               f"{self.server.url}/bytes/{4 << 20}"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("disk full", proc.stderr)
        self.assertIn("readable up to byte", proc.stderr)
        cap = Capture(path, self.tmp)  # readable, no damage, just not finished
        self.assertFalse(cap.summary["ended_cleanly"])
        self.assertEqual(cap.summary["bad_frames"], 0)
        self.assertFalse(cap.summary["truncated_tail"])

    def test_clear_errors(self):
        def run(*args, **kw):
            return subprocess.run([CT_RECORD, *args], capture_output=True, text=True,
                                  timeout=60, **kw)

        path = self.capture_path("x.ctz")
        p = run("-p", "999999", "-w", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such process: 999999", p.stderr)
        self.assertFalse(os.path.exists(path))

        open(path, "w").close()
        p = run("-w", path, "--", "true")
        self.assertEqual(p.returncode, 1)
        self.assertIn("already exists", p.stderr)
        self.assertIn("--force", p.stderr)
        p = run("-f", "-w", path, "--", "true")
        self.assertEqual(p.returncode, 0, p.stderr)

        p = run("-w", "/nonexistent-dir/x.ctz", "--", "true")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot create /nonexistent-dir/x.ctz", p.stderr)

        p = run("-w", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("either -p PID or -- CMD", p.stderr)
        p = run("-p", "1", "-w", path, "--ring-size", "3M")
        self.assertEqual(p.returncode, 2)
        self.assertIn("power of two", p.stderr)
        p = run("--bogus")
        self.assertEqual(p.returncode, 2)

        # A copy that user nobody can execute (the build tree may be private).
        public = tempfile.mkdtemp(prefix="ct-nobody-")
        self.addCleanup(shutil.rmtree, public, True)
        os.chmod(public, 0o755)
        binary = shutil.copy(CT_RECORD, public)
        os.chmod(binary, 0o755)
        nobody = subprocess.run([binary, "-w", os.path.join(public, "nobody.ctz"), "--", "true"],
                                capture_output=True, text=True, timeout=60,
                                preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        self.assertEqual(nobody.returncode, 1)
        self.assertIn("needs root", nobody.stderr)
        self.assertIn("sudo", nobody.stderr)


if __name__ == "__main__":
    unittest.main()

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

from clients import PYTHON_BIG, PYTHON_PACED, PYTHON_STREAM
from harness import CT_DUMP, CT_RECORD, PYTHON, Capture, RecordTest


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Robustness(RecordTest):
    # What kill -9 may lose: the flush interval (1 s by default) and the exchange in flight.
    # Exchanges that finished more than this long before the kill must all be on disk.
    KILL9_WINDOW_S = 1.5

    def kill_9_during(self, pattern, old_enough_wanted, run=0):
        """Records PYTHON_PACED in `pattern`, kills ct-record with SIGKILL once
        `old_enough_wanted` exchanges finished more than KILL9_WINDOW_S ago, and checks
        that each of them is in the capture. Returns the number kept and the loss window."""
        path = self.capture_path(f"kill9-{pattern}-{run}.ctz")
        rec = subprocess.Popen([CT_RECORD, "--no-status", "-w", path, "--", PYTHON, "-c",
                                PYTHON_PACED, self.server.cert, str(self.server.port), pattern],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: rec.poll() is None and rec.kill())
        done = []  # (index, time the client had it in full)
        # Waits for a condition (enough old exchanges), never for a fixed time: a slow
        # start or a busy machine only makes the test longer.
        while sum(1 for _, t in done if t < time.time() - self.KILL9_WINDOW_S) < old_enough_wanted:
            line = rec.stdout.readline()
            self.assertTrue(line, f"the client stopped: {rec.stderr.read() if rec.poll() is not None else ''}")
            if line.startswith("DONE "):
                _, i, t = line.split()
                done.append((int(i), float(t)))
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
        read = b"".join(c["read"] for c in cap.connections)
        def kept(i):
            if pattern == "sse":
                return f'"i": {i}}}'.encode() in read
            marker = f"marker-{i:06d}".encode()
            return marker in written and marker in read  # the request and its echo
        old_enough = [i for i, t in done if t < killed_at - self.KILL9_WINDOW_S]
        self.assertGreaterEqual(len(old_enough), old_enough_wanted)
        lost = [i for i in old_enough if not kept(i)]
        ages = {i: killed_at - t for i, t in done}
        self.assertEqual(lost, [], f"{pattern}: {len(lost)} of {len(old_enough)} finished "
                                   f"exchanges older than {self.KILL9_WINDOW_S} s were lost "
                                   f"(finished this long before the kill: "
                                   f"{', '.join(f'{ages[i]:.2f} s' for i in lost[:10])})")
        newest_kept = max((t for i, t in done if kept(i)), default=None)
        window = killed_at - newest_kept if newest_kept else None
        print(f"kill -9 ({pattern}): {len(old_enough)} old exchanges all kept; newest kept "
              f"finished {window:.2f} s before the kill")
        return len(old_enough), window

    def test_kill_9_keeps_everything_but_the_flush_interval(self):
        # One run of each pattern for 200 exchanges (the steady one: 30 s at 7/s, long
        # enough for a backlog that grows with time to pass the flush interval);
        # CT_E2E_KILL9_RUNS=10 is the long form.
        runs = int(os.environ.get("CT_E2E_KILL9_RUNS", "1"))
        wanted = int(os.environ.get("CT_E2E_KILL9_EXCHANGES", "200"))
        for pattern in ("steady", "bursty", "sse"):
            for run in range(runs):
                with self.subTest(pattern=pattern, run=run):
                    self.kill_9_during(pattern, wanted, run)

    def test_lossless_loses_nothing_through_a_tiny_ring(self):
        # 16 MiB up and 16 MiB back through a 512 KiB ring: more than the recorder drains
        # at the rate curl moves data, unless --lossless holds curl back.
        body = os.path.join(self.tmp, "body")
        with open(body, "wb") as f:
            f.write(os.urandom(16 << 20))
        curl = ["curl", "-sS", "--cacert", self.server.cert, "-o", "/dev/null",
                "--data-binary", "@" + body, f"{self.server.url}/echo"]
        cap, proc = self.record(curl, extra=["--ring-size", "512K", "--payload-cap", "128K",
                                             "--lossless"])
        self.assertIn("--lossless held the target", proc.stderr)
        # Byte for byte what the server logged, no event lost, and curl was not left stopped
        # (it finished: record() checked its exit status).
        self.assert_matches_server(cap, 1)

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

    def answered_while_recorded(self, client, since, count=3):
        """Reads the client's "SENT <i> <time>" lines until `count` requests were sent
        and answered after `since` (the first one answered after it may have been sent
        before it, so it does not count)."""
        answered = []
        for line in client.stdout:
            if line.startswith("SENT ") and float(line.split()[2]) > since:
                answered.append(int(line.split()[1]))
                if len(answered) > count:
                    return answered[1:]
        self.fail("the client stopped before it made requests while recorded")

    def test_sigterm_with_pid_ends_cleanly(self):
        client = self.start_streaming_client()
        rec, path = self.record_pid(client.pid)
        recorded = self.answered_while_recorded(client, time.time())
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
        missing = [i for i in recorded if f"marker-{i:06d}".encode() not in written]
        self.assertEqual(missing, [],
                         f"ct-record said:\n{err}\nsummary {cap.summary}\n"
                         f"connections {[(c['gen'], c['pid'], c['comm'], len(c['write'])) for c in cap.connections]}\n"
                         f"records:\n{subprocess.run([CT_DUMP, path], capture_output=True, text=True).stdout[-3000:]}")

    def test_target_killed_mid_stream(self):
        client = self.start_streaming_client()
        rec, path = self.record_pid(client.pid)
        self.answered_while_recorded(client, time.time())
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
        # 4 MiB of incompressible plaintext cannot fit in 256 KiB. The server sends 16 KiB
        # every 5 ms and units are flushed every 50 ms, so some units fit before the disk
        # is full.
        proc = subprocess.run([CT_RECORD, "--no-status", "--flush-interval", "50", "-w", path,
                               "--", "curl", "-sS", "--cacert", self.server.cert, "-o",
                               "/dev/null", f"{self.server.url}/bytes/{4 << 20}?ms=5"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("disk full", proc.stderr)
        self.assertIn("readable up to byte", proc.stderr)
        cap = Capture(path, self.tmp)  # readable, no damage, just not finished
        self.assertFalse(cap.summary["ended_cleanly"])
        self.assertEqual(cap.summary["bad_frames"], 0)
        # The writer cut the file back to the last complete unit; the segment it was in
        # could not be closed (no room), so the file ends inside that zstd frame, and what
        # it holds is exactly the start of what the server sent.
        self.assertGreater(cap.summary["events"], 0)
        logged = self.server.connections(expect=1)
        self.assertEqual(len(logged), 1)
        sent = next(iter(logged.values()))["sent"]
        read = b"".join(c["read"] for c in cap.connections)
        self.assertGreater(len(read), 0)
        self.assertTrue(sent.startswith(read), "the kept response bytes differ from the server's")

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
        self.assertIn("ct-record: needs root", nobody.stderr)
        self.assertIn("sudo", nobody.stderr)
        self.assertNotIn("ct-record: ct-record", nobody.stderr)


if __name__ == "__main__":
    unittest.main()

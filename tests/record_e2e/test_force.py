"""ct-record -w/--force replaces nothing but a regular file, and only once the new
capture has started; a failed start leaves the old capture byte-identical. Plus
the argument checks that used to give confusing messages (-p 0, -p 1, a ring
too big)."""
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from harness import CT_RECORD, Capture, RecordTest


def run(*args, **kw):
    return subprocess.run([CT_RECORD, "--no-status", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def state(path):
    st = os.lstat(path)
    return (st.st_ino, st.st_mode, st.st_rdev, st.st_size, st.st_mtime_ns)


class Force(RecordTest):
    def make_old_capture(self, name="old.ctz"):
        path = self.capture_path(name)
        p = run("-w", path, "--", "true")
        self.assertEqual(p.returncode, 0, p.stderr)
        os.chmod(path, 0o640)  # a chmod by ct-record would show
        with open(path, "rb") as f:
            return path, f.read()

    def assert_bytes(self, path, expected):
        with open(path, "rb") as f:
            self.assertTrue(f.read() == expected, f"{path} changed")

    def test_only_regular_files_are_ever_replaced(self):
        old, old_bytes = self.make_old_capture()
        link = self.capture_path("link.ctz")
        os.symlink(old, link)
        dangling = self.capture_path("dangling.ctz")
        os.symlink(self.capture_path("nowhere.ctz"), dangling)
        device = self.capture_path("null.ctz")
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a copy of /dev/null
        fifo = self.capture_path("fifo.ctz")
        os.mkfifo(fifo, 0o644)
        directory = self.capture_path("dir.ctz")
        os.mkdir(directory)
        with open(os.path.join(directory, "inside"), "w") as f:
            f.write("keep")
        cases = [(link, "symbolic link"), (dangling, "symbolic link"),
                 (device, "not a regular file (it is a character device)"),
                 (fifo, "not a regular file (it is a FIFO)"),
                 (directory, "not a regular file (it is a directory)")]
        names = sorted(os.listdir(self.tmp))
        for path, message in cases:
            before = state(path)
            for force in (["-f"], []):
                p = run(*force, "-w", path, "--", "true")
                self.assertEqual(p.returncode, 1, f"{path} {force}: {p.stderr}")
                self.assertIn(f"-w {path}: ", p.stderr)
                self.assertIn(message, p.stderr)
                self.assertEqual(state(path), before, f"{path} was touched")
        self.assert_bytes(old, old_bytes)
        self.assertEqual(stat.S_IMODE(os.stat(old).st_mode), 0o640)
        self.assertFalse(os.path.exists(self.capture_path("nowhere.ctz")))
        self.assertEqual(os.listdir(directory), ["inside"])
        self.assertEqual(sorted(os.listdir(self.tmp)), names, "a file was left behind")

    def test_a_regular_file_is_replaced_atomically(self):
        old, old_bytes = self.make_old_capture()
        inode = os.stat(old).st_ino
        p = run("-f", "-w", old, "--", "true")
        self.assertEqual(p.returncode, 0, p.stderr)
        st = os.stat(old)
        self.assertNotEqual(st.st_ino, inode, "replaced by rename, not rewritten in place")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertTrue(Capture(old, self.tmp).summary["ended_cleanly"])
        self.assertEqual([n for n in os.listdir(self.tmp) if n.endswith(".tmp")], [])

    def test_a_failed_start_leaves_the_old_capture_untouched(self):
        old, old_bytes = self.make_old_capture()
        names = sorted(os.listdir(self.tmp))
        # No TLS library in `sleep`: setup fails after the new file was created.
        sleeper = subprocess.Popen(["sleep", "300"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        attempts = [
            ["-p", str(sleeper.pid), "--no-system-libs"],
            ["-p", "999999"],
            ["--binary", "/nonexistent/libssl.so", "--", "true"],
        ]
        for extra in attempts:
            p = run("-f", "-w", old, *extra)
            self.assertEqual(p.returncode, 1, f"{extra}: {p.stderr}")
            self.assert_bytes(old, old_bytes)
            self.assertEqual(stat.S_IMODE(os.stat(old).st_mode), 0o640)
            self.assertEqual(sorted(os.listdir(self.tmp)), names, f"{extra} left a file")
        # Without --force a failed start removes only the file it created.
        fresh = self.capture_path("fresh.ctz")
        p = run("-w", fresh, "-p", str(sleeper.pid), "--no-system-libs")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertFalse(os.path.exists(fresh))

    def test_recording_with_force_replaces_the_old_capture_once_started(self):
        old, old_bytes = self.make_old_capture()
        rec = subprocess.Popen([CT_RECORD, "--no-status", "-f", "-w", old, "--", "sleep", "30"],
                               stderr=subprocess.PIPE, text=True)
        self.addCleanup(rec.wait)
        self.addCleanup(rec.kill)
        # Once recording has started, the path holds the new capture.
        def replaced():
            with open(old, "rb") as f:
                return f.read() != old_bytes
        deadline = time.time() + 60
        while time.time() < deadline and not replaced():
            time.sleep(0.05)
        self.assertTrue(replaced(), "the old capture was not replaced once recording started")
        self.assertEqual(stat.S_IMODE(os.stat(old).st_mode), 0o600)
        rec.terminate()
        rec.terminate()  # command mode: the second signal stops the recording
        rec.communicate(timeout=60)
        self.assertTrue(Capture(old, self.tmp).summary["ended_cleanly"])


class Arguments(unittest.TestCase):
    """Checked before anything else happens: needs no root (also run as a unit test)."""

    def test_short_clear_messages(self):
        tmp = tempfile.mkdtemp(prefix="ct-args-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "x.ctz")
        p = run("-p", "0", "-w", path)
        self.assertEqual(p.returncode, 2)
        first = p.stderr.splitlines()[0]
        self.assertIn("-p needs the ID of a running process", first)
        self.assertLess(len(first), 100, first)

        p = run("-p", "1", "-w", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("every process on this machine", p.stderr)
        self.assertIn("--allow-init", p.stderr)
        # With --allow-init the same command gets past the argument checks, and stops at
        # its first privileged step or at the output (a directory that does not exist),
        # before any probe: as root too, nothing is recorded.
        missing = os.path.join(tmp, "no-such-dir", "x.ctz")
        p = run("-p", "1", "--allow-init", "-w", missing)
        self.assertNotEqual(p.returncode, 2, p.stderr)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("every process on this machine", p.stderr)
        self.assertTrue("needs root" in p.stderr or "no-such-dir" in p.stderr, p.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(missing)))

        for size in ("4G", "2G", "64G"):
            p = run("--ring-size", size, "-w", path, "--", "true")
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(f"--ring-size {size} is too big", p.stderr)
            self.assertNotIn("5.17", p.stderr)
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()

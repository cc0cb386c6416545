#!/usr/bin/python3
"""ct-analyze --watch DIR, without root: captures (tests/fixtures/ship) appear in a
watched directory the way a recorder or a copy makes them appear (whole, written
slowly in pieces and renamed at the end, written slowly under the final name,
damaged, not a capture at all); the database must then hold exactly what a plain
`ct-analyze` import of the same files gives, each capture once, and say in
shipped_files what became of every file.

  ship_test.py CT_ANALYZE FIXTURES_DIR

Every wait is for a condition (a log line, a database row), never for a time.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ship_watcher import Watcher, wait_rows  # noqa: E402

CT_ANALYZE, FIXTURES = (os.path.abspath(a) for a in sys.argv[1:3])
del sys.argv[1:3]

WHOLE = ["a-tool.ctz", "b-openai.ctz", "c-long.ctz"]
DAMAGED = "d-damaged.ctz"  # c-long.ctz cut inside a segment: no trailer
NOT_CAPTURE = "notes.txt"


def fixture(name):
    return os.path.join(FIXTURES, name)


def capture_uuid(path):
    """The UUID in a capture's header, through a throw-away import."""
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "u.db")
        subprocess.run([CT_ANALYZE, "-q", "--db", db, path], check=True, capture_output=True)
        with sqlite3.connect(db) as c:
            return c.execute("SELECT uuid FROM captures").fetchone()[0]


# Columns that say where and when a file was imported, not what it holds.
SKIP_COLUMNS = {("captures", "file"), ("captures", "imported_ns")}


def dump(db_path):
    """Every table of a ct database but shipped_files, row for row, in id order."""
    out = {}
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as c:
        tables = [r[0] for r in c.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'search_index%' AND name <> 'shipped_files' ORDER BY name")]
        for t in tables:
            cols = [r[1] for r in c.execute(f"PRAGMA table_info({t})")
                    if (t, r[1]) not in SKIP_COLUMNS]
            order = ", ".join(str(i + 1) for i in range(len(cols)))
            rows = c.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY {order}").fetchall()
            out[t] = (cols, rows)
    return out


def write_slowly(source, path, pieces=8, final=None, before_close=None):
    """Writes `source` to `path` in pieces, the file held open throughout (as a
    recorder or a copy holds it), then closes it and renames it to `final`."""
    with open(source, "rb") as f:
        data = f.read()
    step = max(1, len(data) // pieces)
    with open(path, "wb") as out:
        for i in range(0, len(data), step):
            out.write(data[i:i + step])
            out.flush()
            time.sleep(0.05)  # pacing, so scans see the file half-written
        if before_close:
            before_close()
    if final:
        os.rename(path, final)


class Ship(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ct-ship-")
        self.dir = os.path.join(self.tmp, "captures")
        os.mkdir(self.dir)
        self.db = os.path.join(self.tmp, "ship.db")
        self.uuids = {name: capture_uuid(fixture(name)) for name in WHOLE + [DAMAGED]}

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def reference(self, files_in_order):
        """A plain import of the same files, in the same order, with the watcher's
        secret key (so fingerprints compare)."""
        ref = os.path.join(self.tmp, "ref.db")
        for suffix in ("", "-wal", "-shm", ".key"):
            if os.path.exists(ref + suffix):
                os.unlink(ref + suffix)
        if os.path.exists(self.db + ".key"):
            shutil.copy(self.db + ".key", ref + ".key")
        subprocess.run([CT_ANALYZE, "-q", "--db", ref, *files_in_order], check=True,
                       capture_output=True)
        return ref

    def imported_order(self):
        """The fixtures in the order the watcher stored their captures."""
        by_uuid = {u: n for n, u in self.uuids.items()}
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as c:
            return [fixture(by_uuid[u]) for (u,) in c.execute("SELECT uuid FROM captures ORDER BY id")]

    def shipped(self):
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as c:
            return {os.path.basename(p): (o, u, e) for p, o, u, e in c.execute(
                "SELECT path, outcome, capture_uuid, ended_cleanly FROM shipped_files")}

    def assert_same_as_plain_import(self):
        order = self.imported_order()
        self.assertEqual(sorted(order), sorted(fixture(n) for n in WHOLE + [DAMAGED]))
        self.assertEqual(dump(self.db), dump(self.reference(order)))

    def populate(self, watcher_settles):
        """Makes every kind of file appear in the watched directory."""
        shutil.copy(fixture(WHOLE[0]), self.dir)
        # Written in pieces under a temporary name, renamed when complete.
        write_slowly(fixture(WHOLE[1]), os.path.join(self.dir, WHOLE[1] + ".part"),
                     final=os.path.join(self.dir, WHOLE[1]))
        # Written in pieces under its final name (a recorder writing in place).
        write_slowly(fixture(WHOLE[2]), os.path.join(self.dir, WHOLE[2]))
        # Damaged (recorder killed): no trailer; nobody writes it since long.
        damaged = os.path.join(self.dir, DAMAGED)
        shutil.copy(fixture(DAMAGED), damaged)
        if watcher_settles:
            old = time.time() - 7200
            os.utime(damaged, (old, old))
        with open(os.path.join(self.dir, NOT_CAPTURE), "w") as f:
            f.write("not a capture\n" * 10)
        os.mkdir(os.path.join(self.dir, "subdir"))
        with open(os.path.join(self.dir, ".hidden.ctz"), "wb") as f:
            f.write(b"\0" * 100)

    def test_watch_imports_what_a_plain_import_does(self):
        w = Watcher(CT_ANALYZE, self.dir, self.db, "--settle", "3600")
        try:
            self.populate(watcher_settles=True)
            wait_rows(self.db, "SELECT count(*) FROM shipped_files", 5)
        finally:
            rc = w.stop()
        self.assertEqual(rc, 0, "\n".join(w.lines))
        self.assert_same_as_plain_import()
        shipped = self.shipped()
        self.assertEqual(set(shipped), set(WHOLE + [DAMAGED, NOT_CAPTURE]))
        for name in WHOLE:
            self.assertEqual(shipped[name], ("imported", self.uuids[name], 1))
        self.assertEqual(shipped[DAMAGED], ("imported", self.uuids[DAMAGED], 0))
        self.assertEqual(shipped[NOT_CAPTURE][0], "failed")
        # Reported once, and only the file that is not a capture.
        self.assertEqual(w.count(lambda l: "skipped" in l), 1, "\n".join(w.lines))
        self.assertEqual(w.count(lambda l: NOT_CAPTURE in l and "skipped" in l), 1)
        # Never a half-written file, never the temporary name.
        self.assertEqual(w.count(lambda l: ".part" in l), 0, "\n".join(w.lines))
        self.assertEqual(w.count(lambda l: "imported capture" in l), 4, "\n".join(w.lines))

        # A restart reads nothing again: no import, no new report, rows untouched.
        before = self.shipped_rows()
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once"],
                              capture_output=True, text=True)
        self.assertEqual(once.returncode, 0, once.stderr)
        self.assertEqual(once.stderr, "")
        self.assertEqual(self.shipped_rows(), before)
        self.assert_same_as_plain_import()

    def test_each_file_is_looked_at_once_while_copies_land(self):
        """Files written in many small pieces right under the watcher's nose: a scan
        that stats a file mid-copy and looks at it just after the copy closed must
        store the file's final state, or the next scan takes it for a changed file
        and imports it a second time (seen as 154 imports of 150 files)."""
        with open(fixture(WHOLE[0]), "rb") as f:
            data = f.read()
        step = max(1, len(data) // 200)
        names = [f"copy-{i:03}.ctz" for i in range(120)]
        w = Watcher(CT_ANALYZE, self.dir, self.db, "--settle", "3600")
        try:
            for name in names:
                with open(os.path.join(self.dir, name), "wb") as out:
                    for k in range(0, len(data), step):
                        out.write(data[k:k + step])
                        out.flush()
                time.sleep(0.02)  # pacing: the watcher scans between files
            wait_rows(self.db, "SELECT count(*) FROM shipped_files", len(names))
            # Every close has been seen once the last file is in: a scan after it
            # finds nothing new. Wait for that scan's quiet by one more file.
            shutil.copy(fixture(WHOLE[1]), self.dir)
            wait_rows(self.db, "SELECT count(*) FROM shipped_files", len(names) + 1)
        finally:
            rc = w.stop()
        self.assertEqual(rc, 0, "\n".join(w.lines))
        for name in names:
            self.assertEqual(w.count(lambda l, n=name: l.endswith(f"/{n}: importing")), 1,
                             "\n".join(l for l in w.lines if name in l))
        outcomes = [o for o, _, _ in self.shipped().values()]
        self.assertEqual(outcomes.count("imported"), 2)
        self.assertEqual(outcomes.count("already_present"), len(names) - 1)

    def shipped_rows(self):
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as c:
            return c.execute("SELECT * FROM shipped_files ORDER BY path").fetchall()

    def test_damaged_capture_waits_for_settle_unless_old(self):
        """A file without a trailer that nobody writes is final only after --settle."""
        shutil.copy(fixture(DAMAGED), self.dir)  # fresh mtime
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once",
                               "--settle", "3600"], capture_output=True, text=True)
        self.assertEqual(once.returncode, 0, once.stderr)
        self.assertIn("left for the next run", once.stderr)
        with sqlite3.connect(self.db) as c:
            self.assertEqual(c.execute("SELECT count(*) FROM captures").fetchone()[0], 0)
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once",
                               "--settle", "0"], capture_output=True, text=True)
        self.assertEqual(once.returncode, 0, once.stderr)
        with sqlite3.connect(self.db) as c:
            self.assertEqual(c.execute("SELECT uuid, ended_cleanly FROM captures").fetchall(),
                             [(self.uuids[DAMAGED], 0)])

    def test_once_leaves_a_file_being_written(self):
        """--once never imports a file some process holds open for writing, even with
        --settle 0, and a later run imports it whole."""
        path = os.path.join(self.dir, WHOLE[2])
        results = []

        def run_once():
            results.append(subprocess.run(
                [CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once", "--settle", "0"],
                capture_output=True, text=True))
        write_slowly(fixture(WHOLE[2]), path, before_close=run_once)
        self.assertEqual(results[0].returncode, 0, results[0].stderr)
        self.assertIn("left for the next run", results[0].stderr)
        run_once()
        self.assertEqual(results[1].returncode, 0, results[1].stderr)
        with sqlite3.connect(self.db) as c:
            self.assertEqual(c.execute("SELECT uuid, ended_cleanly FROM captures").fetchall(),
                             [(self.uuids[WHOLE[2]], 1)])

    def test_once_exit_status(self):
        with open(os.path.join(self.dir, NOT_CAPTURE), "w") as f:
            f.write("hello\n" * 10)
        shutil.copy(fixture(WHOLE[0]), self.dir)
        first = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once"],
                               capture_output=True, text=True)
        self.assertEqual(first.returncode, 1, first.stderr)
        self.assertIn(NOT_CAPTURE, first.stderr)
        # Reported once: the next run skips it silently.
        second = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once"],
                                capture_output=True, text=True)
        self.assertEqual((second.returncode, second.stderr), (0, ""))
        # Once it changes, it is looked at again.
        with open(os.path.join(self.dir, NOT_CAPTURE), "a") as f:
            f.write("more\n")
        third = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once"],
                               capture_output=True, text=True)
        self.assertEqual(third.returncode, 1, third.stderr)
        bad = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "x.ctz"],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        bad = subprocess.run([CT_ANALYZE, "--once", "--db", self.db],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)

    def test_database_in_the_watched_directory_is_left_alone(self):
        db = os.path.join(self.dir, "history.db")
        shutil.copy(fixture(WHOLE[0]), self.dir)
        for _ in range(2):
            once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", db, "--once"],
                                  capture_output=True, text=True)
            self.assertEqual(once.returncode, 0, once.stderr)
            self.assertNotIn("skipped", once.stderr)
        with sqlite3.connect(db) as c:
            self.assertEqual(c.execute("SELECT count(*) FROM shipped_files").fetchone()[0], 1)

    def test_oldest_first(self):
        """Captures are stored in the order they were finished (mtime), not by name."""
        now = time.time()
        for age, name in ((100, WHOLE[2]), (300, WHOLE[1]), (200, WHOLE[0])):
            shutil.copy(fixture(name), self.dir)
            path = os.path.join(self.dir, name)
            os.utime(path, (now - age, now - age))
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once"],
                              capture_output=True, text=True)
        self.assertEqual(once.returncode, 0, once.stderr)
        self.assertEqual(self.imported_order(), [fixture(WHOLE[1]), fixture(WHOLE[0]),
                                                 fixture(WHOLE[2])])

    def test_move_to(self):
        done = os.path.join(self.tmp, "done")
        os.mkdir(done)
        shutil.copy(fixture(WHOLE[0]), self.dir)
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once",
                               "--move-to", done], capture_output=True, text=True)
        self.assertEqual(once.returncode, 0, once.stderr)
        self.assertEqual(os.listdir(self.dir), [])
        self.assertEqual(os.listdir(done), [WHOLE[0]])
        # The same name again (a copy of another capture): never overwritten there.
        shutil.copy(fixture(WHOLE[1]), os.path.join(self.dir, WHOLE[0]))
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once",
                               "--move-to", done], capture_output=True, text=True)
        self.assertEqual(once.returncode, 0, once.stderr)
        self.assertIn("cannot move", once.stderr)
        self.assertEqual(os.listdir(self.dir), [WHOLE[0]])
        with open(os.path.join(done, WHOLE[0]), "rb") as a, open(fixture(WHOLE[0]), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_delete_after_import(self):
        shutil.copy(fixture(WHOLE[0]), self.dir)
        with open(os.path.join(self.dir, NOT_CAPTURE), "w") as f:
            f.write("hello\n" * 10)
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once",
                               "--delete-after-import"], capture_output=True, text=True)
        self.assertEqual(once.returncode, 1, once.stderr)  # the text file
        self.assertEqual(os.listdir(self.dir), [NOT_CAPTURE])  # only what was imported goes
        with sqlite3.connect(self.db) as c:
            self.assertEqual(c.execute("SELECT uuid FROM captures").fetchall(),
                             [(self.uuids[WHOLE[0]],)])

    def test_two_watchers_one_database(self):
        """Two watchers of one directory into one database: each capture once."""
        staging = os.path.join(self.tmp, "staging")
        os.mkdir(staging)
        a = Watcher(CT_ANALYZE, self.dir, self.db, "--settle", "3600")
        b = Watcher(CT_ANALYZE, self.dir, self.db, "--settle", "3600")
        try:
            names = WHOLE + [DAMAGED]
            for name in names:
                shutil.copy(fixture(name), staging)
            old = time.time() - 7200
            os.utime(os.path.join(staging, DAMAGED), (old, old))
            for name in names:  # both see each one appear at the same moment
                os.rename(os.path.join(staging, name), os.path.join(self.dir, name))
            # A watcher that finds the other's shipped_files row says nothing.
            wait_rows(self.db, "SELECT count(*) FROM shipped_files", len(names))
        finally:
            ra, rb = a.stop(), b.stop()
        self.assertEqual((ra, rb), (0, 0), "\n".join(a.lines + b.lines))
        imported = sum(w.count(lambda l: "imported capture" in l) for w in (a, b))
        self.assertEqual(imported, len(names), "\n".join(a.lines + ["--"] + b.lines))
        self.assert_same_as_plain_import()

    def test_kill_9_mid_import_then_restart(self):
        """kill -9 while a capture is being imported (the watcher held inside its
        transaction by CT_SHIP_TEST_STALL): nothing of it is stored, and the
        restarted watcher imports it; every capture is there once."""
        shutil.copy(fixture(WHOLE[0]), self.dir)
        once = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once"],
                              capture_output=True, text=True)
        self.assertEqual(once.returncode, 0, once.stderr)
        w = Watcher(CT_ANALYZE, self.dir, self.db, "--settle", "3600",
                    env=dict(os.environ, CT_SHIP_TEST_STALL="1"))
        try:
            shutil.copy(fixture(WHOLE[2]), self.dir)
            w.wait_line(lambda l: WHOLE[2] in l and "stalled inside the import" in l)
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as c:
                self.assertEqual(c.execute("SELECT count(*) FROM captures").fetchone()[0], 1)
        finally:
            w.stop(signal.SIGKILL)
        shutil.copy(fixture(WHOLE[1]), self.dir)
        again = subprocess.run([CT_ANALYZE, "--watch", self.dir, "--db", self.db, "--once"],
                               capture_output=True, text=True)
        self.assertEqual(again.returncode, 0, again.stderr)
        with sqlite3.connect(self.db) as c:
            rows = c.execute("SELECT uuid, count(*) FROM captures GROUP BY uuid").fetchall()
            self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        self.assertEqual(sorted(rows), sorted((self.uuids[n], 1) for n in WHOLE))
        by_uuid = {u: n for n, u in self.uuids.items()}
        with sqlite3.connect(self.db) as c:
            order = [fixture(by_uuid[u]) for (u,) in c.execute("SELECT uuid FROM captures ORDER BY id")]
        self.assertEqual(dump(self.db), dump(self.reference(order)))

    def test_sigterm_waits_for_the_capture_being_imported(self):
        """SIGTERM while a capture is being imported (the watcher held inside its
        transaction until the signal is pending): the import ends, then the watcher."""
        w = Watcher(CT_ANALYZE, self.dir, self.db, "--settle", "3600",
                    env=dict(os.environ, CT_SHIP_TEST_STALL="signal"))
        try:
            shutil.copy(fixture(WHOLE[2]), self.dir)
            w.wait_line(lambda l: WHOLE[2] in l and "stalled inside the import" in l)
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as c:
                self.assertEqual(c.execute("SELECT count(*) FROM captures").fetchone()[0], 0)
        finally:
            rc = w.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, "\n".join(w.lines))
        self.assertEqual(w.count(lambda l: WHOLE[2] in l and "imported capture" in l), 1,
                         "\n".join(w.lines))
        with sqlite3.connect(self.db) as c:
            order = [fixture(WHOLE[2])] * c.execute("SELECT count(*) FROM captures").fetchone()[0]
        self.assertEqual(order, [fixture(WHOLE[2])])
        self.assertEqual(dump(self.db), dump(self.reference(order)))


if __name__ == "__main__":
    unittest.main()

"""What the `ct-analyze --watch` tests share: a watcher run in the background
with its stderr lines collected, and a wait for a row count in a SQLite database.

Imported by tests/replay/ship_test.py, tests/record_e2e/test_ship.py and
tests/pg/pg_ship_test.py, each of which puts this folder on sys.path.

Every wait is for a condition (a log line, a database row), never for a time.
"""
import os
import signal
import sqlite3
import subprocess
import threading
import time


class Watcher:
    """`ct_analyze --watch DIRECTORY --db DB EXTRA...` in the background; its stderr
    lines are collected. Unless `ready` is False, waits for its "watching" line."""

    def __init__(self, ct_analyze, directory, db, *extra, env=None, ready=True):
        self.proc = subprocess.Popen([ct_analyze, "--watch", directory, "--db", db, *extra],
                                     stderr=subprocess.PIPE, text=True, errors="replace",
                                     env=env)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if ready:
            self.wait_line(lambda l: "watching" in l)

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, predicate, count=1):
        """Waits until `count` lines satisfy `predicate`; raises once the watcher
        has exited and all its lines are read without that."""
        with self.cond:
            while sum(1 for l in self.lines if predicate(l)) < count:
                if self.proc.poll() is not None and not self.reader.is_alive():
                    raise AssertionError("watcher exited %s:\n%s" % (self.proc.returncode,
                                                                    "\n".join(self.lines)))
                self.cond.wait(1)

    def count(self, what):
        """How many lines satisfy `what`: a predicate, or a text they contain."""
        predicate = what if callable(what) else (lambda l: what in l)
        with self.cond:
            return sum(1 for l in self.lines if predicate(l))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait()
        self.reader.join()
        self.proc.stderr.close()
        return rc


def wait_rows(db, sql, expect):
    """Waits until `sql` (one number) gives `expect` in the SQLite database `db`."""
    while True:
        if os.path.exists(db):
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                    if c.execute(sql).fetchone()[0] == expect:
                        return
            except sqlite3.OperationalError:
                pass  # not created or not migrated yet
        time.sleep(0.05)

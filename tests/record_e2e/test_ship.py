"""ct-analyze --watch DIR with a real recorder, as root: ct-record writes captures of
real clients (curl, python) into the watched directory (in place, and under a
temporary name renamed at the end); the watcher imports each once it is closed,
and the database holds every byte the server logged. A watcher killed with -9
in the middle of an import (held there by CT_SHIP_TEST_STALL) and restarted
leaves exactly one copy of each capture.

  CT_RECORD=build/record/ct-record CT_DUMP=build/tools/ct-dump/ct-dump \
  CT_ANALYZE=build/replay/analyze/ct-analyze python3 -m unittest -v test_ship

Waits are for conditions (log lines, database rows), never wall-clock bounds.
"""
import os
import signal
import sqlite3
import subprocess
import sys

from harness import CT_RECORD, PYTHON, Capture, LogServer, RecordTest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ship_watcher import Watcher, wait_rows  # noqa: E402

CT_ANALYZE = os.environ.get("CT_ANALYZE", "ct-analyze")

PYTHON_CLIENT = r'''
import http.client, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
for i in range(3):
    body = ("python body %d " % i).encode() * 500
    conn.request("POST", "/echo", body=body, headers={"content-type": "text/plain"})
    assert conn.getresponse().read() == body
conn.request("GET", "/bytes/100000")
conn.getresponse().read()
conn.close()
'''


class ShipE2E(RecordTest):
    def setUp(self):
        super().setUp()
        self.watched = os.path.join(self.tmp, "watched")
        os.mkdir(self.watched)
        self.db = os.path.join(self.tmp, "history.db")

    def record_into(self, name, command, server, temporary=False):
        """ct-record writes DIR/name (or DIR/name.part, renamed once it exits)."""
        final = os.path.join(self.watched, name)
        path = final + ".part" if temporary else final
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, "--", *command],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        if temporary:
            os.rename(path, final)
        return final

    def shipped_uuid(self, db, path):
        row = db.execute("SELECT capture_uuid FROM shipped_files WHERE path = ?",
                         (os.path.realpath(path),)).fetchone()
        self.assertIsNotNone(row, f"{path} not in shipped_files")
        return row[0]

    def assert_database_matches_server(self, capture_path, server, expect_connections):
        """The capture matches the server byte for byte (ct-dump), and the database
        holds those bytes: per connection the byte counts, per exchange the request
        and response bodies at their stream positions."""
        capture = Capture(capture_path, self.tmp)
        saved, self.server = self.server, server
        try:
            self.assert_matches_server(capture, expect_connections)
        finally:
            self.server = saved
        logged = {}
        for port, entry in server.connection_list(expect=expect_connections):
            logged.setdefault(port, []).append(entry)
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            uuid = self.shipped_uuid(db, capture_path)
            cid = db.execute("SELECT id FROM captures WHERE uuid = ?", (uuid,)).fetchone()
            self.assertIsNotNone(cid, f"capture {uuid} not in the database")
            conns = db.execute(
                "SELECT id, local_port, bytes_sent, bytes_received, gaps FROM connections"
                " WHERE capture_id = ? AND remote_port = ? ORDER BY id",
                (cid[0], server.port)).fetchall()
            conns = [c for c in conns if c[2] or c[3]]
            self.assertEqual(len(conns), expect_connections)
            exchanges = 0
            for conn_id, port, sent, received, gaps in conns:
                entry = logged[port].pop(0)
                self.assertEqual((sent, received, gaps),
                                 (len(entry["recv"]), len(entry["sent"]), 0))
                for table, stream in (("http_requests", entry["recv"]),
                                      ("http_responses", entry["sent"])):
                    rows = db.execute(f"SELECT stream_pos, wire_size, body FROM {table}"
                                      " WHERE connection_id = ?", (conn_id,)).fetchall()
                    self.assertGreater(len(rows), 0)
                    for pos, wire, body in rows:
                        body = bytes(body or b"")
                        end = pos + wire
                        self.assertTrue(stream[end - len(body):end] == body,
                                        f"{table} body at {pos} differs from the server's log")
                        exchanges += 1
            self.assertGreater(exchanges, 0)

    def test_recorded_captures_are_shipped_byte_exact(self):
        watcher = Watcher(CT_ANALYZE, self.watched, self.db, "--settle", "3600")
        os.makedirs(os.path.join(self.tmp, "second"))
        second = LogServer(os.path.join(self.tmp, "second"))
        try:
            curl = self.record_into("curl.ctz", [
                "curl", "-sS", "--cacert", self.server.cert, "-o", "/dev/null",
                "-d", "x" * 3000, self.server.url + "/echo", "--next", "--cacert",
                self.server.cert, "-o", "/dev/null", self.server.url + "/bytes/200000"],
                self.server)
            python = self.record_into(
                "python.ctz", [PYTHON, "-c", PYTHON_CLIENT, str(second.port), second.cert],
                second, temporary=True)
            wait_rows(self.db, "SELECT count(*) FROM shipped_files WHERE outcome = 'imported'", 2)
            self.assertEqual(watcher.stop(), 0, "\n".join(watcher.lines))
            self.assertFalse(any(".part" in l for l in watcher.lines), "\n".join(watcher.lines))
            self.assert_database_matches_server(curl, self.server, 1)
            self.assert_database_matches_server(python, second, 1)
            with sqlite3.connect(self.db) as db:
                self.assertEqual(db.execute("SELECT count(*), sum(ended_cleanly) FROM captures")
                                 .fetchone(), (2, 2))
        finally:
            second.stop()
            if watcher.proc.poll() is None:
                watcher.stop(signal.SIGKILL)

    def test_kill_9_mid_import_leaves_one_copy(self):
        # CT_SHIP_TEST_STALL holds the watcher inside the import's transaction, once
        # the first connection is written: the kill lands mid-import for certain.
        watcher = Watcher(CT_ANALYZE, self.watched, self.db, "--settle", "3600",
                          env=dict(os.environ, CT_SHIP_TEST_STALL="1"))
        try:
            big = self.record_into("big.ctz", [
                "curl", "-sS", "--cacert", self.server.cert, "-o", "/dev/null",
                self.server.url + "/bytes/5000000"], self.server)
            watcher.wait_line(lambda l: "big.ctz: stalled inside the import" in l)
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
                self.assertEqual(db.execute("SELECT count(*) FROM captures").fetchone()[0], 0)
        finally:
            watcher.stop(signal.SIGKILL)
        small = self.record_into("small.ctz", [
            "curl", "-sS", "--cacert", self.server.cert, "-o", "/dev/null", "-d", "y" * 100,
            self.server.url + "/echo"], self.server)
        watcher = Watcher(CT_ANALYZE, self.watched, self.db, "--settle", "3600")
        try:
            wait_rows(self.db, "SELECT count(*) FROM shipped_files", 2)
        finally:
            self.assertEqual(watcher.stop(), 0, "\n".join(watcher.lines))
        with sqlite3.connect(self.db) as db:
            rows = db.execute("SELECT count(*), count(DISTINCT uuid) FROM captures").fetchone()
        self.assertEqual(rows, (2, 2))
        # Each capture's bytes, against the server's log of its one connection.
        logged = self.server.connection_list(expect=2)
        self.assertEqual(len(logged), 2)
        for path, (port, entry) in ((big, logged[0]), (small, logged[1])):
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
                uuid = self.shipped_uuid(db, path)
                got = db.execute(
                    "SELECT n.bytes_sent, n.bytes_received, n.gaps FROM connections n JOIN captures c"
                    " ON c.id = n.capture_id WHERE c.uuid = ? AND n.local_port = ?",
                    (uuid, port)).fetchall()
            self.assertEqual(got, [(len(entry["recv"]), len(entry["sent"]), 0)])

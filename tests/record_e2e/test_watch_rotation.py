"""ct-record --watch rotating very often under steady traffic: every event is in
exactly one file, and each file's trailer counts that file alone.

BPF numbers an event before it reserves the event's place in the ring, so with
several CPUs the events reach the ring out of order, and an event numbered just
before a rotation can arrive after it (capture-format.md 3.7). Here three client
processes (forked from one python, so they run on every CPU) make small exchanges
without pause against the logging TLS server while the test sends SIGHUP again each
time the recorder has finished the previous rotation. Then:

- the sequence numbers of all files together are 0 .. N-1, each exactly once;
  file i holds exactly the numbers from its first_seq up to its trailer's
  last_seq, which is file i+1's first_seq;
- each file's trailer: events, data_bytes and frames equal what the file holds,
  lost_events and lost_bytes 0, and the reader finds no lost event either;
- every connection, its parts in consecutive files joined, equals the server's log
  byte for byte;
- ct-analyze stores each file's place in the series (first_seq, series_uuid,
  series_index, previous_capture_uuid), and listing the series by series_index
  gives the files in the order they were written.

WatchRotationRingFull does the same through a 16 KiB ring that the larger bodies
overflow: each file's lost events are the numbers it lacks (trailer, reader and
ct-record's message agree), ct-record's run total is the files' sum, the bytes
the server saw and no file holds are exactly the trailers' lost_bytes, and the
DATA and LOSS events cover each stream without overlap.
"""
import json
import os
import re
import signal
import sqlite3
import subprocess
import unittest

from harness import CT_DUMP, Capture, wait_for
from test_watch import CT_ANALYZE, WatchBase

# argv: cafile port stopfile workers [scale]. Each worker (a process of its own)
# makes exchanges on one kept-alive connection, and one on a new connection every
# 8th, until the stop file exists; bodies vary in size (15 bytes to 1.3 KiB, times
# scale). Prints "WORKER k exchanges".
PYTHON_STEADY = r'''
import http.client, os, ssl, sys
cafile, port, stop, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
scale = int(sys.argv[5]) if len(sys.argv) > 5 else 1

def work(k):
    ctx = ssl.create_default_context(cafile=cafile)
    keep = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    i = 0
    while not os.path.exists(stop):
        body = f"w{k}-{i:06d}-".encode() * (1 + (i * 37) % 90) * scale
        keep.request("POST", "/echo", body=body)
        assert keep.getresponse().read() == body
        if i % 8 == 0:
            one = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
            one.request("POST", "/echo", body=body[:100])
            assert one.getresponse().read() == body[:100]
            one.close()
        i += 1
    keep.close()
    os.write(1, f"WORKER {k} {i}\n".encode())  # one write: the workers share the pipe

pids = []
for k in range(workers):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work(k)
            code = 0
        except BaseException as e:
            print(f"worker {k}: {e!r}", file=sys.stderr, flush=True)
        os._exit(code)
    pids.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
sys.exit(0 if codes == [0] * workers else 1)
'''

SEQ = re.compile(r"^\[\d+\] seq=(\d+) t=\d+ pid=\d+ tid=(\d+) ")
DATA_LEN = re.compile(r" gen=\d+ (?:write|read) pos=\d+ len=(\d+) ")
DATA_RANGE = re.compile(r" gen=(\d+) (write|read) pos=(\d+) len=(\d+) ")
LOSS_RANGE = re.compile(r" gen=(\d+) dir=(\d) pos=(\d+) lost=(\d+) reason=(\S+)")


def ranges_of(path):
    """The stream ranges a capture's DATA and LOSS events cover, from ct-dump:
    {(gen, "write"|"read"): [(pos, len, "data"|"loss")]}, and how many LOSS events of
    each reason it holds."""
    out = subprocess.run([CT_DUMP, path], check=True, capture_output=True, text=True,
                         errors="replace").stdout
    ranges, reasons = {}, {}
    for line in out.splitlines():
        if not SEQ.match(line):
            continue
        m = DATA_RANGE.search(line)
        if m:
            ranges.setdefault((int(m.group(1)), m.group(2)), []).append(
                (int(m.group(3)), int(m.group(4)), "data"))
            continue
        m = LOSS_RANGE.search(line)
        if m:
            direction = "write" if m.group(2) == "0" else "read"
            ranges.setdefault((int(m.group(1)), direction), []).append(
                (int(m.group(3)), int(m.group(4)), "loss"))
            reasons[m.group(5)] = reasons.get(m.group(5), 0) + 1
    return ranges, reasons


def events_of(path):
    """(sequence numbers in file order, how many of BPF's events reached the ring after a
    higher-numbered one of BPF's, plaintext bytes in DATA events) of a capture, from
    ct-dump. (Events ct-record writes itself, tid 0, are numbered when written.)"""
    out = subprocess.run([CT_DUMP, path], check=True, capture_output=True, text=True,
                         errors="replace").stdout
    seqs, data, late, top = [], 0, 0, -1
    for line in out.splitlines():
        m = SEQ.match(line)
        if not m:
            continue
        seq = int(m.group(1))
        seqs.append(seq)
        if m.group(2) != "0":
            late += seq < top
            top = max(top, seq)
        d = DATA_LEN.search(line)
        if d:
            data += int(d.group(1))
    return seqs, late, data


class RotationBase(WatchBase):
    ROTATIONS = 60
    WORKERS = 4

    def rotate_under_traffic(self, rec, agent, scale=1, traffic_in_every_file=False):
        """Runs PYTHON_STEADY's workers under `agent` while the watcher `rec` rotates
        ROTATIONS times on SIGHUP (each after the previous one finished; with
        `traffic_in_every_file`, each after the server logged WORKERS more connections),
        then stops them and the watcher. Returns (exchanges per worker, the connections
        the server logged, the finished captures)."""
        stop = os.path.join(self.tmp, "stop")
        client = subprocess.Popen([agent, "-c", PYTHON_STEADY, self.server.cert,
                                   str(self.server.port), stop, str(self.WORKERS), str(scale)],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        # Traffic flows (a one-shot connection of each worker is logged) before the first
        # rotation, and goes on through all of them.
        seen = self.WORKERS
        self.assertGreaterEqual(len(self.server.connection_list(expect=seen)), seen)
        for n in range(1, self.ROTATIONS + 1):
            if traffic_in_every_file:
                seen += self.WORKERS
                self.assertGreaterEqual(len(self.server.connection_list(expect=seen)), seen)
            rec.send_signal(signal.SIGHUP)
            self.assertTrue(
                wait_for(lambda: self.read_log().count("rotated (SIGHUP)") >= n, timeout=120),
                f"rotation {n} did not happen:\n{self.read_log()[-3000:]}")
        with open(stop, "w"):
            pass
        out, _ = client.communicate(timeout=120)
        self.assertEqual(client.returncode, 0, out)
        exchanges = [int(line.split()[2]) for line in out.splitlines()
                     if line.startswith("WORKER ")]
        self.assertEqual(len(exchanges), self.WORKERS, out)
        expected = self.WORKERS + sum((i + 7) // 8 for i in exchanges)
        logged = self.server.connection_list(expect=expected)
        self.assertEqual(len(logged), expected)
        self.stop_watcher(rec)
        self.assertEqual(self.partial_captures(), [])
        files = self.finished_captures()
        self.assertEqual(len(files), self.ROTATIONS + 1, files)
        return exchanges, logged, files

    def each_file(self, files, seen, caps):
        """Reads the finished captures in order: yields (index, path, Capture, its sequence
        numbers) once it checked that the file ended cleanly and holds no number twice
        nor one of an earlier file (`seen` collects the numbers, `caps` the Captures)."""
        for index, path in enumerate(files):
            cap = Capture(path, self.tmp)
            caps.append(cap)
            self.assertTrue(cap.summary["ended_cleanly"], path)
            seqs, _, _ = events_of(path)
            self.assertEqual(len(set(seqs)), len(seqs), f"{path}: a number twice")
            self.assertFalse(seen & set(seqs), f"{path}: numbers of an earlier file")
            seen |= set(seqs)
            yield index, path, cap, seqs


class WatchRotationRace(RotationBase):
    def test_every_event_in_exactly_one_file(self):
        agent = self.agent_python()
        rec = self.start_watcher("--match-exe", agent)
        exchanges, logged, files = self.rotate_under_traffic(rec, agent)
        expected = len(logged)

        # The series as ct-analyze stores it: the files in the order they were written.
        db = os.path.join(self.tmp, "series.db")
        for path in files:
            proc = subprocess.run([CT_ANALYZE, "--no-progress", "-q", "--db", db, path],
                                  capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, f"ct-analyze {path}: {proc.stderr}")
        con = sqlite3.connect(db)
        rows = con.execute(
            "SELECT file, uuid, first_seq, series_uuid, series_index, previous_capture_uuid, "
            "watch_rules, lost_events FROM captures WHERE series_uuid = "
            "(SELECT series_uuid FROM captures LIMIT 1) ORDER BY series_index").fetchall()
        con.close()
        self.assertEqual([os.path.realpath(r[0]) for r in rows],
                         [os.path.realpath(f) for f in files])
        self.assertEqual([r[4] for r in rows], list(range(len(files))))
        self.assertEqual([r[5] for r in rows], [None] + [r[1] for r in rows[:-1]])
        for r in rows:
            self.assertEqual(json.loads(r[6]), [f"exe={os.path.realpath(agent)}"])
        self.assertEqual([r[7] for r in rows], [0] * len(files))

        # Each file alone: its numbers, its trailer.
        seen = {}  # seq -> file index
        caps = []
        out_of_order = 0  # events that reached the ring after a higher-numbered one
        for index, path in enumerate(files):
            cap = Capture(path, self.tmp)
            caps.append(cap)
            s, t = cap.summary, cap.summary["trailer"]
            self.assertTrue(s["ended_cleanly"], path)
            self.assertEqual(s["first_seq"], rows[index][2], path)
            self.assertEqual(s["lost_events"], 0, path)
            self.assertEqual(s["ring_full_events"], 0, path)
            seqs, late, data = events_of(path)
            out_of_order += late
            self.assertEqual(len(seqs), s["events"], path)
            self.assertEqual(t["events"], len(seqs), f"{path}: trailer events")
            self.assertEqual(t["data_bytes"], data, f"{path}: trailer data_bytes")
            self.assertEqual(t["frames"], s["frames"], f"{path}: trailer frames")
            self.assertEqual((t["lost_events"], t["lost_bytes"]), (0, 0), path)
            for q in seqs:
                self.assertNotIn(q, seen, f"seq {q} in file {seen.get(q)} and in file {index}")
                seen[q] = index
            # Exactly the numbers first_seq .. last_seq - 1.
            self.assertEqual(sorted(seqs), list(range(s["first_seq"], t["last_seq"])),
                             f"{path}: numbers outside [first_seq, last_seq) or missing")
            if index + 1 < len(files):
                nxt = rows[index + 1][2]
                self.assertEqual(t["last_seq"], nxt, f"{path}: last_seq is not the next "
                                                     f"file's first_seq")
        self.assertEqual(sorted(seen), list(range(len(seen))))
        self.assertEqual(rows[0][2], 0)

        # Every connection, joined across files, equals the server's log.
        by_port = {}
        for port, entry in logged:
            by_port.setdefault(port, []).append(entry)
        parts = {}  # gen -> [(file index, connection)]
        for index, cap in enumerate(caps):
            for c in self.to_server(cap):
                if c["write"] or c["read"] or c.get("socket_origin") == "continued":
                    parts.setdefault(c["gen"], []).append((index, c))
        joined = {}
        for gen, pieces in sorted(parts.items()):
            indexes = [i for i, _ in pieces]
            self.assertEqual(indexes, list(range(indexes[0], indexes[0] + len(indexes))),
                             f"connection {gen} skips a file")
            for _, c in pieces[1:]:
                self.assertEqual(c["socket_origin"], "continued")
            joined.setdefault(pieces[0][1]["local_port"], []).append(
                (b"".join(c["write"] for _, c in pieces), b"".join(c["read"] for _, c in pieces)))
        self.assertEqual(sorted(joined), sorted(by_port))
        for port, entries in by_port.items():
            got = joined[port]
            self.assertEqual(len(got), len(entries), f"port {port}")
            for (write, read), server in zip(got, entries):
                self.assertTrue(write == server["recv"], f"port {port}: request bytes differ")
                self.assertTrue(read == server["sent"], f"port {port}: response bytes differ")
        carried = sum(1 for p in parts.values() if len(p) > 1)
        self.assertGreater(carried, 0)
        held = sum(int(m) for m in re.findall(r"(\d+) events numbered after the cut read while "
                                              r"closing", self.read_log()))
        print(f"rotation race: {len(files)} files, {len(seen)} events, {sum(exchanges)} "
              f"exchanges by {self.WORKERS} processes, {expected} connections "
              f"({carried} spanning files); {out_of_order} events reached the ring after a "
              f"higher-numbered one; {held} events numbered after a cut were read while the "
              f"file before it was closed")


class WatchRotationRingFull(RotationBase):
    """Rotations while the ring overflows: every lost event and byte is counted once,
    in the file its number belongs to, and what no file holds is exactly what the
    files say they lost."""
    ROTATIONS = 8
    WORKERS = 3

    def test_losses_through_rotations_are_counted_per_file(self):
        agent = self.agent_python()
        # A 16 KiB ring cannot take the 64 KiB chunks of the largest bodies (up to 62 KiB
        # at scale 48), so their reservations fail whatever the recorder's speed.
        rec = self.start_watcher("--match-exe", agent, extra=("--ring-size", "16K"))
        _, logged, files = self.rotate_under_traffic(rec, agent, scale=48,
                                                     traffic_in_every_file=True)
        expected = len(logged)
        log = self.read_log()

        # Sequence numbers: each in at most one file; the numbers a file lacks in
        # [first_seq, last_seq) are its lost events, for the trailer, the reader and
        # ct-record's message when it closed the file.
        closed_lost = [int(m) if m else 0 for m in
                       re.findall(r"closed \S+ \(\d+ events(?:, (\d+) LOST)?", log)]
        self.assertEqual(len(closed_lost), self.ROTATIONS, log[-3000:])
        seen, caps, files_with_loss, total_lost_events = set(), [], 0, 0
        ranges = {}  # (gen, direction) -> [(pos, len, kind)], all files
        loss_events, loss_bytes, trailer_lost_bytes = 0, 0, 0
        for index, path, cap, seqs in self.each_file(files, seen, caps):
            s, t = cap.summary, cap.summary["trailer"]
            self.assertTrue(all(s["first_seq"] <= q < t["last_seq"] for q in seqs), path)
            missing = (t["last_seq"] - s["first_seq"]) - len(seqs)
            self.assertEqual(t["lost_events"], missing, f"{path}: trailer lost_events")
            self.assertEqual(s["lost_events"], missing, f"{path}: reader's lost events")
            if index < self.ROTATIONS:
                self.assertEqual(closed_lost[index], missing, f"{path}: ct-record said")
            total_lost_events += missing
            file_ranges, reasons = ranges_of(path)
            for key, r in file_ranges.items():
                ranges.setdefault(key, []).extend(r)
            in_file = sum(n for n in reasons.values())
            loss_events += in_file
            loss_bytes += sum(length for r in file_ranges.values()
                              for _, length, kind in r if kind == "loss")
            trailer_lost_bytes += t["lost_bytes"]
            files_with_loss += in_file > 0 or missing > 0
            self.assertEqual(set(reasons) - {"ring-full", "ring_full"}, set(),
                             f"{path}: LOSS reasons {reasons}")
        self.assertGreaterEqual(files_with_loss, min(2, len(files)), "the ring overflowed in fewer than two files")
        summary = re.search(r"LOST: (\d+) events", log)
        self.assertEqual(int(summary.group(1)) if summary else 0, total_lost_events,
                         "ct-record's run summary against the files' trailers")

        # Bytes. What the server received and sent and no file holds is what the
        # trailers count as lost, exactly.
        data_bytes = sum(length for r in ranges.values() for _, length, kind in r if kind == "data")
        server_bytes = sum(len(entry["recv"]) + len(entry["sent"]) for _, entry in logged)
        self.assertEqual(trailer_lost_bytes, server_bytes - data_bytes,
                         f"trailers' lost_bytes against the server's {server_bytes} bytes, "
                         f"{data_bytes} of them in DATA events")
        # And where: in each direction of each connection, the DATA and LOSS events of
        # all files cover the server's bytes without overlap, and the DATA bytes are the
        # server's. What neither covers is a DATA event whose LOSS event was lost too: a
        # lost event of some file. (A connection whose SOCKET event was lost has no port
        # to find its server log by; it is left out here.)
        port_of = {}
        for cap in caps:
            for c in self.to_server(cap):
                port_of[c["gen"]] = c["local_port"]
        by_port = {}
        for port, entry in logged:
            by_port.setdefault(port, []).append(entry)
        holes = hole_bytes = checked = 0
        for gen, port in sorted(port_of.items()):
            if len(by_port.get(port, [])) != 1:
                continue  # its port was used twice
            for direction in ("write", "read"):
                server = by_port[port][0]["recv" if direction == "write" else "sent"]
                at, data = 0, []
                for pos, length, kind in sorted(ranges.get((gen, direction), [])):
                    self.assertGreaterEqual(pos, at,
                                            f"connection {gen} {direction}: overlap at {pos}")
                    if pos > at:
                        holes += 1
                        hole_bytes += pos - at
                    if kind == "data":
                        data.append(server[pos:pos + length])
                    at = pos + length
                self.assertLessEqual(at, len(server), f"connection {gen} {direction}: past the end")
                if at < len(server):
                    holes += 1
                    hole_bytes += len(server) - at
                captured = b"".join(
                    c[direction] for cap in caps for c in cap.connections if c["gen"] == gen)
                self.assertTrue(captured == b"".join(data),
                                f"connection {gen} {direction}: captured bytes differ")
                checked += 1
        self.assertGreaterEqual(checked, expected, "fewer than half the streams could be checked")
        self.assertLessEqual(holes, total_lost_events)
        self.assertLessEqual(loss_bytes + hole_bytes, trailer_lost_bytes)
        print(f"ring full through rotations: {len(files)} files, {len(seen)} events kept, "
              f"{total_lost_events} lost; {loss_events} LOSS events ({loss_bytes} bytes), "
              f"{holes} uncovered stretches ({hole_bytes} bytes); {checked} streams checked")


class WatchRotationLateEvents(RotationBase):
    """Where no barrier for running BPF programs exists (nohz_full), events numbered
    below a rotation's cut can reach the ring after their file closed (capture-format.md
    3.7). CT_RECORD_TEST_LATE_EVENTS makes every rotation close its file without the
    barrier and without reading the ring first, so that many do: each is written into
    the next file, which says how many it holds, and counts as lost in its own file
    only; no byte is lost."""
    ROTATIONS = 10
    WORKERS = 3

    def test_late_events_go_into_the_next_file_and_are_said(self):
        agent = self.agent_python()
        rec = self.start_watcher("--match-exe", agent, env={"CT_RECORD_TEST_LATE_EVENTS": "1"})
        _, logged, files = self.rotate_under_traffic(rec, agent, traffic_in_every_file=True)
        self.assertIn("no barrier for running BPF programs", self.read_log())
        seen, caps, late_total, lost_total = set(), [], 0, 0
        for index, path, cap, seqs in self.each_file(files, seen, caps):
            s, t = cap.summary, cap.summary["trailer"]
            own = [q for q in seqs if s["first_seq"] <= q < t["last_seq"]]
            late = [q for q in seqs if q < s["first_seq"]]
            self.assertEqual(len(own) + len(late), len(seqs), f"{path}: numbers past last_seq")
            if index == 0:
                self.assertEqual(late, [])
            else:
                # Only the previous file's numbers, each missing there.
                previous = caps[index - 1].summary
                self.assertTrue(all(previous["first_seq"] <= q for q in late), path)
            # The trailer, the reader and ct-record count what the file lacks of its own
            # numbers, the late ones included.
            missing = (t["last_seq"] - s["first_seq"]) - len(own)
            self.assertEqual(t["lost_events"], missing, f"{path}: trailer lost_events")
            self.assertEqual(s["lost_events"], missing, f"{path}: reader's lost events")
            dump = subprocess.run([CT_DUMP, path], check=True, capture_output=True,
                                  text=True, errors="replace").stdout
            said = re.search(r"(\d+) event\(s\) numbered below this file's first_seq", dump)
            self.assertEqual(int(said.group(1)) if said else 0, len(late),
                             f"{path}: the NOTE on its late events")
            late_total += len(late)
            lost_total += missing
        self.assertGreater(late_total, 0, "no event reached a later file")
        # Nothing is lost: every number is in some file, and what the files count as
        # lost is exactly what reached the next one (the last file has no next: it
        # closes after everything was read).
        self.assertEqual(sorted(seen), list(range(len(seen))))
        self.assertEqual(lost_total, late_total)
        # And every connection, joined across files, is the server's, byte for byte.
        by_port = {}
        for port, entry in logged:
            by_port.setdefault(port, []).append(entry)
        joined = {}
        for cap in caps:
            for c in self.to_server(cap):
                w, r = joined.get(c["gen"], (b"", b"", c["local_port"]))[:2]
                joined[c["gen"]] = (w + c["write"], r + c["read"], c["local_port"])
        checked = 0
        for gen, (w, r, port) in sorted(joined.items()):
            if len(by_port.get(port, [])) != 1:
                continue
            self.assertTrue(w == by_port[port][0]["recv"], f"connection {gen}: request bytes")
            self.assertTrue(r == by_port[port][0]["sent"], f"connection {gen}: response bytes")
            checked += 1
        self.assertGreaterEqual(checked, len(logged) // 2)
        print(f"late events: {len(files)} files, {len(seen)} events, {late_total} of them "
              f"written into the file after their own; {checked} connections byte-exact")


if __name__ == "__main__":
    unittest.main()

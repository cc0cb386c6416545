#!/usr/bin/env python3
"""ct-analyze --watch DIR --db postgresql://: a fleet shipping into one real
PostgreSQL 15 database (a throw-away cluster, pg_cluster.py).

  pg_ship_test.py CT_ANALYZE HTML_REPORT_CAPTURE

1. Four "hosts" (a watcher each, on its own directory, --host h1..h4) and a
   second watcher on h1's directory all start at once on an empty database
   (the schema is created once) and see their captures appear at the same
   moment: every capture is stored exactly once, shipped_files has one row per
   file, and the rows equal those of a plain `ct-analyze FILE...` import of
   the same files into another database (ids aside: concurrent imports draw
   them from the sequences interleaved).
2. kill -9 of a watcher held inside an import's transaction (CT_SHIP_TEST_STALL):
   nothing of that capture is visible; the restarted watcher (--once) stores
   it once, the same as a plain import; a further --once imports nothing.
3. A database at schema version 6 (before shipped_files and the series columns)
   is brought to the newest version (that of schema/sql) by the watcher.
4. The server restarts under a running watcher: the next capture (its file
   name not UTF-8) is imported on new connections, nothing is recorded as
   failed, and a later --once finds both files shipped.

Every wait is for a condition (a log line, a row count), never for a time.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import pg_cluster  # noqa: E402
from ship_watcher import Watcher  # noqa: E402

CT, GEN_REPORT = sys.argv[1:3]
SCHEMA = os.path.join(HERE, "..", "..", "schema", "sql")
# The newest schema version: the highest NNN of schema/sql and schema/sql/postgresql.
NEWEST = str(max(int(name.split("_")[0]) for d in (SCHEMA, os.path.join(SCHEMA, "postgresql"))
                 for name in os.listdir(d) if name.endswith(".sql")))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def wait_count(pg, db, sql, expect, watchers):
    while True:
        try:
            if pg.psql(db, sql).strip() == str(expect):
                return
        except subprocess.CalledProcessError:
            pass  # the schema is not there yet
        for w in watchers:
            if w.proc.poll() is not None:
                raise AssertionError("a watcher exited:\n" + "\n".join(w.lines))
        time.sleep(0.05)


# Columns that hold llm_blobs ids: compared as the blob's sha256.
BLOB_REFS = {"body_prefix_id", "body_suffix_id", "system_blob_id", "tools_blob_id", "blob_id"}
TABLES = ["captures", "capture_damage", "notes", "processes", "probes", "tcp_connections",
          "connections", "stream_gaps", "raw_streams", "llm_blobs", "http_requests",
          "http_responses", "sse_events", "llm_calls", "llm_call_messages", "llm_tool_calls",
          "search_documents"]


def dump(pg, db):
    """Every table's rows as sorted JSON, without the ids (and imported_ns): a
    reference to an LLM blob becomes its sha256."""
    blobs = dict(l.split("|") for l in pg.psql(
        db, "SELECT id, encode(sha256, 'hex') FROM llm_blobs").splitlines())
    out = {}
    for t in TABLES:
        rows = json.loads(pg.psql(db, f"SELECT coalesce(json_agg(t), '[]') FROM {t} t"))
        norm = []
        for r in rows:
            r.pop("imported_ns", None)
            for col in list(r):
                if col in BLOB_REFS:
                    r[col] = blobs.get(str(r[col])) if r[col] is not None else None
                elif col in ("id", "rowid", "ref_id") or col.endswith("_id"):
                    del r[col]
            norm.append(json.dumps(r, sort_keys=True))
        out[t] = sorted(norm)
    return out


def plain_import(pg, db, source_db, files):
    """`ct-analyze FILE...` into a new database, with the secret key of source_db."""
    pg.create_database(db)
    url = pg.url(db)
    subprocess.run([CT, "--db", url, "--sql", "SELECT 1"], check=True, capture_output=True)
    key = pg.psql(source_db, "SELECT encode(value, 'hex') FROM ct_settings "
                             "WHERE name = 'fingerprint_key'").strip()
    pg.psql(db, f"INSERT INTO ct_settings VALUES ('fingerprint_key', decode('{key}', 'hex'))")
    subprocess.run([CT, "-q", "--no-progress", "--db", url, *files], check=True,
                   capture_output=True)


def compare(pg, a, b, what):
    x, y = dump(pg, a), dump(pg, b)
    rows = 0
    for t in TABLES:
        rows += len(x[t])
        if x[t] != y[t]:
            only = [r for r in x[t] if r not in y[t]][:2]
            check(False, f"{what}: {t}: {len(x[t])} rows shipped, {len(y[t])} imported; "
                         f"only shipped: {only}")
    return rows


def main():
    if not pg_cluster.available():
        print("SKIP: PostgreSQL 15 binaries not found (/usr/lib/postgresql/15/bin, psql); "
              "tools/install-deps.sh installs postgresql-15")
        return 77
    work = tempfile.mkdtemp(prefix="ct-pg-ship-")
    os.chmod(work, 0o755)
    try:
        # Two captures per host; the long conversations share LLM blobs across hosts.
        hosts = {"h1": [("tool", "tool", []), ("long", "h1-long", ["20"])],
                 "h2": [("openai", "openai", []), ("long", "h2-long", ["30"])],
                 "h3": [("long", "h3-long", ["25"]), ("tool", "h3-tool", [])],
                 "h4": [("long", "h4-long", ["15"]), ("openai", "h4-openai", [])]}
        staging = os.path.join(work, "staging")
        os.mkdir(staging)
        files = {}
        for host, caps in hosts.items():
            os.mkdir(os.path.join(work, host))
            for mode, seed, args in caps:
                name = f"{host}-{seed}.ctz"
                subprocess.run([GEN_REPORT, os.path.join(staging, name), mode] + args, check=True,
                               stdout=subprocess.DEVNULL,
                               env=dict(os.environ, CT_SYNTHETIC_UUID_SEED=seed + "-ship"))
                files[name] = host
        with pg_cluster.PgCluster() as pg:
            pg.create_database("fleet")
            fleet = pg.url("fleet")

            print("1. four hosts and a second watcher of h1's directory, at once", flush=True)
            watchers = [Watcher(CT, os.path.join(work, h), fleet, "--host", h, "--settle", "3600",
                                ready=False) for h in hosts]
            watchers.append(Watcher(CT, os.path.join(work, "h1"), fleet, "--host", "h1",
                                    "--settle", "3600", ready=False))
            try:
                for w in watchers:
                    w.wait_line(lambda l: "watching" in l)
                for name, host in files.items():  # each appears whole, at once
                    os.rename(os.path.join(staging, name), os.path.join(work, host, name))
                wait_count(pg, "fleet", "SELECT count(*) FROM shipped_files", len(files), watchers)
            finally:
                codes = [w.stop() for w in watchers]
            log = "\n".join("\n".join(w.lines) for w in watchers)
            check(codes == [0] * len(watchers), f"watchers' exit codes {codes}:\n{log}")
            imported = sum(w.count("imported capture") for w in watchers)
            check(imported == len(files), f"{imported} imports for {len(files)} captures:\n{log}")
            uuids = pg.psql("fleet", "SELECT uuid, count(*) FROM captures GROUP BY uuid").split()
            check(len(uuids) == len(files) and all(u.endswith("|1") for u in uuids),
                  f"captures: {uuids}")
            shipped = pg.psql("fleet", "SELECT host, outcome, count(*) FROM shipped_files "
                                       "GROUP BY 1, 2 ORDER BY 1, 2").split()
            check(shipped == [f"{h}|imported|2" for h in hosts] or
                  all(s.split("|")[1] in ("imported", "already_present") for s in shipped),
                  f"shipped_files: {shipped}")
            check(pg.psql("fleet", "SELECT count(*) FROM shipped_files s JOIN captures c "
                                   "ON c.id = s.capture_id AND c.uuid = s.capture_uuid").strip()
                  == str(len(files)), "shipped_files rows do not point at their captures")
            check(pg.psql("fleet", "SELECT max(version) FROM ct_schema").strip() == NEWEST,
                  f"schema version is not {NEWEST}")
            order = pg.psql("fleet", "SELECT file FROM captures ORDER BY id").split()
            plain_import(pg, "plain", "fleet", order)
            rows = compare(pg, "fleet", "plain", "fleet")
            print(f"  {rows} rows equal to a plain import", flush=True)
            check(rows > 500, f"only {rows} rows compared")

            print("2. kill -9 inside an import, then restart", flush=True)
            pg.create_database("kill")
            kill = pg.url("kill")
            kdir = os.path.join(work, "k")
            os.mkdir(kdir)
            path = os.path.join(kdir, "k-long.ctz")
            subprocess.run([GEN_REPORT, path, "long", "40"], check=True, stdout=subprocess.DEVNULL,
                           env=dict(os.environ, CT_SYNTHETIC_UUID_SEED="kill-ship"))
            w = Watcher(CT, kdir, kill, "--settle", "3600",
                        env=dict(os.environ, CT_SHIP_TEST_STALL="1"), ready=False)
            try:
                w.wait_line(lambda l: "stalled inside the import" in l)
                check(pg.psql("kill", "SELECT count(*) FROM captures").strip() == "0",
                      "the capture being imported is visible before its commit")
            finally:
                w.stop(signal.SIGKILL)
            again = subprocess.run([CT, "--watch", kdir, "--db", kill, "--once"],
                                   capture_output=True, text=True)
            check(again.returncode == 0 and "imported capture" in again.stderr,
                  f"restart: {again.returncode} {again.stderr}")
            check(pg.psql("kill", "SELECT count(*) FROM captures").strip() == "1",
                  "not exactly one copy after the restart")
            check(pg.psql("kill", "SELECT outcome FROM shipped_files").strip() == "imported",
                  "shipped_files after the restart")
            plain_import(pg, "kill_plain", "kill", [path])
            compare(pg, "kill", "kill_plain", "after kill -9")
            third = subprocess.run([CT, "--watch", kdir, "--db", kill, "--once"],
                                   capture_output=True, text=True)
            check(third.returncode == 0 and "importing" not in third.stderr and
                  "imported" not in third.stderr,
                  f"a further --once: {third.returncode} {third.stderr}")

            print("3. a version 6 database gets shipped_files and the series columns",
                  flush=True)
            # Back to version 6: without 007's table and 008's columns (and the view that
            # shows two of them, which 008 makes again), and 011's column (010's view
            # first, which does not read it).
            with open(os.path.join(SCHEMA, "postgresql", "010_opening_prompt.sql")) as f:
                view_10 = f.read()
            pg.psql("kill", view_10 + "\nALTER TABLE llm_calls DROP COLUMN opening_prompt; "
                            "DROP TABLE shipped_files; ALTER TABLE captures "
                            "DROP COLUMN first_seq, DROP COLUMN series_uuid CASCADE, "
                            "DROP COLUMN series_index CASCADE, "
                            "DROP COLUMN previous_capture_uuid, DROP COLUMN watch_rules; "
                            "UPDATE ct_schema SET version = 6")
            v7 = subprocess.run([CT, "--watch", kdir, "--db", kill, "--once"],
                                capture_output=True, text=True)
            check(v7.returncode == 0 and "already in the database" in v7.stderr,
                  f"--once on version 6: {v7.returncode} {v7.stderr}")
            check(pg.psql("kill", "SELECT max(version) FROM ct_schema").strip() == NEWEST and
                  pg.psql("kill", "SELECT c.first_seq, v.series_uuid IS NULL FROM v_captures v "
                                  "JOIN captures c USING (id)").strip() == "0|t" and
                  pg.psql("kill", "SELECT outcome FROM shipped_files").strip() == "already_present",
                  "version 6 database not migrated")

            print("4. the server restarts under a running watcher", flush=True)
            pg.create_database("restart")
            rdir = os.path.join(work, "r")
            os.mkdir(rdir)
            # r2's name is not UTF-8 (a file name is bytes): PostgreSQL text gets U+FFFD.
            r2 = "r2-\udcff.ctz"
            for name, seed in [("r1.ctz", "restart-1"), (r2, "restart-2")]:
                subprocess.run([GEN_REPORT, os.path.join(staging, name), "long", "10"], check=True,
                               stdout=subprocess.DEVNULL,
                               env=dict(os.environ, CT_SYNTHETIC_UUID_SEED=seed))
            w = Watcher(CT, rdir, pg.url("restart"), "--settle", "3600", "--rescan", "3600",
                        ready=False)
            try:
                w.wait_line(lambda l: "watching" in l)
                os.rename(os.path.join(staging, "r1.ctz"), os.path.join(rdir, "r1.ctz"))
                w.wait_line(lambda l: "r1.ctz: imported capture" in l)
                pg.restart()  # the watcher's three connections are cut
                os.rename(os.path.join(staging, r2), os.path.join(rdir, r2))
                # Only the new file's event brings the watcher back (no rescan for an
                # hour): its statements fail on the cut connections and run again.
                w.wait_line(lambda l: "r2-" in l and ".ctz: imported capture" in l)
            finally:
                rc = w.stop()
            check(rc == 0 and w.count("skipped") == 0 and w.count("failed") == 0 and
                  w.count("retrying") == 0,
                  f"restart: {rc}\n" + "\n".join(w.lines))
            check(pg.psql("restart", "SELECT count(*) FROM shipped_files WHERE outcome = "
                                     "'imported'").strip() == "2", "shipped_files after the restart")
            check(pg.psql("restart", "SELECT count(*) FROM shipped_files WHERE path LIKE "
                                     "'%/r2-\ufffd.ctz'").strip() == "1",
                  "a file name that is not UTF-8 in shipped_files")
            # Restarted, the watcher finds both files shipped.
            again = subprocess.run([CT, "--watch", rdir, "--db", pg.url("restart"), "--once"],
                                   capture_output=True, text=True, errors="replace")
            check(again.returncode == 0 and "importing" not in again.stderr and
                  "imported" not in again.stderr,
                  f"--once after the restart: {again.returncode} {again.stderr}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

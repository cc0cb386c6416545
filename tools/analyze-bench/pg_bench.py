#!/usr/bin/env python3
"""Import throughput of ct-analyze into PostgreSQL next to SQLite, in one run,
each as a ratio to a bare load of the same rows into the same engine:

  * SQLite floor: the rows the import wrote, copied table by table into an
    empty ct database (INSERT INTO t SELECT * FROM imported.t, one transaction,
    same indexes). The FTS5 index is contentless and cannot be read back: the
    floor leaves it out (the import pays for it).
  * PostgreSQL floor: the rows the import wrote (COPY ... TO), loaded back with
    COPY ... FROM into an empty ct database in one transaction (same indexes,
    foreign keys, and search_index with its tsvectors already computed).

A throw-away PostgreSQL 15 cluster (tests/pg/pg_cluster.py) on a unix socket,
fsync off (a benchmark of ct, not of the disk). Each measurement runs RUNS
times, fastest counts.

  tools/analyze-bench/pg_bench.py BUILD_DIR [TARGET_MIB] [RUNS]
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "pg"))
import pg_cluster  # noqa: E402

TABLES = ["captures", "capture_damage", "notes", "processes", "probes", "tcp_connections",
          "connections", "stream_gaps", "raw_streams", "llm_blobs", "http_requests",
          "http_responses", "sse_events", "llm_calls", "llm_call_messages", "llm_tool_calls",
          "search_documents", "search_index"]


def timed(argv, **kw):
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


def main():
    build = sys.argv[1]
    mib = sys.argv[2] if len(sys.argv) > 2 else "64"
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    ct = os.path.join(build, "replay/analyze/ct-analyze")
    gen = os.path.join(build, "tools/analyze-bench/analyze-bench-gen")
    work = tempfile.mkdtemp(prefix="ct-pg-bench-")
    os.chmod(work, 0o755)
    try:
        capture = os.path.join(work, "bench.ctz")
        subprocess.run([gen, capture, mib], check=True, stdout=subprocess.DEVNULL)
        plain = int(subprocess.run(f"zstd -dc {capture} | wc -c", shell=True, check=True,
                                   capture_output=True, text=True).stdout)
        with pg_cluster.PgCluster() as pg:
            best = {"sqlite": 1e9, "pg": 1e9, "sqlite_floor": 1e9, "pg_floor": 1e9}
            for run in range(runs):
                lite = os.path.join(work, f"bench{run}.db")
                best["sqlite"] = min(best["sqlite"], timed(
                    [ct, "-q", "--no-progress", "--keep-secrets", "--db", lite, capture]))
                db = f"bench{run}"
                pg.create_database(db)
                # The schema first (as on a server that already has it).
                subprocess.run([ct, "--db", pg.url(db), "--sql", "SELECT 1"], check=True,
                               stdout=subprocess.DEVNULL)
                best["pg"] = min(best["pg"], timed(
                    [ct, "-q", "--no-progress", "--keep-secrets", "--db", pg.url(db), capture]))

                # SQLite floor: the same rows into an empty ct database.
                empty = os.path.join(work, f"floor{run}.db")
                subprocess.run([ct, "--db", empty, "--sql", "SELECT 1"], check=True,
                               stdout=subprocess.DEVNULL)
                con = sqlite3.connect(empty)
                t0 = time.perf_counter()
                con.execute(f"ATTACH '{lite}' AS imported")
                con.execute("BEGIN")
                for t in TABLES:
                    if t != "search_index":
                        con.execute(f"INSERT INTO main.{t} SELECT * FROM imported.{t}")
                con.execute("COMMIT")
                best["sqlite_floor"] = min(best["sqlite_floor"], time.perf_counter() - t0)
                con.close()

                # PostgreSQL floor: COPY the same rows into an empty ct database.
                dump = os.path.join(work, "dump")
                os.makedirs(dump, exist_ok=True)
                for t in TABLES:
                    pg.psql(db, f"\\copy {t} TO '{dump}/{t}'")
                floor = f"floor{run}"
                pg.create_database(floor)
                subprocess.run([ct, "--db", pg.url(floor), "--sql", "SELECT 1"], check=True,
                               stdout=subprocess.DEVNULL)
                script = "BEGIN;\n" + "".join(f"\\copy {t} FROM '{dump}/{t}'\n" for t in TABLES) + \
                         "COMMIT;\n"
                best["pg_floor"] = min(best["pg_floor"], timed(
                    ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.keywords(floor)],
                    input=script.encode()))
                shutil.rmtree(dump)
            rows = pg.psql("bench0", "SELECT " + " + ".join(
                f"(SELECT count(*) FROM {t})" for t in TABLES)).strip()
        m = plain / 1048576
        print(f"capture: {os.path.getsize(capture) / 1048576:.1f} MiB compressed, {m:.1f} MiB "
              f"of records; {rows} rows; best of {runs} runs "
              f"(load average {open('/proc/loadavg').read().split()[0]})")
        for name, engine, floor in [("SQLite", "sqlite", "sqlite_floor"),
                                    ("PostgreSQL", "pg", "pg_floor")]:
            print(f"  {name:10} import {best[engine]:7.3f} s ({m / best[engine]:6.1f} MiB/s of "
                  f"records); bare load of its rows {best[floor]:7.3f} s; import / bare load "
                  f"{best[engine] / best[floor]:.1f}x")
        print(f"  PostgreSQL import / SQLite import: {best['pg'] / best['sqlite']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

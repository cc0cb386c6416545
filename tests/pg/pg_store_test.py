#!/usr/bin/env python3
"""ct-analyze --db postgresql://: a real PostgreSQL 15 (a throw-away cluster in a
temporary directory, pg_cluster.py) against SQLite, on the same captures.

  pg_store_test.py CT_ANALYZE HTML_REPORT_CAPTURE EXPORT_TEST_CAPTURE README FIXTURES_DIR

1. The same captures (LLM calls, SSE, HTTP/2, gaps, unseen TCP, OpenAI, a long
   session, Codex sessions, hostile fixtures) imported into SQLite and into PostgreSQL give the
   same rows in every table. Normalised, and only this: ids are compared by rank
   (PostgreSQL reserves them from sequences in blocks: unique, not dense),
   captures.imported_ns (the time of the import) is left out, jsonb columns are
   compared as JSON values, SQLite text holding NUL or invalid UTF-8 is compared
   with U+FFFD in their place (what PostgreSQL text can hold), and search_index
   (FTS5 cannot be read back) by the documents it has and the searches it answers.
   Some of those connections were written exchange by exchange (their rows
   updated at the end), on both engines.
2. Four concurrent imports of different captures plus a concurrent re-import of
   one of them leave exactly one copy of each; the re-import says "Already in".
3. The README's example queries give the same answers on both engines.
4. --sql statements that write are refused on PostgreSQL; the database is unchanged.
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_cluster  # noqa: E402

CT, GEN_REPORT, GEN_EXPORT, README, FIXTURES = sys.argv[1:6]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


# Ids and the columns that point at them: (table, id column or None, {column: table}).
TABLES = [
    ("captures", "id", {}),
    ("capture_damage", "id", {"capture_id": "captures"}),
    ("notes", "id", {"capture_id": "captures"}),
    ("processes", "id", {"capture_id": "captures"}),
    ("probes", "id", {"capture_id": "captures"}),
    ("tcp_connections", "id", {"capture_id": "captures", "process_id": "processes"}),
    ("connections", "id", {"capture_id": "captures", "process_id": "processes"}),
    ("stream_gaps", "id", {"connection_id": "connections"}),
    ("raw_streams", "id", {"connection_id": "connections"}),
    ("llm_blobs", "id", {}),
    ("http_requests", "id", {"capture_id": "captures", "connection_id": "connections",
                             "body_prefix_id": "llm_blobs", "body_suffix_id": "llm_blobs"}),
    ("http_responses", "id", {"capture_id": "captures", "connection_id": "connections",
                              "request_id": "http_requests"}),
    ("sse_events", None, {"response_id": "http_responses"}),
    ("llm_calls", "id", {"capture_id": "captures", "request_id": "http_requests",
                         "response_id": "http_responses", "system_blob_id": "llm_blobs",
                         "tools_blob_id": "llm_blobs"}),
    ("llm_call_messages", None, {"llm_call_id": "llm_calls", "blob_id": "llm_blobs"}),
    ("llm_tool_calls", "id", {"llm_call_id": "llm_calls"}),
    ("search_documents", "rowid", {"capture_id": "captures"}),
]
SEARCH_REF = {"request_body": "http_requests", "response_body": "http_responses",
              "llm_response": "llm_calls", "llm_message": "llm_blobs",
              "llm_request_part": "llm_blobs"}
LEFT_OUT = {("captures", "imported_ns")}


def pg_valid_text(b):
    """bytes as PostgreSQL text holds them: NUL and invalid UTF-8 -> U+FFFD per byte
    (the importer's rule)."""
    out = []
    i = 0
    while i < len(b):
        c = b[i]
        n = 0
        lo, hi = 0x80, 0xBF
        if 0 < c < 0x80:
            n = 1
        elif 0xC2 <= c <= 0xDF:
            n = 2
        elif 0xE0 <= c <= 0xEF:
            n = 3
            lo = 0xA0 if c == 0xE0 else lo
            hi = 0x9F if c == 0xED else hi
        elif 0xF0 <= c <= 0xF4:
            n = 4
            lo = 0x90 if c == 0xF0 else lo
            hi = 0x8F if c == 0xF4 else hi
        ok = n > 0 and i + n <= len(b)
        if ok and n > 1:
            ok = lo <= b[i + 1] <= hi and all(0x80 <= b[i + k] <= 0xBF for k in range(2, n))
        if not ok:
            out.append("\ufffd")
            i += 1
            continue
        out.append(b[i:i + n].decode("utf-8"))
        i += n
    return "".join(out)


def pg_column_types(pg):
    types = {}
    for line in pg.psql("ct", "SELECT table_name, column_name, data_type FROM "
                              "information_schema.columns WHERE table_schema = 'public'").splitlines():
        t, c, d = line.split("|")
        types[(t, c)] = d
    return types


def sqlite_rows(path, table, types):
    con = sqlite3.connect(path)
    con.text_factory = bytes
    cur = con.execute(f"SELECT * FROM {table}" if table != "search_documents"
                      else "SELECT rowid, capture_id, kind, ref_id FROM search_documents")
    names = [d[0] for d in cur.description]
    rows = []
    for r in cur.fetchall():
        row = {}
        for name, v in zip(names, r):
            kind = types[(table, name)]
            if v is None:
                row[name] = None
            elif kind == "bytea":
                row[name] = "\\x" + bytes(v).hex()
            elif kind == "jsonb":
                row[name] = json.loads(bytes(v))
            elif kind == "text":
                row[name] = pg_valid_text(bytes(v))
            else:
                row[name] = v
        rows.append(row)
    con.close()
    return rows


# Child tables that have capture_id on PostgreSQL only (for Citus), and the
# parent whose capture_id it must be.
PG_CAPTURE = {"stream_gaps": ("connection_id", "connections"),
              "raw_streams": ("connection_id", "connections"),
              "sse_events": ("response_id", "http_responses"),
              "llm_call_messages": ("llm_call_id", "llm_calls"),
              "llm_tool_calls": ("llm_call_id", "llm_calls"),
              "search_index": ("rowid", "search_documents")}


def pg_rows(pg, table):
    out = pg.psql("ct", f"SELECT coalesce(json_agg(t), '[]') FROM {table} t")
    rows = json.loads(out)
    if table in PG_CAPTURE:
        for r in rows:
            del r["capture_id"]
    return rows


def rank_maps(dump):
    ranks = {}
    for table, idcol, _ in TABLES:
        if idcol:
            ranks[table] = {v: i for i, v in enumerate(sorted(r[idcol] for r in dump[table]))}
    return ranks


def normalised(dump):
    ranks = rank_maps(dump)
    result = {}
    for table, idcol, refs in TABLES:
        rows = []
        for r in dump[table]:
            r = dict(r)
            for col in list(r):
                if (table, col) in LEFT_OUT:
                    del r[col]
            if idcol:
                r[idcol] = ranks[table][r[idcol]]
            for col, target in refs.items():
                if r.get(col) is not None:
                    r[col] = ranks[target][r[col]]
            if table == "search_documents":
                r["ref_id"] = ranks[SEARCH_REF[r["kind"]]][r["ref_id"]]
            rows.append(json.dumps(r, sort_keys=True))
        result[table] = sorted(rows)
    return result


def compare_tables(sqlite_path, pg):
    types = pg_column_types(pg)
    lite = {t: sqlite_rows(sqlite_path, t, types) for t, _, _ in TABLES}
    post = {t: pg_rows(pg, t) for t, _, _ in TABLES}
    a, b = normalised(lite), normalised(post)
    total = 0
    for table, _, _ in TABLES:
        total += len(a[table])
        if a[table] != b[table]:
            only_a = [r for r in a[table] if r not in b[table]][:2]
            only_b = [r for r in b[table] if r not in a[table]][:2]
            check(False, f"{table}: SQLite {len(a[table])} rows, PostgreSQL {len(b[table])}; "
                         f"only in SQLite: {only_a}; only in PostgreSQL: {only_b}")
        else:
            print(f"  {table}: {len(a[table])} rows equal", flush=True)
    # The PostgreSQL-only capture_id is the parent's.
    for child, (column, parent) in PG_CAPTURE.items():
        key = "rowid" if parent == "search_documents" else "id"
        wrong = pg.psql("ct", f"SELECT count(*) FROM {child} c JOIN {parent} p ON p.{key} = "
                              f"c.{column} WHERE p.capture_id <> c.capture_id").strip()
        rows = pg.psql("ct", f"SELECT count(*) FROM {child}").strip()
        check(wrong == "0" and (rows != "0" or child == "raw_streams"),
              f"{child}.capture_id: {wrong} of {rows} rows not their parent's")
    # Every search document has its tsvector.
    docs = pg.psql("ct", "SELECT count(*) FROM search_documents d "
                         "JOIN search_index s ON s.rowid = d.rowid")
    check(int(docs) == len(post["search_documents"]) and int(docs) > 0,
          f"search_index: {docs} tsvectors for {len(post['search_documents'])} documents")
    return total


def sql(db, query):
    r = run([CT, "--db", db, "--sql", query, "--json"])
    check(r.returncode == 0, f"--sql {query!r} on {db}: {r.stderr}")
    return json.loads(r.stdout) if r.returncode == 0 else None


def same_answer(a, b):
    """Rows equal, numbers as numbers (PostgreSQL's numeric and SQLite's real), ids
    (id, *_id but capture_id: PostgreSQL's are not dense) left out."""
    def norm(rows):
        out = []
        for row in rows:
            out.append(json.dumps({k: (round(float(v), 6) if isinstance(v, (int, float)) and
                                       not isinstance(v, bool) else v)
                                   for k, v in row.items()
                                   if not (k == "id" or (k.endswith("_id") and k != "capture_id"))}))
        return sorted(out)
    return a is not None and b is not None and norm(a) == norm(b) and \
        [list(r.keys()) for r in a] == [list(r.keys()) for r in b]


def readme_queries():
    """The ```sql blocks of the README: statements for both engines, and pairs
    of engine-specific forms (blocks whose first line is -- SQLite / -- PostgreSQL)."""
    text = open(README).read()
    both, lite, post = [], [], []
    for block in re.findall(r"```sql\n(.*?)```", text, re.S):
        first = block.splitlines()[0].strip()
        target = lite if first == "-- SQLite" else post if first == "-- PostgreSQL" else both
        for stmt in block.split(";"):
            body = "\n".join(l for l in stmt.splitlines() if not l.strip().startswith("--"))
            if body.strip():
                target.append(body.strip())
    # The one in the command examples.
    both += re.findall(r'ct-analyze --db work\.db --sql "([^"]+)"', text)
    return both, list(zip(lite, post)), (len(lite), len(post))


def main():
    if not pg_cluster.available():
        print("SKIP: PostgreSQL 15 binaries not found (/usr/lib/postgresql/15/bin, psql); "
              "tools/install-deps.sh installs postgresql-15")
        return 77
    work = tempfile.mkdtemp(prefix="ct-pg-test-")
    os.chmod(work, 0o755)
    try:
        caps = {}
        for name, argv in [("tool", [GEN_REPORT, "tool"]), ("openai", [GEN_REPORT, "openai"]),
                           ("long", [GEN_REPORT, "long", "60"]), ("export", [GEN_EXPORT]),
                           ("codex", [GEN_REPORT, "codex"]),
                           # Two files of a ct-record --watch series, the second first.
                           ("series-1", [GEN_REPORT, "series", "1"]),
                           ("series-0", [GEN_REPORT, "series", "0"])]:
            path = os.path.join(work, name + ".ctz")
            subprocess.run([argv[0], path] + argv[1:], check=True, stdout=subprocess.DEVNULL)
            caps[name] = path
        for f in sorted(os.listdir(FIXTURES)):
            if f.endswith(".ctz"):
                caps["hostile-" + f] = os.path.join(FIXTURES, f)
        with pg_cluster.PgCluster() as pg:
            pg.create_database("ct")
            url = pg.url("ct")
            lite = os.path.join(work, "ct.db")

            print("1. the same captures on both engines", flush=True)
            order = ["tool", "openai", "export", "long", "codex", "series-1", "series-0"] + \
                [k for k in caps if k.startswith("hostile-")]
            for name in order:
                a = run([CT, "--no-progress", "-q", "--keep-secrets", "--db", lite, caps[name]])
                b = run([CT, "--no-progress", "-q", "--keep-secrets", "--db", url, caps[name]])
                check(a.returncode == b.returncode,
                      f"{name}: exit {a.returncode} on SQLite, {b.returncode} on PostgreSQL: "
                      f"{a.stderr} / {b.stderr}")
                check(b.returncode == 0 or name.startswith("hostile-"),
                      f"{name}: PostgreSQL import failed: {b.stderr}")
            rows = compare_tables(lite, pg)
            check(rows > 500, f"only {rows} rows compared")
            # What the captures hold, so that the comparison means something.
            kinds = pg.psql("ct", "SELECT (SELECT count(*) FROM llm_calls), "
                                  "(SELECT count(*) FROM sse_events), "
                                  "(SELECT count(*) FROM connections WHERE protocol = 'http2'), "
                                  "(SELECT count(*) FROM stream_gaps), "
                                  "(SELECT count(*) FROM tcp_connections WHERE unseen = 1)").strip()
            print("  llm_calls|sse_events|h2 connections|gaps|unseen TCP:", kinds)
            check(all(int(x) > 0 for x in kinds.split("|")), f"captures lack a kind: {kinds}")
            # The rows compared include connections written exchange by exchange
            # (their row set again at the end): the server counts those updates
            # (its statistics arrive once the importer's backend has ended).
            updated = "0"
            for _ in range(100):
                updated = pg.psql("ct", "SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables "
                                        "WHERE relname = 'connections'").strip()
                if int(updated) > 0:
                    break
                time.sleep(0.1)
            check(int(updated) > 0, "no connection was written exchange by exchange on PostgreSQL")

            # Searches answer the same.
            for words in ["files", "weather Paris", "alpha.txt"]:
                x = run([CT, "--db", lite, "--search", words, "--json"])
                y = run([CT, "--db", url, "--search", words, "--json"])
                check(x.returncode == 0 and y.returncode == 0, f"--search {words}: {x.stderr}{y.stderr}")
                if x.returncode == 0 and y.returncode == 0:
                    xs = sorted((r["kind"], r["snippet"]) for r in json.loads(x.stdout))
                    ys = sorted((r["kind"], r["snippet"]) for r in json.loads(y.stdout))
                    check(xs == ys and xs, f"--search {words}: SQLite {xs} PostgreSQL {ys}")

            # A series' files in order (schema version 9), the same on both engines.
            series = ("SELECT series_index, first_seq, "
                      "CASE WHEN previous_capture_uuid IS NULL THEN 1 ELSE 0 END AS opens, "
                      "uuid, previous_capture_uuid, file FROM captures WHERE series_uuid = "
                      "(SELECT series_uuid FROM captures WHERE file LIKE '%series-1.ctz') "
                      "ORDER BY series_index")
            a, b = sql(lite, series), sql(url, series)
            check(a == b and a is not None and
                  [(r["series_index"], r["first_seq"], r["opens"]) for r in a] ==
                  [(0, 0, 1), (1, 1000, 0)] and a[1]["file"].endswith("series-1.ctz") and
                  a[1]["previous_capture_uuid"] == a[0]["uuid"],
                  f"a series' files in order: SQLite {a}, PostgreSQL {b}")
            # The views too (all of their rows).
            for view in ["v_captures", "v_connections", "v_http", "v_sse_events", "v_llm_calls",
                         "v_tool_calls", "v_llm_conversations", "v_unseen_connections"]:
                check(same_answer(sql(lite, f"SELECT * FROM {view}"), sql(url, f"SELECT * FROM {view}")),
                      f"{view} differs")
            # A conversation's first message is its first user message, not the system
            # message (Chat Completions) or instructions sent before it.
            firsts = sql(url, "SELECT first_message FROM v_llm_conversations")
            firsts = sorted(r["first_message"] or "" for r in firsts or [])
            check("Weather in Paris?" in firsts and "And in Lyon?" in firsts and
                  "You are a weather bot." not in firsts, f"first messages: {firsts}")
            # Codex (schema version 10): the prompt after the AGENTS.md and
            # <environment_context> user messages of the opening turn.
            codex = ("SELECT first_message, calls FROM v_llm_conversations WHERE capture_id = "
                     "(SELECT id FROM captures WHERE file LIKE '%codex.ctz') ORDER BY start_utc")
            want = [{"first_message": "Fix the build", "calls": 2},
                    {"first_message": "Write the docs", "calls": 2}]
            a, b = sql(lite, codex), sql(url, codex)
            check(a == want and b == want, f"Codex prompts: SQLite {a}, PostgreSQL {b}")

            # A database of schema version 9 (the view of 008, no
            # llm_calls.opening_prompt) is brought to the newest by the next import,
            # on both engines, and then shows the prompt: 011 fills opening_prompt of
            # the calls stored before by version 10's rule, which gives what the
            # importer stores.
            def prompts(db):  # in id order (ids differ between the engines)
                rows = sql(db, "SELECT opening_prompt FROM llm_calls ORDER BY id")
                return [r["opening_prompt"] for r in rows or []]
            stored = (prompts(lite), prompts(url))
            check(stored[0] and stored[0] == stored[1] and "Fix the build" in stored[0],
                  f"opening_prompt as imported: SQLite {stored[0][:8]}, "
                  f"PostgreSQL {stored[1][:8]}")
            schema_dir = os.path.join(os.path.dirname(os.path.abspath(README)), "schema", "sql")
            with open(os.path.join(schema_dir, "008_first_user_message.sql")) as f:
                lite_v8 = f.read()
            with open(os.path.join(schema_dir, "postgresql", "008_first_user_message.sql")) as f:
                pg_v8 = f.read()
            con = sqlite3.connect(lite)
            drop = "\nALTER TABLE llm_calls DROP COLUMN opening_prompt;"
            con.executescript(lite_v8 + drop + "\nPRAGMA user_version = 9;")
            con.close()
            pg.psql("ct", pg_v8 + drop + "\nUPDATE ct_schema SET version = 9;")
            # (Read without ct-analyze, which would migrate.)
            old = "# AGENTS.md for /w|2\n# AGENTS.md for /w|2"
            con = sqlite3.connect(lite)
            a = "\n".join(f"{m}|{n}" for m, n in con.execute(codex).fetchall())
            con.close()
            b = pg.psql("ct", codex).strip()
            check(a == old and b == old, f"Codex at version 9: SQLite {a!r}, PostgreSQL {b!r}")
            for db in (lite, url):
                r = run([CT, "--no-progress", "-q", "--keep-secrets", "--db", db, caps["codex"]])
                check(r.returncode == 0, f"re-import into a version 9 database: {r.stderr}")
            newest = str(max(int(f[:3]) for d in (schema_dir, os.path.join(schema_dir, "postgresql"))
                             for f in os.listdir(d) if f[:3].isdigit()))
            v = sqlite3.connect(lite).execute("PRAGMA user_version").fetchone()[0]
            check(str(v) == newest and pg.psql("ct", "SELECT max(version) FROM ct_schema").strip() ==
                  newest, f"version 9 not migrated to {newest}: SQLite {v}")
            a, b = sql(lite, codex), sql(url, codex)
            check(a == want and b == want, f"Codex after migrating: SQLite {a}, PostgreSQL {b}")
            check(same_answer(sql(lite, "SELECT * FROM v_llm_conversations"),
                              sql(url, "SELECT * FROM v_llm_conversations")),
                  "v_llm_conversations differs after migrating from version 9")
            after = (prompts(lite), prompts(url))
            check(after == stored, "opening_prompt filled by 011 differs from the imported: " +
                  "; ".join(f"{x!r} / {y!r} / {z!r}" for x, y, z in
                            zip(after[0], after[1], stored[0]) if not x == y == z))
            # Request bodies come back byte for byte.
            q = "SELECT request_id, hex(body) AS b FROM http_request_bodies"
            qp = "SELECT request_id, upper(encode(body, 'hex')) AS b FROM http_request_bodies"
            a, b = sql(lite, q), sql(url, qp)
            check(a is not None and b is not None and
                  sorted(r["b"] or "" for r in a) == sorted(r["b"] or "" for r in b),
                  "http_request_bodies differ")

            print("3. README queries on both engines", flush=True)
            both, pairs, counts = readme_queries()
            check(counts[0] == counts[1] and counts[0] > 0,
                  f"README: {counts[0]} SQLite-only and {counts[1]} PostgreSQL-only queries")
            check(len(both) >= 4, f"README: only {len(both)} portable queries")
            for q in both:
                x, y = sql(lite, q), sql(url, q)
                check(same_answer(x, y), f"README query differs: {q}\n{x}\n{y}")
                check(bool(x), f"README query answers nothing here: {q}")
            for ql, qp in pairs:
                x, y = sql(lite, ql), sql(url, qp)
                check(same_answer(x, y) and x, f"README query pair differs: {ql} / {qp}\n{x}\n{y}")

            print("4. --sql writes refused on PostgreSQL", flush=True)
            before = pg.psql("ct", "SELECT count(*) FROM notes") + pg.psql(
                "ct", "SELECT count(*) FROM captures")
            for stmt in ["DELETE FROM notes", "UPDATE captures SET file = 'x'",
                         "CREATE TABLE evil (x int)", "DROP TABLE notes",
                         "COMMIT; DELETE FROM notes", "SELECT 1; DELETE FROM notes",
                         "SELECT nextval(pg_get_serial_sequence('notes', 'id'))",
                         "INSERT INTO ct_settings VALUES ('x', '\\x00')"]:
                r = run([CT, "--db", url, "--sql", stmt])
                check(r.returncode == 1, f"--sql {stmt!r} was not refused: {r.stdout} {r.stderr}")
            after = pg.psql("ct", "SELECT count(*) FROM notes") + pg.psql(
                "ct", "SELECT count(*) FROM captures")
            check(before == after, f"the database changed: {before} -> {after}")
            check(pg.psql("ct", "SELECT to_regclass('evil') IS NULL").strip() == "t",
                  "CREATE TABLE went through")
            # The three spellings of a PostgreSQL --db.
            n = "SELECT count(*) AS n FROM captures"
            for spec in [url, url.replace("postgresql://", "postgres://"), pg.keywords("ct")]:
                check(sql(spec, n) == sql(lite, n), f"--db {spec}: captures differ")

            # A password in --db is never printed.
            for spec in [f"postgresql://ct:SECRETPW@/ct?host={work}/none&port=1",
                         f"host={work}/none port=1 password=SECRETPW dbname=ct"]:
                r = run([CT, "--db", spec, "--sql", "SELECT 1"])
                check(r.returncode == 1 and "cannot connect" in r.stderr and
                      "SECRETPW" not in r.stderr + r.stdout and "***" in r.stderr,
                      f"--db with a password: {r.stderr}")

            print("2. concurrent imports", flush=True)
            pg.create_database("fleet")
            fleet = pg.url("fleet")
            # The schema is created by the first importer; the rest wait for it.
            names = ["tool", "openai", "export", "long"]
            procs = [subprocess.Popen([CT, "--no-progress", "--keep-secrets", "--db", fleet, caps[n]],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for n in names + ["tool"]]
            outs = [p.communicate() for p in procs]
            for n, p, (out, err) in zip(names + ["tool"], procs, outs):
                check(p.returncode == 0, f"concurrent import of {n}: {p.returncode} {err}")
            tool_outs = [outs[0][0], outs[4][0]]
            check(sum("Imported into" in o for o in tool_outs) == 1 and
                  sum("Already in" in o for o in tool_outs) == 1,
                  f"the same capture imported twice at once: {tool_outs}")
            uuids = pg.psql("fleet", "SELECT uuid, count(*) FROM captures GROUP BY uuid").splitlines()
            check(len(uuids) == 4 and all(u.endswith("|1") for u in uuids), f"captures: {uuids}")
            # Each capture whole: the same counts as its sequential import.
            per = ("SELECT c.file, (SELECT count(*) FROM connections n WHERE n.capture_id = c.id),"
                   " (SELECT count(*) FROM http_requests q WHERE q.capture_id = c.id),"
                   " (SELECT count(*) FROM llm_calls l WHERE l.capture_id = c.id),"
                   # Shared LLM blobs are indexed by whichever capture stored them
                   # first: counted below, over all captures.
                   " (SELECT count(*) FROM search_documents d WHERE d.capture_id = c.id"
                   "  AND d.kind NOT IN ('llm_message', 'llm_request_part'))"
                   " FROM captures c ORDER BY c.file")
            x = pg.psql("fleet", per)
            # (The database of part 1 also has the hostile fixtures, the series files
            # and the Codex sessions.)
            y = pg.psql("ct", per.replace("FROM captures c", "FROM captures c WHERE c.file NOT LIKE "
                                                             "'%fixtures%' AND c.series_uuid IS NULL "
                                                             "AND c.file NOT LIKE '%codex.ctz'"))
            check(x == y, f"concurrent imports differ from sequential ones:\n{x}\n{y}")
            blobs = pg.psql("fleet", "SELECT count(*), count(DISTINCT sha256) FROM llm_blobs").strip()
            a, b = blobs.split("|")
            check(a == b, f"llm_blobs duplicated: {blobs}")
            indexed = ("SELECT count(*), count(DISTINCT ref_id) FROM search_documents"
                       " WHERE kind IN ('llm_message', 'llm_request_part')")
            x = pg.psql("fleet", indexed)
            y = pg.psql("ct", indexed.replace("WHERE", "WHERE capture_id IN (SELECT id FROM captures"
                                                        " WHERE file NOT LIKE '%fixtures%'"
                                                        " AND file NOT LIKE '%codex.ctz') AND"))
            check(x == y and x.split("|")[0] == x.split("|")[1].strip(),
                  f"LLM blobs indexed: {x} concurrently, {y} in turn")

            # The race itself, made certain: another transaction holds the
            # capture's row uncommitted while ct-analyze imports the same file.
            uuid = pg.psql("ct", "SELECT uuid FROM captures WHERE file LIKE '%/tool.ctz'").strip()
            for ending in ["COMMIT", "ROLLBACK"]:
                db = "race_" + ending.lower()
                pg.create_database(db)
                run([CT, "--db", pg.url(db), "--sql", "SELECT 1"])  # the schema
                holder = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                                           pg.keywords(db)], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True)
                holder.stdin.write(
                    "BEGIN;\nINSERT INTO captures (uuid, file, file_size, format_version, "
                    "ended_cleanly, events, lost_events, lost_bytes, malformed_events, frames, "
                    "bad_frames, missing_frames, skipped_file_bytes, truncated_tail, imported_ns, "
                    f"analyzer_version) VALUES ('{uuid}', 'held', 0, '1.0', 1, 0, 0, 0, 0, 0, 0, "
                    "0, 0, 0, 0, 'test');\nSELECT 'held';\n")
                holder.stdin.flush()
                check(holder.stdout.readline().strip() == "held", "the holder did not insert")
                importer = subprocess.Popen([CT, "--no-progress", "--keep-secrets", "--db",
                                             pg.url(db), caps["tool"]], stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
                # Wait until the import waits for the holder's row lock.
                waiting = "0"
                while waiting == "0" and importer.poll() is None:
                    waiting = pg.psql(db, "SELECT count(*) FROM pg_stat_activity WHERE "
                                          "wait_event_type = 'Lock'").strip()
                check(waiting != "0", f"the import did not wait for the held row ({ending})")
                holder.stdin.write(ending + ";\n")
                holder.stdin.close()
                holder.wait()
                out, err = importer.communicate()
                check(importer.returncode == 0, f"import against a held row: {err}")
                n = pg.psql(db, f"SELECT count(*), min(file) FROM captures WHERE uuid = '{uuid}'").strip()
                if ending == "COMMIT":
                    check("Already in" in out and n == "1|held",
                          f"held and committed: {out} {err}; captures {n}")
                else:
                    check("Imported into" in out and n.startswith("1|/"),
                          f"held and rolled back: {out} {err}; captures {n}")
                    check(pg.psql(db, "SELECT count(*) FROM llm_calls").strip() == "2",
                          "held and rolled back: the import is not whole")

            # Fingerprints: one key for the whole database, stored in it.
            r = run([CT, "--no-progress", "-q", "--db", fleet, caps["tool"]])
            check(r.returncode == 0, r.stderr)
            pg.create_database("fp")
            fp = pg.url("fp")
            r = run([CT, "--no-progress", "-q", "--db", fp, caps["tool"]])
            check(r.returncode == 0, r.stderr)
            h = pg.psql("fp", "SELECT headers FROM http_requests WHERE headers LIKE '%x-api-key%' LIMIT 1")
            check("ct-hmac:" in h and "SECRET" not in h, f"secret not fingerprinted: {h[:300]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

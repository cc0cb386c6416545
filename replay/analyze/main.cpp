// ct-analyze: command-line parsing only; the work lives in the libraries.
#include <unistd.h>

// GCC 12 reports a false null dereference inside vector<string> growth as
// instantiated by CLI11 (a known GCC 12 -O2 false positive).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "ct/version.hpp"
#include "default_paths.hpp"
#include "export/export_cli.hpp"
#include "pg/connection.hpp"
#include "pg_query.hpp"
#include "query_output.hpp"
#include "search.hpp"
#include "ship.hpp"
#include "util/size_argument.hpp"
#include "summary.hpp"
#include "timeline.hpp"

namespace {

constexpr const char* kExamples = R"(
Examples:
  ct-analyze session.ctz                      import into the default database, print a summary
                                              (hosts, unseen TCP traffic, requests, LLM calls, warnings)
  ct-analyze --db work.db a.ctz b.ctz         import two captures into work.db
  ct-analyze --db postgresql://ct@db.example/ct a.ctz
                                              import into PostgreSQL (many hosts at once;
                                              docs/postgresql.md)
  ct-analyze --timeline session.ctz           print the calls, HTTP heads and SSE events in time order
  ct-analyze --db work.db --sql "SELECT * FROM v_llm_calls" --csv
  ct-analyze --search "hello.txt timeout"     where these words are, with snippets
  ct-analyze --html report.html session.ctz   import, then write a self-contained HTML report
                                              (conversations, LLM calls, timeline, losses)
  ct-analyze --db work.db --capture UUID --html report.html
  ct-analyze --db work.db --conversation KEY --html chat.html   (KEY: v_llm_conversations)
  ct-analyze session.ctz --har session.har    import, and write the HTTP exchanges as HAR 1.2
  ct-analyze --db work.db --capture UUID --otlp trace.json
                                              one imported capture as OTLP/JSON traces
  ct-analyze --db work.db --conversation KEY --otlp-endpoint http://localhost:4318
                                              one conversation's LLM calls to an OTLP receiver

Shipping (an always-on recorder's directory into one database, see README "Shipping"):
  ct-analyze --watch /var/lib/ct/captures --db /var/lib/ct/history.db
                                              import every finished capture now and as soon
                                              as each later one is finished; runs until
                                              SIGTERM/SIGINT (which wait for the current import)
  ct-analyze --watch DIR --db postgresql://ct@central/ct
                                              the same into one PostgreSQL database that
                                              every host's watcher ships into at once
  ct-analyze --watch DIR --db DB --once       the same, once (for cron): captures still being
                                              written are left for the next run
  ct-analyze --watch DIR --db DB --move-to DIR2
                                              move each imported capture out of DIR

Useful queries (tables and columns: schema/data-dictionary.md; times are UTC Unix ns):
  # Which tools did the agent call, and what did the calls that asked for them cost?
  SELECT t.name AS tool, count(*) AS uses, sum(l.input_tokens) AS input_tokens,
         sum(l.output_tokens) AS output_tokens, sum(l.cache_read_input_tokens) AS cache_read
  FROM llm_tool_calls t JOIN llm_calls l ON l.id = t.llm_call_id
  GROUP BY t.name ORDER BY uses DESC;

  # Time to first token and duration per model
  SELECT model, count(*) AS calls, round(avg(ttft_ns) / 1e6) AS avg_ttft_ms,
         round(max(duration_ns) / 1e6) AS max_duration_ms, sum(output_tokens) AS output_tokens
  FROM llm_calls GROUP BY model;

  # TCP traffic no TLS probe could read (plain TCP, Go, rustls, NSS, Java)
  SELECT pid, exe, peer, bytes_sent, bytes_received FROM v_unseen_connections;

  # Full-text search over bodies and LLM text (FTS5 syntax; --search takes plain words)
  SELECT d.kind, d.ref_id FROM search_index JOIN search_documents d ON d.rowid = search_index.rowid
  WHERE search_index MATCH '"hello.txt" timeout';
  # The same on PostgreSQL (text search)
  SELECT d.kind, d.ref_id FROM search_index s JOIN search_documents d ON d.rowid = s.rowid
  WHERE s.tsv @@ (phraseto_tsquery('simple', 'hello.txt') && phraseto_tsquery('simple', 'timeout'));

Default database: $CT_DB, else $XDG_DATA_HOME/ct/sessions.db (~/.local/share/ct/sessions.db).
--sql is read-only unless --sql-write; ATTACH, DETACH, VACUUM INTO, load_extension() and the
PRAGMAs that corrupt the schema or move its files are refused always. The database is opened
first (a missing one created, an older one upgraded), then queried.
PostgreSQL (--db postgresql://..., postgres://... or "host=... dbname=..."): imports, --sql
(one statement, READ ONLY transaction, 60 s statement timeout), --search and --timeline work;
the import summary is a line of counts; --html, --har and --otlp read SQLite only (refused).
Exit status: 0 success; 1 an import, the SQL (or its refusal) or an export failed; 2 bad command line.
With --watch: 0 stopped by SIGTERM/SIGINT, or (--once) every finished capture is in the
database; 1 --once could not import a file (reported on stderr and in shipped_files, not
retried until it changes), the directory went away, or the database could not be opened;
2 bad command line. Database errors while watching are reported and retried at the next scan.
)";

// Progress on stderr, at most five times a second, only for a terminal.
class Progress {
  public:
    explicit Progress(bool enabled) : enabled_(enabled) {}
    void update(const std::string& file, const char* phase, std::uint64_t done,
                std::uint64_t total) {
        if (!enabled_ || total == 0)
            return;
        auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(200) && done < total)
            return;
        last_ = now;
        fmt::print(stderr, "\r{}: {} {:3}%\033[K", file, phase, done * 100 / total);
        shown_ = true;
    }
    void clear() {
        if (shown_)
            fmt::print(stderr, "\r\033[K");
        shown_ = false;
    }

  private:
    bool enabled_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point last_{};
};

int run(int argc, char** argv) {
    CLI::App app{"ct-analyze: import ct captures (.ctz) into SQLite or PostgreSQL and query them"};
    app.footer(kExamples);
    std::vector<std::string> captures;
    std::string db_path;
    std::string sql, search;
    bool csv = false, json = false, timeline = false, keep_secrets = false, quiet = false;
    bool no_progress = false, sql_write = false;
    std::string max_body = "64M", max_growth = "256M", max_plaintext = "1G";
    app.add_option("captures", captures, "capture files to import (or to print with --timeline)");
    app.add_option("--db", db_path,
                   "database file (default: $CT_DB or ~/.local/share/ct/sessions.db); created "
                   "with mode 0600; an existing database that is not ct's is refused. Or "
                   "PostgreSQL: postgresql://..., postgres://... or libpq \"host=... "
                   "dbname=...\" (tables created on first use)");
    auto* sql_option = app.add_option(
        "--sql", sql,
        "run this SQL and print the result (after any imports); read-only: statements that "
        "would change the database are refused");
    app.add_flag("--sql-write", sql_write,
                 "let --sql change the database (INSERT, UPDATE, DELETE, CREATE, DROP, ...); "
                 "ATTACH, DETACH, VACUUM INTO and load_extension stay refused");
    app.add_option("--search", search,
                   "find bodies and LLM text holding every one of these words (plain words, no "
                   "FTS5 syntax) and print where, with a snippet")
        ->excludes(sql_option);
    auto* csv_flag = app.add_flag("--csv", csv, "print --sql or --search results as CSV");
    app.add_flag("--json", json, "print --sql or --search results as JSON")->excludes(csv_flag);
    app.add_flag("--timeline", timeline,
                 "print each capture as a timeline; no database is touched");
    app.add_flag("--keep-secrets", keep_secrets,
                 "store Authorization, Cookie, API-key ... header values and key=, api_key=, "
                 "access_token= ... URL query parameters verbatim instead of keyed fingerprints");
    app.add_flag("-q,--quiet", quiet, "print no import summary (with --watch: only problems)");
    app.add_flag("--no-progress", no_progress, "no progress display on stderr");
    app.add_option("--max-body-size", max_body,
                   "store at most SIZE of each body, after Content-Encoding is undone "
                   "(default 64M, at most 512M); the cut is noted in decode_error")
        ->type_name("SIZE");
    app.add_option("--max-decoded-growth", max_growth,
                   "bytes that Content-Encoding decoding may add in one capture, all bodies "
                   "together (default 256M), against compression bombs; cuts noted in "
                   "decode_error")
        ->type_name("SIZE");
    app.add_option("--max-plaintext", max_plaintext,
                   "captured bytes imported of one capture (default 1G), in file order; bytes "
                   "past it are left out as gaps with reason over_limit")
        ->type_name("SIZE");
    ct::analyze::ShipOptions ship;
    const char* watch_help =
        "import every finished capture in DIR into --db, oldest first, then each new one as "
        "soon as it is finished (closed with its trailer and no longer written, under its "
        "final name); what was done is kept in the table shipped_files; runs until SIGTERM "
        "or SIGINT, which wait for the capture being imported";
    auto* watch_option = app.add_option("--watch", ship.dir, watch_help)->type_name("DIR");
    app.add_flag("--once", ship.once,
                 "with --watch: one scan, import what is finished, exit (for cron)")
        ->needs(watch_option);
    app.add_option("--rescan", ship.rescan_seconds,
                   "with --watch: look at the whole directory this often besides inotify "
                   "(default 60)")
        ->type_name("SECONDS")
        ->check(CLI::Range(1u, 86400u))
        ->needs(watch_option);
    app.add_option("--settle", ship.settle_seconds,
                   "with --watch: a capture without a trailer, or under a temporary name "
                   "(.part, .tmp, ...), that no process holds open for writing is imported as "
                   "it is (damaged: its recorder died) once unchanged this long (default 120)")
        ->type_name("SECONDS")
        ->needs(watch_option);
    auto* move_option =
        app.add_option("--move-to", ship.move_to,
                       "with --watch: move each imported capture into this directory (same "
                       "file system; an existing file there is never replaced)")
            ->type_name("DIR")
            ->needs(watch_option);
    app.add_flag("--delete-after-import", ship.delete_after_import,
                 "with --watch: delete each capture once it is in the database")
        ->needs(watch_option)
        ->excludes(move_option);
    app.add_option("--host", ship.host,
                   "with --watch: the host name its shipped_files rows carry (default: this "
                   "machine's; give one per watcher when containers share a host name)")
        ->type_name("NAME")
        ->needs(watch_option);
    ct::analyze::exports::ExportOptions exports;
    ct::analyze::exports::add_export_options(app, exports);
    app.set_version_flag("--version", std::string("ct-analyze ") + ct::kVersion);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; every bad command line exits 2.
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (auto checked = ct::analyze::exports::check_export_options(exports); !checked) {
        fmt::print(stderr, "ct-analyze: {}\n", checked.error().what());
        return 2;
    }
    if (sql_write && sql.empty()) {
        fmt::print(stderr, "ct-analyze: --sql-write needs --sql\n");
        return 2;
    }
    if (!ship.dir.empty() &&
        (!captures.empty() || !sql.empty() || !search.empty() || timeline || exports.any())) {
        fmt::print(stderr,
                   "ct-analyze: --watch takes no capture files, --sql, --search, --timeline or "
                   "exports\n");
        return 2;
    }
    if (!ship.move_to.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_directory(ship.move_to, ec)) {
            fmt::print(stderr, "ct-analyze: --move-to {}: not a directory\n", ship.move_to);
            return 2;
        }
        if (std::filesystem::equivalent(ship.move_to, ship.dir, ec)) {
            fmt::print(stderr, "ct-analyze: --move-to is the watched directory\n");
            return 2;
        }
    }
    if (timeline && exports.any()) {
        fmt::print(stderr, "ct-analyze: --html, --har and --otlp do not go with --timeline\n");
        return 2;
    }

    ct::analyze::CaptureLimits limits;
    for (auto [text, name, target] :
         {std::tuple{&max_body, "--max-body-size", &limits.decode.max_body},
          std::tuple{&max_growth, "--max-decoded-growth", &limits.decode.max_growth},
          std::tuple{&max_plaintext, "--max-plaintext", &limits.max_held_bytes}}) {
        auto size = ct::parse_size(*text);
        if (!size) {
            fmt::print(stderr, "ct-analyze: {}: {}\n", name, size.error().what());
            return 2;
        }
        *target = *size;
    }
    // SQLite refuses rows over 1e9 bytes (SQLITE_MAX_LENGTH): a body near that could
    // never be stored, and would fail the whole import.
    if (limits.decode.max_body > (512u << 20)) {
        fmt::print(stderr,
                   "ct-analyze: --max-body-size: at most 512M (SQLite stores at most "
                   "1e9 bytes in a row)\n");
        return 2;
    }

    if (!ship.dir.empty()) {
        ship.quiet = quiet;
        if (db_path.empty())
            db_path = ct::analyze::default_database_path();
        auto target = ct::analyze::open_ship_target(db_path, keep_secrets, limits);
        if (!target) {
            fmt::print(stderr, "ct-analyze: {}\n", target.error().what());
            return 1;
        }
        std::error_code ec;
        auto canonical = std::filesystem::canonical(db_path, ec);
        if (!ec)
            ship.skip_prefix = canonical.string();
        return ct::analyze::run_ship(**target, ship);
    }
    if (timeline) {
        if (captures.empty()) {
            fmt::print(stderr, "ct-analyze: --timeline needs capture files\n");
            return 2;
        }
        int status = 0;
        for (const auto& path : captures) {
            ct::replay::LoadOptions load;
            load.max_held_bytes = limits.max_held_bytes;
            auto contents = ct::replay::load_capture(path, load);
            if (!contents) {
                fmt::print(stderr, "ct-analyze: {}: {}\n", path, contents.error().what());
                status = 1;
                continue;
            }
            ct::analyze::print_timeline(*contents, {keep_secrets, true, limits.decode}, stdout);
        }
        return status;
    }
    if (db_path.empty())
        db_path = ct::analyze::default_database_path();
    const bool postgres = ct::analyze::pg::is_connection_string(db_path);
    if (postgres && exports.any()) {
        fmt::print(stderr,
                   "ct-analyze: --html, --har and --otlp read SQLite databases only; with "
                   "PostgreSQL (--db {}) import, then use --sql or --search (or import into an "
                   "SQLite file for the exports)\n",
                   ct::analyze::pg::redact_connection_string(db_path));
        return 2;
    }
    if (!search.empty()) {
        auto query =
            postgres ? ct::analyze::pg_search_sql(search) : ct::analyze::search_sql(search);
        if (!query) {
            fmt::print(stderr, "ct-analyze: {}\n", query.error().what());
            return 2;
        }
        sql = std::move(*query);
    }
    if (captures.empty() && sql.empty() && !exports.any()) {
        fmt::print(stderr, "{}", app.help());
        return 2;
    }
    auto db = ct::analyze::open_store(db_path);
    if (!db) {
        fmt::print(stderr, "ct-analyze: {}\n", db.error().what());
        return 1;
    }

    int status = 0;
    std::vector<std::int64_t> imported_ids;  // what --har / --otlp export
    Progress progress(!no_progress && isatty(STDERR_FILENO));
    for (const auto& path : captures) {
        auto imported = ct::analyze::import_capture_file(
            *db, path, keep_secrets,
            [&](const char* phase, std::uint64_t done, std::uint64_t total) {
                progress.update(path, phase, done, total);
            },
            limits);
        progress.clear();
        if (!imported) {
            fmt::print(stderr, "ct-analyze: {}: {}\n", path, imported.error().what());
            status = 1;
            continue;
        }
        imported_ids.push_back(imported->result.capture_id);
        if (quiet)
            continue;
        if (db->sqlite()) {
            auto summary = ct::analyze::capture_summary(*db->sqlite(), imported->result.capture_id);
            if (!summary) {
                fmt::print(stderr, "ct-analyze: {}: {}\n", path, summary.error().what());
                status = 1;
                continue;
            }
            fmt::print("{}", *summary);
        } else if (!imported->result.already_present) {
            // The full summary reads SQLite; on PostgreSQL, what the import wrote.
            const auto& r = imported->result;
            fmt::print(
                "{}: {} connections, {} requests, {} responses, {} SSE events, {} LLM "
                "calls\n",
                path, r.connections, r.requests, r.responses, r.sse_events, r.llm_calls);
        }
        if (imported->result.already_present) {
            fmt::print("Already in {} (capture id {}): nothing changed.\n", db->display_name(),
                       imported->result.capture_id);
            if (imported->result.stored_events) {
                fmt::print(
                    "Note: the database holds an earlier, shorter read of this capture ({} "
                    "events; this file has {}), probably imported while it was still being "
                    "recorded. Imports are keyed by capture UUID and never change a "
                    "capture: import the complete file into another database (--db).\n",
                    *imported->result.stored_events, imported->result.file_events);
            }
            fmt::print("\n");
        } else {
            fmt::print("Imported into {} as capture id {}.\n\n", db->display_name(),
                       imported->result.capture_id);
        }
    }
    if (exports.any() && (status == 0 || !imported_ids.empty()))
        status = std::max(
            status, ct::analyze::exports::run_exports(*db->sqlite(), imported_ids, exports, quiet));
    if (!sql.empty()) {
        auto format = csv    ? ct::analyze::OutputFormat::Csv
                      : json ? ct::analyze::OutputFormat::Json
                             : ct::analyze::OutputFormat::Table;
        auto access =
            sql_write ? ct::analyze::QueryAccess::Write : ct::analyze::QueryAccess::ReadOnly;
        if (db->postgres()) {
            if (auto r = ct::analyze::run_query_pg(*db->postgres(), sql, format, stdout, access);
                !r) {
                fmt::print(stderr, "ct-analyze: {}\n", r.error().what());
                return 1;
            }
            return status;
        }
        // Read-only queries get their own read-only connection (closed before the
        // import connection, which then removes the WAL as the last one out).
        std::optional<ct::analyze::sqlite::Database> reader;
        if (!sql_write && db_path != ":memory:") {
            auto ro = ct::analyze::sqlite::Database::open(
                db_path, ct::analyze::sqlite::Database::Mode::ReadOnly);
            if (!ro) {
                fmt::print(stderr, "ct-analyze: {}\n", ro.error().what());
                return 1;
            }
            reader = std::move(*ro);
        }
        if (auto r = ct::analyze::run_query(reader ? *reader : *db->sqlite(), sql, format, stdout,
                                            access);
            !r) {
            fmt::print(stderr, "ct-analyze: {}\n", r.error().what());
            return 1;
        }
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "ct-analyze: fatal: {}\n", e.what());
        return 1;
    }
}

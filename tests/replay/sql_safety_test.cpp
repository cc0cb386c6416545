// What ct-analyze may do to a database: --sql reads only (writes need --sql-write,
// ATTACH and VACUUM INTO never), databases are 0600 and only ct's own, secrets in
// URL query strings are fingerprinted, and a bad command line exits 2.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "http2_frames.hpp"
#include "query_output.hpp"
#include "secrets.hpp"
#include "sqlite/database.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::analyze {
namespace {

struct CliRun {
    int status = -1;     // exit code
    std::string output;  // stdout and stderr
};

CliRun run(const std::string& args) {
    CliRun r;
    std::string command = std::string(CT_ANALYZE_BIN) + " " + args + " 2>&1";
    std::FILE* p = ::popen(command.c_str(), "r");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
        r.output.append(buf, n);
    int status = ::pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// Single-quoted for sh.
std::string sh(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

void write_capture(const std::string& path) {
    testing::SyntheticCapture cap(path);
    auto g = cap.open_connection(100, 0x1000, "agent");
    cap.write(g,
              "GET /v1beta/models?key=AIzaSyTOPSECRET&alt=json&access_token=ya29.SECRET2 "
              "HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\n\r\n");
    cap.read(g,
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
             "hello timeout");
    cap.close(g);
    cap.finish();
}

std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::uintmax_t size_or_zero(const std::string& path) {
    std::error_code ec;
    auto n = std::filesystem::file_size(path, ec);
    return ec ? 0 : n;
}

class SqlSafety : public ::testing::Test {
  protected:
    void SetUp() override {
        capture_ = dir_.file("s.ctz");
        db_ = dir_.file("work.db");
        write_capture(capture_);
        CliRun r = run("--no-progress -q --db " + db_ + " " + capture_);
        ASSERT_EQ(r.status, 0) << r.output;
        original_ = bytes_of(db_);
        ASSERT_FALSE(original_.empty());
    }

    // The database file is exactly as before, and no WAL holds pending changes.
    void expect_untouched(const std::string& what) {
        EXPECT_TRUE(bytes_of(db_) == original_) << what << ": the database file changed";
        EXPECT_EQ(size_or_zero(db_ + "-wal"), 0u) << what << ": the WAL has content";
    }

    std::string count(const std::string& sql) {
        CliRun r = run("--db " + db_ + " --csv --sql " + sh(sql));
        EXPECT_EQ(r.status, 0) << r.output;
        return r.output;
    }

    testing::TempDir dir_;
    std::string capture_, db_, original_;
};

TEST_F(SqlSafety, EveryWriteIsRefusedAndTheDatabaseStaysByteIdentical) {
    const std::string elsewhere = dir_.file("elsewhere.db");
    const std::vector<std::string> statements = {
        "INSERT INTO http_requests (id) VALUES (999)",
        "REPLACE INTO captures (id) VALUES (1)",
        "UPDATE http_requests SET method = 'X'",
        "DELETE FROM http_requests",
        "WITH d AS (SELECT 1) DELETE FROM captures",
        "BEGIN; DELETE FROM http_responses; COMMIT",
        "SELECT 1; DELETE FROM http_requests",
        "DROP TABLE http_requests",
        "DROP VIEW v_http",
        "CREATE TABLE t (a)",
        "CREATE TEMP TABLE t (a)",
        "CREATE INDEX i ON http_requests (method)",
        "CREATE VIEW v AS SELECT 1",
        "CREATE TRIGGER tr AFTER INSERT ON captures BEGIN DELETE FROM captures; END",
        "ALTER TABLE http_requests ADD COLUMN z",
        "ALTER TABLE http_requests RENAME TO h",
        "INSERT INTO search_index (search_index) VALUES ('delete-all')",
        "REINDEX",
        "ANALYZE",
        "VACUUM",
        "VACUUM INTO " + sh(elsewhere),
        "ATTACH " + sh(elsewhere) + " AS other",
        "ATTACH ':memory:' AS m",
        "DETACH main",
        "PRAGMA writable_schema = ON",
        "PRAGMA writable_schema = 1; UPDATE sqlite_schema SET sql = 'x'",
        "PRAGMA user_version = 5",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "PRAGMA query_only = 0",
        "PRAGMA optimize",
        "PRAGMA incremental_vacuum",
        "SELECT load_extension('/nonexistent/lib.so')",
    };
    for (const auto& sql : statements) {
        CliRun r = run("--db " + db_ + " --sql " + sh(sql));
        EXPECT_NE(r.status, 0) << sql << "\n" << r.output;
        EXPECT_NE(r.output.find("refused"), std::string::npos) << sql << "\n" << r.output;
        EXPECT_NE(r.output.find("--sql-write"), std::string::npos) << sql << "\n" << r.output;
        expect_untouched(sql);
        EXPECT_FALSE(std::filesystem::exists(elsewhere)) << sql << " created a file";
    }
    EXPECT_EQ(count("SELECT count(*) AS n FROM http_requests"), "n\n1\n");
}

TEST_F(SqlSafety, ReadingStillWorks) {
    for (const char* sql :
         {"SELECT method, path FROM http_requests", "SELECT * FROM v_http",
          "SELECT d.kind FROM search_index JOIN search_documents d ON d.rowid = search_index.rowid "
          "WHERE search_index MATCH 'timeout'",
          "PRAGMA table_info(http_requests)", "SELECT name FROM pragma_table_info('captures')",
          "PRAGMA user_version", "PRAGMA integrity_check",
          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
          "SELECT i FROM n",
          "BEGIN; SELECT count(*) FROM captures; COMMIT"}) {
        CliRun r = run("--db " + db_ + " --csv --sql " + sh(sql));
        EXPECT_EQ(r.status, 0) << sql << "\n" << r.output;
        expect_untouched(sql);
    }
    EXPECT_EQ(count("SELECT d.kind FROM search_index JOIN search_documents d ON d.rowid = "
                    "search_index.rowid WHERE search_index MATCH 'timeout'"),
              "kind\nresponse_body\n");
}

TEST_F(SqlSafety, SqlWriteAllowsWritesButNeverAttachOrVacuumInto) {
    const std::string elsewhere = dir_.file("elsewhere.db");
    for (const std::string& sql : std::vector<std::string>{
             "ATTACH " + sh(elsewhere) + " AS other", "VACUUM INTO " + sh(elsewhere),
             "PRAGMA writable_schema = ON", "SELECT load_extension('/nonexistent/lib.so')"}) {
        CliRun r = run("--db " + db_ + " --sql-write --sql " + sh(sql));
        EXPECT_NE(r.status, 0) << sql << "\n" << r.output;
        EXPECT_NE(r.output.find("refused"), std::string::npos) << sql << "\n" << r.output;
        EXPECT_NE(r.output.find("even with --sql-write"), std::string::npos) << r.output;
        EXPECT_FALSE(std::filesystem::exists(elsewhere)) << sql;
        expect_untouched(sql);
    }
    CliRun vacuum = run("--db " + db_ + " --sql-write --sql VACUUM");
    EXPECT_EQ(vacuum.status, 0) << vacuum.output;
    CliRun del = run("--db " + db_ + " --sql-write --sql " + sh("DELETE FROM http_requests"));
    EXPECT_EQ(del.status, 0) << del.output;
    EXPECT_EQ(count("SELECT count(*) AS n FROM http_requests"), "n\n0\n");
}

TEST_F(SqlSafety, RunQueryGuardInProcess) {
    // The guard is the authorizer: it holds on a read-write connection too.
    auto db = sqlite::Database::open(db_);
    ASSERT_TRUE(db) << db.error().what();
    std::FILE* out = std::fopen("/dev/null", "w");
    auto r = run_query(*db, "DELETE FROM captures", OutputFormat::Csv, out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("refused `DELETE FROM captures`"), std::string::npos)
        << r.error().message;
    EXPECT_TRUE(run_query(*db, "SELECT count(*) FROM captures", OutputFormat::Csv, out));
    // Removed afterwards: the connection writes again.
    EXPECT_TRUE(db->exec("CREATE TEMP TABLE after_query (a)"));
    std::fclose(out);
}

TEST(AnalyzeCommandLine, BadCommandLinesExit2) {
    for (const char* args :
         {"--bogus", "--db", "--csv --json --sql 'SELECT 1'", "--sql-write x.ctz", "--sql"}) {
        CliRun r = run(args);
        EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    }
    EXPECT_EQ(run("--help").status, 0);
    EXPECT_EQ(run("--version").status, 0);
}

TEST(AnalyzeDatabase, CreatedOwnerOnlyWithExplicitAndDefaultPaths) {
    testing::TempDir dir;
    write_capture(dir.file("s.ctz"));
    const std::string explicit_db = dir.file("explicit.db");
    CliRun r = run("--no-progress -q --db " + explicit_db + " " + dir.file("s.ctz"));
    ASSERT_EQ(r.status, 0) << r.output;
    auto mode = [](const std::string& p) {
        struct stat st {};
        EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
        return st.st_mode & 0777;
    };
    EXPECT_EQ(mode(explicit_db), 0600u);
    // SQLite gives the -wal and -shm files of an open database its mode.
    {
        auto db = sqlite::Database::open(explicit_db);
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("SELECT count(*) FROM captures"));
        EXPECT_EQ(mode(explicit_db + "-wal"), 0600u);
        EXPECT_EQ(mode(explicit_db + "-shm"), 0600u);
    }
    // The default path, under $XDG_DATA_HOME.
    CliRun xdg;
    {
        std::string cmd = "env -u CT_DB XDG_DATA_HOME=" + dir.file("xdg") + " " + CT_ANALYZE_BIN +
                          " --no-progress -q " + dir.file("s.ctz") + " 2>&1";
        std::FILE* p = ::popen(cmd.c_str(), "r");
        char buf[1024];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
            xdg.output.append(buf, n);
        xdg.status = WEXITSTATUS(::pclose(p));
    }
    ASSERT_EQ(xdg.status, 0) << xdg.output;
    EXPECT_EQ(mode(dir.file("xdg/ct/sessions.db")), 0600u);
    EXPECT_EQ(mode(dir.file("xdg/ct")), 0700u);
}

TEST(AnalyzeDatabase, AnUnrelatedDatabaseIsRefusedUntouched) {
    testing::TempDir dir;
    write_capture(dir.file("s.ctz"));
    const std::string other = dir.file("notes.db");
    {
        auto db = sqlite::Database::open(other, sqlite::Database::Mode::ReadWriteCreate);
        ASSERT_TRUE(db);
        ASSERT_TRUE(
            db->exec("PRAGMA journal_mode = DELETE; CREATE TABLE notes (t TEXT);"
                     " INSERT INTO notes VALUES ('mine')"));
    }
    const std::string before = bytes_of(other);
    for (const std::string& args :
         std::vector<std::string>{"--no-progress --db " + other + " " + dir.file("s.ctz"),
                                  "--db " + other + " --sql 'SELECT 1'"}) {
        CliRun r = run(args);
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find(other + " is not a ct database; give a new file"),
                  std::string::npos)
            << r.output;
        EXPECT_TRUE(bytes_of(other) == before) << "the unrelated database changed";
    }
    // Not SQLite at all: refused the same way.
    const std::string text = dir.file("notes.txt");
    std::ofstream(text) << "just some text, long enough to be looked at by SQLite\n";
    CliRun t = run("--no-progress --db " + text + " " + dir.file("s.ctz"));
    EXPECT_EQ(t.status, 1) << t.output;
    EXPECT_NE(t.output.find("is not a ct database"), std::string::npos) << t.output;
    // An empty file is a new database.
    const std::string empty = dir.file("empty.db");
    std::ofstream(empty).close();
    EXPECT_EQ(run("--no-progress -q --db " + empty + " " + dir.file("s.ctz")).status, 0);
}

TEST(QuerySecrets, WhichParameters) {
    for (const char* name : {"key", "api_key", "apikey", "API-KEY", "access_token", "token",
                             "refresh_token", "client_secret", "password", "sig", "X-Amz-Signature",
                             "X-Amz-Credential", "subscription-key", "auth"}) {
        EXPECT_TRUE(SecretFingerprinter::is_secret_query_param(name)) << name;
    }
    for (const char* name : {"alt", "q", "model", "page", "limit", "keyword", "author"}) {
        EXPECT_FALSE(SecretFingerprinter::is_secret_query_param(name)) << name;
    }
}

TEST(QuerySecrets, OnlySecretValuesChange) {
    auto fp = SecretFingerprinter::with_key(std::string(32, 'k'));
    EXPECT_EQ(fp.redact_url("/v1/models"), "/v1/models");
    EXPECT_EQ(fp.redact_url("/v1/models?alt=json&page=2#frag"), "/v1/models?alt=json&page=2#frag");
    EXPECT_EQ(fp.redact_url("/m?key=AIza1&alt=json"),
              "/m?key=" + fp.fingerprint("AIza1") + "&alt=json");
    EXPECT_EQ(fp.redact_url("https://h.example/p?a=1&access_token=t0k#x"),
              "https://h.example/p?a=1&access_token=" + fp.fingerprint("t0k") + "#x");
    EXPECT_EQ(fp.redact_url("/p?token=&key&api_key=s"),
              "/p?token=&key&api_key=" + fp.fingerprint("s"));  // empty and bare stay
    for (const char* odd : {"", "?", "??", "?&&", "?=", "?=x", "a?b?c", "#?", "/p?&=&"})
        EXPECT_EQ(fp.redact_url(odd), odd);
    EXPECT_EQ(fp.redact_url("?key=a?b&&token==c"),
              "?key=" + fp.fingerprint("a?b") + "&&token=" + fp.fingerprint("=c"));
    EXPECT_EQ(fp.redact_url("/p?key=same&token=same"),
              "/p?key=" + fp.fingerprint("same") + "&token=" + fp.fingerprint("same"));
}

TEST_F(SqlSafety, QuerySecretsAreFingerprintedInTheDatabaseAndTimeline) {
    std::string target = count("SELECT target FROM http_requests");
    EXPECT_EQ(target.find("TOPSECRET"), std::string::npos) << target;
    EXPECT_EQ(target.find("SECRET2"), std::string::npos) << target;
    EXPECT_NE(target.find("?key=ct-hmac:"), std::string::npos) << target;
    EXPECT_NE(target.find("&alt=json&access_token=ct-hmac:"), std::string::npos) << target;
    EXPECT_EQ(count("SELECT path FROM http_requests"), "path\n/v1beta/models\n");

    CliRun timeline = run("--timeline " + capture_);
    EXPECT_EQ(timeline.status, 0) << timeline.output;
    EXPECT_EQ(timeline.output.find("TOPSECRET"), std::string::npos) << timeline.output;
    EXPECT_NE(timeline.output.find("?key=<redacted>&alt=json"), std::string::npos)
        << timeline.output;

    const std::string kept = dir_.file("kept.db");
    ASSERT_EQ(run("--no-progress -q --keep-secrets --db " + kept + " " + capture_).status, 0);
    CliRun verbatim =
        run("--db " + kept + " --csv --sql " + sh("SELECT target FROM http_requests"));
    EXPECT_NE(verbatim.output.find("?key=AIzaSyTOPSECRET&alt=json&access_token=ya29.SECRET2"),
              std::string::npos)
        << verbatim.output;
}

TEST_F(SqlSafety, QuerySecretsInHttp2PathsAndUrlHeadersAreFingerprinted) {
    const std::string capture = dir_.file("urls.ctz");
    {
        testing::SyntheticCapture cap(capture);
        auto g = cap.open_connection(101, 0x1100, "agent");
        cap.write(g,
                  "GET /a HTTP/1.1\r\nHost: x.test\r\n"
                  "Referer: https://x.test/p?token=REFSECRET&q=1\r\n\r\n");
        cap.read(g,
                 "HTTP/1.1 302 Found\r\nLocation: /next?api_key=LOCSECRET&n=2\r\n"
                 "Content-Length: 0\r\n\r\n");
        cap.close(g);
        // HTTP/2: the secret in :path (static table 4) and in a referer (51).
        auto h = cap.open_connection(101, 0x1200, "agent");
        const std::uint8_t kHeaders = 1, kSettings = 4, kEndStream = 1, kEndHeaders = 4;
        const std::string get =
            "\x82\x87" + testing::hpack_literal(1, "x.test") +
            testing::hpack_literal(4, "/v1/files?key=H2SECRET&x=1") +
            testing::hpack_literal(51, "https://x.test/?access_token=H2REFSECRET");
        cap.write(h, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                         testing::h2_frame(kSettings, 0, 0, "") +
                         testing::h2_frame(kHeaders, kEndStream | kEndHeaders, 1, get));
        cap.read(h, testing::h2_frame(kSettings, 0, 0, "") +
                        testing::h2_frame(kHeaders, kEndStream | kEndHeaders, 1, "\x88"));
        cap.close(h);
        cap.finish();
    }
    const std::string db = dir_.file("urls.db");
    CliRun imported = run("--no-progress -q --db " + db + " " + capture);
    ASSERT_EQ(imported.status, 0) << imported.output;
    CliRun rows = run("--db " + db + " --csv --sql " +
                      sh("SELECT target || ' ' || headers FROM http_requests UNION ALL "
                         "SELECT headers FROM http_responses"));
    ASSERT_EQ(rows.status, 0) << rows.output;
    CliRun timeline = run("--timeline " + capture);
    ASSERT_EQ(timeline.status, 0) << timeline.output;
    for (const char* secret : {"REFSECRET", "LOCSECRET", "H2SECRET", "H2REFSECRET"}) {
        EXPECT_EQ(rows.output.find(secret), std::string::npos) << secret << "\n" << rows.output;
        EXPECT_EQ(timeline.output.find(secret), std::string::npos) << secret << "\n"
                                                                   << timeline.output;
    }
    for (const char* kept : {"?token=ct-hmac:", "&q=1", "?api_key=ct-hmac:", "&n=2",
                             "/v1/files?key=ct-hmac:", "&x=1", "?access_token=ct-hmac:"})
        EXPECT_NE(rows.output.find(kept), std::string::npos) << kept << "\n" << rows.output;
    // The HTTP/2 request's path is in its target and in its :path header: both redacted.
    std::size_t paths = 0;
    for (auto at = rows.output.find("/v1/files?key=ct-hmac:"); at != std::string::npos;
         at = rows.output.find("/v1/files?key=ct-hmac:", at + 1))
        ++paths;
    EXPECT_EQ(paths, 2u) << rows.output;
}

}  // namespace
}  // namespace ct::analyze

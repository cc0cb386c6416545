// The SQLite side: secrets fingerprints, schema migrations, query output.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>

#include "query_output.hpp"
#include "secrets.hpp"
#include "sqlite/migrations.hpp"
#include "test_files.hpp"

namespace ct::analyze {
namespace {

TEST(Secrets, WhichHeaders) {
    for (const char* name :
         {"Authorization", "proxy-authorization", "X-Api-Key", "Cookie", "set-cookie",
          "x-goog-api-key", "X-Auth-Token", "x-amz-security-token", "my-client-secret"}) {
        EXPECT_TRUE(SecretFingerprinter::is_secret_header(name)) << name;
    }
    for (const char* name : {"Host", "Content-Type", ":authority", "anthropic-version",
                             "x-request-id", "User-Agent"}) {
        EXPECT_FALSE(SecretFingerprinter::is_secret_header(name)) << name;
    }
}

TEST(Secrets, RedactionKeepsStructureAndCorrelates) {
    auto fp = SecretFingerprinter::with_key(std::string(32, 'k'));
    auto other = SecretFingerprinter::with_key(std::string(32, 'o'));
    EXPECT_EQ(fp.fingerprint("sk-1"), fp.fingerprint("sk-1"));
    EXPECT_NE(fp.fingerprint("sk-1"), fp.fingerprint("sk-2"));
    EXPECT_NE(fp.fingerprint("sk-1"), other.fingerprint("sk-1"));  // keyed
    EXPECT_EQ(fp.fingerprint("x").size(), 8u + 32u);
    EXPECT_EQ(fp.redact("Authorization", "Bearer sk-1"), "Bearer " + fp.fingerprint("sk-1"));
    EXPECT_EQ(fp.redact("x-api-key", "sk-1"), fp.fingerprint("sk-1"));
    EXPECT_EQ(fp.redact("Cookie", "a=1; b=2"),
              "a=" + fp.fingerprint("1") + "; b=" + fp.fingerprint("2"));
    EXPECT_EQ(fp.redact("Set-Cookie", "sid=abc; Path=/; HttpOnly"),
              "sid=" + fp.fingerprint("abc") + "; Path=/; HttpOnly");
    EXPECT_EQ(fp.redact("Authorization", "Bearer sk-1").find("sk-1"), std::string::npos);
}

TEST(Secrets, KeyFileIsPrivateAndReused) {
    testing::TempDir dir;
    const std::string db = dir.file("x.db");
    auto a = SecretFingerprinter::for_database(db);
    ASSERT_TRUE(a) << a.error().what();
    struct stat st {};
    ASSERT_EQ(::stat(SecretFingerprinter::key_path_for(db).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto b = SecretFingerprinter::for_database(db);
    ASSERT_TRUE(b);
    EXPECT_EQ(a->fingerprint("same"), b->fingerprint("same"));
    auto other = SecretFingerprinter::for_database(dir.file("y.db"));
    ASSERT_TRUE(other);
    EXPECT_NE(a->fingerprint("same"), other->fingerprint("same"));
}

TEST(Migrations, FreshAndTooNew) {
    auto db = sqlite::Database::open(":memory:");
    ASSERT_TRUE(db);
    auto v = migrate(*db);
    ASSERT_TRUE(v) << v.error().what();
    EXPECT_EQ(*v, schema_migrations().back().version);
    EXPECT_EQ(*migrate(*db), *v);  // idempotent
    ASSERT_TRUE(db->exec("PRAGMA user_version = 999"));
    auto newer = migrate(*db);
    ASSERT_FALSE(newer);
    EXPECT_NE(newer.error().message.find("newer"), std::string::npos);
}

std::string query(sqlite::Database& db, const std::string& sql, OutputFormat format,
                  QueryAccess access = QueryAccess::ReadOnly) {
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&buffer, &size);
    auto r = run_query(db, sql, format, out, access);
    std::fclose(out);
    std::string text(buffer, size);
    std::free(buffer);
    EXPECT_TRUE(r) << (r ? "" : r.error().what());
    return text;
}

TEST(QueryOutput, Formats) {
    auto db = sqlite::Database::open(":memory:");
    ASSERT_TRUE(db);
    const std::string sql = "SELECT 7 AS n, 'a,\"b\"' AS s, NULL AS z, x'00ff' AS bin, 'é' AS u";
    EXPECT_EQ(query(*db, sql, OutputFormat::Csv), "n,s,z,bin,u\n7,\"a,\"\"b\"\"\",,x'00ff',é\n");
    // Keys in the SELECT's column order, not sorted.
    EXPECT_EQ(query(*db, sql, OutputFormat::Json),
              "[\n  {\n    \"n\": 7,\n    \"s\": \"a,\\\"b\\\"\",\n    \"z\": null,\n"
              "    \"bin\": \"x'00ff'\",\n    \"u\": \"é\"\n  }\n]\n");
    std::string table =
        query(*db, "SELECT 5 AS number, 'x' AS t UNION ALL SELECT 123, 'yy'", OutputFormat::Table);
    EXPECT_EQ(table, "number  t\n------  --\n     5  x\n   123  yy\n(2 rows)\n");
    // Several statements: the last one with columns is shown.
    EXPECT_EQ(query(*db, "CREATE TABLE t(a); INSERT INTO t VALUES (1); SELECT a FROM t;",
                    OutputFormat::Csv, QueryAccess::Write),
              "a\n1\n");
}

}  // namespace
}  // namespace ct::analyze

// ct-analyze --sql on PostgreSQL.
#include "pg_query.hpp"

#include <cstdlib>

#include <fmt/format.h>

namespace ct::analyze {

namespace {

// PostgreSQL type OIDs (pg_type.dat).
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
              kFloat8 = 701, kNumeric = 1700;

std::string unhex_bytea(std::string_view text) {
    std::string out;
    if (!text.starts_with("\\x"))
        return std::string(text);
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    for (std::size_t i = 2; i + 1 < text.size(); i += 2)
        out += static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1]));
    return out;
}

QueryCell cell(const PGresult* r, int row, int column) {
    QueryCell c;
    if (PQgetisnull(r, row, column))
        return c;  // SQLITE_NULL
    std::string_view text(PQgetvalue(r, row, column),
                          static_cast<std::size_t>(PQgetlength(r, row, column)));
    c.text = std::string(text);
    switch (PQftype(r, column)) {
        case kInt2:
        case kInt4:
        case kInt8:
        case kOid:
            c.type = SQLITE_INTEGER;
            c.integer = std::strtoll(c.text.c_str(), nullptr, 10);
            break;
        case kBool:
            c.type = SQLITE_INTEGER;
            c.integer = text == "t";
            c.text = c.integer ? "1" : "0";
            break;
        case kNumeric:
            // An integral numeric (sum() of bigints) prints as an integer, like SQLite's.
            if (c.text.find_first_of(".eEN") == std::string::npos) {
                c.type = SQLITE_INTEGER;
                c.integer = std::strtoll(c.text.c_str(), nullptr, 10);
                break;
            }
            [[fallthrough]];
        case kFloat4:
        case kFloat8:
            c.type = SQLITE_FLOAT;
            c.real = std::strtod(c.text.c_str(), nullptr);
            break;
        case kBytea:
            c.type = SQLITE_BLOB;
            c.text = unhex_bytea(text);
            if (!valid_utf8(c.text))
                c.text = hex_blob(c.text);
            break;
        default:
            c.type = SQLITE_TEXT;
    }
    return c;
}

}  // namespace

Expected<void> run_query_pg(pg::Connection& db, const std::string& sql, OutputFormat format,
                            std::FILE* out, QueryAccess access) {
    Expected<pg::Result> result;
    if (access == QueryAccess::ReadOnly) {
        // A READ ONLY transaction refuses every write; one statement (the
        // extended protocol takes no more), so that no COMMIT can end it first.
        if (auto r = db.exec(fmt::format("BEGIN READ ONLY; SET LOCAL statement_timeout = {}",
                                         kPgQueryTimeoutMs));
            !r)
            return std::unexpected(r.error());
        result = db.exec(sql, {});
        (void)db.exec("ROLLBACK");
        if (!result) {
            const std::string& m = result.error().message;
            if (m.find("read-only transaction") != std::string::npos)
                return fail(
                    "--sql is read-only: the statement would change the database "
                    "(PostgreSQL: " +
                    m.substr(m.find(':') + 2) + "); --sql-write allows it");
            if (m.find("cannot insert multiple commands") != std::string::npos)
                return fail(
                    "--sql on PostgreSQL runs one statement at a time (read-only); "
                    "give each one its own --sql run");
            return fail("SQL error: " + m.substr(m.find(':') + 2));
        }
    } else {
        result = db.exec(sql);
        if (!result)
            return fail("SQL error: " + result.error().message.substr(12));
    }
    const PGresult* r = result->get();
    std::vector<std::string> names;
    std::vector<std::vector<QueryCell>> rows;
    const int n = PQnfields(r);
    for (int i = 0; i < n; ++i)
        names.push_back(PQfname(r, i));
    for (int row = 0; row < PQntuples(r); ++row) {
        std::vector<QueryCell> cells;
        for (int i = 0; i < n; ++i)
            cells.push_back(cell(r, row, i));
        rows.push_back(std::move(cells));
    }
    if (n == 0)
        return {};
    return print_rows(names, rows, format, out);
}

}  // namespace ct::analyze

// Runs user SQL and prints the rows as an aligned table, CSV or JSON.
#pragma once

#include <cstdio>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sqlite/database.hpp"

namespace ct::analyze {

enum class OutputFormat { Table, Csv, Json };

// One value of a result row; `type` is SQLite's fundamental type (SQLITE_NULL,
// SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB), whatever the engine.
struct QueryCell {
    std::string text;
    int type = SQLITE_NULL;
    std::int64_t integer = 0;
    double real = 0;
};

// Prints rows as an aligned table, CSV or JSON (objects with the columns in order).
Expected<void> print_rows(const std::vector<std::string>& names,
                          const std::vector<std::vector<QueryCell>>& rows, OutputFormat format,
                          std::FILE* out);
bool valid_utf8(std::string_view s);
// x'..' hex of bytes that are not text.
std::string hex_blob(std::string_view bytes);

// What `--sql` may do. ReadOnly (the default) refuses every statement that would
// change a database: INSERT/UPDATE/DELETE, CREATE/DROP/ALTER, REINDEX, ANALYZE,
// VACUUM, temporary tables, PRAGMAs other than read-only introspection ones.
// Write (--sql-write) allows those. Both refuse ATTACH, DETACH and VACUUM INTO
// (they open or create files anywhere) and load_extension(), and run in SQLite's
// defensive mode (no writable_schema, no writes to shadow tables).
enum class QueryAccess { ReadOnly, Write };

// Runs every statement in `sql`; rows of the last statement that returns any
// columns are printed to `out`. A refused statement stops the run with an error
// that names it and says what --sql-write would allow. With ReadOnly, pass a
// connection opened read-only where possible (the guard is the authorizer either way).
Expected<void> run_query(sqlite::Database& db, const std::string& sql, OutputFormat format,
                         std::FILE* out, QueryAccess access = QueryAccess::ReadOnly);

}  // namespace ct::analyze

// ct-analyze --sql on a PostgreSQL database: the same output as run_query().
#pragma once

#include "pg/connection.hpp"
#include "query_output.hpp"

namespace ct::analyze {

// How long one read-only --sql statement may run on PostgreSQL.
inline constexpr int kPgQueryTimeoutMs = 60000;

// ReadOnly: one statement, in a READ ONLY transaction with a statement timeout
// (kPgQueryTimeoutMs), rolled back after; writes fail and change nothing.
// Write (--sql-write): the statements as given, in autocommit.
Expected<void> run_query_pg(pg::Connection& db, const std::string& sql, OutputFormat format,
                            std::FILE* out, QueryAccess access = QueryAccess::ReadOnly);

}  // namespace ct::analyze

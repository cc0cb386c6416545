// Runs user SQL and prints the rows as an aligned table, CSV or JSON.
#pragma once

#include <cstdio>
#include <string>

#include "sqlite/database.hpp"

namespace ct::analyze {

enum class OutputFormat { Table, Csv, Json };

// Runs every statement in `sql`; rows of the last statement that returns any
// columns are printed to `out`.
Expected<void> run_query(sqlite::Database& db, const std::string& sql, OutputFormat format,
                         std::FILE* out);

}  // namespace ct::analyze

// Versioned schema (schema/sql/NNN_*.sql, embedded at build time), applied in
// order; PRAGMA user_version records the last one applied.
#pragma once

#include <string_view>
#include <vector>

#include "sqlite/database.hpp"

namespace ct::analyze {

struct Migration {
    int version;
    std::string_view name;
    std::string_view sql;
};

const std::vector<Migration>& schema_migrations();  // generated
// schema/sql/postgresql, applied by migrate_pg() (pg_store.hpp).
const std::vector<Migration>& pg_schema_migrations();  // generated

// Brings the database to the newest schema; fails on a database newer than this binary.
Expected<int> migrate(sqlite::Database& db);

}  // namespace ct::analyze

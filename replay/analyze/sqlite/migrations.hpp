// Versioned schema (schema/sql/NNN_*.sql, embedded at build time), applied in
// order; PRAGMA user_version records the last one applied.
#pragma once

#include <span>
#include <string>
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

// The loop both stores' migrations share: applies, in order, each of `migrations`
// newer than `current` with `apply(m)`, which runs it and returns the version
// the database is at afterwards (another importer may have gone further in the
// meantime). Fails, applying none, on a database newer than the newest one.
// Returns the version reached.
template <typename Apply>
Expected<int> apply_migrations(std::span<const Migration> migrations, int current, Apply&& apply) {
    const int newest = migrations.empty() ? 0 : migrations.back().version;
    if (current > newest) {
        return fail("database schema version " + std::to_string(current) +
                    " is newer than this ct-analyze understands (" + std::to_string(newest) + ")");
    }
    for (const auto& m : migrations) {
        if (m.version <= current)
            continue;
        auto reached = apply(m);
        if (!reached)
            return reached;
        current = *reached;
    }
    return current;
}

}  // namespace ct::analyze

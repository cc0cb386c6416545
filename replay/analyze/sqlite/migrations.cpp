#include "sqlite/migrations.hpp"

#include <string>

#include "sqlite/transaction.hpp"

namespace ct::analyze {

Expected<int> migrate(sqlite::Database& db) {
    auto version_stmt = db.prepare("PRAGMA user_version");
    if (!version_stmt)
        return std::unexpected(version_stmt.error());
    auto row = version_stmt->step();
    if (!row)
        return std::unexpected(row.error());
    int current = *row ? static_cast<int>(version_stmt->column_int64(0)) : 0;
    version_stmt->reset();

    const auto& migrations = schema_migrations();
    int newest = migrations.empty() ? 0 : migrations.back().version;
    if (current > newest) {
        return fail("database schema version " + std::to_string(current) +
                    " is newer than this ct-analyze understands (" + std::to_string(newest) + ")");
    }
    for (const auto& m : migrations) {
        if (m.version <= current)
            continue;
        auto tx = sqlite::Transaction::begin(db);
        if (!tx)
            return std::unexpected(tx.error());
        // Another process may have migrated while this one waited for the lock.
        auto again = version_stmt->step();
        if (!again)
            return std::unexpected(again.error());
        current = *again ? static_cast<int>(version_stmt->column_int64(0)) : 0;
        version_stmt->reset();
        if (m.version <= current)
            continue;
        if (auto r = db.exec(m.sql); !r) {
            return fail(std::string(m.name) + ": " + r.error().message);
        }
        if (auto r = db.exec("PRAGMA user_version = " + std::to_string(m.version)); !r) {
            return std::unexpected(r.error());
        }
        if (auto r = tx->commit(); !r)
            return std::unexpected(r.error());
        current = m.version;
    }
    return current;
}

}  // namespace ct::analyze

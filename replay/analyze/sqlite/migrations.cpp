#include "sqlite/migrations.hpp"

#include <string>

#include "sqlite/transaction.hpp"

namespace ct::analyze {

Expected<int> migrate(sqlite::Database& db) {
    auto version_stmt = db.prepare("PRAGMA user_version");
    if (!version_stmt)
        return std::unexpected(version_stmt.error());
    auto version = [&]() -> Expected<int> {
        auto row = version_stmt->step();
        if (!row)
            return std::unexpected(row.error());
        const int v = *row ? static_cast<int>(version_stmt->column_int64(0)) : 0;
        version_stmt->reset();
        return v;
    };
    auto current = version();
    if (!current)
        return current;
    return apply_migrations(
        schema_migrations(), *current, [&](const Migration& m) -> Expected<int> {
            auto tx = sqlite::Transaction::begin(db);
            if (!tx)
                return std::unexpected(tx.error());
            // Another process may have migrated while this one waited for the lock.
            auto again = version();
            if (!again || *again >= m.version)
                return again;
            if (auto r = db.exec(m.sql); !r)
                return fail(std::string(m.name) + ": " + r.error().message);
            CT_TRY(db.exec("PRAGMA user_version = " + std::to_string(m.version)));
            CT_TRY(tx->commit());
            return m.version;
        });
}

}  // namespace ct::analyze

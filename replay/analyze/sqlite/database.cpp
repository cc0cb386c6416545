#include "sqlite/database.hpp"

namespace ct::analyze::sqlite {

Expected<Database> Database::open(const std::string& path, Mode mode) {
    sqlite3* raw = nullptr;
    int flags =
        mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    Database db;
    db.db_.reset(raw);  // sqlite3_open_v2 may hand out a handle even on failure
    db.path_ = path;
    if (rc != SQLITE_OK) {
        return fail("cannot open database " + path + ": " +
                    (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_busy_timeout(raw, 10000);
    if (mode == Mode::ReadWriteCreate) {
        // Large pages suit a database of bodies and cut the write calls per import;
        // page_size only takes effect on a new database, before WAL is set.
        if (auto r = db.exec(
                "PRAGMA page_size=65536; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                " PRAGMA cache_size=-65536;");
            !r) {
            return std::unexpected(r.error());
        }
    }
    // Foreign keys stay off (SQLite's default): the importer writes consistent rows
    // and the checks would cost a lookup per row; REFERENCES documents the links.
    return db;
}

Expected<void> Database::exec(std::string_view sql) {
    std::string text(sql);
    char* message = nullptr;
    int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string what = message ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        return fail("sqlite: " + what);
    }
    return {};
}

Expected<Statement> Database::prepare(std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return fail(std::string("sqlite: ") + sqlite3_errmsg(db_.get()));
    }
    if (!stmt)
        return fail("sqlite: empty statement");
    return Statement(db_.get(), stmt);
}

std::int64_t Database::last_insert_rowid() const {
    return sqlite3_last_insert_rowid(db_.get());
}

std::string Database::error_message() const {
    return sqlite3_errmsg(db_.get());
}

}  // namespace ct::analyze::sqlite

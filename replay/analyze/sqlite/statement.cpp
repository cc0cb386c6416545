#include "sqlite/statement.hpp"

#include <cstring>
#include <limits>

namespace ct::analyze::sqlite {

void Statement::bind(int index, std::nullptr_t) {
    sqlite3_bind_null(stmt_.get(), index);
}

void Statement::bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_.get(), index, value);
}

void Statement::bind(int index, double value) {
    sqlite3_bind_double(stmt_.get(), index, value);
}

void Statement::bind(int index, std::string_view text) {
    sqlite3_bind_text64(stmt_.get(), index, text.data() ? text.data() : "", text.size(),
                        SQLITE_STATIC, SQLITE_UTF8);
}

void Statement::bind(int index, TerminatedText text) {
    // Bound with its length untold, SQLite knows it terminated; it then takes its
    // length from the NUL, so only text without a NUL inside goes that way.
    const std::string_view t = text.text;
    if (t.size() < static_cast<std::size_t>(std::numeric_limits<int>::max()) &&
        std::memchr(t.data(), 0, t.size()) == nullptr) {
        sqlite3_bind_text(stmt_.get(), index, t.data(), -1, SQLITE_STATIC);
        return;
    }
    bind(index, t);
}

void Statement::bind(int index, Blob blob) {
    sqlite3_bind_blob64(stmt_.get(), index, blob.bytes.data() ? blob.bytes.data() : "",
                        blob.bytes.size(), SQLITE_STATIC);
}

Expected<bool> Statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    return fail(std::string("sqlite: ") + sqlite3_errmsg(db_));
}

// Bindings are kept: every use binds all parameters again, and clearing them
// costs time on the hot insert paths.
void Statement::reset() { sqlite3_reset(stmt_.get()); }

int Statement::column_count() const {
    return sqlite3_column_count(stmt_.get());
}

std::string Statement::column_name(int i) const {
    const char* name = sqlite3_column_name(stmt_.get(), i);
    return name ? name : "";
}

int Statement::column_type(int i) const {
    return sqlite3_column_type(stmt_.get(), i);
}

std::int64_t Statement::column_int64(int i) const {
    return sqlite3_column_int64(stmt_.get(), i);
}

double Statement::column_double(int i) const {
    return sqlite3_column_double(stmt_.get(), i);
}

std::string_view Statement::column_text(int i) const {
    const void* p = sqlite3_column_blob(stmt_.get(), i);
    int n = sqlite3_column_bytes(stmt_.get(), i);
    if (!p || n <= 0)
        return {};
    return {static_cast<const char*>(p), static_cast<std::size_t>(n)};
}

}  // namespace ct::analyze::sqlite

// A prepared SQLite statement (RAII over sqlite3_stmt).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "util/error.hpp"

namespace ct::analyze::sqlite {

// Marks a value to be stored as a BLOB rather than TEXT.
struct Blob {
    std::string_view bytes;
};

// TEXT that is all of a std::string, so that a NUL follows its last byte: SQLite
// can then hand it as it is to a reader that asks for a terminated string (FTS5
// does), where it would otherwise copy it whole to add the NUL.
struct TerminatedText {
    explicit TerminatedText(const std::string& s) : text(s) {}
    std::string_view text;
};

class Statement {
  public:
    Statement() = default;
    Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

    // Binds by position (from 1). Values must stay alive until the statement is
    // stepped and reset (execute() does both at once).
    void bind(int index, std::nullptr_t);
    void bind(int index, std::int64_t value);
    void bind(int index, std::string_view text);
    void bind(int index, Blob blob);
    void bind(int index, TerminatedText text);
    void bind(int index, double value);
    template <typename T>
    requires std::is_integral_v<T>
    void bind(int index, T value) { bind(index, static_cast<std::int64_t>(value)); }
    void bind(int index, const std::string& text) { bind(index, std::string_view(text)); }
    void bind(int index, const char* text) { bind(index, std::string_view(text)); }
    template <typename T>
    void bind(int index, const std::optional<T>& value) {
        if (value) {
            bind(index, *value);
        } else {
            bind(index, nullptr);
        }
    }

    // Binds the arguments to consecutive parameters from `index` on.
    template <typename... Args>
    void bind_from(int index, const Args&... args) {
        (bind(index++, args), ...);
    }

    // true: a row is ready; false: done.
    Expected<bool> step();
    // Rewinds the statement. Bindings stay (they may point at freed memory):
    // bind every parameter again before the next step.
    void reset();

    // Steps through every row, calling each() on it (the columns hold the row);
    // each() returns void, or Expected<void> to stop at its first error. The
    // statement is reset afterwards (its bindings stay), however it ended.
    template <typename Each>
    Expected<void> each_row(Each&& each) {
        struct ResetAtEnd {
            Statement& statement;
            ~ResetAtEnd() { statement.reset(); }
        } reset_at_end{*this};
        while (true) {
            auto row = step();
            if (!row)
                return std::unexpected(row.error());
            if (!*row)
                return {};
            if constexpr (std::is_void_v<std::invoke_result_t<Each&>>) {
                each();
            } else if (auto done = each(); !done) {
                return done;
            }
        }
    }

    // Binds all arguments, runs the statement to completion and resets it.
    template <typename... Args>
    Expected<void> execute(const Args&... args) {
        bind_from(1, args...);
        auto r = step();
        reset();
        if (!r)
            return std::unexpected(r.error());
        return {};
    }

    int column_count() const;
    std::string column_name(int i) const;
    int column_type(
        int i) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
    std::int64_t column_int64(int i) const;
    double column_double(int i) const;
    std::string_view column_text(int i) const;  // also the bytes of a BLOB
    bool column_is_null(int i) const { return column_type(i) == SQLITE_NULL; }

    sqlite3_stmt* handle() const { return stmt_.get(); }

  private:
    struct Finalizer {
        void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
    };
    sqlite3* db_ = nullptr;
    std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
};

}  // namespace ct::analyze::sqlite

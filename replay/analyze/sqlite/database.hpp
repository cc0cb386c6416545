// An SQLite connection (RAII over sqlite3).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sqlite/statement.hpp"
#include "util/error.hpp"

namespace ct::analyze::sqlite {

class Database {
  public:
    enum class Mode { ReadWriteCreate, ReadOnly };

    // Opens (and with ReadWriteCreate creates) the file; sets WAL, foreign keys
    // and a busy timeout so concurrent readers and one writer coexist.
    static Expected<Database> open(const std::string& path, Mode mode = Mode::ReadWriteCreate);

    Expected<void> exec(std::string_view sql);
    Expected<Statement> prepare(std::string_view sql);
    std::int64_t last_insert_rowid() const;
    std::string error_message() const;
    sqlite3* handle() const { return db_.get(); }
    const std::string& path() const { return path_; }

  private:
    struct Closer {
        void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
    };
    std::unique_ptr<sqlite3, Closer> db_;
    std::string path_;
};

}  // namespace ct::analyze::sqlite

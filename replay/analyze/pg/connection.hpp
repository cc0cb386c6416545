// A PostgreSQL connection through libpq (RAII over PGconn and PGresult).
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace ct::analyze::pg {

struct ResultClear {
    void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultClear>;

// A statement parameter: NULL, text, or binary bytes (bytea).
struct Param {
    std::optional<std::string> value;
    bool binary = false;
};

// Is `spec` (a --db value) a PostgreSQL connection string: a postgresql:// or
// postgres:// URI, or libpq keyword=value pairs ("host=... dbname=...")?
bool is_connection_string(std::string_view spec);
// `spec` for messages: a URI's password replaced by "***", a password= pair too.
std::string redact_connection_string(std::string_view spec);

class Connection {
  public:
    // Connects (client encoding UTF8); the server's encoding must be UTF8.
    static Expected<Connection> open(const std::string& spec);

    // Runs `sql` (one or more statements, no parameters); fails unless it
    // completes. The result of the last statement.
    Expected<Result> exec(const std::string& sql);
    Expected<Result> exec(const std::string& sql, const std::vector<Param>& params);
    // COPY ... FROM STDIN with `data` in COPY's text format.
    Expected<void> copy_in(const std::string& copy_sql, std::string_view data);

    std::string error_message() const;
    PGconn* handle() const { return conn_.get(); }
    const std::string& spec() const { return spec_; }

  private:
    struct Finish {
        void operator()(PGconn* c) const { PQfinish(c); }
    };
    std::unique_ptr<PGconn, Finish> conn_;
    std::string spec_;
};

// The SQLSTATE of a failed result ("" when none).
std::string sqlstate(const PGresult* result);

}  // namespace ct::analyze::pg

#include "pg/connection.hpp"

#include <cstring>

namespace ct::analyze::pg {

bool is_connection_string(std::string_view spec) {
    if (spec.starts_with("postgresql://") || spec.starts_with("postgres://"))
        return true;
    // libpq keyword/value pairs: the first word is one of libpq's keywords, then '='.
    static constexpr std::string_view kKeywords[] = {
        "host",     "hostaddr", "port",    "dbname",           "user",
        "password", "service",  "sslmode", "application_name", "connect_timeout",
        "options",  "passfile"};
    std::size_t eq = spec.find('=');
    if (eq == std::string_view::npos)
        return false;
    std::string_view key = spec.substr(0, eq);
    while (!key.empty() && key.back() == ' ')
        key.remove_suffix(1);
    while (!key.empty() && key.front() == ' ')
        key.remove_prefix(1);
    for (auto k : kKeywords) {
        if (key == k)
            return true;
    }
    return false;
}

std::string redact_connection_string(std::string_view spec) {
    std::string s(spec);
    if (s.starts_with("postgresql://") || s.starts_with("postgres://")) {
        std::size_t start = s.find("://") + 3;
        std::size_t at = s.find('@', start);
        std::size_t slash = s.find('/', start);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            std::size_t colon = s.find(':', start);
            if (colon != std::string::npos && colon < at)
                s.replace(colon + 1, at - colon - 1, "***");
        }
        // ?password=... in the query part.
        if (std::size_t p = s.find("password="); p != std::string::npos) {
            std::size_t end = s.find('&', p);
            s.replace(p + 9, (end == std::string::npos ? s.size() : end) - p - 9, "***");
        }
        return s;
    }
    if (std::size_t p = s.find("password"); p != std::string::npos) {
        std::size_t eq = s.find('=', p);
        if (eq != std::string::npos) {
            std::size_t v = eq + 1;
            while (v < s.size() && s[v] == ' ')
                ++v;
            std::size_t end = v;
            if (end < s.size() && s[end] == '\'') {
                end = s.find('\'', end + 1);
                end = end == std::string::npos ? s.size() : end + 1;
            } else {
                while (end < s.size() && s[end] != ' ')
                    ++end;
            }
            s.replace(v, end - v, "***");
        }
    }
    return s;
}

Expected<Connection> Connection::open(const std::string& spec) {
    Connection c;
    c.spec_ = spec;
    c.conn_.reset(PQconnectdb(spec.c_str()));
    if (!c.conn_)
        return fail("PostgreSQL: out of memory");
    if (PQstatus(c.conn_.get()) != CONNECTION_OK) {
        return fail("cannot connect to PostgreSQL " + redact_connection_string(spec) + ": " +
                    c.error_message());
    }
    if (PQsetClientEncoding(c.conn_.get(), "UTF8") != 0)
        return fail("PostgreSQL: cannot set client encoding UTF8: " + c.error_message());
    const char* server = PQparameterStatus(c.conn_.get(), "server_encoding");
    if (!server || std::strcmp(server, "UTF8") != 0) {
        return fail("PostgreSQL database " + redact_connection_string(spec) + " has encoding " +
                    (server ? server : "?") +
                    "; ct needs a UTF8 database (CREATE DATABASE ... ENCODING 'UTF8')");
    }
    // Notices (CREATE ... IF NOT EXISTS and the like) are not for the user.
    PQsetNoticeProcessor(
        c.conn_.get(), [](void*, const char*) {}, nullptr);
    return c;
}

std::string Connection::error_message() const {
    std::string m = conn_ ? PQerrorMessage(conn_.get()) : "no connection";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
        m.pop_back();
    return m;
}

namespace {

Expected<Result> checked(PGconn* conn, PGresult* raw) {
    Result r(raw);
    if (!r)
        return fail(std::string("PostgreSQL: ") + PQerrorMessage(conn));
    auto status = PQresultStatus(r.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN)
        return r;
    std::string m = PQresultErrorMessage(r.get());
    while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
        m.pop_back();
    Error e{"PostgreSQL: " + m};
    return std::unexpected(e);
}

}  // namespace

Expected<Result> Connection::exec(const std::string& sql) {
    return checked(conn_.get(), PQexec(conn_.get(), sql.c_str()));
}

Expected<Result> Connection::exec(const std::string& sql, const std::vector<Param>& params) {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const auto& p : params) {
        values.push_back(p.value ? p.value->data() : nullptr);
        lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
        formats.push_back(p.binary ? 1 : 0);
    }
    return checked(conn_.get(),
                   PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr,
                                values.data(), lengths.data(), formats.data(), 0));
}

Expected<void> Connection::copy_in(const std::string& copy_sql, std::string_view data) {
    auto started = exec(copy_sql);
    if (!started)
        return std::unexpected(started.error());
    if (PQresultStatus(started->get()) != PGRES_COPY_IN)
        return fail("PostgreSQL: " + copy_sql + " did not start a COPY");
    // In pieces: PQputCopyData takes an int length.
    constexpr std::size_t kPiece = 1 << 20;
    for (std::size_t at = 0; at < data.size(); at += kPiece) {
        std::size_t n = std::min(kPiece, data.size() - at);
        if (PQputCopyData(conn_.get(), data.data() + at, static_cast<int>(n)) != 1) {
            PQputCopyEnd(conn_.get(), "ct-analyze: send failed");
            return fail("PostgreSQL COPY: " + error_message());
        }
    }
    if (PQputCopyEnd(conn_.get(), nullptr) != 1)
        return fail("PostgreSQL COPY: " + error_message());
    // The COPY's own result, then the end of the command.
    Expected<void> outcome;
    while (PGresult* raw = PQgetResult(conn_.get())) {
        auto r = checked(conn_.get(), raw);
        if (!r && outcome)
            outcome = std::unexpected(r.error());
    }
    return outcome;
}

std::string sqlstate(const PGresult* result) {
    const char* s = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    return s ? s : "";
}

}  // namespace ct::analyze::pg

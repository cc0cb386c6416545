#include "query_output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <string_view>
#include <vector>

#include "llm/json_util.hpp"

namespace ct::analyze {
namespace {

constexpr std::size_t kMaxTableCell = 120;

using Cell = QueryCell;

}  // namespace

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80         ? 1
                        : (c >> 5) == 6  ? 2
                        : (c >> 4) == 14 ? 3
                        : (c >> 3) == 30 ? 4
                                         : 0;
        if (n == 0 || i + n > s.size())
            return false;
        for (std::size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2)
                return false;
        }
        i += n;
    }
    return true;
}

std::string hex_blob(std::string_view bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "x'";
    for (unsigned char c : bytes) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out + "'";
}

namespace {

// Display width in code points (close enough for aligned output).
std::size_t width(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        n += (c >> 6) != 2;
    return n;
}

std::string table_text(const Cell& c) {
    if (c.type == SQLITE_NULL)
        return "NULL";
    std::string t = c.text;
    for (char& ch : t) {
        if (ch == '\n' || ch == '\r' || ch == '\t')
            ch = ' ';
    }
    if (width(t) > kMaxTableCell) {
        std::size_t cut = 0, seen = 0;
        while (cut < t.size() && seen < kMaxTableCell - 1) {
            ++cut;
            while (cut < t.size() && (static_cast<unsigned char>(t[cut]) >> 6) == 2)
                ++cut;
            ++seen;
        }
        t = t.substr(0, cut) + "…";
    }
    return t;
}

std::string csv_field(const Cell& c) {
    if (c.type == SQLITE_NULL)
        return "";
    if (c.text.find_first_of(",\"\r\n") == std::string::npos)
        return c.text;
    std::string out = "\"";
    for (char ch : c.text) {
        if (ch == '"')
            out += '"';
        out += ch;
    }
    return out + "\"";
}

bool iequal(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}

template <std::size_t N>
bool one_of(const char* name, const std::array<std::string_view, N>& names) {
    if (!name)
        return false;
    return std::any_of(names.begin(), names.end(),
                       [&](std::string_view n) { return iequal(name, n); });
}

// PRAGMAs that only report; these take a table or index name as argument.
constexpr std::array<std::string_view, 10> kIntrospectionPragmas = {
    "table_info",       "table_xinfo", "index_list",      "index_info",  "index_xinfo",
    "foreign_key_list", "table_list",  "integrity_check", "quick_check", "foreign_key_check"};
// ... and these are harmless without an argument (with one, most of them write).
constexpr std::array<std::string_view, 17> kQueryPragmas = {
    "application_id", "auto_vacuum",   "cache_size", "collation_list", "compile_options",
    "data_version",   "database_list", "encoding",   "foreign_keys",   "freelist_count",
    "function_list",  "module_list",   "page_count", "page_size",      "pragma_list",
    "schema_version", "user_version"};
// Never, even with --sql-write: they corrupt the database or redirect files.
constexpr std::array<std::string_view, 4> kDangerousPragmas = {
    "writable_schema", "trusted_schema", "temp_store_directory", "data_store_directory"};

constexpr std::array<std::string_view, 4> kSchemaTables = {
    "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"};

// The authorizer's state: which statement is being prepared or run, and why the
// first refused action was refused.
struct Guard {
    QueryAccess access = QueryAccess::ReadOnly;
    bool stepping = false;  // actions while stepping come from inside a statement (VACUUM)
    std::string refusal;

    int deny(std::string why) {
        if (refusal.empty())
            refusal = std::move(why);
        return SQLITE_DENY;
    }
};

int authorize(void* user, int action, const char* a, const char* b, const char*, const char*) {
    auto& g = *static_cast<Guard*>(user);
    const bool write = g.access == QueryAccess::Write;
    switch (action) {
        case SQLITE_SELECT:
        case SQLITE_READ:
        case SQLITE_RECURSIVE:
        case SQLITE_TRANSACTION:
        case SQLITE_SAVEPOINT:
            return SQLITE_OK;
        case SQLITE_FUNCTION:
            if (b && iequal(b, "load_extension"))
                return g.deny("load_extension() (loading code into ct-analyze)");
            return SQLITE_OK;
        case SQLITE_ATTACH:
            // VACUUM (run with --sql-write) attaches a temporary database named "".
            if (g.stepping && write && a && *a == '\0')
                return SQLITE_OK;
            if (g.stepping)
                return g.deny("VACUUM INTO (it writes a copy of the database to a file)");
            return g.deny("ATTACH (it opens or creates a database file anywhere)");
        case SQLITE_DETACH:
            if (g.stepping && write)
                return SQLITE_OK;  // the end of VACUUM
            return g.deny("DETACH");
        case SQLITE_PRAGMA: {
            if (one_of(a, kIntrospectionPragmas))
                return SQLITE_OK;
            if (!b && one_of(a, kQueryPragmas))
                return SQLITE_OK;
            if (write && !one_of(a, kDangerousPragmas))
                return SQLITE_OK;
            return g.deny(fmt::format("PRAGMA {}{}", a ? a : "", b ? fmt::format(" = {}", b) : ""));
        }
        case SQLITE_UPDATE:
            // Connecting a virtual table (FTS5, pragma_table_info) compiles an UPDATE
            // of the schema table that never runs. A user's UPDATE of it would need
            // writable_schema (refused), and it would still be a writing statement,
            // which run_query refuses, on a query_only connection.
            if (write || one_of(a, kSchemaTables))
                return SQLITE_OK;
            return g.deny("writing to the database");
        default:
            // INSERT, DELETE, CREATE..., DROP..., ALTER, REINDEX, ANALYZE, ...
            if (write)
                return SQLITE_OK;
            return g.deny("writing to the database");
    }
}

// Installs the guard on `db` for its lifetime; removes it after.
class GuardScope {
  public:
    GuardScope(sqlite3* db, Guard& guard) : db_(db) {
        sqlite3_db_config(db_, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
        sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
        if (guard.access == QueryAccess::ReadOnly) {
            sqlite3_exec(db_, "PRAGMA query_only = 1", nullptr, nullptr, nullptr);
            query_only_ = true;
        }
        sqlite3_set_authorizer(db_, authorize, &guard);
    }
    ~GuardScope() {
        sqlite3_set_authorizer(db_, nullptr, nullptr);
        if (query_only_)
            sqlite3_exec(db_, "PRAGMA query_only = 0", nullptr, nullptr, nullptr);
    }
    GuardScope(const GuardScope&) = delete;
    GuardScope& operator=(const GuardScope&) = delete;

  private:
    sqlite3* db_;
    bool query_only_ = false;
};

// The statement as the user wrote it, on one line and not too long, for messages.
std::string excerpt(std::string_view sql) {
    while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.front())))
        sql.remove_prefix(1);
    while (!sql.empty() &&
           (std::isspace(static_cast<unsigned char>(sql.back())) || sql.back() == ';'))
        sql.remove_suffix(1);
    std::string out;
    for (char c : sql.substr(0, 80))
        out += c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
    return sql.size() > 80 ? out + "..." : out;
}

Error refused(const Guard& g, std::string_view statement) {
    std::string why = g.refusal.empty() ? "writing to the database" : g.refusal;
    std::string hint =
        g.access == QueryAccess::ReadOnly
            ? "--sql is read-only; add --sql-write to allow statements that change the "
              "database (ATTACH, DETACH, VACUUM INTO and load_extension stay refused)"
            : "ATTACH, DETACH, VACUUM INTO, load_extension and schema-corrupting PRAGMAs are "
              "refused even with --sql-write";
    return Error{
        fmt::format("refused `{}`: {} is not allowed. {}.", excerpt(statement), why, hint)};
}

}  // namespace

Expected<void> run_query(sqlite::Database& db, const std::string& sql, OutputFormat format,
                         std::FILE* out, QueryAccess access) {
    Guard guard;
    guard.access = access;
    GuardScope scope(db.handle(), guard);
    std::vector<std::string> names;
    std::vector<std::vector<Cell>> rows;
    const char* rest = sql.c_str();
    while (rest && *rest) {
        sqlite3_stmt* raw = nullptr;
        const char* tail = nullptr;
        guard.stepping = false;
        guard.refusal.clear();
        const char* start = rest;
        if (sqlite3_prepare_v2(db.handle(), rest, -1, &raw, &tail) != SQLITE_OK) {
            sqlite3_finalize(raw);
            if (!guard.refusal.empty() || sqlite3_errcode(db.handle()) == SQLITE_AUTH)
                return std::unexpected(refused(guard, start));
            return fail("SQL error: " + db.error_message());
        }
        rest = tail;
        if (!raw)
            continue;  // whitespace or a comment
        sqlite::Statement stmt(db.handle(), raw);
        std::string_view text(start, static_cast<std::size_t>(tail - start));
        // VACUUM, checkpoints and journal mode changes write without passing the
        // authorizer's write actions; SQLite knows whether a statement writes.
        if (access == QueryAccess::ReadOnly && !sqlite3_stmt_readonly(raw))
            return std::unexpected(refused(guard, text));
        guard.stepping = true;
        const int n = stmt.column_count();
        std::vector<std::vector<Cell>> these;
        while (true) {
            auto step = stmt.step();
            if (!step) {
                if (!guard.refusal.empty() || sqlite3_errcode(db.handle()) == SQLITE_AUTH)
                    return std::unexpected(refused(guard, text));
                return fail("SQL error: " + step.error().message.substr(8));
            }
            if (!*step)
                break;
            std::vector<Cell> row(static_cast<std::size_t>(n));
            for (int i = 0; i < n; ++i) {
                Cell& c = row[static_cast<std::size_t>(i)];
                c.type = stmt.column_type(i);
                if (c.type == SQLITE_INTEGER)
                    c.integer = stmt.column_int64(i);
                if (c.type == SQLITE_FLOAT)
                    c.real = stmt.column_double(i);
                c.text = std::string(stmt.column_text(i));
                if (c.type == SQLITE_BLOB && !valid_utf8(c.text))
                    c.text = hex_blob(c.text);
            }
            these.push_back(std::move(row));
        }
        if (n > 0) {
            names.clear();
            for (int i = 0; i < n; ++i)
                names.push_back(stmt.column_name(i));
            rows = std::move(these);
        }
    }

    return print_rows(names, rows, format, out);
}

Expected<void> print_rows(const std::vector<std::string>& names,
                          const std::vector<std::vector<QueryCell>>& rows, OutputFormat format,
                          std::FILE* out) {
    if (format == OutputFormat::Csv) {
        std::string line;
        for (std::size_t i = 0; i < names.size(); ++i) {
            line += (i ? "," : "") + csv_field(Cell{names[i], SQLITE_TEXT});
        }
        fmt::print(out, "{}\n", line);
        for (const auto& row : rows) {
            line.clear();
            for (std::size_t i = 0; i < row.size(); ++i)
                line += (i ? "," : "") + csv_field(row[i]);
            fmt::print(out, "{}\n", line);
        }
        return {};
    }
    if (format == OutputFormat::Json) {
        // Ordered: each object's keys in the SELECT's column order.
        nlohmann::ordered_json array = nlohmann::ordered_json::array();
        for (const auto& row : rows) {
            nlohmann::ordered_json object = nlohmann::ordered_json::object();
            for (std::size_t i = 0; i < row.size(); ++i) {
                const Cell& c = row[i];
                switch (c.type) {
                    case SQLITE_NULL:
                        object[names[i]] = nullptr;
                        break;
                    case SQLITE_INTEGER:
                        object[names[i]] = c.integer;
                        break;
                    case SQLITE_FLOAT:
                        object[names[i]] = c.real;
                        break;
                    default:
                        object[names[i]] = c.text;
                        break;
                }
            }
            array.push_back(std::move(object));
        }
        fmt::print(out, "{}\n",
                   array.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
        return {};
    }
    // Aligned table: numbers right-aligned, text left-aligned.
    std::vector<std::size_t> widths(names.size());
    std::vector<std::vector<std::string>> texts;
    for (std::size_t i = 0; i < names.size(); ++i)
        widths[i] = width(names[i]);
    for (const auto& row : rows) {
        std::vector<std::string> t;
        for (std::size_t i = 0; i < row.size(); ++i) {
            t.push_back(table_text(row[i]));
            widths[i] = std::max(widths[i], width(t.back()));
        }
        texts.push_back(std::move(t));
    }
    auto pad = [](const std::string& s, std::size_t w, bool right) {
        std::string fill(w > width(s) ? w - width(s) : 0, ' ');
        return right ? fill + s : s + fill;
    };
    std::string line;
    for (std::size_t i = 0; i < names.size(); ++i)
        line += (i ? "  " : "") + pad(names[i], widths[i], false);
    while (!line.empty() && line.back() == ' ')
        line.pop_back();
    fmt::print(out, "{}\n", line);
    line.clear();
    for (std::size_t i = 0; i < names.size(); ++i)
        line += (i ? "  " : "") + std::string(widths[i], '-');
    fmt::print(out, "{}\n", line);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        line.clear();
        for (std::size_t i = 0; i < names.size(); ++i) {
            bool numeric = rows[r][i].type == SQLITE_INTEGER || rows[r][i].type == SQLITE_FLOAT;
            line += (i ? "  " : "") + pad(texts[r][i], widths[i], numeric);
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        fmt::print(out, "{}\n", line);
    }
    fmt::print(out, "({} row{})\n", rows.size(), rows.size() == 1 ? "" : "s");
    return {};
}

}  // namespace ct::analyze

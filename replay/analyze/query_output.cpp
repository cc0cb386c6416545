#include "query_output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "llm/json_util.hpp"

namespace ct::analyze {
namespace {

constexpr std::size_t kMaxTableCell = 120;

struct Cell {
    std::string text;
    int type = SQLITE_NULL;
    std::int64_t integer = 0;
    double real = 0;
};

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

}  // namespace

Expected<void> run_query(sqlite::Database& db, const std::string& sql, OutputFormat format,
                         std::FILE* out) {
    std::vector<std::string> names;
    std::vector<std::vector<Cell>> rows;
    const char* rest = sql.c_str();
    while (rest && *rest) {
        sqlite3_stmt* raw = nullptr;
        const char* tail = nullptr;
        if (sqlite3_prepare_v2(db.handle(), rest, -1, &raw, &tail) != SQLITE_OK) {
            sqlite3_finalize(raw);
            return fail("SQL error: " + db.error_message());
        }
        rest = tail;
        if (!raw)
            continue;  // whitespace or a comment
        sqlite::Statement stmt(db.handle(), raw);
        const int n = stmt.column_count();
        std::vector<std::vector<Cell>> these;
        while (true) {
            auto step = stmt.step();
            if (!step)
                return fail("SQL error: " + step.error().message.substr(8));
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

#include "sqlite/multi_row_insert.hpp"

#include <string>

namespace ct::analyze::sqlite {

Expected<MultiRowInsert> MultiRowInsert::prepare(Database& db, std::string_view head, int columns) {
    MultiRowInsert out;
    out.columns_ = columns;
    std::string row = "(";
    for (int c = 0; c < columns; ++c)
        row += c == 0 ? "?" : ",?";
    row += ")";
    for (std::size_t size = 0; size < kSizes; ++size) {
        std::string sql(head);
        sql += " VALUES ";
        for (std::size_t r = 0; r < (std::size_t{1} << size); ++r) {
            if (r > 0)
                sql += ',';
            sql += row;
        }
        auto st = db.prepare(sql);
        if (!st)
            return std::unexpected(st.error());
        out.statements_[size] = std::move(*st);
    }
    return out;
}

}  // namespace ct::analyze::sqlite

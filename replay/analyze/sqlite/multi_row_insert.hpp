// Inserts many rows into one table through multi-row INSERT statements: SQLite's
// per-statement work (opening cursors, halting, resetting) is then paid once per
// batch instead of once per row, which matters for tables that take many small rows.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "sqlite/database.hpp"
#include "sqlite/statement.hpp"
#include "util/error.hpp"

namespace ct::analyze::sqlite {

class MultiRowInsert {
  public:
    // Rows per statement: the kSizes powers of two 1, 2, ..., 64, so that any count
    // splits into a few statements and only kSizes statements need preparing.
    static constexpr std::size_t kSizes = 7;

    // `head`: "INSERT INTO table (a, b, c)"; `columns`: how many values a row has.
    static Expected<MultiRowInsert> prepare(Database& db, std::string_view head, int columns);

    MultiRowInsert() = default;

    // Inserts `count` rows in order. `bind_row(statement, first_index, row)` binds
    // row `row` (0-based) from parameter `first_index` on; bound values must stay
    // alive until insert() returns.
    template <typename BindRow>
    Expected<void> insert(std::size_t count, BindRow&& bind_row) {
        std::size_t row = 0;
        while (row < count) {
            std::size_t size = kSizes - 1;
            while ((std::size_t{1} << size) > count - row)
                --size;
            Statement& st = statements_[size];
            const std::size_t rows = std::size_t{1} << size;
            for (std::size_t r = 0; r < rows; ++r)
                bind_row(st, static_cast<int>(r) * columns_ + 1, row + r);
            auto done = st.step();
            st.reset();
            if (!done)
                return std::unexpected(done.error());
            row += rows;
        }
        return {};
    }

  private:
    int columns_ = 0;
    std::array<Statement, kSizes> statements_;  // [k] inserts 2^k rows
};

}  // namespace ct::analyze::sqlite

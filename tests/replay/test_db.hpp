// A ct SQLite database that a test asks for one value at a time.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "sqlite/database.hpp"

namespace ct::testing {

struct Db {
    analyze::sqlite::Database db;

    // The first column of the first row of `sql`, as a number (-1 if there is none).
    std::int64_t count(const std::string& sql) {
        auto st = db.prepare(sql);
        EXPECT_TRUE(st) << sql;
        if (!st)
            return -1;
        auto row = st->step();
        EXPECT_TRUE(row && *row) << sql;
        return row && *row ? st->column_int64(0) : -1;
    }
    // The same as text ("" if there is none).
    std::string text(const std::string& sql) {
        auto st = db.prepare(sql);
        EXPECT_TRUE(st) << sql;
        if (!st)
            return {};
        auto row = st->step();
        EXPECT_TRUE(row && *row) << sql;
        return row && *row ? std::string(st->column_text(0)) : std::string();
    }
};

}  // namespace ct::testing

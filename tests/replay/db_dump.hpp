// A ct database's rows as text, to compare two imports row by row.
#pragma once

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "sqlite/database.hpp"

namespace ct::analyze {

// Every table's rows, as text, in rowid order (imported_ns, which is the time of
// the import, left out).
inline std::vector<std::string> dump(sqlite::Database& db) {
    std::vector<std::string> out;
    auto tables = db.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name");
    EXPECT_TRUE(tables);
    std::vector<std::string> names;
    while (true) {
        auto row = tables->step();
        if (!row || !*row)
            break;
        names.emplace_back(tables->column_text(0));
    }
    for (const auto& name : names) {
        auto st = db.prepare("SELECT * FROM \"" + name + "\"");
        EXPECT_TRUE(st) << name;
        while (true) {
            auto row = st->step();
            if (!row || !*row)
                break;
            std::string line = name + ":";
            for (int c = 0; c < st->column_count(); ++c) {
                if (st->column_name(c) == "imported_ns")
                    continue;
                line += st->column_is_null(c) ? std::string("NULL")
                                              : fmt::format("{:?}", st->column_text(c));
                line += "|";
            }
            out.push_back(std::move(line));
        }
    }
    return out;
}

}  // namespace ct::analyze

// HAR 1.2 (HTTP Archive) of the HTTP exchanges in the database: the format of
// browser devtools' network panel and of HAR viewers.
#pragma once

#include <cstddef>
#include <string>

#include "export/scope.hpp"
#include "sqlite/database.hpp"

namespace ct::analyze::exports {

struct HarDocument {
    std::string json;
    std::size_t entries = 0;
};

// One entry per captured request of the scope (with its final response, if one
// was captured), ordered by start time. Bodies are decoded (Content-Encoding
// undone); text that is not UTF-8 is given as base64. Header values are as
// stored: secrets stay fingerprinted. Responses whose request was not captured
// have no entry.
Expected<HarDocument> build_har(sqlite::Database& db, const ExportScope& scope);

}  // namespace ct::analyze::exports

// The per-capture summary ct-analyze prints after an import, read back from the
// database so that it shows what was stored.
#pragma once

#include <cstdint>
#include <string>

#include "sqlite/database.hpp"

namespace ct::analyze {

Expected<std::string> capture_summary(sqlite::Database& db, std::int64_t capture_id);

}  // namespace ct::analyze

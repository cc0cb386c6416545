// Where the session database lives unless --db says otherwise.
#pragma once

#include <string>

#include "util/error.hpp"

namespace ct::analyze {

// $CT_DB, else $XDG_DATA_HOME/ct/sessions.db, else ~/.local/share/ct/sessions.db.
std::string default_database_path();
// Creates the database file's parent directories (mode 0700) if missing.
Expected<void> ensure_parent_directory(const std::string& path);

}  // namespace ct::analyze

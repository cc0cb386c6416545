#include "default_paths.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace ct::analyze {

std::string default_database_path() {
    if (const char* db = std::getenv("CT_DB"); db && *db)
        return db;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
        return std::string(xdg) + "/ct/sessions.db";
    }
    std::string home;
    if (const char* h = std::getenv("HOME"); h && *h) {
        home = h;
    } else if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) {
        home = pw->pw_dir;
    }
    return home + "/.local/share/ct/sessions.db";
}

Expected<void> ensure_parent_directory(const std::string& path) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (parent.empty())
        return {};
    std::error_code ec;
    if (std::filesystem::exists(parent, ec))
        return {};
    std::filesystem::create_directories(parent, ec);
    if (ec)
        return fail("cannot create " + parent.string() + ": " + ec.message());
    std::filesystem::permissions(parent, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
    return {};
}

}  // namespace ct::analyze

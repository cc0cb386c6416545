// Shared by the tests that need Claude Code builds from npm.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace ct::locate::test {

inline std::vector<std::string> claude_test_versions() {
    std::vector<std::string> versions;
    std::stringstream list(CT_CLAUDE_TEST_VERSIONS);
    for (std::string v; std::getline(list, v, ',');)
        versions.push_back(v);
    return versions;
}

// The path of a fetched build; skips the test when the registry was unreachable, fails
// it when the build is missing for any other reason.
#define CT_REQUIRE_CLAUDE_BUILD(version, path_out)                                    \
    do {                                                                              \
        auto found_ = ::ct::locate::test::claude_build(version);                      \
        if (!found_) {                                                                \
            if (::ct::locate::test::registry_was_unreachable()) {                     \
                GTEST_SKIP() << "npm registry unreachable: Claude Code " << (version) \
                             << " not available";                                     \
            }                                                                         \
            FAIL() << "Claude Code " << (version) << " not in "                       \
                   << ::ct::locate::test::claude_cache_root()                         \
                   << "; run tests/locate/fetch_claude_builds.sh " << (version);      \
        }                                                                             \
        path_out = *found_;                                                           \
    } while (0)

// The ssl_lib.cc path's virtual address, found with a byte search and readelf.
inline std::optional<uint64_t> ssl_lib_cc_vaddr(const std::string& path,
                                                const std::vector<ProgramHeader>& headers) {
    auto offset = find_ssl_lib_cc(path);
    if (!offset)
        return std::nullopt;
    return vaddr_of_offset(headers, *offset);
}

}  // namespace ct::locate::test

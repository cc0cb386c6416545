// A big binary that is not stripped BoringSSL but looks like TLS code: node with its
// SSL_* symbol names hidden. Behind a BoringSSL path the locator must refuse with a
// reason, not guess.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

namespace fs = std::filesystem;
constexpr const char* kNode = "/usr/bin/node";

LocatorOptions no_cache() {
    LocatorOptions options;
    options.use_cache = false;
    return options;
}

// Replaces every occurrence of `from` by `to` (same length) inside the given sections.
size_t patch_sections(const std::string& path, const std::vector<std::string>& names,
                      const std::string& from, const std::string& to) {
    size_t patched = 0;
    for (const auto& section : test::readelf_sections(path)) {
        if (std::find(names.begin(), names.end(), section.name) == names.end())
            continue;
        auto bytes = test::read_bytes(path, section.offset, section.size);
        std::string text(bytes.begin(), bytes.end());
        for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + 1)) {
            text.replace(at, to.size(), to);
            ++patched;
        }
        test::write_bytes(path, section.offset, {text.begin(), text.end()});
    }
    return patched;
}

class DisguisedOpenSsl : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(kNode))
            GTEST_SKIP() << "needs " << kNode;
        copy = (dir.path() / "node").string();
        fs::copy_file(kNode, copy);
        // "\0SSL_write" -> "\0XSL_write": every SSL_* name disappears from both tables.
        ASSERT_GT(patch_sections(copy, {".dynstr", ".strtab"}, std::string("\0SSL_", 5),
                                 std::string("\0XSL_", 5)),
                  0u);
    }
    test::TempDir dir;
    std::string copy;
};

// Without the renamed path it is found by structure: stripped_openssl_test.cpp.

// OpenSSL's own ssl_lib.c path renamed to BoringSSL's: the structural analysis now
// runs on OpenSSL code (ERR_set_debug(file, line, func), not ERR_put_error) and must
// refuse rather than name functions.
TEST_F(DisguisedOpenSsl, OpenSslCodeBehindABoringSslPathIsRefused) {
    const auto offset = [&]() -> std::optional<uint64_t> {
        std::ifstream in(copy, std::ios::binary);
        const std::string data((std::istreambuf_iterator<char>(in)), {});
        const size_t at = data.find(std::string("/ssl/ssl_lib.c\0", 15));
        if (at == std::string::npos)
            return std::nullopt;
        return at;
    }();
    ASSERT_TRUE(offset) << "node has no ssl/ssl_lib.c path";
    // ".../ssl/ssl_lib.c\0?" -> ".../ssl/ssl_lib.cc\0" (eats the next string's first byte).
    test::write_bytes(
        copy, *offset,
        {'/', 's', 's', 'l', '/', 's', 's', 'l', '_', 'l', 'i', 'b', '.', 'c', 'c', '\0'});
    auto report = locate_tls_functions(copy, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    EXPECT_EQ(report->flavor, Flavor::BoringSslStripped);
    ASSERT_TRUE(report->refusal) << format_probe_report(*report);
    EXPECT_FALSE(report->refusal->empty());
    EXPECT_TRUE(report->targets.empty());
}

}  // namespace
}  // namespace ct::locate

// Stripped static OpenSSL 3 found by structure (docs/locator.md, section 3):
//  - a small client linked with Debian's libssl.a/libcrypto.a, then stripped
//    (fixtures/static_openssl_client.c, built by CMake): the answer must be the symbol
//    table of its unstripped twin;
//  - node with its SSL_* names hidden (disguised_openssl_test.cpp has the set-up);
//  - damaged copies must be refused, and rustls must be named, never hooked.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <map>

#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
    return std::string(CT_LOCATE_FIXTURE_DIR) + "/" + name;
}

LocatorOptions no_cache() {
    LocatorOptions options;
    options.use_cache = false;
    return options;
}

// Replaces the first occurrence of `from` (same length as `to`) anywhere in the file.
bool patch_first(const std::string& path, const std::string& from, const std::string& to) {
    std::ifstream in(path, std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), {});
    const size_t at = data.find(from);
    if (at == std::string::npos)
        return false;
    test::write_bytes(path, at, std::vector<uint8_t>(to.begin(), to.end()));
    return true;
}

class StaticOpenSsl : public ::testing::Test {
  protected:
    void SetUp() override {
        stripped = fixture("static_openssl_client");
        if (!fs::exists(stripped))
            GTEST_SKIP() << "not built: needs libssl.a and libcrypto.a (Debian: libssl-dev)";
        ASSERT_EQ(test::run_command("readelf -SW '" + stripped + "'").find(".symtab"),
                  std::string::npos)
            << "fixture is not stripped";
        for (const auto& sym : test::readelf_all_symbols(stripped + ".full")) {
            if (sym.type == "FUNC")
                truth[sym.name] = sym.value;
        }
    }
    std::string stripped;
    std::map<std::string, uint64_t> truth;
};

TEST_F(StaticOpenSsl, StrippedAnswerMatchesTheUnstrippedSymbols) {
    auto report = locate_tls_functions(stripped, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    const std::string text = format_probe_report(*report);
    ASSERT_FALSE(report->refusal) << text;
    EXPECT_EQ(report->flavor, Flavor::OpenSslStripped);
    EXPECT_EQ(report->how_found, "openssl-structure");
    EXPECT_TRUE(report->unprobed_tls.empty());

    // Debian 12 ships OpenSSL 3.0: ssl_write_internal(ssl, buf, num, written).
    const std::map<Role, std::string> expected = {
        {Role::SslWriteInternal, "ssl_write_internal"},
        {Role::SslReadInternal, "ssl_read_internal"},
        {Role::SslDoHandshake, "SSL_do_handshake"},
        {Role::SslShutdown, "SSL_shutdown"},
    };
    const auto headers = test::readelf_program_headers(stripped);
    for (const auto& [role, name] : expected) {
        ASSERT_TRUE(truth.contains(name)) << name << " missing from the unstripped twin";
        const Target* target = report->find(role);
        ASSERT_NE(target, nullptr) << role_symbol(role) << "\n" << text;
        EXPECT_EQ(target->vaddr, truth[name]) << name;
        EXPECT_EQ(test::offset_of_vaddr(headers, target->vaddr), target->file_offset);
    }
    // Nothing else: the API functions are not hooked next to the internal ones, so no
    // call is recorded twice.
    EXPECT_EQ(report->targets.size(), expected.size()) << text;
    EXPECT_EQ(report->find(Role::SslWriteInternalFlags), nullptr);
}

TEST_F(StaticOpenSsl, TheResultIsCachedAndReused) {
    test::TempDir cache;
    LocatorOptions options;
    options.cache_dir = cache.path().string();
    auto first = locate_tls_functions(stripped, options);
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->from_cache);
    auto second = locate_tls_functions(stripped, options);
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->from_cache);
    ASSERT_EQ(second->targets.size(), first->targets.size());
    for (size_t i = 0; i < first->targets.size(); ++i) {
        EXPECT_EQ(second->targets[i].role, first->targets[i].role);
        EXPECT_EQ(second->targets[i].vaddr, first->targets[i].vaddr);
    }
}

TEST_F(StaticOpenSsl, ABinaryWithoutBuildIdIsCachedByFingerprint) {
    test::TempDir dir;
    const std::string copy = (dir.path() / "client").string();
    test::run_command("objcopy --remove-section=.note.gnu.build-id '" + stripped + "' '" + copy +
                      "'");
    LocatorOptions options;
    options.cache_dir = (dir.path() / "cache").string();
    auto first = locate_tls_functions(copy, options);
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->build_id_hex.empty());
    ASSERT_FALSE(first->refusal) << format_probe_report(*first);
    auto second = locate_tls_functions(copy, options);
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->from_cache);
    // Another binary without build-id must not pick up that answer.
    auto other = locate_tls_functions(fixture("rustls_strings.so"), options);
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->from_cache);
}

// The function name of ssl_write_internal's error calls renamed: the write role has no
// function any more, and the whole binary is refused rather than half hooked.
TEST_F(StaticOpenSsl, WithoutTheWriteFunctionNameItIsRefused) {
    test::TempDir dir;
    const std::string copy = (dir.path() / "client").string();
    fs::copy_file(stripped, copy);
    ASSERT_TRUE(patch_first(copy, std::string("\0ssl_write_internal\0", 20),
                            std::string("\0ssl_wrote_internal\0", 20)));
    auto report = locate_tls_functions(copy, no_cache());
    ASSERT_TRUE(report);
    ASSERT_TRUE(report->refusal) << format_probe_report(*report);
    EXPECT_NE(report->refusal->find("no function reports ssl_write_internal"), std::string::npos)
        << *report->refusal;
    EXPECT_TRUE(report->targets.empty());
}

// ssl_read_internal's name given to SSL_read's error call too: two functions now claim
// it (what inlining into several callers looks like), which must be refused.
TEST_F(StaticOpenSsl, ARoleClaimedByTwoFunctionsIsRefused) {
    test::TempDir dir;
    const std::string copy = (dir.path() / "client").string();
    fs::copy_file(stripped, copy);
    // "SSL_read\0" -> "ssl_read_internal" is longer; instead rename ssl_read_internal's
    // string to SSL_read's and check that the read role is refused.
    ASSERT_TRUE(patch_first(copy, std::string("\0ssl_read_internal\0", 19),
                            std::string("\0SSL_read\0internal\0", 19)));
    auto report = locate_tls_functions(copy, no_cache());
    ASSERT_TRUE(report);
    ASSERT_TRUE(report->refusal) << format_probe_report(*report);
    EXPECT_NE(report->refusal->find("ssl_read_internal"), std::string::npos) << *report->refusal;
    EXPECT_TRUE(report->targets.empty());
}

// rustls in a binary: named in the report, never a target.
TEST(Rustls, CratePathsAreReportedAsUnprobedTls) {
    const std::string lib = fixture("rustls_strings.so");
    ASSERT_TRUE(fs::exists(lib));
    auto report = locate_tls_functions(lib, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    EXPECT_FALSE(report->refusal);
    EXPECT_TRUE(report->targets.empty());
    auto found = report->unprobed_tls;
    std::sort(found.begin(), found.end());
    EXPECT_EQ(found, std::vector<std::string>({"rustls-0.21.12", "rustls-0.23.46"}));
    const std::string text = format_probe_report(*report);
    EXPECT_NE(text.find("NOT seen: rustls-0.23.46 is linked in and ct has no probes for it"),
              std::string::npos)
        << text;
}

// node with its SSL_* names hidden. Debian's node is built with ssl_write_internal and
// ssl_read_internal inlined into SSL_write, SSL_write_ex, ... (each such function
// reports their error sites): which copy is which API function cannot be told from
// the error calls, so the binary must be refused, naming the inlining, never guessed.
TEST(DisguisedNode, InlinedInternalFunctionsAreRefused) {
    constexpr const char* kNode = "/usr/bin/node";
    if (!fs::exists(kNode))
        GTEST_SKIP() << "needs " << kNode;
    std::map<std::string, uint64_t> api;
    for (const auto& sym : test::readelf_dynamic_symbols(kNode)) {
        if (sym.name == "SSL_write" || sym.name == "SSL_read")
            api[sym.name] = sym.value;
    }
    ASSERT_EQ(api.size(), 2u);
    test::TempDir dir;
    const std::string copy = (dir.path() / "node").string();
    fs::copy_file(kNode, copy);
    for (const char* table : {".dynstr", ".strtab"}) {
        for (const auto& section : test::readelf_sections(copy)) {
            if (section.name != table)
                continue;
            auto bytes = test::read_bytes(copy, section.offset, section.size);
            std::string text(bytes.begin(), bytes.end());
            for (size_t at = text.find(std::string("\0SSL_", 5)); at != std::string::npos;
                 at = text.find(std::string("\0SSL_", 5), at + 1))
                text[at + 1] = 'X';
            test::write_bytes(copy, section.offset, {text.begin(), text.end()});
        }
    }
    auto report = locate_tls_functions(copy, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    const std::string text = format_probe_report(*report);
    ASSERT_EQ(report->flavor, Flavor::OpenSslStripped) << text;
    if (!report->refusal) {
        // A node built without that inlining: then the answer must be what its real
        // SSL_write and SSL_read call.
        const Target* write = report->find(Role::SslWriteInternal)
                                  ? report->find(Role::SslWriteInternal)
                                  : report->find(Role::SslWriteInternalFlags);
        const Target* read = report->find(Role::SslReadInternal);
        ASSERT_NE(write, nullptr) << text;
        ASSERT_NE(read, nullptr) << text;
        auto calls = [&](uint64_t function, uint64_t callee) {
            for (const auto& insn : test::objdump(kNode, function, function + 0x200)) {
                if (insn.mnemonic == "call" &&
                    insn.operands.find(fmt::format("{:x} ", callee)) == 0)
                    return true;
            }
            return false;
        };
        EXPECT_TRUE(calls(api["SSL_write"], write->vaddr)) << text;
        EXPECT_TRUE(calls(api["SSL_read"], read->vaddr)) << text;
        return;
    }
    EXPECT_TRUE(report->targets.empty());
    EXPECT_NE(report->refusal->find("functions report ssl_write_internal"), std::string::npos)
        << text;
    // The function holding SSL_write's own error site is among the candidates named.
    EXPECT_NE(report->refusal->find(fmt::format("{:#x} [SSL_write (line", api["SSL_write"])),
              std::string::npos)
        << text;
}

}  // namespace
}  // namespace ct::locate

// The structural analysis on a miniature ssl_lib.cc (fixtures/mini_boringssl.c) built
// by GCC and clang, PIE and not, with and without LTO, then stripped: the answer must
// be the symbol table of the unstripped twin, or a refusal for the builds the method
// does not cover. No network needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

struct Variant {
    const char* name;
    const char* refused_role;  // nullptr: every role must be found
    unsigned file_argument;    // where __FILE__ goes: 4, or 3 after dead-argument elimination
};

std::string fixture(const std::string& name) {
    return std::string(CT_LOCATE_FIXTURE_DIR) + "/mini_boringssl_" + name;
}

class MiniBoringSsl : public ::testing::TestWithParam<Variant> {};

TEST_P(MiniBoringSsl, StrippedAnswerMatchesTheUnstrippedSymbols) {
    const Variant& variant = GetParam();
    const std::string stripped = fixture(variant.name);
    if (!std::filesystem::exists(stripped)) {
        GTEST_SKIP() << variant.name << " not built (compiler or linker missing)";
    }
    ASSERT_EQ(test::run_command("readelf -SW '" + stripped + "'").find(".symtab"),
              std::string::npos)
        << "fixture is not stripped";
    auto report =
        locate_tls_functions(stripped, LocatorOptions{.use_cache = false, .cache_dir = {}});
    ASSERT_TRUE(report) << report.error().what();
    EXPECT_EQ(report->flavor, Flavor::BoringSslStripped);
    const std::string text = format_probe_report(*report);

    if (variant.refused_role != nullptr) {
        ASSERT_TRUE(report->refusal) << text;
        EXPECT_TRUE(report->targets.empty());
        EXPECT_NE(report->refusal->find(variant.refused_role), std::string::npos) << text;
        return;
    }
    ASSERT_FALSE(report->refusal) << text;
    EXPECT_NE(text.find("with __FILE__ as argument " + std::to_string(variant.file_argument)),
              std::string::npos)
        << text;

    std::map<std::string, uint64_t> truth;
    for (const auto& sym : test::readelf_all_symbols(stripped + ".full")) {
        if (sym.type == "FUNC")
            truth[sym.name] = sym.value;
    }
    const auto headers = test::readelf_program_headers(stripped);
    for (Role role :
         {Role::SslWrite, Role::SslRead, Role::SslDoHandshake, Role::SslNew, Role::SslShutdown}) {
        const Target* t = report->find(role);
        ASSERT_NE(t, nullptr) << role_symbol(role) << "\n" << text;
        ASSERT_TRUE(truth.contains(role_symbol(role)));
        EXPECT_EQ(t->vaddr, truth[role_symbol(role)]) << role_symbol(role);
        EXPECT_EQ(test::offset_of_vaddr(headers, t->vaddr), t->file_offset);
    }
    // SSL_peek and ssl_read_impl copy the same bytes: never hooked.
    for (const auto& t : report->targets) {
        EXPECT_NE(t.vaddr, truth["SSL_peek"]);
        EXPECT_NE(t.vaddr, truth["ssl_read_impl"]);
    }
    EXPECT_EQ(report->find(Role::SslFree), nullptr);
}

INSTANTIATE_TEST_SUITE_P(
    Builds, MiniBoringSsl,
    ::testing::Values(Variant{"gcc_pie", nullptr, 4}, Variant{"gcc_nopie", nullptr, 4},
                      Variant{"clang_nopie", nullptr, 4}, Variant{"clang_lto_nopie", nullptr, 3},
                      Variant{"clang_lto_pie", nullptr, 3},
                      // GCC's LTO moves SSL_peek's body into a function of its own that
                      // SSL_read and SSL_peek both call: SSL_read no longer copies.
                      Variant{"gcc_lto", "SSL_read", 3},
                      // GCC -O1 does not align functions: no entry can be trusted.
                      Variant{"gcc_o1", "SSL_do_handshake", 4}),
    [](const ::testing::TestParamInfo<Variant>& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace ct::locate

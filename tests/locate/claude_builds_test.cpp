// Stripped BoringSSL in Claude Code native builds from npm: every required role found
// exactly once, and each answer confirmed by an independent reading of the code with
// objdump (error reasons next to the ssl_lib.cc path, direct calls) and readelf.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "claude_support.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate {
namespace {

// Public BoringSSL reason codes (include/openssl/ssl.h, err.h).
constexpr uint32_t kShouldNotHaveBeenCalled = 66, kBadLength = 111, kConnectionTypeNotSet = 134,
                   kNullSslCtx = 185, kHandshakeFailure = 215, kUninitialized = 226,
                   kApplicationDataOnShutdown = 291;

LocatorOptions no_cache() {
    LocatorOptions options;
    options.use_cache = false;
    return options;
}

class ClaudeBuild : public ::testing::TestWithParam<std::string> {
  protected:
    std::string version() {
        if (GetParam() != "latest")
            return GetParam();
        return test::latest_claude_version().value_or("latest");
    }
};

TEST_P(ClaudeBuild, EveryRequiredRoleExactlyOnceAndConfirmedByObjdump) {
    const std::string v = version();
    std::string path;
    CT_REQUIRE_CLAUDE_BUILD(v, path);
    auto report = locate_tls_functions(path, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    std::cout << "Claude Code " << v << "\n" << format_probe_report(*report);
    ASSERT_FALSE(report->refusal) << *report->refusal;
    EXPECT_EQ(report->flavor, Flavor::BoringSslStripped);
    EXPECT_EQ(report->how_found, "boringssl-structure");
    EXPECT_EQ(report->build_id_hex, test::readelf_build_id(path));

    std::map<Role, int> count;
    for (const auto& t : report->targets)
        ++count[t.role];
    for (Role role : {Role::SslWrite, Role::SslRead, Role::SslDoHandshake}) {
        EXPECT_EQ(count[role], 1) << role_symbol(role);
    }
    for (const auto& [role, n] : count)
        EXPECT_EQ(n, 1) << role_symbol(role);
    const Target* write = report->find(Role::SslWrite);
    const Target* read = report->find(Role::SslRead);
    const Target* handshake = report->find(Role::SslDoHandshake);
    ASSERT_TRUE(write && read && handshake);

    const auto headers = test::readelf_program_headers(path);
    const auto file_va = test::ssl_lib_cc_vaddr(path, headers);
    ASSERT_TRUE(file_va) << "no ssl_lib.cc path found by byte search";
    for (const auto& t : report->targets) {
        SCOPED_TRACE(role_symbol(t.role));
        // vaddr -> offset as readelf's program headers say, and a real function start:
        // 16-byte aligned, right after padding or the previous function's last
        // instruction, called directly from somewhere.
        EXPECT_EQ(test::offset_of_vaddr(headers, t.vaddr), t.file_offset);
        EXPECT_EQ(t.vaddr % 16, 0u);
        const auto code = test::objdump(path, t.vaddr - 48, t.vaddr + 1);
        ASSERT_GE(code.size(), 2u);
        EXPECT_EQ(code.back().va, t.vaddr) << "objdump does not reach the entry in step";
        const std::string& previous = code[code.size() - 2].mnemonic;
        EXPECT_TRUE(previous == "int3" || previous == "ret" || previous == "jmp" ||
                    previous == "call" || previous == "ud2")
            << "instruction before the entry: " << previous;
        EXPECT_GE(test::count_direct_calls(path, headers, t.vaddr), 1u);
        EXPECT_FALSE(t.evidence.empty());
    }

    const auto hs = test::observe_function(path, handshake->vaddr, *file_va);
    EXPECT_TRUE(hs.error_reasons.contains(kConnectionTypeNotSet));

    const auto w = test::observe_function(path, write->vaddr, *file_va);
    for (uint32_t reason : {kBadLength, kUninitialized, kHandshakeFailure}) {
        EXPECT_TRUE(w.error_reasons.contains(reason)) << "SSL_write lacks reason " << reason;
    }
    EXPECT_TRUE(w.call_targets.contains(handshake->vaddr))
        << "SSL_write must call SSL_do_handshake";

    // SSL_read: the QUIC check of SSL_peek, then a call to ssl_read_impl, which
    // reports UNINITIALIZED and SSL_HANDSHAKE_FAILURE and drives the handshake.
    const auto r = test::observe_function(path, read->vaddr, *file_va);
    EXPECT_TRUE(r.error_reasons.contains(kShouldNotHaveBeenCalled));
    EXPECT_FALSE(r.error_reasons.contains(kBadLength));
    bool calls_read_impl = false;
    for (uint64_t callee : r.call_targets) {
        const auto impl = test::observe_function(path, callee, *file_va);
        if (impl.error_reasons.contains(kUninitialized) &&
            impl.error_reasons.contains(kHandshakeFailure) &&
            impl.call_targets.contains(handshake->vaddr)) {
            calls_read_impl = true;
        }
    }
    EXPECT_TRUE(calls_read_impl) << "SSL_read does not call an ssl_read_impl";

    if (const Target* created = report->find(Role::SslNew)) {
        EXPECT_TRUE(test::observe_function(path, created->vaddr, *file_va)
                        .error_reasons.contains(kNullSslCtx));
    }
    if (const Target* shutdown = report->find(Role::SslShutdown)) {
        EXPECT_TRUE(test::observe_function(path, shutdown->vaddr, *file_va)
                        .error_reasons.contains(kApplicationDataOnShutdown));
    }
}

// Deterministic: the same binary always gives the same answer.
TEST_P(ClaudeBuild, SameAnswerTwice) {
    const std::string v = version();
    std::string path;
    CT_REQUIRE_CLAUDE_BUILD(v, path);
    auto first = locate_tls_functions(path, no_cache());
    auto second = locate_tls_functions(path, no_cache());
    ASSERT_TRUE(first && second);
    ASSERT_EQ(first->targets.size(), second->targets.size());
    for (size_t i = 0; i < first->targets.size(); ++i) {
        EXPECT_EQ(first->targets[i].role, second->targets[i].role);
        EXPECT_EQ(first->targets[i].file_offset, second->targets[i].file_offset);
    }
}

std::vector<std::string> versions_and_latest() {
    auto versions = test::claude_test_versions();
    versions.push_back("latest");
    return versions;
}

INSTANTIATE_TEST_SUITE_P(Releases, ClaudeBuild, ::testing::ValuesIn(versions_and_latest()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                             std::string name = param.param;
                             for (char& c : name) {
                                 if (c == '.')
                                     c = '_';
                             }
                             return name;
                         });

// The analysis recorded in /work/shared/reference/stripped-boringssl.md, made with a
// separate Python/capstone locator and confirmed with live uprobes on 2.1.328.
TEST(ClaudeReference, Version2_1_328MatchesTheIndependentAnalysis) {
    std::string path;
    CT_REQUIRE_CLAUDE_BUILD(std::string("2.1.328"), path);
    auto report = locate_tls_functions(path, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    ASSERT_FALSE(report->refusal) << *report->refusal;
    EXPECT_TRUE(report->build_id_hex.starts_with("d72a729b"));
    EXPECT_TRUE(report->build_id_hex.ends_with("3039"));
    const std::map<Role, uint64_t> reference = {{Role::SslDoHandshake, 0x30f4ae0},
                                                {Role::SslWrite, 0x311d660},
                                                {Role::SslRead, 0x311d810},
                                                {Role::SslShutdown, 0x311dc20}};
    for (const auto& [role, offset] : reference) {
        const Target* t = report->find(role);
        ASSERT_NE(t, nullptr) << role_symbol(role);
        EXPECT_EQ(t->file_offset, offset) << role_symbol(role);
    }
    // "text va = file off + 0x201000" for this build.
    EXPECT_EQ(report->find(Role::SslWrite)->vaddr, 0x331e660u);
}

}  // namespace
}  // namespace ct::locate

// A copy of Claude Code 2.1.328 with parts of its code overwritten: the locator must
// refuse with the reason, never crash, and never name a different function.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <cstdlib>
#include <random>
#include <regex>

#include "claude_support.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate {
namespace {

namespace fs = std::filesystem;
constexpr const char* kVersion = "2.1.328";

LocatorOptions no_cache() {
    LocatorOptions options;
    options.use_cache = false;
    return options;
}

// Overwrites bytes of the copy; puts the original bytes back at scope exit.
class Patch {
  public:
    Patch(std::string path, uint64_t offset, std::vector<uint8_t> bytes)
        : path_(std::move(path)),
          offset_(offset),
          original_(test::read_bytes(path_, offset, bytes.size())) {
        test::write_bytes(path_, offset_, bytes);
    }
    ~Patch() { test::write_bytes(path_, offset_, original_); }
    Patch(const Patch&) = delete;
    Patch& operator=(const Patch&) = delete;

  private:
    std::string path_;
    uint64_t offset_;
    std::vector<uint8_t> original_;
};

class DamagedClaude : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        auto source = test::claude_build(kVersion);
        if (!source)
            return;
        dir_ = std::make_unique<test::TempDir>();
        copy_ = (dir_->path() / "claude").string();
        fs::copy_file(*source, copy_);
        auto report = locate_tls_functions(copy_, no_cache());
        if (report && !report->refusal)
            intact_ = std::make_unique<BinaryReport>(*report);
        headers_ = test::readelf_program_headers(copy_);
        file_va_ = test::ssl_lib_cc_vaddr(copy_, headers_).value_or(0);
    }
    static void TearDownTestSuite() {
        intact_.reset();
        dir_.reset();
    }
    void SetUp() override {
        std::string path;
        CT_REQUIRE_CLAUDE_BUILD(std::string(kVersion), path);
        ASSERT_TRUE(intact_) << "the intact copy must be located first";
        ASSERT_NE(file_va_, 0u);
    }

    const Target& intact(Role role) { return *intact_->find(role); }
    uint64_t offset_of(uint64_t va) { return test::offset_of_vaddr(headers_, va).value(); }
    test::ObservedFunction observe(Role role) {
        return test::observe_function(copy_, intact(role).vaddr, file_va_);
    }
    // Length of the instruction at `va` in `f`.
    static size_t length_at(const test::ObservedFunction& f, uint64_t va) {
        for (size_t i = 0; i + 1 < f.code.size(); ++i) {
            if (f.code[i].va == va)
                return f.code[i + 1].va - va;
        }
        return 0;
    }
    // The `mov esi/edx, imm32` carrying the reason of the error site at `site`.
    static std::optional<uint64_t> reason_load_after(const test::ObservedFunction& f,
                                                     uint64_t site) {
        static const std::regex reason(R"(^(esi|edx),0x[0-9a-f]+$)");
        bool after = false;
        for (const auto& insn : f.code) {
            if (insn.va == site)
                after = true;
            if (after && insn.va != site && insn.mnemonic == "mov" &&
                std::regex_match(insn.operands, reason)) {
                return insn.va;
            }
        }
        return std::nullopt;
    }
    static std::vector<uint8_t> imm32(uint32_t value) {
        return {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    }
    // Rewrites the reason of one error site of `role`'s function.
    std::unique_ptr<Patch> change_reason(Role role, uint32_t from, uint32_t to) {
        const auto f = observe(role);
        const auto site = f.site_with_reason(from);
        EXPECT_TRUE(site) << role_symbol(role) << " has no site with reason " << from;
        if (!site)
            return nullptr;
        const auto load = reason_load_after(f, *site);
        EXPECT_TRUE(load);
        if (!load)
            return nullptr;
        const uint64_t at = offset_of(*load);
        const uint8_t opcode = test::read_bytes(copy_, at, 1).at(0);
        EXPECT_TRUE(opcode == 0xba || opcode == 0xbe) << "not mov r32, imm32";
        return std::make_unique<Patch>(copy_, at + 1, imm32(to));
    }

    BinaryReport locate() {
        auto report = locate_tls_functions(copy_, no_cache());
        EXPECT_TRUE(report) << report.error().what();
        return report ? *report : BinaryReport{};
    }

    static inline std::unique_ptr<test::TempDir> dir_;
    static inline std::string copy_;
    static inline std::unique_ptr<BinaryReport> intact_;
    static inline std::vector<test::ProgramHeader> headers_;
    static inline uint64_t file_va_ = 0;
};

TEST_F(DamagedClaude, SslWriteErrorSiteVanishes) {
    const auto f = observe(Role::SslWrite);
    const auto site = f.site_with_reason(111);
    ASSERT_TRUE(site);
    const size_t length = length_at(f, *site);
    ASSERT_GE(length, 5u);
    Patch nops(copy_, offset_of(*site), std::vector<uint8_t>(length, 0x90));
    const BinaryReport report = locate();
    ASSERT_TRUE(report.refusal);
    EXPECT_TRUE(report.targets.empty());
    EXPECT_NE(report.refusal->find("SSL_write"), std::string::npos) << *report.refusal;
    EXPECT_NE(report.refusal->find("BAD_LENGTH"), std::string::npos) << *report.refusal;
}

TEST_F(DamagedClaude, BadLengthInTwoFunctions) {
    auto patch = change_reason(Role::SslRead, 66, 111);
    ASSERT_TRUE(patch);
    const BinaryReport report = locate();
    ASSERT_TRUE(report.refusal);
    EXPECT_TRUE(report.targets.empty());
    EXPECT_NE(report.refusal->find("2 functions report BAD_LENGTH"), std::string::npos)
        << *report.refusal;
    // Both candidates are named.
    EXPECT_NE(report.refusal->find(fmt::format("{:#x}", intact(Role::SslWrite).vaddr)),
              std::string::npos);
    EXPECT_NE(report.refusal->find(fmt::format("{:#x}", intact(Role::SslRead).vaddr)),
              std::string::npos);
}

TEST_F(DamagedClaude, ConnectionTypeNotSetInTwoFunctions) {
    auto patch = change_reason(Role::SslShutdown, 291, 134);
    ASSERT_TRUE(patch);
    const BinaryReport report = locate();
    ASSERT_TRUE(report.refusal);
    EXPECT_TRUE(report.targets.empty());
    EXPECT_NE(report.refusal->find("SSL_do_handshake: 2 functions"), std::string::npos)
        << *report.refusal;
}

// Without its stores into the pending-data span, SSL_read is indistinguishable from
// SSL_peek, which must not be hooked (bytes would be counted twice).
TEST_F(DamagedClaude, SslReadThatDoesNotConsumeLooksLikeSslPeek) {
    const auto f = observe(Role::SslRead);
    static const std::regex store(R"(^QWORD PTR \[(r[0-9a-z]+)[^\]]*\],.*$)");
    std::vector<std::unique_ptr<Patch>> patches;
    for (const auto& insn : f.code) {
        std::smatch m;
        if ((insn.mnemonic == "mov" || insn.mnemonic == "add") &&
            std::regex_match(insn.operands, m, store) && m[1] != "rbp" && m[1] != "rsp") {
            patches.push_back(std::make_unique<Patch>(
                copy_, offset_of(insn.va), std::vector<uint8_t>(length_at(f, insn.va), 0x90)));
        }
    }
    ASSERT_FALSE(patches.empty());
    const BinaryReport report = locate();
    ASSERT_TRUE(report.refusal);
    EXPECT_TRUE(report.targets.empty());
    EXPECT_NE(report.refusal->find("SSL_read"), std::string::npos) << *report.refusal;
    EXPECT_NE(report.refusal->find("consume"), std::string::npos) << *report.refusal;
}

TEST_F(DamagedClaude, WipedTlsCode) {
    const uint64_t middle = intact(Role::SslWrite).file_offset;
    Patch wipe(copy_, middle - 0x8000, std::vector<uint8_t>(0x10000, 0xcc));
    const BinaryReport report = locate();
    ASSERT_TRUE(report.refusal);
    EXPECT_TRUE(report.targets.empty());
}

// Random damage in and around the located functions: refuse, or give exactly the
// intact answer (minus optional roles), never a different function.
TEST_F(DamagedClaude, RandomDamageNeverMovesATarget) {
    // CT_DAMAGE_ROUNDS / CT_DAMAGE_SEED run a longer or different campaign.
    const char* rounds_env = std::getenv("CT_DAMAGE_ROUNDS");
    const char* seed_env = std::getenv("CT_DAMAGE_SEED");
    const int kRounds = rounds_env ? std::atoi(rounds_env) : 40;
    std::mt19937_64 rng(seed_env ? std::strtoull(seed_env, nullptr, 10) : 328);
    const auto& targets = intact_->targets;
    int refused = 0, unchanged = 0;
    for (int round = 0; round < kRounds; ++round) {
        std::vector<std::unique_ptr<Patch>> patches;
        for (int i = 0; i < 6; ++i) {
            const Target& t = targets[rng() % targets.size()];
            const uint64_t at = t.file_offset - 0x40 + rng() % 0x340;
            patches.push_back(std::make_unique<Patch>(
                copy_, at, std::vector<uint8_t>{static_cast<uint8_t>(rng())}));
        }
        const BinaryReport report = locate();
        if (report.refusal) {
            ++refused;
            EXPECT_TRUE(report.targets.empty());
            continue;
        }
        ++unchanged;
        for (const auto& t : report.targets) {
            const Target* before = intact_->find(t.role);
            ASSERT_NE(before, nullptr)
                << "new role " << role_symbol(t.role) << " in round " << round;
            EXPECT_EQ(t.file_offset, before->file_offset)
                << role_symbol(t.role) << " moved in round " << round;
        }
    }
    std::cout << refused << " of " << kRounds << " damaged copies refused, " << unchanged
              << " gave the intact answer\n";
    EXPECT_GT(refused, 0) << "the damage never mattered: the test is not testing anything";
}

// A damaged copy keeps the build-id: the cache must notice the code changed.
TEST_F(DamagedClaude, CacheOfTheIntactBinaryIsNotUsedForTheDamagedOne) {
    test::TempDir cache;
    LocatorOptions options;
    options.cache_dir = cache.path().string();
    auto fill = locate_tls_functions(*test::claude_build(kVersion), options);
    ASSERT_TRUE(fill && !fill->refusal);
    Patch wipe(copy_, intact(Role::SslWrite).file_offset, std::vector<uint8_t>(16, 0xcc));
    auto report = locate_tls_functions(copy_, options);
    ASSERT_TRUE(report);
    EXPECT_FALSE(report->from_cache);
    EXPECT_TRUE(report->refusal);
}

}  // namespace
}  // namespace ct::locate

// Binaries with symbols: libssl, node, and small libraries built for edge cases. The
// expected offsets come from readelf, computed through section headers as libbpf does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <span>

#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

constexpr const char* kLibSsl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
constexpr const char* kNode = "/usr/bin/node";
constexpr const char* kLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
constexpr const char* kLibGnutls = "/usr/lib/x86_64-linux-gnu/libgnutls.so.30";
constexpr const char* kLibCrypto = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";

LocatorOptions no_cache() {
    LocatorOptions options;
    options.use_cache = false;
    return options;
}

std::string fixture(const char* name) {
    return std::string(CT_LOCATE_FIXTURE_DIR) + "/" + name;
}

// Every role the binary defines must be found at the offset readelf implies.
void expect_matches_readelf(const std::string& path, std::span<const Role> roles = kAllRoles,
                            Flavor flavor = Flavor::OpenSslSymbols) {
    if (!std::filesystem::exists(path))
        GTEST_SKIP() << path << " is not installed";
    auto report = locate_tls_functions(path, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    EXPECT_EQ(report->flavor, flavor);
    EXPECT_FALSE(report->refusal) << *report->refusal;
    EXPECT_EQ(report->build_id_hex, test::readelf_build_id(path));

    const auto sections = test::readelf_sections(path);
    const auto symbols = test::readelf_dynamic_symbols(path);
    size_t checked = 0;
    for (Role role : roles) {
        // "SSL_write" (unversioned) or "SSL_write@@OPENSSL_3.0.0" (default version).
        const std::string name = role_symbol(role);
        auto sym = std::find_if(symbols.begin(), symbols.end(), [&](const auto& s) {
            return (s.name == name || s.name.starts_with(name + "@@")) && s.type == "FUNC" &&
                   s.ndx != "UND";
        });
        ASSERT_NE(sym, symbols.end()) << role_symbol(role) << " not in readelf output";
        const Target* target = report->find(role);
        ASSERT_NE(target, nullptr) << role_symbol(role) << " not located in " << path;
        const auto offset = test::offset_through_section(sections, sym->value);
        ASSERT_TRUE(offset);
        EXPECT_EQ(target->vaddr, sym->value) << role_symbol(role);
        EXPECT_EQ(target->file_offset, *offset) << role_symbol(role);
        EXPECT_NE(target->evidence.find(sym->name), std::string::npos) << target->evidence;
        ++checked;
    }
    EXPECT_EQ(checked, roles.size());
    EXPECT_EQ(report->targets.size(), roles.size());
}

TEST(SymbolLocator, LibSslEveryRoleAtReadelfOffsets) {
    expect_matches_readelf(kLibSsl);
}

std::vector<Role> api_and_bio_roles() {
    std::vector<Role> roles(std::begin(kAllRoles), std::end(kAllRoles));
    roles.insert(roles.end(), std::begin(kBioRoles), std::end(kBioRoles));
    return roles;
}

// node exports the OpenSSL linked into it: the API and BIO_write (sockets by ciphertext).
TEST(SymbolLocator, NodeEveryRoleAtReadelfOffsets) {
    expect_matches_readelf(kNode, api_and_bio_roles());
}

// libcrypto has no SSL_* but BIO_write, which libssl's record layer calls: found alone,
// without a refusal for the missing SSL_write/SSL_read.
TEST(SymbolLocator, LibCryptoHasBioWriteOnly) {
    expect_matches_readelf(kLibCrypto, kBioRoles);
}

// GnuTLS exports its API: every plaintext entry point, the handshake and deinit.
TEST(SymbolLocator, LibGnutlsEveryRoleAtReadelfOffsets) {
    expect_matches_readelf(kLibGnutls, kGnutlsRoles, Flavor::GnutlsSymbols);
}

// Programs that call GnuTLS import it: nothing to hook in them, libgnutls is hooked.
TEST(SymbolLocator, GnutlsClientsOnlyImportIt) {
    for (const char* path : {"/usr/bin/wget", "/usr/lib/git-core/git-remote-https",
                             "/usr/lib/x86_64-linux-gnu/libcurl-gnutls.so.4"}) {
        if (!std::filesystem::exists(path))
            continue;
        auto report = locate_tls_functions(path, no_cache());
        ASSERT_TRUE(report) << report.error().what();
        EXPECT_EQ(report->flavor, Flavor::None) << path;
        EXPECT_FALSE(report->refusal) << path;
        EXPECT_TRUE(report->targets.empty()) << path;
    }
}

// The faults one locate_tls_functions(path) call takes, after a first call has brought
// the file into the page cache and the allocator up to its working size.
long locate_faults(const std::string& path) {
    EXPECT_TRUE(locate_tls_functions(path, no_cache()));
    const long before = test::thread_page_faults();
    auto report = locate_tls_functions(path, no_cache());
    const long faults = test::thread_page_faults() - before;
    EXPECT_TRUE(report);
    return faults;
}

// node (about 100 MB) is located from .dynsym, .dynstr and .gnu.version (about 7 MB):
// no fallback to .symtab, no scan of .rodata or .text. Measured as the share of the file
// the call reads (page faults against reading the whole file once, in the same run):
// about 8% here (115 of 1506); reading .symtab and .strtab as well would be about 18%,
// scanning .rodata over 50%.
TEST(SymbolLocator, NodeIsLocatedFromItsDynamicSymbols) {
    if (!test::kTimingIsMeaningful)
        GTEST_SKIP() << "sanitizers fault in shadow memory on every allocation";
    if (!std::filesystem::exists(kNode))
        GTEST_SKIP() << kNode << " is not installed";
    const long whole = test::faults_to_read_whole_file(kNode);
    const long located = locate_faults(kNode);
    ASSERT_GT(whole, 0);
    std::printf("node: %ld page faults to locate, %ld to read the whole file\n", located, whole);
    EXPECT_LT(located * 100, whole * 15)
        << located << " faults to locate, " << whole << " to read the whole file";
}

// The recorder calls the locator on every library of every process: a file without TLS
// code costs its symbol table and a pass over its read-only data for source-path strings
// (two searches), never an analysis of its code. Measured against a floor taken in the
// same run: one search of the whole file (mapped afresh) for a string it does not hold.
// CPU time of this thread, summed over 20 calls of each, so waiting for a busy CPU counts
// in neither. Here: python3.11 0.9, libc 1.0, libm 1.5, ls 2.1-2.5 (a 140 KB file: opening
// and parsing it dominate); a structural analysis costs hundreds of whole-file searches.
TEST(SymbolLocator, BinariesWithoutTlsCostAFewSearchesOfTheFile) {
    for (const char* path :
         {kLibc, "/bin/ls", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/usr/bin/python3.11"}) {
        if (!std::filesystem::exists(path))
            continue;
        auto first = locate_tls_functions(path, no_cache());
        ASSERT_TRUE(first) << first.error().what();
        EXPECT_EQ(first->flavor, Flavor::None) << path;
        EXPECT_TRUE(first->targets.empty());
        EXPECT_FALSE(first->refusal);
        EXPECT_EQ(first->how_found, "none");
        if (!test::kTimingIsMeaningful)
            continue;                   // sanitizers instrument the locator, not libc's memmem
        test::search_whole_file(path);  // the same pages in memory for both
        std::int64_t located = 0, searched = 0;
        for (int i = 0; i < 20; ++i) {
            std::int64_t t0 = test::thread_cpu_ns();
            ASSERT_TRUE(locate_tls_functions(path, no_cache()));
            std::int64_t t1 = test::thread_cpu_ns();
            test::search_whole_file(path);
            std::int64_t t2 = test::thread_cpu_ns();
            located += t1 - t0;
            searched += t2 - t1;
        }
        std::printf("%s: locate %.0f us, one search of the file %.0f us (ratio %.2f)\n", path,
                    static_cast<double>(located) / 20e3, static_cast<double>(searched) / 20e3,
                    static_cast<double>(located) / static_cast<double>(searched));
        EXPECT_LT(located, 4 * searched) << path << ": " << located << " ns of CPU to reject, "
                                         << searched << " to search the whole file";
    }
}

TEST(SymbolLocator, PicksTheDefaultVersionOfAVersionedSymbol) {
    const std::string path = fixture("libct_locate_versioned_ssl.so");
    auto report = locate_tls_functions(path, no_cache());
    ASSERT_TRUE(report) << report.error().what();
    ASSERT_FALSE(report->refusal) << *report->refusal;
    const auto symbols = test::readelf_dynamic_symbols(path);
    auto by_name = [&](const std::string& name) {
        auto it = std::find_if(symbols.begin(), symbols.end(),
                               [&](const auto& s) { return s.name == name; });
        EXPECT_NE(it, symbols.end()) << name;
        return it == symbols.end() ? 0 : it->value;
    };
    const uint64_t default_version = by_name("SSL_write@@FAKESSL_2");
    const uint64_t old_version = by_name("SSL_write@FAKESSL_1");
    ASSERT_NE(default_version, old_version);
    const Target* write = report->find(Role::SslWrite);
    ASSERT_NE(write, nullptr);
    EXPECT_EQ(write->vaddr, default_version);
    EXPECT_NE(write->evidence.find("SSL_write@@FAKESSL_2"), std::string::npos) << write->evidence;
    ASSERT_NE(report->find(Role::SslRead), nullptr);
    EXPECT_EQ(report->find(Role::SslRead)->vaddr, by_name("SSL_read@@FAKESSL_1"));
}

TEST(SymbolLocator, RefusesSslWriteWithoutSslRead) {
    auto report = locate_tls_functions(fixture("libct_locate_write_only_ssl.so"), no_cache());
    ASSERT_TRUE(report);
    EXPECT_EQ(report->flavor, Flavor::OpenSslSymbols);
    ASSERT_TRUE(report->refusal);
    EXPECT_NE(report->refusal->find("SSL_read"), std::string::npos) << *report->refusal;
    EXPECT_TRUE(report->targets.empty());
}

TEST(SymbolLocator, RefusesAnIfuncSslWrite) {
    auto report = locate_tls_functions(fixture("libct_locate_ifunc_ssl.so"), no_cache());
    ASSERT_TRUE(report);
    ASSERT_TRUE(report->refusal);
    EXPECT_NE(report->refusal->find("IFUNC"), std::string::npos) << *report->refusal;
    EXPECT_TRUE(report->targets.empty());
}

TEST(SymbolLocator, ImportedSslWriteIsNotTlsHere) {
    auto report = locate_tls_functions(fixture("libct_locate_imports_ssl.so"), no_cache());
    ASSERT_TRUE(report);
    EXPECT_EQ(report->flavor, Flavor::None);
    EXPECT_FALSE(report->refusal);
    EXPECT_TRUE(report->targets.empty());
    const bool mentioned = std::any_of(
        report->evidence.begin(), report->evidence.end(),
        [](const std::string& e) { return e.find("imports SSL_write") != std::string::npos; });
    EXPECT_TRUE(mentioned);
}

TEST(Roles, SymbolNamesRoundTrip) {
    for (Role role : kAllRoles) {
        EXPECT_EQ(role_from_symbol(role_symbol(role)), role);
        EXPECT_FALSE(is_gnutls_role(role));
    }
    for (Role role : kGnutlsRoles) {
        EXPECT_EQ(role_from_symbol(role_symbol(role)), role);
        EXPECT_TRUE(is_gnutls_role(role));
    }
    for (Role role : kBioRoles) {
        EXPECT_EQ(role_from_symbol(role_symbol(role)), role);
        EXPECT_TRUE(is_bio_role(role));
        EXPECT_FALSE(is_gnutls_role(role));
    }
    EXPECT_STREQ(role_symbol(Role::GnutlsRecordRecvSeq), "gnutls_record_recv_seq");
    EXPECT_STREQ(role_symbol(Role::SslWrite), "SSL_write");
    EXPECT_STREQ(role_symbol(Role::SslReadEx), "SSL_read_ex");
    EXPECT_FALSE(role_from_symbol("SSL_peek"));
}

}  // namespace
}  // namespace ct::locate

// The Go crypto/tls locator on Go programs built from tests/go/https_client.go by
// Debian's golang-1.19 (tests/go/CMakeLists.txt): the pclntab must give the addresses
// the symbol table gives (readelf) and every RET objdump sees, stripped or not, with
// or without section headers; damaged tables must be refused, never crash.
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "locate/elf_image.hpp"
#include "locate/go/go_pclntab.hpp"
#include "locate/go/go_tls_locator.hpp"
#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

namespace fs = std::filesystem;

const std::string kClientDir = CT_GO_CLIENT_DIR;
const std::string kGoVersion = CT_GO_VERSION;

std::string client(const char* name) {
    return kClientDir + "/" + name;
}

#define REQUIRE_GO_CLIENTS()                                                        \
    do {                                                                            \
        if (kClientDir.empty() || !fs::exists(client("go_https_client")))           \
            GTEST_SKIP() << "no Go toolchain at configure time: clients not built"; \
    } while (0)

LocatorOptions no_cache() {
    LocatorOptions o;
    o.use_cache = false;
    return o;
}

std::vector<uint64_t> targets_of(const BinaryReport& r, Role role) {
    std::vector<uint64_t> out;
    for (const auto& t : r.targets) {
        if (t.role == role)
            out.push_back(t.vaddr);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// From binutils: function entries (.symtab) and the RET instructions in each.
struct Oracle {
    std::map<std::string, uint64_t> entry;
    std::map<std::string, std::vector<uint64_t>> rets;
};

Oracle oracle(const std::string& path) {
    Oracle o;
    std::set<uint64_t> starts;
    for (const auto& s : test::readelf_all_symbols(path)) {
        if (s.type != "FUNC")
            continue;
        starts.insert(s.value);
        if (s.name == go::kConnWrite || s.name == go::kConnRead || s.name == go::kConnClose)
            o.entry[s.name] = s.value;
    }
    for (const auto& [name, entry] : o.entry) {
        auto next = starts.upper_bound(entry);
        const uint64_t end = next == starts.end() ? entry + 0x4000 : *next;
        for (const auto& insn : test::objdump(path, entry, end)) {
            if (insn.mnemonic == "ret")
                o.rets[name].push_back(insn.va);
        }
    }
    return o;
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string write_temp(const std::vector<uint8_t>& bytes, const std::string& name) {
    const std::string path =
        (fs::temp_directory_path() / ("ct-go-test-" + std::to_string(::getpid()) + "-" + name))
            .string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
    return path;
}

void expect_same_targets_as_symbols(const BinaryReport& r, const Oracle& o) {
    ASSERT_EQ(o.entry.size(), 3u) << "the unstripped twin lacks Write, Read or Close";
    EXPECT_EQ(targets_of(r, Role::GoConnWrite), std::vector<uint64_t>{o.entry.at(go::kConnWrite)});
    EXPECT_EQ(targets_of(r, Role::GoConnRead), std::vector<uint64_t>{o.entry.at(go::kConnRead)});
    EXPECT_EQ(targets_of(r, Role::GoConnClose), std::vector<uint64_t>{o.entry.at(go::kConnClose)});
    EXPECT_EQ(targets_of(r, Role::GoConnWriteReturn), o.rets.at(go::kConnWrite));
    EXPECT_EQ(targets_of(r, Role::GoConnReadReturn), o.rets.at(go::kConnRead));
    EXPECT_GE(o.rets.at(go::kConnWrite).size(), 1u);
}

TEST(GoLocator, UnstrippedClientMatchesItsSymbolTableAndObjdump) {
    REQUIRE_GO_CLIENTS();
    const std::string path = client("go_https_client");
    auto r = locate_tls_functions(path, no_cache());
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->flavor, Flavor::GoCryptoTls);
    EXPECT_EQ(r->how_found, "go-pclntab");
    EXPECT_FALSE(r->refusal) << *r->refusal;
    EXPECT_EQ(r->go_version, kGoVersion);
    expect_same_targets_as_symbols(*r, oracle(path));
    // Returns before entries: the attacher places them first.
    ASSERT_FALSE(r->targets.empty());
    EXPECT_TRUE(r->targets.front().role == Role::GoConnWriteReturn ||
                r->targets.front().role == Role::GoConnReadReturn);
    for (const auto& t : r->targets) {
        auto expected = test::offset_of_vaddr(test::readelf_program_headers(path), t.vaddr);
        ASSERT_TRUE(expected);
        EXPECT_EQ(t.file_offset, *expected);
    }
}

TEST(GoLocator, StrippedTwinGivesTheSameAddresses) {
    REQUIRE_GO_CLIENTS();
    const std::string stripped = client("go_https_client_stripped");
    ASSERT_TRUE(test::readelf_all_symbols(stripped).size() <
                test::readelf_all_symbols(client("go_https_client")).size());
    auto r = locate_tls_functions(stripped, no_cache());
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->flavor, Flavor::GoCryptoTls);
    EXPECT_EQ(r->go_version, kGoVersion);
    expect_same_targets_as_symbols(*r, oracle(client("go_https_client")));
}

TEST(GoLocator, StaticStrippedClientIsLocated) {
    REQUIRE_GO_CLIENTS();
    const std::string path = client("go_https_client_static");
    auto r = locate_tls_functions(path, no_cache());
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->flavor, Flavor::GoCryptoTls);
    EXPECT_FALSE(r->refusal);
    const auto code = read_file(path);
    for (const auto& t : r->targets) {
        ASSERT_LT(t.file_offset, code.size());
        if (t.role == Role::GoConnWriteReturn || t.role == Role::GoConnReadReturn) {
            EXPECT_EQ(code[t.file_offset], 0xc3) << "not a RET at " << std::hex << t.vaddr;
        }
    }
    EXPECT_EQ(targets_of(*r, Role::GoConnWrite).size(), 1u);
    EXPECT_EQ(targets_of(*r, Role::GoConnRead).size(), 1u);
}

TEST(GoLocator, WithoutSectionHeadersThePclntabIsFoundByItsMagic) {
    REQUIRE_GO_CLIENTS();
    auto bytes = read_file(client("go_https_client_stripped"));
    ASSERT_GT(bytes.size(), sizeof(Elf64_Ehdr));
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof eh);
    eh.e_shoff = 0;
    eh.e_shnum = 0;
    eh.e_shstrndx = 0;
    std::memcpy(bytes.data(), &eh, sizeof eh);
    const std::string path = write_temp(bytes, "noshdr");
    auto image = ElfImage::open(path);
    ASSERT_TRUE(image) << image.error().what();
    EXPECT_FALSE(image->has_sections());
    auto r = locate_tls_functions(path, no_cache());
    fs::remove(path);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->flavor, Flavor::GoCryptoTls);
    expect_same_targets_as_symbols(*r, oracle(client("go_https_client")));
}

// Finds the pclntab the way the locator does, to damage it.
size_t pclntab_offset(const std::vector<uint8_t>& bytes) {
    static constexpr uint32_t kMagics[] = {go::kPclntabMagic118, go::kPclntabMagic120};
    auto found = go::find_pclntab_headers(bytes, kMagics);
    EXPECT_EQ(found.size(), 1u);
    return found.empty() ? 0 : found.front();
}

TEST(GoLocator, DamagedPclntabIsRefusedNotMisread) {
    REQUIRE_GO_CLIENTS();
    const auto original = read_file(client("go_https_client_stripped"));
    const size_t at = pclntab_offset(original);
    ASSERT_GT(at, 0u);
    uint64_t functab = 0;
    std::memcpy(&functab, original.data() + at + 64, 8);
    struct Damage {
        const char* name;
        size_t offset;
        uint8_t value;
    } damages[] = {
        {"magic", at, 0x00},
        {"pointer size", at + 7, 4},
        {"function count", at + 15, 0x7f},
        {"funcname offset", at + 39, 0x7f},
        {"functab order", at + functab + 8 * 100 + 3, 0xff},
    };
    for (const auto& d : damages) {
        auto bytes = original;
        bytes[d.offset] = d.value;
        const std::string path = write_temp(bytes, d.name);
        auto r = locate_tls_functions(path, no_cache());
        fs::remove(path);
        ASSERT_TRUE(r) << d.name << ": " << r.error().what();
        EXPECT_EQ(r->flavor, Flavor::GoCryptoTls) << d.name;
        EXPECT_TRUE(r->refusal) << d.name << ": a damaged table must not be used";
        EXPECT_TRUE(r->targets.empty()) << d.name;
    }
}

TEST(GoPclntab, EveryTruncationOfTheHeaderAndFunctabIsAnError) {
    REQUIRE_GO_CLIENTS();
    const auto bytes = read_file(client("go_https_client_stripped"));
    const size_t at = pclntab_offset(bytes);
    ASSERT_GT(at, 0u);
    const std::span<const uint8_t> table(bytes.data() + at, bytes.size() - at);
    auto whole = go::Pclntab::parse(table);
    ASSERT_TRUE(whole) << whole.error().what();
    EXPECT_GT(whole->function_count(), 1000u);
    uint64_t functab = 0;
    std::memcpy(&functab, table.data() + 64, 8);
    const size_t functab_end = functab + (whole->function_count() + 1) * 8;
    for (size_t len : {size_t{0}, size_t{8}, size_t{71}, size_t{72}, size_t{4096}, functab,
                       functab + 8, functab_end - 1}) {
        EXPECT_FALSE(go::Pclntab::parse(table.first(len))) << "length " << len;
    }
}

TEST(GoPclntab, NamesAreTheSymbolTableNames) {
    REQUIRE_GO_CLIENTS();
    const std::string path = client("go_https_client");
    const auto bytes = read_file(path);
    const size_t at = pclntab_offset(bytes);
    auto table = go::Pclntab::parse(std::span<const uint8_t>(bytes).subspan(at));
    ASSERT_TRUE(table);
    std::map<uint64_t, std::string> symbols;
    for (const auto& s : test::readelf_all_symbols(path)) {
        if (s.type != "FUNC")
            continue;
        // The symbol table marks assembly (ABI0) functions, the pclntab does not.
        std::string name = s.name;
        if (name.ends_with(".abi0"))
            name.resize(name.size() - 5);
        symbols[s.value] = name;
    }
    size_t compared = 0;
    for (size_t i = 0; i < table->function_count(); ++i) {
        auto f = table->function(i);
        ASSERT_TRUE(f) << f.error().what();
        auto s = symbols.find(f->entry);
        // test_support's readelf parser cuts names at spaces ("go.struct { ... }.Read").
        // The pclntab also abbreviates array lengths in generated names ("[...]").
        // readelf escapes non-ASCII names ("dialResult·1").
        const bool plain = std::all_of(f->name.begin(), f->name.end(),
                                       [](char c) { return c > 0x20 && c < 0x7f; });
        if (s == symbols.end() || !plain || f->name.find("[...]") != std::string_view::npos)
            continue;
        EXPECT_EQ(f->name, s->second);
        ++compared;
    }
    EXPECT_GT(compared, table->function_count() * 9 / 10);
}

TEST(GoBuildInfo, OldPointerLayoutIsRead) {
    // Go 1.13 to 1.17: pointers to a string header, resolved through the binary.
    std::vector<uint8_t> blob(32, 0);
    std::memcpy(blob.data(), go::kBuildInfoMagic.data(), go::kBuildInfoMagic.size());
    blob[14] = 8;  // pointer size
    blob[15] = 0;  // little-endian, pointers
    const uint64_t header_va = 0x1000, text_va = 0x2000;
    std::memcpy(blob.data() + 16, &header_va, 8);
    const std::string version = "go1.16.15";
    std::vector<uint8_t> header(16);
    const uint64_t len = version.size();
    std::memcpy(header.data(), &text_va, 8);
    std::memcpy(header.data() + 8, &len, 8);
    auto read = [&](uint64_t va, uint64_t n) -> std::span<const uint8_t> {
        if (va == header_va)
            return std::span<const uint8_t>(header).first(std::min<uint64_t>(n, 16));
        if (va == text_va)
            return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(version.data()),
                                            std::min<uint64_t>(n, version.size()));
        return {};
    };
    EXPECT_EQ(go::buildinfo_version(blob, read), version);
    header[8] = 200;  // a length past what the reader has
    EXPECT_FALSE(go::buildinfo_version(blob, read));
}

TEST(GoLocator, CacheKeepsTheResultUnderTheGoBuildId) {
    REQUIRE_GO_CLIENTS();
    const std::string dir =
        (fs::temp_directory_path() / ("ct-go-cache-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    LocatorOptions options;
    options.cache_dir = dir;
    const std::string path = client("go_https_client_static");
    auto image = ElfImage::open(path);
    ASSERT_TRUE(image);
    EXPECT_FALSE(image->build_id_hex().empty()) << "the Go build ID note must name the build";
    auto first = locate_tls_functions(path, options);
    auto second = locate_tls_functions(path, options);
    fs::remove_all(dir);
    ASSERT_TRUE(first && second);
    EXPECT_FALSE(first->from_cache);
    EXPECT_TRUE(second->from_cache);
    EXPECT_EQ(second->flavor, Flavor::GoCryptoTls);
    EXPECT_EQ(second->go_version, first->go_version);
    ASSERT_EQ(second->targets.size(), first->targets.size());
    for (size_t i = 0; i < first->targets.size(); ++i) {
        EXPECT_EQ(second->targets[i].role, first->targets[i].role);
        EXPECT_EQ(second->targets[i].file_offset, first->targets[i].file_offset);
    }
}

TEST(GoLocator, NonGoBinaryIsNotGo) {
    auto image = ElfImage::open("/bin/true");
    ASSERT_TRUE(image);
    auto r = go::locate_go_tls(*image);
    EXPECT_FALSE(r.is_go);
    EXPECT_TRUE(r.targets.empty());
}

}  // namespace
}  // namespace ct::locate

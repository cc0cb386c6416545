// Files that are not well-formed ELF objects: the locator must fail with a clear
// error (or, for damage it can tolerate, answer) and never crash or read out of bounds.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSmallElf = "/bin/ls";
constexpr const char* kLibSsl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

LocatorOptions no_cache() {
    LocatorOptions options;
    options.use_cache = false;
    return options;
}

std::vector<uint8_t> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string write_file(const fs::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return path.string();
}

template <typename T>
void put(std::vector<uint8_t>& bytes, size_t offset, T value) {
    ASSERT_LE(offset + sizeof value, bytes.size());
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

template <typename T>
T get(const std::vector<uint8_t>& bytes, size_t offset) {
    T value{};
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

void expect_error_mentioning(const std::string& path, const std::string& words) {
    auto report = locate_tls_functions(path, no_cache());
    ASSERT_FALSE(report) << path << " was accepted";
    EXPECT_NE(report.error().what().find(words), std::string::npos) << report.error().what();
}

class ElfRobustness : public ::testing::Test {
  protected:
    test::TempDir dir;
    std::vector<uint8_t> elf = slurp(kSmallElf);
};

TEST_F(ElfRobustness, MissingFile) {
    expect_error_mentioning("/nonexistent/binary", "cannot open");
}

TEST_F(ElfRobustness, Directory) {
    expect_error_mentioning("/usr", "not a regular file");
}

TEST_F(ElfRobustness, EmptyFile) {
    expect_error_mentioning(write_file(dir.path() / "empty", {}), "empty");
}

TEST_F(ElfRobustness, NotElf) {
    const std::string text = "#!/bin/sh\necho hello\n";
    expect_error_mentioning(write_file(dir.path() / "script", {text.begin(), text.end()}),
                            "not an ELF file");
}

TEST_F(ElfRobustness, ThirtyTwoBitElf) {
    elf[EI_CLASS] = ELFCLASS32;
    expect_error_mentioning(write_file(dir.path() / "elf32", elf), "64-bit little-endian");
}

TEST_F(ElfRobustness, EveryTruncationFailsCleanly) {
    ASSERT_GT(elf.size(), 4096u);
    std::vector<size_t> lengths = {
        4, 16, 63, 64, 65, 100, 200, 0x238, 4096, elf.size() / 2, elf.size() - 64, elf.size() - 1};
    for (size_t length : lengths) {
        const std::vector<uint8_t> cut(elf.begin(), elf.begin() + static_cast<long>(length));
        auto report = locate_tls_functions(write_file(dir.path() / "cut", cut), no_cache());
        EXPECT_FALSE(report) << "truncated to " << length << " bytes was accepted";
        if (!report) {
            EXPECT_FALSE(report.error().what().empty());
        }
    }
}

TEST_F(ElfRobustness, SectionHeaderTablePastTheEnd) {
    put<uint64_t>(elf, offsetof(Elf64_Ehdr, e_shoff), elf.size() + 4096);
    expect_error_mentioning(write_file(dir.path() / "shoff", elf), "section header");
}

TEST_F(ElfRobustness, AbsurdSectionCount) {
    put<uint16_t>(elf, offsetof(Elf64_Ehdr, e_shnum), 0xfff0);
    expect_error_mentioning(write_file(dir.path() / "shnum", elf), "section header");
}

TEST_F(ElfRobustness, SectionPointingOutsideTheFile) {
    const auto shoff = get<uint64_t>(elf, offsetof(Elf64_Ehdr, e_shoff));
    const auto shnum = get<uint16_t>(elf, offsetof(Elf64_Ehdr, e_shnum));
    ASSERT_GT(shnum, 2);
    // Section 1 (.interp for /bin/ls) now claims to live 1 GiB into the file.
    put<uint64_t>(elf, shoff + sizeof(Elf64_Shdr) + offsetof(Elf64_Shdr, sh_offset), 1ull << 30);
    expect_error_mentioning(write_file(dir.path() / "section", elf), "bad section header");
}

TEST_F(ElfRobustness, LoadSegmentPastTheEnd) {
    const auto phoff = get<uint64_t>(elf, offsetof(Elf64_Ehdr, e_phoff));
    const auto phnum = get<uint16_t>(elf, offsetof(Elf64_Ehdr, e_phnum));
    bool patched = false;
    for (uint16_t i = 0; i < phnum && !patched; ++i) {
        const size_t at = phoff + i * sizeof(Elf64_Phdr);
        if (get<uint32_t>(elf, at + offsetof(Elf64_Phdr, p_type)) == PT_LOAD) {
            put<uint64_t>(elf, at + offsetof(Elf64_Phdr, p_filesz), elf.size() * 4);
            patched = true;
        }
    }
    ASSERT_TRUE(patched);
    expect_error_mentioning(write_file(dir.path() / "load", elf), "truncated");
}

TEST_F(ElfRobustness, ProgramHeaderTablePastTheEnd) {
    put<uint64_t>(elf, offsetof(Elf64_Ehdr, e_phoff), elf.size() + 64);
    auto report = locate_tls_functions(write_file(dir.path() / "phoff", elf), no_cache());
    EXPECT_FALSE(report);
}

// Random bytes behind a valid ELF identification: any answer is fine, a crash is not.
TEST_F(ElfRobustness, RandomBodiesNeverCrash) {
    std::mt19937_64 rng(20260925);
    for (int i = 0; i < 300; ++i) {
        std::vector<uint8_t> junk(64 + rng() % 8192);
        for (auto& b : junk)
            b = static_cast<uint8_t>(rng());
        std::memcpy(junk.data(), elf.data(), EI_NIDENT);
        auto report = locate_tls_functions(write_file(dir.path() / "junk", junk), no_cache());
        if (report) {
            EXPECT_TRUE(report->targets.empty());
        }
    }
}

// Random damage to the headers of a real TLS library: no crash; if it still parses,
// anything it returns must be inside the file.
TEST_F(ElfRobustness, DamagedLibSslHeadersNeverCrash) {
    const auto original = slurp(kLibSsl);
    ASSERT_FALSE(original.empty());
    const auto shoff = get<uint64_t>(original, offsetof(Elf64_Ehdr, e_shoff));
    std::mt19937_64 rng(7);
    for (int i = 0; i < 200; ++i) {
        auto damaged = original;
        for (int j = 0; j < 8; ++j) {
            // Half in the ELF/program headers, half in the section header table.
            const size_t at =
                (j % 2 == 0) ? rng() % 0x300 : shoff + rng() % (damaged.size() - shoff);
            damaged[at] = static_cast<uint8_t>(rng());
        }
        const std::string path = write_file(dir.path() / "libssl", damaged);
        auto report = locate_tls_functions(path, no_cache());
        if (!report)
            continue;
        for (const auto& t : report->targets)
            EXPECT_LT(t.file_offset, damaged.size());
    }
}

}  // namespace
}  // namespace ct::locate

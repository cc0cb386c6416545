// The per-build-id result cache, on a real Claude Code build.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "claude_support.hpp"
#include "locate/locator_cache.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate {
namespace {

namespace fs = std::filesystem;
constexpr const char* kVersion = "2.1.328";

void expect_same_answer(const BinaryReport& a, const BinaryReport& b) {
    EXPECT_EQ(a.flavor, b.flavor);
    EXPECT_EQ(a.how_found, b.how_found);
    EXPECT_EQ(a.refusal, b.refusal);
    EXPECT_EQ(a.build_id_hex, b.build_id_hex);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.file_size, b.file_size);
    EXPECT_EQ(a.device, b.device);
    EXPECT_EQ(a.inode, b.inode);
    ASSERT_EQ(a.targets.size(), b.targets.size());
    for (size_t i = 0; i < a.targets.size(); ++i) {
        EXPECT_EQ(a.targets[i].role, b.targets[i].role);
        EXPECT_EQ(a.targets[i].vaddr, b.targets[i].vaddr);
        EXPECT_EQ(a.targets[i].file_offset, b.targets[i].file_offset);
        EXPECT_EQ(a.targets[i].evidence, b.targets[i].evidence);
    }
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class LocatorCache : public ::testing::Test {
  protected:
    void SetUp() override {
        CT_REQUIRE_CLAUDE_BUILD(std::string(kVersion), binary);
        options.cache_dir = cache.path().string();
        auto fresh =
            locate_tls_functions(binary, LocatorOptions{.use_cache = false, .cache_dir = {}});
        ASSERT_TRUE(fresh);
        uncached = *fresh;
        cache_file = cache_file_path(options.cache_dir, uncached.build_id_hex);
    }
    test::TempDir cache;
    LocatorOptions options;
    std::string binary;
    BinaryReport uncached;
    std::string cache_file;
};

TEST_F(LocatorCache, SecondCallIsServedFromCacheAndEqual) {
    auto first = locate_tls_functions(binary, options);
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->from_cache);
    ASSERT_TRUE(fs::exists(cache_file));
    auto second = locate_tls_functions(binary, options);
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->from_cache);
    expect_same_answer(*second, uncached);
    expect_same_answer(*first, uncached);
}

TEST_F(LocatorCache, CorruptFileIsIgnoredAndRewritten) {
    ASSERT_TRUE(locate_tls_functions(binary, options));
    for (const std::string& junk :
         {std::string("garbage\n"), std::string(""), slurp(cache_file).substr(0, 100)}) {
        std::ofstream(cache_file, std::ios::trunc) << junk;
        auto report = locate_tls_functions(binary, options);
        ASSERT_TRUE(report);
        EXPECT_FALSE(report->from_cache);
        expect_same_answer(*report, uncached);
        auto again = locate_tls_functions(binary, options);
        ASSERT_TRUE(again);
        EXPECT_TRUE(again->from_cache) << "not rewritten after: " << junk;
    }
}

// Flipping one byte anywhere must be caught (the file carries a checksum).
TEST_F(LocatorCache, AnyFlippedByteIsCaught) {
    ASSERT_TRUE(locate_tls_functions(binary, options));
    const std::string good = slurp(cache_file);
    for (size_t at = 0; at < good.size(); at += 97) {
        std::string bad = good;
        bad[at] = static_cast<char>(bad[at] ^ 0x20);
        std::ofstream(cache_file, std::ios::trunc | std::ios::binary) << bad;
        auto report = locate_tls_functions(binary, options);
        ASSERT_TRUE(report);
        EXPECT_FALSE(report->from_cache) << "flip at " << at;
        std::ofstream(cache_file, std::ios::trunc | std::ios::binary) << good;
    }
}

// A file written by another locator version is ignored even if intact. The file format
// is documented in locator_cache.hpp: the test rewrites it by that documentation.
TEST_F(LocatorCache, OtherLocatorVersionIsIgnored) {
    ASSERT_TRUE(locate_tls_functions(binary, options));
    std::string text = slurp(cache_file);
    const std::string current = "\nlocator " + std::to_string(kLocatorVersion) + "\n";
    const size_t at = text.find(current);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, current.size(), "\nlocator " + std::to_string(kLocatorVersion + 1) + "\n");
    text = text.substr(0, text.rfind("end "));
    uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 0x100000001b3ull;
    }
    std::ostringstream end;
    end << "end " << std::hex << hash << "\n";
    std::ofstream(cache_file, std::ios::trunc | std::ios::binary) << text << end.str();
    auto report = locate_tls_functions(binary, options);
    ASSERT_TRUE(report);
    EXPECT_FALSE(report->from_cache);
    EXPECT_NE(slurp(cache_file).find(current), std::string::npos) << "not rewritten";
}

// Uprobes are an int3 (0xcc) over a function's first byte. Code read while another
// recording had its probes in place shows them; that must not invalidate the cache.
TEST_F(LocatorCache, ProbedCodeStillMatchesTheCache) {
    ASSERT_TRUE(locate_tls_functions(binary, options));
    ASSERT_FALSE(uncached.targets.empty());
    const fs::path copy = cache.path() / "claude-probed";
    fs::copy_file(binary, copy);
    {
        std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
        for (const auto& t : uncached.targets) {
            f.seekp(static_cast<std::streamoff>(t.file_offset));
            f.put(static_cast<char>(0xcc));
        }
    }
    auto probed = locate_tls_functions(copy.string(), options);
    ASSERT_TRUE(probed);
    EXPECT_TRUE(probed->from_cache);
    ASSERT_EQ(probed->targets.size(), uncached.targets.size());
    for (size_t i = 0; i < probed->targets.size(); ++i)
        EXPECT_EQ(probed->targets[i].file_offset, uncached.targets[i].file_offset);

    // A cache file written from probed code validates against the clean binary.
    std::string text = slurp(cache_file);
    text = text.substr(0, text.rfind("end "));
    std::istringstream lines(text);
    std::string rewritten, line;
    int targets = 0;
    while (std::getline(lines, line)) {
        if (line.rfind("target ", 0) == 0) {
            // target <role> <vaddr> <offset> <bytes> ...: the bytes are the 5th word.
            size_t at = 0;
            for (int word = 0; word < 4; ++word)
                at = line.find(' ', at) + 1;
            line.replace(at, 2, "cc");
            ++targets;
        }
        rewritten += line + "\n";
    }
    ASSERT_EQ(targets, static_cast<int>(uncached.targets.size()));
    uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64, as locator_cache.hpp documents
    for (unsigned char c : rewritten) {
        hash ^= c;
        hash *= 0x100000001b3ull;
    }
    std::ostringstream end;
    end << "end " << std::hex << hash << "\n";
    std::ofstream(cache_file, std::ios::trunc | std::ios::binary) << rewritten << end.str();
    auto clean = locate_tls_functions(binary, options);
    ASSERT_TRUE(clean);
    EXPECT_TRUE(clean->from_cache);

    // But a 0xcc anywhere else in the checked bytes is other code.
    {
        std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(uncached.targets.front().file_offset + 1));
        f.put(static_cast<char>(0xcc));
    }
    auto other = locate_tls_functions(copy.string(), options);
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->from_cache);
}

TEST_F(LocatorCache, DisabledCacheWritesNothing) {
    auto report = locate_tls_functions(
        binary, LocatorOptions{.use_cache = false, .cache_dir = options.cache_dir});
    ASSERT_TRUE(report);
    EXPECT_FALSE(report->from_cache);
    EXPECT_FALSE(fs::exists(cache_file));
}

TEST_F(LocatorCache, CachedReadIsFast) {
    if (!test::kTimingIsMeaningful)
        GTEST_SKIP() << "timing is meaningless under sanitizers";
    ASSERT_TRUE(locate_tls_functions(binary, options));
    // Compared with a full analysis timed in the same run, so a busy machine slows both.
    auto best_of = [&](const LocatorOptions& o, bool cached) {
        auto best = std::chrono::steady_clock::duration::max();
        for (int i = 0; i < 3; ++i) {
            const auto start = std::chrono::steady_clock::now();
            auto report = locate_tls_functions(binary, o);
            best = std::min(best, std::chrono::steady_clock::now() - start);
            EXPECT_TRUE(report && report->from_cache == cached);
        }
        return best;
    };
    auto cached = best_of(options, true);
    auto full = best_of(LocatorOptions{.use_cache = false, .cache_dir = options.cache_dir}, false);
    EXPECT_LT(cached * 20, full) << "cached " << cached.count() << " ns, full analysis "
                                 << full.count() << " ns";
}

}  // namespace
}  // namespace ct::locate

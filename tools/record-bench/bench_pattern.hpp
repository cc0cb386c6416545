// The byte stream the benchmark's TLS client writes, shared by the workload
// (which writes it) and record-bench-check (which compares a capture with it).
//
// Stream byte p is pattern[p % kPatternBytes]: JSON-like lines of words and
// numbers from a fixed LCG, so the data compresses about as well as LLM API
// traffic does, and larger than zstd's window so repeats of the whole pattern
// do not make compression look cheaper than it is.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ct::record_bench {

inline constexpr std::size_t kPatternBytes = 32u << 20;
// Calls never exceed this, so a call is one contiguous slice of the buffer.
inline constexpr std::size_t kMaxCallBytes = 4u << 20;

// kPatternBytes of pattern followed by a copy of its first kMaxCallBytes.
inline std::vector<std::uint8_t> make_pattern() {
    static constexpr std::array<std::string_view, 24> kWords = {
        "the",    "file",   "returns", "value", "request", "model",     "stream",   "token",
        "error",  "tool",   "result",  "user",  "content", "assistant", "function", "list",
        "config", "server", "build",   "test",  "message", "input",     "output",   "cache"};
    std::vector<std::uint8_t> out;
    out.reserve(kPatternBytes + kMaxCallBytes);
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    auto next = [&state]() {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<std::uint32_t>(state >> 33);
    };
    auto put = [&out](std::string_view s) { out.insert(out.end(), s.begin(), s.end()); };
    while (out.size() < kPatternBytes) {
        put(R"({"type":"content_block_delta","index":)");
        put(std::to_string(next() % 16));
        put(R"(,"delta":{"type":"text_delta","text":")");
        std::uint32_t words = 4 + next() % 20;
        for (std::uint32_t i = 0; i < words; ++i) {
            put(kWords[next() % kWords.size()]);
            if (next() % 7 == 0)
                put(std::to_string(next() % 100000));
            put(i + 1 < words ? " " : ".");
        }
        put("\"}}\n");
    }
    out.resize(kPatternBytes + kMaxCallBytes);
    std::copy_n(out.begin(), kMaxCallBytes, out.begin() + kPatternBytes);
    return out;
}

}  // namespace ct::record_bench

// Content-Encoding (RFC 9110 section 8.4): gzip, deflate, br and zstd, in the
// order the header lists them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ct::analyze {

// Decoded bodies larger than this are cut (a compression bomb must not exhaust
// memory); the default of ct-analyze --max-body-size.
inline constexpr std::size_t kMaxDecodedBody = 64u << 20;
// What decoding may add beyond the encoded sizes in one capture, all bodies of all
// connections together (many bombs must not fill the disk); the default of
// ct-analyze --max-decoded-growth.
inline constexpr std::uint64_t kMaxDecodedGrowthPerCapture = 256u << 20;

struct DecodeLimits {
    std::size_t max_body = kMaxDecodedBody;
    std::uint64_t max_growth = kMaxDecodedGrowthPerCapture;
};

// The growth still allowed in one capture, shared by the threads that decode its
// connections.
class GrowthBudget {
  public:
    explicit GrowthBudget(std::uint64_t bytes) : left_(bytes) {}
    // Takes up to `want` bytes; returns how many were granted.
    std::uint64_t take(std::uint64_t want) {
        std::uint64_t left = left_.load();
        std::uint64_t granted = 0;
        do {
            granted = std::min(want, left);
        } while (!left_.compare_exchange_weak(left, left - granted));
        return granted;
    }
    void give_back(std::uint64_t bytes) { left_ += bytes; }
    std::uint64_t left() const { return left_.load(); }

  private:
    std::atomic<std::uint64_t> left_;
};

struct DecodedContent {
    std::string body;   // as far as it could be decoded
    bool ok = true;     // false: unknown coding, corrupt or truncated input, or over the limit
    std::string error;  // why not ok
    bool over_limit = false;  // cut at `limit`
};

// `encodings` is the Content-Encoding header value ("gzip", "br", "deflate, gzip", ...).
DecodedContent decode_content(std::string_view encodings, std::string_view body,
                              std::size_t limit = kMaxDecodedBody);

// One coding; used by decode_content and tests.
DecodedContent decode_one(std::string_view coding, std::string_view body, std::size_t limit);

}  // namespace ct::analyze

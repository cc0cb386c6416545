// Content-Encoding (RFC 9110 section 8.4): gzip, deflate, br and zstd, in the
// order the header lists them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ct::analyze {

// Decoded bodies larger than this are cut (a compression bomb must not exhaust memory).
inline constexpr std::size_t kMaxDecodedBody = 256u << 20;
// What decoding may add beyond the encoded sizes in one connection, all bodies
// together (many bombs in one connection must not exhaust memory either).
inline constexpr std::size_t kMaxDecodedGrowthPerConnection = 512u << 20;

struct DecodedContent {
    std::string body;   // as far as it could be decoded
    bool ok = true;     // false: unknown coding, corrupt or truncated input, or over the limit
    std::string error;  // why not ok
};

// `encodings` is the Content-Encoding header value ("gzip", "br", "deflate, gzip", ...).
DecodedContent decode_content(std::string_view encodings, std::string_view body,
                              std::size_t limit = kMaxDecodedBody);

// One coding; used by decode_content and tests.
DecodedContent decode_one(std::string_view coding, std::string_view body, std::size_t limit);

}  // namespace ct::analyze

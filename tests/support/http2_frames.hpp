// HTTP/2 bytes as they cross the wire, for tests and tools that script HTTP/2
// traffic without an HTTP/2 library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ct::testing {

// A frame: the 9-byte header (RFC 9113, 4.1), then `payload`.
inline std::string h2_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                            std::string_view payload) {
    std::string f;
    f += static_cast<char>(payload.size() >> 16);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size());
    f += static_cast<char>(type);
    f += static_cast<char>(flags);
    for (int shift : {24, 16, 8, 0})
        f += static_cast<char>(stream >> shift);
    f += payload;
    return f;
}

// HPACK literal without indexing, name from the static table (RFC 7541, 6.2.2);
// `value` shorter than 127 bytes, not Huffman-coded.
inline std::string hpack_literal(unsigned name_index, const std::string& value) {
    std::string out;
    if (name_index < 15) {
        out += static_cast<char>(name_index);
    } else {
        out += '\x0f';
        out += static_cast<char>(name_index - 15);
    }
    out += static_cast<char>(value.size());
    return out + value;
}

}  // namespace ct::testing

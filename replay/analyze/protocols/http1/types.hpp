// HTTP/1.x messages as decoded from one direction of a connection.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ct::analyze::http1 {

enum class MessageKind { Request, Response };

// How the end of a message body is found (RFC 9112 section 6).
enum class BodyFraming {
    None,           // no body: GET without length, HEAD/1xx/204/304 responses
    ContentLength,  // exactly Content-Length bytes
    Chunked,        // Transfer-Encoding: chunked, with optional trailers
    UntilClose,     // a response body that ends when the connection closes
    Tunnel,         // 101 Switching Protocols or 2xx to CONNECT: raw bytes follow
    Http2,          // an HTTP/2 stream: DATA frames up to END_STREAM
};

const char* framing_name(BodyFraming framing);

struct Header {
    std::string name;
    std::string value;
};

// A stretch of the (de-chunked) body that came from one contiguous stream range;
// it maps body offsets back to stream positions and so to times.
struct BodyPiece {
    std::uint64_t body_offset = 0;
    std::uint64_t stream_pos = 0;
    std::uint64_t len = 0;
};

struct Message {
    MessageKind kind = MessageKind::Request;
    // Start line.
    std::string method;  // requests
    std::string target;  // requests
    int status = 0;      // responses
    std::string reason;  // responses
    int version_major = 1;
    int version_minor = 1;
    std::uint32_t stream_id = 0;  // HTTP/2 stream
    std::vector<Header> headers;
    std::vector<Header> trailers;
    BodyFraming framing = BodyFraming::None;
    std::optional<std::uint64_t> content_length;
    std::string body;  // de-chunked but still content-encoded; gap bytes left out
    std::vector<BodyPiece> body_pieces;
    // Body bytes past this many are not kept (a huge body must not take memory);
    // body_omitted counts the captured bytes left out for it.
    std::size_t body_limit = std::numeric_limits<std::size_t>::max();
    std::uint64_t body_omitted = 0;
    std::vector<std::uint64_t> body_gaps;  // body offsets where uncaptured bytes were left out

    // Where the message sits in its direction's stream.
    std::uint64_t stream_pos = 0;
    std::uint64_t head_size = 0;
    std::uint64_t wire_size = 0;  // head + framed body as it flowed, gaps included
    std::uint64_t gap_bytes = 0;  // bytes of this message that were not captured
    bool head_parsed = false;
    bool complete = false;      // false: cut by a gap, truncated, or the capture ended first
    bool after_resync = false;  // decoding had to search for this message after damage
    std::uint64_t start_monotonic_ns = 0;  // set by the connection decoder
    std::uint64_t end_monotonic_ns = 0;

    // Appends captured body bytes that start at stream position `pos`, as far as
    // body_limit allows.
    void append_body(std::string_view bytes, std::uint64_t pos) {
        const std::size_t room = body.size() < body_limit ? body_limit - body.size() : 0;
        const std::size_t keep = std::min(room, bytes.size());
        if (keep > 0 || bytes.empty())
            body_pieces.push_back({body.size(), pos, keep});
        body.append(bytes.substr(0, keep));
        body_omitted += bytes.size() - keep;
    }

    // First header with this name (case-insensitive), or nullptr.
    const Header* find(std::string_view name) const;
    std::string_view value_of(std::string_view name) const;
    // True if a comma-separated header (e.g. Connection) lists `token`.
    bool has_token(std::string_view name, std::string_view token) const;
    std::string version() const {
        return version_major == 2 ? "HTTP/2" : "HTTP/1." + std::to_string(version_minor);
    }
    bool is_interim() const {
        return kind == MessageKind::Response && status >= 100 && status < 200 && status != 101;
    }
};

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);
// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim_ows(std::string_view s);

}  // namespace ct::analyze::http1

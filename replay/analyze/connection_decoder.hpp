// Decodes one reassembled TLS connection: HTTP/1.x exchanges with decoded
// bodies and SSE events, or raw bytes for tunnels and protocols not decoded.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capture/capture_contents.hpp"
#include "content_decoding.hpp"
#include "protocols/http1/stitcher.hpp"
#include "protocols/http1/types.hpp"
#include "protocols/sse/parse.hpp"
#include "stream/stream_view.hpp"

namespace ct::analyze {

inline constexpr int kWrite = 0;  // CT_DIR_WRITE: what the process sent
inline constexpr int kRead = 1;   // CT_DIR_READ: what it received

struct DecodedBody {
    std::string bytes;  // after Content-Encoding was undone (as far as possible)
    std::uint64_t encoded_size = 0;
    std::string encoding;  // Content-Encoding as sent ("" for none)
    bool decode_ok = true;
    std::string decode_error;
    bool cut = false;  // decoding stopped at a size limit; `bytes` holds the start
};

struct DecodedMessage {
    http1::Message message;  // its body moved to `body` when it needed no decoding
    DecodedBody body;
    bool is_sse = false;
    sse::DecodedEvents sse;
    std::vector<std::uint64_t> sse_monotonic_ns;  // per event: when its last byte arrived
    std::vector<std::uint64_t> sse_stream_pos;    // per event: stream position of its last byte
    // A response body that is a JSON array (Gemini's streamGenerateContent without
    // alt=sse): per complete element, when its last byte arrived.
    std::vector<std::uint64_t> json_array_monotonic_ns;
};

struct RawStretch {
    int direction = kWrite;
    std::uint64_t pos = 0;
    std::string bytes;   // captured bytes, gaps left out
    std::string reason;  // "tunnel", "http2", "unrecognised"
    std::uint64_t monotonic_ns = 0;
};

struct DecodedConnection {
    const replay::Connection* source = nullptr;
    std::array<StreamView, 2> views;
    std::string protocol;  // "http/1.1", "http/1.0", "http2", "unknown", "none"
    std::vector<DecodedMessage> requests;
    std::vector<DecodedMessage> responses;
    std::vector<http1::Pairing> exchanges;  // indexes into requests/responses
    std::vector<RawStretch> raw;
    std::array<std::uint64_t, 2> skipped_bytes{};  // captured bytes outside any message
    std::array<std::uint64_t, 2> resyncs{};
};

// `budget`: the decoding growth still allowed in the capture, shared between its
// connections; without one, the connection gets limits.max_growth of its own.
// `continued`: the connection's earlier exchanges were decoded already (an
// ExchangeStreamer took them), so each stream starts at its begin_pos at a
// message start, and the connection is HTTP/1.x; `protocol` is then left empty
// and a connection with no message left gets no "unrecognised" raw stretch.
DecodedConnection decode_connection(const replay::Connection& connection,
                                    const DecodeLimits& limits = {}, GrowthBudget* budget = nullptr,
                                    bool continued = false);

// One HTTP/1.x message parsed from `view`'s bytes: timed, its body decoded within
// the limits, its SSE events or JSON array elements timed (as decode_connection
// does with each message).
DecodedMessage finish_http1_message(const StreamView& view, http1::Message message,
                                    const DecodeLimits& limits, GrowthBudget& budget);

// Undoes Content-Encoding for a message body (requests and responses alike). An
// unencoded body is moved out of `message` rather than copied.
// `limit` caps the decoded size.
DecodedBody decode_message_body(http1::Message& message, std::size_t limit = kMaxDecodedBody);

}  // namespace ct::analyze

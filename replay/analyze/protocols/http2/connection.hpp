// HTTP/2 connections: frames of both directions into request and response
// messages per stream, header blocks decompressed with nghttp2's HPACK
// inflater. After a gap the direction's framing and HPACK state are lost, so
// decoding of that direction stops there and open streams stay incomplete.
#pragma once

#include <limits>
#include <vector>

#include "protocols/http1/stitcher.hpp"
#include "protocols/http1/types.hpp"
#include "stream/stream_view.hpp"

namespace ct::analyze::http2 {

struct DecodedStreams {
    std::vector<http1::Message> requests;   // kind Request, version_major 2
    std::vector<http1::Message> responses;  // final and interim responses
    std::vector<http1::Pairing> pairings;   // by stream id, in request order
    bool damaged = false;                   // a gap or malformed frame stopped decoding
};

// `body_limit`: body bytes kept per message at most (Message::body_limit).
DecodedStreams decode_connection(const StreamView& client, const StreamView& server, bool closed,
                                 std::size_t body_limit = std::numeric_limits<std::size_t>::max());

}  // namespace ct::analyze::http2

// libFuzzer target: the HTTP/2 decoder (frames, HPACK, streams) through the
// connection decoder: the client side starts with the connection preface. The
// same bytes fed in pieces must give the same exchanges (the decoder without
// bounds), and the import's bounded mode, with bounds small enough for fuzzed
// inputs to pass them, keeps every body within the limit and pairs only
// messages it decoded.
#include "connection_decoder.hpp"
#include "fuzz_support.hpp"
#include "http2_feed.hpp"
#include "protocols/http2/frames.hpp"

using namespace ct::analyze;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = ct::fuzz::as_text(data, size);
    http2::Frame frame;
    auto r = http2::parse_frame(in, frame);
    if (r.state == ParseState::Success) {
        std::string_view content;
        std::size_t offset = 0;
        (void)frame.content(content, offset);
    }
    DecodeLimits limits;
    limits.max_body = 4096;  // small, so that fuzzed inputs reach the cuts
    limits.max_growth = 16384;
    auto conn = ct::fuzz::connection_from(in, http2::kClientPreface);
    DecodedConnection dc = decode_connection(conn, limits);
    for (const auto& m : dc.requests) {
        if (m.message.version_major != 2 || m.body.bytes.size() > limits.max_body)
            __builtin_trap();
    }
    for (const auto& m : dc.responses) {
        if (m.body.bytes.size() > limits.max_body)
            __builtin_trap();
    }
    // Bounds a few messages and KiB wide, from the input's last byte.
    const unsigned char last = in.empty() ? 0 : static_cast<unsigned char>(in.back());
    http2::HoldBounds tight{1u + last % 8u, 512u + 256u * (last % 16u), 4096};
    auto bounded = http2::decode_connection(StreamView(conn.streams[0]), StreamView(conn.streams[1]),
                                            conn.closed, limits.max_body, tight);
    for (const auto* list : {&bounded.requests, &bounded.responses})
        for (const auto& m : *list)
            if (m.body.size() > limits.max_body)
                __builtin_trap();
    for (const auto& p : bounded.pairings) {
        if ((p.request && *p.request >= bounded.requests.size()) ||
            (p.response && *p.response >= bounded.responses.size()))
            __builtin_trap();
        for (std::size_t i : p.interim)
            if (i >= bounded.responses.size())
                __builtin_trap();
    }
    // Piece sizes from the input's own bytes.
    std::size_t at = 0;
    auto piece = [&](int) -> std::size_t {
        if (in.empty())
            return 1;
        return 1 + static_cast<unsigned char>(in[at++ % in.size()]) % 97;
    };
    const StreamView client(conn.streams[0]);
    const StreamView server(conn.streams[1]);
    if (ct::fuzz::whole_exchanges(client, server, limits.max_body) !=
        ct::fuzz::fed_exchanges(client, server, limits.max_body, piece))
        __builtin_trap();
    return 0;
}

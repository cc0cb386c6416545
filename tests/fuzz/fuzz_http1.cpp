// libFuzzer target: the HTTP/1.x parser, directly on the input and through the
// connection decoder (streams cut into calls with gaps, bodies decoded, SSE).
#include "connection_decoder.hpp"
#include "fuzz_support.hpp"
#include "protocols/http1/parse.hpp"

using namespace ct::analyze;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = ct::fuzz::as_text(data, size);
    for (auto kind : {http1::MessageKind::Request, http1::MessageKind::Response}) {
        http1::Message m;
        http1::ParseContext context;
        context.stream_ended = size % 2;
        context.request_method = size % 3 ? "GET" : "HEAD";
        auto r = http1::parse_frame(kind, in, context, m);
        if (r.state == ParseState::Success && r.consumed > in.size())
            __builtin_trap();
        (void)http1::find_frame_boundary(kind, in, size / 3);
    }
    if (auto at = http1::find_chunk_boundary(in)) {
        std::size_t pos = *at;
        http1::Message m;
        std::optional<std::uint64_t> end;
        (void)http1::parse_chunks(in, pos, 0, m, &end);
    }
    DecodeLimits limits;
    limits.max_body = 4096;  // small, so that fuzzed inputs reach the cuts
    limits.max_growth = 16384;
    auto conn = ct::fuzz::connection_from(in);
    DecodedConnection dc = decode_connection(conn, limits);
    // No body, encoded or not, is kept beyond the limit.
    for (const auto* list : {&dc.requests, &dc.responses}) {
        for (const auto& m : *list) {
            if (m.body.bytes.size() > limits.max_body)
                __builtin_trap();
        }
    }
    return 0;
}

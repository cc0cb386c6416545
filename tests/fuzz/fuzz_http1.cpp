// libFuzzer target: the HTTP/1.x parser, directly on the input and through the
// connection decoder (streams cut into calls with gaps, bodies decoded, SSE),
// and ChunkCounter against parse_chunks (the same verdicts, in pieces, and the
// bytes it gives back parse as the real ones).
#include "connection_decoder.hpp"
#include "fuzz_support.hpp"
#include "protocols/http1/chunk_counter.hpp"
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
    {
        http1::ChunkCounter counter;
        const std::uint64_t mark_at = size % 97;
        std::size_t at = 0;
        at += counter.feed(in, mark_at);
        counter.mark();
        const std::size_t marked = at;
        const std::size_t piece = 1 + size % 13;
        using State = http1::ChunkCounter::State;
        while (at < in.size() && counter.state() != State::Done &&
               counter.state() != State::Invalid)
            at += counter.feed(in.substr(at, piece));
        http1::Message m;
        std::size_t pos = 0;
        const ParseState whole = http1::parse_chunks(in.substr(0, at), pos, 0, m, nullptr);
        const bool agree = counter.state() == State::Done      ? whole == ParseState::Success
                           : counter.state() == State::Invalid ? whole == ParseState::Invalid
                                                               : whole == ParseState::NeedsMoreData;
        if (!agree || counter.consumed() != at)
            __builtin_trap();
        if (counter.state() != State::Done && counter.data_bytes() >= mark_at) {
            std::vector<std::uint8_t> fill;
            if (!counter.synthesize_since_mark(fill) || fill.size() != at - marked)
                __builtin_trap();
            std::string replaced(in.substr(0, marked));
            replaced.append(fill.begin(), fill.end());
            replaced.append(in.substr(at));
            http1::Message a, b;
            std::size_t pa = 0, pb = 0;
            const ParseState sa = http1::parse_chunks(in, pa, 0, a, nullptr);
            const ParseState sb = http1::parse_chunks(replaced, pb, 0, b, nullptr);
            if (sa != sb || a.body.size() + a.body_omitted != b.body.size() + b.body_omitted ||
                (sa == ParseState::Success && pa != pb))
                __builtin_trap();
        }
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

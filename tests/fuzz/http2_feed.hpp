// HTTP/2 decoded two ways, for the differential checks of fuzz_http2 and
// http2_decode_test: each direction's first run fed to http2::Decoder whole
// (decode_connection), or in pieces, the directions taking turns, the exchanges
// taken as soon as they are settled. Both must give the same exchanges.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "protocols/http2/connection.hpp"
#include "stream/stream_view.hpp"

namespace ct::fuzz {

inline std::string describe_message(const analyze::http1::Message& m) {
    std::string out = fmt::format("[{} {} {} {} {} pos={} wire={} complete={} omitted={} ",
                                  static_cast<int>(m.kind), m.stream_id, m.method, m.target,
                                  m.status, m.stream_pos, m.wire_size, m.complete, m.body_omitted);
    for (const auto& h : m.headers)
        out += h.name + ":" + h.value + ";";
    out += "|";
    for (const auto& h : m.trailers)
        out += h.name + ":" + h.value + ";";
    out += "|" + m.body + "|";
    for (const auto& p : m.body_pieces)
        out += fmt::format("{},{},{};", p.body_offset, p.stream_pos, p.len);
    return out + "]";
}

inline std::string describe_exchange(const analyze::http1::Message* request,
                                     const std::vector<const analyze::http1::Message*>& interim,
                                     const analyze::http1::Message* response) {
    std::string out = request ? describe_message(*request) : "-";
    for (const auto* m : interim)
        out += " 1xx " + describe_message(*m);
    return out + " -> " + (response ? describe_message(*response) : "-");
}

// decode_connection's exchanges, described.
inline std::vector<std::string> whole_exchanges(const analyze::StreamView& client,
                                                const analyze::StreamView& server,
                                                std::size_t body_limit) {
    auto h2 = analyze::http2::decode_connection(client, server, false, body_limit);
    std::vector<std::string> out;
    for (const auto& p : h2.pairings) {
        std::vector<const analyze::http1::Message*> interim;
        for (std::size_t i : p.interim)
            interim.push_back(&h2.responses[i]);
        out.push_back(describe_exchange(p.request ? &h2.requests[*p.request] : nullptr, interim,
                                        p.response ? &h2.responses[*p.response] : nullptr));
    }
    return out;
}

// The same connection fed in pieces: `piece(direction)` says how many bytes go
// next (at least 1), the directions taking turns; exchanges taken after every piece.
inline std::vector<std::string> fed_exchanges(const analyze::StreamView& client,
                                              const analyze::StreamView& server,
                                              std::size_t body_limit,
                                              const std::function<std::size_t(int)>& piece) {
    analyze::http2::Decoder decoder(body_limit);
    std::vector<std::string> out;
    auto take = [&] {
        for (auto& x : decoder.take_settled()) {
            std::vector<const analyze::http1::Message*> interim;
            for (const auto& m : x.interim)
                interim.push_back(&m);
            out.push_back(describe_exchange(x.request ? &*x.request : nullptr, interim,
                                            x.response ? &*x.response : nullptr));
        }
    };
    const analyze::StreamView* views[2] = {&client, &server};
    std::string_view left[2];
    for (int d = 0; d < 2; ++d) {
        const auto& runs = views[d]->runs();
        if (!runs.empty() && runs.front().pos == 0)
            left[d] = runs.front().bytes;
    }
    int d = 0;
    while (!left[0].empty() || !left[1].empty()) {
        if (!left[d].empty()) {
            const std::size_t n = std::min(left[d].size(), std::max<std::size_t>(1, piece(d)));
            decoder.feed(d, left[d].substr(0, n));
            left[d].remove_prefix(n);
            take();
        }
        d = 1 - d;
    }
    for (int e = 0; e < 2; ++e) {
        const auto& runs = views[e]->runs();
        const bool cut = !runs.empty() && (runs.front().pos != 0 || runs.size() > 1 ||
                                           runs.front().end() < views[e]->end_pos());
        decoder.end(e, cut);
        take();
    }
    return out;
}

}  // namespace ct::fuzz

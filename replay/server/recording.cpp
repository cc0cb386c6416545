#include "server/recording.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "capture/capture_contents.hpp"
#include "connection_decoder.hpp"

namespace ct::replay::serve {
namespace {

using analyze::DecodedMessage;
using analyze::http1::iequals;

std::string describe(const analyze::http1::Message& m) {
    return fmt::format("{} {}", m.method, m.target);
}

}  // namespace

bool is_framing_header(std::string_view name) {
    static constexpr std::array<std::string_view, 9> kDropped = {
        "connection", "keep-alive",     "proxy-connection", "transfer-encoding", "te", "trailer",
        "upgrade",    "content-length", "alt-svc"};
    if (!name.empty() && name.front() == ':')
        return true;  // HTTP/2 pseudo-headers
    return std::any_of(kDropped.begin(), kDropped.end(),
                       [&](std::string_view d) { return iequals(d, name); });
}

std::vector<BodyChunk> sse_chunks(std::string body, std::span<const analyze::sse::EventView> events,
                                  std::span<const std::uint64_t> times, std::uint64_t start_ns) {
    std::vector<BodyChunk> chunks;
    std::uint64_t prev_t = start_ns;
    std::size_t prev_off = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const std::size_t end = std::min<std::size_t>(events[i].end_offset, body.size());
        if (end <= prev_off)
            continue;
        const std::uint64_t t = i < times.size() ? std::max(prev_t, times[i]) : prev_t;
        chunks.push_back({t - prev_t, body.substr(prev_off, end - prev_off)});
        prev_t = t;
        prev_off = end;
    }
    if (prev_off < body.size())
        chunks.push_back({0, body.substr(prev_off)});
    return chunks;
}

Expected<Recording> load_recording(const std::string& capture_path) {
    auto contents = load_capture(capture_path);
    if (!contents)
        return std::unexpected(contents.error());
    Recording rec;
    rec.first_monotonic_ns = contents->first_monotonic_ns;
    for (const Connection& conn : contents->connections) {
        analyze::DecodedConnection dc = analyze::decode_connection(conn);
        for (const auto& pairing : dc.exchanges) {
            if (!pairing.request)
                continue;
            DecodedMessage& req = dc.requests[*pairing.request];
            if (!req.message.head_parsed)
                continue;
            if (!pairing.response) {
                rec.skipped.push_back(describe(req.message) + ": no response was recorded");
                continue;
            }
            DecodedMessage& resp = dc.responses[*pairing.response];
            if (!resp.message.complete || !req.message.complete) {
                rec.skipped.push_back(describe(req.message) +
                                      ": the request or response is incomplete in the capture");
                continue;
            }
            if (!req.body.decode_ok || !resp.body.decode_ok) {
                rec.skipped.push_back(describe(req.message) + ": a body could not be decoded");
                continue;
            }
            RecordedExchange x;
            x.conn_gen = conn.conn_gen;
            x.method = req.message.method;
            x.target = req.message.target;
            x.host = std::string(req.message.value_of("Host"));
            if (x.host.empty())
                x.host = std::string(req.message.value_of(":authority"));
            x.request_body = std::move(req.body.bytes);
            x.request_monotonic_ns = req.message.start_monotonic_ns;
            x.status = resp.message.status;
            if (resp.message.start_monotonic_ns > req.message.end_monotonic_ns)
                x.response_delay_ns =
                    resp.message.start_monotonic_ns - req.message.end_monotonic_ns;
            x.reason = resp.message.reason;
            for (const auto& h : resp.message.headers)
                if (!is_framing_header(h.name))
                    x.headers.push_back({h.name, h.value});
            x.content_encoding = resp.body.encoding;
            x.sse = resp.is_sse;
            x.sse_events = resp.sse.events.size();
            // The body as it was on the wire (de-chunked): decode_message_body left
            // an encoded body in the message and moved an unencoded one out.
            const bool identity = resp.body.encoding.empty();
            std::string body = identity ? std::move(resp.body.bytes) : std::move(resp.message.body);
            if (identity && resp.is_sse && !resp.sse.events.empty()) {
                x.chunks = sse_chunks(std::move(body), resp.sse.events, resp.sse_monotonic_ns,
                                      resp.message.start_monotonic_ns);
            } else if (!body.empty()) {
                x.chunks.push_back({0, std::move(body)});
            }
            rec.exchanges.push_back(std::move(x));
        }
    }
    std::stable_sort(rec.exchanges.begin(), rec.exchanges.end(),
                     [](const RecordedExchange& a, const RecordedExchange& b) {
                         return a.request_monotonic_ns < b.request_monotonic_ns;
                     });
    for (std::size_t i = 0; i < rec.exchanges.size(); ++i)
        rec.exchanges[i].number = i + 1;
    return rec;
}

}  // namespace ct::replay::serve

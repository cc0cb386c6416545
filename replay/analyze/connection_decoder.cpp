#include "connection_decoder.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "content_decoding.hpp"
#include "llm/json_scan.hpp"
#include "protocols/http1/parse.hpp"
#include "protocols/http1/stream_decoder.hpp"
#include "protocols/http2/connection.hpp"

namespace ct::analyze {
namespace {

using http1::Message;
using http1::MessageKind;

bool may_switch_protocols(const Message& request) {
    return http1::iequals(request.method, "CONNECT") || request.find("Upgrade") != nullptr;
}

bool is_event_stream(const Message& message) {
    std::string_view type = message.value_of("Content-Type");
    std::size_t semi = type.find(';');
    type = type.substr(0, semi);
    while (!type.empty() && type.back() == ' ')
        type.remove_suffix(1);
    return http1::iequals(type, "text/event-stream");
}

void time_message(const StreamView& view, Message& m) {
    m.start_monotonic_ns = view.monotonic_at(m.stream_pos);
    std::uint64_t last = m.stream_pos + (m.wire_size ? m.wire_size - 1 : 0);
    m.end_monotonic_ns = view.monotonic_at(std::min(last, view.end_pos() ? view.end_pos() - 1 : 0));
}

// Stream position of the body byte at `offset`, through the body pieces.
std::optional<std::uint64_t> body_offset_to_pos(const Message& m, std::uint64_t offset) {
    auto it = std::upper_bound(
        m.body_pieces.begin(), m.body_pieces.end(), offset,
        [](std::uint64_t o, const http1::BodyPiece& p) { return o < p.body_offset; });
    if (it == m.body_pieces.begin())
        return std::nullopt;
    --it;
    if (offset >= it->body_offset + it->len)
        return std::nullopt;
    return it->stream_pos + (offset - it->body_offset);
}

struct Limits {
    const DecodeLimits& limits;
    GrowthBudget& budget;
};

// Undoes the body's Content-Encoding within the message limit and what the
// capture's growth budget grants; names the limit that cut it.
void decode_body_within(Message& message, DecodedBody& body, Limits lim) {
    const bool encoded = !message.value_of("Content-Encoding").empty();
    const std::size_t encoded_size = message.body.size();
    const std::uint64_t omitted = message.body_omitted;  // not kept while parsing
    const std::uint64_t room =
        lim.limits.max_body > encoded_size ? lim.limits.max_body - encoded_size : 0;
    const std::uint64_t granted = encoded ? lim.budget.take(room) : 0;
    const std::size_t limit = static_cast<std::size_t>(
        std::min<std::uint64_t>(lim.limits.max_body, encoded_size + granted));
    body = decode_message_body(message, limit);
    const std::uint64_t used =
        body.bytes.size() > encoded_size ? body.bytes.size() - encoded_size : 0;
    lim.budget.give_back(granted - std::min(granted, used));
    if (omitted > 0) {
        // The parser kept only the start of the body.
        body.decode_ok = false;
        body.cut = true;
        body.decode_error = fmt::format(
            "body over the size limit of {} bytes per message (--max-body-size): the first {} "
            "of its {} captured bytes were kept{}",
            lim.limits.max_body, encoded_size, encoded_size + omitted,
            encoded ? ", and decoded as far as they go" : "");
    } else if (!body.cut && body.bytes.size() > lim.limits.max_body) {
        // Not encoded (or in an unknown coding) and still over the limit: the row
        // keeps the start, so a huge body cannot take memory or disk beyond it.
        const std::size_t whole = body.bytes.size();
        body.bytes.resize(lim.limits.max_body);
        body.bytes.shrink_to_fit();
        body.decode_ok = false;
        body.cut = true;
        std::string earlier = body.decode_error.empty() ? "" : body.decode_error + "; ";
        body.decode_error = fmt::format(
            "{}body over the size limit of {} bytes per message (--max-body-size); the first {} "
            "of its {} bytes are kept",
            earlier, lim.limits.max_body, body.bytes.size(), whole);
    } else if (body.cut) {
        body.decode_error =
            limit >= lim.limits.max_body
                ? fmt::format(
                      "decoded body over the size limit of {} bytes per message "
                      "(--max-body-size); the first {} bytes are kept",
                      lim.limits.max_body, body.bytes.size())
                : fmt::format(
                      "the capture's budget for decoded growth ({} bytes, "
                      "--max-decoded-growth) is used up; the first {} bytes are kept",
                      lim.limits.max_growth, body.bytes.size());
    }
}

// A body streamed as a JSON array: the time each element was complete, for the
// first kMaxTimedArrayElements (enough for a time to first token; a hostile body
// can hold millions of elements).
constexpr std::size_t kMaxTimedArrayElements = 4096;

void time_json_array(const StreamView& view, const Message& message, DecodedMessage& out) {
    const std::string& body = out.body.bytes;
    const std::size_t first = body.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || body[first] != '[')
        return;
    const bool identity = out.body.encoding.empty();
    llm::ArrayScanner scanner(body);
    while (out.json_array_monotonic_ns.size() < kMaxTimedArrayElements) {
        auto element = scanner.next();
        if (!element)
            break;
        std::uint64_t t = message.end_monotonic_ns;
        const auto end_offset =
            static_cast<std::uint64_t>(element->data() - body.data()) + element->size();
        if (identity) {
            if (auto pos = body_offset_to_pos(message, end_offset - 1))
                t = view.monotonic_at(*pos);
        }
        out.json_array_monotonic_ns.push_back(t);
    }
}

DecodedMessage finish_message(const StreamView& view, Message message, Limits lim) {
    DecodedMessage out;
    time_message(view, message);
    decode_body_within(message, out.body, lim);
    out.is_sse = message.kind == MessageKind::Response && is_event_stream(message);
    if (out.is_sse) {
        const bool identity = out.body.encoding.empty();
        // Gap offsets are in wire-body terms; they only carry over when nothing was encoded.
        std::vector<std::uint64_t> gaps;
        if (identity)
            gaps = message.body_gaps;
        out.sse = sse::decode_body(out.body.bytes, gaps);
        out.sse_monotonic_ns.reserve(out.sse.events.size());
        out.sse_stream_pos.reserve(out.sse.events.size());
        const std::uint64_t last_pos =
            message.stream_pos + (message.wire_size ? message.wire_size - 1 : 0);
        for (const auto& event : out.sse.events) {
            std::uint64_t t = message.end_monotonic_ns;
            std::uint64_t p = last_pos;
            if (identity && event.end_offset > 0) {
                if (auto pos = body_offset_to_pos(message, event.end_offset - 1)) {
                    t = view.monotonic_at(*pos);
                    p = *pos;
                }
            }
            out.sse_monotonic_ns.push_back(t);
            out.sse_stream_pos.push_back(p);
        }
    } else if (message.kind == MessageKind::Response) {
        time_json_array(view, message, out);
    }
    out.message = std::move(message);
    return out;
}

void add_raw(DecodedConnection& dc, int direction, std::uint64_t from, const char* reason) {
    const StreamView& view = dc.views[direction];
    if (from >= view.end_pos())
        return;
    RawStretch raw;
    raw.direction = direction;
    raw.pos = from;
    raw.reason = reason;
    view.copy_range(from, view.end_pos(), raw.bytes);
    raw.monotonic_ns = view.monotonic_at(from);
    dc.raw.push_back(std::move(raw));
}

}  // namespace

DecodedBody decode_message_body(Message& message, std::size_t limit) {
    DecodedBody body;
    body.encoded_size = message.body.size() + message.body_omitted;
    body.encoding = std::string(message.value_of("Content-Encoding"));
    if (body.encoding.empty() || http1::iequals(body.encoding, "identity")) {
        body.bytes = std::move(message.body);  // the body lives on in decoded form only
        message.body.clear();
        return body;
    }
    DecodedContent decoded = decode_content(body.encoding, message.body, limit);
    body.bytes = std::move(decoded.body);
    body.decode_ok = decoded.ok;
    body.decode_error = std::move(decoded.error);
    body.cut = decoded.over_limit;
    return body;
}

DecodedMessage finish_http1_message(const StreamView& view, http1::Message message,
                                    const DecodeLimits& limits, GrowthBudget& budget) {
    return finish_message(view, std::move(message), Limits{limits, budget});
}

DecodedConnection decode_connection(const replay::Connection& connection,
                                    const DecodeLimits& limits, GrowthBudget* budget,
                                    bool continued) {
    DecodedConnection dc;
    dc.source = &connection;
    GrowthBudget own_budget(limits.max_growth);
    const Limits growth_budget{limits, budget ? *budget : own_budget};
    dc.views[kWrite] = StreamView(connection.streams[kWrite]);
    dc.views[kRead] = StreamView(connection.streams[kRead]);
    const StreamView& out_view = dc.views[kWrite];
    const StreamView& in_view = dc.views[kRead];

    if (out_view.runs().empty() && in_view.runs().empty() && !continued) {
        dc.protocol = "none";
        return dc;
    }
    if (!continued && !out_view.runs().empty() && out_view.runs().front().pos == 0 &&
        http1::is_http2_preface(out_view.runs().front().bytes)) {
        dc.protocol = "http2";
        http2::DecodedStreams h2 =
            http2::decode_connection(out_view, in_view, connection.closed, limits.max_body,
                                     http2::import_bounds(limits.max_body));
        if (h2.requests.empty() && h2.responses.empty()) {
            add_raw(dc, kWrite, 0, "http2");
            add_raw(dc, kRead, 0, "http2");
            return dc;
        }
        dc.exchanges = std::move(h2.pairings);
        // Exchange by exchange, the request and then its responses (the order in
        // which the HTTP/2 streamer finishes them, so that the capture's growth
        // budget goes the same way); the responses no exchange holds last.
        dc.requests.resize(h2.requests.size());
        dc.responses.resize(h2.responses.size());
        std::size_t responses_done = 0;
        for (const auto& p : dc.exchanges) {
            if (p.request) {
                dc.requests[*p.request] =
                    finish_message(out_view, std::move(h2.requests[*p.request]), growth_budget);
            }
            for (std::size_t i : p.interim) {
                dc.responses[i] =
                    finish_message(in_view, std::move(h2.responses[i]), growth_budget);
                ++responses_done;
            }
            if (p.response) {
                dc.responses[*p.response] =
                    finish_message(in_view, std::move(h2.responses[*p.response]), growth_budget);
                ++responses_done;
            }
        }
        for (std::size_t i = responses_done; i < h2.responses.size(); ++i)
            dc.responses[i] = finish_message(in_view, std::move(h2.responses[i]), growth_budget);
        return dc;
    }

    http1::StreamDecoder requests(MessageKind::Request, out_view, connection.closed,
                                  limits.max_body, connection.streams[kWrite].begin_pos);
    http1::StreamDecoder responses(MessageKind::Response, in_view, connection.closed,
                                   limits.max_body, connection.streams[kRead].begin_pos);
    std::vector<Message> req_messages;
    std::vector<Message> resp_messages;
    bool requests_paused = false;
    bool requests_done = false;
    auto pull_requests = [&] {
        while (!requests_paused && !requests_done) {
            auto m = requests.next();
            if (!m) {
                requests_done = true;
                break;
            }
            time_message(out_view, *m);
            requests_paused = may_switch_protocols(*m);
            req_messages.push_back(std::move(*m));
        }
    };
    pull_requests();

    std::size_t answered = 0;
    bool tunnel = false;
    while (true) {
        std::string_view method =
            answered < req_messages.size() ? std::string_view(req_messages[answered].method) : "";
        auto m = responses.next(method);
        if (!m)
            break;
        time_message(in_view, *m);
        const bool interim = m->is_interim();
        const bool switched = m->framing == http1::BodyFraming::Tunnel;
        resp_messages.push_back(std::move(*m));
        if (interim)
            continue;
        ++answered;
        if (switched) {
            tunnel = true;
            break;
        }
        if (requests_paused && answered >= req_messages.size()) {
            requests_paused = false;  // the upgrade was refused: keep decoding requests
            pull_requests();
        }
    }
    if (tunnel) {
        add_raw(dc, kWrite, requests.position(), "tunnel");
        add_raw(dc, kRead, responses.position(), "tunnel");
    } else {
        requests_paused = false;
        pull_requests();
    }
    dc.skipped_bytes = {requests.skipped_bytes(), responses.skipped_bytes()};
    dc.resyncs = {requests.resyncs(), responses.resyncs()};

    if (continued) {
        // protocol: the caller's, from the first exchange it decoded
    } else if (req_messages.empty() && resp_messages.empty()) {
        dc.protocol = "unknown";
        add_raw(dc, kWrite, 0, "unrecognised");
        add_raw(dc, kRead, 0, "unrecognised");
        return dc;
    } else {
        const Message& first = req_messages.empty() ? resp_messages.front() : req_messages.front();
        dc.protocol = first.version_minor == 0 ? "http/1.0" : "http/1.1";
    }

    dc.exchanges = http1::stitch(req_messages, resp_messages);
    dc.requests.reserve(req_messages.size());
    for (auto& m : req_messages)
        dc.requests.push_back(finish_message(out_view, std::move(m), growth_budget));
    dc.responses.reserve(resp_messages.size());
    for (auto& m : resp_messages)
        dc.responses.push_back(finish_message(in_view, std::move(m), growth_budget));
    return dc;
}

}  // namespace ct::analyze

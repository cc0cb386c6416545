#include "protocols/http2/connection.hpp"

#include <nghttp2/nghttp2.h>

#include <limits>
#include <map>
#include <memory>

#include "protocols/http2/frames.hpp"

namespace ct::analyze::http2 {
namespace {

using http1::Header;
using http1::Message;
using http1::MessageKind;

constexpr std::uint16_t kSettingsHeaderTableSize = 1;
// A header block larger than this is damage (it bounds memory on hostile input).
constexpr std::size_t kMaxHeaderBlock = 1u << 20;

struct InflaterDeleter {
    void operator()(nghttp2_hd_inflater* p) const { nghttp2_hd_inflate_del(p); }
};
using Inflater = std::unique_ptr<nghttp2_hd_inflater, InflaterDeleter>;

// HPACK-decodes one header block; false if it is malformed.
bool inflate(nghttp2_hd_inflater* inflater, std::string_view block, std::vector<Header>& out) {
    const auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
    std::size_t left = block.size();
    while (true) {
        nghttp2_nv nv;
        int flags = 0;
        auto rv = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
        if (rv < 0)
            return false;
        in += rv;
        left -= static_cast<std::size_t>(rv);
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            out.push_back(
                Header{std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                       std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen)});
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inflater);
            return true;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0)
            return false;
    }
}

// The largest SETTINGS_HEADER_TABLE_SIZE a direction announced (its peer's HPACK
// encoder may use up to that much).
std::uint32_t announced_table_size(const StreamView& view, bool client) {
    std::uint32_t best = 4096;
    if (view.runs().empty() || view.runs().front().pos != 0)
        return best;
    std::string_view bytes = view.runs().front().bytes;
    if (client) {
        if (bytes.substr(0, kClientPreface.size()) != kClientPreface)
            return best;
        bytes.remove_prefix(kClientPreface.size());
    }
    Frame f;
    while (true) {
        ParseResult r = parse_frame(bytes, f);
        if (r.state != ParseState::Success)
            return best;
        if (f.type == kSettings && !(f.flags & kAck)) {
            for (std::size_t i = 0; i + 6 <= f.payload.size(); i += 6) {
                const auto* p = reinterpret_cast<const unsigned char*>(f.payload.data() + i);
                std::uint16_t id = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
                std::uint32_t value = (std::uint32_t{p[2]} << 24) | (std::uint32_t{p[3]} << 16) |
                                      (std::uint32_t{p[4]} << 8) | p[5];
                if (id == kSettingsHeaderTableSize && value > best)
                    best = value;
            }
        }
        bytes.remove_prefix(r.consumed);
    }
}

struct Direction {
    MessageKind kind;
    const StreamView* view;
    std::vector<Message>* messages;
    std::map<std::uint32_t, std::size_t> open;  // stream id -> index of its message in progress
    std::map<std::uint32_t, std::size_t> final_message;  // stream id -> final (non-1xx) message
    bool damaged = false;
    std::size_t body_limit = std::numeric_limits<std::size_t>::max();
};

void on_header_block(Direction& d, std::uint32_t stream, std::vector<Header> headers,
                     bool end_stream, std::uint64_t start_pos, std::uint64_t end_pos) {
    auto& messages = *d.messages;
    auto it = d.open.find(stream);
    if (it != d.open.end() && d.kind == MessageKind::Request) {
        messages[it->second].trailers = std::move(headers);  // a second block: trailers
    } else if (it != d.open.end() && messages[it->second].status >= 200) {
        messages[it->second].trailers = std::move(headers);
    } else {
        Message m;
        m.kind = d.kind;
        m.body_limit = d.body_limit;
        m.version_major = 2;
        m.version_minor = 0;
        m.framing = http1::BodyFraming::Http2;
        m.stream_pos = start_pos;
        m.head_parsed = true;
        m.stream_id = stream;
        for (const auto& h : headers) {
            if (h.name == ":method")
                m.method = h.value;
            if (h.name == ":path")
                m.target = h.value;
            if (h.name == ":status") {
                // Saturates: a hostile value of many digits must not overflow.
                int status = 0;
                for (char c : h.value) {
                    if (c >= '0' && c <= '9' && status <= 99'999)
                        status = status * 10 + (c - '0');
                }
                m.status = status;
            }
        }
        if (d.kind == MessageKind::Request && m.target.empty()) {
            // CONNECT has no :path; show its authority like HTTP/1.1 does.
            for (const auto& h : headers) {
                if (h.name == ":authority")
                    m.target = h.value;
            }
        }
        m.headers = std::move(headers);
        messages.push_back(std::move(m));
        std::size_t index = messages.size() - 1;
        if (messages[index].is_interim()) {
            // 1xx: complete as it stands; the final response follows on the same stream.
            messages[index].complete = true;
            messages[index].wire_size = end_pos - start_pos;
            return;
        }
        d.open[stream] = index;
        d.final_message[stream] = index;
        it = d.open.find(stream);
    }
    Message& m = messages[it->second];
    m.wire_size = end_pos - m.stream_pos;
    if (end_stream) {
        m.complete = true;
        d.open.erase(it);
    }
}

void on_data(Direction& d, std::uint32_t stream, std::string_view data, std::uint64_t data_pos,
             bool end_stream, std::uint64_t end_pos) {
    auto it = d.open.find(stream);
    if (it == d.open.end())
        return;  // data for a stream we never saw open
    Message& m = (*d.messages)[it->second];
    if (!data.empty())
        m.append_body(data, data_pos);
    m.wire_size = end_pos - m.stream_pos;
    if (end_stream) {
        m.complete = true;
        d.open.erase(it);
    }
}

void decode_direction(Direction& d, std::uint32_t table_size) {
    const auto& runs = d.view->runs();
    if (runs.empty() || runs.front().pos != 0) {
        d.damaged = !runs.empty();
        return;
    }
    nghttp2_hd_inflater* raw = nullptr;
    if (nghttp2_hd_inflate_new(&raw) != 0) {
        d.damaged = true;
        return;
    }
    Inflater inflater(raw);
    nghttp2_hd_inflate_change_table_size(inflater.get(), table_size);

    // Only the first run: after a gap, frame boundaries and HPACK state are gone.
    std::string_view bytes = runs.front().bytes;
    std::size_t offset = 0;
    if (d.kind == MessageKind::Request) {
        if (bytes.substr(0, kClientPreface.size()) != kClientPreface) {
            d.damaged = true;
            return;
        }
        offset = kClientPreface.size();
    }
    std::string block;  // header block being assembled from HEADERS + CONTINUATION
    std::uint32_t block_stream = 0;
    bool block_end_stream = false;
    bool block_is_push = false;
    std::uint64_t block_start = 0;
    bool in_block = false;
    while (offset < bytes.size()) {
        Frame f;
        ParseResult r = parse_frame(bytes.substr(offset), f);
        if (r.state == ParseState::Invalid) {
            d.damaged = true;
            break;
        }
        if (r.state == ParseState::NeedsMoreData) {
            d.damaged = d.damaged || runs.size() > 1 || runs.front().end() < d.view->end_pos();
            break;
        }
        const std::uint64_t frame_pos = offset;
        const std::uint64_t frame_end = offset + r.consumed;
        if (in_block && f.type != kContinuation) {
            d.damaged = true;  // a header block must continue without interruption
            break;
        }
        std::string_view content;
        std::size_t content_offset = 0;
        switch (f.type) {
            case kHeaders:
            case kPushPromise:
                if (!f.content(content, content_offset)) {
                    d.damaged = true;
                    return;
                }
                block.assign(content);
                block_stream = f.stream_id;
                block_end_stream = f.type == kHeaders && (f.flags & kEndStream);
                block_is_push = f.type == kPushPromise;
                block_start = frame_pos;
                in_block = true;
                break;
            case kContinuation:
                if (!in_block || f.stream_id != block_stream ||
                    block.size() + f.payload.size() > kMaxHeaderBlock) {
                    d.damaged = true;
                    return;
                }
                block.append(f.payload);
                break;
            case kData:
                if (!f.content(content, content_offset)) {
                    d.damaged = true;
                    return;
                }
                on_data(d, f.stream_id, content, frame_pos + f.payload_offset + content_offset,
                        f.flags & kEndStream, frame_end);
                break;
            case kRstStream:
                d.open.erase(f.stream_id);  // the stream ends without completing
                break;
            default:
                break;  // SETTINGS, PING, GOAWAY, WINDOW_UPDATE, PRIORITY, extensions
        }
        if (in_block && (f.flags & kEndHeaders) &&
            (f.type == kHeaders || f.type == kPushPromise || f.type == kContinuation)) {
            in_block = false;
            std::vector<Header> headers;
            // Every block goes through the inflater, pushed ones too, to keep its table right.
            if (!inflate(inflater.get(), block, headers)) {
                d.damaged = true;
                return;
            }
            if (!block_is_push) {
                on_header_block(d, block_stream, std::move(headers), block_end_stream, block_start,
                                frame_end);
            }
        }
        offset += r.consumed;
    }
    if (runs.size() > 1 || runs.front().end() < d.view->end_pos())
        d.damaged = true;
}

}  // namespace

DecodedStreams decode_connection(const StreamView& client, const StreamView& server, bool closed,
                                 std::size_t body_limit) {
    (void)closed;  // streams end with END_STREAM, not with the connection
    DecodedStreams out;
    Direction requests{MessageKind::Request, &client, &out.requests, {}, {}, false, body_limit};
    Direction responses{MessageKind::Response, &server, &out.responses, {}, {}, false, body_limit};
    // Each side's HPACK encoder may use the table size its peer announced.
    decode_direction(requests, announced_table_size(server, false));
    decode_direction(responses, announced_table_size(client, true));
    out.damaged = requests.damaged || responses.damaged;

    std::map<std::uint32_t, std::vector<std::size_t>> interim;
    for (std::size_t i = 0; i < out.responses.size(); ++i) {
        if (out.responses[i].is_interim())
            interim[out.responses[i].stream_id].push_back(i);
    }
    std::map<std::uint32_t, bool> paired;
    for (std::size_t i = 0; i < out.requests.size(); ++i) {
        http1::Pairing p;
        p.request = i;
        const std::uint32_t id = out.requests[i].stream_id;
        if (auto it = responses.final_message.find(id); it != responses.final_message.end()) {
            p.response = it->second;
            paired[id] = true;
        }
        if (auto it = interim.find(id); it != interim.end())
            p.interim = it->second;
        out.pairings.push_back(std::move(p));
    }
    for (const auto& [id, index] : responses.final_message) {
        if (paired.count(id))
            continue;
        http1::Pairing p;
        p.response = index;
        out.pairings.push_back(std::move(p));
    }
    return out;
}

}  // namespace ct::analyze::http2

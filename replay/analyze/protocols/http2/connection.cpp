#include "protocols/http2/connection.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <iterator>
#include <limits>

#include "protocols/http2/frames.hpp"

namespace ct::analyze::http2 {
namespace {

using http1::Header;
using http1::Message;
using http1::MessageKind;

constexpr std::uint16_t kSettingsHeaderTableSize = 1;
// A header block larger than this is damage (it bounds memory on hostile input).
constexpr std::size_t kMaxHeaderBlock = 1u << 20;

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

// The largest dynamic table size update at the start of an HPACK block (RFC 7541
// section 6.3; 0 if none). Values past 2^32 - 1 are left out: the inflater
// refuses them whatever the settings.
std::uint64_t largest_size_update(std::string_view block) {
    std::uint64_t most = 0;
    std::size_t i = 0;
    while (i < block.size() && (static_cast<unsigned char>(block[i]) & 0xe0) == 0x20) {
        std::uint64_t value = static_cast<unsigned char>(block[i]) & 0x1f;
        ++i;
        if (value == 0x1f) {
            unsigned shift = 0;
            while (true) {
                if (i >= block.size() || shift > 28)
                    return most;
                const unsigned char b = static_cast<unsigned char>(block[i++]);
                value += std::uint64_t{b & 0x7fu} << shift;
                shift += 7;
                if (!(b & 0x80))
                    break;
            }
        }
        if (value > std::numeric_limits<std::uint32_t>::max())
            return most;
        most = std::max(most, value);
    }
    return most;
}

}  // namespace

void InflaterDeleter::operator()(nghttp2_hd_inflater* p) const {
    nghttp2_hd_inflate_del(p);
}

bool StreamIdSet::contains(std::uint32_t id) const {
    const auto& ranges = ranges_[id & 1];
    auto it = ranges.upper_bound(id);
    if (it == ranges.begin())
        return false;
    --it;
    return id <= it->second;
}

void StreamIdSet::insert(std::uint32_t id) {
    if (contains(id))
        return;
    auto& ranges = ranges_[id & 1];
    auto next = ranges.upper_bound(id);
    auto prev = next == ranges.begin() ? ranges.end() : std::prev(next);
    const bool joins_prev = prev != ranges.end() && prev->second + 2 == id;
    const bool joins_next = next != ranges.end() && id + 2 == next->first;
    if (joins_prev && joins_next) {
        prev->second = next->second;
        ranges.erase(next);
    } else if (joins_prev) {
        prev->second = id;
    } else if (joins_next) {
        const std::uint32_t last = next->second;
        ranges.erase(next);
        ranges.emplace(id, last);
    } else {
        ranges.emplace(id, id);
    }
}

DirectionDecoder::DirectionDecoder(MessageKind kind, std::size_t body_limit, bool events)
    : kind_(kind), body_limit_(body_limit), track_events_(events) {
    nghttp2_hd_inflater* raw = nullptr;
    if (nghttp2_hd_inflate_new(&raw) != 0) {
        damaged_ = true;
        walking_ = false;
        return;
    }
    inflater_.reset(raw);
    // Any size update is let through the inflater; end_block() holds it to the
    // peer's announcement first.
    nghttp2_hd_inflate_change_table_size(inflater_.get(),
                                         std::numeric_limits<std::uint32_t>::max());
    preface_ = kind_ == MessageKind::Response;
}

void DirectionDecoder::feed(std::string_view bytes) {
    if (ended_)
        return;
    if (damaged_ && !walking_) {
        // Nothing reads this direction any more: only its end position counts.
        buf_pos_ += buf_.size() + bytes.size();
        buf_.clear();
        walked_ = decoded_ = 0;
        return;
    }
    if (buf_.empty()) {
        // Straight from `bytes`; only what is left over is copied.
        process(bytes);
        const std::size_t done = done_bytes(bytes.size());
        buf_.assign(bytes.substr(done));
        advance(done);
        return;
    }
    buf_.append(bytes);
    process(buf_);
    compact();
}

void DirectionDecoder::process(std::string_view view) {
    walk(view);
    decode_frames(view);
}

// How many of the `size` bytes from buf_pos_ neither the walk nor the decoding
// needs any more.
std::size_t DirectionDecoder::done_bytes(std::size_t size) const {
    if (!preface_)
        return 0;
    std::size_t done = size;
    if (walking_)
        done = std::min(done, walked_);
    if (!damaged_)
        done = std::min(done, decoded_);
    return done;
}

void DirectionDecoder::advance(std::size_t done) {
    buf_pos_ += done;
    walked_ -= std::min(walked_, done);
    decoded_ -= std::min(decoded_, done);
}

void DirectionDecoder::compact() {
    const std::size_t done = done_bytes(buf_.size());
    if (done == 0)
        return;
    buf_.erase(0, done);
    advance(done);
    if (buf_.capacity() > (1u << 20) && buf_.size() < buf_.capacity() / 4)
        buf_.shrink_to_fit();
}

void DirectionDecoder::walk(std::string_view view) {
    if (!preface_) {
        if (view.size() < kClientPreface.size()) {
            if (!kClientPreface.starts_with(view)) {
                walking_ = false;
                damaged_ = true;
            }
            return;
        }
        if (view.substr(0, kClientPreface.size()) != kClientPreface) {
            walking_ = false;
            damaged_ = true;
            return;
        }
        preface_ = true;
        walked_ = decoded_ = kClientPreface.size();
    }
    while (walking_) {
        Frame f;
        ParseResult r = parse_frame(view.substr(walked_), f);
        if (r.state == ParseState::NeedsMoreData)
            return;
        if (r.state == ParseState::Invalid) {
            walking_ = false;
            invalid_at_ = buf_pos_ + walked_;
            return;
        }
        if (f.type == kSettings && !(f.flags & kAck)) {
            for (std::size_t i = 0; i + 6 <= f.payload.size(); i += 6) {
                const auto* p = reinterpret_cast<const unsigned char*>(f.payload.data() + i);
                std::uint16_t id = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
                std::uint32_t value = (std::uint32_t{p[2]} << 24) | (std::uint32_t{p[3]} << 16) |
                                      (std::uint32_t{p[4]} << 8) | p[5];
                if (id == kSettingsHeaderTableSize && value > announced_)
                    announced_ = value;
            }
        }
        walked_ += r.consumed;
    }
}

void DirectionDecoder::decode_frames(std::string_view view) {
    while (!damaged_ && !stall_ && preface_) {
        Frame f;
        std::string_view rest = view.substr(decoded_);
        if (rest.empty())
            return;
        ParseResult r = parse_frame(rest, f);
        if (r.state == ParseState::Invalid) {
            damaged_ = true;
            return;
        }
        if (r.state == ParseState::NeedsMoreData)
            return;
        const std::uint64_t pos = buf_pos_ + decoded_;
        decoded_ += r.consumed;
        if (!decode_frame(rest.substr(0, r.consumed), pos))
            return;
    }
}

bool DirectionDecoder::decode_frame(std::string_view frame_bytes, std::uint64_t frame_pos) {
    Frame f;
    (void)parse_frame(frame_bytes, f);
    const std::uint64_t frame_end = frame_pos + frame_bytes.size();
    if (block_ && f.type != kContinuation) {
        damaged_ = true;  // a header block must continue without interruption
        return false;
    }
    std::string_view content;
    std::size_t content_offset = 0;
    switch (f.type) {
        case kHeaders:
        case kPushPromise:
            if (!f.content(content, content_offset)) {
                damaged_ = true;
                return false;
            }
            block_ = Block{
                std::string(content),   f.stream_id, f.type == kHeaders && (f.flags & kEndStream),
                f.type == kPushPromise, frame_pos,   frame_end};
            break;
        case kContinuation:
            if (!block_ || f.stream_id != block_->stream ||
                block_->bytes.size() + f.payload.size() > kMaxHeaderBlock) {
                damaged_ = true;
                return false;
            }
            block_->bytes.append(f.payload);
            break;
        case kData:
            if (!f.content(content, content_offset)) {
                damaged_ = true;
                return false;
            }
            on_data(f.stream_id, content, frame_pos + f.payload_offset + content_offset,
                    f.flags & kEndStream, frame_end);
            break;
        case kRstStream:
            // The stream ends without completing.
            if (auto it = open_.find(f.stream_id); it != open_.end())
                open_.erase(it);
            ended_streams_.insert(f.stream_id);
            if (track_events_)
                events_.emplace_back(f.stream_id, true);
            break;
        default:
            break;  // SETTINGS, PING, GOAWAY, WINDOW_UPDATE, PRIORITY, extensions
    }
    if (block_ && (f.flags & kEndHeaders) &&
        (f.type == kHeaders || f.type == kPushPromise || f.type == kContinuation)) {
        Block b = std::move(*block_);
        block_.reset();
        b.end = frame_end;
        return end_block(std::move(b));
    }
    return true;
}

bool DirectionDecoder::end_block(Block b) {
    // The inflater takes a table size update up to what the peer announced
    // (SETTINGS_HEADER_TABLE_SIZE, the most it announced in the connection).
    const std::uint64_t need = largest_size_update(b.bytes);
    if (need > peer_announced_) {
        if (!peer_final_) {
            stall_need_ = need;
            stall_ = std::move(b);
            return false;
        }
        damaged_ = true;
        return false;
    }
    std::vector<Header> headers;
    // Every block goes through the inflater, pushed ones too, to keep its table right.
    if (!inflate(inflater_.get(), b.bytes, headers)) {
        damaged_ = true;
        return false;
    }
    if (!b.is_push)
        on_header_block(b.stream, std::move(headers), b.end_stream, b.start, b.end);
    return true;
}

void DirectionDecoder::peer_announced(std::uint32_t size, bool final) {
    peer_announced_ = std::max(peer_announced_, size);
    peer_final_ = final;
    if (!stall_ || damaged_)
        return;
    if (stall_need_ > peer_announced_) {
        if (peer_final_) {
            damaged_ = true;
            stall_.reset();
        }
        return;
    }
    Block b = std::move(*stall_);
    stall_.reset();
    if (!end_block(std::move(b)))
        return;
    decode_frames(buf_);
    if (ended_ && !stall_ && !damaged_ && decoded_ < buf_.size() && cut_)
        damaged_ = true;
    compact();
}

void DirectionDecoder::end(bool cut) {
    if (ended_)
        return;
    ended_ = true;
    cut_ = cut;
    walking_ = false;
    if (!preface_)
        damaged_ = true;
    if (!stall_ && decoded_ < buf_.size() && cut)
        damaged_ = true;
}

std::uint64_t DirectionDecoder::frontier() const {
    std::uint64_t oldest = buf_pos_;
    if (block_)
        oldest = std::min(oldest, block_->start);
    if (stall_)
        oldest = std::min(oldest, stall_->start);
    return oldest;
}

std::uint64_t DirectionDecoder::oldest_needed() const {
    std::uint64_t oldest = frontier();
    if (!messages_.empty())
        oldest = std::min(oldest, messages_.begin()->second.stream_pos);
    return oldest;
}

void DirectionDecoder::close(std::map<std::uint32_t, std::size_t>::iterator it) {
    if (auto m = messages_.find(it->second); m != messages_.end())
        m->second.complete = true;
    ended_streams_.insert(it->first);
    if (track_events_)
        events_.emplace_back(it->first, false);
    open_.erase(it);
}

void DirectionDecoder::end_stream(std::uint32_t stream) {
    if (auto it = open_.find(stream); it != open_.end())
        open_.erase(it);
    ended_streams_.insert(stream);
}

std::uint64_t DirectionDecoder::held_bytes() const {
    std::uint64_t n = 0;
    for (const auto& [index, m] : messages_) {
        n += sizeof(Message) + m.method.size() + m.target.size() + m.reason.size() + m.body.size() +
             m.body_pieces.size() * sizeof(http1::BodyPiece) +
             m.body_gaps.size() * sizeof(std::uint64_t);
        for (const auto* hs : {&m.headers, &m.trailers}) {
            for (const auto& h : *hs)
                n += sizeof(Header) + h.name.size() + h.value.size();
        }
    }
    return n;
}

void DirectionDecoder::on_header_block(std::uint32_t stream, std::vector<Header> headers,
                                       bool end_stream, std::uint64_t start_pos,
                                       std::uint64_t end_pos) {
    auto it = open_.find(stream);
    if (it != open_.end()) {
        // A second block on a stream in progress: its trailers.
        if (auto m = messages_.find(it->second); m != messages_.end())
            m->second.trailers = std::move(headers);
    } else if (ended_streams_.contains(stream)) {
        return;  // the stream is closed on this side
    } else {
        Message m;
        m.kind = kind_;
        m.body_limit = body_limit_;
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
        if (kind_ == MessageKind::Request && m.target.empty()) {
            // CONNECT has no :path; show its authority like HTTP/1.1 does.
            for (const auto& h : headers) {
                if (h.name == ":authority")
                    m.target = h.value;
            }
        }
        m.headers = std::move(headers);
        const std::size_t index = next_index_++;
        const bool interim = m.is_interim();
        auto& placed = messages_.emplace(index, std::move(m)).first->second;
        if (interim) {
            // 1xx: complete as it stands; the final response follows on the same stream.
            placed.complete = true;
            placed.wire_size = end_pos - start_pos;
            interims_[stream].push_back(index);
            return;
        }
        if (kind_ == MessageKind::Response)
            finals_[stream] = index;
        it = open_.emplace(stream, index).first;
    }
    if (auto m = messages_.find(it->second); m != messages_.end())
        m->second.wire_size = end_pos - m->second.stream_pos;
    if (end_stream)
        close(it);
}

void DirectionDecoder::on_data(std::uint32_t stream, std::string_view data, std::uint64_t data_pos,
                               bool end_stream, std::uint64_t end_pos) {
    auto it = open_.find(stream);
    if (it == open_.end())
        return;  // data for a stream we never saw open
    if (auto m = messages_.find(it->second); m != messages_.end()) {
        if (!data.empty())
            m->second.append_body(data, data_pos);
        m->second.wire_size = end_pos - m->second.stream_pos;
    }
    if (end_stream)
        close(it);
}

HoldBounds import_bounds(std::size_t body_limit) {
    HoldBounds b;
    const std::uint64_t limit = std::min<std::uint64_t>(body_limit, std::uint64_t{1} << 40);
    b.max_bytes = std::max(b.max_bytes, 2 * limit + (std::uint64_t{8} << 20));
    b.max_span = std::max(b.max_span, 2 * b.max_bytes);
    return b;
}

Decoder::Decoder(std::size_t body_limit, std::optional<HoldBounds> bounds)
    : bounds_(bounds),
      dirs_{DirectionDecoder(MessageKind::Request, body_limit, bounds.has_value()),
            DirectionDecoder(MessageKind::Response, body_limit, bounds.has_value())} {}

void Decoder::exchange_announcements() {
    // Each side's HPACK encoder may use the table size its peer announced.
    dirs_[0].peer_announced(dirs_[1].announced(), dirs_[1].announcements_final());
    dirs_[1].peer_announced(dirs_[0].announced(), dirs_[0].announcements_final());
}

void Decoder::feed(int direction, std::string_view bytes) {
    dirs_[direction].feed(bytes);
    exchange_announcements();
    if (bounds_)
        settle(direction);
}

void Decoder::end(int direction, bool cut) {
    dirs_[direction].end(cut);
    ended_[direction] = true;
    exchange_announcements();
    if (bounds_)
        settle(direction);
}

// Import order: the streams that ended since, in the order their frames came
// (those of the direction just fed first); a RST_STREAM ends its stream on the
// other side too. An exchange is handed over once its stream ended on both
// sides (or a side stopped decoding), the final response of a stream no
// request opened once the server ended it.
void Decoder::settle(int first) {
    for (int d : {first, 1 - first}) {
        for (auto [stream, reset] : dirs_[d].take_events()) {
            if (reset)
                dirs_[1 - d].end_stream(stream);
            take_stream(stream, false);
        }
    }
    DirectionDecoder& client = dirs_[0];
    DirectionDecoder& server = dirs_[1];
    if (client.stopped() || server.stopped()) {
        std::vector<std::uint32_t> streams;
        for (const auto& [index, m] : client.messages())
            streams.push_back(m.stream_id);
        for (std::uint32_t stream : streams)
            take_stream(stream, false);
    }
    while (over_bounds()) {
        // The oldest exchange still open: by its request, else by the server's
        // oldest message; or the one that holds the oldest bytes of a direction
        // past the span.
        std::optional<std::uint32_t> victim;
        for (int d = 0; d < 2 && !victim; ++d) {
            auto& messages = dirs_[d].messages();
            if (!messages.empty() &&
                dirs_[d].end_pos() - messages.begin()->second.stream_pos > bounds_->max_span)
                victim = messages.begin()->second.stream_id;
        }
        for (int d = 0; d < 2 && !victim; ++d) {
            if (!dirs_[d].messages().empty())
                victim = dirs_[d].messages().begin()->second.stream_id;
        }
        if (!victim)
            break;
        const std::size_t before = dirs_[0].messages().size() + dirs_[1].messages().size();
        cut_stream(*victim);
        if (dirs_[0].messages().size() + dirs_[1].messages().size() == before)
            break;  // cannot happen (each message is its stream's); never loop
    }
}

bool Decoder::over_bounds() const {
    std::size_t count = 0;
    std::uint64_t bytes = 0;
    for (const auto& d : dirs_) {
        const auto& messages = d.messages();
        count += messages.size();
        if (!messages.empty() &&
            d.end_pos() - messages.begin()->second.stream_pos > bounds_->max_span)
            return true;
        bytes += d.held_bytes();
    }
    return count > bounds_->max_messages || bytes > bounds_->max_bytes;
}

void Decoder::cut_stream(std::uint32_t stream) {
    dirs_[0].end_stream(stream);
    dirs_[1].end_stream(stream);
    take_stream(stream, true);
}

// Hands over the exchange of `stream` if it is settled (or `force`d): its
// request with its responses, or, without a request, its final response once
// the server ended the stream (`force`: its interim responses are dropped).
void Decoder::take_stream(std::uint32_t stream, bool force) {
    DirectionDecoder& client = dirs_[0];
    DirectionDecoder& server = dirs_[1];
    auto& requests = client.messages();
    auto request = requests.end();
    for (auto it = requests.begin(); it != requests.end(); ++it) {
        if (it->second.stream_id == stream) {
            request = it;
            break;
        }
    }
    const bool request_done = client.stopped() || !client.open(stream);
    const bool response_done = server.stopped() || server.ended_stream(stream);
    if (!force && (!request_done || !response_done))
        return;
    auto& messages = server.messages();
    Exchange x;
    if (request != requests.end()) {
        x.request = std::move(request->second);
        requests.erase(request);
        if (auto it = server.interims().find(stream); it != server.interims().end()) {
            for (std::size_t i : it->second) {
                x.interim.push_back(std::move(messages.at(i)));
                messages.erase(i);
            }
            server.interims().erase(it);
        }
    } else if (force) {
        if (auto it = server.interims().find(stream); it != server.interims().end()) {
            for (std::size_t i : it->second)
                messages.erase(i);
            server.interims().erase(it);
        }
    } else if (server.stopped()) {
        return;  // left for the end (the final responses no request asked for)
    }
    if (auto it = server.finals().find(stream); it != server.finals().end()) {
        x.response = std::move(messages.at(it->second));
        messages.erase(it->second);
        server.finals().erase(it);
    }
    if (x.request || x.response)
        settled_.push_back(std::move(x));
}

std::vector<Exchange> Decoder::take_settled(std::vector<Message>* orphans) {
    DirectionDecoder& client = dirs_[0];
    DirectionDecoder& server = dirs_[1];
    std::vector<Exchange> out = std::move(settled_);
    settled_.clear();
    if (bounds_ && !(ended_[0] && ended_[1]))
        return out;
    auto take_responses = [&](std::uint32_t stream, Exchange& x, bool with_interim) {
        auto& messages = server.messages();
        if (auto it = server.interims().find(stream);
            with_interim && it != server.interims().end()) {
            for (std::size_t i : it->second) {
                x.interim.push_back(std::move(messages.at(i)));
                messages.erase(i);
            }
            server.interims().erase(it);
        }
        if (auto it = server.finals().find(stream); it != server.finals().end()) {
            x.response = std::move(messages.at(it->second));
            messages.erase(it->second);
            server.finals().erase(it);
        }
    };
    auto& requests = client.messages();
    while (!requests.empty()) {
        auto it = requests.begin();
        const std::uint32_t stream = it->second.stream_id;
        const bool request_done = client.stopped() || !client.open(stream);
        const bool response_done = server.stopped() || server.ended_stream(stream);
        if (!request_done || !response_done)
            break;
        Exchange x;
        x.request = std::move(it->second);
        requests.erase(it);
        take_responses(stream, x, true);
        out.push_back(std::move(x));
    }
    if (requests.empty() && ended_[0] && ended_[1] && client.stopped() && server.stopped()) {
        while (!server.finals().empty()) {
            Exchange x;
            // Not with its interim responses (they stay orphans, as ever).
            take_responses(server.finals().begin()->first, x, false);
            out.push_back(std::move(x));
        }
        if (orphans) {
            for (auto& [index, m] : server.messages())
                orphans->push_back(std::move(m));
        }
        server.messages().clear();
        server.interims().clear();
    }
    return out;
}

std::vector<OrderedPiece> ordered_pieces(const StreamView& client, const StreamView& server) {
    std::array<std::vector<OrderedPiece>, 2> pieces;
    for (int d = 0; d < 2; ++d) {
        const StreamView& view = d == 0 ? client : server;
        const auto& runs = view.runs();
        if (runs.empty() || runs.front().pos != 0)
            continue;
        const ByteRun& run = runs.front();
        std::uint64_t fed = 0;
        std::uint64_t key = 0;
        for (const replay::StreamSegment* s : view.segments()) {
            if (s->pos >= run.end())
                break;
            key = std::max(key, s->seq);
            const std::uint64_t end = std::min(s->pos + s->len, run.end());
            if (end <= fed)
                continue;
            const std::uint64_t from = std::max(s->pos, fed);
            pieces[d].push_back(
                OrderedPiece{d, key,
                             run.bytes.substr(static_cast<std::size_t>(from - run.pos),
                                              static_cast<std::size_t>(end - from))});
            fed = end;
        }
    }
    std::vector<OrderedPiece> out;
    out.reserve(pieces[0].size() + pieces[1].size());
    std::merge(pieces[0].begin(), pieces[0].end(), pieces[1].begin(), pieces[1].end(),
               std::back_inserter(out), [](const OrderedPiece& a, const OrderedPiece& b) {
                   return a.key != b.key ? a.key < b.key : a.direction < b.direction;
               });
    return out;
}

DecodedStreams decode_connection(const StreamView& client, const StreamView& server, bool closed,
                                 std::size_t body_limit, std::optional<HoldBounds> bounds) {
    (void)closed;  // streams end with END_STREAM, not with the connection
    Decoder decoder(body_limit, bounds);
    if (bounds) {
        for (const OrderedPiece& p : ordered_pieces(client, server))
            decoder.feed(p.direction, p.bytes);
    }
    for (int d = 0; d < 2; ++d) {
        const StreamView& view = d == 0 ? client : server;
        const auto& runs = view.runs();
        // Only the first run: after a gap, frame boundaries and HPACK state are gone.
        bool cut = false;
        if (!runs.empty()) {
            if (runs.front().pos == 0 && !bounds)
                decoder.feed(d, runs.front().bytes);
            cut = runs.front().pos != 0 || runs.size() > 1 || runs.front().end() < view.end_pos();
        }
        decoder.end(d, cut);
    }
    DecodedStreams out;
    std::vector<Message> orphans;
    std::vector<Exchange> exchanges = decoder.take_settled(&orphans);
    out.damaged = decoder.damaged();
    for (auto& x : exchanges) {
        http1::Pairing p;
        if (x.request) {
            p.request = out.requests.size();
            out.requests.push_back(std::move(*x.request));
        }
        for (auto& m : x.interim) {
            p.interim.push_back(out.responses.size());
            out.responses.push_back(std::move(m));
        }
        if (x.response) {
            p.response = out.responses.size();
            out.responses.push_back(std::move(*x.response));
        }
        out.pairings.push_back(std::move(p));
    }
    for (auto& m : orphans)
        out.responses.push_back(std::move(m));
    return out;
}

}  // namespace ct::analyze::http2

#include "protocols/http2/connection.hpp"

#include <nghttp2/nghttp2.h>

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

DirectionDecoder::DirectionDecoder(MessageKind kind, std::size_t body_limit)
    : kind_(kind), body_limit_(body_limit) {
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

std::uint64_t DirectionDecoder::oldest_needed() const {
    std::uint64_t oldest = buf_pos_;
    if (block_)
        oldest = std::min(oldest, block_->start);
    if (stall_)
        oldest = std::min(oldest, stall_->start);
    if (!messages_.empty())
        oldest = std::min(oldest, messages_.begin()->second.stream_pos);
    return oldest;
}

void DirectionDecoder::close(std::map<std::uint32_t, std::size_t>::iterator it) {
    if (auto m = messages_.find(it->second); m != messages_.end())
        m->second.complete = true;
    ended_streams_.insert(it->first);
    open_.erase(it);
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

Decoder::Decoder(std::size_t body_limit)
    : dirs_{DirectionDecoder(MessageKind::Request, body_limit),
            DirectionDecoder(MessageKind::Response, body_limit)} {}

void Decoder::exchange_announcements() {
    // Each side's HPACK encoder may use the table size its peer announced.
    dirs_[0].peer_announced(dirs_[1].announced(), dirs_[1].announcements_final());
    dirs_[1].peer_announced(dirs_[0].announced(), dirs_[0].announcements_final());
}

void Decoder::feed(int direction, std::string_view bytes) {
    dirs_[direction].feed(bytes);
    exchange_announcements();
}

void Decoder::end(int direction, bool cut) {
    dirs_[direction].end(cut);
    ended_[direction] = true;
    exchange_announcements();
}

std::vector<Exchange> Decoder::take_settled(std::vector<Message>* orphans) {
    DirectionDecoder& client = dirs_[0];
    DirectionDecoder& server = dirs_[1];
    std::vector<Exchange> out;
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

DecodedStreams decode_connection(const StreamView& client, const StreamView& server, bool closed,
                                 std::size_t body_limit) {
    (void)closed;  // streams end with END_STREAM, not with the connection
    Decoder decoder(body_limit);
    for (int d = 0; d < 2; ++d) {
        const StreamView& view = d == 0 ? client : server;
        const auto& runs = view.runs();
        // Only the first run: after a gap, frame boundaries and HPACK state are gone.
        bool cut = false;
        if (!runs.empty()) {
            if (runs.front().pos == 0)
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

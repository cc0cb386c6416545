#include "exchange_streamer.hpp"

#include <algorithm>

#include "protocols/http1/parse.hpp"
#include "stream/stream_view.hpp"

namespace ct::analyze {

namespace {

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string_view chars(const replay::DirectionStream& s) {
    return {reinterpret_cast<const char*>(s.data.data()), s.data.size()};
}

// When to parse again after a message was cut by the end of what came so far:
// once its bytes have doubled (so that parsing a long message again and again
// stays linear), or once all of it is there if the head told its size.
std::size_t next_try(std::size_t have, std::optional<std::uint64_t> frame_size) {
    const std::size_t doubled = std::max<std::size_t>(2 * have, 512);
    if (frame_size && *frame_size > have && *frame_size < doubled)
        return static_cast<std::size_t>(*frame_size);
    return doubled;
}

// `s` from `offset` bytes into it on.
replay::StreamSegment segment_from(const replay::StreamSegment& s, std::size_t offset) {
    replay::StreamSegment tail = s;
    tail.pos += offset;
    tail.len -= offset;
    tail.chunk_offset += offset;
    return tail;
}

}  // namespace

ExchangeStreamer::ExchangeStreamer(CaptureStore& store, HeaderPolicy policy,
                                   const DecodeLimits& limits, GrowthBudget& budget,
                                   std::function<Expected<void>()> before_first_write)
    : store_(store),
      policy_(policy),
      limits_(limits),
      budget_(budget),
      before_first_write_(std::move(before_first_write)) {}

void ExchangeStreamer::reset() {
    active_ = false;
    gen_ = 0;
    mode_ = Mode::Probe;
    begun_ = false;
    part_ = {};
    window_ = {};
    last_ns_ = {};
    retry_at_ = {};
    watch_ = {};
    request_.reset();
    request_size_ = 0;
    skip_.reset();
    request_window_ = {};
    request_window_held_ = 0;
    request_skipped_.reset();
    held_ = 0;
    http2_.reset();
    http2_dropped_ = false;
}

Expected<void> ExchangeStreamer::data(const replay::Connection& connection, int direction,
                                      const replay::StreamSegment& segment,
                                      std::span<const std::uint8_t> bytes) {
    if (!active_ || connection.conn_gen != gen_) {
        reset();
        active_ = true;
        gen_ = connection.conn_gen;
    }
    if (mode_ == Mode::Http2)
        return http2_data(connection, direction, segment, bytes);
    if (skip_ && direction == skip_->direction) {
        const bool backwards = segment.monotonic_ns < last_ns_[direction];
        last_ns_[direction] = std::max(last_ns_[direction], segment.monotonic_ns);
        if (backwards || mode_ == Mode::Hold) {
            unskip();  // and the bytes are kept below
        } else if (skip_->chunks) {
            http1::ChunkCounter& chunks = *skip_->chunks;
            const std::size_t n =
                chunks.feed({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
            if (chunks.state() == http1::ChunkCounter::State::Done) {
                skip_->end = segment.pos + n;
                return end_skip(connection, segment, bytes);
            }
            skip_->last = segment;
            skip_->last.len = n;
            skip_->upto = segment.pos + n;
            if (chunks.state() != http1::ChunkCounter::State::Invalid)
                return {};
            // Not chunked framing after all: the whole decoder takes over.
            unskip();
            if (n == bytes.size())
                return {};
            return data(connection, direction, segment_from(segment, n), bytes.subspan(n));
        } else if (segment.pos + segment.len < skip_->end) {
            skip_->last = segment;
            skip_->upto = segment.pos + segment.len;
            return {};
        } else {
            return end_skip(connection, segment, bytes);
        }
    }
    replay::DirectionStream& w = window_[direction];
    if (w.segments.empty() && w.data.empty())
        w.begin_pos = segment.pos;
    replay::StreamSegment s = segment;
    s.data_offset = w.data.size();
    w.data.insert(w.data.end(), bytes.begin(), bytes.end());
    w.segments.push_back(s);
    w.end_pos = s.pos + s.len;
    held_ += bytes.size();
    held_high_water_ = std::max(held_high_water_, held_);
    // Times that go backwards could pair messages differently (the stitcher
    // pairs by time): leave the rest to the whole decoder.
    if (s.monotonic_ns < last_ns_[direction])
        mode_ = Mode::Hold;
    last_ns_[direction] = std::max(last_ns_[direction], s.monotonic_ns);
    if (mode_ == Mode::Hold)
        return {};
    return pump(connection);
}

Expected<void> ExchangeStreamer::pump(const replay::Connection& connection) {
    replay::DirectionStream& out = window_[kWrite];
    replay::DirectionStream& in = window_[kRead];
    while (mode_ != Mode::Hold) {
        if (mode_ == Mode::Probe) {
            // decode_connection takes a stream that starts with the HTTP/2 preface
            // as HTTP/2.
            std::string_view start = chars(out);
            if (out.begin_pos != 0 || in.begin_pos != 0) {
                mode_ = Mode::Hold;
                break;
            }
            if (start.size() < kHttp2Preface.size() && kHttp2Preface.starts_with(start))
                return {};
            if (http1::is_http2_preface(start))
                return start_http2(connection);
            mode_ = Mode::Stream;
        }
        if (!request_) {
            if (!ready(kWrite))
                return {};
            http1::ParseContext context;
            context.base_pos = out.begin_pos;
            context.body_limit = limits_.max_body;
            http1::Message m;
            const ParseResult r =
                http1::parse_frame(http1::MessageKind::Request, chars(out), context, m);
            if (r.state == ParseState::NeedsMoreData && m.head_parsed &&
                m.body.size() >= limits_.max_body && !http1::iequals(m.method, "CONNECT") &&
                m.find("Upgrade") == nullptr &&
                ((m.framing == http1::BodyFraming::ContentLength && r.frame_size) ||
                 m.framing == http1::BodyFraming::Chunked)) {
                // A request body past the limit: the rest of it is counted, not held.
                start_skip(kWrite, std::move(m), r.frame_size.value_or(0));
                return {};
            }
            if (r.state == ParseState::NeedsMoreData) {
                cut(kWrite, r, m);
                return {};
            }
            if (r.state == ParseState::Invalid || http1::iequals(m.method, "CONNECT") ||
                m.find("Upgrade") != nullptr) {
                mode_ = Mode::Hold;
                break;
            }
            request_ = std::move(m);
            request_size_ = r.consumed;
            retry_at_[kWrite] = 0;
            watch_[kWrite].reset();
        }
        if (skip_ || !ready(kRead))
            return {};
        http1::ParseContext context;
        context.base_pos = in.begin_pos;
        context.request_method = request_->method;
        context.body_limit = limits_.max_body;
        http1::Message response;
        const ParseResult r =
            http1::parse_frame(http1::MessageKind::Response, chars(in), context, response);
        if (r.state == ParseState::NeedsMoreData && response.head_parsed &&
            response.framing == http1::BodyFraming::ContentLength && r.frame_size &&
            response.body.size() >= limits_.max_body && !response.is_interim()) {
            // A body past the limit: the rest of it is counted, not held.
            if (request_view().monotonic_at(request_->stream_pos) >
                StreamView(in).monotonic_at(response.stream_pos)) {
                mode_ = Mode::Hold;
                break;
            }
            start_skip(kRead, std::move(response), *r.frame_size);
            return {};
        }
        if (r.state == ParseState::NeedsMoreData && response.head_parsed &&
            response.framing == http1::BodyFraming::Chunked &&
            response.body.size() >= limits_.max_body && !response.is_interim()) {
            // The same for a chunked body (a long SSE stream).
            if (request_view().monotonic_at(request_->stream_pos) >
                StreamView(in).monotonic_at(response.stream_pos)) {
                mode_ = Mode::Hold;
                break;
            }
            start_skip(kRead, std::move(response), 0);
            return {};
        }
        if (r.state == ParseState::NeedsMoreData) {
            cut(kRead, r, response);
            return {};
        }
        if (r.state == ParseState::Invalid || response.is_interim() ||
            response.framing == http1::BodyFraming::Tunnel) {
            mode_ = Mode::Hold;
            break;
        }
        const StreamView out_view = request_view();
        // The stitcher pairs a response with a request that started before it.
        if (out_view.monotonic_at(request_->stream_pos) >
            StreamView(in).monotonic_at(response.stream_pos)) {
            mode_ = Mode::Hold;
            break;
        }
        // The response is parsed (its body copied out): its bytes are let go
        // before it is decoded and written, which takes only their times.
        replay::DirectionStream times;
        times.segments = in.segments;
        times.end_pos = in.end_pos;
        times.monotonic_before = in.monotonic_before;
        drop(kRead, r.consumed);
        const StreamView in_view = StreamView::timing_only(times);
        if (auto c = commit(connection, out_view, in_view, std::move(response)); !c)
            return c;
        drop(kWrite, request_size_);
        retry_at_ = {};
        watch_ = {};
    }
    return {};
}

// The window so far goes to a new Http2Streamer, direction by direction.
Expected<void> ExchangeStreamer::start_http2(const replay::Connection& connection) {
    mode_ = Mode::Http2;
    http2_ = std::make_unique<Http2Streamer>(store_, policy_, limits_, budget_, before_first_write_,
                                             exchanges_streamed_);
    for (int d = 0; d < 2; ++d) {
        const replay::DirectionStream& w = window_[d];
        for (const auto& s : w.segments) {
            if (auto r = http2_->data(connection, d, s, w.bytes(s)); !r)
                return r;
        }
    }
    return http2_data(connection, kWrite, {}, {});
}

// Mode::Http2: the window keeps the bytes until a message was decoded (until
// then, the whole decoder may keep the connection as raw bytes); after that,
// only where the tapped bytes end and when the last of them came.
Expected<void> ExchangeStreamer::http2_data(const replay::Connection& connection, int direction,
                                            const replay::StreamSegment& segment,
                                            std::span<const std::uint8_t> bytes) {
    if (segment.len > 0) {
        replay::DirectionStream& w = window_[direction];
        if (!http2_dropped_) {
            replay::StreamSegment s = segment;
            s.data_offset = w.data.size();
            w.data.insert(w.data.end(), bytes.begin(), bytes.end());
            w.segments.push_back(s);
            held_ += bytes.size();
        } else {
            w.begin_pos = segment.pos + segment.len;
            w.monotonic_before = segment.monotonic_ns;
        }
        w.end_pos = segment.pos + segment.len;
        if (auto r = http2_->data(connection, direction, segment, bytes); !r)
            return r;
    }
    if (!http2_dropped_ && http2_->any_message()) {
        for (auto& w : window_) {
            if (!w.segments.empty())
                w.monotonic_before = w.segments.back().monotonic_ns;
            w.begin_pos = w.end_pos;
            held_ -= w.data.size();
            w.data = {};
            w.segments = {};
        }
        http2_dropped_ = true;
    }
    held_high_water_ = std::max(held_high_water_, held_ + http2_->held());
    return {};
}

// Decodes, prepares and writes the exchange of request_ and `response`.
Expected<void> ExchangeStreamer::commit(const replay::Connection& connection,
                                        const StreamView& out_view, const StreamView& in_view,
                                        http1::Message response) {
    {
        DecodedConnection dc;
        dc.requests.push_back(
            finish_http1_message(out_view, std::move(*request_), limits_, budget_));
        dc.responses.push_back(
            finish_http1_message(in_view, std::move(response), limits_, budget_));
        request_.reset();
        http1::Pairing pairing;
        pairing.request = 0;
        pairing.response = 0;
        dc.exchanges.push_back(std::move(pairing));
        const http1::Message& q = dc.requests.front().message;
        if (!begun_) {
            if (auto before = before_first_write_(); !before)
                return before;
            if (auto b = store_.begin_connection(connection); !b)
                return b;
            begun_ = true;
            part_.protocol = q.version_minor == 0 ? "http/1.0" : "http/1.1";
        }
        if (part_.host.empty()) {
            std::string_view host = q.value_of("Host");
            part_.host = host.empty() ? q.value_of(":authority") : host;
        }
        auto prepared = prepare_decoded(std::move(dc), policy_);
        if (auto w = store_.write_exchanges(*prepared); !w)
            return w;
        ++exchanges_streamed_;
        if (request_skipped_) {
            held_ -= request_window_held_;
            request_window_ = {};
            request_skipped_.reset();
        }
    }
    return {};
}

void ExchangeStreamer::start_skip(int direction, http1::Message response,
                                  std::uint64_t frame_size) {
    replay::DirectionStream& in = window_[direction];
    watch_[direction].reset();
    Skip k;
    k.direction = direction;
    if (response.framing == http1::BodyFraming::Chunked) {
        // The framing followed from the body's start: the kept part ends where
        // the counter has seen max_body bytes of data, and it goes on from there.
        const std::uint64_t body_start = response.stream_pos + response.head_size;
        const std::string_view body = chars(in).substr(body_start - in.begin_pos);
        k.chunks.emplace();
        const std::size_t kept = k.chunks->feed(body, limits_.max_body);
        k.chunks->mark();
        k.chunks->feed(body.substr(kept));
        k.kept_end = body_start + kept;
    } else {
        k.end = in.begin_pos + frame_size;
        k.kept_end = response.stream_pos + response.head_size + response.body.size();
    }
    k.upto = in.end_pos;
    k.last = in.segments.back();
    k.response = std::move(response);
    // The window keeps the head and the body as far as it is kept.
    const std::uint64_t keep = k.kept_end - in.begin_pos;
    held_ -= in.data.size() - keep;
    in.data.resize(static_cast<std::size_t>(keep));
    while (!in.segments.empty() && in.segments.back().pos >= k.kept_end)
        in.segments.pop_back();
    if (!in.segments.empty() && in.segments.back().pos + in.segments.back().len > k.kept_end)
        in.segments.back().len = k.kept_end - in.segments.back().pos;
    in.end_pos = k.kept_end;
    skip_ = std::move(k);
}

// The bytes skipped put back for the whole decoder: as zeros (they are past the
// body limit, so no decoder reads them), but for a chunked body's framing,
// which is made again so that it parses as the skipped bytes did.
void ExchangeStreamer::unskip() {
    Skip k = std::move(*skip_);
    skip_.reset();
    put_back(window_[k.direction], k);
    mode_ = Mode::Hold;
}

void ExchangeStreamer::put_back(replay::DirectionStream& in, Skip& k) {
    if (k.upto > k.kept_end) {
        replay::StreamSegment last = k.last;
        if (last.pos < k.kept_end) {
            const std::uint64_t cut = k.kept_end - last.pos;
            last.pos += cut;
            last.len -= cut;
            last.chunk_offset += cut;
        }
        if (last.pos > k.kept_end) {
            // Positions inside it are never asked the time of: the last one's will do.
            replay::StreamSegment middle = last;
            middle.pos = k.kept_end;
            middle.len = last.pos - k.kept_end;
            middle.data_offset = in.data.size();
            in.segments.push_back(middle);
        }
        last.data_offset = in.data.size() + (last.pos - k.kept_end);
        in.segments.push_back(last);
        if (k.chunks) {
            // Framing that parses as the skipped bytes did (data as zeros).
            k.chunks->synthesize_since_mark(in.data);
        } else {
            in.data.resize(in.data.size() + static_cast<std::size_t>(k.upto - k.kept_end), 0);
        }
        held_ += k.upto - k.kept_end;
        held_high_water_ = std::max(held_high_water_, held_);
        in.end_pos = k.upto;
    }
}

// The message skipped through ends inside `segment`: its exchange is written,
// and what follows the message starts the window again.
Expected<void> ExchangeStreamer::end_skip(const replay::Connection& connection,
                                          const replay::StreamSegment& segment,
                                          std::span<const std::uint8_t> bytes) {
    const int direction = skip_->direction;
    replay::DirectionStream& in = window_[direction];
    const std::uint64_t end = skip_->end;
    const std::uint64_t head = end - segment.pos;
    replay::StreamSegment last = segment;
    last.len = head;
    skip_->last = last;
    skip_->upto = end;
    // Times from the window and the message's last segment (its bytes unread).
    last.data_offset = in.data.size();
    in.segments.push_back(last);
    in.data.resize(in.data.size() + static_cast<std::size_t>(head), 0);
    in.end_pos = end;
    http1::Message response = std::move(skip_->response);
    // What a parse of the whole message gives.
    if (skip_->chunks) {
        response.body_omitted = skip_->chunks->data_bytes() - response.body.size();
        response.trailers = skip_->chunks->trailers();
        response.wire_size = end - response.stream_pos;
        // (an empty piece where the window ended at a chunk's data start)
        std::erase_if(response.body_pieces, [](const http1::BodyPiece& p) { return p.len == 0; });
    } else {
        response.body_omitted = response.content_length.value_or(0) - response.body.size();
    }
    response.complete = true;
    if (direction == kWrite) {
        // A whole request: its window (the kept part, and its last segment for
        // its times) is set aside until its response has come; the write window
        // starts again after it.
        Skip k = std::move(*skip_);
        skip_.reset();
        k.response = {};
        request_window_ = std::move(in);
        request_window_held_ = request_window_.data.size() - head;
        request_skipped_ = std::move(k);
        request_ = std::move(response);
        request_size_ = 0;
        restart_window(kWrite, end, segment.monotonic_ns);
        retry_at_[kWrite] = 0;
        watch_[kWrite].reset();
        return go_on_after(connection, kWrite, segment, bytes, head);
    }
    skip_.reset();
    const StreamView out_view = request_view();
    held_ -= in.data.size() - head;
    const replay::DirectionStream times = let_go(kRead, end, segment.monotonic_ns);
    const StreamView in_view = StreamView::timing_only(times);
    if (auto c = commit(connection, out_view, in_view, std::move(response)); !c)
        return c;
    drop(kWrite, request_size_);
    retry_at_ = {};
    watch_ = {};
    return go_on_after(connection, kRead, segment, bytes, head);
}

// The window of `direction` starts again, empty, at `end`, where a message
// taken ended (the last of its bytes came at `monotonic_ns`).
void ExchangeStreamer::restart_window(int direction, std::uint64_t end,
                                      std::uint64_t monotonic_ns) {
    replay::DirectionStream next;
    next.begin_pos = end;
    next.end_pos = end;
    next.monotonic_before = monotonic_ns;
    window_[direction] = std::move(next);
}

// The window of `direction` holds a message parsed whole (its body copied
// out) and nothing after it: its bytes are let go before the exchange is
// decoded and written, which needs only their times. Returns the window
// without its bytes; the window starts again at `end`.
replay::DirectionStream ExchangeStreamer::let_go(int direction, std::uint64_t end,
                                                 std::uint64_t monotonic_ns) {
    replay::DirectionStream& w = window_[direction];
    replay::DirectionStream times;
    times.begin_pos = w.begin_pos;
    times.end_pos = w.end_pos;
    times.monotonic_before = w.monotonic_before;
    times.segments = std::move(w.segments);
    restart_window(direction, end, monotonic_ns);
    return times;
}

// After a message taken ended `head` bytes into `segment`: the bytes of the
// segment after it come as new data; if there are none, the windows are looked
// at again.
Expected<void> ExchangeStreamer::go_on_after(const replay::Connection& connection, int direction,
                                             const replay::StreamSegment& segment,
                                             std::span<const std::uint8_t> bytes,
                                             std::uint64_t head) {
    if (bytes.size() > head) {
        const auto n = static_cast<std::size_t>(head);
        return data(connection, direction, segment_from(segment, n), bytes.subspan(n));
    }
    return pump(connection);
}

// The capture ended inside a chunked body being skipped through: its exchange
// is written as the whole decoder gives it (the message incomplete, its wire
// size up to the last byte captured).
Expected<void> ExchangeStreamer::end_cut_chunked(const replay::Connection& connection) {
    replay::DirectionStream& in = window_[kRead];
    const Skip& k = *skip_;
    http1::Message response = std::move(skip_->response);
    response.body_omitted = k.chunks->data_bytes() - response.body.size();
    response.wire_size = k.upto - response.stream_pos;
    response.complete = false;
    response.trailers.clear();
    std::erase_if(response.body_pieces, [](const http1::BodyPiece& p) { return p.len == 0; });
    if (k.chunks->at_data_start())
        response.body_pieces.push_back({response.body.size(), k.upto, 0});
    // Times from the window and the last segment come (its bytes unread).
    std::uint64_t added = 0;
    if (k.upto > k.kept_end) {
        replay::StreamSegment last = k.last;
        if (last.pos < k.kept_end) {
            const std::uint64_t cut = k.kept_end - last.pos;
            last.pos += cut;
            last.len -= cut;
            last.chunk_offset += cut;
        }
        last.data_offset = in.data.size();
        in.segments.push_back(last);
        added = last.len;
        in.data.resize(in.data.size() + static_cast<std::size_t>(added), 0);
        in.end_pos = k.upto;
    }
    const StreamView out_view = request_view();
    held_ -= in.data.size() - added;
    const replay::DirectionStream times = let_go(kRead, k.upto, k.last.monotonic_ns);
    skip_.reset();
    const StreamView in_view = StreamView::timing_only(times);
    if (auto c = commit(connection, out_view, in_view, std::move(response)); !c)
        return c;
    drop(kWrite, request_size_);
    retry_at_ = {};
    watch_ = {};
    return {};
}

// The bytes of request_ (set aside if it was skipped through).
StreamView ExchangeStreamer::request_view() const {
    return StreamView(request_skipped_ ? request_window_ : window_[kWrite]);
}

// True if the message at the front of the window is worth parsing again.
bool ExchangeStreamer::ready(int direction) {
    const replay::DirectionStream& w = window_[direction];
    if (w.data.empty())
        return false;
    if (!watch_[direction])
        return w.data.size() >= retry_at_[direction];
    ChunkWatch& cw = *watch_[direction];
    if (w.data.size() > cw.fed)
        cw.fed += cw.chunks.feed(chars(w).substr(cw.fed));
    using State = http1::ChunkCounter::State;
    return cw.chunks.state() == State::Done || cw.chunks.state() == State::Invalid ||
           cw.chunks.data_bytes() >= limits_.max_body;
}

// The message at the front of the window was cut by its end: when to parse again.
void ExchangeStreamer::cut(int direction, const ParseResult& result, const http1::Message& m) {
    const replay::DirectionStream& w = window_[direction];
    if (m.head_parsed && m.framing == http1::BodyFraming::Chunked) {
        if (!watch_[direction]) {
            ChunkWatch cw;
            cw.fed = static_cast<std::size_t>(m.stream_pos - w.begin_pos + m.head_size);
            watch_[direction] = std::move(cw);
        }
        return;
    }
    retry_at_[direction] = next_try(w.data.size(), result.frame_size);
}

void ExchangeStreamer::drop(int direction, std::uint64_t bytes) {
    replay::DirectionStream& w = window_[direction];
    const std::uint64_t begin = w.begin_pos + bytes;
    w.data.erase(w.data.begin(), w.data.begin() + static_cast<std::ptrdiff_t>(bytes));
    auto first =
        std::find_if(w.segments.begin(), w.segments.end(),
                     [&](const replay::StreamSegment& s) { return s.pos + s.len > begin; });
    if (bytes > 0) {
        // The segment of the last byte dropped: its time stands for the stream's
        // end when nothing is left after it (StreamView::monotonic_at).
        auto last = first != w.segments.end() && first->pos < begin ? first : first - 1;
        w.monotonic_before = last->monotonic_ns;
    }
    w.segments.erase(w.segments.begin(), first);
    if (!w.segments.empty() && w.segments.front().pos < begin) {
        replay::StreamSegment& s = w.segments.front();
        const std::uint64_t cut = begin - s.pos;
        s.pos += cut;
        s.len -= cut;
        s.chunk_offset += cut;
    }
    for (auto& s : w.segments)
        s.data_offset = s.pos - begin;
    w.begin_pos = begin;
    held_ -= bytes;
    // A vector keeps its capacity: give it back once it is mostly unused.
    if (w.data.capacity() > (1u << 20) && w.data.size() < w.data.capacity() / 4)
        w.data.shrink_to_fit();
}

Expected<std::optional<replay::Connection>> ExchangeStreamer::finish(
    const replay::Connection& connection, std::uint64_t& lost_bytes) {
    lost_bytes = connection.streams[0].gap_bytes + connection.streams[1].gap_bytes;
    if (skip_ && skip_->chunks && skip_->direction == kRead && mode_ != Mode::Hold) {
        // The capture ends inside a chunked body, or the connection goes on
        // after a gap.
        const replay::DirectionStream& rest = connection.streams[kRead];
        if (rest.segments.empty() && rest.gap_bytes == 0 && rest.end_pos <= skip_->upto) {
            if (auto c = end_cut_chunked(connection); !c)
                return std::unexpected(c.error());
        }
    }
    if (skip_)
        unskip();
    if (request_skipped_) {
        // A request skipped through whose response did not come whole: its bytes
        // go back in front of the write window, for the whole decoder.
        replay::DirectionStream w = std::move(request_window_);
        Skip& k = *request_skipped_;
        w.data.resize(w.data.size() - static_cast<std::size_t>(k.last.len));
        w.segments.pop_back();
        w.end_pos = k.kept_end;
        put_back(w, k);
        const replay::DirectionStream& after = window_[kWrite];
        const std::uint64_t shift = w.data.size();
        w.data.insert(w.data.end(), after.data.begin(), after.data.end());
        for (replay::StreamSegment s : after.segments) {
            s.data_offset += shift;
            w.segments.push_back(s);
        }
        w.end_pos = std::max(w.end_pos, after.end_pos);
        window_[kWrite] = std::move(w);
        request_skipped_.reset();
    }
    // The tapped bytes left, then what the capture kept after them.
    replay::Connection whole;
    whole.conn_gen = connection.conn_gen;
    whole.pid = connection.pid;
    whole.ssl = connection.ssl;
    whole.comm = connection.comm;
    whole.first_monotonic_ns = connection.first_monotonic_ns;
    whole.last_monotonic_ns = connection.last_monotonic_ns;
    whole.handshake_start_ns = connection.handshake_start_ns;
    whole.handshake_done_ns = connection.handshake_done_ns;
    whole.closed = connection.closed;
    whole.from_start = connection.from_start;
    whole.socket = connection.socket;
    for (int d = 0; d < 2; ++d) {
        replay::DirectionStream& w = window_[d];
        const replay::DirectionStream& rest = connection.streams[d];
        replay::DirectionStream& out = whole.streams[d];
        const std::uint64_t shift = w.data.size();
        // The tapped bytes end where the capture's kept ones begin.
        out.begin_pos = w.begin_pos;
        out.data = std::move(w.data);
        out.data.insert(out.data.end(), rest.data.begin(), rest.data.end());
        out.segments = std::move(w.segments);
        out.segments.reserve(out.segments.size() + rest.segments.size());
        for (replay::StreamSegment s : rest.segments) {
            if (!s.is_gap)
                s.data_offset += shift;
            out.segments.push_back(s);
        }
        out.end_pos = std::max(rest.end_pos, w.end_pos);
        out.gap_bytes = rest.gap_bytes;
        out.monotonic_before = w.monotonic_before;
    }
    if (mode_ == Mode::Http2 && http2_dropped_) {
        // The tapped bytes are gone: the streamer decodes and writes the rest.
        auto r = http2_->finish(whole);
        reset();
        if (!r)
            return std::unexpected(r.error());
        return std::optional<replay::Connection>();
    }
    const bool begun = begun_;
    StreamedPart part = std::move(part_);
    reset();
    if (!begun)
        return std::optional<replay::Connection>(std::move(whole));
    auto rest = prepare_decoded(decode_connection(whole, limits_, &budget_, true), policy_);
    if (auto r = store_.end_connection(whole, *rest, part); !r)
        return std::unexpected(r.error());
    return std::optional<replay::Connection>();
}

}  // namespace ct::analyze

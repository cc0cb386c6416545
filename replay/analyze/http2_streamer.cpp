#include "http2_streamer.hpp"

#include <algorithm>

#include "stream/stream_view.hpp"

namespace ct::analyze {

Http2Streamer::Http2Streamer(CaptureStore& store, HeaderPolicy policy, const DecodeLimits& limits,
                             GrowthBudget& budget,
                             const std::function<Expected<void>()>& before_first_write,
                             std::uint64_t& exchanges_streamed)
    : store_(store),
      policy_(policy),
      limits_(limits),
      budget_(budget),
      before_first_write_(before_first_write),
      exchanges_streamed_(exchanges_streamed),
      decoder_(limits.max_body, http2::import_bounds(limits.max_body)) {}

void Http2Streamer::time(int direction, const replay::StreamSegment& segment) {
    if (segment.len == 0)
        return;
    times_[direction].push_back(Timed{segment.pos, segment.len, segment.monotonic_ns});
}

Expected<void> Http2Streamer::data(const replay::Connection& connection, int direction,
                                   const replay::StreamSegment& segment,
                                   std::span<const std::uint8_t> bytes) {
    if (segment.len == 0 || bytes.empty())
        return {};
    seen_key_[direction] = std::max(seen_key_[direction], segment.seq);
    seen_any_[direction] = true;
    Waiting w;
    w.direction = direction;
    w.key = seen_key_[direction];
    w.segment = segment;
    w.bytes.assign(bytes.begin(), bytes.end());
    waiting_bytes_ += w.bytes.size();
    waiting_[direction].push_back(std::move(w));
    held_high_water_ = std::max(held_high_water_, held());
    return pump(connection, false);
}

// The waiting pieces in the order of ordered_pieces(): the first of the two
// directions' next ones goes once the other direction brought a piece after it
// (a later one of that direction cannot come before it), or, past
// kReorderBytes, anyway.
Expected<void> Http2Streamer::pump(const replay::Connection& connection, bool all) {
    while (!waiting_[0].empty() || !waiting_[1].empty()) {
        int d = 0;
        if (waiting_[0].empty() ||
            (!waiting_[1].empty() && waiting_[1].front().key < waiting_[0].front().key))
            d = 1;
        const Waiting& next = waiting_[d].front();
        const int other = 1 - d;
        const bool other_after = seen_any_[other] && (seen_key_[other] > next.key ||
                                                      (seen_key_[other] == next.key && d == 0));
        if (!all && !other_after && waiting_bytes_ <= kReorderBytes)
            break;
        Waiting w = std::move(waiting_[d].front());
        waiting_[d].pop_front();
        waiting_bytes_ -= w.bytes.size();
        time(d, w.segment);
        decoder_.feed(
            d, std::string_view(reinterpret_cast<const char*>(w.bytes.data()), w.bytes.size()));
        held_high_water_ = std::max(held_high_water_, held());
        if (auto r = write_settled(connection); !r)
            return r;
    }
    for (auto& q : waiting_) {
        if (q.empty())
            q.shrink_to_fit();
    }
    return {};
}

Expected<void> Http2Streamer::write_settled(const replay::Connection& connection) {
    std::vector<http2::Exchange> settled = decoder_.take_settled();
    if (settled.empty()) {
        prune();
        return {};
    }
    const std::size_t n = settled.size();
    DecodedConnection dc = finish_exchanges(std::move(settled));
    if (auto b = begin(connection); !b)
        return b;
    auto prepared = prepare_decoded(std::move(dc), policy_);
    if (auto w = store_.write_exchanges(*prepared); !w)
        return w;
    exchanges_streamed_ += n;
    prune();
    return {};
}

Expected<void> Http2Streamer::begin(const replay::Connection& connection) {
    if (begun_)
        return {};
    if (auto before = before_first_write_(); !before)
        return before;
    if (auto b = store_.begin_connection(connection); !b)
        return b;
    begun_ = true;
    part_.protocol = "http2";
    return {};
}

// A message's times come from the segments its bytes span: a view of those
// answers monotonic_at() for its positions as the whole stream's view does.
DecodedMessage Http2Streamer::finish_message(int direction, http1::Message message) {
    const std::uint64_t lo = message.stream_pos;
    const std::uint64_t hi = message.stream_pos + std::max<std::uint64_t>(message.wire_size, 1);
    replay::DirectionStream stream;
    const auto& times = times_[direction];
    auto it = std::partition_point(times.begin(), times.end(),
                                   [&](const Timed& t) { return t.pos + t.len <= lo; });
    std::uint64_t longest = 0;
    for (; it != times.end() && it->pos < hi; ++it) {
        replay::StreamSegment s;
        s.pos = std::max(it->pos, lo);
        s.len = std::min(it->pos + it->len, hi) - s.pos;
        s.monotonic_ns = it->monotonic_ns;
        s.data_offset = 0;
        longest = std::max(longest, s.len);
        stream.segments.push_back(s);
    }
    // The bytes are not read, only their times: one buffer stands for all.
    stream.data.resize(static_cast<std::size_t>(longest));
    stream.end_pos = std::max(hi, decoder_.end_pos(direction));
    const StreamView view(stream);
    return finish_http1_message(view, std::move(message), limits_, budget_);
}

// As decode_connection does for the whole connection: exchange by exchange,
// the request and then its responses.
DecodedConnection Http2Streamer::finish_exchanges(std::vector<http2::Exchange> exchanges) {
    DecodedConnection dc;
    for (auto& x : exchanges) {
        http1::Pairing p;
        if (x.request) {
            p.request = dc.requests.size();
            dc.requests.push_back(finish_message(kWrite, std::move(*x.request)));
            if (part_.host.empty()) {
                const http1::Message& q = dc.requests.back().message;
                std::string_view host = q.value_of("Host");
                part_.host = host.empty() ? q.value_of(":authority") : host;
            }
        }
        for (auto& m : x.interim) {
            p.interim.push_back(dc.responses.size());
            dc.responses.push_back(finish_message(kRead, std::move(m)));
        }
        if (x.response) {
            p.response = dc.responses.size();
            dc.responses.push_back(finish_message(kRead, std::move(*x.response)));
        }
        dc.exchanges.push_back(std::move(p));
    }
    return dc;
}

void Http2Streamer::prune() {
    for (int d = 0; d < 2; ++d) {
        const std::uint64_t oldest = decoder_.oldest_needed(d);
        auto& times = times_[d];
        while (!times.empty() && times.front().pos + times.front().len <= oldest)
            times.pop_front();
        if (times.size() > 2 * compacted_[d] + 64)
            compact(d);
        if (times.empty())
            times.shrink_to_fit();
    }
}

// Keeps only the times a message still open can ask for (finish_message): of
// its first byte, its last one so far, its body pieces, and of the bytes not
// decoded yet. A stream left open long thus holds the times of its own frames,
// not of everything that came since. Done when the times doubled since the
// last time, so that it costs a constant per time kept.
void Http2Streamer::compact(int d) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> needed;  // [from, to)
    for (const auto& [index, m] : decoder_.direction(d).messages()) {
        needed.emplace_back(m.stream_pos, m.stream_pos + 1);
        const std::uint64_t last = m.stream_pos + (m.wire_size ? m.wire_size - 1 : 0);
        needed.emplace_back(last, last + 1);
        for (const auto& p : m.body_pieces) {
            if (p.len > 0)
                needed.emplace_back(p.stream_pos, p.stream_pos + p.len);
        }
    }
    std::sort(needed.begin(), needed.end());
    const std::uint64_t frontier = decoder_.direction(d).frontier();
    auto& times = times_[d];
    std::deque<Timed> kept;
    auto n = needed.begin();
    for (const Timed& t : times) {
        const std::uint64_t end = t.pos + t.len;
        while (n != needed.end() && n->second <= t.pos)
            ++n;
        // Ranges are sorted by start; one that starts before `end` and ends after
        // t.pos overlaps (those ending before t.pos were passed).
        bool keep = end > frontier;
        for (auto k = n; !keep && k != needed.end() && k->first < end; ++k)
            keep = k->second > t.pos;
        if (keep)
            kept.push_back(t);
    }
    times = std::move(kept);
    compacted_[d] = times.size();
}

Expected<void> Http2Streamer::finish(const replay::Connection& whole) {
    std::array<bool, 2> cut{};
    for (int d = 0; d < 2; ++d) {
        const replay::DirectionStream& stream = whole.streams[d];
        const StreamView view(stream);
        const auto& runs = view.runs();
        const std::uint64_t tapped_end = decoder_.end_pos(d) + waiting_bytes_in(d);
        cut[d] = tapped_end < view.end_pos();
        // The whole stream's first run goes on where the tapped bytes ended: its
        // segments wait with the rest, as the tapped ones did.
        if (!runs.empty() && runs.front().pos == tapped_end) {
            const ByteRun& run = runs.front();
            std::uint64_t fed = tapped_end;
            for (const replay::StreamSegment* s : view.segments()) {
                if (s->pos >= run.end())
                    break;
                seen_key_[d] = std::max(seen_key_[d], s->seq);
                seen_any_[d] = true;
                const std::uint64_t end = std::min(s->pos + s->len, run.end());
                if (end <= fed)
                    continue;
                const std::uint64_t from = std::max(s->pos, fed);
                Waiting w;
                w.direction = d;
                w.key = seen_key_[d];
                w.segment = *s;
                w.segment.pos = from;
                w.segment.len = end - from;
                const auto* p =
                    reinterpret_cast<const std::uint8_t*>(run.bytes.data()) + (from - run.pos);
                w.bytes.assign(p, p + (end - from));
                waiting_bytes_ += w.bytes.size();
                waiting_[d].push_back(std::move(w));
                fed = end;
            }
            cut[d] = runs.size() > 1 || run.end() < view.end_pos();
        }
    }
    if (auto r = pump(whole, true); !r)
        return r;
    for (int d = 0; d < 2; ++d)
        decoder_.end(d, cut[d]);
    std::vector<http2::Exchange> rest = decoder_.take_settled();
    DecodedConnection dc = finish_exchanges(std::move(rest));
    dc.source = &whole;
    dc.protocol = "http2";
    dc.views[kWrite] = StreamView(whole.streams[kWrite]);
    dc.views[kRead] = StreamView(whole.streams[kRead]);
    if (auto b = begin(whole); !b)
        return b;
    auto prepared = prepare_decoded(std::move(dc), policy_);
    return store_.end_connection(whole, *prepared, part_);
}

std::uint64_t Http2Streamer::waiting_bytes_in(int direction) const {
    std::uint64_t n = 0;
    for (const auto& w : waiting_[direction])
        n += w.bytes.size();
    return n;
}

}  // namespace ct::analyze

#include "stream/stream_view.hpp"

#include <algorithm>

namespace ct::analyze {

StreamView::StreamView(const replay::DirectionStream& stream)
    : end_pos_(stream.end_pos), monotonic_before_(stream.monotonic_before) {
    const char* base = reinterpret_cast<const char*>(stream.data.data());
    for (const auto& seg : stream.segments) {
        if (seg.is_gap) {
            gaps_.push_back(&seg);
            gap_bytes_ += seg.len;
            continue;
        }
        if (seg.len == 0 || seg.data_offset + seg.len > stream.data.size())
            continue;
        timed_.push_back(&seg);
        const char* p = base + seg.data_offset;
        // Extend the current run when this segment continues it both in the stream
        // and in the data buffer; otherwise start a new run.
        if (!runs_.empty() && runs_.back().end() == seg.pos &&
            runs_.back().bytes.data() + runs_.back().bytes.size() == p) {
            runs_.back().bytes =
                std::string_view(runs_.back().bytes.data(), runs_.back().bytes.size() + seg.len);
        } else {
            runs_.push_back(
                ByteRun{seg.pos, std::string_view(p, static_cast<std::size_t>(seg.len))});
        }
    }
    if (!runs_.empty())
        end_pos_ = std::max(end_pos_, runs_.back().end());
}

StreamView StreamView::timing_only(const replay::DirectionStream& stream) {
    StreamView v;
    v.end_pos_ = stream.end_pos;
    v.monotonic_before_ = stream.monotonic_before;
    for (const auto& seg : stream.segments) {
        if (seg.is_gap) {
            v.gaps_.push_back(&seg);
            v.gap_bytes_ += seg.len;
        } else if (seg.len > 0) {
            v.timed_.push_back(&seg);
            v.end_pos_ = std::max(v.end_pos_, seg.pos + seg.len);
        }
    }
    return v;
}

std::uint64_t StreamView::monotonic_at(std::uint64_t pos) const {
    if (timed_.empty())
        return monotonic_before_;  // bytes before begin_pos, if any, were the last

    auto it = std::upper_bound(
        timed_.begin(), timed_.end(), pos,
        [](std::uint64_t p, const replay::StreamSegment* s) { return p < s->pos; });
    if (it == timed_.begin())
        return (*it)->monotonic_ns;
    const replay::StreamSegment* seg = *(it - 1);
    if (pos < seg->pos + seg->len || it == timed_.end())
        return seg->monotonic_ns;
    return (*it)->monotonic_ns;  // pos is in a gap: the next captured bytes' time
}

std::size_t StreamView::run_at_or_after(std::uint64_t pos) const {
    auto it = std::upper_bound(runs_.begin(), runs_.end(), pos,
                               [](std::uint64_t p, const ByteRun& r) { return p < r.pos; });
    if (it != runs_.begin() && pos < (it - 1)->end())
        --it;
    return static_cast<std::size_t>(it - runs_.begin());
}

std::uint64_t StreamView::copy_range(std::uint64_t from, std::uint64_t to, std::string& out) const {
    std::uint64_t copied = 0;
    for (std::size_t i = run_at_or_after(from); i < runs_.size() && runs_[i].pos < to; ++i) {
        const ByteRun& r = runs_[i];
        std::uint64_t a = std::max(from, r.pos);
        std::uint64_t b = std::min(to, r.end());
        if (a >= b)
            continue;
        out.append(
            r.bytes.substr(static_cast<std::size_t>(a - r.pos), static_cast<std::size_t>(b - a)));
        copied += b - a;
    }
    return copied;
}

}  // namespace ct::analyze

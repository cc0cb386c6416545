// libFuzzer target: stream assembly (events into per-connection streams with
// gaps), from records as the reader delivers them, and the stream views over it;
// and the streamed assembly (StreamedCapture) hands over the same connections,
// in the same order, as the whole one.
#include "fuzz_support.hpp"
#include "stream/stream_view.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto records = ct::fuzz::records_from({data, size});
    ct::replay::LoadOptions options;
    options.max_held_bytes = 1u << 16;  // small, so that the cut is exercised too
    auto contents = ct::replay::build_contents(ct::fuzz::fuzz_header(0), records, {}, options);
    for (const auto& c : contents.connections) {
        for (const auto& s : c.streams) {
            // Segments are contiguous from 0 to end_pos, gaps included.
            std::uint64_t pos = 0;
            for (const auto& seg : s.segments) {
                if (seg.pos != pos || seg.len == 0)
                    __builtin_trap();
                if (!seg.is_gap && seg.data_offset + seg.len > s.data.size())
                    __builtin_trap();
                pos = seg.pos + seg.len;
            }
            if (pos != s.end_pos || s.end_pos > ct::replay::kMaxStreamPos)
                __builtin_trap();
            ct::analyze::StreamView view(s);
            std::string copy;
            view.copy_range(0, view.end_pos(), copy);
            if (copy.size() != s.data.size())
                __builtin_trap();
            (void)view.monotonic_at(view.end_pos() / 2);
        }
    }
    auto streamed =
        ct::replay::StreamedCapture::from_records(ct::fuzz::fuzz_header(0), records, {}, options);
    if (streamed.connection_count() != contents.connections.size())
        __builtin_trap();
    std::size_t i = 0;
    auto same = [](const ct::replay::DirectionStream& a, const ct::replay::DirectionStream& b) {
        if (a.end_pos != b.end_pos || a.gap_bytes != b.gap_bytes ||
            a.segments.size() != b.segments.size())
            return false;
        for (std::size_t k = 0; k < a.segments.size(); ++k) {
            const auto& x = a.segments[k];
            const auto& y = b.segments[k];
            if (x.pos != y.pos || x.len != y.len || x.is_gap != y.is_gap ||
                x.gap_reason != y.gap_reason || x.monotonic_ns != y.monotonic_ns)
                return false;
            if (!x.is_gap && !std::ranges::equal(a.bytes(x), b.bytes(y)))
                return false;
        }
        return true;
    };
    auto r = streamed.for_each_connection([&](ct::replay::Connection&& c) -> ct::Expected<void> {
        if (i >= contents.connections.size())
            __builtin_trap();
        const auto& w = contents.connections[i++];
        if (c.conn_gen != w.conn_gen || c.closed != w.closed || !same(c.streams[0], w.streams[0]) ||
            !same(c.streams[1], w.streams[1]))
            __builtin_trap();
        return {};
    });
    if (!r || i != contents.connections.size())
        __builtin_trap();
    return 0;
}

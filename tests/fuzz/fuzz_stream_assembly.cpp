// libFuzzer target: stream assembly (events into per-connection streams with
// gaps), from records as the reader delivers them, and the stream views over it.
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
    return 0;
}

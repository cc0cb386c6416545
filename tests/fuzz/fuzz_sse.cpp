// libFuzzer target: the SSE parser, event by event and as a whole body with gaps.
#include "fuzz_support.hpp"
#include "protocols/sse/parse.hpp"

using namespace ct::analyze;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto [controls, body] = ct::fuzz::take_controls(ct::fuzz::as_text(data, size));
    std::vector<std::uint64_t> gaps;
    for (char c : controls)
        gaps.push_back(body.size() * static_cast<unsigned char>(c) / 256);
    std::sort(gaps.begin(), gaps.end());
    auto decoded = sse::decode_body(body, gaps);
    if (decoded.events.size() > body.size())
        __builtin_trap();

    sse::StreamState state;
    std::string_view rest = body;
    while (!rest.empty()) {
        sse::Event event;
        bool dispatched = false;
        auto r = sse::parse_frame(rest, true, state, event, dispatched);
        if (r.state != ParseState::Success) {
            auto next = sse::find_frame_boundary(rest);
            if (!next || *next == 0)
                break;
            rest.remove_prefix(*next);
            continue;
        }
        if (r.consumed == 0 || r.consumed > rest.size())
            __builtin_trap();
        rest.remove_prefix(r.consumed);
    }
    return 0;
}

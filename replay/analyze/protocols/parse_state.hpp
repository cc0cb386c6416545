// The small interface every protocol parser follows (after Pixie's protocol
// parsers): parse one frame from the front of a byte view, say how far to skip
// to resynchronise after damage, and let a stitcher pair requests with
// responses. Running out of bytes is a normal outcome, not an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace ct::analyze {

enum class ParseState {
    Success,        // a whole frame was parsed; `consumed` bytes belong to it
    NeedsMoreData,  // the view ends inside a frame
    Invalid,        // the view does not start with a frame of this protocol
};

struct ParseResult {
    ParseState state = ParseState::NeedsMoreData;
    std::size_t consumed = 0;
    // With NeedsMoreData: the frame's total size when its head already tells
    // (a Content-Length body), so a reader can step over a gap inside it.
    std::optional<std::uint64_t> frame_size;
};

inline ParseResult parse_success(std::size_t consumed) {
    return {ParseState::Success, consumed, std::nullopt};
}
inline ParseResult parse_needs_more(std::optional<std::uint64_t> frame_size = std::nullopt) {
    return {ParseState::NeedsMoreData, 0, frame_size};
}
inline ParseResult parse_invalid() {
    return {ParseState::Invalid, 0, std::nullopt};
}

}  // namespace ct::analyze

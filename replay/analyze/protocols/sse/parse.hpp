// SSE framing over a byte view that may end anywhere.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "protocols/parse_state.hpp"
#include "protocols/sse/types.hpp"

namespace ct::analyze::sse {

// Parses from the front of `view` up to and including the blank line that ends an
// event. Success with `dispatched` false means only comments or empty events were
// consumed. `state` changes only on Success. `stream_ended`: no bytes follow.
ParseResult parse_frame(std::string_view view, bool stream_ended, StreamState& state, Event& out,
                        bool& dispatched);

// Offset just past the next blank line (an event boundary), or nullopt.
std::optional<std::size_t> find_frame_boundary(std::string_view view);

struct DecodedEvents {
    std::vector<EventView> events;  // views into `text`
    std::size_t dropped = 0;        // events cut by a gap or by the end of the body
    std::shared_ptr<const TextArena> text;
};

// Decodes a whole body; `gaps` are body offsets where bytes are missing (sorted).
// Decoding resumes at the next event boundary after each gap.
DecodedEvents decode_body(std::string_view body, const std::vector<std::uint64_t>& gaps = {});

}  // namespace ct::analyze::sse

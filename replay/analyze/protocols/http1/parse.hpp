// HTTP/1.x framing (RFC 9112) over a byte view that may end anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "protocols/http1/types.hpp"
#include "protocols/parse_state.hpp"

namespace ct::analyze::http1 {

// A head bigger than this is not HTTP (or is hostile); it bounds the search for its end.
inline constexpr std::size_t kMaxHeadSize = 256 * 1024;

struct ParseContext {
    std::uint64_t base_pos = 0;       // stream position of view[0]
    std::string_view request_method;  // responses: the method answered ("" if unknown)
    bool stream_ended = false;        // nothing follows the view: an until-close body ends here
    // The blank line ending the head is known not to end before this view offset
    // (an earlier attempt searched there): start looking from it.
    std::size_t head_search_from = 0;
    // Set to the view offset up to which no blank line was found when the head
    // was given up as too long (so the next attempt need not search again).
    std::size_t* head_searched_to = nullptr;
    std::size_t body_limit = std::numeric_limits<std::size_t>::max();  // Message::body_limit
};

// Parses one message from the front of `view` into `out` (which it resets).
// On NeedsMoreData, `out` holds what was parsed so far (head_parsed tells if the
// head is complete) and frame_size is set when the head fixed the message size.
ParseResult parse_frame(MessageKind kind, std::string_view view, const ParseContext& context,
                        Message& out);

// Chunked body data from view[pos] (a chunk-size line expected); on Success pos
// is past the trailers. With NeedsMoreData inside or right after a chunk's data,
// *data_end_pos (if given) is the stream position where that chunk's data ends,
// so a reader can continue after a gap.
ParseState parse_chunks(std::string_view view, std::size_t& pos, std::uint64_t base_pos,
                        Message& out, std::optional<std::uint64_t>* data_end_pos);

// Offset of the first plausible chunk-size line (at the start of the view or
// after a CRLF; a hex size whose data ends in CRLF inside the view), or nullopt.
std::optional<std::size_t> find_chunk_boundary(std::string_view view);

// Offset of the first plausible message start at or after `from`, searching only at
// line starts; nullopt if none.
std::optional<std::size_t> find_frame_boundary(MessageKind kind, std::string_view view,
                                               std::size_t from = 0);

// True if the view starts with the HTTP/2 connection preface.
bool is_http2_preface(std::string_view view);

}  // namespace ct::analyze::http1

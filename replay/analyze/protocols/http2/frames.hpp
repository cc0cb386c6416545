// HTTP/2 framing (RFC 9113 section 4): parse one frame from a byte view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/parse_state.hpp"

namespace ct::analyze::http2 {

inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr std::size_t kFrameHeaderSize = 9;
// Frames above the largest SETTINGS_MAX_FRAME_SIZE a peer may allow are damage.
inline constexpr std::uint32_t kMaxFrameSize = (1u << 24) - 1;

enum FrameType : std::uint8_t {
    kData = 0,
    kHeaders = 1,
    kPriority = 2,
    kRstStream = 3,
    kSettings = 4,
    kPushPromise = 5,
    kPing = 6,
    kGoaway = 7,
    kWindowUpdate = 8,
    kContinuation = 9,
};

enum FrameFlags : std::uint8_t {
    kEndStream = 0x1,
    kAck = 0x1,
    kEndHeaders = 0x4,
    kPadded = 0x8,
    kPriorityFlag = 0x20,
};

struct Frame {
    std::uint32_t length = 0;
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::uint32_t stream_id = 0;
    std::string_view payload;                       // the whole payload, padding included
    std::size_t payload_offset = kFrameHeaderSize;  // in the parsed view

    // DATA/HEADERS payload without padding (and HEADERS without the priority
    // fields); false if the padding is longer than the payload.
    bool content(std::string_view& out, std::size_t& offset_in_payload) const;
};

// One frame from the front of `view`.
ParseResult parse_frame(std::string_view view, Frame& out);

}  // namespace ct::analyze::http2

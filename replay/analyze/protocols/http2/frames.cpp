#include "protocols/http2/frames.hpp"

namespace ct::analyze::http2 {

ParseResult parse_frame(std::string_view view, Frame& out) {
    if (view.size() < kFrameHeaderSize)
        return parse_needs_more();
    const auto* p = reinterpret_cast<const unsigned char*>(view.data());
    out.length = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    out.type = p[3];
    out.flags = p[4];
    out.stream_id = ((std::uint32_t{p[5]} << 24) | (std::uint32_t{p[6]} << 16) |
                     (std::uint32_t{p[7]} << 8) | p[8]) &
                    0x7fffffffu;
    if (out.length > kMaxFrameSize)
        return parse_invalid();
    const std::uint64_t total = kFrameHeaderSize + std::uint64_t{out.length};
    if (view.size() < total)
        return parse_needs_more(total);
    out.payload = view.substr(kFrameHeaderSize, out.length);
    out.payload_offset = kFrameHeaderSize;
    return parse_success(static_cast<std::size_t>(total));
}

bool Frame::content(std::string_view& out, std::size_t& offset_in_payload) const {
    std::string_view body = payload;
    offset_in_payload = 0;
    std::size_t pad = 0;
    if ((type == kData || type == kHeaders || type == kPushPromise) && (flags & kPadded)) {
        if (body.empty())
            return false;
        pad = static_cast<unsigned char>(body[0]);
        body.remove_prefix(1);
        offset_in_payload = 1;
    }
    if (type == kHeaders && (flags & kPriorityFlag)) {
        if (body.size() < 5)
            return false;
        body.remove_prefix(5);
        offset_in_payload += 5;
    }
    if (type == kPushPromise) {
        if (body.size() < 4)
            return false;
        body.remove_prefix(4);
        offset_in_payload += 4;
    }
    if (pad > body.size())
        return false;
    out = body.substr(0, body.size() - pad);
    return true;
}

}  // namespace ct::analyze::http2

// Walks one direction of a connection message by message, across gaps: a gap
// inside a body of known length is stepped over (the message is marked
// incomplete); any other damage makes the decoder search for the next message
// start.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "protocols/http1/parse.hpp"
#include "stream/stream_view.hpp"

namespace ct::analyze::http1 {

class StreamDecoder {
  public:
    // `closed`: the connection ended inside the capture, so a body that runs until
    // close is complete when the stream ends.
    // `body_limit`: body bytes kept per message at most (Message::body_limit).
    // `start`: where a message starts (a stream whose earlier messages were
    // decoded already, see ExchangeStreamer).
    StreamDecoder(MessageKind kind, const StreamView& view, bool closed,
                  std::size_t body_limit = std::numeric_limits<std::size_t>::max(),
                  std::uint64_t start = 0)
        : kind_(kind), view_(&view), closed_(closed), body_limit_(body_limit), pos_(start) {}

    // The next message, or nullopt when the stream holds no more. For responses,
    // `request_method` is the method of the request being answered.
    std::optional<Message> next(std::string_view request_method = {});

    std::uint64_t position() const { return pos_; }
    std::uint64_t skipped_bytes() const { return skipped_; }  // captured bytes in no message
    std::uint64_t resyncs() const { return resyncs_; }

  private:
    std::uint64_t collect_until(std::size_t run_index, std::uint64_t end, Message& msg) const;
    bool run_end_in_message(std::size_t run_index, std::uint64_t end) const;
    Message continue_chunked(std::size_t run_index, std::string_view view, std::uint64_t start,
                             Message msg);
    void start_resync();

    MessageKind kind_;
    const StreamView* view_;
    bool closed_;
    std::size_t body_limit_;
    std::uint64_t pos_ = 0;
    bool resync_ = false;
    bool mark_next_ = false;
    std::uint64_t skipped_ = 0;
    std::uint64_t resyncs_ = 0;
    std::uint64_t no_head_end_before_ = 0;  // stream position: no head's blank line ends before it
};

}  // namespace ct::analyze::http1

// Server-sent events (WHATWG HTML, "Server-sent events" section 9.2).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ct::analyze::sse {

struct Event {
    std::string type;           // "message" when the stream named none
    std::string data;           // data lines joined with LF
    std::string last_event_id;  // the stream's last event ID when this one fired
    bool has_id = false;        // this event carried an id field itself
    std::optional<std::uint64_t> retry_ms;
    std::uint64_t start_offset = 0;  // body offset of the event's first line
    std::uint64_t end_offset = 0;    // body offset just past the blank line that fired it
};

// Holds strings one after the other in blocks that never move, so that the
// views it gives out stay valid for as long as it lives.
class TextArena {
  public:
    // `first_block`: the size of the first block (what is expected in all).
    explicit TextArena(std::size_t first_block = 0) : next_block_(first_block) {}
    std::string_view add(std::string_view s);
    std::size_t size() const { return stored_; }

  private:
    std::vector<std::unique_ptr<char[]>> blocks_;
    std::size_t used_ = 0;  // in the last block
    std::size_t capacity_ = 0;
    std::size_t next_block_;
    std::size_t stored_ = 0;
};

// An event as a decoded body keeps it: its strings are views into the body's
// TextArena (DecodedEvents::text), which holds each data once and an event type
// or id only when it differs from the event before; about 90 bytes per event
// besides its text, where an Event takes about 200.
struct EventView {
    std::string_view type;           // "message" when the stream named none
    std::string_view data;           // data lines joined with LF
    std::string_view last_event_id;  // the stream's last event ID when this one fired
    std::optional<std::uint64_t> retry_ms;
    std::uint64_t start_offset = 0;  // body offset of the event's first line
    std::uint64_t end_offset = 0;    // body offset just past the blank line that fired it
    bool has_id = false;             // this event carried an id field itself
};

// What persists between events.
struct StreamState {
    std::string last_event_id;
    bool after_cr = false;  // the previous frame ended on CR: a leading LF belongs to it
    bool started = false;   // the byte-order mark is only skipped at the very start
};

}  // namespace ct::analyze::sse

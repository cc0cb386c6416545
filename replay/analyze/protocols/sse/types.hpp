// Server-sent events (WHATWG HTML, "Server-sent events" section 9.2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

// What persists between events.
struct StreamState {
    std::string last_event_id;
    bool after_cr = false;  // the previous frame ended on CR: a leading LF belongs to it
    bool started = false;   // the byte-order mark is only skipped at the very start
};

}  // namespace ct::analyze::sse

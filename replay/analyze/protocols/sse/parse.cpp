#include "protocols/sse/parse.hpp"

#include <algorithm>

namespace ct::analyze::sse {
namespace {

// Index of the first CR or LF at or after `from`, or npos.
std::size_t find_line_end(std::string_view view, std::size_t from) {
    for (std::size_t i = from; i < view.size(); ++i) {
        char c = view[i];
        if (c == '\n' || c == '\r')
            return i;
    }
    return std::string_view::npos;
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A line that can start an event: a known field name and a colon, or a comment.
bool starts_with_field(std::string_view s) {
    if (!s.empty() && s.front() == ':')
        return true;
    for (std::string_view f : {"event:", "data:", "id:", "retry:"}) {
        if (s.substr(0, f.size()) == f)
            return true;
    }
    return false;
}

}  // namespace

ParseResult parse_frame(std::string_view view, bool stream_ended, StreamState& state, Event& out,
                        bool& dispatched) {
    dispatched = false;
    std::size_t pos = 0;
    if (state.after_cr && !view.empty() && view[0] == '\n')
        pos = 1;
    if (!state.started) {
        if (view.size() < 3 && std::string_view("\xEF\xBB\xBF").substr(0, view.size()) == view &&
            !stream_ended) {
            return parse_needs_more();
        }
        if (view.substr(0, 3) == "\xEF\xBB\xBF")
            pos = 3;
    }

    std::string type;
    std::string data;
    bool has_data = false;
    std::string last_id = state.last_event_id;
    bool has_id = false;
    std::optional<std::uint64_t> retry;
    const std::size_t start = pos;

    while (true) {
        std::size_t eol = find_line_end(view, pos);
        if (eol == std::string_view::npos)
            return parse_needs_more();
        std::size_t next = eol + 1;
        bool lone_cr = false;
        if (view[eol] == '\r') {
            if (next < view.size() && view[next] == '\n') {
                ++next;
            } else {
                lone_cr = true;
            }
        }
        std::string_view line = view.substr(pos, eol - pos);
        pos = next;
        if (line.empty() && lone_cr && next == view.size() && !stream_ended) {
            // A CR ending the view may be half of a CRLF: wait, so the frame's end
            // does not depend on where the bytes were cut.
            return parse_needs_more();
        }
        if (line.empty()) {
            if (!has_data) {
                // Nothing to fire (a comment block or an event without data): the
                // frame ends here without an event, as the spec resets its buffers.
                state.after_cr = lone_cr;
                state.started = true;
                state.last_event_id = last_id;
                return parse_success(pos);
            }
            if (!data.empty() && data.back() == '\n')
                data.pop_back();
            out.type = type.empty() ? "message" : std::move(type);
            out.data = std::move(data);
            out.last_event_id = last_id;
            out.has_id = has_id;
            out.retry_ms = retry;
            out.start_offset = start;
            out.end_offset = pos;
            state.after_cr = lone_cr;
            state.started = true;
            state.last_event_id = last_id;
            dispatched = true;
            return parse_success(pos);
        }
        if (line.front() == ':')
            continue;  // comment
        std::size_t colon = line.find(':');
        std::string_view field = line.substr(0, colon);
        std::string_view value;
        if (colon != std::string_view::npos) {
            value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ')
                value.remove_prefix(1);
        }
        if (field == "event") {
            type.assign(value);
        } else if (field == "data") {
            data.append(value);
            data.push_back('\n');
            has_data = true;
        } else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) {
                last_id.assign(value);
                has_id = true;
            }
        } else if (field == "retry") {
            if (all_digits(value) && value.size() <= 18) {
                std::uint64_t ms = 0;
                for (char c : value)
                    ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
                retry = ms;
            }
        }
        // Other field names are ignored, as the spec says.
    }
}

std::optional<std::size_t> find_frame_boundary(std::string_view view) {
    std::size_t pos = 0;
    while (true) {
        std::size_t eol = find_line_end(view, pos);
        if (eol == std::string_view::npos)
            return std::nullopt;
        std::size_t next = eol + 1;
        if (view[eol] == '\r' && next < view.size() && view[next] == '\n')
            ++next;
        if (next < view.size() && (view[next] == '\n' || view[next] == '\r')) {
            std::size_t after = next + 1;
            if (view[next] == '\r' && after < view.size() && view[after] == '\n')
                ++after;
            return after;
        }
        pos = next;
    }
}

namespace {

// About how many events `body` holds (its blank lines after LF; CR-only streams
// are not counted), so that the event list is allocated once: growing it by
// doubling would hold up to three times the events' size at its peak.
std::size_t estimated_events(std::string_view body) {
    std::size_t n = 0;
    for (std::size_t at = body.find('\n'); at != std::string_view::npos;
         at = body.find('\n', at + 1)) {
        if (at + 1 < body.size() &&
            (body[at + 1] == '\n' ||
             (body[at + 1] == '\r' && at + 2 < body.size() && body[at + 2] == '\n')))
            ++n;
    }
    return n;
}

}  // namespace

std::string_view TextArena::add(std::string_view s) {
    if (s.empty())
        return {};
    if (capacity_ - used_ < s.size()) {
        capacity_ = std::max({next_block_, s.size(), std::size_t{4096}});
        next_block_ = std::max<std::size_t>(capacity_ / 4, 4096);  // (expected: none)
        // Left uninitialised: pages not written take no memory.
        blocks_.push_back(std::unique_ptr<char[]>(new char[capacity_]));
        used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    std::copy(s.begin(), s.end(), at);
    used_ += s.size();
    stored_ += s.size();
    return {at, s.size()};
}

DecodedEvents decode_body(std::string_view body, const std::vector<std::uint64_t>& gaps) {
    DecodedEvents result;
    result.events.reserve(estimated_events(body));
    // The events' strings come from distinct lines of the body, so they fit in
    // its size (types and ids are stored again only when they change).
    auto text = std::make_shared<TextArena>(body.size());
    auto keep = [&](Event&& event) {
        EventView v;
        const EventView* prev = result.events.empty() ? nullptr : &result.events.back();
        if (event.type == "message")
            v.type = "message";
        else if (prev && prev->type == event.type)
            v.type = prev->type;
        else
            v.type = text->add(event.type);
        v.data = text->add(event.data);
        if (prev && prev->last_event_id == event.last_event_id)
            v.last_event_id = prev->last_event_id;
        else
            v.last_event_id = text->add(event.last_event_id);
        v.retry_ms = event.retry_ms;
        v.start_offset = event.start_offset;
        v.end_offset = event.end_offset;
        v.has_id = event.has_id;
        result.events.push_back(v);
    };
    StreamState state;
    std::size_t segment_start = 0;
    std::size_t gap_index = 0;
    bool resync = false;
    bool clean_end = false;  // the segment before the gap ended right after an event
    while (segment_start <= body.size()) {
        while (gap_index < gaps.size() && gaps[gap_index] < segment_start)
            ++gap_index;
        const bool gap_follows = gap_index < gaps.size() && gaps[gap_index] <= body.size();
        const std::size_t segment_end =
            gap_follows ? static_cast<std::size_t>(gaps[gap_index]) : body.size();
        std::string_view segment = body.substr(segment_start, segment_end - segment_start);
        std::size_t pos = 0;
        // After a gap, decoding goes on at once if the gap fell between events (the
        // one before it had ended and a field follows) or an "event:" line follows,
        // which in practice starts an event; otherwise it skips to the next boundary.
        const bool at_event =
            (clean_end && starts_with_field(segment)) || segment.substr(0, 6) == "event:";
        if (resync && !at_event) {
            auto boundary = find_frame_boundary(segment);
            pos = boundary ? *boundary : segment.size();
            resync = !boundary;
            state.after_cr = false;
        } else if (resync) {
            resync = false;
            state.after_cr = false;
        }
        clean_end = false;
        while (pos < segment.size()) {
            Event event;
            bool dispatched = false;
            ParseResult r =
                parse_frame(segment.substr(pos), !gap_follows, state, event, dispatched);
            if (r.state != ParseState::Success) {
                ++result.dropped;  // an event cut by the gap or by the end of the body
                break;
            }
            clean_end = pos + r.consumed == segment.size();
            if (dispatched) {
                event.start_offset += segment_start + pos;
                event.end_offset += segment_start + pos;
                keep(std::move(event));
            }
            pos += r.consumed;
        }
        if (!gap_follows)
            break;
        resync = true;
        segment_start = segment_end;
        ++gap_index;
    }
    result.text = std::move(text);
    return result;
}

}  // namespace ct::analyze::sse

// The exchanges of a capture, in the form ct-replay serves them: each request
// with its decoded body and each final response as it was framed on the wire.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "capture/capture_reader.hpp"
#include "protocols/sse/types.hpp"

namespace ct::replay::serve {

struct RecordedHeader {
    std::string name;
    std::string value;
};

// A piece of a response body and the delay before it is sent.
struct BodyChunk {
    std::uint64_t delay_ns = 0;  // after the previous chunk (or the head), as recorded
    std::string bytes;
};

struct RecordedExchange {
    std::size_t number = 0;  // 1-based, in the order the requests were sent
    std::uint64_t conn_gen = 0;
    std::string host;  // Host or :authority as recorded
    std::string method;
    std::string target;
    std::string request_body;  // Content-Encoding undone
    std::uint64_t request_monotonic_ns = 0;

    int status = 0;
    std::string reason;
    // From the request's last byte to the response's first, as recorded (the
    // server's thinking time plus the network).
    std::uint64_t response_delay_ns = 0;
    std::vector<RecordedHeader> headers;  // hop-by-hop, framing and pseudo headers removed
    std::string content_encoding;         // kept among headers; the body stays encoded
    bool sse = false;
    std::size_t sse_events = 0;
    // The body as recorded (still content-encoded); one chunk per SSE event for an
    // unencoded event stream, otherwise one chunk.
    std::vector<BodyChunk> chunks;
};

struct Recording {
    std::vector<RecordedExchange> exchanges;
    std::vector<std::string> skipped;  // exchanges that cannot be served, and why
    std::uint64_t first_monotonic_ns = 0;
};

// Cuts an unencoded event-stream body after each event, each piece with the wait
// before it: `times[i]` is when event i arrived (events without a time follow at
// once), the first wait counts from `start_ns`. What follows the last event is one
// more piece.
std::vector<BodyChunk> sse_chunks(std::string body, std::span<const analyze::sse::EventView> events,
                                  std::span<const std::uint64_t> times, std::uint64_t start_ns);

// Reads the capture and keeps every exchange that has a request and a complete final response.
Expected<Recording> load_recording(const std::string& capture_path);

// The same from a ct-analyze database: the exchanges of one capture (by UUID; may
// be empty when the database holds one capture). Bodies there are decoded, so
// they are served without their Content-Encoding. With `conversation` (the hex key
// v_llm_conversations shows), only the LLM calls of that conversation.
Expected<Recording> load_recording_from_db(const std::string& db_path,
                                           const std::string& capture_uuid,
                                           const std::string& conversation = {});

// Hop-by-hop, framing and HTTP/2 pseudo-headers: the server writes its own.
bool is_framing_header(std::string_view name);

}  // namespace ct::replay::serve

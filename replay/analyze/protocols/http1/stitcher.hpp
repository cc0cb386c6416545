// Pairs responses with the requests they answer.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "protocols/http1/types.hpp"

namespace ct::analyze::http1 {

struct Pairing {
    std::optional<std::size_t> request;   // index into requests
    std::optional<std::size_t> response;  // index into responses (final response)
    std::vector<std::size_t> interim;     // 1xx responses before the final one
};

// HTTP/1.1 answers in request order, so pairing is first-in first-out, checked
// by time: a response never answers a request sent after it started. After
// decoding resynchronised (responses may have been lost), a response answers
// the latest request sent before it and earlier unanswered requests stay alone.
// Every request and response appears in exactly one pairing, in request order.
std::vector<Pairing> stitch(const std::vector<Message>& requests,
                            const std::vector<Message>& responses);

}  // namespace ct::analyze::http1

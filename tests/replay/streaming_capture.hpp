// What the streaming import tests (streaming_import_test.cpp,
// exchange_streaming_test.cpp) build their synthetic captures from.
#pragma once

#include <cstddef>
#include <string>

#include "gzip.hpp"
#include "llm_fixtures.hpp"

namespace ct::testing {

inline constexpr std::size_t kKiB = 1024;

inline std::string gzip_of(const std::string& in) {
    return gzip(in, 9);
}

// The response to kAnthropicStreamRequestBody: SSE events, chunked.
inline std::string anthropic_sse() {
    std::string sse = sse_response_head();
    for (const auto& e : anthropic_stream_events())
        sse += chunk(e);
    return sse + "0\r\n\r\n";
}

}  // namespace ct::testing

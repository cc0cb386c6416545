// A connection's first exchange decoded as an LLM call, for the decoder tests.
#pragma once

#include <memory>
#include <optional>

#include "capture/capture_contents.hpp"
#include "connection_decoder.hpp"
#include "llm/llm_call.hpp"

namespace ct::testing {

struct Decoded {
    analyze::DecodedConnection dc;
    std::optional<analyze::llm::LlmCall> call;  // none without a request
};

// Decodes `conn`, then its first request (with the last response, if any) as an LLM call.
inline std::unique_ptr<Decoded> decode(const replay::Connection& conn) {
    auto d = std::make_unique<Decoded>();
    d->dc = analyze::decode_connection(conn);
    if (d->dc.requests.empty())
        return d;
    const analyze::DecodedMessage* response =
        d->dc.responses.empty() ? nullptr : &d->dc.responses.back();
    d->call = analyze::llm::decode_llm_call(d->dc.requests[0], response);
    return d;
}

}  // namespace ct::testing

// The request and response one LLM fuzz input describes:
// "<flags byte><request body>\n~~\n<response body>". Flag bit 0: the response is
// an SSE stream (its body is decoded into events); bits 1-2 pick the API.
#pragma once

#include "connection_decoder.hpp"
#include "fuzz_support.hpp"
#include "llm/llm_call.hpp"

namespace ct::fuzz {

struct LlmExchange {
    analyze::DecodedMessage request;
    analyze::DecodedMessage response;
    unsigned flags = 0;
};

inline LlmExchange llm_exchange(std::string_view in, std::string_view target) {
    LlmExchange x;
    if (!in.empty()) {
        x.flags = static_cast<unsigned char>(in[0]);
        in.remove_prefix(1);
    }
    auto [request_body, response_body] = split_two(in);
    auto& q = x.request.message;
    q.kind = analyze::http1::MessageKind::Request;
    q.method = "POST";
    q.target = std::string(target);
    q.headers.push_back({"Content-Type", "application/json"});
    q.complete = true;
    x.request.body.bytes = std::string(request_body);
    auto& r = x.response.message;
    r.kind = analyze::http1::MessageKind::Response;
    r.status = 200;
    r.complete = true;
    r.end_monotonic_ns = 2'000'000'000;
    x.response.body.bytes = std::string(response_body);
    x.response.is_sse = x.flags & 1;
    if (x.response.is_sse) {
        r.headers.push_back({"Content-Type", "text/event-stream"});
        x.response.sse = analyze::sse::decode_body(x.response.body.bytes);
        for (std::size_t i = 0; i < x.response.sse.events.size(); ++i) {
            x.response.sse_monotonic_ns.push_back(1'000'000'000 + i * 1000);
            x.response.sse_stream_pos.push_back(i);
        }
    } else {
        r.headers.push_back({"Content-Type", "application/json"});
    }
    return x;
}

// What the importer does with a decoded call besides storing its fields.
inline void use_call(const analyze::llm::LlmCall& call) {
    (void)analyze::llm::tool_calls_json(call.tool_calls);
    (void)analyze::llm::system_text(call.system_json);
    (void)analyze::llm::conversation_opening(call);  // the conversation key's input
    (void)analyze::llm::opening_prompt(call);        // llm_calls.opening_prompt
    for (std::string_view m : call.messages) {
        if (m.empty())
            __builtin_trap();
    }
}

}  // namespace ct::fuzz

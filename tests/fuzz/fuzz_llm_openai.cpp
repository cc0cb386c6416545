// libFuzzer target: the OpenAI decoders, Chat Completions and Responses
// (request JSON, response JSON or SSE stream).
#include "llm_fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = ct::fuzz::as_text(data, size);
    const bool responses_api = !in.empty() && (static_cast<unsigned char>(in[0]) & 4);
    auto x = ct::fuzz::llm_exchange(in, responses_api ? "/v1/responses" : "/v1/chat/completions");
    auto call = ct::analyze::llm::decode_llm_call(x.request, (x.flags & 2) ? nullptr : &x.response);
    if (!call || call->provider != "openai")
        __builtin_trap();
    ct::fuzz::use_call(*call);
    return 0;
}

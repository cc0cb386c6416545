// libFuzzer target: the Anthropic Messages decoder (request JSON, response JSON
// or SSE stream).
#include "llm_fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto x = ct::fuzz::llm_exchange(ct::fuzz::as_text(data, size), "/v1/messages");
    auto call = ct::analyze::llm::decode_llm_call(x.request, (x.flags & 2) ? nullptr : &x.response);
    if (!call || call->provider != "anthropic")
        __builtin_trap();
    ct::fuzz::use_call(*call);
    return 0;
}

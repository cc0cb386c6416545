// libFuzzer target: the Gemini decoder (request JSON; response JSON, SSE stream
// or JSON-array stream). Flag bits 2-3 pick the path: streamGenerateContent of
// the Gemini API, generateContent on Vertex AI, countTokens, Code Assist.
#include "llm_fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static constexpr std::string_view kTargets[] = {
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
        "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:"
        "generateContent",
        "/v1beta/models/gemini-2.5-pro:countTokens",
        "/v1internal:streamGenerateContent?alt=sse",
    };
    std::string_view in = ct::fuzz::as_text(data, size);
    const unsigned pick = in.empty() ? 0 : (static_cast<unsigned char>(in[0]) >> 2) & 3;
    auto x = ct::fuzz::llm_exchange(in, kTargets[pick]);
    auto call = ct::analyze::llm::decode_llm_call(x.request, (x.flags & 2) ? nullptr : &x.response);
    if (!call || call->provider != "google")
        __builtin_trap();
    ct::fuzz::use_call(*call);
    return 0;
}

#include "llm/llm_call.hpp"

#include "llm/json_util.hpp"

namespace ct::analyze::llm {
namespace {

std::string_view path_of(std::string_view target) {
    // Absolute-form targets (through proxies) carry scheme and authority.
    if (std::size_t scheme = target.find("://"); scheme != std::string_view::npos) {
        std::size_t slash = target.find('/', scheme + 3);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    return target.substr(0, target.find_first_of("?#"));
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

ToolCall make_tool_call(std::string id, std::string name, std::string arguments) {
    ToolCall call{std::move(id), std::move(name), {}, true, std::move(arguments)};
    std::string_view text = call.input_raw.empty() ? std::string_view("{}") : call.input_raw;
    if (parse_json(text).is_discarded()) {
        call.input_json = call.input_raw;
        call.input_valid = false;
    } else {
        call.input_json = compact_json(text);
    }
    return call;
}

std::string with_input_member(std::string object, const ToolCall& call) {
    if (object.size() < 2 || object.back() != '}')
        object = "{}";
    object.pop_back();
    if (object.size() > 1)
        object += ',';
    object += "\"input\":";
    object += call.input_valid ? call.input_json : dump(Json(call.input_json));
    object += '}';
    return object;
}

std::string system_text(std::string_view system_json) {
    if (system_json.empty())
        return {};
    return content_text(parse_json(system_json));
}

std::string tool_calls_json(const std::vector<ToolCall>& calls) {
    std::string out = "[";
    for (const auto& c : calls) {
        if (out.size() > 1)
            out += ',';
        // {"id":..,"name":..,"input":..}: the input as the model ordered it.
        out += with_input_member(
            "{\"id\":" + dump(Json(c.id)) + ",\"name\":" + dump(Json(c.name)) + "}", c);
    }
    return out + "]";
}

std::optional<LlmCall> decode_llm_call(const DecodedMessage& request,
                                       const DecodedMessage* response) {
    const auto& m = request.message;
    if (!http1::iequals(m.method, "POST"))
        return std::nullopt;
    std::string_view path = path_of(m.target);
    LlmCall call;
    if (ends_with(path, "/v1/messages") ||
        (ends_with(path, "/messages") && m.find("anthropic-version") != nullptr)) {
        call.provider = "anthropic";
        call.api = "messages";
        decode_anthropic_request(request, call);
        if (response)
            decode_anthropic_response(*response, call);
    } else if (ends_with(path, "/chat/completions")) {
        call.provider = "openai";
        call.api = "chat.completions";
        decode_openai_chat_request(request, call);
        if (response)
            decode_openai_chat_response(*response, call);
    } else if (ends_with(path, "/v1/responses") || ends_with(path, "/openai/responses")) {
        call.provider = "openai";
        call.api = "responses";
        decode_openai_responses_request(request, call);
        if (response)
            decode_openai_responses_response(*response, call);
    } else if (auto gemini = gemini_path(path)) {
        call.provider = "google";
        call.api = std::string(gemini->method);
        call.model = gemini->model;
        call.streamed = gemini->method == "streamGenerateContent";
        call.in_conversation = gemini->method != "countTokens";
        decode_gemini_request(request, call);
        if (response)
            decode_gemini_response(*response, call);
    } else {
        return std::nullopt;
    }
    if (!response && call.error.empty())
        call.error = "no response captured";
    return call;
}

}  // namespace ct::analyze::llm

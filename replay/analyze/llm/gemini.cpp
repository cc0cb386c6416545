// Google's Gemini API: POST .../models/MODEL:generateContent, :streamGenerateContent
// and :countTokens, on generativelanguage.googleapis.com (/v1beta/models/...), on
// Vertex AI (/v1/projects/P/locations/L/publishers/google/models/...) and through
// Code Assist (/v1internal:..., the request and each answer wrapped in an object).
// A stream is either SSE (?alt=sse), one GenerateContentResponse per event, or a
// JSON array of them read as it grows.
#include "llm/json_scan.hpp"
#include "llm/json_util.hpp"
#include "llm/llm_call.hpp"

namespace ct::analyze::llm {
namespace {

constexpr std::string_view kMethods[] = {"generateContent", "streamGenerateContent", "countTokens"};

// Either spelling: the REST API takes lowerCamelCase and snake_case field names.
bool key_is(std::string_view key, std::string_view camel, std::string_view snake) {
    return key == camel || key == snake;
}

std::string strip_models_prefix(std::string model) {
    constexpr std::string_view prefix = "models/";
    if (model.starts_with(prefix))
        model.erase(0, prefix.size());
    return model;
}

void read_usage(const Json& usage, Usage& out) {
    if (auto v = int_member(usage, "promptTokenCount"))
        out.input_tokens = v;
    if (auto v = int_member(usage, "candidatesTokenCount"))
        out.output_tokens = v;
    if (auto v = int_member(usage, "cachedContentTokenCount"))
        out.cache_read_input_tokens = v;
    if (auto v = int_member(usage, "thoughtsTokenCount"))
        out.reasoning_tokens = v;
}

void read_error(const Json& body, LlmCall& call) {
    const Json* error = member(body, "error");
    if (!error || !error->is_object())
        return;
    call.error = string_member(*error, "status");
    if (call.error.empty()) {
        if (auto code = int_member(*error, "code"))
            call.error = std::to_string(*code);
    }
    std::string message = string_member(*error, "message");
    if (!message.empty())
        call.error += (call.error.empty() ? "" : ": ") + message;
}

// The answer's parts, consecutive text of one kind (answer or thought) merged the
// way a client shows them.
struct Part {
    bool text = false;
    bool thought = false;
    std::string value;  // text: the merged text; else the part's compact JSON
    Json first;         // text: the first part of the run (keeps thoughtSignature)
};

struct Answer {
    std::vector<Part> parts;
    std::size_t chunks = 0;
};

// One GenerateContentResponse (a whole answer, or one chunk of a stream). `raw` is
// its text, for function call arguments as the model spelled them. true if it
// carried a token (text, thought or function call).
bool apply_response(std::string_view raw, const Json& response_in, LlmCall& call, Answer& answer) {
    const Json* response = &response_in;
    // Code Assist: {"response": {...}, "traceId": "..."}.
    if (const Json* inner = member(response_in, "response");
        inner && inner->is_object() && !member(response_in, "candidates")) {
        std::string trace = string_member(response_in, "traceId");
        if (!trace.empty())
            call.response_id = trace;
        response = inner;
        raw = member_raw(raw, "response");
    }
    ++answer.chunks;
    read_error(*response, call);
    std::string id = string_member(*response, "responseId");
    if (!id.empty())
        call.response_id = id;
    std::string version = string_member(*response, "modelVersion");
    if (!version.empty())
        call.response_model = version;
    if (const Json* usage = member(*response, "usageMetadata"))
        read_usage(*usage, call.usage);
    if (const Json* feedback = member(*response, "promptFeedback")) {
        std::string blocked = string_member(*feedback, "blockReason");
        if (!blocked.empty())
            call.stop_reason = blocked;
    }
    const Json* candidates = member(*response, "candidates");
    if (!candidates || !candidates->is_array())
        return false;
    // The first candidate (index 0); more exist only when the request asked for them.
    std::size_t chosen = candidates->size();
    for (std::size_t i = 0; i < candidates->size(); ++i) {
        if (int_member((*candidates)[i], "index").value_or(0) == 0) {
            chosen = i;
            break;
        }
    }
    if (chosen == candidates->size())
        return false;
    const Json& candidate = (*candidates)[chosen];
    std::string finish = string_member(candidate, "finishReason");
    if (!finish.empty()) {
        call.stop_reason = finish;
        call.stream_ended = true;
    }
    const Json* content = member(candidate, "content");
    const Json* parts = content ? member(*content, "parts") : nullptr;
    if (!parts || !parts->is_array())
        return false;
    // The same parts as raw text, when the scanner agrees with the parser.
    std::optional<std::vector<std::string_view>> raw_parts;
    if (auto raw_candidates = array_elements(member_raw(raw, "candidates"));
        raw_candidates && raw_candidates->size() == candidates->size()) {
        raw_parts =
            array_elements(member_raw(member_raw((*raw_candidates)[chosen], "content"), "parts"));
        if (raw_parts && raw_parts->size() != parts->size())
            raw_parts.reset();
    }
    bool token = false;
    for (std::size_t k = 0; k < parts->size(); ++k) {
        const Json& part = (*parts)[k];
        std::string_view part_raw = raw_parts ? (*raw_parts)[k] : std::string_view();
        if (const Json* text = member(part, "text"); text && text->is_string()) {
            const bool thought = bool_member(part, "thought").value_or(false);
            const std::string& piece = text->get_ref<const std::string&>();
            std::string& joined = thought ? call.thinking : call.text;
            joined += piece;
            if (!answer.parts.empty() && answer.parts.back().text &&
                answer.parts.back().thought == thought) {
                answer.parts.back().value += piece;
            } else {
                answer.parts.push_back(Part{true, thought, piece, part});
            }
            token = token || !piece.empty();
        } else if (const Json* fn = member(part, "functionCall"); fn && fn->is_object()) {
            std::string_view args = member_raw(member_raw(part_raw, "functionCall"), "args");
            std::string arguments;
            if (!args.empty()) {
                arguments = std::string(args);
            } else if (const Json* a = member(*fn, "args")) {
                arguments = dump(*a);
            }
            call.tool_calls.push_back(
                make_tool_call(string_member(*fn, "id"), string_member(*fn, "name"), arguments));
            answer.parts.push_back(
                Part{false, false, part_raw.empty() ? dump(part) : compact_json(part_raw), {}});
            token = true;
        } else {
            // Code execution, inline data ...: kept as they came.
            answer.parts.push_back(
                Part{false, false, part_raw.empty() ? dump(part) : compact_json(part_raw), {}});
        }
    }
    return token;
}

void finish_answer(const Answer& answer, LlmCall& call) {
    std::string out = "[";
    for (const Part& p : answer.parts) {
        if (out.size() > 1)
            out += ',';
        if (p.text) {
            Json item = p.first.is_object() ? p.first : Json::object();
            item["text"] = p.value;
            out += dump(item);
        } else {
            out += p.value;
        }
    }
    call.content_json = out + "]";
}

// Tools offered: each function declaration, and each other tool (search, code
// execution ...) as one.
std::int64_t count_tools(std::string_view tools) {
    auto items = array_elements(tools);
    if (!items)
        return 0;
    std::int64_t count = 0;
    for (std::string_view tool : *items) {
        auto members = object_members(tool);
        bool declarations = false;
        if (members) {
            for (const auto& [key, value] : *members) {
                if (key_is(key, "functionDeclarations", "function_declarations")) {
                    declarations = true;
                    if (auto fns = array_elements(value))
                        count += static_cast<std::int64_t>(fns->size());
                }
            }
        }
        if (!declarations)
            ++count;
    }
    return count;
}

}  // namespace

std::optional<GeminiPath> gemini_path(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string_view::npos)
        return std::nullopt;
    std::string_view last = path.substr(slash + 1);
    const std::size_t colon = last.rfind(':');
    if (colon == std::string_view::npos)
        return std::nullopt;
    std::string_view method = last.substr(colon + 1);
    bool known = false;
    for (std::string_view m : kMethods)
        known = known || m == method;
    if (!known)
        return std::nullopt;
    std::string_view name = last.substr(0, colon);
    GeminiPath out;
    out.method = method;
    if (name == "v1internal") {
        out.code_assist = true;  // the model is in the body
        return out;
    }
    std::string_view before = path.substr(0, slash);
    std::string_view collection = before.substr(before.rfind('/') + 1);
    if (name.empty() || (collection != "models" && collection != "tunedModels"))
        return std::nullopt;
    out.model = std::string(name);
    return out;
}

void decode_gemini_request(const DecodedMessage& request, LlmCall& call) {
    auto members = object_members(request.body.bytes);
    if (!members) {
        call.error = "request body is not JSON";
        return;
    }
    // Code Assist wraps the request ({"model", "project", "request": {...}}), and
    // countTokens may carry a whole generateContent request.
    for (const auto& [key, value] : *members) {
        if (key == "model" && call.model.empty())
            call.model = strip_models_prefix(json_string_value(value));
    }
    for (const auto& [key, value] : *members) {
        if ((key == "request" ||
             key_is(key, "generateContentRequest", "generate_content_request")) &&
            !value.empty() && value.front() == '{') {
            if (auto inner = object_members(value)) {
                members = std::move(inner);
                break;
            }
        }
    }
    for (const auto& [key, value] : *members) {
        if (key == "model") {
            if (call.model.empty())
                call.model = strip_models_prefix(json_string_value(value));
        } else if (key == "contents") {
            if (auto items = array_elements(value))
                call.messages = std::move(*items);
            call.message_count = static_cast<std::int64_t>(call.messages.size());
        } else if (key_is(key, "systemInstruction", "system_instruction")) {
            // Its parts, a list of {"text": ...} like Anthropic's system blocks.
            std::string_view parts = member_raw(value, "parts");
            call.system_json = parts.empty() ? value : parts;
        } else if (key == "tools") {
            call.tools_json = value;
            call.tool_count = count_tools(value);
        } else if (key_is(key, "generationConfig", "generation_config")) {
            if (auto config = object_members(value)) {
                for (const auto& [k, v] : *config) {
                    if (key_is(k, "maxOutputTokens", "max_output_tokens"))
                        call.max_tokens = json_int_value(v);
                }
            }
        }
    }
}

void decode_gemini_response(const DecodedMessage& response, LlmCall& call) {
    if (call.api == "countTokens") {
        Json body = parse_json(response.body.bytes);
        if (body.is_discarded() || !body.is_object()) {
            if (call.error.empty())
                call.error = "response body is not JSON";
            return;
        }
        call.first_token_monotonic_ns = response.message.start_monotonic_ns;
        read_error(body, call);
        if (auto v = int_member(body, "totalTokens"))
            call.usage.input_tokens = v;
        if (auto v = int_member(body, "cachedContentTokenCount"))
            call.usage.cache_read_input_tokens = v;
        return;
    }
    Answer answer;
    auto token_at = [&](std::uint64_t t, bool token) {
        if (token && !call.first_token_monotonic_ns)
            call.first_token_monotonic_ns = t;
    };
    if (response.is_sse) {
        call.streamed = true;
        const auto& events = response.sse.events;
        call.events = events.size();
        for (std::size_t i = 0; i < events.size(); ++i) {
            Json j = parse_json(events[i].data);
            if (j.is_discarded() || !j.is_object()) {
                if (call.error.empty())
                    call.error = "unparsable event data";
                continue;
            }
            bool token = apply_response(events[i].data, j, call, answer);
            if (i < response.sse_monotonic_ns.size())
                token_at(response.sse_monotonic_ns[i], token);
        }
        finish_answer(answer, call);
        return;
    }
    std::string_view body = response.body.bytes;
    const std::size_t first = body.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && body[first] == '[') {
        // streamGenerateContent without alt=sse: a JSON array, complete elements
        // as far as the body goes.
        call.streamed = true;
        ArrayScanner scanner(body);
        for (std::size_t i = 0;; ++i) {
            auto element = scanner.next();
            if (!element)
                break;
            ++call.events;
            Json j = parse_json(*element);
            if (j.is_discarded() || !j.is_object()) {
                if (call.error.empty())
                    call.error = "unparsable array element";
                continue;
            }
            bool token = apply_response(*element, j, call, answer);
            std::uint64_t t = i < response.json_array_monotonic_ns.size()
                                  ? response.json_array_monotonic_ns[i]
                                  : response.message.end_monotonic_ns;
            token_at(t, token);
        }
        // The array's own end: the answer is whole even if the HTTP framing was not read.
        call.stream_ended = scanner.closed();
        finish_answer(answer, call);
        return;
    }
    Json j = parse_json(body);
    if (j.is_discarded() || !j.is_object()) {
        if (call.error.empty())
            call.error = "response body is not JSON";
        return;
    }
    call.first_token_monotonic_ns = response.message.start_monotonic_ns;
    apply_response(body, j, call, answer);
    call.stream_ended = false;
    finish_answer(answer, call);
}

}  // namespace ct::analyze::llm

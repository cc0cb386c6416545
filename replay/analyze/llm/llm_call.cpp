#include "llm/llm_call.hpp"

#include "llm/json_scan.hpp"
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

enum class Speaker { kUser, kInstructions, kOther };

// Whose a message is, by the rule of v_llm_conversations.first_message: a role
// "user", or neither a role nor an item type (a plain string input, a Gemini
// content without a role); text that is not a JSON object counts as the user's.
Speaker speaker_of(std::string_view message) {
    auto members = object_members(message);
    if (!members)
        return Speaker::kUser;
    std::optional<std::string_view> role, type;
    for (const auto& [key, value] : *members) {
        if (key == "role" && !role)
            role = value;
        else if (key == "type" && !type)
            type = value;
    }
    if (!role)
        return type ? Speaker::kOther : Speaker::kUser;
    if (role->empty() || role->front() != '"')
        return Speaker::kOther;
    std::string name = json_string_value(*role);
    if (name == "user")
        return Speaker::kUser;
    return name == "system" || name == "developer" ? Speaker::kInstructions : Speaker::kOther;
}

// Removes prompt-cache markers, which clients move from message to message.
void strip_cache_control(Json& j) {
    if (j.is_object()) {
        j.erase("cache_control");
        for (auto& item : j.items())
            strip_cache_control(item.value());
    } else if (j.is_array()) {
        for (auto& value : j)
            strip_cache_control(value);
    }
}

// A message with and without a cache marker, or with its members in another
// order, give the same text; text that does not parse is kept as it is.
std::string canonical_message(std::string_view message) {
    Json j = parse_json(message);
    if (j.is_discarded())
        return std::string(message);
    strip_cache_control(j);
    return dump(j);
}

// The messages of the opening user turn: the first user message and the user
// messages after it up to the first message that is neither the user's nor
// instructions (system, developer); their indexes in call.messages.
std::vector<std::size_t> opening_turn(const LlmCall& call) {
    std::vector<std::size_t> turn;
    for (std::size_t i = 0; i < call.messages.size(); ++i) {
        const Speaker s = speaker_of(call.messages[i]);
        if (s == Speaker::kUser)
            turn.push_back(i);
        else if (s == Speaker::kOther && !turn.empty())
            break;  // the first answer (or tool output) ends the opening turn
    }
    return turn;
}

// A JSON value as text: a string's own text, anything else as JSON.
std::string value_text(const Json& value) {
    return value.is_string() ? value.get<std::string>() : dump(value);
}

// The text of the last element of `list` that `pick` accepts, or nullopt.
template <typename Pick>
std::optional<std::string> last_text(const Json& list, Pick pick) {
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
        if (!it->is_object() || !pick(*it))
            continue;
        const auto text = it->find("text");
        if (text == it->end() || text->is_null())
            return std::nullopt;
        return value_text(*text);
    }
    return std::nullopt;
}

// The first `chars` characters of `text`, as SQLite's substr(text, 1, chars) cuts.
std::string first_chars(std::string text, std::size_t chars) {
    std::size_t at = 0;
    for (std::size_t n = 0; n < chars && at < text.size(); ++n) {
        if (static_cast<unsigned char>(text[at++]) >= 0xC0) {
            while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80)
                ++at;
        }
    }
    text.resize(at);
    return text;
}

// The text of the opening turn's last user message (opening_prompt), uncut.
std::optional<std::string> prompt_text(std::string_view message) {
    const Json j = parse_json(message);
    if (j.is_discarded())
        return std::string(message);
    if (j.is_string())
        return j.get<std::string>();
    if (j.is_object()) {
        if (const auto content = j.find("content"); content != j.end()) {
            if (content->is_string())
                return content->get<std::string>();
            if (content->is_array()) {
                // Agents put reminders first and the user's words last.
                return last_text(*content, [](const Json& block) {
                    const auto type = block.find("type");
                    return type != block.end() && type->is_string() &&
                           (*type == "text" || *type == "input_text");
                });
            }
        }
        if (const auto parts = j.find("parts"); parts != j.end() && parts->is_array()) {
            return last_text(*parts, [](const Json& part) {
                const auto text = part.find("text");
                return text != part.end() && text->is_string();
            });
        }
    }
    return std::string(message);
}

}  // namespace

std::vector<std::string> conversation_opening(const LlmCall& call) {
    std::vector<std::string> out;
    if (call.messages.empty() || !call.in_conversation)
        return out;
    for (std::size_t i : opening_turn(call))
        out.push_back(canonical_message(call.messages[i]));
    if (out.empty())
        out.push_back(canonical_message(call.messages.front()));
    return out;
}

std::optional<std::string> opening_prompt(const LlmCall& call) {
    const std::vector<std::size_t> turn = opening_turn(call);
    if (turn.empty())
        return std::nullopt;
    auto text = prompt_text(call.messages[turn.back()]);
    if (text)
        *text = first_chars(std::move(*text), kOpeningPromptChars);
    return text;
}

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

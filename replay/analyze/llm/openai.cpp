// OpenAI Chat Completions (POST .../chat/completions) and Responses
// (POST /v1/responses), as JSON or as SSE streams.
#include <map>

#include "llm/json_scan.hpp"
#include "llm/json_util.hpp"
#include "llm/llm_call.hpp"

namespace ct::analyze::llm {
namespace {

// The two OpenAI APIs report the same usage under different names.
struct UsageNames {
    const char* input;
    const char* output;
    const char* input_details;
    const char* output_details;
};
constexpr UsageNames kChatUsage{"prompt_tokens", "completion_tokens", "prompt_tokens_details",
                                "completion_tokens_details"};
constexpr UsageNames kResponsesUsage{"input_tokens", "output_tokens", "input_tokens_details",
                                     "output_tokens_details"};

void read_usage(const Json& usage, const UsageNames& names, Usage& out) {
    if (!usage.is_object())
        return;
    if (auto v = int_member(usage, names.input))
        out.input_tokens = v;
    if (auto v = int_member(usage, names.output))
        out.output_tokens = v;
    if (const Json* d = member(usage, names.input_details)) {
        if (auto v = int_member(*d, "cached_tokens"))
            out.cache_read_input_tokens = v;
    }
    if (const Json* d = member(usage, names.output_details)) {
        if (auto v = int_member(*d, "reasoning_tokens"))
            out.reasoning_tokens = v;
    }
}

void read_error(const Json& body, LlmCall& call) {
    const Json* error = member(body, "error");
    if (!error || !error->is_object())
        return;
    call.error = string_member(*error, "type");
    if (call.error.empty())
        call.error = string_member(*error, "code");
    std::string message = string_member(*error, "message");
    if (!message.empty())
        call.error += ": " + message;
}

struct PendingToolCall {
    std::string id;
    std::string name;
    std::string arguments;
};

// A Responses API output item (message, function_call, reasoning) into the call.
void add_output_item(const Json& item, LlmCall& call) {
    std::string type = string_member(item, "type");
    if (type == "message") {
        if (const Json* content = member(item, "content")) {
            std::string text = content_text(*content);
            if (!text.empty()) {
                if (!call.text.empty())
                    call.text += "\n";
                call.text += text;
            }
        }
    } else if (type == "function_call" || type == "custom_tool_call") {
        std::string id = string_member(item, "call_id");
        if (id.empty())
            id = string_member(item, "id");
        std::string args = type == "function_call" ? string_member(item, "arguments")
                                                   : string_member(item, "input");
        call.tool_calls.push_back(make_tool_call(id, string_member(item, "name"), args));
    } else if (type == "reasoning") {
        // The summary; else the reasoning text itself (open-weight models send it).
        std::string text;
        if (const Json* summary = member(item, "summary"))
            text = content_text(*summary);
        if (text.empty()) {
            if (const Json* content = member(item, "content"))
                text = content_text(*content);
        }
        if (!text.empty()) {
            if (!call.thinking.empty())
                call.thinking += "\n";
            call.thinking += text;
        }
    }
}

// One output item of a Responses stream as its events built it: the item of
// response.output_item.added (type, ids, name), the deltas that followed, and
// the finished item once response.output_item.done has come.
struct StreamedItem {
    Json item = Json::object();
    bool done = false;
    std::string text;       // response.output_text.delta
    std::string arguments;  // function_call_arguments / custom_tool_call_input deltas
    std::map<std::int64_t, std::string> summary;  // reasoning_summary_text.delta by summary_index
    std::string reasoning;                        // reasoning_text.delta
};

// What arrived of an item that did not finish: the item as added, with the text,
// arguments or reasoning streamed so far put where the finished item has them.
Json partial_item(StreamedItem& s, const char* inferred_type) {
    Json item = s.item.is_object() ? s.item : Json::object();
    std::string type = string_member(item, "type");
    if (type.empty()) {
        type = inferred_type;
        item["type"] = type;
    }
    if (type == "message") {
        item["content"] = Json::array({Json{{"type", "output_text"}, {"text", s.text}}});
    } else if (type == "function_call") {
        item["arguments"] = s.arguments;
    } else if (type == "custom_tool_call") {
        item["input"] = s.arguments;
    } else if (type == "reasoning") {
        Json summary = Json::array();
        for (const auto& [index, text] : s.summary)
            summary.push_back(Json{{"type", "summary_text"}, {"text", text}});
        item["summary"] = std::move(summary);
        if (!s.reasoning.empty())
            item["content"] =
                Json::array({Json{{"type", "reasoning_text"}, {"text", s.reasoning}}});
    }
    return item;
}

void read_response_object(const Json& response, LlmCall& call) {
    call.response_id = string_member(response, "id");
    call.response_model = string_member(response, "model");
    call.stop_reason = string_member(response, "status");
    if (const Json* details = member(response, "incomplete_details")) {
        std::string reason = string_member(*details, "reason");
        if (!reason.empty())
            call.stop_reason = reason;
    }
    if (const Json* usage = member(response, "usage"))
        read_usage(*usage, kResponsesUsage, call.usage);
    read_error(response, call);
    call.text.clear();
    call.thinking.clear();
    call.tool_calls.clear();
    if (const Json* output = member(response, "output"); output && output->is_array()) {
        for (const auto& item : *output)
            add_output_item(item, call);
        call.content_json = dump(*output);
    }
}

}  // namespace

void decode_openai_chat_request(const DecodedMessage& request, LlmCall& call) {
    auto members = object_members(request.body.bytes);
    if (!members) {
        call.error = "request body is not JSON";
        return;
    }
    std::optional<std::int64_t> max_completion;
    for (const auto& [key, value] : *members) {
        if (key == "model") {
            call.model = json_string_value(value);
        } else if (key == "stream") {
            call.streamed = value == "true";
        } else if (key == "max_completion_tokens") {
            max_completion = json_int_value(value);
        } else if (key == "max_tokens") {
            call.max_tokens = json_int_value(value);
        } else if (key == "messages") {
            if (auto items = array_elements(value))
                call.messages = std::move(*items);
            call.message_count = static_cast<std::int64_t>(call.messages.size());
        } else if (key == "tools") {
            call.tools_json = value;
            if (auto items = array_elements(value))
                call.tool_count = static_cast<std::int64_t>(items->size());
        }
    }
    if (max_completion)
        call.max_tokens = max_completion;
    for (std::string_view m : call.messages) {
        std::string_view role = member_raw(m, "role");
        if (role == "\"system\"" || role == "\"developer\"") {
            call.system_json = member_raw(m, "content");
            break;
        }
    }
}

void decode_openai_chat_response(const DecodedMessage& response, LlmCall& call) {
    if (!response.is_sse) {
        Json body = parse_json(response.body.bytes);
        if (body.is_discarded() || !body.is_object()) {
            if (call.error.empty())
                call.error = "response body is not JSON";
            return;
        }
        call.first_token_monotonic_ns = response.message.start_monotonic_ns;
        read_error(body, call);
        call.response_id = string_member(body, "id");
        call.response_model = string_member(body, "model");
        if (const Json* usage = member(body, "usage"))
            read_usage(*usage, kChatUsage, call.usage);
        const Json* choices = member(body, "choices");
        if (choices && choices->is_array() && !choices->empty()) {
            const Json& choice = (*choices)[0];
            call.stop_reason = string_member(choice, "finish_reason");
            if (const Json* message = member(choice, "message")) {
                if (const Json* content = member(*message, "content"))
                    call.text = content_text(*content);
                call.thinking = string_member(*message, "reasoning_content");
                if (const Json* calls = member(*message, "tool_calls");
                    calls && calls->is_array()) {
                    for (const auto& c : *calls) {
                        const Json* fn = member(c, "function");
                        call.tool_calls.push_back(make_tool_call(
                            string_member(c, "id"), fn ? string_member(*fn, "name") : "",
                            fn ? string_member(*fn, "arguments") : ""));
                    }
                }
                call.content_json = dump(*message);
            }
        }
        return;
    }
    call.streamed = true;
    const auto& events = response.sse.events;
    call.events = events.size();
    std::map<std::int64_t, PendingToolCall> pending;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& event = events[i];
        if (event.data == "[DONE]") {
            call.stream_ended = true;
            continue;
        }
        Json chunk = parse_json(event.data);
        if (chunk.is_discarded()) {
            if (call.error.empty())
                call.error = "unparsable event data";
            continue;
        }
        read_error(chunk, call);
        if (call.response_id.empty())
            call.response_id = string_member(chunk, "id");
        if (call.response_model.empty())
            call.response_model = string_member(chunk, "model");
        if (const Json* usage = member(chunk, "usage"))
            read_usage(*usage, kChatUsage, call.usage);
        const Json* choices = member(chunk, "choices");
        if (!choices || !choices->is_array())
            continue;
        for (const auto& choice : *choices) {
            if (int_member(choice, "index").value_or(0) != 0)
                continue;  // first choice only
            std::string finish = string_member(choice, "finish_reason");
            if (!finish.empty())
                call.stop_reason = finish;
            const Json* delta = member(choice, "delta");
            if (!delta)
                continue;
            bool token = false;
            std::string text = string_member(*delta, "content");
            if (!text.empty()) {
                call.text += text;
                token = true;
            }
            std::string reasoning = string_member(*delta, "reasoning_content");
            if (!reasoning.empty()) {
                call.thinking += reasoning;
                token = true;
            }
            if (const Json* calls = member(*delta, "tool_calls"); calls && calls->is_array()) {
                for (const auto& c : *calls) {
                    auto index = int_member(c, "index").value_or(0);
                    PendingToolCall& p = pending[index];
                    std::string id = string_member(c, "id");
                    if (!id.empty())
                        p.id = id;
                    if (const Json* fn = member(c, "function")) {
                        std::string name = string_member(*fn, "name");
                        if (!name.empty())
                            p.name = name;
                        p.arguments += string_member(*fn, "arguments");
                    }
                    token = true;
                }
            }
            if (token && !call.first_token_monotonic_ns && i < response.sse_monotonic_ns.size()) {
                call.first_token_monotonic_ns = response.sse_monotonic_ns[i];
            }
        }
    }
    for (auto& [index, p] : pending)
        call.tool_calls.push_back(make_tool_call(p.id, p.name, p.arguments));
}

void decode_openai_responses_request(const DecodedMessage& request, LlmCall& call) {
    auto members = object_members(request.body.bytes);
    if (!members) {
        call.error = "request body is not JSON";
        return;
    }
    for (const auto& [key, value] : *members) {
        if (key == "model") {
            call.model = json_string_value(value);
        } else if (key == "stream") {
            call.streamed = value == "true";
        } else if (key == "max_output_tokens") {
            call.max_tokens = json_int_value(value);
        } else if (key == "instructions") {
            call.system_json = value;
        } else if (key == "input") {
            if (auto items = array_elements(value)) {
                call.messages = std::move(*items);
            } else {
                call.messages = {value};  // a plain string input
            }
            call.message_count = static_cast<std::int64_t>(call.messages.size());
        } else if (key == "tools") {
            call.tools_json = value;
            if (auto items = array_elements(value))
                call.tool_count = static_cast<std::int64_t>(items->size());
        }
    }
}

void decode_openai_responses_response(const DecodedMessage& response, LlmCall& call) {
    if (!response.is_sse) {
        Json body = parse_json(response.body.bytes);
        if (body.is_discarded() || !body.is_object()) {
            if (call.error.empty())
                call.error = "response body is not JSON";
            return;
        }
        call.first_token_monotonic_ns = response.message.start_monotonic_ns;
        read_response_object(body, call);
        return;
    }
    call.streamed = true;
    const auto& events = response.sse.events;
    call.events = events.size();
    bool completed = false;
    std::map<std::int64_t, StreamedItem> items;    // by output_index
    std::map<std::int64_t, const char*> inferred;  // the item type a delta implies
    for (std::size_t i = 0; i < events.size(); ++i) {
        Json j = parse_json(events[i].data);
        if (j.is_discarded()) {
            if (call.error.empty())
                call.error = "unparsable event data";
            continue;
        }
        std::string type = string_member(j, "type");
        if (type.empty())
            type = events[i].type;
        const std::int64_t index = int_member(j, "output_index").value_or(0);
        bool token = false;
        auto delta_into = [&](const char* item_type) -> StreamedItem& {
            inferred.try_emplace(index, item_type);
            token = true;
            return items[index];
        };
        if (type == "response.created" || type == "response.in_progress") {
            if (const Json* r = member(j, "response")) {
                call.response_id = string_member(*r, "id");
                call.response_model = string_member(*r, "model");
            }
        } else if (type == "response.output_item.added") {
            if (const Json* item = member(j, "item"); item && item->is_object()) {
                StreamedItem& s = items[index];
                if (!s.done)
                    s.item = *item;
            }
        } else if (type == "response.output_text.delta") {
            delta_into("message").text += string_member(j, "delta");
        } else if (type == "response.reasoning_summary_text.delta") {
            delta_into("reasoning").summary[int_member(j, "summary_index").value_or(0)] +=
                string_member(j, "delta");
        } else if (type == "response.reasoning_text.delta") {
            delta_into("reasoning").reasoning += string_member(j, "delta");
        } else if (type == "response.function_call_arguments.delta") {
            delta_into("function_call").arguments += string_member(j, "delta");
        } else if (type == "response.custom_tool_call_input.delta") {
            delta_into("custom_tool_call").arguments += string_member(j, "delta");
        } else if (type == "response.output_item.done") {
            if (const Json* item = member(j, "item"); item && item->is_object()) {
                StreamedItem& s = items[index];
                s.item = *item;
                s.done = true;
            }
        } else if (type == "response.completed" || type == "response.incomplete" ||
                   type == "response.failed") {
            if (const Json* r = member(j, "response")) {
                read_response_object(*r, call);
                completed = true;
                call.stream_ended = true;
            }
        } else if (type == "error") {
            call.error = string_member(j, "code");
            std::string message = string_member(j, "message");
            if (!message.empty())
                call.error += ": " + message;
        }
        if (token && !call.first_token_monotonic_ns && i < response.sse_monotonic_ns.size()) {
            call.first_token_monotonic_ns = response.sse_monotonic_ns[i];
        }
    }
    if (completed && (!call.text.empty() || !call.tool_calls.empty() || !call.thinking.empty()))
        return;
    // No final response object (a cut stream, or one that omitted its output):
    // rebuild the output from the items, finished or as far as they arrived.
    call.text.clear();
    call.tool_calls.clear();
    call.thinking.clear();
    Json output = Json::array();
    for (auto& [index, s] : items) {
        Json item =
            s.done ? s.item : partial_item(s, inferred.contains(index) ? inferred[index] : "");
        if (string_member(item, "type").empty())
            continue;  // an added event without a type: nothing to show
        add_output_item(item, call);
        output.push_back(std::move(item));
    }
    call.content_json = dump(output);
}

}  // namespace ct::analyze::llm

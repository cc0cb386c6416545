// Anthropic Messages API: POST /v1/messages, JSON or an SSE stream of
// message_start, content_block_start/delta/stop, message_delta, message_stop.
#include <map>

#include "llm/json_util.hpp"
#include "llm/llm_call.hpp"

namespace ct::analyze::llm {
namespace {

// The system prompt is a string or a list of text blocks.
std::string system_text(const Json& system) {
    if (system.is_string()) return system.get<std::string>();
    std::string out;
    if (system.is_array()) {
        for (const auto& block : system) {
            std::string text = string_member(block, "text");
            if (text.empty()) continue;
            if (!out.empty()) out += "\n";
            out += text;
        }
    }
    return out;
}

void read_usage(const Json& usage, Usage& out) {
    if (auto v = int_member(usage, "input_tokens")) out.input_tokens = v;
    if (auto v = int_member(usage, "output_tokens")) out.output_tokens = v;
    if (auto v = int_member(usage, "cache_creation_input_tokens")) out.cache_creation_input_tokens = v;
    if (auto v = int_member(usage, "cache_read_input_tokens")) out.cache_read_input_tokens = v;
}

struct Block {
    std::string type;
    std::string text;  // text or thinking
    std::string id;
    std::string name;
    std::string input;  // tool input JSON, as streamed
    Json start;         // the block as content_block_start gave it
};

void finish_blocks(const std::map<std::int64_t, Block>& blocks, LlmCall& call) {
    Json content = Json::array();
    for (const auto& [index, b] : blocks) {
        Json item = b.start.is_object() ? b.start : Json::object();
        item["type"] = b.type;
        if (b.type == "text") {
            if (!call.text.empty()) call.text += "\n";
            call.text += b.text;
            item["text"] = b.text;
        } else if (b.type == "thinking") {
            if (!call.thinking.empty()) call.thinking += "\n";
            call.thinking += b.text;
            item["thinking"] = b.text;
        } else if (b.type == "tool_use" || b.type == "server_tool_use") {
            ToolCall tc = make_tool_call(b.id, b.name, b.input);
            Json input = parse_json(tc.input_json);
            item["input"] = input.is_discarded() ? Json(tc.input_json) : std::move(input);
            call.tool_calls.push_back(std::move(tc));
        }
        content.push_back(std::move(item));
    }
    call.content_json = dump(content);
}

Block block_from_json(const Json& j) {
    Block b;
    b.type = string_member(j, "type");
    b.start = j;
    if (b.type == "text") b.text = string_member(j, "text");
    if (b.type == "thinking") b.text = string_member(j, "thinking");
    b.id = string_member(j, "id");
    b.name = string_member(j, "name");
    if (const Json* input = member(j, "input"); input && !(input->is_object() && input->empty())) {
        b.input = dump(*input);  // non-streamed input, or a non-empty start value
    }
    return b;
}

void read_error(const Json& body, LlmCall& call) {
    if (const Json* error = member(body, "error")) {
        call.error = string_member(*error, "type");
        std::string message = string_member(*error, "message");
        if (!message.empty()) call.error += ": " + message;
    }
}

void decode_stream(const DecodedMessage& response, LlmCall& call) {
    std::map<std::int64_t, Block> blocks;
    const auto& events = response.sse.events;
    call.events = events.size();
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& event = events[i];
        if (event.type == "ping") continue;
        Json j = parse_json(event.data);
        if (j.is_discarded()) {
            if (call.error.empty()) call.error = "unparsable event data: " + event.type;
            continue;
        }
        std::string type = string_member(j, "type");
        if (type.empty()) type = event.type;
        if (type == "message_start") {
            if (const Json* message = member(j, "message")) {
                call.response_id = string_member(*message, "id");
                call.response_model = string_member(*message, "model");
                if (const Json* usage = member(*message, "usage")) read_usage(*usage, call.usage);
            }
        } else if (type == "content_block_start") {
            auto index = int_member(j, "index").value_or(static_cast<std::int64_t>(blocks.size()));
            if (const Json* block = member(j, "content_block")) blocks[index] = block_from_json(*block);
        } else if (type == "content_block_delta") {
            auto index = int_member(j, "index").value_or(0);
            const Json* delta = member(j, "delta");
            if (!delta) continue;
            Block& b = blocks[index];
            std::string delta_type = string_member(*delta, "type");
            if (delta_type == "text_delta") {
                b.text += string_member(*delta, "text");
            } else if (delta_type == "thinking_delta") {
                b.text += string_member(*delta, "thinking");
            } else if (delta_type == "input_json_delta") {
                b.input += string_member(*delta, "partial_json");
            }
            if (!call.first_token_monotonic_ns && i < response.sse_monotonic_ns.size()) {
                call.first_token_monotonic_ns = response.sse_monotonic_ns[i];
            }
        } else if (type == "message_delta") {
            if (const Json* delta = member(j, "delta")) {
                std::string stop = string_member(*delta, "stop_reason");
                if (!stop.empty()) call.stop_reason = stop;
            }
            if (const Json* usage = member(j, "usage")) read_usage(*usage, call.usage);
        } else if (type == "error") {
            read_error(j, call);
        }
    }
    finish_blocks(blocks, call);
}

}  // namespace

void decode_anthropic_request(const DecodedMessage& request, LlmCall& call) {
    Json body = parse_json(request.body.bytes);
    if (body.is_discarded() || !body.is_object()) {
        call.error = "request body is not JSON";
        return;
    }
    call.model = string_member(body, "model");
    call.streamed = bool_member(body, "stream").value_or(false);
    call.max_tokens = int_member(body, "max_tokens");
    if (const Json* system = member(body, "system")) call.system_prompt = system_text(*system);
    if (const Json* messages = member(body, "messages")) {
        call.messages_json = dump(*messages);
        if (messages->is_array()) call.message_count = static_cast<std::int64_t>(messages->size());
    }
    if (const Json* tools = member(body, "tools")) {
        call.tools_json = dump(*tools);
        if (tools->is_array()) call.tool_count = static_cast<std::int64_t>(tools->size());
    }
}

void decode_anthropic_response(const DecodedMessage& response, LlmCall& call) {
    if (response.is_sse) {
        call.streamed = true;
        decode_stream(response, call);
        return;
    }
    Json body = parse_json(response.body.bytes);
    if (body.is_discarded() || !body.is_object()) {
        if (call.error.empty()) call.error = "response body is not JSON";
        return;
    }
    call.first_token_monotonic_ns = response.message.start_monotonic_ns;
    if (string_member(body, "type") == "error") {
        read_error(body, call);
        return;
    }
    call.response_id = string_member(body, "id");
    call.response_model = string_member(body, "model");
    call.stop_reason = string_member(body, "stop_reason");
    if (const Json* usage = member(body, "usage")) read_usage(*usage, call.usage);
    std::map<std::int64_t, Block> blocks;
    if (const Json* content = member(body, "content"); content && content->is_array()) {
        std::int64_t index = 0;
        for (const auto& item : *content) blocks[index++] = block_from_json(item);
    }
    finish_blocks(blocks, call);
}

}  // namespace ct::analyze::llm

// Anthropic Messages API: POST /v1/messages, JSON or an SSE stream of
// message_start, content_block_start/delta/stop, message_delta, message_stop.
#include <map>

#include "llm/json_scan.hpp"
#include "llm/json_util.hpp"
#include "llm/llm_call.hpp"

namespace ct::analyze::llm {
namespace {

void read_usage(const Json& usage, Usage& out) {
    if (auto v = int_member(usage, "input_tokens"))
        out.input_tokens = v;
    if (auto v = int_member(usage, "output_tokens"))
        out.output_tokens = v;
    if (auto v = int_member(usage, "cache_creation_input_tokens"))
        out.cache_creation_input_tokens = v;
    if (auto v = int_member(usage, "cache_read_input_tokens"))
        out.cache_read_input_tokens = v;
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
    std::string content = "[";
    for (const auto& [index, b] : blocks) {
        std::string tool_input_item;  // set for tool blocks: their input as the model wrote it
        Json item = b.start.is_object() ? b.start : Json::object();
        item["type"] = b.type;
        if (b.type == "text") {
            if (!call.text.empty())
                call.text += "\n";
            call.text += b.text;
            item["text"] = b.text;
        } else if (b.type == "thinking") {
            if (!call.thinking.empty())
                call.thinking += "\n";
            call.thinking += b.text;
            item["thinking"] = b.text;
        } else if (b.type == "tool_use" || b.type == "server_tool_use") {
            ToolCall tc = make_tool_call(b.id, b.name, b.input);
            item.erase("input");
            tool_input_item = with_input_member(dump(item), tc);
            call.tool_calls.push_back(std::move(tc));
        }
        if (content.size() > 1)
            content += ',';
        content += tool_input_item.empty() ? dump(item) : tool_input_item;
    }
    call.content_json = content + "]";
}

// `raw`: the block's JSON text, for its tool input exactly as sent (else re-serialised).
Block block_from_json(const Json& j, std::string_view raw = {}) {
    Block b;
    b.type = string_member(j, "type");
    b.start = j;
    if (b.type == "text")
        b.text = string_member(j, "text");
    if (b.type == "thinking")
        b.text = string_member(j, "thinking");
    b.id = string_member(j, "id");
    b.name = string_member(j, "name");
    if (const Json* input = member(j, "input"); input && !(input->is_object() && input->empty())) {
        // Non-streamed input, or a non-empty start value.
        std::string_view raw_input = raw.empty() ? std::string_view() : member_raw(raw, "input");
        b.input = raw_input.empty() ? dump(*input) : std::string(raw_input);
    }
    return b;
}

void read_error(const Json& body, LlmCall& call) {
    if (const Json* error = member(body, "error")) {
        call.error = string_member(*error, "type");
        std::string message = string_member(*error, "message");
        if (!message.empty())
            call.error += ": " + message;
    }
}

// content_block_delta events are most of a stream: read them with the raw
// scanner instead of building a document. false: leave it to the full parser.
bool apply_delta_fast(std::string_view data, std::map<std::int64_t, Block>& blocks) {
    auto members = object_members(data);
    if (!members)
        return false;
    std::optional<std::int64_t> index;
    std::string_view delta;
    for (const auto& [key, value] : *members) {
        if (key == "index")
            index = json_int_value(value);
        if (key == "delta")
            delta = value;
    }
    auto fields = object_members(delta);
    if (!index || !fields)
        return false;
    std::string_view type, text;
    for (const auto& [key, value] : *fields) {
        if (key == "type")
            type = value;
        if (key == "text" || key == "thinking" || key == "partial_json")
            text = value;
    }
    if (text.empty() || text.front() != '"')
        return false;
    Block& b = blocks[*index];
    if (type == "\"text_delta\"" || type == "\"thinking_delta\"") {
        b.text += json_string_value(text);
        // A block whose start was lost (a gap) is known by its deltas.
        if (b.type.empty())
            b.type = type == "\"text_delta\"" ? "text" : "thinking";
    } else if (type == "\"input_json_delta\"") {
        b.input += json_string_value(text);
        if (b.type.empty())
            b.type = "tool_use";
    } else {
        return false;
    }
    return true;
}

void decode_stream(const DecodedMessage& response, LlmCall& call) {
    std::map<std::int64_t, Block> blocks;
    const auto& events = response.sse.events;
    call.events = events.size();
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& event = events[i];
        if (event.type == "ping")
            continue;
        if (event.type == "content_block_delta" && apply_delta_fast(event.data, blocks)) {
            if (!call.first_token_monotonic_ns && i < response.sse_monotonic_ns.size()) {
                call.first_token_monotonic_ns = response.sse_monotonic_ns[i];
            }
            continue;
        }
        Json j = parse_json(event.data);
        if (j.is_discarded()) {
            if (call.error.empty())
                call.error = "unparsable event data: " + std::string(event.type);
            continue;
        }
        std::string type = string_member(j, "type");
        if (type.empty())
            type = event.type;
        if (type == "message_start") {
            if (const Json* message = member(j, "message")) {
                call.response_id = string_member(*message, "id");
                call.response_model = string_member(*message, "model");
                if (const Json* usage = member(*message, "usage"))
                    read_usage(*usage, call.usage);
            }
        } else if (type == "content_block_start") {
            auto index = int_member(j, "index").value_or(static_cast<std::int64_t>(blocks.size()));
            if (const Json* block = member(j, "content_block"))
                blocks[index] = block_from_json(*block, member_raw(event.data, "content_block"));
        } else if (type == "content_block_delta") {
            auto index = int_member(j, "index").value_or(0);
            const Json* delta = member(j, "delta");
            if (!delta)
                continue;
            Block& b = blocks[index];
            std::string delta_type = string_member(*delta, "type");
            if (delta_type == "text_delta") {
                b.text += string_member(*delta, "text");
                if (b.type.empty())
                    b.type = "text";
            } else if (delta_type == "thinking_delta") {
                b.text += string_member(*delta, "thinking");
                if (b.type.empty())
                    b.type = "thinking";
            } else if (delta_type == "input_json_delta") {
                b.input += string_member(*delta, "partial_json");
                if (b.type.empty())
                    b.type = "tool_use";
            }
            if (!call.first_token_monotonic_ns && i < response.sse_monotonic_ns.size()) {
                call.first_token_monotonic_ns = response.sse_monotonic_ns[i];
            }
        } else if (type == "message_delta") {
            if (const Json* delta = member(j, "delta")) {
                std::string stop = string_member(*delta, "stop_reason");
                if (!stop.empty())
                    call.stop_reason = stop;
            }
            if (const Json* usage = member(j, "usage"))
                read_usage(*usage, call.usage);
        } else if (type == "message_stop") {
            call.stream_ended = true;
        } else if (type == "error") {
            read_error(j, call);
        }
    }
    finish_blocks(blocks, call);
}

}  // namespace

void decode_anthropic_request(const DecodedMessage& request, LlmCall& call) {
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
        } else if (key == "max_tokens") {
            call.max_tokens = json_int_value(value);
        } else if (key == "system") {
            call.system_json = value;
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
}

void decode_anthropic_response(const DecodedMessage& response, LlmCall& call) {
    if (response.is_sse) {
        call.streamed = true;
        decode_stream(response, call);
        return;
    }
    Json body = parse_json(response.body.bytes);
    if (body.is_discarded() || !body.is_object()) {
        if (call.error.empty())
            call.error = "response body is not JSON";
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
    if (const Json* usage = member(body, "usage"))
        read_usage(*usage, call.usage);
    std::map<std::int64_t, Block> blocks;
    if (const Json* content = member(body, "content"); content && content->is_array()) {
        auto raw_items = array_elements(member_raw(response.body.bytes, "content"));
        std::size_t index = 0;
        for (const auto& item : *content) {
            std::string_view raw;
            if (raw_items && raw_items->size() == content->size())
                raw = (*raw_items)[index];
            blocks[static_cast<std::int64_t>(index++)] = block_from_json(item, raw);
        }
    }
    finish_blocks(blocks, call);
}

}  // namespace ct::analyze::llm

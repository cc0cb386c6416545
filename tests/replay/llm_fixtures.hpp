// Scripted LLM API traffic (request and response bytes as they cross the wire).
#pragma once

#include <string>
#include <vector>

namespace ct::testing {

inline std::string sse_event(const std::string& type, const std::string& data) {
    return "event: " + type + "\ndata: " + data + "\n\n";
}

inline std::string http_request(const std::string& path, const std::string& body,
                                const std::string& extra_headers = "") {
    return "POST " + path +
           " HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Type: application/json\r\n"
           "x-api-key: sk-ant-secret-123\r\nanthropic-version: 2023-06-01\r\n" +
           extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

inline std::string chunk(const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx", data.size());
    return std::string(size) + "\r\n" + data + "\r\n";
}

inline const std::string kAnthropicStreamRequestBody =
    R"({"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"system":"You are terse.",)"
    R"("messages":[{"role":"user","content":"List files"}],)"
    R"("tools":[{"name":"bash","input_schema":{"type":"object"}}]})";

// The SSE events of an Anthropic stream with thinking, text and tool_use blocks.
inline std::vector<std::string> anthropic_stream_events() {
    return {
        sse_event(
            "message_start",
            R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",)"
            R"("model":"claude-sonnet-4-5","content":[],"stop_reason":null,)"
            R"("usage":{"input_tokens":120,"cache_creation_input_tokens":30,"cache_read_input_tokens":400,"output_tokens":1}}})"),
        sse_event(
            "content_block_start",
            R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})"),
        sse_event(
            "content_block_delta",
            R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need ls."}})"),
        sse_event("content_block_stop", R"({"type":"content_block_stop","index":0})"),
        sse_event("ping", R"({"type":"ping"})"),
        sse_event(
            "content_block_start",
            R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})"),
        sse_event(
            "content_block_delta",
            R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Let me "}})"),
        sse_event(
            "content_block_delta",
            R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"check."}})"),
        sse_event("content_block_stop", R"({"type":"content_block_stop","index":1})"),
        sse_event(
            "content_block_start",
            R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"bash","input":{}}})"),
        sse_event(
            "content_block_delta",
            R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"command\": \"l"}})"),
        sse_event(
            "content_block_delta",
            R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"s -la\"}"}})"),
        sse_event("content_block_stop", R"({"type":"content_block_stop","index":2})"),
        sse_event(
            "message_delta",
            R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":57}})"),
        sse_event("message_stop", R"({"type":"message_stop"})"),
    };
}

inline std::string sse_response_head() {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
           "Transfer-Encoding: chunked\r\nSet-Cookie: session=abc123; Path=/; HttpOnly\r\n\r\n";
}

inline const std::string kAnthropicJsonResponseBody =
    R"({"id":"msg_2","type":"message","role":"assistant","model":"claude-haiku-4-5",)"
    R"("content":[{"type":"text","text":"Done."},{"type":"tool_use","id":"toolu_2","name":"read_file","input":{"path":"/etc/hosts"}}],)"
    R"("stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":7}})";

inline std::vector<std::string> openai_chat_stream_events() {
    return {
        "data: "
        "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{"
        "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
        "data: "
        "{\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
        "\"lo\"}}]}\n\n",
        "data: "
        "{\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
        "\"index\":0,\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"get_"
        "weather\",\"arguments\":\"{\\\"city\\\":\"}}]}}]}\n\n",
        "data: "
        "{\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
        "\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n",
        "data: "
        "{\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_"
        "reason\":\"tool_calls\"}]}\n\n",
        "data: "
        "{\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":50,"
        "\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":32}}}\n\n",
        "data: [DONE]\n\n",
    };
}

inline std::vector<std::string> openai_responses_stream_events() {
    return {
        sse_event(
            "response.created",
            R"({"type":"response.created","response":{"id":"resp_1","model":"gpt-5","status":"in_progress"}})"),
        sse_event("response.output_text.delta",
                  R"({"type":"response.output_text.delta","output_index":0,"delta":"Bon"})"),
        sse_event("response.output_text.delta",
                  R"({"type":"response.output_text.delta","output_index":0,"delta":"jour"})"),
        sse_event(
            "response.function_call_arguments.delta",
            R"({"type":"response.function_call_arguments.delta","output_index":1,"delta":"{\"q\":1}"})"),
        sse_event(
            "response.completed",
            R"({"type":"response.completed","response":{"id":"resp_1","model":"gpt-5","status":"completed",)"
            R"("output":[{"type":"message","content":[{"type":"output_text","text":"Bonjour"}]},)"
            R"({"type":"function_call","call_id":"fc_1","name":"search","arguments":"{\"q\":1}"}],)"
            R"("usage":{"input_tokens":11,"output_tokens":22,"input_tokens_details":{"cached_tokens":3}}}})"),
    };
}

// Gemini (generateContent family): a request with a system instruction, two turns
// and three tools (two declared functions and Google Search).
inline const std::string kGeminiRequestBody =
    R"({"contents":[{"role":"user","parts":[{"text":"List the files"}]},)"
    R"({"role":"model","parts":[{"text":"Sure."}]}],)"
    R"("systemInstruction":{"role":"user","parts":[{"text":"You are terse."},{"text":"Be exact."}]},)"
    R"("tools":[{"functionDeclarations":[{"name":"list_directory"},{"name":"read_file"}]},{"googleSearch":{}}],)"
    R"("generationConfig":{"maxOutputTokens":2048,"thinkingConfig":{"includeThoughts":true}}})";

// The GenerateContentResponse chunks of one streamed answer: a thought, text in
// three pieces, a function call (members not in sorted order), then the end.
inline std::vector<std::string> gemini_stream_chunks() {
    const std::string tail = R"(,"modelVersion":"gemini-2.5-pro","responseId":"resp-g1"})";
    return {
        R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Need a listing.","thought":true}]},"index":0}],)"
        R"("usageMetadata":{"promptTokenCount":310,"totalTokenCount":310})" +
            tail,
        R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Let me "}]},"index":0}])" +
            tail,
        R"({"candidates":[{"content":{"role":"model","parts":[{"text":"look"},{"text":"."}]},"index":0}])" +
            tail,
        R"({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"list_directory",)"
        R"("args":{"path": ".", "all": true}},"thoughtSignature":"c2ln"}]},"index":0}])" +
            tail,
        R"({"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],)"
        R"("usageMetadata":{"promptTokenCount":310,"candidatesTokenCount":42,"totalTokenCount":400,)"
        R"("cachedContentTokenCount":256,"thoughtsTokenCount":48})" +
            tail,
    };
}

inline std::string gemini_sse_body() {
    std::string out;
    for (const auto& c : gemini_stream_chunks())
        out += "data: " + c + "\r\n\r\n";
    return out;
}

// streamGenerateContent without alt=sse: the chunks as one JSON array.
inline std::string gemini_array_body() {
    std::string out = "[";
    for (const auto& c : gemini_stream_chunks())
        out += (out.size() > 1 ? "\n,\r\n" : "") + c;
    return out + "\n]";
}

inline std::string gemini_request(const std::string& target, const std::string& body) {
    return "POST " + target +
           " HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\nContent-Type: "
           "application/json\r\n"
           "x-goog-api-key: AIza-secret\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace ct::testing

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

// A Responses API stream as the API sends it (and Codex CLI reads it): created and
// in_progress, then a reasoning item (summary in two deltas, encrypted content),
// a message (text in two deltas), a function call (arguments in two deltas), each
// with its added/part/delta/done events, and response.completed with the output
// and the usage (cached input and reasoning tokens).
inline const std::string kOpenAiResponsesRequestBody =
    R"({"model":"gpt-5-codex","instructions":"You are Codex.","input":[)"
    R"({"type":"message","role":"user","content":[{"type":"input_text","text":"list the files"}]}],)"
    R"("tools":[{"type":"function","name":"exec_command","parameters":{"type":"object"}}],)"
    R"("reasoning":{"effort":"medium","summary":"auto"},"store":false,"stream":true,)"
    R"("include":["reasoning.encrypted_content"],"max_output_tokens":4096})";

inline std::vector<std::string> openai_responses_full_stream_events() {
    const std::string resp =
        R"("id":"resp_7","object":"response","created_at":1700000000,"background":false,)"
        R"("error":null,"incomplete_details":null,"instructions":"You are Codex.",)"
        R"("model":"gpt-5-codex-2025-09-15","parallel_tool_calls":true,"store":false,)"
        R"("tools":[{"type":"function","name":"exec_command","parameters":{"type":"object"}}],)";
    const std::string reasoning_done =
        R"({"id":"rs_7","type":"reasoning","summary":[{"type":"summary_text","text":"Listing first."}],)"
        R"("encrypted_content":"gAAAAB0ZXN0"})";
    const std::string message_done =
        R"({"id":"msg_7","type":"message","status":"completed","content":[{"type":"output_text",)"
        R"("annotations":[],"logprobs":[],"text":"I will look."}],"role":"assistant"})";
    const std::string call_done =
        R"({"id":"fc_7","type":"function_call","status":"completed",)"
        R"("arguments":"{\"cmd\": \"ls -la\"}","call_id":"call_7","name":"exec_command"})";
    auto ev = [](const std::string& type, const std::string& rest) {
        return sse_event(type, R"({"type":")" + type + "\"," + rest + "}");
    };
    return {
        ev("response.created", R"("sequence_number":0,"response":{)" + resp +
                                   R"("status":"in_progress","output":[],"usage":null})"),
        ev("response.in_progress", R"("sequence_number":1,"response":{)" + resp +
                                       R"("status":"in_progress","output":[],"usage":null})"),
        ev("response.output_item.added",
           R"("sequence_number":2,"output_index":0,"item":{"id":"rs_7","type":"reasoning","summary":[]})"),
        ev("response.reasoning_summary_part.added",
           R"("sequence_number":3,"item_id":"rs_7","output_index":0,"summary_index":0,)"
           R"("part":{"type":"summary_text","text":""})"),
        ev("response.reasoning_summary_text.delta",
           R"("sequence_number":4,"item_id":"rs_7","output_index":0,"summary_index":0,"delta":"Listing ")"),
        ev("response.reasoning_summary_text.delta",
           R"("sequence_number":5,"item_id":"rs_7","output_index":0,"summary_index":0,"delta":"first.")"),
        ev("response.reasoning_summary_text.done",
           R"("sequence_number":6,"item_id":"rs_7","output_index":0,"summary_index":0,"text":"Listing first.")"),
        ev("response.reasoning_summary_part.done",
           R"("sequence_number":7,"item_id":"rs_7","output_index":0,"summary_index":0,)"
           R"("part":{"type":"summary_text","text":"Listing first."})"),
        ev("response.output_item.done",
           R"("sequence_number":8,"output_index":0,"item":)" + reasoning_done),
        ev("response.output_item.added",
           R"("sequence_number":9,"output_index":1,"item":{"id":"msg_7","type":"message",)"
           R"("status":"in_progress","content":[],"role":"assistant"})"),
        ev("response.content_part.added",
           R"("sequence_number":10,"item_id":"msg_7","output_index":1,"content_index":0,)"
           R"("part":{"type":"output_text","annotations":[],"logprobs":[],"text":""})"),
        ev("response.output_text.delta",
           R"("sequence_number":11,"item_id":"msg_7","output_index":1,"content_index":0,)"
           R"("delta":"I will ","logprobs":[])"),
        ev("response.output_text.delta",
           R"("sequence_number":12,"item_id":"msg_7","output_index":1,"content_index":0,)"
           R"("delta":"look.","logprobs":[])"),
        ev("response.output_text.done",
           R"("sequence_number":13,"item_id":"msg_7","output_index":1,"content_index":0,)"
           R"("text":"I will look.","logprobs":[])"),
        ev("response.content_part.done",
           R"("sequence_number":14,"item_id":"msg_7","output_index":1,"content_index":0,)"
           R"("part":{"type":"output_text","annotations":[],"logprobs":[],"text":"I will look."})"),
        ev("response.output_item.done",
           R"("sequence_number":15,"output_index":1,"item":)" + message_done),
        ev("response.output_item.added",
           R"("sequence_number":16,"output_index":2,"item":{"id":"fc_7","type":"function_call",)"
           R"("status":"in_progress","arguments":"","call_id":"call_7","name":"exec_command"})"),
        ev("response.function_call_arguments.delta",
           R"("sequence_number":17,"item_id":"fc_7","output_index":2,"delta":"{\"cmd\": ")"),
        ev("response.function_call_arguments.delta",
           R"("sequence_number":18,"item_id":"fc_7","output_index":2,"delta":"\"ls -la\"}")"),
        ev("response.function_call_arguments.done",
           R"("sequence_number":19,"item_id":"fc_7","output_index":2,"arguments":"{\"cmd\": \"ls -la\"}")"),
        ev("response.output_item.done",
           R"("sequence_number":20,"output_index":2,"item":)" + call_done),
        ev("response.completed",
           R"("sequence_number":21,"response":{)" + resp + R"("status":"completed","output":[)" +
               reasoning_done + "," + message_done + "," + call_done +
               R"(],"usage":{"input_tokens":1234,"input_tokens_details":{"cached_tokens":1024},)"
               R"("output_tokens":96,"output_tokens_details":{"reasoning_tokens":30},"total_tokens":1330}})"),
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

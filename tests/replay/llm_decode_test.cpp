// LLM calls rebuilt from HTTP exchanges: streams cut into arbitrary TLS
// records decode to the same call.
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "connection_decoder.hpp"
#include "decoded_call.hpp"
#include "llm/json_util.hpp"
#include "llm/llm_call.hpp"
#include "llm_fixtures.hpp"
#include "stream_builder.hpp"

namespace ct::analyze::llm {
namespace {

using testing::chunk;

using testing::decode;

replay::Connection anthropic_stream_connection(std::size_t split) {
    testing::StreamBuilder out, in;
    out.data(testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody),
             1'000'000'000);
    std::string wire = testing::sse_response_head();
    for (const auto& e : testing::anthropic_stream_events())
        wire += chunk(e);
    wire += "0\r\n\r\n";
    in.time_ = 2'000'000'000;
    for (std::size_t i = 0; i < wire.size(); i += split)
        in.data(wire.substr(i, split));
    return testing::make_connection(out.stream(), in.stream());
}

// Integers from hostile JSON: 19 digits can exceed int64; no overflow, no value.
TEST(JsonUtil, IntegersThatDoNotFitAreNoValue) {
    EXPECT_EQ(json_int_value("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
    EXPECT_FALSE(json_int_value("9999999999999999999"));
    EXPECT_FALSE(json_int_value("9223372036854775808"));
    EXPECT_EQ(json_int_value("-42"), -42);
    EXPECT_FALSE(json_int_value("12a"));
}

TEST(LlmDecode, AnthropicStream) {
    auto conn = anthropic_stream_connection(97);
    auto d = decode(conn);
    ASSERT_TRUE(d->call);
    const LlmCall& c = *d->call;
    EXPECT_EQ(c.provider, "anthropic");
    EXPECT_EQ(c.model, "claude-sonnet-4-5");
    EXPECT_TRUE(c.streamed);
    EXPECT_EQ(c.max_tokens, 1024);
    EXPECT_EQ(system_text(c.system_json), "You are terse.");
    EXPECT_EQ(c.message_count, 1);
    EXPECT_EQ(c.tool_count, 1);
    EXPECT_EQ(c.response_id, "msg_1");
    EXPECT_EQ(c.stop_reason, "tool_use");
    EXPECT_EQ(c.usage.input_tokens, 120);
    EXPECT_EQ(c.usage.output_tokens, 57);
    EXPECT_EQ(c.usage.cache_creation_input_tokens, 30);
    EXPECT_EQ(c.usage.cache_read_input_tokens, 400);
    EXPECT_EQ(c.text, "Let me check.");
    EXPECT_EQ(c.thinking, "Need ls.");
    ASSERT_EQ(c.tool_calls.size(), 1u);
    EXPECT_EQ(c.tool_calls[0].name, "bash");
    EXPECT_EQ(c.tool_calls[0].id, "toolu_1");
    EXPECT_EQ(c.tool_calls[0].input_json, R"({"command":"ls -la"})");
    EXPECT_EQ(c.events, 15u);
    // The first token is the first delta event; it arrived in a later read than the head.
    ASSERT_TRUE(c.first_token_monotonic_ns);
    EXPECT_GT(*c.first_token_monotonic_ns, d->dc.responses[0].message.start_monotonic_ns);
    EXPECT_LE(*c.first_token_monotonic_ns, d->dc.responses[0].message.end_monotonic_ns);
}

TEST(LlmDecode, AnthropicStreamSameAtEverySplit) {
    auto reference = decode(anthropic_stream_connection(100000));
    ASSERT_TRUE(reference->call);
    for (std::size_t split : {1u, 2u, 3u, 7u, 64u, 333u}) {
        auto d = decode(anthropic_stream_connection(split));
        ASSERT_TRUE(d->call) << split;
        EXPECT_EQ(d->call->text, reference->call->text) << split;
        EXPECT_EQ(d->call->tool_calls.size(), 1u) << split;
        EXPECT_EQ(d->call->usage.output_tokens, 57) << split;
        EXPECT_EQ(d->dc.responses[0].sse.events.size(), 15u) << split;
    }
}

TEST(LlmDecode, EventTimesComeFromTheReadsThatCompletedThem) {
    // One SSL_read per event, 10 ms apart: each event must get its own read's time.
    testing::StreamBuilder out, in;
    out.data(testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody),
             1'000'000'000);
    in.data(testing::sse_response_head(), 2'000'000'000);
    auto events = testing::anthropic_stream_events();
    for (std::size_t i = 0; i < events.size(); ++i) {
        in.data(chunk(events[i]), 2'000'000'000 + (i + 1) * 10'000'000);
    }
    in.data("0\r\n\r\n", 3'000'000'000);
    auto conn = testing::make_connection(out.stream(), in.stream());
    auto d = decode(conn);
    const auto& times = d->dc.responses[0].sse_monotonic_ns;
    ASSERT_EQ(times.size(), events.size());
    for (std::size_t i = 0; i < events.size(); ++i)
        EXPECT_EQ(times[i], 2'000'000'000 + (i + 1) * 10'000'000);
    EXPECT_EQ(d->call->first_token_monotonic_ns, 2'000'000'000 + 3 * 10'000'000);  // thinking_delta
}

TEST(LlmDecode, GapInsideAStreamLosesOnlyWhatItTouches) {
    // The stream's chunks, each one event; a gap removes [g, g + 25) of the wire.
    const std::string head = testing::sse_response_head();
    std::vector<std::string> chunks;
    for (const auto& e : testing::anthropic_stream_events())
        chunks.push_back(chunk(e));
    std::string wire = head;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;  // each event chunk's wire range
    for (const auto& c : chunks) {
        ranges.emplace_back(wire.size(), wire.size() + c.size());
        wire += c;
    }
    wire += "0\r\n\r\n";
    const std::string request =
        testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody);
    for (std::size_t gap : {1u, 2u, 25u, 90u, 300u})
        for (std::size_t g = head.size(); g + gap < ranges.back().second; g += 5) {
            testing::StreamBuilder out, in;
            out.data(request);
            in.data(wire.substr(0, g)).gap(gap).data(wire.substr(g + gap));
            auto conn = testing::make_connection(out.stream(), in.stream());
            auto d = decode(conn);
            ASSERT_EQ(d->dc.responses.size(), 1u) << g;
            const auto& r = d->dc.responses[0];
            EXPECT_FALSE(r.message.complete) << g;
            EXPECT_EQ(r.message.gap_bytes, gap) << g;
            std::set<std::string> got;
            for (const auto& e : r.sse.events)
                got.emplace(e.data);
            // Every event the gap did not touch survives, except possibly the first one
            // after the gap (decoding resumes at the next event boundary it can see).
            bool first_after = true;
            for (std::size_t i = 0; i < ranges.size(); ++i) {
                const bool touched = ranges[i].first < g + gap && ranges[i].second > g;
                if (touched)
                    continue;
                if (ranges[i].first >= g + gap && first_after) {
                    first_after = false;
                    continue;
                }
                std::string data = chunks[i].substr(chunks[i].find("data: ") + 6);
                data = data.substr(0, data.find('\n'));
                EXPECT_TRUE(got.count(data))
                    << "gap at " << g << " lost event " << i << " (gap " << gap << ")";
            }
            ASSERT_TRUE(d->call) << g;
            const bool delta_touched = ranges[13].first < g + gap && ranges[13].second > g;
            if (!delta_touched && ranges[12].second <= g) {
                EXPECT_EQ(d->call->usage.output_tokens, 57) << g;
            }
        }
}

TEST(LlmDecode, AnthropicJsonResponse) {
    const std::string body = testing::kAnthropicJsonResponseBody;
    std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
    std::string request_body = R"({"model":"claude-haiku-4-5","max_tokens":5,"messages":[]})";
    auto conn = testing::make_connection(
        testing::cut_stream(testing::http_request("/v1/messages?beta=true", request_body), {}),
        testing::cut_stream(response, {}));
    auto d = decode(conn);
    ASSERT_TRUE(d->call);
    EXPECT_FALSE(d->call->streamed);
    EXPECT_EQ(d->call->response_model, "claude-haiku-4-5");
    EXPECT_EQ(d->call->text, "Done.");
    ASSERT_EQ(d->call->tool_calls.size(), 1u);
    EXPECT_EQ(d->call->tool_calls[0].input_json, R"({"path":"/etc/hosts"})");
    EXPECT_EQ(d->call->usage.cache_read_input_tokens, 7);
}

TEST(LlmDecode, OpenAiChatStream) {
    std::string request_body =
        R"({"model":"gpt-4o","stream":true,"messages":[{"role":"system","content":"Sys"},{"role":"user","content":"hi"}]})";
    std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    for (const auto& e : testing::openai_chat_stream_events())
        response += e;
    auto conn = testing::make_connection(
        testing::cut_stream(testing::http_request("/v1/chat/completions", request_body), {}),
        testing::cut_stream(response, {50, 300, 301}));
    auto d = decode(conn);
    ASSERT_TRUE(d->call);
    EXPECT_EQ(d->call->provider, "openai");
    EXPECT_EQ(d->call->api, "chat.completions");
    EXPECT_EQ(system_text(d->call->system_json), "Sys");
    EXPECT_EQ(d->call->text, "Hello");
    EXPECT_EQ(d->call->stop_reason, "tool_calls");
    ASSERT_EQ(d->call->tool_calls.size(), 1u);
    EXPECT_EQ(d->call->tool_calls[0].name, "get_weather");
    EXPECT_EQ(d->call->tool_calls[0].input_json, R"({"city":"Paris"})");
    EXPECT_EQ(d->call->usage.input_tokens, 50);
    EXPECT_EQ(d->call->usage.output_tokens, 9);
    EXPECT_EQ(d->call->usage.cache_read_input_tokens, 32);
}

TEST(LlmDecode, OpenAiResponsesStream) {
    std::string request_body =
        R"({"model":"gpt-5","stream":true,"instructions":"Be brief","input":"hi"})";
    std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    for (const auto& e : testing::openai_responses_stream_events())
        response += e;
    auto conn = testing::make_connection(
        testing::cut_stream(testing::http_request("/v1/responses", request_body), {}),
        testing::cut_stream(response, {}));
    auto d = decode(conn);
    ASSERT_TRUE(d->call);
    EXPECT_EQ(d->call->api, "responses");
    EXPECT_EQ(system_text(d->call->system_json), "Be brief");
    EXPECT_EQ(d->call->text, "Bonjour");
    EXPECT_EQ(d->call->stop_reason, "completed");
    ASSERT_EQ(d->call->tool_calls.size(), 1u);
    EXPECT_EQ(d->call->tool_calls[0].name, "search");
    EXPECT_EQ(d->call->usage.output_tokens, 22);
}

// The Responses stream as the API sends it, its response read in two pieces cut at
// `cut` (none if 0): request at 1 s, the first piece at 2 s, the rest at 3 s.
std::string responses_wire(std::size_t events) {
    std::string wire = testing::sse_response_head();
    auto all = testing::openai_responses_full_stream_events();
    for (std::size_t i = 0; i < events && i < all.size(); ++i)
        wire += chunk(all[i]);
    return events >= all.size() ? wire + "0\r\n\r\n" : wire;
}

replay::Connection responses_connection(const std::string& wire, std::size_t cut) {
    return testing::request_and_response(
        testing::http_request("/v1/responses", testing::kOpenAiResponsesRequestBody), wire, cut);
}

void expect_whole_responses_stream(const LlmCall& c, const std::string& where) {
    EXPECT_EQ(c.provider, "openai") << where;
    EXPECT_EQ(c.api, "responses") << where;
    EXPECT_EQ(c.model, "gpt-5-codex") << where;
    EXPECT_TRUE(c.streamed) << where;
    EXPECT_EQ(c.max_tokens, 4096) << where;
    EXPECT_EQ(system_text(c.system_json), "You are Codex.") << where;
    EXPECT_EQ(c.message_count, 1) << where;
    EXPECT_EQ(c.tool_count, 1) << where;
    EXPECT_EQ(c.response_id, "resp_7") << where;
    EXPECT_EQ(c.response_model, "gpt-5-codex-2025-09-15") << where;
    EXPECT_EQ(c.stop_reason, "completed") << where;
    // OpenAI counts the cached tokens inside input_tokens; they are shown as they came.
    EXPECT_EQ(c.usage.input_tokens, 1234) << where;
    EXPECT_EQ(c.usage.cache_read_input_tokens, 1024) << where;
    EXPECT_FALSE(c.usage.cache_creation_input_tokens) << where;
    EXPECT_EQ(c.usage.output_tokens, 96) << where;
    EXPECT_EQ(c.usage.reasoning_tokens, 30) << where;
    EXPECT_EQ(c.thinking, "Listing first.") << where;
    EXPECT_EQ(c.text, "I will look.") << where;
    ASSERT_EQ(c.tool_calls.size(), 1u) << where;
    EXPECT_EQ(c.tool_calls[0].id, "call_7") << where;  // the call_id the result names
    EXPECT_EQ(c.tool_calls[0].name, "exec_command") << where;
    EXPECT_EQ(c.tool_calls[0].input_raw, R"({"cmd": "ls -la"})") << where;
    EXPECT_EQ(c.tool_calls[0].input_json, R"({"cmd":"ls -la"})") << where;
    EXPECT_TRUE(c.tool_calls[0].input_valid) << where;
    EXPECT_EQ(c.events, 22u) << where;
    EXPECT_TRUE(c.stream_ended) << where;
    EXPECT_EQ(c.error, "") << where;
}

TEST(LlmDecode, OpenAiResponsesRealEventSequence) {
    auto d = decode(responses_connection(responses_wire(100), 0));
    ASSERT_TRUE(d->call);
    expect_whole_responses_stream(*d->call, "whole");
    EXPECT_NE(d->call->content_json.find(R"("encrypted_content":"gAAAAB0ZXN0")"), std::string::npos)
        << d->call->content_json;
}

// Every cut of the response into two reads gives the same call; the first token
// (the first reasoning summary delta) is dated by the read that completed it.
TEST(LlmDecode, OpenAiResponsesCutAtEveryByteDecodesTheSame) {
    const std::string wire = responses_wire(100);
    const std::string first_delta = R"("delta":"Listing ")";
    const std::size_t first_token_end = wire.find("\n\n", wire.find(first_delta)) + 2;
    for (std::size_t cut = 1; cut < wire.size(); ++cut) {
        const std::string where = "cut " + std::to_string(cut);
        auto d = decode(responses_connection(wire, cut));
        ASSERT_TRUE(d->call) << where;
        expect_whole_responses_stream(*d->call, where);
        ASSERT_TRUE(d->call->first_token_monotonic_ns) << where;
        EXPECT_EQ(*d->call->first_token_monotonic_ns,
                  cut >= first_token_end ? 2'000'000'000u : 3'000'000'000u)
            << where;
    }
}

// A stream that ends early (client gone, capture cut) at any byte keeps exactly
// what had arrived: the text, reasoning and arguments of the events received
// whole, a function call from the moment it was added, no usage and no end
// before response.completed.
TEST(LlmDecode, OpenAiResponsesEndingAtEveryByteKeepsWhatArrived) {
    const auto events = testing::openai_responses_full_stream_events();
    const std::string wire = responses_wire(events.size());
    // Where each event's data ends in the wire.
    std::vector<std::size_t> ends;
    std::size_t at = testing::sse_response_head().size();
    for (const auto& e : events) {
        at += chunk(e).size();
        ends.push_back(at - 2);  // before the chunk's CRLF
    }
    for (std::size_t cut = testing::sse_response_head().size(); cut <= wire.size(); ++cut) {
        const std::string where = "ends at " + std::to_string(cut);
        std::string text, thinking, arguments;
        bool call_added = false, completed = false;
        for (std::size_t i = 0; i < events.size() && ends[i] <= cut; ++i) {
            Json j = parse_json(events[i].substr(events[i].find("data: ") + 6));
            std::string type = string_member(j, "type");
            if (type == "response.output_text.delta")
                text += string_member(j, "delta");
            else if (type == "response.reasoning_summary_text.delta")
                thinking += string_member(j, "delta");
            else if (type == "response.function_call_arguments.delta")
                arguments += string_member(j, "delta");
            else if (type == "response.output_item.added" && int_member(j, "output_index") == 2)
                call_added = true;
            else if (type == "response.completed")
                completed = true;
        }
        auto d = decode(responses_connection(wire.substr(0, cut), 0));
        ASSERT_TRUE(d->call) << where;
        const LlmCall& c = *d->call;
        if (completed) {
            expect_whole_responses_stream(c, where);
            continue;
        }
        EXPECT_FALSE(c.stream_ended) << where;
        EXPECT_FALSE(c.usage.output_tokens) << where;
        EXPECT_EQ(c.text, text) << where;
        EXPECT_EQ(c.thinking, thinking) << where;
        ASSERT_EQ(c.tool_calls.size(), call_added ? 1u : 0u) << where;
        if (call_added) {
            EXPECT_EQ(c.tool_calls[0].id, "call_7") << where;
            EXPECT_EQ(c.tool_calls[0].name, "exec_command") << where;
            EXPECT_EQ(c.tool_calls[0].input_raw, arguments) << where;
            // No argument yet reads as {}; a part of them is not JSON.
            EXPECT_EQ(c.tool_calls[0].input_valid,
                      arguments.empty() || arguments == R"({"cmd": "ls -la"})")
                << where;
        }
    }
}

// Items that arrive only as deltas (no output_item events) still make the answer;
// a reasoning item with reasoning text and no summary gives its text.
TEST(LlmDecode, OpenAiResponsesDeltasWithoutItemsAndReasoningText) {
    std::string wire = testing::sse_response_head();
    for (
        const std::string& e : {
            testing::sse_event(
                "response.reasoning_text.delta",
                R"({"type":"response.reasoning_text.delta","output_index":0,"delta":"Hmm."})"),
            testing::sse_event(
                "response.output_text.delta",
                R"({"type":"response.output_text.delta","output_index":1,"delta":"Hi"})"),
            testing::sse_event(
                "response.custom_tool_call_input.delta",
                R"({"type":"response.custom_tool_call_input.delta","output_index":2,"delta":"*** Begin"})"),
        })
        wire += chunk(e);
    auto d = decode(responses_connection(wire, 0));
    ASSERT_TRUE(d->call);
    EXPECT_EQ(d->call->thinking, "Hmm.");
    EXPECT_EQ(d->call->text, "Hi");
    ASSERT_EQ(d->call->tool_calls.size(), 1u);
    EXPECT_EQ(d->call->tool_calls[0].input_raw, "*** Begin");

    // A finished reasoning item with only reasoning text (open-weight models).
    std::string done =
        testing::sse_response_head() +
        chunk(testing::sse_event(
            "response.completed",
            R"({"type":"response.completed","response":{"id":"r","status":"completed","output":[)"
            R"({"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"Think."}]},)"
            R"({"type":"message","content":[{"type":"output_text","text":"Ok"}]}]}})")) +
        "0\r\n\r\n";
    auto d2 = decode(responses_connection(done, 0));
    ASSERT_TRUE(d2->call);
    EXPECT_EQ(d2->call->thinking, "Think.");
    EXPECT_EQ(d2->call->text, "Ok");
    EXPECT_TRUE(d2->call->stream_ended);
}

TEST(LlmDecode, NotAnLlmCall) {
    auto conn = testing::make_connection(
        testing::cut_stream("GET /v1/models HTTP/1.1\r\n\r\n", {}),
        testing::cut_stream("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", {}));
    auto d = decode(conn);
    EXPECT_FALSE(d->call);
}

TEST(LlmDecode, HostileJsonNeverThrows) {
    for (const std::string& body :
         {std::string("{"), std::string("[1,2]"), std::string("{\"model\":5,\"messages\":7}"),
          std::string("{\"stream\":\"yes\",\"max_tokens\":\"x\",\"system\":[1,{\"text\":3}]}")}) {
        std::string sse =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
            "event: content_block_delta\ndata: {\"index\":\"x\",\"delta\":5}\n\n"
            "event: message_start\ndata: {\"message\":[]}\n\n"
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[5]}}]}\n\n";
        for (const char* path : {"/v1/messages", "/v1/chat/completions", "/v1/responses"}) {
            auto conn =
                testing::make_connection(testing::cut_stream(testing::http_request(path, body), {}),
                                         testing::cut_stream(sse, {}));
            auto d = decode(conn);
            EXPECT_TRUE(d->call) << path;
        }
    }
}

}  // namespace
}  // namespace ct::analyze::llm

namespace ct::analyze::llm {
namespace {

TEST(LlmDecode, DeeplyNestedJsonIsRefusedNotRecursedInto) {
    std::string deep = std::string(200000, '[') + std::string(200000, ']');
    EXPECT_TRUE(parse_json(deep).is_discarded());
    EXPECT_FALSE(parse_json("[[[1]]]").is_discarded());
    ToolCall call = make_tool_call("id", "name", deep);
    EXPECT_FALSE(call.input_valid);
    EXPECT_EQ(tool_calls_json({call}).size() > deep.size(), true);
}

}  // namespace
}  // namespace ct::analyze::llm

namespace ct::analyze::llm {
namespace {

// The model's argument text is what the agent acted on: it is kept byte for byte,
// and the compact JSON beside it keeps the model's member order.
TEST(LlmDecode, ToolInputKeepsTheModelsTextAndOrder) {
    const std::string args = "{\"zeta\": 1, \"alpha\": {\"b\": \"x\\u00e9 y\", \"a\": [2, 1]}}";
    ToolCall t = make_tool_call("id", "edit", args);
    EXPECT_TRUE(t.input_valid);
    EXPECT_EQ(t.input_raw, args);
    EXPECT_EQ(t.input_json, "{\"zeta\":1,\"alpha\":{\"b\":\"x\\u00e9 y\",\"a\":[2,1]}}");
    EXPECT_EQ(tool_calls_json({t}),
              "[{\"id\":\"id\",\"name\":\"edit\",\"input\":{\"zeta\":1,\"alpha\":{\"b\":\"x\\u00e9 "
              "y\",\"a\":[2,1]}}}]");
    ToolCall bad = make_tool_call("id", "edit", "{\"cut\": ");
    EXPECT_FALSE(bad.input_valid);
    EXPECT_EQ(bad.input_raw, "{\"cut\": ");
    EXPECT_EQ(tool_calls_json({bad}),
              "[{\"id\":\"id\",\"name\":\"edit\",\"input\":\"{\\\"cut\\\": \"}]");
}

TEST(LlmDecode, ToolInputOfEachApiIsByteExact) {
    // Anthropic JSON response: the input object as the body spelled it.
    const std::string body =
        R"({"id":"msg_9","type":"message","model":"claude-haiku-4-5","content":[)"
        R"({"type":"tool_use","id":"toolu_9","name":"write","input":{"path": "b.txt", "content": "z\u00e9"}}],)"
        R"("stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}})";
    std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
    auto conn = testing::make_connection(
        testing::cut_stream(testing::http_request("/v1/messages", R"({"model":"m","messages":[]})"),
                            {}),
        testing::cut_stream(response, {}));
    auto d = decode(conn);
    ASSERT_TRUE(d->call);
    ASSERT_EQ(d->call->tool_calls.size(), 1u);
    EXPECT_EQ(d->call->tool_calls[0].input_raw, R"({"path": "b.txt", "content": "z\u00e9"})");
    EXPECT_EQ(d->call->tool_calls[0].input_json, R"({"path":"b.txt","content":"z\u00e9"})");
    EXPECT_NE(d->call->content_json.find(R"("input":{"path":"b.txt","content":"z\u00e9"})"),
              std::string::npos)
        << d->call->content_json;

    // OpenAI chat stream: the concatenated argument deltas.
    std::string sse = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    for (const char* piece : {R"({\"q\": \"b\",)", R"( \"a\": 1})"}) {
        sse += std::string(
                   "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                   "\"id\":\"c1\",\"function\":{\"name\":\"s\",\"arguments\":\"") +
               piece + "\"}}]}}]}\n\n";
    }
    sse += "data: [DONE]\n\n";
    auto conn2 = testing::make_connection(
        testing::cut_stream(
            testing::http_request("/v1/chat/completions", R"({"model":"g","stream":true})"), {}),
        testing::cut_stream(sse, {}));
    auto d2 = decode(conn2);
    ASSERT_TRUE(d2->call);
    ASSERT_EQ(d2->call->tool_calls.size(), 1u);
    EXPECT_EQ(d2->call->tool_calls[0].input_raw, R"({"q": "b", "a": 1})");
    EXPECT_EQ(d2->call->tool_calls[0].input_json, R"({"q":"b","a":1})");
}

// A client that stops reading at `data: [DONE]` never reads the last chunk's
// terminator: the HTTP response is cut, the LLM answer is not.
TEST(LlmDecode, StreamEndMarkersAreSeen) {
    std::string wire = testing::sse_response_head();
    for (const auto& e : testing::openai_chat_stream_events())
        wire += chunk(e);
    auto conn = testing::make_connection(
        testing::cut_stream(
            testing::http_request("/v1/chat/completions", R"({"model":"g","stream":true})"), {}),
        testing::cut_stream(wire, {}));  // no "0\r\n\r\n"
    auto d = decode(conn);
    ASSERT_TRUE(d->call);
    EXPECT_FALSE(d->dc.responses[0].message.complete);
    EXPECT_EQ(d->dc.responses[0].message.gap_bytes, 0u);
    EXPECT_TRUE(d->call->stream_ended);

    // Cut before [DONE]: not ended.
    std::string cut = testing::sse_response_head();
    auto events = testing::openai_chat_stream_events();
    for (std::size_t i = 0; i + 1 < events.size(); ++i)
        cut += chunk(events[i]);
    auto conn2 = testing::make_connection(
        testing::cut_stream(
            testing::http_request("/v1/chat/completions", R"({"model":"g","stream":true})"), {}),
        testing::cut_stream(cut, {}));
    auto d2 = decode(conn2);
    ASSERT_TRUE(d2->call);
    EXPECT_FALSE(d2->call->stream_ended);

    auto d3 = decode(anthropic_stream_connection(64));
    ASSERT_TRUE(d3->call);
    EXPECT_TRUE(d3->call->stream_ended) << "message_stop";
}

}  // namespace
}  // namespace ct::analyze::llm

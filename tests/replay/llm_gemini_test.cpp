// The Gemini API rebuilt from HTTP exchanges: generateContent, both stream
// framings (SSE with ?alt=sse, a JSON array without), countTokens, Vertex AI and
// Code Assist paths; streams cut at every byte decode to the same call.
#include <gtest/gtest.h>

#include "connection_decoder.hpp"
#include "decoded_call.hpp"
#include "llm/json_scan.hpp"
#include "llm/llm_call.hpp"
#include "llm_fixtures.hpp"
#include "stream_builder.hpp"

namespace ct::analyze::llm {
namespace {

using testing::chunk;

using testing::decode;

const std::string kStreamPath = "/v1beta/models/gemini-2.5-pro:streamGenerateContent";

// The response wire of a stream: head, then the body in chunked framing, one
// chunk per GenerateContentResponse.
std::string stream_wire(bool sse) {
    std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: ";
    wire += sse ? "text/event-stream" : "application/json; charset=UTF-8";
    wire += "\r\nTransfer-Encoding: chunked\r\n\r\n";
    const auto chunks = testing::gemini_stream_chunks();
    if (sse) {
        for (const auto& c : chunks)
            wire += chunk("data: " + c + "\r\n\r\n");
    } else {
        for (std::size_t i = 0; i < chunks.size(); ++i)
            wire += chunk((i == 0 ? "[" : "\n,\r\n") + chunks[i]);
        wire += chunk("\n]");
    }
    return wire + "0\r\n\r\n";
}

// The request, then the response wire read in two pieces cut at `cut` (none if 0).
replay::Connection stream_connection(bool sse, std::size_t cut) {
    return testing::request_and_response(
        testing::gemini_request(kStreamPath + (sse ? "?alt=sse" : ""), testing::kGeminiRequestBody),
        stream_wire(sse), cut);
}

void expect_whole_stream(const LlmCall& c, const std::string& where) {
    EXPECT_EQ(c.provider, "google") << where;
    EXPECT_EQ(c.api, "streamGenerateContent") << where;
    EXPECT_EQ(c.model, "gemini-2.5-pro") << where;
    EXPECT_TRUE(c.streamed) << where;
    EXPECT_EQ(c.max_tokens, 2048) << where;
    EXPECT_EQ(system_text(c.system_json), "You are terse.\nBe exact.") << where;
    EXPECT_EQ(c.message_count, 2) << where;
    EXPECT_EQ(c.tool_count, 3) << where;
    EXPECT_EQ(c.response_model, "gemini-2.5-pro") << where;
    EXPECT_EQ(c.response_id, "resp-g1") << where;
    EXPECT_EQ(c.stop_reason, "STOP") << where;
    EXPECT_EQ(c.usage.input_tokens, 310) << where;
    EXPECT_EQ(c.usage.output_tokens, 42) << where;
    EXPECT_EQ(c.usage.cache_read_input_tokens, 256) << where;
    EXPECT_EQ(c.usage.reasoning_tokens, 48) << where;
    EXPECT_FALSE(c.usage.cache_creation_input_tokens) << where;
    EXPECT_EQ(c.text, "Let me look.") << where;
    EXPECT_EQ(c.thinking, "Need a listing.") << where;
    ASSERT_EQ(c.tool_calls.size(), 1u) << where;
    EXPECT_EQ(c.tool_calls[0].name, "list_directory") << where;
    EXPECT_EQ(c.tool_calls[0].id, "") << where;
    EXPECT_EQ(c.tool_calls[0].input_raw, R"({"path": ".", "all": true})") << where;
    EXPECT_EQ(c.tool_calls[0].input_json, R"({"path":".","all":true})") << where;
    EXPECT_EQ(c.content_json,
              R"([{"text":"Need a listing.","thought":true},{"text":"Let me look."},)"
              R"({"functionCall":{"name":"list_directory","args":{"path":".","all":true}},)"
              R"("thoughtSignature":"c2ln"},{"text":""}])")
        << where;
    EXPECT_EQ(c.events, 5u) << where;
    EXPECT_TRUE(c.stream_ended) << where;
    EXPECT_EQ(c.error, "") << where;
}

TEST(GeminiDecode, SseStream) {
    auto d = decode(stream_connection(true, 0));
    ASSERT_TRUE(d->call);
    expect_whole_stream(*d->call, "sse");
    EXPECT_EQ(d->dc.responses[0].sse.events.size(), 5u);
}

TEST(GeminiDecode, JsonArrayStream) {
    auto d = decode(stream_connection(false, 0));
    ASSERT_TRUE(d->call);
    expect_whole_stream(*d->call, "array");
    EXPECT_EQ(d->dc.responses[0].json_array_monotonic_ns.size(), 5u);
}

// Every cut of the response into two reads gives the same call; the first token
// (the thought, in the first chunk) is dated by the read that completed it.
TEST(GeminiDecode, StreamsCutAtEveryByteDecodeTheSame) {
    for (bool sse : {true, false}) {
        const std::string wire = stream_wire(sse);
        const std::size_t first_chunk_end =
            sse ? wire.find("\r\n\r\n", wire.find("data: ")) + 4
                : wire.find("resp-g1\"}") + 9;  // end of the first array element
        for (std::size_t cut = 1; cut < wire.size(); ++cut) {
            const std::string where = (sse ? "sse cut " : "array cut ") + std::to_string(cut);
            auto d = decode(stream_connection(sse, cut));
            ASSERT_TRUE(d->call) << where;
            expect_whole_stream(*d->call, where);
            ASSERT_TRUE(d->call->first_token_monotonic_ns) << where;
            EXPECT_EQ(*d->call->first_token_monotonic_ns,
                      cut >= first_chunk_end ? 2'000'000'000u : 3'000'000'000u)
                << where;
        }
    }
}

// Read by read, one chunk each 10 ms: each array element gets its own read's time.
TEST(GeminiDecode, ArrayElementTimesComeFromTheirReads) {
    testing::StreamBuilder out, in;
    out.data(testing::gemini_request(kStreamPath, testing::kGeminiRequestBody), 1'000'000'000);
    in.data(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        2'000'000'000);
    const auto chunks = testing::gemini_stream_chunks();
    for (std::size_t i = 0; i < chunks.size(); ++i)
        in.data(chunk((i == 0 ? "[" : "\n,\r\n") + chunks[i]),
                2'000'000'000 + (i + 1) * 10'000'000);
    in.data(chunk("\n]") + "0\r\n\r\n", 3'000'000'000);
    auto d = decode(testing::make_connection(out.stream(), in.stream()));
    const auto& times = d->dc.responses[0].json_array_monotonic_ns;
    ASSERT_EQ(times.size(), chunks.size());
    for (std::size_t i = 0; i < chunks.size(); ++i)
        EXPECT_EQ(times[i], 2'000'000'000 + (i + 1) * 10'000'000) << i;
    ASSERT_TRUE(d->call);
    EXPECT_EQ(d->call->first_token_monotonic_ns, 2'010'000'000u);
}

// A stream the client stopped reading, or that was cut: what arrived is kept and
// the call is not ended.
TEST(GeminiDecode, CutStreamKeepsWhatArrived) {
    for (bool sse : {true, false}) {
        std::string wire = stream_wire(sse);
        // Cut inside the fourth chunk: the thought and the text arrived whole.
        wire = wire.substr(0, wire.find("functionCall"));
        testing::StreamBuilder out, in;
        out.data(testing::gemini_request(kStreamPath + (sse ? "?alt=sse" : ""),
                                         testing::kGeminiRequestBody));
        in.data(wire);
        auto d = decode(testing::make_connection(out.stream(), in.stream()));
        ASSERT_TRUE(d->call) << sse;
        EXPECT_FALSE(d->call->stream_ended) << sse;
        EXPECT_EQ(d->call->thinking, "Need a listing.") << sse;
        EXPECT_EQ(d->call->text, "Let me look.") << sse;
        EXPECT_TRUE(d->call->tool_calls.empty()) << sse;
        EXPECT_EQ(d->call->usage.input_tokens, 310) << sse;
        EXPECT_FALSE(d->call->usage.output_tokens) << sse;
    }
}

TEST(GeminiDecode, VertexJsonAnswerWithFunctionCallId) {
    const std::string body =
        R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Reading."},)"
        R"({"functionCall":{"id":"call-7","name":"read_file","args":{"path":"a.txt"}}}]},)"
        R"("finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":12,)"
        R"("candidatesTokenCount":3,"totalTokenCount":15},"modelVersion":"gemini-2.5-flash-001",)"
        R"("responseId":"v-1"})";
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    const std::string request_body =
        R"({"contents":[{"role":"user","parts":[{"text":"read a.txt"}]}],)"
        R"("system_instruction":{"parts":[{"text":"Sys"}]},"generation_config":{"max_output_tokens":9}})";
    auto d = decode(testing::make_connection(
        testing::cut_stream(
            testing::gemini_request("/v1/projects/p-1/locations/us-central1/publishers/google/"
                                    "models/gemini-2.5-flash:generateContent",
                                    request_body),
            {}),
        testing::cut_stream(response, {30})));
    ASSERT_TRUE(d->call);
    const LlmCall& c = *d->call;
    EXPECT_EQ(c.api, "generateContent");
    EXPECT_FALSE(c.streamed);
    EXPECT_EQ(c.model, "gemini-2.5-flash");
    EXPECT_EQ(c.response_model, "gemini-2.5-flash-001");
    EXPECT_EQ(system_text(c.system_json), "Sys");
    EXPECT_EQ(c.max_tokens, 9);
    EXPECT_EQ(c.text, "Reading.");
    ASSERT_EQ(c.tool_calls.size(), 1u);
    EXPECT_EQ(c.tool_calls[0].id, "call-7");
    EXPECT_EQ(c.tool_calls[0].input_json, R"({"path":"a.txt"})");
    EXPECT_EQ(c.usage.input_tokens, 12);
    EXPECT_EQ(c.usage.output_tokens, 3);
    EXPECT_FALSE(c.usage.reasoning_tokens);
    EXPECT_EQ(c.first_token_monotonic_ns, d->dc.responses[0].message.start_monotonic_ns);
}

TEST(GeminiDecode, CountTokensIsNoConversationTurn) {
    const std::string body = R"({"totalTokens":1234,"cachedContentTokenCount":1000})";
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    auto d = decode(testing::make_connection(
        testing::cut_stream(testing::gemini_request("/v1beta/models/gemini-2.5-pro:countTokens",
                                                    R"({"contents":[{"parts":[{"text":"hi"}]}]})"),
                            {}),
        testing::cut_stream(response, {})));
    ASSERT_TRUE(d->call);
    EXPECT_EQ(d->call->api, "countTokens");
    EXPECT_FALSE(d->call->in_conversation);
    EXPECT_EQ(d->call->message_count, 1);
    EXPECT_EQ(d->call->usage.input_tokens, 1234);
    EXPECT_EQ(d->call->usage.cache_read_input_tokens, 1000);
    EXPECT_FALSE(d->call->usage.output_tokens);
}

// Gemini CLI signed in with Google goes through Code Assist: the request and
// every streamed answer are wrapped.
TEST(GeminiDecode, CodeAssistWrapping) {
    const std::string request_body =
        R"({"model":"gemini-2.5-pro","project":"p","user_prompt_id":"u1","request":)" +
        testing::kGeminiRequestBody + "}";
    std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    for (const auto& c : testing::gemini_stream_chunks())
        wire += "data: {\"response\":" + c + ",\"traceId\":\"trace-9\"}\r\n\r\n";
    auto d = decode(testing::make_connection(
        testing::cut_stream(
            testing::gemini_request("/v1internal:streamGenerateContent?alt=sse", request_body), {}),
        testing::cut_stream(wire, {})));
    ASSERT_TRUE(d->call);
    const LlmCall& c = *d->call;
    expect_whole_stream(c, "code assist");  // the inner responseId wins over traceId
    // The conversation is the inner request's.
    EXPECT_EQ(c.messages[0], R"({"role":"user","parts":[{"text":"List the files"}]})");
}

TEST(GeminiDecode, ErrorsAreReported) {
    const std::string body =
        R"({"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}})";
    for (const std::string& wire_body : {body, "[" + body + "]"}) {
        const std::string response =
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(wire_body.size()) + "\r\n\r\n" + wire_body;
        auto d = decode(testing::make_connection(
            testing::cut_stream(testing::gemini_request(kStreamPath, testing::kGeminiRequestBody),
                                {}),
            testing::cut_stream(response, {})));
        ASSERT_TRUE(d->call);
        EXPECT_EQ(d->call->error, "RESOURCE_EXHAUSTED: Resource has been exhausted") << wire_body;
    }
}

TEST(GeminiDecode, PathsThatAreNotGemini) {
    EXPECT_FALSE(gemini_path("/v1beta/models/gemini-2.5-pro:embedContent"));
    EXPECT_FALSE(gemini_path("/v1beta/files:generateContent"));
    EXPECT_FALSE(gemini_path("/v1beta/models/:generateContent"));
    EXPECT_FALSE(gemini_path("/generateContent"));
    auto tuned = gemini_path("/v1beta/tunedModels/my-model:generateContent");
    ASSERT_TRUE(tuned);
    EXPECT_EQ(tuned->model, "my-model");
    auto express = gemini_path("/v1beta1/publishers/google/models/gemini-2.5-pro:countTokens");
    ASSERT_TRUE(express);
    EXPECT_EQ(express->method, "countTokens");
    EXPECT_EQ(express->model, "gemini-2.5-pro");
}

TEST(GeminiDecode, HostileBodiesNeverThrow) {
    for (const std::string& body :
         {std::string("["), std::string("[{\"candidates\":5},"), std::string("[1,2,{]"),
          std::string("{\"candidates\":[{\"content\":{\"parts\":[5,{\"functionCall\":3},"
                      "{\"text\":7},{\"functionCall\":{\"args\":\"x\"}}]}}]}"),
          std::string("{\"response\":[],\"candidates\":{}}"), std::string("{\"error\":\"x\"}")}) {
        for (const char* type : {"application/json", "text/event-stream"}) {
            std::string wire_body =
                std::string(type) == "text/event-stream" ? "data: " + body + "\n\n" : body;
            std::string response = std::string("HTTP/1.1 200 OK\r\nContent-Type: ") + type +
                                   "\r\nContent-Length: " + std::to_string(wire_body.size()) +
                                   "\r\n\r\n" + wire_body;
            auto d = decode(testing::make_connection(
                testing::cut_stream(testing::gemini_request(kStreamPath, body), {}),
                testing::cut_stream(response, {})));
            EXPECT_TRUE(d->call) << body;
        }
    }
}

// A hostile array of many small elements: times are kept for the first 4096 only,
// and the decoder walks the rest without a list of them.
TEST(GeminiDecode, HugeArraysAreBounded) {
    std::string body = "[";
    for (int i = 0; i < 20000; ++i)
        body += i ? ",{}" : "{}";
    body += "]";
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    auto d = decode(testing::make_connection(
        testing::cut_stream(testing::gemini_request(kStreamPath, testing::kGeminiRequestBody), {}),
        testing::cut_stream(response, {})));
    EXPECT_EQ(d->dc.responses[0].json_array_monotonic_ns.size(), 4096u);
    ASSERT_TRUE(d->call);
    EXPECT_EQ(d->call->events, 20000u);
    EXPECT_TRUE(d->call->stream_ended);
    EXPECT_TRUE(d->call->text.empty());
}

TEST(JsonScan, ArrayPrefixElements) {
    bool closed = true;
    auto e = array_prefix_elements(R"( [{"a":1} , "s", 3 ,{"b":)", &closed);
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(e[0], R"({"a":1})");
    EXPECT_EQ(e[1], R"("s")");
    EXPECT_EQ(e[2], "3");
    EXPECT_FALSE(closed);
    EXPECT_EQ(array_prefix_elements("[1, 2", &closed).size(), 1u) << "2 may go on";
    EXPECT_EQ(array_prefix_elements(R"([{"x":1}])", &closed).size(), 1u);
    EXPECT_TRUE(closed);
    EXPECT_EQ(array_prefix_elements(R"([{"x":1}})", &closed).size(), 0u);
    EXPECT_TRUE(array_prefix_elements("{}", &closed).empty());
    EXPECT_TRUE(array_prefix_elements("[]", &closed).empty());
    EXPECT_TRUE(closed);
}

}  // namespace
}  // namespace ct::analyze::llm

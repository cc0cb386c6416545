// The synthetic capture the export tests read: an agent (pid 100) with a
// child (pid 101); an Anthropic conversation of two calls (a streamed tool_use
// answer, then the tool_result sent back and a JSON answer), a gzip JSON GET with
// a secret header and query parameter, binary request and response bodies, a 404,
// a request never answered, an OpenAI stream from the child, and HTTP/2.
#pragma once

#include <string>

#include "gzip.hpp"
#include "http2_frames.hpp"
#include "llm_fixtures.hpp"
#include "synthetic_capture.hpp"

namespace ct::testing {

inline void write_export_session(const std::string& path) {
    using ct::testing::chunk;
    ct::testing::SyntheticOptions options;
    options.uuid_seed = "export-test";
    options.target_cmdline = {"/usr/bin/agent", "--task", "list files"};
    ct::testing::SyntheticCapture cap(path, options);
    cap.process(100, 1, "/usr/bin/agent", {"/usr/bin/agent", "--task", "list files"});
    cap.advance_ns(5'000'000);
    cap.process(101, 100, "/usr/bin/helper", {"helper", "--weather"});

    // The conversation: a streamed answer asking for bash, then the tool result.
    auto g1 = cap.open_connection(100, 0x1000, "agent");
    cap.socket(g1, 5, "160.79.104.10", 443, 50000);
    cap.write(g1,
              ct::testing::http_request("/v1/messages", ct::testing::kAnthropicStreamRequestBody));
    cap.advance_ns(200'000'000);
    cap.read(g1, ct::testing::sse_response_head());
    for (const auto& e : ct::testing::anthropic_stream_events()) {
        cap.advance_ns(10'000'000);
        cap.read(g1, chunk(e));
    }
    cap.read(g1, "0\r\n\r\n");
    cap.advance_ns(1'500'000'000);  // the agent runs the tool
    const std::string second =
        R"({"model":"claude-sonnet-4-5","max_tokens":1024,"system":"You are terse.",)"
        R"("messages":[{"role":"user","content":"List files"},)"
        R"({"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"bash","input":{"command":"ls -la"}}]},)"
        R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a.txt b.txt"}]}]})";
    cap.write(g1, ct::testing::http_request("/v1/messages", second));
    cap.advance_ns(300'000'000);
    const std::string body = ct::testing::kAnthropicJsonResponseBody;
    cap.read(g1, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);

    // Not LLM: gzip JSON with secrets in a header and the query; binary bodies; a 404.
    cap.advance_ns(20'000'000);
    cap.write(g1,
              "GET /v1/models?limit=2&api_key=sk-query-secret&q=a%20b+c HTTP/1.1\r\n"
              "Host: api.anthropic.com\r\nAccept-Encoding: gzip\r\nx-api-key: sk-ant-secret-123\r\n"
              "Cookie: theme=dark; sid=s3cr3t\r\n\r\n");
    const std::string models = R"({"data":[{"id":"claude-sonnet-4-5"}],"has_more":false})";
    const std::string gz = gzip(models);
    cap.advance_ns(40'000'000);
    cap.read(g1,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
             "Content-Length: " +
                 std::to_string(gz.size()) + "\r\n\r\n" + gz);
    const std::string upload(
        "\xff\xfe\x00\x01"
        "binary\x80",
        11);
    cap.write(g1,
              "POST /upload HTTP/1.1\r\nHost: api.anthropic.com\r\n"
              "Content-Type: application/octet-stream\r\nContent-Length: " +
                  std::to_string(upload.size()) + "\r\n\r\n" + upload);
    const std::string png("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff", 17);
    cap.advance_ns(30'000'000);
    cap.read(g1, "HTTP/1.1 201 Created\r\nContent-Type: image/png\r\nContent-Length: " +
                     std::to_string(png.size()) + "\r\n\r\n" + png);
    cap.write(g1, "GET /missing HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n");
    cap.advance_ns(10'000'000);
    cap.read(g1, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
    cap.close(g1);

    // The child's OpenAI stream.
    auto g2 = cap.open_connection(101, 0x2000, "helper");
    cap.socket(g2, 6, "162.159.140.245", 443, 50001);
    const std::string chat = R"({"model":"gpt-4o","stream":true,"messages":[{}]})";
    cap.write(g2,
              "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: "
              "Bearer sk-openai-9\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(chat.size()) + "\r\n\r\n" + chat);
    cap.advance_ns(150'000'000);
    cap.read(g2,
             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
             "Transfer-Encoding: chunked\r\n\r\n");
    for (const auto& e : ct::testing::openai_chat_stream_events()) {
        cap.advance_ns(5'000'000);
        cap.read(g2, chunk(e));
    }
    cap.read(g2, "0\r\n\r\n");
    cap.close(g2);

    // HTTP/2: a POST with a body answered with JSON, and a GET answered 404.
    auto h = cap.open_connection(100, 0x3000, "agent");
    cap.socket(h, 7, "93.184.215.14", 443, 50002);
    const std::uint8_t kData = 0, kHeaders = 1, kSettings = 4, kEndStream = 1, kEndHeaders = 4;
    std::string post = "\x83\x87" + hpack_literal(1, "h2.example") + hpack_literal(4, "/v2/items") +
                       hpack_literal(31, "text/plain");
    std::string get = "\x82\x87" + hpack_literal(1, "h2.example") + hpack_literal(4, "/v2/none");
    cap.write(h, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + h2_frame(kSettings, 0, 0, "") +
                     h2_frame(kHeaders, kEndHeaders, 1, post) +
                     h2_frame(kData, kEndStream, 1, "h2 request body") +
                     h2_frame(kHeaders, kEndStream | kEndHeaders, 3, get));
    cap.advance_ns(25'000'000);
    cap.read(
        h, h2_frame(kSettings, 0, 0, "") +
               h2_frame(kHeaders, kEndHeaders, 1, "\x88" + hpack_literal(31, "application/json")) +
               h2_frame(kData, kEndStream, 1, R"({"created":true})") +
               h2_frame(kHeaders, kEndStream | kEndHeaders, 3, "\x8d"));
    cap.close(h);

    // A request the capture never saw answered.
    auto g4 = cap.open_connection(100, 0x4000, "agent");
    cap.write(g4, "GET /slow HTTP/1.1\r\nHost: slow.example\r\n\r\n");
    cap.advance_ns(50'000'000);
    cap.exit(101, 0);
    cap.exit(100, 0);
    cap.finish();
}

}  // namespace ct::testing

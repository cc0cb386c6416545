// HTTP/2: frames built with nghttp2's HPACK encoder decode to the same
// requests, responses and SSE events as HTTP/1.1 would give.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <memory>
#include <random>

#include "connection_decoder.hpp"
#include "http2_frames.hpp"
#include "llm/llm_call.hpp"
#include "llm_fixtures.hpp"
#include "protocols/http2/frames.hpp"
#include "stream_builder.hpp"

namespace ct::analyze {
namespace {

struct Deflater {
    Deflater() { nghttp2_hd_deflate_new(&raw, 4096); }
    ~Deflater() { nghttp2_hd_deflate_del(raw); }
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;
    std::string block(const std::vector<std::pair<std::string, std::string>>& headers) {
        std::vector<nghttp2_nv> nva;
        for (const auto& [n, v] : headers) {
            nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                           reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                           v.size(), NGHTTP2_NV_FLAG_NONE});
        }
        std::string out(nghttp2_hd_deflate_bound(raw, nva.data(), nva.size()), '\0');
        auto n = nghttp2_hd_deflate_hd(raw, reinterpret_cast<std::uint8_t*>(out.data()), out.size(),
                                       nva.data(), nva.size());
        EXPECT_GE(n, 0);
        out.resize(static_cast<std::size_t>(n));
        return out;
    }
    nghttp2_hd_deflater* raw = nullptr;
};

constexpr auto frame = &testing::h2_frame;

TEST(Http2Decode, StreamsWithSseHeadersSplitAndPadding) {
    using namespace http2;
    Deflater client, server;
    std::string body = testing::kAnthropicStreamRequestBody;
    std::string out = std::string(kClientPreface) + frame(kSettings, 0, 0, "");
    // Stream 1: POST with the header block split into HEADERS + CONTINUATION.
    std::string block = client.block({{":method", "POST"},
                                      {":path", "/v1/messages"},
                                      {":scheme", "https"},
                                      {":authority", "api.anthropic.com"},
                                      {"x-api-key", "sk-secret"},
                                      {"content-type", "application/json"}});
    out += frame(kHeaders, 0, 1, block.substr(0, 5)) +
           frame(kContinuation, kEndHeaders, 1, block.substr(5));
    out += frame(kData, 0, 1, body.substr(0, 40)) + frame(kData, kEndStream, 1, body.substr(40));
    // Stream 3: GET, headers only.
    out += frame(kHeaders, kEndHeaders | kEndStream, 3,
                 client.block({{":method", "GET"},
                               {":path", "/v1/models"},
                               {":scheme", "https"},
                               {":authority", "api.anthropic.com"}}));

    std::string in = frame(kSettings, 0, 0, std::string("\x00\x01\x00\x00\x10\x00", 6)) +
                     frame(kSettings, kAck, 0, "");
    // Stream 3 is answered first (streams interleave), with a padded DATA frame.
    in += frame(kHeaders, kEndHeaders, 3,
                server.block({{":status", "200"}, {"content-type", "application/json"}}));
    in += frame(kData, kEndStream | kPadded, 3,
                std::string(1, '\x03') + "{\"data\":[]}" + std::string(3, '\0'));
    in += frame(kHeaders, kEndHeaders, 1,
                server.block({{":status", "200"}, {"content-type", "text/event-stream"}}));
    testing::StreamBuilder sent, received;
    sent.data(out, 1'000'000'000);
    received.data(in, 2'000'000'000);
    auto events = testing::anthropic_stream_events();
    for (std::size_t i = 0; i < events.size(); ++i) {
        received.data(frame(kData, i + 1 == events.size() ? kEndStream : 0, 1, events[i]),
                      2'000'000'000 + (i + 1) * 1'000'000);
    }
    auto conn = testing::make_connection(sent.stream(), received.stream());
    DecodedConnection dc = decode_connection(conn);
    EXPECT_EQ(dc.protocol, "http2");
    ASSERT_EQ(dc.requests.size(), 2u);
    ASSERT_EQ(dc.responses.size(), 2u);
    EXPECT_EQ(dc.requests[0].message.method, "POST");
    EXPECT_EQ(dc.requests[0].message.version(), "HTTP/2");
    EXPECT_EQ(dc.requests[0].body.bytes, body);
    EXPECT_TRUE(dc.requests[0].message.complete);
    ASSERT_EQ(dc.exchanges.size(), 2u);
    ASSERT_TRUE(dc.exchanges[0].response);
    const DecodedMessage& stream1 = dc.responses[*dc.exchanges[0].response];
    EXPECT_EQ(stream1.message.status, 200);
    EXPECT_TRUE(stream1.message.complete);
    ASSERT_EQ(stream1.sse.events.size(), events.size());
    // Each event has the time of the read that carried its DATA frame.
    EXPECT_EQ(stream1.sse_monotonic_ns[2], 2'003'000'000u);
    EXPECT_EQ(dc.responses[*dc.exchanges[1].response].body.bytes, "{\"data\":[]}");
    auto call = llm::decode_llm_call(dc.requests[0], &stream1);
    ASSERT_TRUE(call);
    EXPECT_EQ(call->text, "Let me check.");
    EXPECT_EQ(call->usage.output_tokens, 57);
    ASSERT_EQ(call->tool_calls.size(), 1u);
}

TEST(Http2Decode, GapStopsTheDirectionAndMarksOpenStreams) {
    using namespace http2;
    Deflater client, server;
    std::string out =
        std::string(kClientPreface) +
        frame(kHeaders, kEndHeaders | kEndStream, 1,
              client.block({{":method", "GET"}, {":path", "/a"}, {":authority", "h"}}));
    std::string in = frame(kHeaders, kEndHeaders, 1, server.block({{":status", "200"}})) +
                     frame(kData, 0, 1, "part");
    testing::StreamBuilder sent, received;
    sent.data(out);
    received.data(in).gap(100).data("garbage after the gap");
    auto conn = testing::make_connection(sent.stream(), received.stream());
    DecodedConnection dc = decode_connection(conn);
    ASSERT_EQ(dc.responses.size(), 1u);
    EXPECT_FALSE(dc.responses[0].message.complete);
    EXPECT_EQ(dc.responses[0].body.bytes, "part");
}

// Found by fuzz_http2: a :status of many digits overflowed an int.
TEST(Http2Decode, LongStatusSaturates) {
    using namespace http2;
    Deflater client, server;
    std::string out =
        std::string(kClientPreface) +
        frame(kHeaders, kEndHeaders | kEndStream, 1,
              client.block({{":method", "GET"}, {":path", "/"}, {":authority", "h"}}));
    std::string in =
        frame(kHeaders, kEndHeaders | kEndStream, 1, server.block({{":status", "3333333020000"}}));
    auto conn = testing::make_connection(testing::cut_stream(out, {}), testing::cut_stream(in, {}));
    DecodedConnection dc = decode_connection(conn);
    ASSERT_EQ(dc.responses.size(), 1u);
    EXPECT_EQ(dc.responses[0].message.status, 333333);
}

// A body past the limit keeps its start; the cut is recorded.
TEST(Http2Decode, BodyPastTheLimitIsCut) {
    using namespace http2;
    Deflater client, server;
    std::string out =
        std::string(kClientPreface) +
        frame(kHeaders, kEndHeaders | kEndStream, 1,
              client.block({{":method", "GET"}, {":path", "/"}, {":authority", "h"}}));
    std::string in = frame(kHeaders, kEndHeaders, 1, server.block({{":status", "200"}})) +
                     frame(kData, 0, 1, std::string(3000, 'a')) +
                     frame(kData, kEndStream, 1, std::string(3000, 'b'));
    auto conn = testing::make_connection(testing::cut_stream(out, {}), testing::cut_stream(in, {}));
    DecodeLimits limits;
    limits.max_body = 4096;
    DecodedConnection dc = decode_connection(conn, limits);
    ASSERT_EQ(dc.responses.size(), 1u);
    const auto& r = dc.responses[0];
    EXPECT_TRUE(r.message.complete);
    EXPECT_EQ(r.body.bytes, std::string(3000, 'a') + std::string(1096, 'b'));
    EXPECT_EQ(r.body.encoded_size, 6000u);
    EXPECT_NE(r.body.decode_error.find("the first 4096 of its 6000 captured bytes were kept"),
              std::string::npos)
        << r.body.decode_error;
}

TEST(Http2Decode, HostileFramesNeverCrash) {
    std::mt19937 rng(2);
    for (int round = 0; round < 500; ++round) {
        std::string out(http2::kClientPreface);
        std::string in;
        for (int k = 0; k < 5; ++k) {
            std::string payload(rng() % 40, '\0');
            for (char& c : payload)
                c = static_cast<char>(rng());
            out += frame(static_cast<std::uint8_t>(rng() % 11), static_cast<std::uint8_t>(rng()),
                         rng() % 4, payload);
            in += frame(static_cast<std::uint8_t>(rng() % 11), static_cast<std::uint8_t>(rng()),
                        rng() % 4, payload);
        }
        auto conn =
            testing::make_connection(testing::cut_stream(out, {}), testing::cut_stream(in, {}));
        DecodedConnection dc = decode_connection(conn);
        EXPECT_EQ(dc.protocol, "http2");
    }
}

}  // namespace
}  // namespace ct::analyze

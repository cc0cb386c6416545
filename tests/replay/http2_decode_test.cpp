// HTTP/2: frames built with nghttp2's HPACK encoder decode to the same
// requests, responses and SSE events as HTTP/1.1 would give.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <limits>
#include <memory>
#include <random>

#include "connection_decoder.hpp"
#include "http2_feed.hpp"
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
    // Exchanges in the order they completed: stream 3's first.
    ASSERT_EQ(dc.exchanges.size(), 2u);
    ASSERT_TRUE(dc.exchanges[0].request && dc.exchanges[1].request);
    EXPECT_EQ(dc.requests[*dc.exchanges[0].request].message.method, "GET");
    const DecodedMessage& post = dc.requests[*dc.exchanges[1].request];
    EXPECT_EQ(post.message.method, "POST");
    EXPECT_EQ(post.message.version(), "HTTP/2");
    EXPECT_EQ(post.body.bytes, body);
    EXPECT_TRUE(post.message.complete);
    ASSERT_TRUE(dc.exchanges[1].response);
    const DecodedMessage& stream1 = dc.responses[*dc.exchanges[1].response];
    EXPECT_EQ(stream1.message.status, 200);
    EXPECT_TRUE(stream1.message.complete);
    ASSERT_EQ(stream1.sse.events.size(), events.size());
    // Each event has the time of the read that carried its DATA frame.
    EXPECT_EQ(stream1.sse_monotonic_ns[2], 2'003'000'000u);
    EXPECT_EQ(dc.responses[*dc.exchanges[0].response].body.bytes, "{\"data\":[]}");
    auto call = llm::decode_llm_call(post, &stream1);
    ASSERT_TRUE(call);
    EXPECT_EQ(call->text, "Let me check.");
    EXPECT_EQ(call->usage.output_tokens, 57);
    ASSERT_EQ(call->tool_calls.size(), 1u);
}

// In import order (a Decoder with HoldBounds): a RST_STREAM of the client ends
// the stream on the server's side too (RFC 9113 5.1), so the exchange goes at
// once although the server said nothing more, and exchanges go in the order
// they complete; what the server sends on the reset stream later is ignored.
TEST(Http2Decode, ResetEndsTheStreamOnBothSidesInImportOrder) {
    using namespace http2;
    Deflater client, server;
    Decoder decoder(std::numeric_limits<std::size_t>::max(), HoldBounds{});
    auto request = [&](std::uint32_t stream) {
        return frame(kHeaders, kEndHeaders | kEndStream, stream,
                     client.block({{":method", "GET"},
                                   {":path", "/" + std::to_string(stream)},
                                   {":scheme", "https"},
                                   {":authority", "a.example"}}));
    };
    // Encoded in order (HPACK state).
    std::string out = std::string(kClientPreface) + frame(kSettings, 0, 0, "") + request(1);
    out += request(3);
    decoder.feed(0, out);
    decoder.feed(1, frame(kSettings, 0, 0, "") +
                        frame(kHeaders, kEndHeaders, 1, server.block({{":status", "200"}})) +
                        frame(kData, 0, 1, "part"));
    EXPECT_TRUE(decoder.take_settled().empty());
    decoder.feed(0, frame(kRstStream, 0, 1, std::string("\0\0\0\x08", 4)));
    auto settled = decoder.take_settled();
    ASSERT_EQ(settled.size(), 1u);
    ASSERT_TRUE(settled[0].request && settled[0].response);
    EXPECT_EQ(settled[0].request->stream_id, 1u);
    EXPECT_TRUE(settled[0].request->complete);
    EXPECT_FALSE(settled[0].response->complete);
    EXPECT_EQ(settled[0].response->body, "part");
    // Still in flight: ignored. Stream 3 completes next.
    decoder.feed(1, frame(kData, kEndStream, 1, "late") +
                        frame(kHeaders, kEndHeaders | kEndStream, 3,
                              server.block({{":status", "204"}})));
    settled = decoder.take_settled();
    ASSERT_EQ(settled.size(), 1u);
    ASSERT_TRUE(settled[0].response);
    EXPECT_EQ(settled[0].response->status, 204);
    EXPECT_TRUE(settled[0].response->complete);
    decoder.end(0, false);
    decoder.end(1, false);
    EXPECT_TRUE(decoder.take_settled().empty());
    EXPECT_EQ(decoder.held_bytes(), 0u);
}

// Without bounds (the fuzz differential's mode) a client's RST_STREAM does not
// end the server's side: the exchange waits for it.
TEST(Http2Decode, WithoutBoundsTheResetWaitsForTheOtherSide) {
    using namespace http2;
    Deflater client, server;
    Decoder decoder;
    decoder.feed(0, std::string(kClientPreface) + frame(kSettings, 0, 0, "") +
                        frame(kHeaders, kEndHeaders | kEndStream, 1,
                              client.block({{":method", "GET"},
                                            {":path", "/"},
                                            {":scheme", "https"},
                                            {":authority", "a.example"}})) +
                        frame(kRstStream, 0, 1, std::string("\0\0\0\x08", 4)));
    decoder.feed(1, frame(kSettings, 0, 0, ""));
    EXPECT_TRUE(decoder.take_settled().empty());
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

// The decoder fed in pieces, the directions taking turns and the exchanges taken
// as soon as they are settled (as the streamed import does), gives the
// exchanges of the whole decode: streams interleaved, reset, reused, answered
// with 1xx, trailers, table size updates announced late or never, frames cut
// anywhere, random frames among them.
TEST(Http2Decode, FedInPiecesGivesTheWholeDecode) {
    using namespace http2;
    std::mt19937 rng(7);
    int with_exchanges = 0;
    for (int round = 0; round < 400; ++round) {
        Deflater client, server;
        std::string out = std::string(kClientPreface) + frame(kSettings, 0, 0, "");
        std::string in;
        const bool big_table = round % 5 == 0;
        if (big_table) {
            // The client's encoder uses 16 KiB of table, which the server
            // announces late (at its 12th frame, if that is a case 8) or never.
            nghttp2_hd_deflate_del(client.raw);
            nghttp2_hd_deflate_new(&client.raw, 16384);
            nghttp2_hd_deflate_change_table_size(client.raw, 16384);
            if (round % 10 == 0)
                in += frame(kSettings, 0, 0, std::string("\x00\x01\x00\x00\x20\x00", 6));
        }
        for (int k = 0; k < 24; ++k) {
            const auto stream = static_cast<std::uint32_t>(1 + 2 * (rng() % 5));
            const bool end = rng() % 3 == 0;
            switch (rng() % 9) {
                case 0:
                case 1:
                    out += frame(kHeaders, kEndHeaders | (end ? kEndStream : 0), stream,
                                 client.block({{":method", "POST"},
                                               {":path", "/p" + std::to_string(rng() % 3)},
                                               {":authority", "h"}}));
                    break;
                case 2:
                    out += frame(kData, end ? kEndStream : 0, stream, std::string(rng() % 50, 'q'));
                    break;
                case 3:
                    in += frame(kHeaders, kEndHeaders | (end ? kEndStream : 0), stream,
                                server.block({{":status", rng() % 4 == 0 ? "103" : "200"},
                                              {"content-type", "text/event-stream"}}));
                    break;
                case 4:
                case 5:
                    in += frame(kData, end ? kEndStream : 0, stream,
                                "data: " + std::to_string(rng() % 1000) + "\n\n");
                    break;
                case 6:
                    (rng() % 2 ? out : in) +=
                        frame(kRstStream, 0, stream, std::string("\0\0\0\x08", 4));
                    break;
                case 7: {
                    std::string payload(rng() % 20, '\0');
                    for (char& c : payload)
                        c = static_cast<char>(rng());
                    if (rng() % 8 == 0)
                        (rng() % 2 ? out : in) +=
                            frame(static_cast<std::uint8_t>(rng() % 11),
                                  static_cast<std::uint8_t>(rng()), stream, payload);
                    break;
                }
                case 8:
                    if (big_table && k == 12)
                        in += frame(kSettings, 0, 0, std::string("\x00\x01\x00\x00\x40\x00", 6));
                    else
                        in += frame(kPing, 0, 0, std::string(8, 'p'));
                    break;
            }
        }
        std::vector<std::size_t> out_cuts, in_cuts;
        for (int c = 0; c < 6; ++c) {
            out_cuts.push_back(rng() % (out.size() + 1));
            in_cuts.push_back(rng() % (in.size() + 1));
        }
        std::sort(out_cuts.begin(), out_cuts.end());
        std::sort(in_cuts.begin(), in_cuts.end());
        testing::StreamBuilder sent, received;
        std::size_t prev = 0;
        for (std::size_t c : out_cuts) {
            sent.data(out.substr(prev, c - prev));
            prev = c;
        }
        sent.data(out.substr(prev));
        prev = 0;
        for (std::size_t c : in_cuts) {
            received.data(in.substr(prev, c - prev));
            prev = c;
        }
        if (round % 7 == 0)
            received.gap(30);  // the server's first run ends early
        received.data(in.substr(prev));
        auto conn = testing::make_connection(sent.stream(), received.stream());
        const StreamView client_view(conn.streams[0]);
        const StreamView server_view(conn.streams[1]);
        const std::size_t body_limit = round % 3 == 0 ? 40 : 1u << 20;
        auto whole = ct::fuzz::whole_exchanges(client_view, server_view, body_limit);
        auto fed = ct::fuzz::fed_exchanges(client_view, server_view, body_limit,
                                           [&](int) { return 1 + rng() % 60; });
        ASSERT_EQ(whole, fed) << "round " << round;
        with_exchanges += whole.size() > 2;
    }
    EXPECT_GT(with_exchanges, 200);
}

// A header block's table size update may use what its peer announced anywhere in
// the connection (SETTINGS_HEADER_TABLE_SIZE, the most), and no more: fed in
// pieces, the block waits for the announcement.
TEST(Http2Decode, TableSizeUpdateNeedsThePeersAnnouncement) {
    using namespace http2;
    for (bool announced : {true, false}) {
        Deflater client, server;
        nghttp2_hd_deflate_del(client.raw);
        nghttp2_hd_deflate_new(&client.raw, 16384);
        nghttp2_hd_deflate_change_table_size(client.raw, 16384);
        std::string out =
            std::string(kClientPreface) + frame(kSettings, 0, 0, "") +
            frame(kHeaders, kEndHeaders | kEndStream, 1,
                  client.block({{":method", "GET"}, {":path", "/a"}, {":authority", "h"}}));
        std::string in =
            frame(kHeaders, kEndHeaders | kEndStream, 1, server.block({{":status", "200"}})) +
            frame(kSettings, 0, 0,
                  std::string(announced ? "\x00\x01\x00\x00\x40\x00" : "\x00\x01\x00\x00\x3f\xff",
                              6));
        auto conn =
            testing::make_connection(testing::cut_stream(out, {}), testing::cut_stream(in, {}));
        const StreamView client_view(conn.streams[0]);
        const StreamView server_view(conn.streams[1]);
        auto h2 = decode_connection(client_view, server_view, true);
        EXPECT_EQ(h2.requests.size(), announced ? 1u : 0u);
        EXPECT_EQ(h2.damaged, !announced);
        auto whole = ct::fuzz::whole_exchanges(client_view, server_view, 1u << 20);
        // The client's block first: it waits for the server's SETTINGS.
        auto fed = ct::fuzz::fed_exchanges(client_view, server_view, 1u << 20,
                                           [](int d) { return d == 0 ? 1u << 20 : 1u; });
        EXPECT_EQ(whole, fed);
        ASSERT_EQ(whole.size(), 1u);
        EXPECT_EQ(whole[0].starts_with("-"), !announced);
    }
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

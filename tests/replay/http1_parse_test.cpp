// HTTP/1.x framing: golden streams parse the same whatever the cut, gaps only
// damage the messages they touch, and hostile input never crashes.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <random>

#include "connection_decoder.hpp"
#include "protocols/http1/parse.hpp"
#include "protocols/http1/stream_decoder.hpp"
#include "stream_builder.hpp"
#include "timing_ratio.hpp"

namespace ct::analyze::http1 {
namespace {

const std::string kRequests =
    "POST /v1/messages HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\n"
    "Content-Length: 13\r\n\r\n{\"hello\":\"x\"}"
    "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Folded: one\r\n two\r\n\r\n"
    "PUT /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
    "X-Trailer: yes\r\n\r\n"
    "HEAD /h HTTP/1.1\r\n\r\n"
    "\r\nGET /after-crlf HTTP/1.0\nHost: lf-only\n\n";

const std::vector<std::string> kMethods = {"POST", "GET", "PUT", "HEAD", "GET"};

const std::string kResponses =
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    "HTTP/1.1 204 No Content\r\n\r\n"
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";

struct Summary {
    std::string start;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::vector<std::pair<std::string, std::string>> trailers;
    bool complete;
    bool operator==(const Summary&) const = default;
};

Summary summarise(const Message& m) {
    Summary s;
    s.start = m.kind == MessageKind::Request ? m.method + " " + m.target
                                             : std::to_string(m.status) + " " + m.reason;
    for (const auto& h : m.headers)
        s.headers.emplace_back(h.name, h.value);
    for (const auto& h : m.trailers)
        s.trailers.emplace_back(h.name, h.value);
    s.body = m.body;
    s.complete = m.complete;
    return s;
}

// Feeds `input` in pieces to parse_frame as a streaming reader would: keep the
// unparsed rest, append the next piece, parse again.
std::vector<Summary> parse_in_pieces(MessageKind kind, const std::string& input,
                                     const std::vector<std::size_t>& cuts) {
    std::vector<Summary> out;
    std::deque<std::string> methods(kMethods.begin(), kMethods.end());
    std::string buffer;
    std::size_t prev = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(input.size());
    for (std::size_t end : ends) {
        buffer += input.substr(prev, end - prev);
        prev = end;
        const bool last = end == input.size();
        while (!buffer.empty()) {
            Message m;
            std::string method = methods.empty() ? "" : methods.front();
            ParseResult r = parse_frame(kind, buffer, ParseContext{0, method, last}, m);
            if (r.state != ParseState::Success) {
                EXPECT_NE(r.state, ParseState::Invalid) << "cut " << (cuts.empty() ? 0 : cuts[0]);
                break;
            }
            if (kind == MessageKind::Response && !m.is_interim() && !methods.empty())
                methods.pop_front();
            out.push_back(summarise(m));
            buffer.erase(0, r.consumed);
        }
    }
    return out;
}

TEST(Http1Parse, GoldenRequests) {
    auto all = parse_in_pieces(MessageKind::Request, kRequests, {});
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all[0].start, "POST /v1/messages");
    EXPECT_EQ(all[0].body, "{\"hello\":\"x\"}");
    EXPECT_EQ(all[1].headers[1], (std::pair<std::string, std::string>("X-Folded", "one two")));
    EXPECT_EQ(all[2].body, "hello world");
    ASSERT_EQ(all[2].trailers.size(), 1u);
    EXPECT_EQ(all[2].trailers[0].second, "yes");
    EXPECT_EQ(all[3].start, "HEAD /h");
    EXPECT_EQ(all[4].start, "GET /after-crlf");
    EXPECT_EQ(all[4].headers[0].second, "lf-only");
}

TEST(Http1Parse, GoldenResponses) {
    auto all = parse_in_pieces(MessageKind::Response, kResponses, {});
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(all[0].start, "100 Continue");
    EXPECT_EQ(all[1].body, "hello");
    EXPECT_EQ(all[2].start, "204 No Content");
    EXPECT_EQ(all[3].body, "abc");
    EXPECT_EQ(all[4].body, "");  // the answer to HEAD has no body despite Content-Length
    EXPECT_EQ(all[5].start, "304 Not Modified");
}

TEST(Http1Parse, EveryCutGivesTheSameMessages) {
    for (auto kind : {MessageKind::Request, MessageKind::Response}) {
        const std::string& input = kind == MessageKind::Request ? kRequests : kResponses;
        auto whole = parse_in_pieces(kind, input, {});
        for (std::size_t cut = 1; cut < input.size(); ++cut) {
            ASSERT_EQ(parse_in_pieces(kind, input, {cut}), whole) << "cut at " << cut;
        }
        // Byte by byte.
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i < input.size(); ++i)
            every.push_back(i);
        ASSERT_EQ(parse_in_pieces(kind, input, every), whole);
    }
}

TEST(Http1Parse, StreamDecoderAcrossSegmentsMatchesWholeParse) {
    auto whole = parse_in_pieces(MessageKind::Request, kRequests, {});
    for (std::size_t cut = 1; cut < kRequests.size(); cut += 3) {
        auto stream = testing::cut_stream(kRequests, {cut, cut + 7});
        StreamView view(stream);
        StreamDecoder decoder(MessageKind::Request, view, true);
        std::vector<Summary> got;
        while (auto m = decoder.next())
            got.push_back(summarise(*m));
        ASSERT_EQ(got, whole) << "cut at " << cut;
        EXPECT_EQ(decoder.skipped_bytes(), 0u);
    }
}

TEST(Http1Parse, GapInsideContentLengthBodyIsSteppedOver) {
    const std::string first = "POST /x HTTP/1.1\r\nContent-Length: 20\r\n\r\n0123456789";
    const std::string second = "GET /next HTTP/1.1\r\n\r\n";
    testing::StreamBuilder b;
    b.data(first).gap(5).data("FGHIJ").data(second);
    StreamView view(b.stream());
    StreamDecoder decoder(MessageKind::Request, view, true);
    auto m1 = decoder.next();
    ASSERT_TRUE(m1);
    EXPECT_FALSE(m1->complete);
    EXPECT_EQ(m1->body, "0123456789FGHIJ");
    EXPECT_EQ(m1->gap_bytes, 5u);
    ASSERT_EQ(m1->body_gaps.size(), 1u);
    EXPECT_EQ(m1->body_gaps[0], 10u);
    auto m2 = decoder.next();
    ASSERT_TRUE(m2);
    EXPECT_EQ(m2->target, "/next");
    EXPECT_TRUE(m2->complete);
    EXPECT_FALSE(m2->after_resync);  // no search was needed
    EXPECT_FALSE(decoder.next());
}

TEST(Http1Parse, GapInEveryPositionResumesAtNextMessage) {
    // Three requests; a gap replaces bytes [g, g+len) somewhere in the first two.
    const std::string a =
        "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    const std::string b = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string c = "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string all = a + b + c;
    for (std::size_t g = 0; g + 3 <= a.size() + b.size(); ++g) {
        testing::StreamBuilder sb;
        if (g > 0)
            sb.data(all.substr(0, g));
        sb.gap(3).data(all.substr(g + 3));
        StreamView view(sb.stream());
        StreamDecoder decoder(MessageKind::Request, view, true);
        std::vector<Message> got;
        while (auto m = decoder.next())
            got.push_back(std::move(*m));
        ASSERT_FALSE(got.empty()) << g;
        // The last request is never touched and must come out intact.
        EXPECT_EQ(got.back().target, "/c") << "gap at " << g;
        EXPECT_TRUE(got.back().complete) << "gap at " << g;
        // Whatever the gap touched is incomplete; nothing decoded is invented.
        for (const auto& m : got) {
            const std::uint64_t end = m.stream_pos + m.wire_size;
            const bool touched = m.stream_pos < g + 3 && end > g;
            if (touched) {
                EXPECT_FALSE(m.complete) << "gap at " << g << " target " << m.target;
            }
            EXPECT_TRUE(m.target == "/a" || m.target == "/b" || m.target == "/c") << m.target;
        }
    }
}

TEST(Http1Parse, TruncatedAtEndIsIncomplete) {
    const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
    auto stream = testing::cut_stream(r, {});
    StreamView view(stream);
    StreamDecoder decoder(MessageKind::Response, view, false);
    auto m = decoder.next("GET");
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->complete);
    EXPECT_EQ(m->body, "01234");
    EXPECT_FALSE(decoder.next("GET"));
}

TEST(Http1Parse, UntilCloseBodyCompleteOnlyWhenClosed) {
    const std::string r = "HTTP/1.0 200 OK\r\n\r\nall the rest";
    for (bool closed : {true, false}) {
        auto stream = testing::cut_stream(r, {5});
        StreamView view(stream);
        StreamDecoder decoder(MessageKind::Response, view, closed);
        auto m = decoder.next("GET");
        ASSERT_TRUE(m);
        EXPECT_EQ(m->body, "all the rest");
        EXPECT_EQ(m->complete, closed);
    }
}

TEST(Http1Parse, InvalidInputIsRejectedNotCrashed) {
    Message m;
    EXPECT_EQ(parse_frame(MessageKind::Request, "\x16\x03\x01\x02\x00", {}, m).state,
              ParseState::Invalid);
    EXPECT_EQ(parse_frame(MessageKind::Response, "SSH-2.0-OpenSSH\r\n", {}, m).state,
              ParseState::Invalid);
    EXPECT_EQ(parse_frame(MessageKind::Request,
                          "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", {}, m)
                  .state,
              ParseState::Invalid);
    EXPECT_EQ(
        parse_frame(MessageKind::Request, "GET / HTTP/1.1\r\nBad Header\r\n\r\n", {}, m).state,
        ParseState::Invalid);
    EXPECT_EQ(parse_frame(MessageKind::Response,
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}, m)
                  .state,
              ParseState::Invalid);
    // A head that never ends is given up at the size limit.
    std::string endless = "GET / HTTP/1.1\r\n" + std::string(kMaxHeadSize + 10, 'a');
    EXPECT_EQ(parse_frame(MessageKind::Request, endless, {}, m).state, ParseState::Invalid);
}

TEST(Http1Parse, RandomBytesNeverCrash) {
    std::mt19937 rng(1234);
    const std::string alphabet =
        "GET POST HTTP/1.1 200\r\n:;0123456789abcdefContent-Length Transfer-Encoding chunked";
    for (int round = 0; round < 2000; ++round) {
        std::string s;
        std::size_t n = rng() % 400;
        for (std::size_t i = 0; i < n; ++i) {
            s += (rng() % 3 == 0) ? static_cast<char>(rng() & 0xff)
                                  : alphabet[rng() % alphabet.size()];
        }
        if (round % 2)
            s = "HTTP/1.1 200 OK\r\n" + s;
        testing::StreamBuilder b;
        b.data(s.substr(0, s.size() / 2)).gap(rng() % 10 + 1).data(s.substr(s.size() / 2));
        auto conn = testing::make_connection(b.stream(), b.stream());
        DecodedConnection dc = decode_connection(conn);
        for (const auto& r : dc.requests)
            EXPECT_LE(r.body.bytes.size(), s.size());
    }
}

TEST(Http1Connection, KeepAliveUpgradeAndPairing) {
    const std::string requests =
        "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        "\x81\x05hello";
    const std::string responses =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        "\x81\x02hi";
    testing::StreamBuilder out, in;
    out.data(requests.substr(0, 30), 1'000'000'000).data(requests.substr(30), 3'000'000'000);
    in.data(responses.substr(0, 40), 2'000'000'000).data(responses.substr(40), 4'000'000'000);
    auto conn = testing::make_connection(out.stream(), in.stream());
    DecodedConnection dc = decode_connection(conn);
    ASSERT_EQ(dc.requests.size(), 2u);
    ASSERT_EQ(dc.responses.size(), 2u);
    ASSERT_EQ(dc.exchanges.size(), 2u);
    EXPECT_EQ(dc.exchanges[0].response, 0u);
    EXPECT_EQ(dc.exchanges[1].response, 1u);
    ASSERT_EQ(dc.raw.size(), 2u);
    EXPECT_EQ(dc.raw[0].reason, "tunnel");
    EXPECT_EQ(dc.raw[0].bytes, "\x81\x05hello");
    EXPECT_EQ(dc.raw[1].bytes, "\x81\x02hi");
}

TEST(Http1Connection, RefusedUpgradeKeepsDecoding) {
    const std::string requests =
        "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /two HTTP/1.1\r\n\r\n";
    const std::string responses =
        "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 "
        "OK\r\nContent-Length: 0\r\n\r\n";
    auto conn = testing::make_connection(testing::cut_stream(requests, {}),
                                         testing::cut_stream(responses, {}));
    DecodedConnection dc = decode_connection(conn);
    ASSERT_EQ(dc.requests.size(), 2u);
    EXPECT_EQ(dc.requests[1].message.target, "/two");
    EXPECT_TRUE(dc.raw.empty());
}

TEST(Http1Connection, LostResponseDoesNotShiftPairing) {
    // Three requests; the second response sits in a gap that also eats the head of the third.
    const std::string r1 = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1";
    const std::string r3 = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3";
    testing::StreamBuilder out, in;
    out.data("GET /1 HTTP/1.1\r\n\r\n", 1'000'000'000)
        .data("GET /2 HTTP/1.1\r\n\r\n", 3'000'000'000)
        .data("GET /3 HTTP/1.1\r\n\r\n", 5'000'000'000);
    in.data(r1, 2'000'000'000).gap(40, 4'000'000'000).data(r3, 6'000'000'000);
    auto conn = testing::make_connection(out.stream(), in.stream());
    DecodedConnection dc = decode_connection(conn);
    ASSERT_EQ(dc.requests.size(), 3u);
    ASSERT_EQ(dc.responses.size(), 2u);
    ASSERT_EQ(dc.exchanges.size(), 3u);
    EXPECT_EQ(dc.exchanges[0].response, 0u);
    EXPECT_FALSE(dc.exchanges[1].response.has_value());
    EXPECT_EQ(dc.exchanges[2].response, 1u);
    EXPECT_EQ(dc.responses[1].body.bytes, "3");
}

}  // namespace
}  // namespace ct::analyze::http1

namespace ct::analyze::http1 {
namespace {

// Many request lines and no blank line: every resynchronisation must not scan
// to the end again (this would take hours if it were quadratic).
TEST(Http1Parse, EndlessHeadsStayLinear) {
    // Linear work takes as long for one input as for eight inputs of an eighth of its
    // size; a quadratic resync would take eight times longer for the one. Both are timed
    // in this run (best of three), so a busy machine slows both alike.
    auto make = [](std::size_t bytes) {
        std::string s;
        while (s.size() < bytes)
            s += "GET /x HTTP/1.1\r\n";
        return testing::cut_stream(s, {});
    };
    auto decode = [](const auto& stream) {
        StreamView view(stream);
        StreamDecoder decoder(MessageKind::Request, view, true);
        while (decoder.next()) {
        }
    };
    auto large_stream = make(8u << 20);
    std::vector<decltype(large_stream)> eighths;
    for (int i = 0; i < 8; ++i)
        eighths.push_back(make(1u << 20));
    auto large = testing::best_time_of(3, [&] { decode(large_stream); });
    auto small = testing::best_time_of(3, [&] {
        for (const auto& e : eighths)
            decode(e);
    });
    EXPECT_LT(testing::ratio(large, small), 4.0)
        << "one input 8x as large took " << testing::ratio(large, small)
        << "x as long as eight small ones";
}

}  // namespace
}  // namespace ct::analyze::http1

namespace ct::analyze::http1 {
namespace {

// Large streams of HTTP-like tokens and random bytes, with gaps: decoding
// finishes in time proportional to the input (no quadratic resync paths).
TEST(Http1Connection, LargeHostileStreamsStayFast) {
    std::mt19937 rng(77);
    const std::vector<std::string> tokens = {"HTTP/1.1 200 OK\r\n",
                                             "GET /x HTTP/1.1\r\n",
                                             "Transfer-Encoding: chunked\r\n",
                                             "\r\n",
                                             "\n",
                                             "Content-Type: text/event-stream\r\n",
                                             "Content-Length: 99\r\n",
                                             "data: x\n",
                                             "event: y\n\n",
                                             "0\r\n",
                                             "ffff\r\n",
                                             "5\r\nabcde\r\n",
                                             ": c\r\n"};
    for (int round = 0; round < 3; ++round) {
        auto make = [&](std::size_t bytes) {
            testing::StreamBuilder b;
            std::string s;
            std::size_t total = 0;
            for (; total < bytes; total = b.stream().end_pos + s.size()) {
                if (rng() % 8 == 0) {
                    s += static_cast<char>(rng());
                } else {
                    s += tokens[rng() % tokens.size()];
                }
                if (rng() % 5000 == 0) {
                    b.data(s).gap(rng() % 5000 + 1);
                    s.clear();
                }
            }
            b.data(s);
            return b.stream();
        };
        auto conn = testing::make_connection(make(2u << 20), make(2u << 20));
        std::vector<decltype(conn)> eighths;
        for (int i = 0; i < 8; ++i)
            eighths.push_back(testing::make_connection(make(256u << 10), make(256u << 10)));
        DecodedConnection dc;
        auto large = testing::best_time_of(3, [&] { dc = decode_connection(conn); });
        auto small = testing::best_time_of(3, [&] {
            for (const auto& e : eighths)
                (void)decode_connection(e);
        });
        // Linear: one input takes as long as eight of an eighth of its size; quadratic: 8x.
        EXPECT_LT(testing::ratio(large, small), 4.0) << round;
        EXPECT_LE(dc.requests.size() + dc.responses.size(), 2u * (2u << 20));
        EXPECT_GT(dc.requests.size() + dc.responses.size(), 100u);  // it did decode, not give up
    }
}

}  // namespace
}  // namespace ct::analyze::http1

namespace ct::analyze::http1 {
namespace {

// Many pipelined requests before any response, and many orphan responses:
// pairing stays linear and keeps everything in time order.
TEST(Http1Stitch, ManyPipelinedAndOrphansStayFast) {
    auto make = [](std::size_t n) {
        std::pair<std::vector<Message>, std::vector<Message>> rr;
        auto& [requests, responses] = rr;
        requests.resize(n);
        responses.resize(2 * n);
        for (std::size_t i = 0; i < requests.size(); ++i)
            requests[i].start_monotonic_ns = 1000 + i;
        for (std::size_t i = 0; i < responses.size(); ++i) {
            responses[i].kind = MessageKind::Response;
            responses[i].status = 200;
            // The first half come before any request (orphans), the rest answer them.
            responses[i].start_monotonic_ns = i < n ? i / 200 : 1'000'000 + i;
        }
        return rr;
    };
    auto [requests, responses] = make(100000);
    // Eight inputs of an eighth of the size, touching as much memory in all as the large
    // one: linear work takes about as long for the eight as for the one; a quadratic
    // path would take eight times longer for the one.
    std::vector<std::pair<std::vector<Message>, std::vector<Message>>> eighths;
    for (int i = 0; i < 8; ++i)
        eighths.push_back(make(12500));
    std::vector<Pairing> pairings;
    auto large = testing::best_time_of(3, [&] { pairings = stitch(requests, responses); });
    auto small = testing::best_time_of(3, [&] {
        for (const auto& [q, r] : eighths)
            (void)stitch(q, r);
    });
    EXPECT_LT(testing::ratio(large, small), 4.0)
        << "one input 8x as large took " << testing::ratio(large, small)
        << "x as long as eight small ones";
    ASSERT_EQ(pairings.size(), 200000u);
    EXPECT_FALSE(pairings.front().request.has_value());  // an orphan, earliest in time
    EXPECT_EQ(pairings.back().request, 99999u);
    EXPECT_EQ(pairings.back().response, 199999u);
}

}  // namespace
}  // namespace ct::analyze::http1

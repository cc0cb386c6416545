// ct-analyze decodes the connection being read exchange by exchange
// (ExchangeStreamer): one long connection is not held whole, and the database
// is, row for row, the one a whole load of the capture gives (the reference
// path: load_capture, then each connection decoded whole).
#include <gtest/gtest.h>
#include <zlib.h>

#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <vector>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "db_dump.hpp"
#include "export_session.hpp"
#include "import_compare.hpp"
#include "importer.hpp"
#include "llm_fixtures.hpp"
#include "streaming_capture.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::analyze {
namespace {

using testing::anthropic_sse;
using testing::gzip_of;
using testing::kKiB;

// Sends `bytes` in calls of at most `piece` bytes.
void send_in_pieces(testing::SyntheticCapture& cap, std::uint64_t g, int direction,
                    std::string_view bytes, std::size_t piece) {
    for (std::size_t off = 0; off < bytes.size(); off += piece) {
        cap.call(g, direction, bytes.substr(off, piece));
        cap.advance_ns(1000);
    }
}

// The exchanges of a long keep-alive connection, of every kind the streamer
// takes: Content-Length and chunked bodies, gzip, LLM calls streamed as SSE,
// HEAD, 204, 304, requests and responses cut into many calls.
void regular_exchanges(testing::SyntheticCapture& cap, std::uint64_t g, int n) {
    const std::string gz = gzip_of(std::string(5000, 'z') + "end");
    for (int i = 0; i < n; ++i) {
        switch (i % 6) {
            case 0:
                send_in_pieces(
                    cap, g, CT_DIR_WRITE,
                    testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody),
                    100);
                send_in_pieces(cap, g, CT_DIR_READ, anthropic_sse(), 64);
                break;
            case 1:
                cap.write(g, fmt::format("GET /item/{} HTTP/1.1\r\nHost: a.example\r\n\r\n", i));
                cap.read(g, fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                        "Content-Length: {}\r\n\r\n{}",
                                        10 + i, std::string(10 + i, 'b')));
                break;
            case 2:
                cap.write(g, "GET /gz HTTP/1.1\r\nHost: gz.example\r\n\r\n");
                send_in_pieces(cap, g, CT_DIR_READ,
                               "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Encoding: gzip\r\nContent-Length: " +
                                   std::to_string(gz.size()) + "\r\n\r\n" + gz,
                               7);
                break;
            case 3:
                cap.write(g, "HEAD /h HTTP/1.1\r\nHost: a.example\r\n\r\n");
                cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
                break;
            case 4:
                cap.write(g,
                          "POST /p HTTP/1.1\r\nHost: b.example\r\nTransfer-Encoding: chunked\r\n"
                          "\r\n5\r\nhello\r\n0\r\n\r\n");
                cap.read(g, "HTTP/1.1 204 No Content\r\n\r\n");
                break;
            case 5:
                cap.write(g, "GET /c HTTP/1.1\r\nHost: a.example\r\n\r\n");
                cap.read(g, "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n");
                break;
        }
        cap.advance_ns(1'000'000);
    }
}

// A long SSE stream (an Anthropic stream with `ping`s and padding events
// between its events, so it goes past the body limit of limits 1), its chunks
// framed in every way parse_chunks takes: CRLF or LF, extensions, leading
// zeros, chunks of one byte, and trailers.
std::string long_sse_body(int seed, std::size_t padding_events) {
    std::string events;
    auto anthropic = testing::anthropic_stream_events();
    for (std::size_t i = 0; i < anthropic.size(); ++i) {
        events += anthropic[i];
        if (i == 2) {
            for (std::size_t k = 0; k < padding_events; ++k)
                events += fmt::format("event: ping\ndata: {{\"type\":\"ping\",\"n\":{}}}\n\n", k);
        }
    }
    std::string body;
    std::size_t at = 0;
    std::size_t k = 0;
    while (at < events.size()) {
        const std::size_t size = std::min<std::size_t>(
            events.size() - at,
            k % 7 == 3 ? 1 : 37 + (k * 131 + static_cast<std::size_t>(seed)) % 900);
        std::string line = fmt::format("{:x}", size);
        if (k % 5 == 1)
            line = "00" + line;
        if (k % 4 == 2)
            line += ";ext=\"v\"";
        const char* eol = (k + static_cast<std::size_t>(seed)) % 3 == 0 ? "\n" : "\r\n";
        body += line + eol + events.substr(at, size) + eol;
        at += size;
        ++k;
    }
    return body + (seed % 2 ? "0\r\nX-Checksum: 42\r\n\r\n" : "0\r\n\r\n");
}

void sse_request(testing::SyntheticCapture& cap, std::uint64_t g) {
    send_in_pieces(cap, g, CT_DIR_WRITE,
                   testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody),
                   333);
}

// Long connections, regular for a while and then something the streamer leaves
// to the whole decoder, each with a short connection after it.
void write_long(const std::string& path, int variant) {
    testing::SyntheticCapture cap(path);
    cap.process(7, 1, "/usr/bin/node", {"node", "agent.js"});
    auto g = cap.open_connection(7, 0x10);
    cap.socket(g, 5, "10.0.0.1", 443, 40001);
    regular_exchanges(cap, g, 13);
    switch (variant) {
        case 0:  // nothing irregular
            break;
        case 1:  // a lost stretch inside a body, then more exchanges
            cap.write(g, "POST /up HTTP/1.1\r\nHost: up.example\r\nContent-Length: 3000\r\n\r\n");
            cap.write(g, std::string(1000, 'p'));
            cap.lose(g, CT_DIR_WRITE, 1000, CT_LOSS_RING_FULL);
            cap.write(g, std::string(1000, 'q'));
            cap.read(g, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
            regular_exchanges(cap, g, 7);
            break;
        case 2:  // pipelined requests, a 100-continue, then more
            cap.write(g,
                      "GET /one HTTP/1.1\r\nHost: p.example\r\n\r\n"
                      "GET /two HTTP/1.1\r\nHost: p.example\r\n\r\n");
            cap.read(g,
                     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
                     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
            cap.write(g,
                      "POST /big HTTP/1.1\r\nHost: p.example\r\nExpect: 100-continue\r\n"
                      "Content-Length: 4\r\n\r\n");
            cap.read(g, "HTTP/1.1 100 Continue\r\n\r\n");
            cap.write(g, "data");
            cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            regular_exchanges(cap, g, 5);
            break;
        case 3:  // a switch to WebSocket
            cap.write(g,
                      "GET /ws HTTP/1.1\r\nHost: w.example\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\n\r\n");
            cap.read(g, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi");
            cap.write(g, "\x81\x82masks");
            break;
        case 4:  // the capture ends inside a response, and a request is unanswered
            cap.write(g, "GET /cut HTTP/1.1\r\nHost: a.example\r\n\r\n");
            cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
            break;
        case 5:  // garbage, then exchanges again (a resynchronisation)
            cap.write(g, "\x01\x02 not a request\r\n\r\n");
            regular_exchanges(cap, g, 4);
            break;
        case 6:  // an HTTP/1.0 answer that runs until close
            cap.write(g, "GET /old HTTP/1.0\r\nHost: a.example\r\n\r\n");
            cap.read(g, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
            break;
        case 7:  // bytes lost without a LOSS event (a sequence gap), then more
            cap.vanish(g, CT_DIR_READ, 300);
            regular_exchanges(cap, g, 4);
            break;
        case 8:  // bodies past the body limit (limits 1), one with a gap inside
            for (int i = 0; i < 3; ++i) {
                cap.write(g, "GET /big HTTP/1.1\r\nHost: a.example\r\n\r\n");
                cap.read(g,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Content-Length: 6000\r\n\r\n");
                std::string body;
                while (body.size() < 6000)
                    body += "data: {\"n\":1}\n\n";
                body.resize(6000);
                send_in_pieces(cap, g, CT_DIR_READ, std::string_view(body).substr(0, 3000), 700);
                if (i == 1)
                    cap.lose(g, CT_DIR_READ, 500, CT_LOSS_RING_FULL);
                send_in_pieces(cap, g, CT_DIR_READ,
                               std::string_view(body).substr(i == 1 ? 3500 : 3000), 900);
            }
            regular_exchanges(cap, g, 3);
            break;
        case 9:  // the capture ends inside a body past the limit
            cap.write(g, "GET /big HTTP/1.1\r\nHost: a.example\r\n\r\n");
            cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n\r\n");
            send_in_pieces(cap, g, CT_DIR_READ, std::string(5000, 'x'), 600);
            break;
        case 10:  // long SSE streams past the limit, cut into calls at odd places
            for (int i = 0; i < 4; ++i) {
                sse_request(cap, g);
                send_in_pieces(cap, g, CT_DIR_READ,
                               testing::sse_response_head() + long_sse_body(i, 60 + 40 * i),
                               i == 3 ? 1 : 97 + 211 * static_cast<std::size_t>(i));
            }
            regular_exchanges(cap, g, 3);
            break;
        case 11:  // a gap inside a long SSE stream, then more exchanges
            for (int i = 0; i < 3; ++i) {
                sse_request(cap, g);
                const std::string sse = testing::sse_response_head() + long_sse_body(i, 150);
                const std::size_t cut = 2500 + 1000 * static_cast<std::size_t>(i);
                send_in_pieces(cap, g, CT_DIR_READ, std::string_view(sse).substr(0, cut), 313);
                if (i == 1)
                    cap.lose(g, CT_DIR_READ, 400, CT_LOSS_RING_FULL);
                send_in_pieces(cap, g, CT_DIR_READ,
                               std::string_view(sse).substr(cut + (i == 1 ? 400 : 0)), 401);
            }
            regular_exchanges(cap, g, 3);
            break;
        case 12:  // the capture ends inside a long SSE stream, a request unanswered
            sse_request(cap, g);
            {
                const std::string sse = testing::sse_response_head() + long_sse_body(1, 200);
                send_in_pieces(cap, g, CT_DIR_READ, std::string_view(sse).substr(0, 7000), 171);
            }
            cap.write(g, "GET /next HTTP/1.1\r\nHost: a.example\r\n\r\n");
            break;
        case 13:  // chunk framing that turns bad past the limit, then exchanges again
            sse_request(cap, g);
            {
                std::string sse = testing::sse_response_head() + long_sse_body(0, 150);
                sse[sse.size() - 5] = 'q';  // the last chunk's size line
                send_in_pieces(cap, g, CT_DIR_READ, sse, 509);
            }
            regular_exchanges(cap, g, 4);
            break;
        case 14:  // the capture ends right after a chunk-size line, past the limit
            sse_request(cap, g);
            cap.read(g, testing::sse_response_head());
            for (int i = 0; i < 30; ++i)
                cap.read(g, testing::chunk("data: " + std::string(90, 'a') + "\n\n"));
            cap.read(g, "4f\r\n");
            break;
        case 15:  // a chunked request past the limit, answered by an SSE stream
            send_in_pieces(cap, g, CT_DIR_WRITE,
                           "POST /upload HTTP/1.1\r\nHost: u.example\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n" +
                               long_sse_body(3, 100),
                           777);
            send_in_pieces(cap, g, CT_DIR_READ,
                           testing::sse_response_head() + long_sse_body(2, 100), 1500);
            regular_exchanges(cap, g, 3);
            break;
        case 16:  // requests past the limit (Content-Length, chunked), answered by
                  // a stream the capture ends inside, or cut before the response
            send_in_pieces(cap, g, CT_DIR_WRITE,
                           "POST /up HTTP/1.1\r\nHost: u.example\r\nContent-Length: 5000\r\n\r\n" +
                               std::string(5000, 'u'),
                           613);
            cap.read(g, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
            regular_exchanges(cap, g, 2);
            send_in_pieces(cap, g, CT_DIR_WRITE,
                           "POST /up HTTP/1.1\r\nHost: u.example\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n" +
                               long_sse_body(1, 100) + "GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
                           555);
            send_in_pieces(cap, g, CT_DIR_READ,
                           std::string_view(testing::sse_response_head() + long_sse_body(0, 100))
                               .substr(0, 3000),
                           700);
            send_in_pieces(cap, g, CT_DIR_WRITE,
                           "POST /up HTTP/1.1\r\nHost: u.example\r\nContent-Length: 5000\r\n\r\n" +
                               std::string(5000, 'w'),
                           1024);
            cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\ncut short");
            break;
        case 17:  // the capture ends inside a chunked request past the limit
            regular_exchanges(cap, g, 1);
            send_in_pieces(cap, g, CT_DIR_WRITE,
                           "POST /up HTTP/1.1\r\nHost: u.example\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n" +
                               long_sse_body(2, 100).substr(0, 4100),
                           300);
            break;
        case 18:  // a gap inside a request past the limit, then exchanges again
            cap.write(g, "POST /up HTTP/1.1\r\nHost: u.example\r\nContent-Length: 5000\r\n\r\n");
            send_in_pieces(cap, g, CT_DIR_WRITE, std::string(2000, 'u'), 700);
            cap.lose(g, CT_DIR_WRITE, 1000, CT_LOSS_RING_FULL);
            send_in_pieces(cap, g, CT_DIR_WRITE, std::string(2000, 'v'), 700);
            cap.read(g, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
            regular_exchanges(cap, g, 3);
            break;
    }
    auto s = cap.open_connection(7, 0x20);
    cap.write(s, "GET /short HTTP/1.1\r\nHost: s.example\r\n\r\n");
    cap.read(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nshort");
    cap.close(s);
    if (variant != 4 && variant != 9 && variant != 12 && variant != 14 && variant != 16 &&
        variant != 17)
        cap.close(g);
    cap.exit(7, 0);
    cap.finish();
}

// Two long connections that take turns, short ones in between, and one that
// starts with a response (no request to pair it with).
void write_interleaved(const std::string& path) {
    testing::SyntheticCapture cap(path);
    cap.process(7, 1, "/usr/bin/node", {"node"});
    auto a = cap.open_connection(7, 0xa);
    auto b = cap.open_connection(7, 0xb);
    for (int round = 0; round < 6; ++round) {
        regular_exchanges(cap, a, 2);
        regular_exchanges(cap, b, 3);
        auto s = cap.open_connection(7, 0x100 + static_cast<std::uint64_t>(round));
        cap.read(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno");
        cap.write(s, "GET /late HTTP/1.1\r\nHost: s.example\r\n\r\n");
        cap.close(s);
    }
    cap.close(b);
    cap.close(a);
    cap.finish();
}

TEST(ExchangeStreaming, LongConnectionsGiveTheRowsOfAWholeLoad) {
    testing::TempDir dir;
    for (int variant = 0; variant <= 18; ++variant) {
        const std::string path = dir.file(fmt::format("long{}.ctz", variant));
        write_long(path, variant);
        int i = 0;
        for (const auto& limits : limit_sets()) {
            SCOPED_TRACE(fmt::format("variant {}, limits {}", variant, i));
            Compared c = compare_imports(path, limits);
            // The regular exchanges before the irregular part went one by one, but
            // for the last few, whose bytes were all there only at the end (with
            // limits 2 the reading itself cuts the connection early).
            if (i != 2) {
                EXPECT_GT(c.rows, 100u);
                EXPECT_GE(c.streamed, 10u);
            }
            ++i;
        }
    }
}

TEST(ExchangeStreaming, InterleavedConnectionsGiveTheRowsOfAWholeLoad) {
    testing::TempDir dir;
    write_interleaved(dir.file("interleaved.ctz"));
    int i = 0;
    for (const auto& limits : limit_sets()) {
        SCOPED_TRACE(fmt::format("limits {}", i));
        Compared c = compare_imports(dir.file("interleaved.ctz"), limits);
        if (i++ != 2) {
            EXPECT_GT(c.rows, 100u);
        }
    }
    // The first connection is read exchange by exchange; the second waits for it.
    Compared c = compare_imports(dir.file("interleaved.ctz"), {});
    EXPECT_GE(c.streamed, 12u);
}

// HTTP/2 and the export test's capture (HTTP/1.1 and HTTP/2, gzip, binary bodies,
// SSE, an unanswered request ...), and the hostile captures.
TEST(ExchangeStreaming, OtherCapturesGiveTheRowsOfAWholeLoad) {
    testing::TempDir dir;
    std::vector<std::string> captures;
    testing::write_export_session(dir.file("export.ctz"));
    captures.push_back(dir.file("export.ctz"));
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(CT_FIXTURES_DIR) / "hostile")) {
        if (entry.path().extension() == ".ctz")
            captures.push_back(entry.path().string());
    }
    ASSERT_GE(captures.size(), 5u);
    for (const auto& path : captures) {
        for (const auto& limits : limit_sets()) {
            SCOPED_TRACE(path);
            compare_imports(path, limits);
        }
    }
}

// Connections decoded on the writing thread (ImportOptions::decode_ahead = false,
// as the import fuzz targets run) give the rows of the decode-ahead workers.
TEST(ExchangeStreaming, DecodingOnTheWritingThreadGivesTheSameRows) {
    testing::TempDir dir;
    write_long(dir.file("long.ctz"), 2);
    auto contents = replay::load_capture(dir.file("long.ctz"));
    ASSERT_TRUE(contents);
    std::vector<std::vector<std::string>> dumps;
    for (bool ahead : {true, false}) {
        auto db = open_session_database(":memory:");
        ASSERT_TRUE(db);
        ImportOptions options;
        options.keep_secrets = true;
        options.decode_ahead = ahead;
        auto importer = Importer::create(*db, nullptr, options);
        ASSERT_TRUE(importer);
        ASSERT_TRUE((*importer)->import(*contents, "x.ctz"));
        dumps.push_back(dump(*db));
    }
    EXPECT_GT(dumps[0].size(), 100u);
    ASSERT_EQ(dumps[0].size(), dumps[1].size());
    for (std::size_t i = 0; i < dumps[0].size(); ++i)
        EXPECT_EQ(dumps[0][i], dumps[1][i]) << "row " << i;
}

// The records of a capture in random orders (events after a close, positions out
// of order, times that go backwards): the streamed import still gives the rows
// of a whole load of the same records.
TEST(ExchangeStreaming, RecordsInAnyOrderGiveTheRowsOfAWholeLoad) {
    testing::TempDir dir;
    write_long(dir.file("long.ctz"), 2);
    const CaptureRecords records = read_records(dir.file("long.ctz"));
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    auto random = [&](std::size_t n) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<std::size_t>(state % n);
    };
    std::uint64_t streamed_total = 0;
    for (int round = 0; round < 24; ++round) {
        std::vector<std::size_t> order(records.bodies.size());
        for (std::size_t i = 0; i < order.size(); ++i)
            order[i] = i;
        // Round 0 as written; then a few records moved, then all shuffled.
        if (round > 0 && round < 16) {
            for (int k = 0; k < round; ++k)
                std::swap(order[random(order.size())], order[random(order.size())]);
        } else if (round >= 16) {
            for (std::size_t i = order.size() - 1; i > 0; --i)
                std::swap(order[i], order[random(i + 1)]);
        }
        SCOPED_TRACE(fmt::format("round {}", round));
        streamed_total += compare_imports_in_order(records, order);
    }
    EXPECT_GT(streamed_total, 13u);
}

// One keep-alive connection with 10 times more exchanges holds no more of its
// plaintext at once: about one exchange.
TEST(ExchangeStreaming, ALongConnectionIsNotHeldWhole) {
    testing::TempDir dir;
    std::uint64_t held[2] = {};
    std::uint64_t plaintext[2] = {};
    int i = 0;
    for (int exchanges : {60, 600}) {
        const std::string path = dir.file(fmt::format("x{}.ctz", exchanges));
        {
            testing::SyntheticCapture cap(path);
            auto g = cap.open_connection(7, 0x10);
            regular_exchanges(cap, g, exchanges);
            cap.close(g);
            cap.finish();
        }
        auto db = open_session_database(":memory:");
        ASSERT_TRUE(db);
        auto r = import_capture_file(*db, path, false);
        ASSERT_TRUE(r) << r.error().what();
        // All but the last few (whose bytes were all there only at the end).
        EXPECT_GE(r->exchanges_streamed, static_cast<std::uint64_t>(exchanges - 6));
        held[i] = r->held_plaintext_high_water + r->streamed_high_water;
        auto st = db->prepare("SELECT bytes_sent + bytes_received FROM connections");
        ASSERT_TRUE(st && st->step());
        plaintext[i] = static_cast<std::uint64_t>(st->column_int64(0));
        ++i;
    }
    EXPECT_GT(plaintext[1], 9 * plaintext[0]);
    // About the biggest exchange (at most twice it while a message is incomplete).
    EXPECT_LT(held[0], plaintext[0] / 4);
    EXPECT_LT(held[1], plaintext[1] / 40);
    EXPECT_LT(held[1], 3 * held[0] / 2);
}

// A keep-alive connection of chunked exchanges (chunked requests, SSE streams
// past the body limit, cut into calls at odd places): each exchange is written
// as soon as its response ends, the last one too, and the bytes held do not grow
// with the connection nor with the length of a stream.
TEST(ExchangeStreaming, ChunkedExchangesAreWrittenAsTheirMessagesEnd) {
    testing::TempDir dir;
    std::uint64_t held[2] = {};
    std::uint64_t plaintext[2] = {};
    int i = 0;
    for (int exchanges : {20, 200}) {
        const std::string path = dir.file(fmt::format("c{}.ctz", exchanges));
        {
            testing::SyntheticCapture cap(path);
            auto g = cap.open_connection(7, 0x10);
            for (int x = 0; x < exchanges; ++x) {
                if (x % 2) {
                    sse_request(cap, g);
                } else {
                    send_in_pieces(cap, g, CT_DIR_WRITE,
                                   "POST /up HTTP/1.1\r\nHost: u.example\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n" +
                                       long_sse_body(x, 10),
                                   211);
                }
                // The streams grow with the connection: the last is 10 times longer.
                const std::size_t padding = static_cast<std::size_t>(20 + x * 4);
                send_in_pieces(cap, g, CT_DIR_READ,
                               testing::sse_response_head() + long_sse_body(x, padding),
                               97 + static_cast<std::size_t>(x % 5) * 400);
            }
            cap.close(g);
            cap.finish();
        }
        auto db = open_session_database(":memory:");
        ASSERT_TRUE(db);
        CaptureLimits limits;
        limits.decode.max_body = 1000;
        auto r = import_capture_file(*db, path, false, {}, limits);
        ASSERT_TRUE(r) << r.error().what();
        EXPECT_EQ(r->exchanges_streamed, static_cast<std::uint64_t>(exchanges));
        held[i] = r->held_plaintext_high_water + r->streamed_high_water;
        auto st = db->prepare("SELECT bytes_sent + bytes_received FROM connections");
        ASSERT_TRUE(st && st->step());
        plaintext[i] = static_cast<std::uint64_t>(st->column_int64(0));
        auto events = db->prepare("SELECT count(*) FROM sse_events");
        ASSERT_TRUE(events && events->step());
        EXPECT_GT(events->column_int64(0), exchanges / 2 * 10);
        ++i;
    }
    EXPECT_GT(plaintext[1], 30 * plaintext[0]);
    EXPECT_LT(held[1], 3 * held[0] / 2);
}

}  // namespace
}  // namespace ct::analyze

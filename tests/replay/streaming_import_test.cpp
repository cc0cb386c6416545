// ct-analyze imports a capture connection by connection (StreamedCapture): the
// plaintext it holds does not grow with the capture, and the database is the one
// a whole load of the capture gives.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "db_dump.hpp"
#include "importer.hpp"
#include "llm_fixtures.hpp"
#include "streaming_capture.hpp"
#include "synthetic_capture.hpp"
#include "test_db.hpp"
#include "test_files.hpp"

namespace ct::analyze {
namespace {

using testing::gzip_of;
using testing::kKiB;

// `connections` connections one after the other, each one request answered by
// `body` bytes: the same shape at any size.
void write_sequential(const std::string& path, int connections, std::size_t body) {
    testing::SyntheticCapture cap(path);
    cap.process(7, 1, "/bin/client", {"client"});
    const std::string data(body, 'x');
    for (int i = 0; i < connections; ++i) {
        auto g = cap.open_connection(7, 0x100 + static_cast<std::uint64_t>(i));
        cap.write(g, "GET /n HTTP/1.1\r\nHost: n.example\r\n\r\n");
        cap.read(g, fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body));
        for (std::size_t off = 0; off < body; off += 16 * kKiB)
            cap.read(g, std::string_view(data).substr(off, 16 * kKiB));
        cap.close(g);
        cap.advance_ns(1'000'000);
    }
    cap.finish();
}

TEST(StreamingImport, PlaintextHeldDoesNotGrowWithTheCapture) {
    testing::TempDir dir;
    constexpr std::size_t kBody = 256 * kKiB;
    write_sequential(dir.file("x1.ctz"), 4, kBody);
    write_sequential(dir.file("x8.ctz"), 32, kBody);
    std::uint64_t held[2] = {};
    int i = 0;
    for (const char* name : {"x1.ctz", "x8.ctz"}) {
        auto db = open_session_database(":memory:");
        ASSERT_TRUE(db);
        auto r = import_capture_file(*db, dir.file(name), false);
        ASSERT_TRUE(r) << r.error().what();
        // What the reading held and what decoding the connection being read held.
        held[i++] = r->held_plaintext_high_water + r->streamed_high_water;
        testing::Db d{std::move(*db)};
        EXPECT_EQ(d.count("SELECT count(*) FROM http_responses WHERE decoded_size = 262144"),
                  i == 1 ? 4 : 32);
    }
    // Eight times the plaintext, not more held: about one connection's bytes.
    EXPECT_GT(held[0], kBody);
    EXPECT_LE(held[1], held[0]);
    EXPECT_LT(held[1], 2 * (kBody + kKiB));
}

// One connection open from the first record to the last, and many short ones in
// between: the ones that ended wait for it only up to max_waiting_bytes.
TEST(StreamingImport, ALongConnectionHoldsBackTheOthersOnlyUpToALimit) {
    testing::TempDir dir;
    constexpr std::size_t kBody = 64 * kKiB;
    constexpr int kShort = 40;
    {
        testing::SyntheticCapture cap(dir.file("long.ctz"));
        auto longest = cap.open_connection(7, 0x99);
        cap.write(longest, "GET /first HTTP/1.1\r\nHost: l.example\r\n\r\n");
        const std::string data(kBody, 'y');
        for (int i = 0; i < kShort; ++i) {
            cap.advance_ns(1000);
            auto g = cap.open_connection(7, 0x100 + static_cast<std::uint64_t>(i));
            cap.write(g, "GET /n HTTP/1.1\r\nHost: n.example\r\n\r\n");
            cap.read(g,
                     fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", kBody, data));
            cap.close(g);
        }
        cap.read(longest, "HTTP/1.1 204 No Content\r\n\r\n");
        cap.close(longest);
        cap.finish();
    }
    auto whole = replay::load_capture(dir.file("long.ctz"));
    ASSERT_TRUE(whole);
    ASSERT_EQ(whole->connections.size(), kShort + 1u);
    for (std::uint64_t limit : {replay::kDefaultMaxWaitingBytes, std::uint64_t{256 * kKiB}}) {
        replay::LoadOptions options;
        options.max_waiting_bytes = limit;
        auto streamed = replay::StreamedCapture::open(dir.file("long.ctz"), options);
        ASSERT_TRUE(streamed);
        std::vector<std::uint64_t> order;
        auto r = streamed->for_each_connection([&](replay::Connection&& c) -> Expected<void> {
            order.push_back(c.conn_gen);
            return {};
        });
        ASSERT_TRUE(r);
        ASSERT_EQ(order.size(), whole->connections.size());
        if (limit == replay::kDefaultMaxWaitingBytes) {
            // Under the limit: in the order of a whole load, so everything waits.
            for (std::size_t i = 0; i < order.size(); ++i)
                EXPECT_EQ(order[i], whole->connections[i].conn_gen) << i;
            EXPECT_GE(streamed->held_high_water(), kShort * kBody);
        } else {
            // The long one did not come first; the others never waited past the limit.
            EXPECT_NE(order.front(), whole->connections.front().conn_gen);
            std::vector<std::uint64_t> sorted = order;
            std::sort(sorted.begin(), sorted.end());
            EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
            EXPECT_LT(streamed->held_high_water(), limit + 2 * (kBody + kKiB));
        }
    }
}

// A capture with a bit of everything the importer decodes, and damage.
void write_mixed(const std::string& path) {
    testing::SyntheticCapture cap(path);
    cap.process(7, 1, "/usr/bin/node", {"node", "agent.js"});
    cap.note("info", "a recorder note");
    auto a = cap.open_connection(7, 0xa);
    auto b = cap.open_connection(7, 0xb);
    cap.socket(a, 5, "10.0.0.1", 443, 40001);
    cap.write(a, testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody));
    cap.write(b, "GET /gz HTTP/1.1\r\nHost: gz.example\r\n\r\n");
    const std::string sse = testing::anthropic_sse();
    cap.read(a, sse.substr(0, sse.size() / 2));
    const std::string gz = gzip_of(std::string(20000, 'z') + "end");
    cap.read(b,
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
             "Content-Length: " +
                 std::to_string(gz.size()) + "\r\n\r\n" + gz);
    cap.read(a, sse.substr(sse.size() / 2));
    // A lost stretch in the middle of the next exchange on b.
    cap.write(b, "POST /up HTTP/1.1\r\nHost: gz.example\r\nContent-Length: 3000\r\n\r\n");
    cap.write(b, std::string(1000, 'p'));
    cap.lose(b, CT_DIR_WRITE, 1000, CT_LOSS_RING_FULL);
    cap.write(b, std::string(1000, 'q'));
    cap.read(b, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    cap.close(b);
    auto c = cap.open_connection(7, 0xc);
    cap.write(c, "CONNECT up.example:443 HTTP/1.1\r\nHost: up.example:443\r\n\r\n");
    cap.read(c, "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01 tunnelled");
    cap.vanish(c, CT_DIR_READ, 500);
    cap.read(c, "more tunnelled bytes");
    cap.close(c);
    auto d = cap.open_connection(7, 0xd);
    cap.write(d, "not http at all\r\n\r\n");
    cap.close(a);
    cap.exit(7, 0);
    cap.finish();
}

// Records in any order (a hostile capture: events after a close, connections
// interleaved, losses anywhere): the connections handed over one by one are
// those a whole load builds, in its order.
TEST(StreamingImport, ConnectionsAreTheOnesAWholeLoadBuildsInAnyRecordOrder) {
    testing::TempDir dir;
    write_mixed(dir.file("mixed.ctz"));
    auto reader = replay::CaptureReader::open(dir.file("mixed.ctz"));
    ASSERT_TRUE(reader);
    std::vector<std::vector<std::uint8_t>> bodies;
    std::vector<ctz::RecordType> types;
    auto summary = reader->for_each_record([&](const replay::Record& r) {
        bodies.emplace_back(r.body.begin(), r.body.end());
        types.push_back(r.type);
    });
    ASSERT_GT(bodies.size(), 20u);
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    auto random = [&](std::size_t n) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<std::size_t>(state % n);
    };
    for (int round = 0; round < 40; ++round) {
        std::vector<std::size_t> order(bodies.size());
        for (std::size_t i = 0; i < order.size(); ++i)
            order[i] = i;
        if (round > 0) {
            for (std::size_t i = order.size() - 1; i > 0; --i)
                std::swap(order[i], order[random(i + 1)]);
        }
        std::vector<replay::Record> records;
        for (std::size_t i : order)
            records.push_back(replay::Record{types[i], bodies[i]});
        for (std::uint64_t max_held : {replay::kDefaultMaxHeldBytes, std::uint64_t{8 * kKiB}}) {
            SCOPED_TRACE(fmt::format("round {}, max_held {}", round, max_held));
            replay::LoadOptions options;
            options.max_held_bytes = max_held;
            auto whole = replay::build_contents(reader->header(), records, summary, options);
            auto streamed =
                replay::StreamedCapture::from_records(reader->header(), records, summary, options);
            EXPECT_EQ(streamed.connection_count(), whole.connections.size());
            EXPECT_EQ(streamed.contents().events, whole.events);
            EXPECT_EQ(streamed.contents().lost_events, whole.lost_events);
            EXPECT_EQ(streamed.contents().over_limit_bytes, whole.over_limit_bytes);
            EXPECT_EQ(streamed.contents().processes.size(), whole.processes.size());
            std::size_t i = 0;
            auto r = streamed.for_each_connection([&](replay::Connection&& c) -> Expected<void> {
                EXPECT_LT(i, whole.connections.size());
                if (i >= whole.connections.size())
                    return {};
                const replay::Connection& w = whole.connections[i++];
                EXPECT_EQ(c.conn_gen, w.conn_gen);
                EXPECT_EQ(c.first_monotonic_ns, w.first_monotonic_ns);
                EXPECT_EQ(c.last_monotonic_ns, w.last_monotonic_ns);
                EXPECT_EQ(c.closed, w.closed);
                EXPECT_EQ(c.socket.has_value(), w.socket.has_value());
                for (int d = 0; d < 2; ++d) {
                    const auto& a = c.streams[d];
                    const auto& b = w.streams[d];
                    EXPECT_EQ(a.end_pos, b.end_pos);
                    EXPECT_EQ(a.gap_bytes, b.gap_bytes);
                    EXPECT_EQ(a.segments.size(), b.segments.size());
                    std::string sa, sb;
                    for (const auto& seg : a.segments) {
                        sa += fmt::format("{}+{}{}{};", seg.pos, seg.len, seg.is_gap ? "g" : "",
                                          static_cast<int>(seg.gap_reason));
                        if (!seg.is_gap)
                            sa.append(reinterpret_cast<const char*>(a.bytes(seg).data()),
                                      a.bytes(seg).size());
                    }
                    for (const auto& seg : b.segments) {
                        sb += fmt::format("{}+{}{}{};", seg.pos, seg.len, seg.is_gap ? "g" : "",
                                          static_cast<int>(seg.gap_reason));
                        if (!seg.is_gap)
                            sb.append(reinterpret_cast<const char*>(b.bytes(seg).data()),
                                      b.bytes(seg).size());
                    }
                    EXPECT_EQ(sa, sb);
                }
                return {};
            });
            EXPECT_TRUE(r);
            EXPECT_EQ(i, whole.connections.size());
        }
    }
}

TEST(StreamingImport, TheDatabaseIsTheOneAWholeLoadGives) {
    testing::TempDir dir;
    write_mixed(dir.file("mixed.ctz"));
    write_sequential(dir.file("seq.ctz"), 5, 40 * kKiB);
    std::vector<std::string> captures = {dir.file("mixed.ctz"), dir.file("seq.ctz")};
    for (const char* name :
         {"hang-memory-growth-stream-pos-wrap.ctz", "hang-stream-pos-wrap-read.ctz",
          "hang-stream-pos-wrap.ctz", "ubsan-ts-overflow.ctz"}) {
        captures.push_back(std::string(CT_FIXTURES_DIR) + "/hostile/" + name);
    }
    for (const auto& path : captures) {
        SCOPED_TRACE(path);
        // A small plaintext limit, so that the over-limit cut is compared too.
        for (std::uint64_t max_held : {replay::kDefaultMaxHeldBytes, std::uint64_t{30 * kKiB}}) {
            auto streamed_db = open_session_database(":memory:");
            auto whole_db = open_session_database(":memory:");
            ASSERT_TRUE(streamed_db && whole_db);
            CaptureLimits limits;
            limits.max_held_bytes = max_held;
            auto streamed = import_capture_file(*streamed_db, path, true, {}, limits);
            ASSERT_TRUE(streamed) << streamed.error().what();

            replay::LoadOptions load;
            load.max_held_bytes = max_held;
            auto contents = replay::load_capture(path, load);
            ASSERT_TRUE(contents);
            ImportOptions options;
            options.keep_secrets = true;
            auto importer = Importer::create(*whole_db, nullptr, options);
            ASSERT_TRUE(importer);
            std::error_code ec;
            auto whole = (*importer)->import(*contents, std::filesystem::absolute(path).string());
            ASSERT_TRUE(whole) << whole.error().what();

            EXPECT_EQ(streamed->result.connections, whole->connections);
            EXPECT_EQ(streamed->result.requests, whole->requests);
            EXPECT_EQ(streamed->result.llm_calls, whole->llm_calls);
            auto a = dump(*streamed_db);
            auto b = dump(*whole_db);
            EXPECT_GE(a.size(), path.ends_with("mixed.ctz") ? 40u : 5u);
            ASSERT_EQ(a.size(), b.size());
            for (std::size_t i = 0; i < a.size(); ++i)
                EXPECT_EQ(a[i], b[i]);
        }
    }
}

}  // namespace
}  // namespace ct::analyze

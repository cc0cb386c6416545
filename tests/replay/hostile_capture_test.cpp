// Damaged and hostile captures end in a clean result or a clean error: random
// bytes, truncation at many points, flipped bits.
#include <gtest/gtest.h>

#include <random>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "importer.hpp"
#include "llm_fixtures.hpp"
#include "sqlite/migrations.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::analyze {
namespace {

void write_small_session(const std::string& path) {
    testing::SyntheticOptions options;
    options.writer.unit_max_bytes = 1024;
    options.writer.segment_max_bytes = options.writer.unit_max_bytes;
    testing::SyntheticCapture cap(path, options);
    cap.process(7, 1, "/bin/client", {"client"});
    auto g = cap.open_connection(7, 0x10);
    cap.write(g, testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody));
    cap.read(g, testing::sse_response_head());
    for (const auto& e : testing::anthropic_stream_events())
        cap.read(g, testing::chunk(e));
    cap.read(g, "0\r\n\r\n");
    cap.close(g);
    cap.finish();
}

// Imports into a fresh in-memory database; returns false on a clean error.
bool try_import(const std::string& path) {
    auto db = open_session_database(":memory:");
    EXPECT_TRUE(db);
    auto r = import_capture_file(*db, path, false);
    return r.has_value();
}

TEST(HostileCapture, RandomBytesAreNotACapture) {
    testing::TempDir dir;
    std::mt19937 rng(7);
    for (int i = 0; i < 50; ++i) {
        std::vector<std::uint8_t> junk(rng() % 5000);
        for (auto& b : junk)
            b = static_cast<std::uint8_t>(rng());
        testing::write_file(dir.file("junk.ctz"), junk);
        EXPECT_FALSE(try_import(dir.file("junk.ctz")));
    }
}

TEST(HostileCapture, TruncatedAnywhere) {
    testing::TempDir dir;
    write_small_session(dir.file("s.ctz"));
    auto bytes = testing::read_file(dir.file("s.ctz"));
    std::size_t step = std::max<std::size_t>(1, bytes.size() / 150);
    for (std::size_t len = 0; len < bytes.size(); len += step) {
        testing::write_file(dir.file("t.ctz"),
                            std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + len));
        try_import(dir.file("t.ctz"));  // either outcome, but no crash and no hang
    }
}

TEST(HostileCapture, FlippedBits) {
    testing::TempDir dir;
    write_small_session(dir.file("s.ctz"));
    auto bytes = testing::read_file(dir.file("s.ctz"));
    std::mt19937 rng(11);
    int imported = 0;
    for (int round = 0; round < 200; ++round) {
        auto damaged = bytes;
        for (int k = 0; k < 1 + round % 4; ++k)
            damaged[rng() % damaged.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        testing::write_file(dir.file("f.ctz"), damaged);
        imported += try_import(dir.file("f.ctz"));
    }
    EXPECT_GT(imported, 0);  // most damage leaves the header intact
}

TEST(HostileCapture, HostileStreamsInsideAValidCapture) {
    testing::TempDir dir;
    std::mt19937 rng(3);
    {
        testing::SyntheticCapture cap(dir.file("h.ctz"));
        for (int c = 0; c < 30; ++c) {
            auto g = cap.open_connection(9, 0x100 + c);
            for (int k = 0; k < 5; ++k) {
                std::string s =
                    (k == 0) ? "POST /v1/messages HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"
                             : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n";
                for (std::size_t i = rng() % 300; i > 0; --i)
                    s += static_cast<char>(rng());
                if (rng() % 2) {
                    cap.write(g, s);
                } else {
                    cap.read(g, s);
                }
                if (rng() % 3 == 0)
                    cap.vanish(g, static_cast<int>(rng() % 2), rng() % 100000);
            }
        }
        cap.finish();
    }
    EXPECT_TRUE(try_import(dir.file("h.ctz")));
}

}  // namespace
}  // namespace ct::analyze

// Reassembly by byte position: missing bytes show as gaps with their cause.
#include <gtest/gtest.h>

#include "capture/capture_contents.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::testing {
namespace {

using replay::GapReason;

TEST(StreamAssembly, LossEventsAndSequenceGapsBecomeGaps) {
    TempDir dir;
    auto path = dir.file("gaps.ctz");
    {
        SyntheticCapture cap(path);
        auto g = cap.open_connection(5, 0xabc);
        cap.write(g, "aaaa");
        cap.lose(g, CT_DIR_WRITE, 10, CT_LOSS_RING_FULL);
        cap.write(g, "bbbb");
        cap.vanish(g, CT_DIR_WRITE, 7, 2);
        cap.write(g, "cccc");
        cap.finish();
    }
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    EXPECT_EQ(contents->lost_events, 2u);
    const auto& s = contents->connections.at(0).streams[CT_DIR_WRITE];
    EXPECT_EQ(std::string(s.data.begin(), s.data.end()), "aaaabbbbcccc");
    EXPECT_EQ(s.end_pos, 4u + 10 + 4 + 7 + 4);
    EXPECT_EQ(s.gap_bytes, 17u);
    ASSERT_EQ(s.segments.size(), 5u);
    EXPECT_TRUE(s.segments[1].is_gap);
    EXPECT_EQ(s.segments[1].gap_reason, GapReason::RingFull);
    EXPECT_EQ(s.segments[1].len, 10u);
    EXPECT_TRUE(s.segments[3].is_gap);
    EXPECT_EQ(s.segments[3].gap_reason, GapReason::LostEvents);
    EXPECT_EQ(s.segments[3].pos, 18u);
    // Segments are contiguous from 0.
    std::uint64_t pos = 0;
    for (const auto& seg : s.segments) {
        EXPECT_EQ(seg.pos, pos);
        pos += seg.len;
    }
}

TEST(StreamAssembly, TruncatedCallShowsTheCutAsTruncation) {
    TempDir dir;
    auto path = dir.file("trunc.ctz");
    {
        SyntheticOptions o;
        o.payload_cap = 100;
        SyntheticCapture cap(path, o);
        auto g = cap.open_connection(5, 0xabc);
        cap.write(g, std::string(250, 'x'));
        cap.write(g, "tail");
        cap.finish();
    }
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    const auto& s = contents->connections.at(0).streams[CT_DIR_WRITE];
    EXPECT_EQ(s.end_pos, 254u);
    EXPECT_EQ(s.gap_bytes, 150u);
    ASSERT_EQ(s.segments.size(), 3u);
    EXPECT_EQ(s.segments[1].gap_reason, GapReason::Truncated);
    EXPECT_EQ(std::string(s.bytes(s.segments[2]).begin(), s.bytes(s.segments[2]).end()), "tail");
}

TEST(StreamAssembly, ConnectionsStaySeparateAndCloseMarksTheEnd) {
    TempDir dir;
    auto path = dir.file("conns.ctz");
    {
        SyntheticCapture cap(path);
        auto a = cap.open_connection(5, 0xabc);
        cap.write(a, "first");
        cap.close(a);
        auto b = cap.open_connection(5, 0xabc);  // same SSL* address reused
        cap.write(b, "second");
        cap.vanish(b, CT_DIR_READ, 3);
        cap.close(b);
        cap.finish();
    }
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    ASSERT_EQ(contents->connections.size(), 2u);
    const auto& b = contents->connections[1];
    EXPECT_NE(contents->connections[0].conn_gen, b.conn_gen);
    EXPECT_EQ(b.streams[CT_DIR_READ].end_pos, 3u);  // known from the close event alone
    EXPECT_EQ(b.streams[CT_DIR_READ].gap_bytes, 3u);
}

}  // namespace
}  // namespace ct::testing

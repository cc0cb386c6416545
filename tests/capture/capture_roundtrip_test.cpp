// The writer's output reads back record for record, and a clean end is visible.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::testing {
namespace {

std::string text(const replay::DirectionStream& s) {
    return {s.data.begin(), s.data.end()};
}

TEST(CaptureRoundtrip, HeaderRecordsAndTrailerReadBack) {
    TempDir dir;
    auto path = dir.file("a.ctz");
    {
        SyntheticCapture cap(path);
        auto g = cap.open_connection(42, 0x5000);
        cap.write(g, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
        cap.close(g);
        cap.finish("target exited");
    }
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "captures hold secrets: owner-only";

    auto reader = replay::CaptureReader::open(path);
    ASSERT_TRUE(reader) << reader.error().what();
    EXPECT_EQ(reader->header().major, 1);
    EXPECT_EQ(reader->header().hostname, "testhost");
    EXPECT_EQ(reader->header().uuid.size(), 36u);
    std::size_t events = 0;
    auto summary = reader->for_each_record([&](const replay::Record& r) {
        if (r.type == ctz::RecordType::Event)
            ++events;
    });
    EXPECT_TRUE(summary.ended_cleanly());
    EXPECT_EQ(summary.trailer->end_reason, "target exited");
    EXPECT_EQ(summary.bad_frames, 0u);
    EXPECT_TRUE(summary.damage.empty());
    EXPECT_EQ(events, 6u);  // open, handshake x2, write, read, close

    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    ASSERT_EQ(contents->connections.size(), 1u);
    const auto& c = contents->connections[0];
    EXPECT_EQ(c.pid, 42u);
    EXPECT_TRUE(c.closed);
    EXPECT_EQ(text(c.streams[CT_DIR_WRITE]), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(text(c.streams[CT_DIR_READ]), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    EXPECT_EQ(contents->lost_events, 0u);
}

TEST(CaptureRoundtrip, RefusesToOverwriteWithoutForce) {
    TempDir dir;
    auto path = dir.file("a.ctz");
    { SyntheticCapture cap(path); }
    auto again = record::CaptureWriter::create(path, {});
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("--force"), std::string::npos);
    record::WriterOptions force;
    force.overwrite = true;
    EXPECT_TRUE(record::CaptureWriter::create(path, force));
}

TEST(CaptureRoundtrip, LargeCallsSplitIntoChunksReassembleExactly) {
    TempDir dir;
    auto path = dir.file("big.ctz");
    std::string body(3 * CT_DATA_CHUNK_MAX + 123, '\0');
    for (std::size_t i = 0; i < body.size(); ++i)
        body[i] = static_cast<char>(i * 7 + i / 251);
    {
        SyntheticOptions o;
        o.writer.unit_max_bytes = 100 * 1024;
        o.writer.segment_max_bytes = o.writer.unit_max_bytes;  // forces many frames
        SyntheticCapture cap(path, o);
        auto g = cap.open_connection(1, 0x10);
        cap.write(g, body);
        cap.read(g, body.substr(0, 1000));
        cap.finish();
    }
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    EXPECT_GE(contents->summary.frames, 2u);
    ASSERT_EQ(contents->connections.size(), 1u);
    const auto& w = contents->connections[0].streams[CT_DIR_WRITE];
    EXPECT_EQ(text(w), body);
    EXPECT_EQ(w.gap_bytes, 0u);
    // Each chunk knows its call: which function, the call's length, and its place in it.
    ASSERT_EQ(w.segments.size(), 4u);
    for (std::size_t i = 0; i < w.segments.size(); ++i) {
        EXPECT_EQ(w.segments[i].func, CT_FUNC_SSL_WRITE);
        EXPECT_EQ(w.segments[i].call_len, body.size());
        EXPECT_EQ(w.segments[i].chunk_offset, i * CT_DATA_CHUNK_MAX);
    }
}

TEST(CaptureRoundtrip, BackgroundWriterProducesTheSameRecords) {
    TempDir dir;
    auto path = dir.file("bg.ctz");
    std::string chunk(5000, 'x');
    {
        SyntheticOptions o;
        o.writer.background = true;
        o.writer.unit_max_bytes = 16 * 1024;
        o.writer.segment_max_bytes = o.writer.unit_max_bytes;
        o.writer.max_pending_units = 2;
        SyntheticCapture cap(path, o);
        auto g = cap.open_connection(1, 0x10);
        for (int i = 0; i < 200; ++i)
            cap.write(g, chunk + std::to_string(i));
        cap.finish();
    }
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    EXPECT_TRUE(contents->summary.ended_cleanly());
    std::string expected;
    for (int i = 0; i < 200; ++i)
        expected += chunk + std::to_string(i);
    EXPECT_EQ(text(contents->connections.at(0).streams[CT_DIR_WRITE]), expected);
}

TEST(CaptureRoundtrip, UnknownRecordTypesAndFieldsAreSkipped) {
    TempDir dir;
    auto path = dir.file("future.ctz");
    {
        SyntheticCapture cap(path);
        std::vector<std::uint8_t> unknown = {1, 2, 3, 4, 5};
        cap.append_raw(static_cast<ctz::RecordType>(999), unknown);
        ctz::FieldWriter f;
        f.u64(ctz::ProcessField::Pid, 7).str(static_cast<ctz::ProcessField>(500), "future field");
        cap.append_raw(ctz::RecordType::Process, f.bytes());
        cap.finish();
    }
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    EXPECT_TRUE(contents->summary.damage.empty());
    ASSERT_EQ(contents->processes.size(), 1u);
    EXPECT_EQ(contents->processes[0].pid, 7u);
}

TEST(CaptureRoundtrip, PlainZstdDecompressesEveryFrame) {
    // `zstd -dc` must accept the file: header and trailer are skippable frames.
    TempDir dir;
    auto path = dir.file("z.ctz");
    {
        SyntheticCapture cap(path);
        auto g = cap.open_connection(1, 0x10);
        cap.write(g, "MARKER-abc123");
        cap.finish();
    }
    std::string cmd = "zstd -dc " + path + " | grep -c MARKER-abc123";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[32] = {};
    ASSERT_NE(std::fgets(buf, sizeof buf, p), nullptr);
    EXPECT_EQ(::pclose(p), 0);
    EXPECT_EQ(std::string(buf), "1\n");
}

}  // namespace
}  // namespace ct::testing

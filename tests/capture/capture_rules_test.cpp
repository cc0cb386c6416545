// Reading rules of schema/capture-format.md section 4 that the project's own writer
// never exercises: files are built here byte by byte, the way another writer (or
// damage) could produce them, and the reader must do what the spec says.
#include <gtest/gtest.h>
#include <xxhash.h>
#include <zstd.h>

#include <string>
#include <vector>

#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::testing {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes note_body(const std::string& message) {
    ctz::FieldWriter f;
    f.str(ctz::NoteField::Level, "info").str(ctz::NoteField::Message, message);
    return f.take();
}

// A unit: the records, then a SYNC record whose count is `count` (the true count
// unless a test says otherwise).
void put_unit(Bytes& out, const std::vector<std::pair<ctz::RecordType, Bytes>>& records,
              std::optional<std::uint64_t> count = std::nullopt) {
    Bytes unit;
    for (const auto& [type, body] : records)
        ctz::put_record(unit, type, body);
    ctz::FieldWriter sync;
    sync.u64(ctz::SyncField::Checksum, XXH3_64bits(unit.data(), unit.size()))
        .u64(ctz::SyncField::Records, count.value_or(records.size()));
    ctz::put_record(unit, ctz::RecordType::Sync, sync.bytes());
    out.insert(out.end(), unit.begin(), unit.end());
}

Bytes frame_begin(std::uint64_t index) {
    ctz::FieldWriter f;
    f.u64(ctz::FrameField::Index, index).u64(ctz::FrameField::MonotonicNs, 1);
    return f.take();
}

// One segment (zstd frame with checksum) holding `content`.
Bytes segment(const Bytes& content) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    Bytes out(ZSTD_compressBound(content.size()));
    std::size_t n = ZSTD_compress2(c, out.data(), out.size(), content.data(), content.size());
    ZSTD_freeCCtx(c);
    EXPECT_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
}

// A segment of three units: FRAME_BEGIN, then one NOTE per unit named `prefix`N.
Bytes note_segment(std::uint64_t index, const std::string& prefix) {
    Bytes content;
    put_unit(content, {{ctz::RecordType::FrameBegin, frame_begin(index)}});
    for (int i = 0; i < 2; ++i)
        put_unit(content, {{ctz::RecordType::Note, note_body(prefix + std::to_string(i))}});
    return segment(content);
}

// The header frame of a capture made by the project's writer.
Bytes header_frame(const TempDir& dir, const std::string& seed) {
    auto path = dir.file(seed + ".ctz");
    SyntheticOptions o;
    o.uuid_seed = seed;
    { SyntheticCapture cap(path, o); }
    auto bytes = read_file(path);
    return {bytes.begin(), bytes.begin() + 8 + ctz::get_u32(bytes.data() + 4)};
}

struct Read {
    replay::ReadSummary summary;
    std::vector<std::string> notes;
};

Read read(const std::string& path) {
    Read r;
    auto reader = replay::CaptureReader::open(path);
    EXPECT_TRUE(reader);
    if (!reader)
        return r;
    r.summary = reader->for_each_record([&](const replay::Record& rec) {
        if (rec.type == ctz::RecordType::Note)
            r.notes.push_back(ctz::parse_fields(rec.body).str(ctz::NoteField::Message));
    });
    return r;
}

void append(Bytes& out, const Bytes& more) {
    out.insert(out.end(), more.begin(), more.end());
}

TEST(CaptureRules, DuplicateFieldIdsTheFirstOneCounts) {
    ctz::FieldWriter f;
    f.u64(ctz::NoteField::MonotonicNs, 5)
        .str(ctz::NoteField::Message, "first")
        .str(ctz::NoteField::Message, "second")
        .u64(ctz::NoteField::MonotonicNs, 6);
    auto parsed = ctz::parse_fields(f.bytes());
    EXPECT_EQ(parsed.str(ctz::NoteField::Message), "first");
    EXPECT_EQ(parsed.u64(ctz::NoteField::MonotonicNs), 5u);

    // The same in a header: the first hostname is the capture's.
    Bytes content;
    ctz::put_u32(content, ctz::kTagHeader);
    ctz::put_u16(content, ctz::kFormatMajor);
    ctz::put_u16(content, 0);
    ctz::FieldWriter h;
    Bytes uuid(16, 0xab);
    h.bytes(ctz::HeaderField::CaptureUuid, uuid)
        .str(ctz::HeaderField::Hostname, "alpha")
        .str(ctz::HeaderField::Hostname, "beta");
    append(content, h.bytes());
    auto header = replay::parse_header_content(content);
    ASSERT_TRUE(header);
    EXPECT_EQ(header->hostname, "alpha");
}

TEST(CaptureRules, SyncCountMismatchIsDamageAndCostsTheRestOfTheSegment) {
    TempDir dir;
    auto file = header_frame(dir, "count");
    Bytes content;
    put_unit(content, {{ctz::RecordType::FrameBegin, frame_begin(0)}});
    put_unit(content, {{ctz::RecordType::Note, note_body("kept")}});
    // Checksum right, count wrong: not what the writer said it wrote.
    put_unit(content,
             {{ctz::RecordType::Note, note_body("a")}, {ctz::RecordType::Note, note_body("b")}}, 1);
    put_unit(content, {{ctz::RecordType::Note, note_body("after")}});
    append(file, segment(content));
    append(file, note_segment(1, "next"));
    auto path = dir.file("mismatch.ctz");
    write_file(path, file);
    auto r = read(path);
    EXPECT_EQ(r.notes, (std::vector<std::string>{"kept", "next0", "next1"}));
    EXPECT_EQ(r.summary.bad_frames, 1u);
    EXPECT_EQ(r.summary.frames, 1u);
    ASSERT_FALSE(r.summary.damage.empty());
    EXPECT_NE(r.summary.damage[0].what.find("checksum"), std::string::npos);
}

TEST(CaptureRules, SyncWithoutItsChecksumFieldIsDamage) {
    TempDir dir;
    auto file = header_frame(dir, "nosum");
    Bytes content;
    put_unit(content, {{ctz::RecordType::FrameBegin, frame_begin(0)}});
    Bytes unit;
    ctz::put_record(unit, ctz::RecordType::Note, note_body("unvouched"));
    ctz::FieldWriter sync;
    sync.u64(ctz::SyncField::Records, 1);
    ctz::put_record(unit, ctz::RecordType::Sync, sync.bytes());
    append(content, unit);
    append(file, segment(content));
    auto path = dir.file("nosum.ctz");
    write_file(path, file);
    auto r = read(path);
    EXPECT_TRUE(r.notes.empty());
    EXPECT_EQ(r.summary.bad_frames, 1u);
}

TEST(CaptureRules, ASecondHeaderEndsTheCapture) {
    TempDir dir;
    // Two captures joined together (cat a.ctz b.ctz > c.ctz).
    auto file = header_frame(dir, "first");
    append(file, note_segment(0, "a"));
    Bytes trailer_content;
    ctz::put_u32(trailer_content, ctz::kTagTrailer);
    ctz::put_u16(trailer_content, ctz::kFormatMajor);
    ctz::put_u16(trailer_content, ctz::kFormatMinor);
    ctz::FieldWriter t;
    t.str(ctz::TrailerField::EndReason, "first ended");
    append(trailer_content, t.bytes());
    Bytes trailer;
    ctz::put_u32(trailer, ctz::kSkippableMagic);
    ctz::put_u32(trailer, static_cast<std::uint32_t>(trailer_content.size()));
    append(trailer, trailer_content);
    append(file, trailer);
    const auto second_at = file.size();
    append(file, header_frame(dir, "second"));
    append(file, note_segment(0, "b"));
    append(file, trailer);
    auto path = dir.file("joined.ctz");
    write_file(path, file);

    auto r = read(path);
    EXPECT_EQ(r.notes, (std::vector<std::string>{"a0", "a1"})) << "no record of the second";
    ASSERT_TRUE(r.summary.trailer.has_value());
    EXPECT_EQ(r.summary.trailer->end_reason, "first ended");
    EXPECT_EQ(r.summary.skipped_bytes, file.size() - second_at);
    ASSERT_EQ(r.summary.damage.size(), 1u);
    EXPECT_EQ(r.summary.damage[0].file_offset, second_at);
    EXPECT_NE(r.summary.damage[0].what.find("second capture header"), std::string::npos);
}

// A segment from a writer that predates units: no SYNC records, the zstd checksum is
// all that vouches for its records, so a bad one costs them.
TEST(CaptureRules, SegmentWithoutUnitsDependsOnItsFrameChecksum) {
    TempDir dir;
    auto file = header_frame(dir, "legacy");
    Bytes content;
    ctz::put_record(content, ctz::RecordType::FrameBegin, frame_begin(0));
    ctz::put_record(content, ctz::RecordType::Note, note_body("old"));
    auto seg = segment(content);
    auto good = file;
    append(good, seg);
    auto path = dir.file("legacy.ctz");
    write_file(path, good);
    EXPECT_EQ(read(path).notes, std::vector<std::string>{"old"});

    seg.back() ^= 1;  // the frame checksum
    append(file, seg);
    write_file(path, file);
    auto r = read(path);
    EXPECT_TRUE(r.notes.empty());
    EXPECT_EQ(r.summary.bad_frames, 1u);
    EXPECT_EQ(r.summary.skipped_bytes, seg.size());
}

}  // namespace
}  // namespace ct::testing

namespace ct::testing {
namespace {

// The trailer's `records` counts what the recorder wrote: not the FRAME_BEGIN and
// SYNC records the writer adds. A reader of an intact file finds exactly that many.
TEST(CaptureRules, TrailerRecordsCountExcludesFrameBeginAndSync) {
    TempDir dir;
    auto path = dir.file("count.ctz");
    {
        SyntheticOptions o;
        o.writer.unit_max_bytes = 512;  // many units
        SyntheticCapture cap(path, o);
        auto g = cap.open_connection(3, 0x30);
        for (int i = 0; i < 30; ++i) {
            cap.write(g, std::string(100, 'x'));
            if (i % 10 == 9)
                cap.flush_frame();
        }
        cap.vanish(g, CT_DIR_WRITE, 10, 2);                // two events lost
        cap.lose(g, CT_DIR_WRITE, 64, CT_LOSS_RING_FULL);  // a LOSS event: bytes lost, not it
        cap.close(g);
        cap.finish();
    }
    auto reader = replay::CaptureReader::open(path);
    ASSERT_TRUE(reader);
    std::uint64_t frame_begins = 0, others = 0, events = 0;
    auto summary = reader->for_each_record([&](const replay::Record& r) {
        if (r.type == ctz::RecordType::FrameBegin)
            ++frame_begins;
        else
            ++others;
        if (r.type == ctz::RecordType::Event)
            ++events;
        EXPECT_NE(r.type, ctz::RecordType::Sync) << "SYNC records are not delivered";
    });
    ASSERT_TRUE(summary.trailer);
    EXPECT_GE(frame_begins, 4u);
    EXPECT_EQ(summary.frames, frame_begins);
    EXPECT_EQ(others, summary.trailer->records);
    EXPECT_EQ(events, summary.trailer->events);
    // Lost events: last_seq - events, what a reader counts from the sequence gaps.
    EXPECT_EQ(summary.trailer->lost_events, 2u);
    EXPECT_EQ(summary.trailer->last_seq - summary.trailer->events, 2u);
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    EXPECT_EQ(contents->lost_events, summary.trailer->lost_events);
}

}  // namespace
}  // namespace ct::testing

// Reading rules of schema/capture-format.md section 4 that the project's own writer
// never exercises: files are built here byte by byte, the way another writer (or
// damage) could produce them, and the reader must do what the spec says.
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader
#include <gtest/gtest.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
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

// The reader's limits (capture-format.md 4, rules 3 and 5) and the trailer rules
// (2.1): each on a file built byte by byte, then the next segment read as usual.
namespace ct::testing {
namespace {

constexpr std::size_t kMiB = 1u << 20;

Bytes random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    Bytes out(n);
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
        const std::uint64_t v = rng();
        std::memcpy(out.data() + i, &v, 8);
    }
    return out;
}

Bytes note_of(const Bytes& payload) {
    ctz::FieldWriter f;
    f.str(ctz::NoteField::Level, "info")
        .str(ctz::NoteField::Message,
             std::string(reinterpret_cast<const char*>(payload.data()), payload.size()));
    return f.take();
}

// FRAME_BEGIN and one NOTE "kept", each a unit: what a damaged segment keeps.
Bytes kept_units(std::uint64_t index) {
    Bytes content;
    put_unit(content, {{ctz::RecordType::FrameBegin, frame_begin(index)}});
    put_unit(content, {{ctz::RecordType::Note, note_body("kept")}});
    return content;
}

Bytes trailer_frame(const std::string& end_reason, std::uint16_t major = ctz::kFormatMajor) {
    Bytes content;
    ctz::put_u32(content, ctz::kTagTrailer);
    ctz::put_u16(content, major);
    ctz::put_u16(content, ctz::kFormatMinor);
    ctz::FieldWriter t;
    t.str(ctz::TrailerField::EndReason, end_reason);
    append(content, t.bytes());
    Bytes frame;
    ctz::put_u32(frame, ctz::kSkippableMagic);
    ctz::put_u32(frame, static_cast<std::uint32_t>(content.size()));
    append(frame, content);
    return frame;
}

Read read_bytes(const TempDir& dir, const std::string& name, const Bytes& file) {
    auto path = dir.file(name);
    write_file(path, file);
    return read(path);
}

bool has_damage(const Read& r, std::string_view what) {
    for (const auto& d : r.summary.damage) {
        if (d.what.find(what) != std::string::npos)
            return true;
    }
    return false;
}

// Rule 3: more than 64 MiB held without a SYNC ends the segment (incompressible,
// so that rule 5's expansion bound is not what stops it).
TEST(CaptureLimits, SixtyFourMiBWithoutASyncEndsTheSegment) {
    TempDir dir;
    auto file = header_frame(dir, "nosync");
    Bytes content = kept_units(0);
    for (int i = 0; i < 5; ++i)
        ctz::put_record(content, ctz::RecordType::Note, note_of(random_bytes(15 * kMiB, i)));
    append(file, segment(content));
    append(file, note_segment(1, "next"));
    auto r = read_bytes(dir, "nosync.ctz", file);
    EXPECT_EQ(r.notes, (std::vector<std::string>{"kept", "next0", "next1"}));
    EXPECT_EQ(r.summary.bad_frames, 1u);
    EXPECT_EQ(r.summary.frames, 1u);  // the intact one
}

// Rule 3: a record longer than 16 MiB ends the segment, whatever follows.
TEST(CaptureLimits, ARecordOverSixteenMiBEndsTheSegment) {
    TempDir dir;
    auto file = header_frame(dir, "big");
    Bytes content = kept_units(0);
    put_unit(content, {{ctz::RecordType::Note, note_of(random_bytes(16 * kMiB + 8, 9))}});
    put_unit(content, {{ctz::RecordType::Note, note_body("after")}});
    append(file, segment(content));
    append(file, note_segment(1, "next"));
    auto r = read_bytes(dir, "big.ctz", file);
    EXPECT_EQ(r.notes, (std::vector<std::string>{"kept", "next0", "next1"}));
    EXPECT_EQ(r.summary.bad_frames, 1u);
}

// Rule 5: a segment whose output passes 64 MiB and 2000 times the input read so
// far is given up there; the units that ended before are kept.
TEST(CaptureLimits, ASegmentThatExpandsTwoThousandFoldIsGivenUp) {
    TempDir dir;
    auto file = header_frame(dir, "bomb");
    Bytes content = kept_units(0);
    const Bytes zeros(4 * kMiB, 0);
    for (int i = 0; i < 24; ++i)  // 96 MiB of valid units that compress to a few KiB
        put_unit(content, {{ctz::RecordType::Note, note_of(zeros)}});
    put_unit(content, {{ctz::RecordType::Note, note_body("beyond")}});
    const auto seg = segment(content);
    ASSERT_LT(seg.size() * 2000, content.size());
    append(file, seg);
    append(file, note_segment(1, "next"));
    auto r = read_bytes(dir, "bomb.ctz", file);
    ASSERT_GE(r.notes.size(), 3u);
    EXPECT_EQ(r.notes.front(), "kept");
    EXPECT_EQ(std::vector<std::string>(r.notes.end() - 2, r.notes.end()),
              (std::vector<std::string>{"next0", "next1"}));
    // Some of the 4 MiB notes, never all of them, and nothing after them.
    EXPECT_LT(r.notes.size(), 3u + 24u);
    EXPECT_EQ(std::count(r.notes.begin(), r.notes.end(), "beyond"), 0);
    EXPECT_TRUE(has_damage(r, "expands implausibly"));
}

// Rule 5: a segment that asks for a window over 16 MiB is refused; the next is read.
TEST(CaptureLimits, AWindowOverSixteenMiBIsRefused) {
    TempDir dir;
    auto file = header_frame(dir, "window");
    Bytes content = kept_units(0);
    // Streamed without a size, so that the frame header keeps the 32 MiB window.
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 25);
    Bytes seg(ZSTD_compressBound(content.size()) + 64);
    ZSTD_outBuffer out{seg.data(), seg.size(), 0};
    ZSTD_inBuffer in{content.data(), content.size(), 0};
    ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(c, &out, &in, ZSTD_e_continue)));
    ZSTD_inBuffer none{nullptr, 0, 0};
    ASSERT_EQ(ZSTD_compressStream2(c, &out, &none, ZSTD_e_end), 0u);
    ZSTD_freeCCtx(c);
    seg.resize(out.pos);
    ZSTD_frameHeader fh{};
    ASSERT_EQ(ZSTD_getFrameHeader(&fh, seg.data(), seg.size()), 0u);
    ASSERT_GT(fh.windowSize, 16 * kMiB);
    append(file, seg);
    append(file, note_segment(1, "next"));
    auto r = read_bytes(dir, "window.ctz", file);
    EXPECT_EQ(r.notes, (std::vector<std::string>{"next0", "next1"}));
    EXPECT_EQ(r.summary.bad_frames, 1u);
}

// 2.1: a trailer followed by a segment does not count; of several, the last one
// counts; skippable frames after it are ignored; another major version is damage.
TEST(CaptureLimits, TrailerRules) {
    TempDir dir;
    const auto header = header_frame(dir, "trailers");
    {
        auto file = header;
        append(file, note_segment(0, "a"));
        append(file, trailer_frame("early"));
        append(file, note_segment(1, "b"));
        auto r = read_bytes(dir, "followed.ctz", file);
        EXPECT_EQ(r.notes, (std::vector<std::string>{"a0", "a1", "b0", "b1"}));
        EXPECT_FALSE(r.summary.trailer.has_value());
    }
    {
        auto file = header;
        append(file, note_segment(0, "a"));
        append(file, trailer_frame("one"));
        append(file, trailer_frame("two"));
        auto r = read_bytes(dir, "two.ctz", file);
        ASSERT_TRUE(r.summary.trailer.has_value());
        EXPECT_EQ(r.summary.trailer->end_reason, "two");
        EXPECT_TRUE(r.summary.ended_cleanly());
    }
    {
        auto file = header;
        append(file, note_segment(0, "a"));
        append(file, trailer_frame("kept"));
        Bytes other;  // a skippable frame of nobody's: magic 0x184D2A5F, 4 bytes
        ctz::put_u32(other, 0x184D2A5Fu);
        ctz::put_u32(other, 4);
        ctz::put_u32(other, 0x12345678u);
        append(file, other);
        auto r = read_bytes(dir, "skippable.ctz", file);
        ASSERT_TRUE(r.summary.trailer.has_value());
        EXPECT_EQ(r.summary.trailer->end_reason, "kept");
    }
    {
        auto file = header;
        append(file, note_segment(0, "a"));
        append(file, trailer_frame("garbage follows"));
        append(file, Bytes(100, 0x55));
        auto r = read_bytes(dir, "garbage.ctz", file);
        EXPECT_FALSE(r.summary.trailer.has_value());
        EXPECT_EQ(r.summary.skipped_bytes, 100u);
    }
    {
        auto file = header;
        append(file, note_segment(0, "a"));
        append(file, trailer_frame("future", ctz::kFormatMajor + 1));
        auto r = read_bytes(dir, "major.ctz", file);
        EXPECT_EQ(r.notes, (std::vector<std::string>{"a0", "a1"}));
        EXPECT_FALSE(r.summary.trailer.has_value());
        EXPECT_TRUE(has_damage(r, "unreadable trailer"));
    }
}

}  // namespace
}  // namespace ct::testing

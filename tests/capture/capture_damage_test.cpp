// Damaged, truncated and hostile capture files: readers keep every record that
// can be kept, report the damage, and never crash.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "capture/frame_magic.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::testing {
namespace {

// The search for the next frame after damage finds what a byte-by-byte scan for
// the magics finds (zstd's 28 B5 2F FD, skippable 5? 2A 4D 18), near misses included.
TEST(CaptureDamage, FrameMagicSearchMatchesAByteScan) {
    auto is_magic = [](const std::uint8_t* p) {
        const std::uint32_t m = ctz::get_u32(p);
        return m == ctz::kZstdFrameMagic || ctz::is_skippable_magic(m);
    };
    const std::uint8_t planted[][4] = {{0x28, 0xB5, 0x2F, 0xFD}, {0x5C, 0x2A, 0x4D, 0x18},
                                       {0x50, 0x2A, 0x4D, 0x18}, {0x4F, 0x2A, 0x4D, 0x18},
                                       {0x60, 0x2A, 0x4D, 0x18}, {0x28, 0xB5, 0x2F, 0xFC}};
    const std::uint8_t common[] = {0x28, 0xB5, 0x2F, 0xFD, 0x2A, 0x4D, 0x18, 0x5C};
    std::mt19937 rng(11);
    for (int round = 0; round < 100000; ++round) {
        std::vector<std::uint8_t> v(rng() % 64);
        for (auto& b : v)
            b = rng() % 4 == 0 ? common[rng() % 8] : static_cast<std::uint8_t>(rng());
        if (!v.empty() && rng() % 2) {
            const auto& p = planted[rng() % 6];
            const std::size_t at = rng() % v.size();
            for (std::size_t k = 0; k < 4 && at + k < v.size(); ++k)
                v[at + k] = p[k];
        }
        std::size_t scan = 0;
        while (scan + 4 <= v.size() && !is_magic(v.data() + scan))
            ++scan;
        if (scan + 4 > v.size())
            scan = v.size();
        ASSERT_EQ(replay::find_frame_magic(v), scan) << "round " << round;
    }
}

struct Walk {
    replay::ReadSummary summary;
    std::vector<std::string> payloads;  // DATA payloads in file order
};

Walk walk(const std::string& path) {
    Walk w;
    auto reader = replay::CaptureReader::open(path);
    if (!reader)
        return w;
    w.summary = reader->for_each_record([&](const replay::Record& r) {
        if (r.type != ctz::RecordType::Event)
            return;
        auto h = abi::read_header(r.body);
        if (h && h->type == CT_EVENT_DATA) {
            auto t = abi::tail(r.body);
            w.payloads.emplace_back(t.begin(), t.end());
        }
    });
    return w;
}

// Write i of frame f in make_capture().
std::string frame_payload(int f, int i) {
    return "f" + std::to_string(f) + "-w" + std::to_string(i) + ":" +
           std::string(300 + f * 10 + i, static_cast<char>('a' + f));
}

// A capture of 12 frames, each holding 5 writes "f<frame>-w<i>:" + filler.
std::string make_capture(const TempDir& dir, std::vector<std::uint64_t>* frame_ends = nullptr) {
    auto path = dir.file("src.ctz");
    SyntheticCapture cap(path);
    auto g = cap.open_connection(9, 0x99);
    cap.flush_frame();
    if (frame_ends)
        frame_ends->push_back(read_file(path).size());
    for (int f = 0; f < 12; ++f) {
        for (int i = 0; i < 5; ++i) {
            cap.write(g, frame_payload(f, i));
        }
        cap.flush_frame();
        if (frame_ends)
            frame_ends->push_back(read_file(path).size());
    }
    cap.finish();
    return path;
}

TEST(CaptureDamage, TruncatedAtEveryByteKeepsEveryCompleteFrame) {
    TempDir dir;
    std::vector<std::uint64_t> frame_ends;
    auto src = make_capture(dir, &frame_ends);
    auto bytes = read_file(src);
    auto cut_path = dir.file("cut.ctz");
    std::size_t previous = 0;
    for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
        write_file(cut_path, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)});
        auto reader = replay::CaptureReader::open(cut_path);
        if (!reader)
            continue;  // header itself cut: a clear error, tested below
        Walk w = walk(cut_path);
        // Every frame that ends at or before the cut is complete and fully read.
        std::size_t complete_frames = 0;
        for (std::size_t i = 1; i < frame_ends.size(); ++i) {
            if (frame_ends[i] <= cut)
                complete_frames = i;
        }
        ASSERT_GE(w.payloads.size(), complete_frames * 5) << "cut at " << cut;
        ASSERT_GE(w.payloads.size(), previous) << "a longer file must not yield fewer records";
        previous = w.payloads.size();
        if (cut < bytes.size()) {
            ASSERT_FALSE(w.summary.ended_cleanly()) << "cut at " << cut;
        }
        for (std::size_t i = 0; i < w.payloads.size(); ++i) {
            std::string prefix = "f" + std::to_string(i / 5) + "-w" + std::to_string(i % 5) + ":";
            ASSERT_EQ(w.payloads[i].rfind(prefix, 0), 0u) << "salvaged record out of order";
        }
    }
    EXPECT_EQ(previous, 60u);
}

TEST(CaptureDamage, HeaderProblemsAreClearErrors) {
    TempDir dir;
    auto src = make_capture(dir);
    auto bytes = read_file(src);
    auto p = dir.file("h.ctz");

    write_file(p, {});
    auto r = replay::CaptureReader::open(p);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("not a ct capture"), std::string::npos);

    write_file(p, {bytes.begin(), bytes.begin() + 20});
    EXPECT_FALSE(replay::CaptureReader::open(p));

    auto future = bytes;
    future[12] = 2;  // major version 2
    write_file(p, future);
    r = replay::CaptureReader::open(p);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("version 2"), std::string::npos);

    std::vector<std::uint8_t> text(bytes.size(), 'A');
    write_file(p, text);
    EXPECT_FALSE(replay::CaptureReader::open(p));

    EXPECT_FALSE(replay::CaptureReader::open(dir.file("missing.ctz")));
}

TEST(CaptureDamage, CorruptFrameIsSkippedAndTheRestIsRead) {
    TempDir dir;
    std::vector<std::uint64_t> frame_ends;
    auto src = make_capture(dir, &frame_ends);
    auto bytes = read_file(src);
    // Flip one byte in the middle of frame 5 (which holds writes f4-*).
    std::size_t victim = (frame_ends[4] + frame_ends[5]) / 2;
    bytes[victim] ^= 0x5a;
    auto p = dir.file("flip.ctz");
    write_file(p, bytes);
    Walk w = walk(p);
    EXPECT_GE(w.summary.bad_frames + w.summary.damage.size(), 1u);
    EXPECT_FALSE(w.summary.damage.empty());
    // At most the 5 records of the damaged frame are missing; nothing else. Whatever
    // is delivered is exactly what was written (a flip that leaves a unit's content
    // intact, e.g. in the frame checksum, may leave it deliverable).
    EXPECT_GE(w.payloads.size(), 55u);
    for (const auto& s : w.payloads) {
        int f = std::stoi(s.substr(1)), i = std::stoi(s.substr(s.find("-w") + 2));
        EXPECT_EQ(s, frame_payload(f, i)) << "damaged bytes delivered";
    }
    EXPECT_TRUE(w.summary.trailer.has_value());
}

TEST(CaptureDamage, EveryBitFlipIsSurvived) {
    TempDir dir;
    auto src = make_capture(dir);
    auto bytes = read_file(src);
    auto p = dir.file("flip.ctz");
    std::mt19937 rng(1234);
    for (int round = 0; round < 400; ++round) {
        auto damaged = bytes;
        int flips = 1 + round % 4;
        for (int i = 0; i < flips; ++i) {
            std::size_t at = rng() % damaged.size();
            damaged[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        }
        write_file(p, damaged);
        auto contents = replay::load_capture(p);  // must not crash, hang or throw
        if (contents) {
            EXPECT_LE(contents->events, 200u);
        }
    }
}

TEST(CaptureDamage, GarbageBetweenFramesIsSkippedWithResync) {
    TempDir dir;
    std::vector<std::uint64_t> frame_ends;
    auto src = make_capture(dir, &frame_ends);
    auto bytes = read_file(src);
    std::vector<std::uint8_t> garbage(5000);
    std::mt19937 rng(7);
    for (auto& b : garbage)
        b = static_cast<std::uint8_t>(rng());
    bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(frame_ends[6]), garbage.begin(),
                 garbage.end());
    auto p = dir.file("garbage.ctz");
    write_file(p, bytes);
    Walk w = walk(p);
    EXPECT_EQ(w.payloads.size(), 60u);
    EXPECT_GE(w.summary.skipped_bytes, 5000u);
    EXPECT_FALSE(w.summary.damage.empty());
}

TEST(CaptureDamage, HostileSizesDoNotExhaustMemory) {
    TempDir dir;
    auto src = make_capture(dir);
    auto bytes = read_file(src);
    auto header_len = 8 + ctz::get_u32(bytes.data() + 4);
    std::vector<std::uint8_t> hostile(bytes.begin(), bytes.begin() + header_len);
    // A zstd frame header claiming 1 TiB of content, then a skippable frame claiming 4 GiB.
    std::vector<std::uint8_t> frame = {0x28, 0xB5, 0x2F, 0xFD, 0xE4, 0x00};
    for (int i = 0; i < 8; ++i)
        frame.push_back(i == 5 ? 1 : 0);
    frame.insert(frame.end(), {1, 0, 0, 0, 0xff, 0xff});
    hostile.insert(hostile.end(), frame.begin(), frame.end());
    std::vector<std::uint8_t> skip = {0x5C, 0x2A, 0x4D, 0x18, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    hostile.insert(hostile.end(), skip.begin(), skip.end());
    auto p = dir.file("hostile.ctz");
    write_file(p, hostile);
    auto contents = replay::load_capture(p);
    ASSERT_TRUE(contents);
    EXPECT_FALSE(contents->summary.ended_cleanly());
    EXPECT_FALSE(contents->summary.damage.empty());
    EXPECT_EQ(contents->events, 0u);
}

}  // namespace
}  // namespace ct::testing

namespace ct::testing {
namespace {

// One segment of 10 units (the recorder closes a unit every second), then a
// second segment of 2 units. Unit u holds writes "u<u>-w<i>:".
std::string make_units_capture(const TempDir& dir, std::vector<std::uint64_t>* unit_ends) {
    auto path = dir.file("units.ctz");
    SyntheticCapture cap(path);
    auto g = cap.open_connection(9, 0x99);
    for (int u = 0; u < 12; ++u) {
        for (int i = 0; i < 3; ++i) {
            cap.write(g, "u" + std::to_string(u) + "-w" + std::to_string(i) + ":" +
                             std::string(500, static_cast<char>('a' + u)));
        }
        if (u == 9) {
            cap.flush_frame();
        } else {
            cap.flush_unit();
        }
        if (unit_ends)
            unit_ends->push_back(read_file(path).size());
    }
    cap.finish();
    return path;
}

TEST(CaptureUnits, CutInsideASegmentKeepsEveryCompleteUnitVerified) {
    TempDir dir;
    std::vector<std::uint64_t> unit_ends;
    auto bytes = read_file(make_units_capture(dir, &unit_ends));
    auto cut_path = dir.file("cut.ctz");
    for (std::size_t u = 0; u < 9; ++u) {
        // Cut a little after unit u ended: the segment has no end, unit u+1 is partial.
        std::size_t cut = unit_ends[u] + 7;
        write_file(cut_path, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)});
        Walk w = walk(cut_path);
        ASSERT_TRUE(w.summary.truncated_tail);
        ASSERT_GE(w.payloads.size(), (u + 1) * 3) << "unit " << u << " lost after a cut";
        for (std::size_t i = 0; i < w.payloads.size(); ++i) {
            std::string prefix = "u" + std::to_string(i / 3) + "-w" + std::to_string(i % 3) + ":";
            ASSERT_EQ(w.payloads[i].rfind(prefix, 0), 0u);
        }
    }
}

TEST(CaptureUnits, DamageInsideASegmentCostsOnlyTheRestOfThatSegment) {
    TempDir dir;
    std::vector<std::uint64_t> unit_ends;
    auto bytes = read_file(make_units_capture(dir, &unit_ends));
    // Overwrite 8 bytes in the middle of unit 5 of the first segment.
    for (std::size_t k = 0; k < 8; ++k)
        bytes[(unit_ends[4] + unit_ends[5]) / 2 + k] ^= 0x5a;
    auto p = dir.file("flip.ctz");
    write_file(p, bytes);
    Walk w = walk(p);
    EXPECT_FALSE(w.summary.damage.empty());
    std::set<int> units;
    for (const auto& s : w.payloads)
        units.insert(std::stoi(s.substr(1, s.find('-') - 1)));
    for (int u = 0; u < 5; ++u)
        EXPECT_TRUE(units.count(u)) << "unit " << u << " before the damage";
    for (int u = 5; u < 10; ++u)
        EXPECT_FALSE(units.count(u)) << "unit " << u << " is unverifiable";
    EXPECT_TRUE(units.count(10) && units.count(11)) << "the next segment is intact";
    EXPECT_TRUE(w.summary.trailer.has_value());
}

TEST(CaptureUnits, CompressionHistorySpansUnits) {
    // An agent resends its conversation every turn: within a segment the repeat is
    // nearly free, while independent frames would store it again each time.
    TempDir dir;
    std::string conversation;
    std::mt19937 rng(3);
    for (int i = 0; i < 100000; ++i)
        conversation += static_cast<char>('a' + rng() % 26);
    auto make = [&](const std::string& name, bool one_segment) {
        auto path = dir.file(name);
        SyntheticCapture cap(path);
        auto g = cap.open_connection(1, 0x10);
        for (int turn = 0; turn < 20; ++turn) {
            cap.write(g, conversation + std::to_string(turn));
            if (one_segment) {
                cap.flush_unit();
            } else {
                cap.flush_frame();
            }
        }
        cap.finish();
        return read_file(path).size();
    };
    std::size_t units = make("units.ctz", true);
    std::size_t frames = make("frames.ctz", false);
    EXPECT_LT(units * 5, frames) << "units " << units << " bytes, independent frames " << frames;
}

}  // namespace
}  // namespace ct::testing

namespace ct::testing {
namespace {

// Offset of the trailer frame (the last skippable frame tagged CTZT).
std::size_t trailer_offset(const std::vector<std::uint8_t>& bytes) {
    for (std::size_t i = bytes.size() - 12; i > 0; --i) {
        if (ctz::get_u32(&bytes[i]) == ctz::kSkippableMagic &&
            ctz::get_u32(&bytes[i + 8]) == ctz::kTagTrailer)
            return i;
    }
    return 0;
}

// The zstd checksum of a segment is checked only at its end, after every unit in it
// has passed its own SYNC checksum: a bad frame checksum must not cost those units.
TEST(CaptureUnits, BadFrameChecksumOfTheLastSegmentKeepsEveryVerifiedUnit) {
    TempDir dir;
    auto bytes = read_file(make_units_capture(dir, nullptr));
    auto at = trailer_offset(bytes);
    ASSERT_GT(at, 4u);
    for (std::size_t k = 1; k <= 4; ++k) {  // each byte of the checksum in turn
        auto damaged = bytes;
        damaged[at - k] ^= 0x40;
        auto p = dir.file("checksum.ctz");
        write_file(p, damaged);
        Walk w = walk(p);
        ASSERT_EQ(w.payloads.size(), 36u) << "checksum byte " << k;
        for (std::size_t i = 0; i < w.payloads.size(); ++i) {
            EXPECT_EQ(w.payloads[i], "u" + std::to_string(i / 3) + "-w" + std::to_string(i % 3) +
                                         ":" + std::string(500, static_cast<char>('a' + i / 3)));
        }
        EXPECT_EQ(w.summary.bad_frames, 1u) << "the damage is reported";
        EXPECT_FALSE(w.summary.damage.empty());
        EXPECT_EQ(w.summary.skipped_bytes, 0u) << "no record was skipped";
        EXPECT_TRUE(w.summary.trailer.has_value());
    }
}

// The shape of a short recording: one segment whose records all sit in the unit
// flushed at the end, right before the segment's end and its checksum.
TEST(CaptureUnits, BadFrameChecksumOfAOneSegmentCaptureKeepsItsRecords) {
    TempDir dir;
    auto path = dir.file("short.ctz");
    std::vector<std::string> written;
    {
        SyntheticCapture cap(path);
        auto g = cap.open_connection(7, 0x70);
        for (int i = 0; i < 40; ++i) {
            written.push_back("request " + std::to_string(i));
            cap.write(g, written.back());
        }
        cap.close(g);
        cap.finish();
    }
    auto bytes = read_file(path);
    auto at = trailer_offset(bytes);
    ASSERT_GT(at, 4u);
    bytes[at - 1] ^= 0x01;
    write_file(path, bytes);
    Walk w = walk(path);
    EXPECT_EQ(w.payloads, written);
    EXPECT_EQ(w.summary.bad_frames, 1u);
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents);
    EXPECT_EQ(contents->lost_events, 0u);
    ASSERT_EQ(contents->connections.size(), 1u);
    EXPECT_EQ(contents->connections[0].streams[CT_DIR_WRITE].gap_bytes, 0u);
}

}  // namespace
}  // namespace ct::testing

namespace ct::testing {
namespace {

// kill -9 leaves the file ending where the last unit was flushed: nothing in it is
// damage, and a reader must not report the segment's bytes as skipped.
TEST(CaptureUnits, TruncatedTailAtAUnitEndIsNotReportedAsSkippedBytes) {
    TempDir dir;
    std::vector<std::uint64_t> unit_ends;
    auto bytes = read_file(make_units_capture(dir, &unit_ends));
    auto cut_path = dir.file("cut.ctz");
    for (std::size_t u = 0; u < 9; ++u) {
        write_file(cut_path,
                   {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(unit_ends[u])});
        Walk w = walk(cut_path);
        EXPECT_TRUE(w.summary.truncated_tail);
        EXPECT_EQ(w.payloads.size(), (u + 1) * 3);
        EXPECT_EQ(w.summary.unverified_records, 0u);
        EXPECT_EQ(w.summary.bad_frames, 0u);
        EXPECT_EQ(w.summary.skipped_bytes, 0u) << "cut after unit " << u;
        ASSERT_EQ(w.summary.damage.size(), 1u) << "the truncated tail is still reported";
        EXPECT_NE(w.summary.damage[0].what.find("ends inside a segment"), std::string::npos);
    }
    // Cut inside a unit: at most the bytes after the last complete unit are unused.
    for (std::size_t u = 0; u < 8; ++u) {
        std::size_t cut = (unit_ends[u] + unit_ends[u + 1]) / 2;
        write_file(cut_path, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)});
        Walk w = walk(cut_path);
        EXPECT_TRUE(w.summary.truncated_tail);
        EXPECT_GE(w.payloads.size(), (u + 1) * 3);
        EXPECT_LE(w.summary.skipped_bytes, cut - unit_ends[u]) << "cut inside unit " << u + 1;
    }
}

}  // namespace
}  // namespace ct::testing

// Hostile inputs that used to hang, grow without bound or hit undefined
// behaviour finish with sane, bounded results: captures whose stream positions
// wrap past 2^64, times near 2^63, files that are not regular files,
// compression bombs, and more plaintext than the analyzer keeps in memory.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <zlib.h>

#include <fmt/format.h>

#include <cstdio>
#include <limits>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "synthetic_capture.hpp"
#include "test_db.hpp"
#include "test_files.hpp"
#include "timeline.hpp"

namespace ct::analyze {
namespace {

std::string fixture(const std::string& name) {
    return std::string(CT_FIXTURES_DIR) + "/hostile/" + name;
}

using testing::Db;

Db memory_db() {
    auto db = open_session_database(":memory:");
    EXPECT_TRUE(db);
    return Db{std::move(*db)};
}

// The bytes of every record the reader delivers: an upper bound for what a
// sane assembly can hold.
std::uint64_t record_bytes(const std::string& path, std::uint64_t* records = nullptr) {
    auto reader = replay::CaptureReader::open(path);
    EXPECT_TRUE(reader) << path;
    if (!reader)
        return 0;
    std::uint64_t bytes = 0;
    auto summary =
        reader->for_each_record([&](const replay::Record& r) { bytes += r.body.size(); });
    if (records)
        *records = summary.records;
    return bytes;
}

// Every direction of every connection: contiguous segments from 0 to end_pos,
// below the largest possible position, holding no more bytes than were read.
void expect_sane(const replay::CaptureContents& contents, std::uint64_t read_bytes) {
    std::uint64_t held = 0;
    for (const auto& c : contents.connections) {
        for (const auto& s : c.streams) {
            std::uint64_t pos = 0;
            for (const auto& seg : s.segments) {
                EXPECT_EQ(seg.pos, pos);
                EXPECT_GT(seg.len, 0u);
                pos = seg.pos + seg.len;
            }
            EXPECT_EQ(pos, s.end_pos);
            EXPECT_LE(s.end_pos, replay::kMaxStreamPos);
            held += s.data.size();
        }
    }
    EXPECT_LE(held, read_bytes);
}

// The timeline, as text; its size says how much work it did.
std::string timeline_of(const replay::CaptureContents& contents) {
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* out = open_memstream(&buf, &len);
    print_timeline(contents, {}, out);
    std::fclose(out);
    std::string text(buf, len);
    std::free(buf);
    return text;
}

std::string run(const std::string& command, int* status) {
    std::string out;
    std::FILE* p = ::popen(command.c_str(), "r");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
        out.append(buf, n);
    *status = ::pclose(p);
    return out;
}

class WrappingPositions : public ::testing::TestWithParam<const char*> {};

TEST_P(WrappingPositions, FinishWithTheImpossibleEventsRefused) {
    const std::string path = fixture(GetParam());
    std::uint64_t records = 0;
    const std::uint64_t read_bytes = record_bytes(path, &records);
    ASSERT_GT(records, 0u);

    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents) << contents.error().what();
    EXPECT_GT(contents->impossible_positions, 0u);
    EXPECT_GE(contents->malformed_events, contents->impossible_positions);
    expect_sane(*contents, read_bytes);

    // The timeline has a line per segment and a few per message: bounded by the
    // records read, not by the positions the events name.
    std::string text = timeline_of(*contents);
    std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    std::size_t segments = 0;
    for (const auto& c : contents->connections)
        segments += c.streams[0].segments.size() + c.streams[1].segments.size();
    EXPECT_LE(segments, 2 * records + 2 * contents->connections.size());
    EXPECT_LE(text.size(), 64 * read_bytes + 4096);
    EXPECT_GE(lines, contents->connections.size());
    // The same through the command line.
    int status = 0;
    std::string cli = run(std::string(CT_ANALYZE_BIN) + " --timeline " + path, &status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(cli, text);

    Db d = memory_db();
    auto imported = import_capture_file(d.db, path, false);
    ASSERT_TRUE(imported) << imported.error().what();
    EXPECT_EQ(d.count("SELECT count(*) FROM notes WHERE source = 'analyzer' AND message LIKE "
                      "'%past 2^62%'"),
              1);
    EXPECT_GE(d.count("SELECT malformed_events FROM captures"),
              static_cast<std::int64_t>(contents->impossible_positions));
    EXPECT_LE(d.count("SELECT coalesce(max(stream_pos + length), 0) FROM stream_gaps"),
              static_cast<std::int64_t>(replay::kMaxStreamPos));
    // Stored bytes stay within what the file held.
    EXPECT_LE(d.count("SELECT coalesce(sum(size), 0) FROM raw_streams") +
                  d.count("SELECT coalesce(sum(length(body)), 0) FROM http_responses"),
              static_cast<std::int64_t>(read_bytes));
}

INSTANTIATE_TEST_SUITE_P(HostileFixtures, WrappingPositions,
                         ::testing::Values("hang-stream-pos-wrap.ctz",
                                           "hang-stream-pos-wrap-read.ctz",
                                           "hang-memory-growth-stream-pos-wrap.ctz"));

TEST(HostileFixtures, TimesNearTwoToTheSixtyThirdSaturate) {
    replay::CaptureHeader h;
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    h.realtime_minus_monotonic_ns = 1'700'000'000'000'000'000;
    EXPECT_EQ(h.to_realtime(1000), 1'700'000'000'000'001'000);
    EXPECT_EQ(h.to_realtime(static_cast<std::uint64_t>(kMax) - 5), kMax);
    EXPECT_EQ(h.to_realtime(std::numeric_limits<std::uint64_t>::max()), kMax);
    h.realtime_minus_monotonic_ns = -5;
    EXPECT_EQ(h.to_realtime(static_cast<std::uint64_t>(kMax) + 5), kMax);
    EXPECT_EQ(h.to_realtime(static_cast<std::uint64_t>(kMax) + 3), kMax - 2);
    h.realtime_minus_monotonic_ns = kMin;
    EXPECT_EQ(h.to_realtime(0), kMin);
    EXPECT_EQ(h.to_realtime(std::numeric_limits<std::uint64_t>::max()), kMax);

    const std::string path = fixture("ubsan-ts-overflow.ctz");
    auto contents = replay::load_capture(path);
    ASSERT_TRUE(contents) << contents.error().what();
    expect_sane(*contents, record_bytes(path));
    EXPECT_FALSE(timeline_of(*contents).empty());
    Db d = memory_db();
    auto imported = import_capture_file(d.db, path, false);
    ASSERT_TRUE(imported) << imported.error().what();
    EXPECT_EQ(d.count("SELECT count(*) FROM captures"), 1);
}

// A FIFO, a directory, a device or a socket given as capture: a message naming
// what it is, exit status 1, and no wait for a writer.
TEST(HostileFiles, NotARegularFileIsRefusedAtOnce) {
    testing::TempDir dir;
    ASSERT_EQ(::mkfifo(dir.file("fifo.ctz").c_str(), 0600), 0);
    ::mkdir(dir.file("dir.ctz").c_str(), 0700);
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string sock_path = dir.file("sock.ctz");
    ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
    std::copy(sock_path.begin(), sock_path.end(), addr.sun_path);
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

    const std::pair<std::string, std::string> cases[] = {{dir.file("fifo.ctz"), "a FIFO"},
                                                         {dir.file("dir.ctz"), "a directory"},
                                                         {"/dev/zero", "a character device"},
                                                         {sock_path, "a socket"}};
    const std::string bin = CT_ANALYZE_BIN;
    for (const auto& [path, what] : cases) {
        auto contents = replay::load_capture(path);
        ASSERT_FALSE(contents) << path;
        EXPECT_NE(contents.error().message.find(what), std::string::npos)
            << contents.error().message;
        int status = 0;
        std::string err = run(bin + " --timeline " + path + " 2>&1", &status);
        EXPECT_EQ(WEXITSTATUS(status), 1) << err;
        EXPECT_NE(err.find(what + ", not a capture file"), std::string::npos) << err;
        err = run(bin + " --no-progress --db " + dir.file("x.db") + " " + path + " 2>&1", &status);
        EXPECT_EQ(WEXITSTATUS(status), 1) << err;
        EXPECT_NE(err.find(what), std::string::npos) << err;
    }
    ::close(sock);
}

std::string gzip(const std::string& in) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

// Eight connections, each answering with a gzip body of `decoded` zero bytes.
void write_bombs(const std::string& path, std::size_t decoded) {
    const std::string bomb = gzip(std::string(decoded, '\0'));
    testing::SyntheticCapture cap(path);
    cap.process(7, 1, "/bin/client", {"client"});
    for (int i = 0; i < 8; ++i) {
        auto g = cap.open_connection(7, 0x100 + i);
        cap.write(g, "GET /bomb HTTP/1.1\r\nHost: bomb.example\r\nAccept-Encoding: gzip\r\n\r\n");
        cap.read(g,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Encoding: gzip\r\nContent-Length: " +
                     std::to_string(bomb.size()) + "\r\n\r\n" + bomb);
        cap.close(g);
    }
    cap.finish();
}

TEST(HostileLimits, CompressionBombsAreCutPerMessageAndPerCapture) {
    testing::TempDir dir;
    constexpr std::size_t kMiB = 1u << 20;
    write_bombs(dir.file("bombs.ctz"), 8 * kMiB);
    const auto capture_size = std::filesystem::file_size(dir.file("bombs.ctz"));
    EXPECT_LT(capture_size, 200u * 1024);  // tens of KB that decode to 64 MiB

    CaptureLimits limits;
    limits.decode.max_body = 2 * kMiB;
    limits.decode.max_growth = 5 * kMiB;
    Db d = memory_db();
    auto imported = import_capture_file(d.db, dir.file("bombs.ctz"), false, {}, limits);
    ASSERT_TRUE(imported) << imported.error().what();
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses"), 8);
    // No body is bigger than the per-message limit, and all of them together grew
    // by at most the capture's budget.
    EXPECT_LE(d.count("SELECT max(decoded_size) FROM http_responses"),
              static_cast<std::int64_t>(2 * kMiB));
    EXPECT_LE(d.count("SELECT sum(max(decoded_size - encoded_size, 0)) FROM http_responses"),
              static_cast<std::int64_t>(5 * kMiB));
    // The budget was used up (two whole cuts at 2 MiB, then the rest of it).
    EXPECT_GE(d.count("SELECT sum(decoded_size) FROM http_responses"),
              static_cast<std::int64_t>(5 * kMiB));
    // Every cut says which limit made it, and how to change it.
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses WHERE decode_error IS NULL"), 0);
    EXPECT_GE(d.count("SELECT count(*) FROM http_responses WHERE decode_error LIKE "
                      "'%over the size limit of 2097152 bytes per message (--max-body-size)%'"),
              2);
    EXPECT_GE(d.count("SELECT count(*) FROM http_responses WHERE decode_error LIKE "
                      "'%budget for decoded growth (5242880 bytes, --max-decoded-growth)%'"),
              5);
    // The database grew by the budget and the capture, not by what the bombs
    // would decode to.
    EXPECT_LE(d.count("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"),
              static_cast<std::int64_t>(5 * kMiB + 2 * kMiB + 4 * capture_size + 2 * kMiB));
}

TEST(HostileLimits, DefaultLimitsAreTheDocumentedOnes) {
    EXPECT_EQ(DecodeLimits{}.max_body, 64u << 20);
    EXPECT_EQ(DecodeLimits{}.max_growth, 256u << 20);
    EXPECT_EQ(CaptureLimits{}.max_held_bytes, 1u << 30);
    // And the command line takes other values, refusing what is not a size.
    testing::TempDir dir;
    write_bombs(dir.file("bombs.ctz"), 1u << 20);
    const std::string bin = CT_ANALYZE_BIN;
    int status = 0;
    std::string out = run(bin + " --no-progress --db " + dir.file("a.db") +
                              " --max-body-size 256K --max-decoded-growth 1M --max-plaintext 64M " +
                              dir.file("bombs.ctz") +
                              " --csv --sql 'SELECT max(decoded_size) FROM http_responses' 2>&1",
                          &status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << out;
    EXPECT_NE(out.find("\n262144\n"), std::string::npos) << out;
    out = run(bin + " --db " + dir.file("b.db") + " --max-body-size lots " + dir.file("bombs.ctz") +
                  " 2>&1",
              &status);
    EXPECT_EQ(WEXITSTATUS(status), 2) << out;
    EXPECT_NE(out.find("--max-body-size"), std::string::npos) << out;
    // Over what SQLite can store in a row: refused before anything is imported.
    out = run(bin + " --db " + dir.file("b.db") + " --max-body-size 1G " + dir.file("bombs.ctz") +
                  " 2>&1",
              &status);
    EXPECT_EQ(WEXITSTATUS(status), 2) << out;
    EXPECT_NE(out.find("at most 512M"), std::string::npos) << out;
}

// More captured plaintext than the analyzer keeps: memory holds at most the
// limit, the rest is a gap with reason over_limit, positions stay right.
TEST(HostileLimits, PlaintextPastTheMemoryLimitBecomesAGap) {
    testing::TempDir dir;
    const std::string body(600 * 1024, 'x');
    {
        testing::SyntheticCapture cap(dir.file("big.ctz"));
        for (int i = 0; i < 3; ++i) {
            auto g = cap.open_connection(7, 0x100 + i);
            cap.write(g, "GET /big HTTP/1.1\r\nHost: big.example\r\n\r\n");
            cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\n\r\n" + body);
            cap.close(g);
        }
        cap.finish();
    }
    replay::LoadOptions load;
    load.max_held_bytes = 1u << 20;
    auto contents = replay::load_capture(dir.file("big.ctz"), load);
    ASSERT_TRUE(contents);
    std::uint64_t held = 0, over = 0, end = 0;
    for (const auto& c : contents->connections) {
        for (const auto& s : c.streams) {
            held += s.data.size();
            end += s.end_pos;
            for (const auto& seg : s.segments)
                over += seg.is_gap && seg.gap_reason == replay::GapReason::OverLimit ? seg.len : 0;
        }
    }
    EXPECT_EQ(held, 1u << 20);
    EXPECT_EQ(over, contents->over_limit_bytes);
    EXPECT_EQ(held + over, end);  // every byte that flowed is either kept or a gap
    EXPECT_GT(over, 0u);

    CaptureLimits limits;
    limits.max_held_bytes = 1u << 20;
    Db d = memory_db();
    auto imported = import_capture_file(d.db, dir.file("big.ctz"), false, {}, limits);
    ASSERT_TRUE(imported) << imported.error().what();
    EXPECT_EQ(d.count("SELECT sum(length) FROM stream_gaps WHERE reason = 'over_limit'"),
              static_cast<std::int64_t>(over));
    EXPECT_EQ(d.count("SELECT count(*) FROM notes WHERE message LIKE '%--max-plaintext%'"), 1);
    // The first response is whole, the last one lost its body to the limit.
    EXPECT_EQ(d.count("SELECT complete FROM http_responses ORDER BY id LIMIT 1"), 1);
    EXPECT_EQ(d.count("SELECT complete FROM http_responses ORDER BY id DESC LIMIT 1"), 0);
}

// A body past --max-body-size is cut while it is parsed (its start kept, the cut
// recorded), and the messages after it on the connection decode as usual.
TEST(HostileLimits, BigBodiesAreCutWhileParsed) {
    testing::TempDir dir;
    const std::string big(3u << 20, 'b');
    std::string chunked;
    for (std::size_t i = 0; i < big.size(); i += 100000) {
        std::string part = big.substr(i, 100000);
        chunked += fmt::format("{:x}\r\n{}\r\n", part.size(), part);
    }
    chunked += "0\r\n\r\n";
    {
        testing::SyntheticCapture cap(dir.file("big.ctz"));
        auto g = cap.open_connection(7, 0x100);
        cap.write(g,
                  "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
        cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) +
                        "\r\n\r\n" + big);
        cap.read(g, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked);
        cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall");
        cap.close(g);
        cap.finish();
    }
    CaptureLimits limits;
    limits.decode.max_body = 1u << 20;
    Db d = memory_db();
    auto imported = import_capture_file(d.db, dir.file("big.ctz"), false, {}, limits);
    ASSERT_TRUE(imported) << imported.error().what();
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses"), 3);
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses WHERE length(body) = 1048576 AND "
                      "encoded_size = 3145728 AND complete = 1 AND decode_error LIKE "
                      "'%the first 1048576 of its 3145728 captured bytes were kept%'"),
              2);
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses WHERE body = CAST('small' AS BLOB) "
                      "AND decode_error IS NULL AND complete = 1"),
              1);
    EXPECT_EQ(d.count("SELECT sum(gap_bytes) FROM http_responses"), 0);
}

// Many small connections: their bookkeeping has a budget too (a quarter of
// --max-plaintext), so memory does not grow with the number of events.
TEST(HostileLimits, ConnectionsPastTheBookkeepingLimitAreLeftOut) {
    testing::TempDir dir;
    {
        testing::SyntheticCapture cap(dir.file("many.ctz"));
        for (int i = 0; i < 400; ++i) {
            auto g = cap.open_connection(7, 0x100 + i, "client", false);
            cap.write(g, "x");
        }
        cap.finish();
    }
    replay::LoadOptions load;
    load.max_held_bytes = 256 * 1024;  // 64 KiB of bookkeeping
    auto contents = replay::load_capture(dir.file("many.ctz"), load);
    ASSERT_TRUE(contents);
    EXPECT_GT(contents->connections.size(), 10u);
    EXPECT_LT(contents->connections.size(), 400u);
    EXPECT_GT(contents->over_limit_records, 0u);
    load.max_held_bytes = replay::kDefaultMaxHeldBytes;
    contents = replay::load_capture(dir.file("many.ctz"), load);
    ASSERT_TRUE(contents);
    EXPECT_EQ(contents->connections.size(), 400u);
    EXPECT_EQ(contents->over_limit_records, 0u);
}

// DATA events as the reader delivers them, for assembly without a file.
struct EventList {
    std::vector<std::vector<std::uint8_t>> events;
    std::uint64_t seq = 0;
    void data(std::uint64_t pos, std::string_view bytes) {
        ct_data_event ev{};
        ev.hdr.type = CT_EVENT_DATA;
        ev.hdr.size = sizeof ev;
        ev.hdr.seq = seq++;
        ev.hdr.ts_ns = 1'000'000 + seq;
        ev.conn_gen = 1;
        ev.stream_pos = pos;
        ev.call_len = bytes.size();
        ev.data_len = static_cast<std::uint32_t>(bytes.size());
        ev.flags = CT_DATA_LAST_CHUNK;
        ev.direction = CT_DIR_READ;
        std::vector<std::uint8_t> e(reinterpret_cast<const std::uint8_t*>(&ev),
                                    reinterpret_cast<const std::uint8_t*>(&ev) + sizeof ev);
        e.insert(e.end(), bytes.begin(), bytes.end());
        events.push_back(std::move(e));
    }
    replay::CaptureContents assemble() const {
        std::vector<replay::Record> records;
        for (const auto& e : events)
            records.push_back(replay::Record{ctz::RecordType::Event, e, 0, 0});
        replay::CaptureHeader h;
        h.uuid = "00000000-0000-0000-0000-000000000001";
        return replay::build_contents(h, records, {});
    }
};

std::string stream_text(const replay::DirectionStream& s) {
    return std::string(s.data.begin(), s.data.end());
}

// Events out of stream order and overlapping: the stream is in position order,
// the first copy of an overlapped byte kept; events in order are kept as they are.
TEST(HostileAssembly, OutOfOrderAndOverlappingEventsAssembleInStreamOrder) {
    EventList shuffled;
    shuffled.data(5, "fghij");
    shuffled.data(0, "abcde");
    shuffled.data(3, "XYfg");
    shuffled.data(14, "op");
    auto contents = shuffled.assemble();
    ASSERT_EQ(contents.connections.size(), 1u);
    const auto& s = contents.connections[0].streams[CT_DIR_READ];
    EXPECT_EQ(stream_text(s), "abcdefghijop");
    EXPECT_EQ(s.end_pos, 16u);
    EXPECT_EQ(s.gap_bytes, 4u);
    std::string joined;
    for (const auto& seg : s.segments) {
        if (!seg.is_gap)
            joined.append(reinterpret_cast<const char*>(s.bytes(seg).data()), seg.len);
    }
    EXPECT_EQ(joined, "abcdefghijop");

    EventList ordered;
    ordered.data(0, "abc");
    ordered.data(3, "def");
    ordered.data(10, "xyz");
    contents = ordered.assemble();
    const auto& o = contents.connections[0].streams[CT_DIR_READ];
    EXPECT_EQ(stream_text(o), "abcdefxyz");
    ASSERT_EQ(o.segments.size(), 4u);
    EXPECT_TRUE(o.segments[2].is_gap);
    EXPECT_EQ(o.segments[3].data_offset, 6u);
}

}  // namespace
}  // namespace ct::analyze

// ct-analyze decodes an HTTP/2 connection while it is read (Http2Streamer): the
// streams of one long connection are written as they end, not held until its
// last record, and the database is, row for row, the one a whole load of the
// capture gives.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <fmt/format.h>

#include <deque>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "capture/capture_reader.hpp"
#include "http2_frames.hpp"
#include "import_compare.hpp"
#include "llm_fixtures.hpp"
#include "streaming_capture.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::analyze {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kPushPromise = 5,
                       kPing = 6, kGoaway = 7, kWindowUpdate = 8, kContinuation = 9;
constexpr std::uint8_t kEndStream = 1, kAck = 1, kEndHeaders = 4, kPadded = 8;

using testing::gzip_of;
using testing::h2_frame;

std::string setting(std::uint16_t id, std::uint32_t value) {
    std::string s;
    s += static_cast<char>(id >> 8);
    s += static_cast<char>(id);
    for (int shift : {24, 16, 8, 0})
        s += static_cast<char>(value >> shift);
    return s;
}

// nghttp2's HPACK encoder: its dynamic table carries over from block to block.
class Encoder {
  public:
    explicit Encoder(std::size_t max_table = 4096) { nghttp2_hd_deflate_new(&raw_, max_table); }
    ~Encoder() { nghttp2_hd_deflate_del(raw_); }
    Encoder(const Encoder&) = delete;
    Encoder& operator=(const Encoder&) = delete;
    void change_table_size(std::size_t size) { nghttp2_hd_deflate_change_table_size(raw_, size); }
    std::string block(const Headers& headers) {
        std::vector<nghttp2_nv> nva;
        for (const auto& [n, v] : headers) {
            nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                           reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                           v.size(), NGHTTP2_NV_FLAG_NONE});
        }
        std::string out(nghttp2_hd_deflate_bound(raw_, nva.data(), nva.size()), '\0');
        auto n = nghttp2_hd_deflate_hd(raw_, reinterpret_cast<std::uint8_t*>(out.data()),
                                       out.size(), nva.data(), nva.size());
        EXPECT_GE(n, 0);
        out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        return out;
    }

  private:
    nghttp2_hd_deflater* raw_ = nullptr;
};

// One frame to send: a header block is encoded when it is sent (HPACK state
// follows the order on the wire).
struct Step {
    int direction = CT_DIR_WRITE;
    std::uint8_t type = kData;
    std::uint8_t flags = 0;
    std::uint32_t stream = 0;
    std::string payload;  // DATA, RST_STREAM ... ; for HEADERS, what follows the block
    Headers headers;      // HEADERS: encoded when sent
    bool split = false;   // HEADERS sent as HEADERS + CONTINUATION
};

// An HTTP/2 connection in a synthetic capture: frames sent in calls of at
// most `piece` bytes (a frame cut across calls, calls holding many frames).
class H2Connection {
  public:
    H2Connection(testing::SyntheticCapture& cap, std::uint64_t gen, std::size_t piece = 0,
                 std::size_t client_table = 4096)
        : cap_(cap), gen_(gen), piece_(piece), client_(client_table) {}

    Encoder& client() { return client_; }

    void send(const Step& s) {
        std::string bytes;
        if (s.type == kHeaders || s.type == kPushPromise) {
            std::string block = (s.direction == CT_DIR_WRITE ? client_ : server_).block(s.headers);
            std::string prefix = s.type == kPushPromise ? s.payload : "";
            if (s.split && block.size() > 3) {
                bytes = h2_frame(s.type, static_cast<std::uint8_t>(s.flags & ~kEndHeaders),
                                 s.stream, prefix + block.substr(0, 3)) +
                        h2_frame(kContinuation, kEndHeaders, s.stream, block.substr(3));
            } else {
                bytes = h2_frame(s.type, s.flags | kEndHeaders, s.stream, prefix + block);
            }
        } else {
            bytes = h2_frame(s.type, s.flags, s.stream, s.payload);
        }
        raw(s.direction, bytes);
    }
    void raw(int direction, std::string_view bytes) {
        const std::size_t piece = piece_ ? piece_ : bytes.size();
        for (std::size_t off = 0; off < bytes.size(); off += piece) {
            cap_.call(gen_, direction, bytes.substr(off, piece));
            cap_.advance_ns(1000);
        }
        ++frames_sent_;
    }
    void start() {
        raw(CT_DIR_WRITE, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                              h2_frame(kSettings, 0, 0, setting(2, 0) + setting(4, 1 << 20)));
        raw(CT_DIR_READ,
            h2_frame(kSettings, 0, 0, setting(3, 100)) + h2_frame(kSettings, kAck, 0, ""));
        raw(CT_DIR_WRITE,
            h2_frame(kSettings, kAck, 0, "") + h2_frame(kWindowUpdate, 0, 0, "\0\0\x10\0"));
    }
    std::size_t frames_sent() const { return frames_sent_; }

  private:
    testing::SyntheticCapture& cap_;
    std::uint64_t gen_;
    std::size_t piece_;
    Encoder client_;
    Encoder server_;
    std::size_t frames_sent_ = 0;
};

Headers request_headers(std::string method, std::string path, Headers extra = {}) {
    Headers h{{":method", std::move(method)}, {":scheme", "https"},
              {":path", std::move(path)},     {":authority", "api.anthropic.com"},
              {"user-agent", "agent/1.0"},    {"x-api-key", "sk-ant-secret-123"}};
    h.insert(h.end(), extra.begin(), extra.end());
    return h;
}

Step headers(int direction, std::uint32_t stream, Headers h, bool end_stream, bool split = false) {
    Step s;
    s.direction = direction;
    s.type = kHeaders;
    s.flags = end_stream ? kEndStream : 0;
    s.stream = stream;
    s.headers = std::move(h);
    s.split = split;
    return s;
}

Step data(int direction, std::uint32_t stream, std::string payload, bool end_stream,
          bool padded = false) {
    Step s;
    s.direction = direction;
    s.type = kData;
    s.flags = static_cast<std::uint8_t>((end_stream ? kEndStream : 0) | (padded ? kPadded : 0));
    s.stream = stream;
    s.payload = padded ? std::string(1, '\x02') + payload + std::string(2, '\0') : payload;
    return s;
}

Step rst(int direction, std::uint32_t stream) {
    Step s;
    s.direction = direction;
    s.type = kRstStream;
    s.stream = stream;
    s.payload = std::string("\0\0\0\x08", 4);  // CANCEL
    return s;
}

// The frames of one exchange of kind `kind` on `stream`, each stream's in its
// order: LLM calls streamed as SSE, JSON, gzip, 100-continue, trailers,
// headers only, bodies past the limits.
std::deque<Step> exchange(int kind, std::uint32_t stream) {
    std::deque<Step> out;
    const int n = static_cast<int>(stream / 2);
    switch (kind % 7) {
        case 0: {
            const std::string& body = testing::kAnthropicStreamRequestBody;
            out.push_back(headers(CT_DIR_WRITE, stream,
                                  request_headers("POST", "/v1/messages",
                                                  {{"content-type", "application/json"},
                                                   {"anthropic-version", "2023-06-01"}}),
                                  false, stream % 4 == 1));
            out.push_back(data(CT_DIR_WRITE, stream, body.substr(0, 40), false));
            out.push_back(data(CT_DIR_WRITE, stream, body.substr(40), true));
            out.push_back(headers(CT_DIR_READ, stream,
                                  {{":status", "200"}, {"content-type", "text/event-stream"}},
                                  false));
            auto events = testing::anthropic_stream_events();
            for (std::size_t i = 0; i < events.size(); ++i)
                out.push_back(data(CT_DIR_READ, stream, events[i], i + 1 == events.size()));
            break;
        }
        case 1:
            out.push_back(headers(CT_DIR_WRITE, stream,
                                  request_headers("GET", fmt::format("/item/{}", n)), true));
            out.push_back(headers(CT_DIR_READ, stream,
                                  {{":status", "200"}, {"content-type", "application/json"}},
                                  false));
            out.push_back(data(CT_DIR_READ, stream,
                               fmt::format("{{\"item\":{},\"pad\":\"{}\"}}", n,
                                           std::string(static_cast<std::size_t>(10 + n), 'b')),
                               true, true));
            break;
        case 2: {
            const std::string gz = gzip_of(std::string(5000, 'z') + "end");
            out.push_back(headers(CT_DIR_WRITE, stream, request_headers("GET", "/gz"), true));
            out.push_back(headers(
                CT_DIR_READ, stream,
                {{":status", "200"}, {"content-type", "text/plain"}, {"content-encoding", "gzip"}},
                false));
            for (std::size_t off = 0; off < gz.size(); off += 7)
                out.push_back(data(CT_DIR_READ, stream, gz.substr(off, 7), off + 7 >= gz.size()));
            break;
        }
        case 3:
            out.push_back(headers(CT_DIR_WRITE, stream,
                                  request_headers("POST", "/upload", {{"expect", "100-continue"}}),
                                  false));
            out.push_back(headers(CT_DIR_READ, stream, {{":status", "100"}}, false));
            out.push_back(data(CT_DIR_WRITE, stream, "payload", true));
            out.push_back(headers(CT_DIR_READ, stream, {{":status", "201"}}, true));
            break;
        case 4:
            out.push_back(headers(CT_DIR_WRITE, stream,
                                  request_headers("POST", "/grpc.Service/Call",
                                                  {{"content-type", "application/grpc"}}),
                                  false));
            out.push_back(data(CT_DIR_WRITE, stream, std::string("\0\0\0\0\x02hi", 7), true));
            out.push_back(headers(CT_DIR_READ, stream,
                                  {{":status", "200"}, {"content-type", "application/grpc"}},
                                  false));
            out.push_back(data(CT_DIR_READ, stream, std::string("\0\0\0\0\x02ok", 7), false));
            out.push_back(headers(CT_DIR_READ, stream, {{"grpc-status", "0"}}, true));
            break;
        case 5:
            out.push_back(headers(CT_DIR_WRITE, stream, request_headers("HEAD", "/h"), true));
            out.push_back(headers(CT_DIR_READ, stream, {{":status", "204"}}, true));
            break;
        case 6: {
            // A body past the body limit of limits 1, in frames of 1000.
            std::string body;
            while (body.size() < 6000)
                body += "data: {\"n\":1}\n\n";
            out.push_back(headers(CT_DIR_WRITE, stream, request_headers("GET", "/big"), true));
            out.push_back(headers(CT_DIR_READ, stream,
                                  {{":status", "200"}, {"content-type", "text/event-stream"}},
                                  false));
            for (std::size_t off = 0; off < body.size(); off += 1000)
                out.push_back(
                    data(CT_DIR_READ, stream, body.substr(off, 1000), off + 1000 >= body.size()));
            break;
        }
    }
    return out;
}

// Sends the exchanges of `streams`, interleaved: each step is the next frame of
// a stream picked at random among those with frames left (each stream's own
// frames in their order); with one stream, one exchange after the other.
void interleave(H2Connection& h2, std::vector<std::deque<Step>> streams, std::mt19937& rng,
                std::size_t max_steps = SIZE_MAX) {
    std::size_t steps = 0;
    while (steps < max_steps) {
        std::vector<std::size_t> left;
        for (std::size_t i = 0; i < streams.size(); ++i) {
            if (!streams[i].empty())
                left.push_back(i);
        }
        if (left.empty())
            break;
        auto& q = streams[left[rng() % left.size()]];
        h2.send(q.front());
        q.pop_front();
        ++steps;
    }
}

// `count` exchanges, `group` of them at a time interleaved, from stream `first` on.
std::uint32_t exchanges(H2Connection& h2, std::uint32_t first, int count, int group,
                        std::mt19937& rng) {
    std::uint32_t stream = first;
    for (int i = 0; i < count; i += group) {
        std::vector<std::deque<Step>> streams;
        for (int k = 0; k < group && i + k < count; ++k) {
            streams.push_back(exchange(static_cast<int>(stream / 2), stream));
            stream += 2;
        }
        interleave(h2, std::move(streams), rng);
    }
    return stream;
}

// Long HTTP/2 connections, of many streams and then something irregular, with a
// short HTTP/1.1 connection after each.
void write_h2(const std::string& path, int variant) {
    testing::SyntheticCapture cap(path);
    cap.process(7, 1, "/usr/bin/node", {"node", "agent.js"});
    auto g = cap.open_connection(7, 0x10);
    cap.socket(g, 5, "10.0.0.1", 443, 40001);
    std::mt19937 rng(static_cast<unsigned>(variant));
    const bool table_update = variant == 8 || variant == 9;
    H2Connection h2(cap, g, variant % 3 == 1 ? 7 : 0, table_update ? 65536 : 4096);
    bool close = true;
    if (table_update) {
        // The client's encoder uses a table of 64 KiB before the server's SETTINGS
        // saying so was read (8), or the server never says so (9).
        h2.raw(CT_DIR_WRITE,
               std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + h2_frame(kSettings, 0, 0, ""));
        h2.client().change_table_size(65536);
        std::uint32_t next = exchanges(h2, 1, 1, 1, rng);
        h2.send(headers(CT_DIR_WRITE, next, request_headers("GET", "/early"), true));
        h2.raw(CT_DIR_READ, h2_frame(kSettings, 0, 0,
                                     setting(1, variant == 8 ? 65536 : 2048) + setting(3, 100)));
        h2.send(headers(CT_DIR_READ, next, {{":status", "200"}}, true));
        exchanges(h2, next + 2, 8, 2, rng);
    } else {
        h2.start();
    }
    std::uint32_t next = table_update ? 99 : exchanges(h2, 1, 14, variant == 1 ? 3 : 1, rng);
    switch (variant) {
        case 0:  // nothing irregular
        case 1:  // interleaved, frames cut across calls
        case 8:
        case 9:
            break;
        case 2: {  // streams reset: by the client mid-response, by the server unanswered
            const std::uint32_t cancelled = next;
            h2.send(headers(CT_DIR_WRITE, cancelled, request_headers("GET", "/cancel"), true));
            h2.send(headers(CT_DIR_READ, cancelled, {{":status", "200"}}, false));
            h2.send(data(CT_DIR_READ, cancelled, "partial", false));
            h2.send(rst(CT_DIR_WRITE, cancelled));
            h2.send(headers(CT_DIR_WRITE, cancelled + 2, request_headers("GET", "/refused"), true));
            h2.send(rst(CT_DIR_READ, cancelled + 2));
            next = exchanges(h2, cancelled + 4, 6, 2, rng);
            // A frame of the cancelled stream still in flight, then its end.
            h2.send(data(CT_DIR_READ, cancelled, "late", false));
            h2.send(rst(CT_DIR_READ, cancelled));
            next = exchanges(h2, next, 3, 1, rng);
            break;
        }
        case 3:  // GOAWAY, a stream past it left unanswered
            h2.raw(CT_DIR_READ, h2_frame(kGoaway, 0, 0, std::string("\0\0\0\x1b\0\0\0\0", 8)));
            h2.send(headers(CT_DIR_WRITE, next, request_headers("GET", "/after-goaway"), true));
            h2.raw(CT_DIR_WRITE, h2_frame(kGoaway, 0, 0, std::string("\0\0\0\0\0\0\0\0", 8)));
            break;
        case 4:  // a lost stretch in the server's bytes mid-response, then more streams
            h2.send(headers(CT_DIR_WRITE, next, request_headers("GET", "/gap"), true));
            h2.send(headers(CT_DIR_READ, next, {{":status", "200"}}, false));
            cap.lose(g, CT_DIR_READ, 500, CT_LOSS_RING_FULL);
            exchanges(h2, next + 2, 5, 1, rng);
            break;
        case 5:  // a lost stretch in the client's bytes, then more streams
            cap.lose(g, CT_DIR_WRITE, 300, CT_LOSS_RING_FULL);
            exchanges(h2, next, 5, 2, rng);
            break;
        case 6:  // the capture ends with streams open, a request body cut
            h2.send(headers(CT_DIR_WRITE, next, request_headers("POST", "/open"), false));
            h2.send(data(CT_DIR_WRITE, next, "half", false));
            h2.send(headers(CT_DIR_WRITE, next + 2, request_headers("GET", "/waiting"), true));
            h2.send(headers(CT_DIR_READ, next + 2, {{":status", "200"}}, false));
            h2.send(data(CT_DIR_READ, next + 2, std::string(3000, 'w'), false));
            close = false;
            break;
        case 7: {  // hostile: a reused stream, answers to nothing, pushes, pings
            h2.send(headers(CT_DIR_WRITE, 1, request_headers("GET", "/reused"), true));
            h2.send(headers(CT_DIR_READ, 3, {{":status", "500"}}, true));
            h2.send(headers(CT_DIR_READ, next + 100, {{":status", "200"}}, true));
            h2.send(headers(CT_DIR_READ, next + 200, {{":status", "103"}}, false));
            Step push;
            push.direction = CT_DIR_READ;
            push.type = kPushPromise;
            push.stream = next - 2;
            push.payload = std::string("\0\0\0\x02", 4);
            push.headers = request_headers("GET", "/pushed");
            h2.send(push);
            h2.raw(CT_DIR_WRITE, h2_frame(kPing, 0, 0, std::string(8, 'p')));
            h2.send(data(CT_DIR_READ, next + 300, "nobody", true));
            next = exchanges(h2, next, 4, 2, rng);
            break;
        }
        case 10:  // bytes lost without a LOSS event (a sequence gap), then more
            cap.vanish(g, CT_DIR_READ, 300);
            exchanges(h2, next, 3, 1, rng);
            break;
        case 11:  // a frame header announcing 16 MiB: the server's bytes after it are inside
            h2.raw(CT_DIR_READ, std::string("\xff\xff\xff\x00\x00\x00\x00\x00\x01", 9));
            exchanges(h2, next, 3, 1, rng);
            break;
    }
    auto s = cap.open_connection(7, 0x20);
    cap.write(s, "GET /short HTTP/1.1\r\nHost: s.example\r\n\r\n");
    cap.read(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nshort");
    cap.close(s);
    if (close)
        cap.close(g);
    cap.exit(7, 0);
    cap.finish();
}

constexpr int kVariants = 12;

TEST(Http2Streaming, LongConnectionsGiveTheRowsOfAWholeLoad) {
    testing::TempDir dir;
    for (int variant = 0; variant < kVariants; ++variant) {
        const std::string path = dir.file(fmt::format("h2-{}.ctz", variant));
        write_h2(path, variant);
        int i = 0;
        for (const auto& limits : limit_sets()) {
            SCOPED_TRACE(fmt::format("variant {}, limits {}", variant, i));
            Compared c = compare_imports(path, limits);
            if (i != 2 && variant != 9) {
                EXPECT_GT(c.rows, 60u);
                // The exchanges before the irregular part went one by one (with
                // limits 2 the reading itself cuts the connection early; in 9 the
                // client's first header block needs a table its peer never allowed).
                EXPECT_GE(c.streamed, 8u);
            }
            ++i;
        }
    }
}

// The interleaved connection cut after every frame (the capture ends there, the
// connection open): each cut gives the rows of a whole load.
TEST(Http2Streaming, EveryCutGivesTheRowsOfAWholeLoad) {
    testing::TempDir dir;
    std::size_t frames = 0;
    {
        testing::SyntheticCapture cap(dir.file("count.ctz"));
        H2Connection h2(cap, cap.open_connection(7, 0x10));
        h2.start();
        std::mt19937 rng(1);
        exchanges(h2, 1, 7, 3, rng);
        frames = h2.frames_sent();
        cap.finish();
    }
    ASSERT_GT(frames, 40u);
    const auto limits = limit_sets();
    for (std::size_t cut = 1; cut <= frames; ++cut) {
        const std::string path = dir.file(fmt::format("cut{}.ctz", cut));
        {
            testing::SyntheticCapture cap(path);
            H2Connection h2(cap, cap.open_connection(7, 0x10), cut % 2 ? 0 : 5);
            std::mt19937 rng(1);
            h2.start();
            std::vector<std::deque<Step>> all;
            std::uint32_t stream = 1;
            for (int k = 0; k < 7; k += 3) {
                std::vector<std::deque<Step>> group;
                for (int j = 0; j < 3 && k + j < 7; ++j, stream += 2)
                    group.push_back(exchange(static_cast<int>(stream / 2), stream));
                const std::size_t before = h2.frames_sent();
                if (before >= cut)
                    break;
                interleave(h2, std::move(group), rng, cut - before);
            }
            cap.finish();
        }
        SCOPED_TRACE(fmt::format("cut after frame {}", cut));
        compare_imports(path, limits[cut % 4 == 3 ? 1 : 0]);
    }
}

// Records in random orders: the streamed import still gives the rows of a whole
// load of the same records.
TEST(Http2Streaming, RecordsInAnyOrderGiveTheRowsOfAWholeLoad) {
    testing::TempDir dir;
    write_h2(dir.file("h2.ctz"), 1);
    const CaptureRecords records = read_records(dir.file("h2.ctz"));
    std::mt19937 rng(3);
    for (int round = 0; round < 12; ++round) {
        std::vector<std::size_t> order(records.bodies.size());
        for (std::size_t i = 0; i < order.size(); ++i)
            order[i] = i;
        for (int k = 0; k < round * 2; ++k)
            std::swap(order[rng() % order.size()], order[rng() % order.size()]);
        SCOPED_TRACE(fmt::format("round {}", round));
        compare_imports_in_order(records, order);
    }
}

// One HTTP/2 connection with 10 times more streams holds no more of its
// plaintext at once: about one stream's frames.
TEST(Http2Streaming, ALongConnectionIsNotHeldWhole) {
    testing::TempDir dir;
    std::uint64_t held[2] = {};
    std::uint64_t plaintext[2] = {};
    int i = 0;
    for (int streams : {60, 600}) {
        const std::string path = dir.file(fmt::format("h2-{}.ctz", streams));
        {
            testing::SyntheticCapture cap(path);
            auto g = cap.open_connection(7, 0x10);
            H2Connection h2(cap, g);
            h2.start();
            std::mt19937 rng(5);
            exchanges(h2, 1, streams, 3, rng);
            cap.close(g);
            cap.finish();
        }
        auto db = open_session_database(":memory:");
        ASSERT_TRUE(db);
        auto r = import_capture_file(*db, path, false);
        ASSERT_TRUE(r) << r.error().what();
        // All but the last few, whose ends came with the last records.
        EXPECT_GE(r->exchanges_streamed, static_cast<std::uint64_t>(streams - 3));
        held[i] = r->held_plaintext_high_water + r->streamed_high_water;
        auto st = db->prepare("SELECT bytes_sent + bytes_received, protocol FROM connections");
        ASSERT_TRUE(st && st->step());
        plaintext[i] = static_cast<std::uint64_t>(st->column_int64(0));
        EXPECT_EQ(st->column_text(1), "http2");
        ++i;
    }
    EXPECT_GT(plaintext[1], 9 * plaintext[0]);
    EXPECT_LT(held[0], plaintext[0] / 4);
    EXPECT_LT(held[1], plaintext[1] / 40);
    EXPECT_LT(held[1], 3 * held[0] / 2);
}

struct Held {
    std::uint64_t held = 0;       // high water of the bytes held while importing
    std::uint64_t plaintext = 0;  // the connection's bytes
    std::uint64_t streamed = 0;   // exchanges written before the connection's end
    std::uint64_t requests = 0;
    std::uint64_t incomplete = 0;  // messages with complete = 0, requests without response
};

Held import_held(const std::string& path) {
    Held out;
    auto db = open_session_database(":memory:");
    EXPECT_TRUE(db);
    if (!db)
        return out;
    auto r = import_capture_file(*db, path, false);
    EXPECT_TRUE(r) << r.error().what();
    if (!r)
        return out;
    out.held = r->held_plaintext_high_water + r->streamed_high_water;
    out.streamed = r->exchanges_streamed;
    auto st = db->prepare(
        "SELECT (SELECT bytes_sent + bytes_received FROM connections WHERE protocol = 'http2'),"
        " (SELECT count(*) FROM http_requests),"
        " (SELECT count(*) FROM http_requests WHERE complete = 0) +"
        " (SELECT count(*) FROM http_responses WHERE complete = 0) +"
        " (SELECT count(*) FROM http_requests q"
        "  WHERE NOT EXISTS (SELECT 1 FROM http_responses WHERE request_id = q.id))");
    EXPECT_TRUE(st && st->step());
    out.plaintext = static_cast<std::uint64_t>(st->column_int64(0));
    out.requests = static_cast<std::uint64_t>(st->column_int64(1));
    out.incomplete = static_cast<std::uint64_t>(st->column_int64(2));
    return out;
}

// A stream that never ends early in a connection (the client reset it and the
// server says nothing more, the server never answers it, or the client never
// ends its request) holds none of the exchanges that complete after it: they
// are written as they complete, and what is held does not grow with the
// connection. Both import paths give the same rows.
TEST(Http2Streaming, AStreamLeftOpenHoldsNoExchangeBehindIt) {
    testing::TempDir dir;
    for (int kind = 0; kind < 3; ++kind) {
        Held held[2];
        int i = 0;
        for (int streams : {60, 600}) {
            SCOPED_TRACE(fmt::format("kind {}, {} streams", kind, streams));
            const std::string path = dir.file(fmt::format("open-{}-{}.ctz", kind, streams));
            {
                testing::SyntheticCapture cap(path);
                auto g = cap.open_connection(7, 0x10);
                H2Connection h2(cap, g);
                h2.start();
                h2.send(headers(CT_DIR_WRITE, 1, request_headers("POST", "/stuck"), false));
                h2.send(data(CT_DIR_WRITE, 1, std::string(2000, 's'), kind != 2));
                if (kind == 0) {
                    h2.send(headers(CT_DIR_READ, 1, {{":status", "200"}}, false));
                    h2.send(data(CT_DIR_READ, 1, "partial", false));
                    h2.send(rst(CT_DIR_WRITE, 1));
                }
                std::mt19937 rng(9);
                exchanges(h2, 3, streams, 3, rng);
                cap.close(g);
                cap.finish();
            }
            held[i] = import_held(path);
            EXPECT_EQ(held[i].requests, static_cast<std::uint64_t>(streams + 1));
            EXPECT_GE(held[i].incomplete, 1u);  // the stream left open
            EXPECT_LE(held[i].incomplete, 2u);
            // All but the last few: before, none went before the connection's end.
            EXPECT_GE(held[i].streamed, static_cast<std::uint64_t>(streams - 3));
            for (const auto& limits : {limit_sets()[0], limit_sets()[1]})
                compare_imports(path, limits);
            ++i;
        }
        EXPECT_GT(held[1].plaintext, 9 * held[0].plaintext);
        EXPECT_LT(held[1].held, held[1].plaintext / 40);
        EXPECT_LT(held[1].held, 3 * held[0].held / 2);
    }
}

// A hostile client opens thousands of streams and ends none (the server says
// nothing): the oldest open exchange is cut past the bounds (written
// incomplete), so what is held stays the same with four times the streams;
// both import paths give the same rows.
TEST(Http2Streaming, ThousandsOfOpenStreamsStayBounded) {
    testing::TempDir dir;
    Held held[2];
    int i = 0;
    for (int streams : {1000, 4000}) {
        SCOPED_TRACE(fmt::format("{} streams", streams));
        const std::string path = dir.file(fmt::format("many-{}.ctz", streams));
        {
            testing::SyntheticCapture cap(path);
            auto g = cap.open_connection(7, 0x10);
            H2Connection h2(cap, g);
            h2.start();
            for (int k = 0; k < streams; ++k) {
                const auto stream = static_cast<std::uint32_t>(1 + 2 * k);
                h2.send(headers(CT_DIR_WRITE, stream,
                                request_headers("POST", fmt::format("/open/{}", k)), false));
                h2.send(data(CT_DIR_WRITE, stream, std::string(300, 'o'), false));
            }
            cap.close(g);
            cap.finish();
        }
        held[i] = import_held(path);
        EXPECT_EQ(held[i].requests, static_cast<std::uint64_t>(streams));
        EXPECT_EQ(held[i].incomplete, static_cast<std::uint64_t>(2 * streams));
        // Those cut went as they were cut.
        EXPECT_GE(held[i].streamed, static_cast<std::uint64_t>(streams - 300));
        compare_imports(path, limit_sets()[0]);
        ++i;
    }
    EXPECT_GT(held[1].plaintext, 3 * held[0].plaintext);
    EXPECT_LT(held[1].held, held[1].plaintext / 2);
    EXPECT_LT(held[1].held, 5 * held[0].held / 4);
}

}  // namespace
}  // namespace ct::analyze

// ChunkCounter follows a chunked body as parse_chunks reads it, in pieces, and
// the bytes it gives back for a skipped stretch parse as the real ones did.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "protocols/http1/chunk_counter.hpp"
#include "protocols/http1/parse.hpp"

namespace ct::analyze::http1 {
namespace {

struct Parsed {
    ParseState state = ParseState::NeedsMoreData;
    std::size_t pos = 0;
    std::uint64_t data = 0;
    std::optional<std::uint64_t> data_end;
    std::vector<std::pair<std::string, std::string>> trailers;
    bool operator==(const Parsed&) const = default;
};

std::vector<std::pair<std::string, std::string>> pairs(const std::vector<Header>& headers) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& h : headers)
        out.emplace_back(h.name, h.value);
    return out;
}

Parsed parse(std::string_view body) {
    Parsed p;
    Message m;
    p.state = parse_chunks(body, p.pos, 0, m, &p.data_end);
    p.data = m.body.size();
    p.trailers = pairs(m.trailers);
    return p;
}

std::uint64_t next(std::uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

// Chunked bodies of every shape: CRLF or LF, extensions, leading zeros, long
// lines, trailers, and sometimes a damaged byte.
std::string random_body(std::uint64_t& s) {
    std::string b;
    const int chunks = static_cast<int>(next(s) % 6);
    for (int c = 0; c < chunks; ++c) {
        const std::uint64_t size = 1 + next(s) % (next(s) % 3 == 0 ? 5000 : 40);
        std::string line = fmt::format("{:x}", size);
        if (next(s) % 4 == 0)
            line = "000" + line;
        if (next(s) % 4 == 0)
            line += ";ext=" + std::string(next(s) % 4 == 0 ? 4200 : 3, 'e');
        b += line + (next(s) % 2 ? "\r\n" : "\n");
        for (std::uint64_t i = 0; i < size; ++i)
            b += static_cast<char>('a' + next(s) % 26);
        b += next(s) % 2 ? "\r\n" : "\n";
    }
    b += next(s) % 2 ? "0\r\n" : "0;last\n";
    switch (next(s) % 3) {
        case 0:
            b += "\r\n";
            break;
        case 1:
            b += "\n";
            break;
        case 2:
            b += "X-Sum: 12\r\nX-Other: y\r\n\r\n";
            break;
    }
    if (next(s) % 5 == 0)
        b[next(s) % b.size()] = static_cast<char>(next(s) % 4 == 0 ? '\n' : 'Z');
    if (next(s) % 3 == 0)
        b += "HTTP/1.1 200 OK\r\n";  // the next message
    return b;
}

TEST(ChunkCounter, GivesTheVerdictsOfParseChunksInAnyPieces) {
    std::uint64_t s = 0x2545f4914f6cdd1dull;
    int done = 0, invalid = 0, synthesized = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string body = random_body(s);
        if (next(s) % 2)
            body.resize(next(s) % body.size());  // the capture ends inside it
        ChunkCounter counter;
        const std::uint64_t limit = next(s) % 200;
        std::size_t at = 0;
        bool marked = false;
        std::uint64_t mark_at = 0;
        while (at < body.size() && counter.state() != ChunkCounter::State::Done &&
               counter.state() != ChunkCounter::State::Invalid) {
            const std::size_t piece = 1 + next(s) % (next(s) % 2 ? 7 : 3000);
            std::string_view bytes = std::string_view(body).substr(at, piece);
            if (!marked) {
                const std::size_t n = counter.feed(bytes, limit);
                at += n;
                if (counter.data_bytes() >= limit) {
                    counter.mark();
                    marked = true;
                    mark_at = counter.consumed();
                }
                continue;
            }
            at += counter.feed(bytes);
        }
        ASSERT_EQ(counter.consumed(), at);
        SCOPED_TRACE(fmt::format("round {} body {:?}", round, body.substr(0, 300)));
        // What parse_chunks says over the same bytes.
        const Parsed whole = parse(std::string_view(body).substr(0, at));
        switch (counter.state()) {
            case ChunkCounter::State::Done:
                ++done;
                ASSERT_EQ(whole.state, ParseState::Success);
                EXPECT_EQ(whole.pos, at);
                EXPECT_EQ(whole.data, counter.data_bytes());
                EXPECT_EQ(whole.trailers, pairs(counter.trailers()));
                break;
            case ChunkCounter::State::Invalid:
                ++invalid;
                EXPECT_EQ(whole.state, ParseState::Invalid);
                break;
            default:
                EXPECT_EQ(whole.state, ParseState::NeedsMoreData);
                EXPECT_EQ(whole.data, counter.data_bytes());
                break;
        }
        if (!marked || counter.state() == ChunkCounter::State::Done)
            continue;
        // The stretch since the mark given back: parse_chunks reads it, and what
        // follows, as it read the real bytes.
        std::vector<std::uint8_t> fill;
        ASSERT_TRUE(counter.synthesize_since_mark(fill));
        ASSERT_EQ(fill.size(), at - mark_at);
        std::string replaced = body.substr(0, mark_at);
        replaced.append(fill.begin(), fill.end());
        replaced += body.substr(at);
        const Parsed real = parse(body);
        const Parsed given = parse(replaced);
        EXPECT_EQ(given.state, real.state);
        EXPECT_EQ(given.pos, real.pos);
        EXPECT_EQ(given.data, real.data);
        EXPECT_EQ(given.data_end, real.data_end);
        EXPECT_EQ(given.trailers, real.trailers);
        const Parsed given_cut = parse(std::string_view(replaced).substr(0, at));
        const Parsed real_cut = parse(std::string_view(body).substr(0, at));
        EXPECT_EQ(given_cut.state, real_cut.state);
        EXPECT_EQ(given_cut.data, real_cut.data);
        EXPECT_EQ(given_cut.data_end, real_cut.data_end);
        ++synthesized;
    }
    // The rounds reached every ending.
    EXPECT_GT(done, 400);
    EXPECT_GT(invalid, 100);
    EXPECT_GT(synthesized, 700);
}

// Many small chunks past the mark become fewer, longer ones of the same size.
TEST(ChunkCounter, GivesBackAStretchOfTinyChunks) {
    std::string body = "4\r\nabcd\r\n";
    for (int i = 0; i < 20000; ++i)
        body += "1;some-extension\r\nx\r\n";
    ChunkCounter counter;
    ASSERT_EQ(counter.feed(body, 2), 5u);
    counter.mark();
    ASSERT_EQ(counter.feed(std::string_view(body).substr(5)), body.size() - 5);
    std::vector<std::uint8_t> fill;
    ASSERT_TRUE(counter.synthesize_since_mark(fill));
    std::string replaced = body.substr(0, 5);
    replaced.append(fill.begin(), fill.end());
    replaced += "0\r\n\r\n";
    body += "0\r\n\r\n";
    EXPECT_EQ(parse(replaced), parse(body));
    EXPECT_EQ(parse(body).state, ParseState::Success);
}

}  // namespace
}  // namespace ct::analyze::http1

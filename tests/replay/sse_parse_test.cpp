// SSE by the WHATWG rules, whatever the cut, and resuming after gaps.
#include <gtest/gtest.h>

#include <random>

#include "protocols/sse/parse.hpp"

namespace ct::analyze::sse {
namespace {

const std::string kGolden =
    "\xEF\xBB\xBF"
    ": a comment\n"
    "event: message_start\n"
    "data: {\"a\":1}\n\n"
    "data: line one\r\n"
    "data: line two\r\n"
    "id: 7\r\n\r\n"
    "retry: 1500\rdata:no-space\r\r"
    "event: empty-data-only\n\n"  // no data: not dispatched
    "data\n\n"                    // field without colon: empty data, dispatched
    "id: 8\nevent: ping\ndata: {}\n\n"
    "data: tail without end";  // never completed: dropped

struct Seen {
    std::string type, data, id;
    std::optional<std::uint64_t> retry;
    std::uint64_t end;
    bool operator==(const Seen&) const = default;
};

std::vector<Seen> parse_in_pieces(const std::string& input, const std::vector<std::size_t>& cuts) {
    std::vector<Seen> out;
    StreamState state;
    std::string buffer;
    std::uint64_t base = 0;
    std::size_t prev = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(input.size());
    for (std::size_t end : ends) {
        buffer += input.substr(prev, end - prev);
        prev = end;
        while (!buffer.empty()) {
            Event e;
            bool dispatched = false;
            ParseResult r = parse_frame(buffer, end == input.size(), state, e, dispatched);
            if (r.state != ParseState::Success)
                break;
            if (dispatched)
                out.push_back({e.type, e.data, e.last_event_id, e.retry_ms, base + e.end_offset});
            buffer.erase(0, r.consumed);
            base += r.consumed;
        }
    }
    return out;
}

TEST(SseParse, Golden) {
    auto events = parse_in_pieces(kGolden, {});
    ASSERT_EQ(events.size(), 5u);
    EXPECT_EQ(events[0].type, "message_start");
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].type, "message");
    EXPECT_EQ(events[1].data, "line one\nline two");
    EXPECT_EQ(events[1].id, "7");
    EXPECT_EQ(events[2].data, "no-space");
    EXPECT_EQ(events[2].retry, 1500u);
    EXPECT_EQ(events[2].id, "7");  // the last event ID persists
    EXPECT_EQ(events[3].data, "");
    EXPECT_EQ(events[4].type, "ping");
    EXPECT_EQ(events[4].id, "8");
    // end offsets point just past the blank line that fired the event
    EXPECT_EQ(kGolden.substr(events[0].end - 2, 2), "\n\n");
}

TEST(SseParse, EveryCutGivesTheSameEvents) {
    auto whole = parse_in_pieces(kGolden, {});
    for (std::size_t cut = 1; cut < kGolden.size(); ++cut) {
        ASSERT_EQ(parse_in_pieces(kGolden, {cut}), whole) << "cut at " << cut;
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < kGolden.size(); ++i)
        every.push_back(i);
    ASSERT_EQ(parse_in_pieces(kGolden, every), whole);
}

TEST(SseParse, CrLfSplitAcrossPiecesIsOneLineEnd) {
    // "data: x\r" | "\ndata: y\r\n\r\n" must be one event with two lines.
    const std::string s = "data: x\r\ndata: y\r\n\r\n";
    auto events = parse_in_pieces(s, {8});
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "x\ny");
}

TEST(SseParse, DecodeBodyMatchesIncremental) {
    DecodedEvents d = decode_body(kGolden);
    auto whole = parse_in_pieces(kGolden, {});
    ASSERT_EQ(d.events.size(), whole.size());
    for (std::size_t i = 0; i < whole.size(); ++i) {
        EXPECT_EQ(d.events[i].data, whole[i].data);
        EXPECT_EQ(d.events[i].end_offset, whole[i].end);
    }
    EXPECT_EQ(d.dropped, 1u);
}

TEST(SseParse, GapDropsOnlyTheEventItTouches) {
    std::string body;
    for (int i = 0; i < 10; ++i)
        body += "event: e\ndata: " + std::to_string(i) + "\n\n";
    // The body has a hole where event 4's bytes were (a gap in the middle of it).
    const std::size_t start4 = body.find("data: 4");
    std::string holed = body.substr(0, start4) + body.substr(start4 + 3);
    DecodedEvents d = decode_body(holed, {start4});
    std::vector<std::string> data;
    for (const auto& e : d.events)
        data.emplace_back(e.data);
    EXPECT_EQ(data, (std::vector<std::string>{"0", "1", "2", "3", "5", "6", "7", "8", "9"}));
    EXPECT_GE(d.dropped, 1u);
}

TEST(SseParse, RandomBytesNeverCrash) {
    std::mt19937 rng(99);
    const std::string alphabet = "data: event:id:retry:\r\n\n\r:0123456789 {}";
    for (int round = 0; round < 3000; ++round) {
        std::string s;
        std::size_t n = rng() % 300;
        for (std::size_t i = 0; i < n; ++i) {
            s += (rng() % 4 == 0) ? static_cast<char>(rng() & 0xff)
                                  : alphabet[rng() % alphabet.size()];
        }
        std::vector<std::uint64_t> gaps;
        if (n > 2)
            gaps.push_back(rng() % n);
        DecodedEvents d = decode_body(s, gaps);
        for (const auto& e : d.events) {
            EXPECT_LE(e.end_offset, s.size());
            EXPECT_LE(e.data.size(), s.size());
        }
    }
}

// A long stream's events keep each data once and their type and last event id
// only when they change; the views stay valid when the decoded events are moved
// or copied, and the arena fits in the body.
TEST(SseParse, DecodedEventsHoldTheirTextOnce) {
    std::string body;
    std::size_t data_bytes = 0;
    for (int i = 0; i < 20000; ++i) {
        const std::string data = "{\"n\":" + std::to_string(i) + "}";
        data_bytes += data.size();
        body += (i % 1000 == 0 ? "id: batch-" + std::to_string(i / 1000) + "\n" : "") +
                (i % 2 ? "event: content_block_delta\n" : "") + "data: " + data + "\n\n";
    }
    DecodedEvents decoded = decode_body(body);
    ASSERT_EQ(decoded.events.size(), 20000u);
    // The data, one "content_block_delta" per run of odd events (every other
    // event is a "message": no run), and 20 ids.
    std::size_t ids = 0;
    for (int b = 0; b < 20; ++b)
        ids += ("batch-" + std::to_string(b)).size();
    EXPECT_EQ(decoded.text->size(),
              data_bytes + 10000 * std::string_view("content_block_delta").size() + ids);
    EXPECT_LE(decoded.text->size(), body.size());
    const DecodedEvents copy = decoded;
    const DecodedEvents moved = std::move(decoded);
    for (const DecodedEvents* d : {&copy, &moved}) {
        EXPECT_EQ(d->events[7].type, "content_block_delta");
        EXPECT_EQ(d->events[8].type, "message");
        EXPECT_EQ(d->events[1234].data, "{\"n\":1234}");
        EXPECT_EQ(d->events[1234].last_event_id, "batch-1");
        EXPECT_TRUE(d->events[1000].has_id);
        EXPECT_FALSE(d->events[1001].has_id);
    }

    // Same type in a row: stored once.
    std::string same;
    for (int i = 0; i < 1000; ++i)
        same += "event: ping\ndata: x\n\n";
    EXPECT_EQ(decode_body(same).text->size(), 4u + 1000u);
}

}  // namespace
}  // namespace ct::analyze::sse

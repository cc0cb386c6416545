// Matching, normalisation and diffs of request bodies, on hand-made requests.
#include <gtest/gtest.h>

#include "server/matching.hpp"
#include "server/session.hpp"

namespace ct::replay::serve {
namespace {

using nlohmann::json;

std::string turn(const std::string& tool_text, const std::string& user_id = "user-1") {
    json body = {
        {"model", "claude-x"},
        {"stream", true},
        {"metadata", {{"user_id", user_id}}},
        {"messages",
         {{{"role", "user"}, {"content", "read the secret"}},
          {{"role", "assistant"},
           {"content",
            {{{"type", "tool_use"},
              {"id", "toolu_1"},
              {"name", "Read"},
              {"input", json::object()}}}}},
          {{"role", "user"},
           {"content",
            {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", tool_text}}}}}}}};
    return body.dump();
}

TEST(ReplayMatching, KeyOrderDoesNotMatter) {
    Normalizer n;
    EXPECT_EQ(n.match_key("POST", "/v1/messages", R"({"a":1,"b":{"c":2,"d":3}})"),
              n.match_key("POST", "/v1/messages", R"({"b":{"d":3,"c":2},"a":1})"));
    EXPECT_NE(n.match_key("POST", "/v1/messages", R"({"a":1})"),
              n.match_key("POST", "/v1/messages", R"({"a":2})"));
}

TEST(ReplayMatching, MethodAndTargetWithQueryCount) {
    Normalizer n;
    EXPECT_NE(n.match_key("POST", "/v1/messages", "{}"), n.match_key("PUT", "/v1/messages", "{}"));
    EXPECT_NE(n.match_key("GET", "/v1/models?limit=1", ""),
              n.match_key("GET", "/v1/models?limit=2", ""));
    EXPECT_EQ(n.match_key("GET", "/v1/models?limit=1", ""),
              n.match_key("GET", "/v1/models?limit=1", ""));
}

TEST(ReplayMatching, VolatileFieldsAreDropped) {
    Normalizer n;
    EXPECT_EQ(n.match_key("POST", "/v1/messages", turn("a", "user-1")),
              n.match_key("POST", "/v1/messages", turn("a", "user-2")));
    // Cache markers at any depth.
    EXPECT_EQ(
        n.match_key(
            "POST", "/",
            R"({"system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]})"),
        n.match_key("POST", "/", R"({"system":[{"type":"text","text":"x"}]})"));
    // Claude Code's billing block, and only that block.
    EXPECT_EQ(
        n.match_key(
            "POST", "/",
            R"({"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.1"},{"type":"text","text":"Be brief."}]})"),
        n.match_key(
            "POST", "/",
            R"({"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.9"},{"type":"text","text":"Be brief."}]})"));
    EXPECT_NE(n.match_key("POST", "/", R"({"system":[{"type":"text","text":"Be brief."}]})"),
              n.match_key("POST", "/", R"({"system":[{"type":"text","text":"Be long."}]})"));
    // Metadata holding only the user id is as good as none.
    EXPECT_EQ(n.match_key("POST", "/", R"({"model":"m","metadata":{"user_id":"a"}})"),
              n.match_key("POST", "/", R"({"model":"m"})"));
    EXPECT_NE(n.match_key("POST", "/", R"({"model":"m","metadata":{}})"),
              n.match_key("POST", "/", R"({"model":"m"})"));
    // Other metadata still counts.
    EXPECT_NE(n.match_key("POST", "/", R"({"metadata":{"user_id":"a","x":1}})"),
              n.match_key("POST", "/", R"({"metadata":{"user_id":"b","x":2}})"));
}

TEST(ReplayMatching, ExtraRules) {
    Normalizer n;
    const std::string a = R"({"messages":[{"id":"m1","content":"hi"}]})";
    const std::string b = R"({"messages":[{"id":"m2","content":"hi"}]})";
    EXPECT_NE(n.match_key("POST", "/", a), n.match_key("POST", "/", b));
    n.add_rule({"messages.*.id", "test", ""});
    EXPECT_EQ(n.match_key("POST", "/", a), n.match_key("POST", "/", b));
    EXPECT_NE(n.match_key("POST", "/", a),
              n.match_key("POST", "/", R"({"messages":[{"id":"m2","content":"ho"}]})"));
}

TEST(ReplayMatching, NonJsonBodiesCompareByteForByte) {
    Normalizer n;
    EXPECT_FALSE(n.normalize("not json {").has_value());
    EXPECT_EQ(n.match_key("POST", "/u", "a=1&b=2"), n.match_key("POST", "/u", "a=1&b=2"));
    EXPECT_NE(n.match_key("POST", "/u", "a=1&b=2"), n.match_key("POST", "/u", "b=2&a=1"));
}

TEST(ReplayDiff, NamesTheDifferingToolResult) {
    Normalizer n;
    auto d = diff_json(*n.normalize(turn("swordfish-42")), *n.normalize(turn("swordfish-43")));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].text(), "messages[2].content[0].content: 'swordfish-42' -> 'swordfish-43'");
}

TEST(ReplayDiff, ExtraAndMissingTurns) {
    json two = json::parse(
        R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})");
    json three = two;
    three["messages"].push_back({{"role", "user"}, {"content", "c"}});
    auto extra = diff_json(two, three);
    ASSERT_EQ(extra.size(), 1u);
    EXPECT_EQ(extra[0].path, "messages[2]");
    EXPECT_EQ(extra[0].recorded, "(missing)");
    auto missing = diff_json(three, two);
    ASSERT_EQ(missing.size(), 1u);
    EXPECT_EQ(missing[0].path, "messages[2]");
    EXPECT_EQ(missing[0].requested, "(missing)");
    EXPECT_EQ(count_differences(two, two), 0u);
    // A key only one side has.
    auto key = diff_json(json::parse(R"({"a":1})"), json::parse(R"({"a":1,"tools":[]})"));
    ASSERT_EQ(key.size(), 1u);
    EXPECT_EQ(key[0].text(), "tools: (missing) -> []");
}

TEST(ReplayDiff, LongStringsShowTheirFirstDifference) {
    std::string prompt(500, 'x');
    std::string other = prompt;
    prompt.replace(300, 9, "/home/ann");
    other.replace(300, 9, "/home/bob");
    auto d = diff_json(json{{"system", prompt}}, json{{"system", other}});
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].path, "system (at byte 306)");
    EXPECT_NE(d[0].recorded.find("/home/ann"), std::string::npos) << d[0].recorded;
    EXPECT_NE(d[0].requested.find("/home/bob"), std::string::npos) << d[0].requested;
    EXPECT_LT(d[0].recorded.size(), 100u);
}

TEST(ReplayDiff, TurnsAndToolsAreNamed) {
    // OpenAI chat: a tool message answers a call named in an earlier assistant message.
    json chat = json::parse(R"({"messages":[{"role":"user","content":"go"},
        {"role":"assistant","tool_calls":[{"id":"call_9","type":"function","function":{"name":"grep","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"call_9","content":"3 matches"}]})");
    json changed = chat;
    changed["messages"][2]["content"] = "4 matches";
    changed["messages"][0]["content"] = "go!";
    auto d = diff_json(chat, changed);
    describe_turns(d, changed);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].context, "turn 1, user");
    EXPECT_EQ(d[1].context, "turn 3, tool result of grep");
    // An extra turn is named by its number.
    json more = chat;
    more["messages"].push_back({{"role", "user"}, {"content", "again"}});
    auto extra = diff_json(chat, more);
    describe_turns(extra, more);
    ASSERT_EQ(extra.size(), 1u);
    EXPECT_EQ(extra[0].context, "turn 4, user");
    // Paths outside the conversation get no context.
    auto model = diff_json(json{{"model", "a"}}, json{{"model", "b"}});
    describe_turns(model, json{{"model", "b"}});
    EXPECT_EQ(model[0].context, "");
}

TEST(ReplayDiff, GeminiFunctionResponsesAreNamed) {
    // Gemini: the function's answer is a functionResponse part, often without an id.
    json gemini = json::parse(R"({"contents":[{"role":"user","parts":[{"text":"go"}]},
        {"role":"model","parts":[{"functionCall":{"name":"list_directory","args":{}}}]},
        {"role":"user","parts":[{"functionResponse":{"name":"list_directory","response":{"output":"a"}}}]}]})");
    json changed = gemini;
    changed["contents"][2]["parts"][0]["functionResponse"]["response"]["output"] = "b";
    changed["contents"][0]["parts"][0]["text"] = "go!";
    auto d = diff_json(gemini, changed);
    describe_turns(d, changed);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].context, "turn 1, user");
    EXPECT_EQ(d[1].context, "turn 3, tool result of list_directory");
}

TEST(ReplayDiff, StopsAtTheLimitButCountsAll) {
    json a = json::array(), b = json::array();
    for (int i = 0; i < 10; ++i) {
        a.push_back(i);
        b.push_back(i + 1);
    }
    EXPECT_EQ(diff_json(a, b, 3).size(), 3u);
    EXPECT_EQ(diff_json(a, b, 3)[0].path, "[0]");
    EXPECT_EQ(count_differences(a, b), 10u);
}

RecordedExchange exchange(std::string target, std::string body, int status) {
    RecordedExchange x;
    x.method = "POST";
    x.target = std::move(target);
    x.request_body = std::move(body);
    x.status = status;
    return x;
}

ReplaySession session_of(std::vector<RecordedExchange> xs) {
    Recording rec;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        xs[i].number = i + 1;
        rec.exchanges.push_back(std::move(xs[i]));
    }
    return ReplaySession(std::move(rec), Normalizer());
}

TEST(ReplayDiff, ExcerptsDoNotCutUtf8) {
    std::string a, b;
    for (int i = 0; i < 60; ++i)
        a += "\xc3\xa9";  // é, two bytes
    b = a;
    a += "x";
    b += "y";
    auto d = diff_json(json{{"t", a}}, json{{"t", b}});
    ASSERT_EQ(d.size(), 1u);
    // Valid UTF-8 both ways: a JSON error body can carry it.
    EXPECT_NO_THROW((void)json(d[0].recorded).dump());
    EXPECT_NO_THROW((void)json(d[0].requested).dump());
    auto s = session_of({exchange("/", json{{"t", a}}.dump(), 200)});
    auto answer = s.answer("POST", "/", json{{"t", b}}.dump());
    EXPECT_TRUE(json::parse(answer.error_body).is_object());
}

TEST(ReplaySession, RepeatedRequestsGetSuccessiveAnswersOnce) {
    auto s = session_of({exchange("/v1/messages", R"({"q":1})", 200),
                         exchange("/v1/messages", R"({"q":1})", 529),
                         exchange("/v1/messages", R"({"q":2})", 201)});
    auto a1 = s.answer("POST", "/v1/messages", R"({"q": 1})");
    auto a2 = s.answer("POST", "/v1/messages", R"({"q":1})");
    ASSERT_TRUE(a1.exchange && a2.exchange);
    EXPECT_EQ(a1.exchange->number, 1u);
    EXPECT_EQ(a2.exchange->number, 2u);
    EXPECT_FALSE(s.followed());  // #3 not asked for yet
    auto a3 = s.answer("POST", "/v1/messages", R"({"q":1})");
    EXPECT_EQ(a3.exchange, nullptr);  // both recorded answers already served
    auto json_error = json::parse(a3.error_body);
    EXPECT_EQ(json_error["error"]["type"], "ct_replay_unmatched");
    auto a4 = s.answer("POST", "/v1/messages", R"({"q":2})");
    ASSERT_TRUE(a4.exchange);
    EXPECT_EQ(s.served(), (std::vector<bool>{true, true, true}));
    EXPECT_FALSE(s.followed());  // a3 was unmatched
    EXPECT_EQ(s.unmatched().size(), 1u);
    EXPECT_EQ(s.unmatched()[0].request_number, 3u);
}

TEST(ReplaySession, FollowedWhenEverythingMatched) {
    auto s = session_of({exchange("/a", "{}", 200), exchange("/b", "x", 200)});
    EXPECT_TRUE(s.answer("POST", "/a", "{ }").exchange);
    EXPECT_TRUE(s.answer("POST", "/b", "x").exchange);
    EXPECT_TRUE(s.followed());
    EXPECT_NE(s.report().find("followed the recording"), std::string::npos);
}

TEST(ReplaySession, UnmatchedNamesTheClosestUnservedExchange) {
    auto s = session_of(
        {exchange("/v1/messages", turn("swordfish-42"), 200), exchange("/v1/other", "{}", 200)});
    auto a = s.answer("POST", "/v1/messages", turn("swordfish-43", "someone-else"));
    EXPECT_EQ(a.exchange, nullptr);
    auto u = s.unmatched();
    ASSERT_EQ(u.size(), 1u);
    ASSERT_TRUE(u[0].closest);
    EXPECT_EQ(*u[0].closest, 1u);
    ASSERT_EQ(u[0].differences.size(), 1u);
    EXPECT_EQ(u[0].differences[0].text(),
              "messages[2].content[0].content: 'swordfish-42' -> 'swordfish-43'  [turn 3, tool "
              "result of Read]");
    const std::string report = s.report();
    EXPECT_NE(report.find("messages[2].content[0].content: 'swordfish-42' -> 'swordfish-43'"),
              std::string::npos);
    EXPECT_NE(report.find("not asked #1"), std::string::npos);
    EXPECT_NE(report.find("DIVERGED"), std::string::npos);
    EXPECT_NE(json::parse(a.error_body)["error"]["message"].get<std::string>().find("#1"),
              std::string::npos);
}

TEST(ReplaySession, DifferentTargetIsShownAsTheRequestLine) {
    auto s = session_of({exchange("/v1/messages?beta=true", "{}", 200)});
    s.answer("POST", "/v1/messages", "{}");
    auto u = s.unmatched();
    ASSERT_EQ(u.size(), 1u);
    ASSERT_FALSE(u[0].differences.empty());
    EXPECT_EQ(u[0].differences[0].text(),
              "request line: 'POST /v1/messages?beta=true' -> 'POST /v1/messages'");
}

}  // namespace
}  // namespace ct::replay::serve

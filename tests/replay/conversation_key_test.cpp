// llm_calls.conversation_key, per API shape: the calls of one conversation (a
// growing message list with tool calls and their results) share it; two
// conversations of one agent, which share the system prompt and differ in what
// the user asked, do not, wherever the API puts the system prompt (Anthropic's
// `system`, a Chat Completions `system` message, the Responses API's
// `instructions` and `developer` items, Gemini's `systemInstruction`).
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "llm_fixtures.hpp"
#include "prepared_connection.hpp"
#include "stream_builder.hpp"

namespace ct::analyze {
namespace {

std::string post(const std::string& path, const std::string& body) {
    return "POST " + path +
           " HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The key (in hex) and opening_prompt of the one call a request on a connection
// of its own makes (no response needed).
struct Opening {
    std::optional<std::string> key;
    std::optional<std::string> prompt;
};

Opening opening_of(const std::string& request_wire) {
    testing::StreamBuilder out, in;
    out.data(request_wire, 1'000'000'000);
    auto p = prepare_connection(testing::make_connection(out.stream(), in.stream()), {});
    EXPECT_EQ(p->calls.size(), 1u);
    if (p->calls.size() != 1 || !p->calls[0]) {
        ADD_FAILURE() << "no LLM call";
        return {};
    }
    Opening o{std::nullopt, p->calls[0]->opening_prompt};
    if (const auto& key = p->calls[0]->conversation_key) {
        static constexpr char kHex[] = "0123456789abcdef";
        o.key.emplace();
        for (unsigned char c : *key) {
            *o.key += kHex[c >> 4];
            *o.key += kHex[c & 15];
        }
    }
    return o;
}

std::optional<std::string> key_of(const std::string& request_wire) {
    return opening_of(request_wire).key;
}

// One agent's conversations, each call made by make_call(ask, turns): the turns of
// one ask share a key, and their opening_prompt is the ask, whatever came before
// it; two asks have two keys. Returns the first ask's key.
template <typename MakeCall>
std::optional<std::string> expect_a_key_per_ask(MakeCall make_call, int turns = 3) {
    std::optional<std::string> first_key;
    for (const std::string ask : {"Fix the build", "Write the docs"}) {
        SCOPED_TRACE(ask);
        const Opening first = opening_of(make_call(ask, 1));
        EXPECT_TRUE(first.key);
        EXPECT_EQ(first.prompt, ask);
        for (int turn = 2; turn <= turns; ++turn) {
            const Opening later = opening_of(make_call(ask, turn));
            EXPECT_EQ(later.key, first.key) << "turn " << turn;
            EXPECT_EQ(later.prompt, ask) << "turn " << turn;
        }
        if (first_key)
            EXPECT_NE(first.key, first_key);
        else
            first_key = first.key;
    }
    return first_key;
}

// Anthropic: the system prompt travels apart; a cache marker moves to the last
// message from call to call.
const std::string kClaudeHead =
    R"({"model":"claude-sonnet-4-5","max_tokens":100,"system":[{"type":"text","text":"You are Claude Code.",)"
    R"("cache_control":{"type":"ephemeral"}}],"messages":[)";

std::string claude_first(const std::string& ask) {
    return kClaudeHead +
           R"({"role":"user","content":[{"type":"text","text":"<system-reminder>cwd /w</system-reminder>"},)" +
           R"({"type":"text","text":")" + ask + R"(","cache_control":{"type":"ephemeral"}}]})";
}

std::string claude_call(const std::string& ask, int turns) {
    std::string body = claude_first(ask);
    if (turns == 1)
        return testing::http_request("/v1/messages", body + "]}");
    // The marker moved off the first message.
    body =
        kClaudeHead +
        R"({"role":"user","content":[{"type":"text","text":"<system-reminder>cwd /w</system-reminder>"},)" +
        R"({"type":"text","text":")" + ask + R"("}]})";
    body +=
        R"(,{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"bash","input":{"command":"ls"}}]})"
        R"(,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a.c",)"
        R"("cache_control":{"type":"ephemeral"}}]})";
    if (turns > 2)
        body += R"(,{"role":"assistant","content":"Done."},{"role":"user","content":"Thanks"})";
    return testing::http_request("/v1/messages", body + "]}");
}

TEST(ConversationKey, AnthropicTurnsShareOneKeyAsksDoNot) {
    expect_a_key_per_ask(claude_call);
}

// A conversation opened by one user message keeps the key of earlier imports:
// the SHA-256 of that message in canonical form (sorted keys, compact), so that
// databases filled before and after agree.
TEST(ConversationKey, OneUserMessageKeepsTheEarlierKey) {
    EXPECT_EQ(
        key_of(testing::http_request(
            "/v1/messages",
            R"({"model":"m","max_tokens":1,"system":"S","messages":[{"role": "user", "content": "Fix the build"}]})")),
        "ee0a2461cb75d6bbf640baf607febaf46f4cbe1a76d911083660a92c3a3d5c94");
}

// Chat Completions (qwen-code): the system prompt is the first message.
std::string chat_call(const std::string& ask, int turns,
                      const std::string& system = "You are Qwen Code.") {
    std::string body = R"({"model":"qwen3-coder-plus","messages":[{"role":"system","content":")" +
                       system +
                       R"("},{"role":"user","content":[{"type":"text","text":"<env>linux</env>"},)"
                       R"({"type":"text","text":")" +
                       ask + R"("}]})";
    if (turns > 1)
        body +=
            R"(,{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
            R"("function":{"name":"ls","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"a.c"})";
    if (turns > 2)
        body += R"(,{"role":"assistant","content":"Done."},{"role":"user","content":"Thanks"})";
    return post("/v1/chat/completions", body + "]}");
}

TEST(ConversationKey, ChatCompletionsSystemMessageIsNotTheKey) {
    auto a1 = expect_a_key_per_ask(
        [](const std::string& ask, int turns) { return chat_call(ask, turns); });
    // A system prompt rewritten from call to call (a date in it) does not split one.
    EXPECT_EQ(key_of(chat_call("Fix the build", 2, "You are Qwen Code. Today is Tuesday.")), a1);
    // A "developer" message is an instruction too.
    const std::string dev =
        R"({"model":"o3","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"Fix the build"}]})";
    const std::string dev2 =
        R"({"model":"o3","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"Write the docs"}]})";
    EXPECT_NE(key_of(post("/v1/chat/completions", dev)),
              key_of(post("/v1/chat/completions", dev2)));
}

// The Responses API as Codex sends it: `instructions`, a developer item, then
// user items that are the same for every session in one directory (AGENTS.md,
// the environment), then the user's words; later calls add reasoning, function
// calls and their outputs, then the next user message.
std::string codex_call(const std::string& ask, int turns) {
    std::string body =
        R"({"model":"gpt-5-codex","instructions":"You are Codex.","input":[)"
        R"({"type":"message","role":"developer","content":[{"type":"input_text","text":"<permissions instructions>workspace-write</permissions instructions>"}]},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text","text":"# AGENTS.md instructions for /w"}]},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context><cwd>/w</cwd></environment_context>"}]},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text","text":")" +
        ask + R"("}]})";
    if (turns > 1)
        body +=
            R"(,{"type":"reasoning","summary":[],"encrypted_content":"gAAA"})"
            R"(,{"type":"function_call","name":"shell","arguments":"{\"command\":[\"ls\"]}","call_id":"call_1"})"
            R"(,{"type":"function_call_output","call_id":"call_1","output":"a.c"})";
    if (turns > 2)
        body +=
            R"(,{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Done."}]})"
            R"(,{"type":"message","role":"user","content":[{"type":"input_text","text":"Thanks"}]})";
    return post("/v1/responses", body + "]}");
}

TEST(ConversationKey, ResponsesInstructionsAndSharedContextAreNotTheKey) {
    expect_a_key_per_ask(codex_call);
    // A plain string input is the user's message.
    const Opening hi = opening_of(
        post("/v1/responses", R"({"model":"gpt-5","instructions":"I","input":"Say hi"})"));
    EXPECT_EQ(hi.prompt, "Say hi");
    EXPECT_NE(hi.key, key_of(post("/v1/responses",
                                  R"({"model":"gpt-5","instructions":"I","input":"Say bye"})")));
}

// Gemini: systemInstruction travels apart; function responses are user turns
// after a model turn.
std::string gemini_call(const std::string& ask, int turns) {
    std::string body =
        R"({"systemInstruction":{"parts":[{"text":"You are Gemini CLI."}]},"contents":[)"
        R"({"role":"user","parts":[{"text":"<session context>"},{"text":")" +
        ask + R"("}]})";
    if (turns > 1)
        body +=
            R"(,{"role":"model","parts":[{"functionCall":{"name":"ls","args":{}}}]})"
            R"(,{"role":"user","parts":[{"functionResponse":{"name":"ls","response":{"output":"a.c"}}}]})";
    if (turns > 2)
        body +=
            R"(,{"role":"model","parts":[{"text":"Done."}]},{"role":"user","parts":[{"text":"Thanks"}]})";
    return testing::gemini_request("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                                   body + "]}");
}

TEST(ConversationKey, GeminiTurnsShareOneKeyAsksDoNot) {
    expect_a_key_per_ask(gemini_call);
    // countTokens calls belong to no conversation.
    EXPECT_EQ(
        key_of(testing::gemini_request("/v1beta/models/gemini-2.5-pro:countTokens",
                                       R"({"contents":[{"parts":[{"text":"Fix the build"}]}]})")),
        std::nullopt);
}

// An assistant greeting before the user's first message is not the key either:
// every conversation of the client opens with it.
TEST(ConversationKey, AnOpeningGreetingIsNotTheKey) {
    auto call = [](const std::string& ask) {
        return testing::http_request(
            "/v1/messages",
            R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":"Hello!"},)"
            R"({"role":"user","content":")" +
                ask + R"("}]})");
    };
    EXPECT_NE(key_of(call("Fix the build")), key_of(call("Write the docs")));
}

// Without a user message the first message names the conversation; without
// messages there is none.
TEST(ConversationKey, WithoutAUserMessageTheFirstMessage) {
    auto only = [](const std::string& system) {
        return post(
            "/v1/chat/completions",
            R"({"model":"gpt-4o","messages":[{"role":"system","content":")" + system + R"("}]})");
    };
    const Opening a = opening_of(only("Summarise A"));
    ASSERT_TRUE(a.key);
    EXPECT_EQ(a.prompt, std::nullopt);  // no user message: no prompt
    EXPECT_EQ(key_of(only("Summarise A")), a.key);
    EXPECT_NE(key_of(only("Summarise B")), a.key);
    const Opening none =
        opening_of(post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[]})"));
    EXPECT_EQ(none.key, std::nullopt);
    EXPECT_EQ(none.prompt, std::nullopt);
}

// Every call stores its own opening_prompt: at most kOpeningPromptChars characters,
// cut where SQLite's substr() cuts (a character is a lead byte and its continuation
// bytes), so that version 11's migration fills older rows alike.
TEST(ConversationKey, TheOpeningPromptIsCutAtAThousandCharacters) {
    std::string ask;
    for (int i = 0; i < 1500; ++i)
        ask += i % 2 ? "\u00e9" : "a";  // JSON escapes: "é" in the prompt
    const Opening o = opening_of(
        post("/v1/chat/completions",
             R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + ask + R"("}]})"));
    ASSERT_TRUE(o.prompt);
    std::string want;
    for (std::size_t i = 0; i < llm::kOpeningPromptChars; ++i)
        want += i % 2 ? "\xc3\xa9" : "a";
    EXPECT_EQ(*o.prompt, want);
}

}  // namespace
}  // namespace ct::analyze

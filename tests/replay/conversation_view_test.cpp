// v_llm_conversations.first_message is the conversation's prompt, whatever the
// API: the last user message of its opening user turn (Codex sends AGENTS.md and
// its environment as user messages before the user's words), not a system or
// developer message sent among the messages (Chat Completions, Responses API),
// nor an assistant or model turn that opens the conversation (Anthropic,
// Gemini). Sessions of one agent, which share a system prompt, are
// conversations of their own. A database of schema version 9 shows the prompt
// once migrated.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "analyze_capture.hpp"
#include "llm_fixtures.hpp"
#include "sqlite/migrations.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::analyze {
namespace {

std::string post(const std::string& host, const std::string& path, const std::string& body) {
    return "POST " + path + " HTTP/1.1\r\nHost: " + host +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

// Imports a capture of `requests` (each on a connection of its own, in this
// order) and returns column 0 of `query`'s rows (NULL as nullopt).
std::vector<std::optional<std::string>> imported_rows(const std::vector<std::string>& requests,
                                                      const std::string& query) {
    testing::TempDir dir;
    const std::string path = dir.file("c.ctz");
    {
        testing::SyntheticCapture cap(path);
        std::uint64_t ssl = 0x100;
        for (const auto& r : requests) {
            auto g = cap.open_connection(7, ssl++);
            cap.write(g, r);
            cap.close(g);
            cap.advance_ns(1'000'000);
        }
        cap.finish();
    }
    std::vector<std::optional<std::string>> out;
    auto db = open_session_database(dir.file("db.sqlite"));
    EXPECT_TRUE(db) << db.error().what();
    if (!db)
        return out;
    auto imported = import_capture_file(*db, path, false);
    EXPECT_TRUE(imported) << imported.error().what();
    if (!imported)
        return out;
    EXPECT_EQ(static_cast<std::size_t>(imported->result.llm_calls), requests.size());
    auto st = db->prepare(query);
    EXPECT_TRUE(st);
    if (!st)
        return out;
    while (true) {
        auto row = st->step();
        EXPECT_TRUE(row);
        if (!row || !*row)
            break;
        if (st->column_is_null(0))
            out.emplace_back(std::nullopt);
        else
            out.emplace_back(std::string(st->column_text(0)));
    }
    return out;
}

// first_message of each conversation, in the order they began.
std::vector<std::optional<std::string>> first_messages(const std::vector<std::string>& requests) {
    return imported_rows(requests,
                         "SELECT first_message FROM v_llm_conversations ORDER BY start_utc");
}

using Texts = std::vector<std::optional<std::string>>;

TEST(ConversationView, AnthropicFirstUserMessageAfterAnAssistantGreeting) {
    // The system prompt travels apart ("system"); a client may open with the
    // assistant's greeting. The user's message: its last text block (reminders first).
    const std::string first =
        R"({"model":"claude-sonnet-4-5","max_tokens":100,"system":"You are terse.","messages":[)"
        R"({"role":"assistant","content":"Hello! What shall we build?"},)"
        R"({"role":"user","content":[{"type":"text","text":"<system-reminder>cwd /w</system-reminder>"},)"
        R"({"type":"text","text":"Fix the build"}]}]})";
    const std::string second =
        R"({"model":"claude-sonnet-4-5","max_tokens":100,"system":"You are terse.","messages":[)"
        R"({"role":"assistant","content":"Hello! What shall we build?"},)"
        R"({"role":"user","content":[{"type":"text","text":"<system-reminder>cwd /w</system-reminder>"},)"
        R"({"type":"text","text":"Fix the build"}]},{"role":"assistant","content":"Done."},)"
        R"({"role":"user","content":"Thanks"}]})";
    EXPECT_EQ(first_messages({testing::http_request("/v1/messages", first),
                              testing::http_request("/v1/messages", second)}),
              (Texts{"Fix the build"}));
}

TEST(ConversationView, OpenAiChatSkipsTheSystemMessage) {
    // qwen-code: the system prompt is the first of the messages.
    const std::string head =
        R"({"model":"qwen3-coder-plus","stream":false,"messages":[)"
        R"({"role":"system","content":"You are Qwen Code, an interactive CLI agent."},)"
        R"({"role":"user","content":[{"type":"text","text":"<env>linux</env>"},)"
        R"({"type":"text","text":"Fix the build"}]})";
    const std::string more =
        R"(,{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
        R"("function":{"name":"ls","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"a"})";
    EXPECT_EQ(first_messages({post("api.example", "/v1/chat/completions", head + "]}"),
                              post("api.example", "/v1/chat/completions", head + more + "]}")}),
              (Texts{"Fix the build"}));
}

TEST(ConversationView, ResponsesSkipsDeveloperItemsAndUnquotesAStringInput) {
    // Codex: "instructions", then developer items, then the user's message.
    const std::string codex =
        R"({"model":"gpt-5-codex","instructions":"You are Codex.","input":[)"
        R"({"type":"message","role":"developer","content":[{"type":"input_text",)"
        R"("text":"<permissions instructions>workspace-write</permissions instructions>"}]},)"
        R"({"type":"message","role":"system","content":"Be brief."},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text","text":"Fix the build"}]}]})";
    const std::string plain = R"({"model":"gpt-5","input":"Say hi"})";
    EXPECT_EQ(first_messages({post("api.openai.com", "/v1/responses", codex),
                              post("api.openai.com", "/v1/responses", plain)}),
              (Texts{"Fix the build", "Say hi"}));
}

TEST(ConversationView, GeminiSkipsAnOpeningModelTurn) {
    // systemInstruction travels apart; a history may open with a model turn. A
    // content without a role is the user's.
    const std::string opened =
        R"({"systemInstruction":{"parts":[{"text":"You are terse."}]},"contents":[)"
        R"({"role":"model","parts":[{"text":"Hello! How can I help?"}]},)"
        R"({"role":"user","parts":[{"text":"<session context>"},{"text":"Fix the build"}]}]})";
    const std::string roleless = R"({"contents":[{"parts":[{"text":"Say hi"}]}]})";
    const std::string path = "/v1beta/models/gemini-2.5-pro:generateContent";
    EXPECT_EQ(first_messages(
                  {testing::gemini_request(path, opened), testing::gemini_request(path, roleless)}),
              (Texts{"Fix the build", "Say hi"}));
}

// Two Codex sessions started in one directory: the same instructions, developer
// item and opening user items (AGENTS.md, the environment), then different asks;
// each session's second call adds reasoning, a function call and its output.
// Two conversations of two calls each, not one of four.
TEST(ConversationView, CodexSessionsSharingTheirPromptsAreTwoConversations) {
    auto call = [](const std::string& ask, bool second) {
        std::string body =
            R"({"model":"gpt-5-codex","instructions":"You are Codex.","input":[)"
            R"({"type":"message","role":"developer","content":[{"type":"input_text",)"
            R"("text":"<permissions instructions>workspace-write</permissions instructions>"}]},)"
            R"({"type":"message","role":"user","content":[{"type":"input_text","text":"# AGENTS.md for /w"}]},)"
            R"({"type":"message","role":"user","content":[{"type":"input_text",)"
            R"("text":"<environment_context><cwd>/w</cwd></environment_context>"}]},)"
            R"({"type":"message","role":"user","content":[{"type":"input_text","text":")" +
            ask + R"("}]})";
        if (second)
            body +=
                R"(,{"type":"reasoning","summary":[]},{"type":"function_call","name":"shell",)"
                R"("arguments":"{}","call_id":"c1"},{"type":"function_call_output","call_id":"c1","output":"a"})";
        return post("api.openai.com", "/v1/responses", body + "]}");
    };
    // Interleaved, as two terminals would send them.
    EXPECT_EQ(imported_rows({call("Fix the build", false), call("Write the docs", false),
                             call("Fix the build", true), call("Write the docs", true)},
                            "SELECT calls || ' ' || max_messages FROM v_llm_conversations "
                            "ORDER BY start_utc"),
              (Texts{"2 7", "2 7"}));
}

// The same for two qwen-code sessions: one system message, different asks.
TEST(ConversationView, ChatSessionsSharingTheSystemMessageAreTwoConversations) {
    auto call = [](const std::string& ask, bool second) {
        std::string body =
            R"({"model":"qwen3-coder-plus","messages":[{"role":"system","content":"You are Qwen Code."},)"
            R"({"role":"user","content":")" +
            ask + R"("})";
        if (second)
            body +=
                R"(,{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
                R"("function":{"name":"ls","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"a"})";
        return post("api.example", "/v1/chat/completions", body + "]}");
    };
    EXPECT_EQ(imported_rows({call("Fix the build", false), call("Write the docs", false),
                             call("Fix the build", true), call("Write the docs", true)},
                            "SELECT first_message || ': ' || calls FROM v_llm_conversations "
                            "ORDER BY start_utc"),
              (Texts{"Fix the build: 2", "Write the docs: 2"}));
}

// A Codex session's opening turn: AGENTS.md and the environment, sent as user
// messages, then the user's ask, which is what first_message shows.
std::string codex_opening(const std::string& ask) {
    return post(
        "api.openai.com", "/v1/responses",
        R"({"model":"gpt-5-codex","instructions":"You are Codex.","input":[)"
        R"({"type":"message","role":"developer","content":[{"type":"input_text",)"
        R"("text":"<permissions instructions>workspace-write</permissions instructions>"}]},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text","text":"# AGENTS.md for /w"}]},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text",)"
        R"("text":"<environment_context><cwd>/w</cwd></environment_context>"}]},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text","text":")" +
            ask + R"("}]}]})");
}

TEST(ConversationView, CodexShowsThePromptAfterItsSetupMessages) {
    EXPECT_EQ(first_messages({codex_opening("Fix the build"), codex_opening("Write the docs")}),
              (Texts{"Fix the build", "Write the docs"}));
}

// The opening turn ends at the first answer: later user messages, and user
// messages sent after a tool output, are not the prompt; a system message
// inside the turn does not end it. One user message: that message.
TEST(ConversationView, ThePromptIsTheLastUserMessageOfTheOpeningTurnOnly) {
    const std::string chat =
        R"({"model":"gpt-4o","messages":[{"role":"user","content":"<context>repo /w</context>"},)"
        R"({"role":"system","content":"Be brief."},{"role":"user","content":"Fix the build"},)"
        R"({"role":"assistant","content":"Done."},{"role":"user","content":"Thanks"}]})";
    const std::string single =
        R"({"model":"gpt-4o","messages":[{"role":"system","content":"You are a bot."},)"
        R"({"role":"user","content":"Say hi"},{"role":"assistant","content":"Hi"},)"
        R"({"role":"user","content":"Again"}]})";
    const std::string responses =
        R"({"model":"gpt-5","input":[{"type":"message","role":"user","content":[{"type":"input_text",)"
        R"("text":"Weather in Lyon?"}]},{"type":"function_call_output","call_id":"c0","output":"21 C"},)"
        R"({"type":"message","role":"user","content":[{"type":"input_text","text":"And Paris?"}]}]})";
    EXPECT_EQ(first_messages({post("api.example", "/v1/chat/completions", chat),
                              post("api.example", "/v1/chat/completions", single),
                              post("api.openai.com", "/v1/responses", responses)}),
              (Texts{"Fix the build", "Say hi", "Weather in Lyon?"}));
}

// A database of schema version 9 (its view showed the opening turn's first user
// message, AGENTS.md for Codex) shows the prompt once migrated to version 10.
TEST(ConversationView, MigratingFromVersion9ShowsThePrompt) {
    testing::TempDir dir;
    const std::string path = dir.file("c.ctz");
    {
        testing::SyntheticCapture cap(path);
        std::uint64_t ssl = 0x100;
        for (const auto& r :
             {codex_opening("Fix the build"),
              post("api.example", "/v1/chat/completions",
                   R"({"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}]})")}) {
            auto g = cap.open_connection(7, ssl++);
            cap.write(g, r);
            cap.close(g);
            cap.advance_ns(1'000'000);
        }
        cap.finish();
    }
    auto db = open_session_database(dir.file("db.sqlite"));
    ASSERT_TRUE(db) << db.error().what();
    auto imported = import_capture_file(*db, path, false);
    ASSERT_TRUE(imported) << imported.error().what();
    auto firsts = [&] {
        std::vector<std::string> out;
        auto st = db->prepare(
            "SELECT coalesce(first_message, 'NULL') FROM v_llm_conversations "
            "ORDER BY start_utc");
        EXPECT_TRUE(st);
        if (!st)
            return out;
        while (true) {
            auto row = st->step();
            EXPECT_TRUE(row);
            if (!row || !*row)
                break;
            out.emplace_back(st->column_text(0));
        }
        return out;
    };
    EXPECT_EQ(firsts(), (std::vector<std::string>{"Fix the build", "Say hi"}));
    // Back to version 9: its view is 008's (009 left it alone).
    const auto& all = schema_migrations();
    auto v8 =
        std::find_if(all.begin(), all.end(), [](const Migration& m) { return m.version == 8; });
    ASSERT_NE(v8, all.end());
    ASSERT_TRUE(db->exec(std::string(v8->sql)));
    ASSERT_TRUE(db->exec("PRAGMA user_version = 9"));
    EXPECT_EQ(firsts(), (std::vector<std::string>{"# AGENTS.md for /w", "Say hi"}));
    auto v = migrate(*db);
    ASSERT_TRUE(v) << v.error().what();
    EXPECT_EQ(*v, schema_migrations().back().version);
    EXPECT_EQ(firsts(), (std::vector<std::string>{"Fix the build", "Say hi"}));
}

// A conversation whose first call holds no user message has none to show.
TEST(ConversationView, NoUserMessageGivesNull) {
    const std::string body =
        R"({"model":"gpt-4o","messages":[{"role":"system","content":"You are a bot."}]})";
    EXPECT_EQ(first_messages({post("api.example", "/v1/chat/completions", body)}),
              (Texts{std::nullopt}));
}

}  // namespace
}  // namespace ct::analyze

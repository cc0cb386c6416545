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
// A database of version 9 (before 010's view) or 10 (before 011's column) shows the
// prompts once migrated: 011 fills llm_calls.opening_prompt of the calls already
// stored by version 10's rule, which gives what the importer stores.
TEST(ConversationView, MigratingFromVersion9And10ShowsThePrompt) {
    testing::TempDir dir;
    const std::string path = dir.file("c.ctz");
    // A prompt longer than the column keeps, in two-byte characters: 011 cuts it
    // where the importer does.
    std::string long_ask, long_first;
    for (int i = 0; i < 1500; ++i)
        long_ask += i % 2 ? "\u00e9" : "a";
    for (int i = 0; i < 120; ++i)
        long_first += i % 2 ? "\xc3\xa9" : "a";
    {
        testing::SyntheticCapture cap(path);
        std::uint64_t ssl = 0x100;
        for (
            const auto& r :
            {codex_opening("Fix the build"),
             post("api.example", "/v1/chat/completions",
                  R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + long_ask +
                      R"("}]})"),
             post("api.example", "/v1/chat/completions",
                  R"({"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}]})"),
             post("api.example", "/v1/chat/completions",
                  R"({"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."}]})"),
             post(
                 "generativelanguage.googleapis.com",
                 "/v1beta/models/gemini-2.5-pro:generateContent",
                 R"({"contents":[{"role":"user","parts":[{"text":"setup"},{"text":"Plan it"}]}]})")}) {
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
    auto column = [&](const std::string& sql) {
        std::vector<std::string> out;
        auto st = db->prepare(sql);
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
    const std::string firsts =
        "SELECT coalesce(first_message, 'NULL') FROM v_llm_conversations ORDER BY start_utc";
    const std::string prompts =
        "SELECT coalesce(opening_prompt, 'NULL') FROM llm_calls ORDER BY id";
    const std::vector<std::string> want_firsts = {"Fix the build", long_first, "Say hi", "NULL",
                                                  "Plan it"};
    EXPECT_EQ(column(firsts), want_firsts);
    const std::vector<std::string> stored = column(prompts);
    EXPECT_EQ(stored.size(), want_firsts.size());
    EXPECT_EQ(stored[1].size(), 1500u);  // 1,000 characters, 500 of them two bytes long
    EXPECT_EQ(column("SELECT length(opening_prompt) FROM llm_calls WHERE id = 2"),
              std::vector<std::string>{"1000"});
    const auto& all = schema_migrations();
    auto view_of = [&](int version) {
        auto it = std::find_if(all.begin(), all.end(),
                               [&](const Migration& m) { return m.version == version; });
        EXPECT_NE(it, all.end());
        return it == all.end() ? std::string() : std::string(it->sql);
    };
    for (int version : {9, 10}) {
        SCOPED_TRACE(version);
        // Back to `version`: its view (008's for 9, as 009 left it alone; 010's for
        // 10), and no opening_prompt column.
        ASSERT_TRUE(db->exec(view_of(version == 9 ? 8 : 10)));
        ASSERT_TRUE(db->exec("ALTER TABLE llm_calls DROP COLUMN opening_prompt"));
        ASSERT_TRUE(db->exec("PRAGMA user_version = " + std::to_string(version)));
        EXPECT_EQ(column(firsts)[0], version == 9 ? "# AGENTS.md for /w" : "Fix the build");
        auto v = migrate(*db);
        ASSERT_TRUE(v) << v.error().what();
        EXPECT_EQ(*v, schema_migrations().back().version);
        EXPECT_EQ(column(firsts), want_firsts);
        EXPECT_EQ(column(prompts), stored);
    }
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

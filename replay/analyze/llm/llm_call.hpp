// One call to an LLM API, rebuilt from its HTTP request and response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "connection_decoder.hpp"

namespace ct::analyze::llm {

struct ToolCall {
    std::string id;
    std::string name;
    std::string input_json;   // the arguments as compact JSON (members in the model's order)
    bool input_valid = true;  // false: they did not parse (input_json is input_raw then)
    std::string input_raw;    // the argument text exactly as the model produced it
};

struct Usage {
    std::optional<std::int64_t> input_tokens;
    std::optional<std::int64_t> output_tokens;
    std::optional<std::int64_t> cache_creation_input_tokens;
    std::optional<std::int64_t> cache_read_input_tokens;
    std::optional<std::int64_t> reasoning_tokens;
};

struct LlmCall {
    std::string provider;  // "anthropic", "openai", "google"
    // "messages", "chat.completions", "responses"; Gemini: "generateContent",
    // "streamGenerateContent", "countTokens"
    std::string api;
    // Request.
    std::string model;
    bool streamed = false;
    std::optional<std::int64_t> max_tokens;
    // Raw JSON spans into the request body (valid while the request lives): an
    // agent resends the whole conversation with every call, so the importer stores
    // each distinct message once instead of parsing and copying it every time.
    std::string_view system_json;            // system prompt / instructions as sent
    std::string_view tools_json;             // the tool list as sent
    std::vector<std::string_view> messages;  // each message (or input item) as sent
    std::int64_t message_count = 0;
    std::int64_t tool_count = 0;
    // Response.
    std::string response_model;
    std::string response_id;
    std::string stop_reason;
    Usage usage;
    std::string text;      // the answer's text blocks, joined
    std::string thinking;  // thinking / reasoning text
    std::vector<ToolCall> tool_calls;
    std::string content_json;  // the rebuilt content blocks / output items
    std::string error;         // an API error, or why the response could not be read
    std::optional<std::uint64_t> first_token_monotonic_ns;
    std::size_t events = 0;  // SSE events that made up the response
    // The stream's own end arrived ([DONE], message_stop, response.completed): the
    // answer is whole even if the HTTP framing after it was never read.
    bool stream_ended = false;
    // false for calls that only count tokens (Gemini countTokens): they belong to
    // no conversation, so their counts do not add to one.
    bool in_conversation = true;
};

// Plain text of a system prompt given as a JSON string or a list of text blocks.
std::string system_text(std::string_view system_json);

// What names the call's conversation (llm_calls.conversation_key hashes it): the
// messages of its opening user turn, each in canonical form (sorted keys,
// compact, `cache_control` markers removed, as clients move them from message to
// message). The opening user turn is the first user message and the user
// messages after it up to the first assistant, model or tool message, or
// Responses item other than a message; system and developer messages are passed
// over, so that the calls of one agent, which share a system prompt, are not one
// conversation. A user message is one with role "user", or with neither a role
// nor an item type (a plain string input, a Gemini content without a role), as
// in v_llm_conversations.first_message. Without a user message: the first
// message. Empty without messages and outside a conversation (countTokens).
std::vector<std::string> conversation_opening(const LlmCall& call);

// llm_calls.opening_prompt: the text of the last user message of the opening
// user turn (conversation_opening), the prompt after the setup messages some
// agents send as user messages first (Codex: AGENTS.md, <environment_context>).
// The text is the message's content string, or the text of its last text block
// (type "text" or "input_text"; agents put reminders first and the user's words
// last), or of a Gemini content's last part with text; a message that is a JSON
// string gives that string, and one that is not JSON, or has none of these, its
// own text. nullopt without a user message, or when the last text block or part
// chosen has no text. At most kOpeningPromptChars characters are kept (counted as
// SQLite's substr() counts them: a byte from 0xC0 up with the 0x80-0xBF bytes after
// it is one character, any other byte one), as every call of a conversation
// stores its own copy.
inline constexpr std::size_t kOpeningPromptChars = 1000;
std::optional<std::string> opening_prompt(const LlmCall& call);

// nullopt unless the request is an LLM API call this analyzer knows.
std::optional<LlmCall> decode_llm_call(const DecodedMessage& request,
                                       const DecodedMessage* response);

// Per-provider decoders (used by decode_llm_call).
void decode_anthropic_request(const DecodedMessage& request, LlmCall& call);
void decode_anthropic_response(const DecodedMessage& response, LlmCall& call);
void decode_openai_chat_request(const DecodedMessage& request, LlmCall& call);
void decode_openai_chat_response(const DecodedMessage& response, LlmCall& call);
void decode_openai_responses_request(const DecodedMessage& request, LlmCall& call);
void decode_openai_responses_response(const DecodedMessage& response, LlmCall& call);

// Gemini: the method and model a request path names ("/v1beta/models/M:generateContent",
// ".../publishers/google/models/M:streamGenerateContent", "/v1internal:countTokens").
struct GeminiPath {
    std::string_view method;  // generateContent, streamGenerateContent, countTokens
    std::string model;        // empty for Code Assist (/v1internal:...): it is in the body
    bool code_assist = false;
};
std::optional<GeminiPath> gemini_path(std::string_view path);
void decode_gemini_request(const DecodedMessage& request, LlmCall& call);
void decode_gemini_response(const DecodedMessage& response, LlmCall& call);

// Shared by the decoders: a tool call from the model's argument text (kept as is,
// and compacted when it parses).
ToolCall make_tool_call(std::string id, std::string name, std::string arguments);
// `object` (compact JSON text of an object) with an "input" member appended: the
// tool call's compact input, or its raw text as a JSON string when it did not parse.
std::string with_input_member(std::string object, const ToolCall& call);
std::string tool_calls_json(const std::vector<ToolCall>& calls);

}  // namespace ct::analyze::llm

// Exception-free access to JSON of unknown shape (API bodies are untrusted input).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ct::analyze::llm {

using Json = nlohmann::json;

// Parses without exceptions; a discarded value (is_discarded()) on bad input.
Json parse_json(std::string_view text);

const Json* member(const Json& object, std::string_view key);
std::string string_member(const Json& object, std::string_view key);
std::optional<std::int64_t> int_member(const Json& object, std::string_view key);
std::optional<bool> bool_member(const Json& object, std::string_view key);
// A small raw JSON value (from the scanner) as a string / integer, if it is one.
std::string json_string_value(std::string_view raw);
std::optional<std::int64_t> json_int_value(std::string_view raw);
// Compact JSON text; replaces invalid UTF-8 instead of throwing.
std::string dump(const Json& value);
// `valid_json` without the whitespace between tokens: members keep their order
// and strings their exact bytes (dump() of a parsed document sorts keys and
// re-escapes). Only for text that parse_json accepted.
std::string compact_json(std::string_view valid_json);
// The text of a message's content (or of a system prompt): a string, or the
// "text" of each of a list of parts that has one, a line each.
std::string content_text(const Json& content);

}  // namespace ct::analyze::llm

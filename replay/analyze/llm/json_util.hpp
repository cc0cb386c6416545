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
// Compact JSON text; replaces invalid UTF-8 instead of throwing.
std::string dump(const Json& value);

}  // namespace ct::analyze::llm

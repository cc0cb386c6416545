// A raw JSON scanner: finds the extent of values without building a document.
// LLM requests carry the whole conversation every time, so the analyzer reads
// their top-level fields and splits the message list as raw text, and parses
// only the small pieces it needs.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace ct::analyze::llm {

// End (exclusive) of the JSON value starting at or after `pos` (leading
// whitespace skipped), or nullopt when the text is malformed or cut.
std::optional<std::size_t> skip_value(std::string_view text, std::size_t pos);

// The members of a JSON object as (key without quotes, raw value) pairs; keys
// are compared raw (an escaped key is kept escaped). nullopt if not an object.
std::optional<std::vector<std::pair<std::string_view, std::string_view>>> object_members(
    std::string_view object);

// The raw elements of a JSON array; nullopt if not an array.
std::optional<std::vector<std::string_view>> array_elements(std::string_view array);

// The complete elements at the start of a JSON array, in order, up to the first
// element that is cut or malformed (a stream read so far, or damaged). `closed`:
// the array's closing bracket followed the last element.
std::vector<std::string_view> array_prefix_elements(std::string_view array, bool* closed = nullptr);

// False if brackets nest deeper than `limit` (outside strings). Parsed documents
// are later serialised recursively, so hostile nesting must not reach them.
bool nesting_within(std::string_view text, std::size_t limit);

// The raw value of `key` in an object, or empty.
std::string_view member_raw(std::string_view object, std::string_view key);

}  // namespace ct::analyze::llm

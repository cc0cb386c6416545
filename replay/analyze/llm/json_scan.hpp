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

// Walks the complete elements at the start of a JSON array, one at a time and
// without building a list of them (a hostile body can hold millions), up to the
// first element that is cut or malformed (a stream read so far, or damaged).
class ArrayScanner {
  public:
    explicit ArrayScanner(std::string_view text);
    // The next complete element; nullopt at the end of the array, at the end of
    // the text or at damage.
    std::optional<std::string_view> next();
    // The array's closing bracket followed the last element returned.
    bool closed() const { return closed_; }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
    bool done_ = false;
    bool closed_ = false;
};

// All of them (for small texts; tests).
std::vector<std::string_view> array_prefix_elements(std::string_view array, bool* closed = nullptr);

// False if brackets nest deeper than `limit` (outside strings). Parsed documents
// are later serialised recursively, so hostile nesting must not reach them.
bool nesting_within(std::string_view text, std::size_t limit);

// The raw value of `key` in an object, or empty.
std::string_view member_raw(std::string_view object, std::string_view key);

}  // namespace ct::analyze::llm

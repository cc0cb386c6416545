// How ct-replay decides which recorded exchange answers a request, and how it
// explains a request that matched none: request bodies are compared as JSON after
// the rules below drop what legitimately varies between two runs of an agent.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ct::replay::serve {

// A path pattern over a JSON document, dotted: "metadata.user_id". A segment "*"
// matches any one key or array index; "**" matches any number of segments
// (including none), so "**.cache_control" is that key at any depth.
struct IgnoreRule {
    std::string pattern;
    std::string why;
    // When set, only a matched value that is a string starting with it, or an
    // object whose "text" does, is dropped.
    std::string text_prefix;
};

// The default rules, the one place they are listed (README "Replay" repeats them).
const std::vector<IgnoreRule>& default_ignore_rules();

class Normalizer {
  public:
    explicit Normalizer(std::vector<IgnoreRule> rules = default_ignore_rules());
    void add_rule(IgnoreRule rule);
    const std::vector<IgnoreRule>& rules() const { return rules_; }

    // The body with ignored paths removed (JSON bodies), or nullopt when the body
    // is not JSON (it is then compared byte for byte).
    std::optional<nlohmann::json> normalize(std::string_view body) const;
    // Method, target (query included) and normalised body: equal keys match.
    std::string match_key(std::string_view method, std::string_view target,
                          std::string_view body) const;

  private:
    void strip(nlohmann::json& value, std::vector<std::string>& path) const;

    std::vector<IgnoreRule> rules_;
    std::vector<std::vector<std::string>> split_;
};

// One difference between a recorded request and the one received.
struct Difference {
    std::string path;      // "messages[2].content[0].content", "" for the whole body
    std::string recorded;  // short rendering, "(missing)" when absent
    std::string requested;
    std::string context;       // "turn 3, tool_result of Read" for LLM conversations, or ""
    std::string text() const;  // "path: 'recorded' -> 'requested'", then "  [context]"
};

// Fills Difference::context for paths into an LLM conversation (Anthropic and
// OpenAI "messages", OpenAI Responses "input"): which turn, and for a tool result
// which tool produced it, found through its tool_use / tool call id in `doc`.
void describe_turns(std::vector<Difference>& differences, const nlohmann::json& doc);

// Differences in document order; stops after `limit` (count_differences counts all, up to a cap).
std::vector<Difference> diff_json(const nlohmann::json& recorded, const nlohmann::json& requested,
                                  std::size_t limit = 3);
std::size_t count_differences(const nlohmann::json& recorded, const nlohmann::json& requested,
                              std::size_t cap = 100000);

// A JSON value shown in one line, strings in single quotes, cut to `max` characters.
std::string render_short(const nlohmann::json& value, std::size_t max = 80);

}  // namespace ct::replay::serve

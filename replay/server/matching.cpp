#include "server/matching.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

namespace ct::replay::serve {
namespace {

using nlohmann::json;

std::vector<std::string> split_pattern(std::string_view pattern) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : pattern) {
        if (c == '.') {
            out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(std::move(cur));
    return out;
}

bool match_segments(const std::vector<std::string>& pat, std::size_t pi,
                    const std::vector<std::string>& path, std::size_t si) {
    if (pi == pat.size())
        return si == path.size();
    if (pat[pi] == "**") {
        for (std::size_t k = si; k <= path.size(); ++k)
            if (match_segments(pat, pi + 1, path, k))
                return true;
        return false;
    }
    if (si == path.size())
        return false;
    return (pat[pi] == "*" || pat[pi] == path[si]) && match_segments(pat, pi + 1, path, si + 1);
}

bool has_prefix(const json& value, const std::string& prefix) {
    const json* text = &value;
    if (value.is_object()) {
        auto it = value.find("text");
        if (it == value.end())
            return false;
        text = &*it;
    }
    return text->is_string() && text->get_ref<const std::string&>().starts_with(prefix);
}

constexpr std::size_t kShort = 80;

// Up to kShort characters of `s` around offset `at`, quoted, "..." where cut.
// s[from, from + len) widened or narrowed so that no UTF-8 sequence is cut.
std::string utf8_substr(const std::string& s, std::size_t from, std::size_t len) {
    auto continuation = [&](std::size_t i) {
        return i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
    };
    from = std::min(from, s.size());
    while (from > 0 && continuation(from))
        --from;
    std::size_t end = std::min(s.size(), from + len);
    while (end > from && continuation(end))
        --end;
    return s.substr(from, end - from);
}

std::string excerpt(const std::string& s, std::size_t at) {
    const std::size_t from = at > 30 ? at - 30 : 0;
    std::string out = from ? "'..." : "'";
    const std::string piece = utf8_substr(s, from, kShort - 10);
    out += piece;
    out += from + piece.size() < s.size() ? "...'" : "'";
    for (char& c : out)
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
    return out;
}

std::string join_path(const std::string& base, const std::string& key) {
    return base.empty() ? key : base + "." + key;
}

void diff_into(const json& a, const json& b, const std::string& path, std::vector<Difference>* out,
               std::size_t limit, std::size_t& count, std::size_t cap) {
    if (count >= cap || (out && out->size() >= limit))
        return;
    auto add = [&](std::string p, std::string ra, std::string rb) {
        ++count;
        if (out && out->size() < limit)
            out->push_back({std::move(p), std::move(ra), std::move(rb), ""});
    };
    if (a.is_object() && b.is_object()) {
        // Keys of the recorded body (sorted), then keys only the request has.
        for (auto it = a.begin(); it != a.end(); ++it) {
            auto jt = b.find(it.key());
            if (jt == b.end())
                add(join_path(path, it.key()), render_short(*it), "(missing)");
            else
                diff_into(*it, *jt, join_path(path, it.key()), out, limit, count, cap);
        }
        for (auto jt = b.begin(); jt != b.end(); ++jt)
            if (!a.contains(jt.key()))
                add(join_path(path, jt.key()), "(missing)", render_short(*jt));
        return;
    }
    if (a.is_array() && b.is_array()) {
        const std::size_t n = std::min(a.size(), b.size());
        for (std::size_t i = 0; i < n; ++i)
            diff_into(a[i], b[i], path + "[" + std::to_string(i) + "]", out, limit, count, cap);
        for (std::size_t i = n; i < a.size(); ++i)
            add(path + "[" + std::to_string(i) + "]", render_short(a[i]), "(missing)");
        for (std::size_t i = n; i < b.size(); ++i)
            add(path + "[" + std::to_string(i) + "]", "(missing)", render_short(b[i]));
        return;
    }
    if (a == b)
        return;
    if (a.is_string() && b.is_string()) {
        // Long strings differ somewhere inside: show both around the first difference.
        const auto& sa = a.get_ref<const std::string&>();
        const auto& sb = b.get_ref<const std::string&>();
        std::size_t at = 0;
        while (at < sa.size() && at < sb.size() && sa[at] == sb[at])
            ++at;
        if (sa.size() > kShort || sb.size() > kShort) {
            add(fmt::format("{} (at byte {})", path, at), excerpt(sa, at), excerpt(sb, at));
            return;
        }
    }
    add(path, render_short(a), render_short(b));
}

}  // namespace

const std::vector<IgnoreRule>& default_ignore_rules() {
    static const std::vector<IgnoreRule> rules = {
        {"**.cache_control", "prompt-cache markers move from turn to turn", ""},
        {"metadata.user_id", "per-install and per-session id (Claude Code)", ""},
        {"prompt_cache_key", "OpenAI prompt-cache routing key", ""},
        {"user", "OpenAI end-user id", ""},
        {"system.*", "Claude Code's billing header block (version and entry point)",
         "x-anthropic-billing-header:"},
        {"**.timestamp", "timestamps", ""},
        {"**.created_at", "timestamps", ""},
    };
    return rules;
}

Normalizer::Normalizer(std::vector<IgnoreRule> rules) {
    for (auto& r : rules)
        add_rule(std::move(r));
}

void Normalizer::add_rule(IgnoreRule rule) {
    split_.push_back(split_pattern(rule.pattern));
    rules_.push_back(std::move(rule));
}

void Normalizer::strip(json& value, std::vector<std::string>& path) const {
    auto drop = [&](const json& child) {
        for (std::size_t r = 0; r < rules_.size(); ++r) {
            if (!match_segments(split_[r], 0, path, 0))
                continue;
            if (rules_[r].text_prefix.empty() || has_prefix(child, rules_[r].text_prefix))
                return true;
        }
        return false;
    };
    if (value.is_object()) {
        for (auto it = value.begin(); it != value.end();) {
            path.push_back(it.key());
            const bool had_members = it->is_object() && !it->empty();
            if (drop(*it)) {
                it = value.erase(it);
                path.pop_back();
                continue;
            }
            strip(*it, path);
            // An object left empty by the rules ({"metadata":{"user_id":...}}) is as if absent.
            if (had_members && it->empty())
                it = value.erase(it);
            else
                ++it;
            path.pop_back();
        }
    } else if (value.is_array()) {
        json kept = json::array();
        for (std::size_t i = 0; i < value.size(); ++i) {
            // Array elements match by their index or "*"; a dropped element closes up.
            path.push_back(std::to_string(i));
            if (!drop(value[i])) {
                strip(value[i], path);
                kept.push_back(std::move(value[i]));
            }
            path.pop_back();
        }
        value = std::move(kept);
    }
}

std::optional<json> Normalizer::normalize(std::string_view body) const {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded())
        return std::nullopt;
    std::vector<std::string> path;
    strip(doc, path);
    return doc;
}

std::string Normalizer::match_key(std::string_view method, std::string_view target,
                                  std::string_view body) const {
    std::string key;
    key.append(method).append(" ").append(target).append("\n");
    if (auto doc = normalize(body))
        key += "json:" + doc->dump();  // object keys sort: key order does not matter
    else
        key.append("raw:").append(body);
    return key;
}

std::string Difference::text() const {
    std::string out =
        (path.empty() ? std::string("body") : path) + ": " + recorded + " -> " + requested;
    if (!context.empty())
        out += "  [" + context + "]";
    return out;
}

namespace {

// The name of the tool whose call has this id, searched in every message.
std::string tool_name(const json& turns, const std::string& id) {
    for (const auto& m : turns) {
        if (!m.is_object())
            continue;
        if (m.value("type", "") == "function_call" && m.value("call_id", "") == id)
            return m.value("name", "");  // Responses API input item
        auto content = m.find("content");
        if (content != m.end() && content->is_array())
            for (const auto& block : *content)
                if (block.is_object() && block.value("type", "") == "tool_use" &&
                    block.value("id", "") == id)
                    return block.value("name", "");
        auto calls = m.find("tool_calls");
        if (calls != m.end() && calls->is_array())
            for (const auto& call : *calls)
                if (call.is_object() && call.value("id", "") == id && call.contains("function") &&
                    call["function"].is_object())
                    return call["function"].value("name", "");
    }
    return "";
}

// "<key>[<n>]" at the start of `path`: n, and the rest of the path.
std::optional<std::size_t> leading_index(std::string_view path, std::string_view key,
                                         std::string_view& rest) {
    if (!path.starts_with(key) || path.size() <= key.size() || path[key.size()] != '[')
        return std::nullopt;
    std::size_t i = key.size() + 1, n = 0;
    bool digits = false;
    while (i < path.size() && path[i] >= '0' && path[i] <= '9') {
        n = n * 10 + static_cast<std::size_t>(path[i] - '0');
        ++i;
        digits = true;
    }
    if (!digits || i >= path.size() || path[i] != ']')
        return std::nullopt;
    rest = path.substr(i + 1);
    return n;
}

}  // namespace

void describe_turns(std::vector<Difference>& differences, const json& doc) {
    if (!doc.is_object())
        return;
    for (auto& d : differences) {
        for (std::string_view key : {"messages", "input", "contents"}) {
            std::string_view rest;
            auto turn = leading_index(d.path, key, rest);
            auto list = doc.find(std::string(key));
            if (!turn || list == doc.end() || !list->is_array())
                continue;
            d.context = fmt::format("turn {}", *turn + 1);
            if (*turn >= list->size() || !(*list)[*turn].is_object())
                break;
            const json& m = (*list)[*turn];
            std::string id;
            if (m.value("role", "") == "tool")
                id = m.value("tool_call_id", "");  // OpenAI chat
            else if (m.value("type", "") == "function_call_output")
                id = m.value("call_id", "");  // OpenAI Responses
            std::string_view block_rest;
            auto block = leading_index(rest, ".content", block_rest);
            auto content = m.find("content");
            if (block && content != m.end() && content->is_array() && *block < content->size() &&
                (*content)[*block].is_object() &&
                (*content)[*block].value("type", "") == "tool_result")
                id = (*content)[*block].value("tool_use_id", "");
            // Gemini: a functionResponse part names its function (its id is often absent).
            std::string_view part_rest;
            auto part = leading_index(rest, ".parts", part_rest);
            auto parts = m.find("parts");
            std::string gemini_tool;
            if (part && parts != m.end() && parts->is_array() && *part < parts->size() &&
                (*parts)[*part].is_object()) {
                auto fr = (*parts)[*part].find("functionResponse");
                if (fr != (*parts)[*part].end() && fr->is_object())
                    gemini_tool = fr->value("name", "");
            }
            if (!gemini_tool.empty()) {
                d.context += ", tool result of " + gemini_tool;
            } else if (!id.empty()) {
                const std::string name = tool_name(*list, id);
                d.context += ", tool result of " + (name.empty() ? id : name);
            } else if (m.contains("role") && m["role"].is_string()) {
                d.context += ", " + m["role"].get<std::string>();
            }
            break;
        }
    }
}

std::vector<Difference> diff_json(const json& recorded, const json& requested, std::size_t limit) {
    std::vector<Difference> out;
    std::size_t count = 0;
    diff_into(recorded, requested, "", &out, limit, count, limit);
    return out;
}

std::size_t count_differences(const json& recorded, const json& requested, std::size_t cap) {
    std::size_t count = 0;
    diff_into(recorded, requested, "", nullptr, 0, count, cap);
    return count;
}

std::string render_short(const json& value, std::size_t max) {
    std::string s;
    if (value.is_string())
        s = "'" + value.get<std::string>() + "'";
    else
        s = value.dump();
    for (char& c : s)
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
    if (s.size() > max)
        s = utf8_substr(s, 0, max) + "...";
    return s;
}

}  // namespace ct::replay::serve

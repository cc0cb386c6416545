#include "llm/json_scan.hpp"

#include <cstring>

namespace ct::analyze::llm {
namespace {

constexpr std::size_t kMaxDepth = 512;

std::size_t skip_ws(std::string_view s, std::size_t pos) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t'))
        ++pos;
    return pos;
}

// pos at the opening quote; returns the index after the closing quote.
std::optional<std::size_t> skip_string(std::string_view s, std::size_t pos) {
    ++pos;
    while (pos < s.size()) {
        const void* hit = std::memchr(s.data() + pos, '"', s.size() - pos);
        if (!hit)
            return std::nullopt;
        std::size_t quote = static_cast<std::size_t>(static_cast<const char*>(hit) - s.data());
        // The quote is escaped if an odd number of backslashes precede it.
        std::size_t backslashes = 0;
        while (quote - backslashes > pos && s[quote - backslashes - 1] == '\\')
            ++backslashes;
        if (backslashes % 2 == 0)
            return quote + 1;
        pos = quote + 1;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::size_t> skip_value(std::string_view s, std::size_t pos) {
    pos = skip_ws(s, pos);
    if (pos >= s.size())
        return std::nullopt;
    char c = s[pos];
    if (c == '"')
        return skip_string(s, pos);
    if (c != '{' && c != '[') {
        // Scalar: number, true, false, null.
        std::size_t end = pos;
        while (end < s.size() && std::strchr(",}] \n\r\t", s[end]) == nullptr)
            ++end;
        return end > pos ? std::optional<std::size_t>(end) : std::nullopt;
    }
    // Containers: track nesting, skipping strings whole.
    std::size_t depth = 0;
    while (pos < s.size()) {
        char ch = s[pos];
        if (ch == '"') {
            auto end = skip_string(s, pos);
            if (!end)
                return std::nullopt;
            pos = *end;
            continue;
        }
        if (ch == '{' || ch == '[') {
            if (++depth > kMaxDepth)
                return std::nullopt;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return std::nullopt;
            if (--depth == 0)
                return pos + 1;
        }
        ++pos;
    }
    return std::nullopt;
}

std::optional<std::vector<std::pair<std::string_view, std::string_view>>> object_members(
    std::string_view s) {
    std::size_t pos = skip_ws(s, 0);
    if (pos >= s.size() || s[pos] != '{')
        return std::nullopt;
    std::vector<std::pair<std::string_view, std::string_view>> out;
    pos = skip_ws(s, pos + 1);
    if (pos < s.size() && s[pos] == '}')
        return out;
    while (pos < s.size()) {
        if (s[pos] != '"')
            return std::nullopt;
        auto key_end = skip_string(s, pos);
        if (!key_end)
            return std::nullopt;
        std::string_view key = s.substr(pos + 1, *key_end - pos - 2);
        pos = skip_ws(s, *key_end);
        if (pos >= s.size() || s[pos] != ':')
            return std::nullopt;
        std::size_t value_start = skip_ws(s, pos + 1);
        auto value_end = skip_value(s, value_start);
        if (!value_end)
            return std::nullopt;
        out.emplace_back(key, s.substr(value_start, *value_end - value_start));
        pos = skip_ws(s, *value_end);
        if (pos < s.size() && s[pos] == ',') {
            pos = skip_ws(s, pos + 1);
            continue;
        }
        if (pos < s.size() && s[pos] == '}')
            return out;
        return std::nullopt;
    }
    return std::nullopt;
}

std::optional<std::vector<std::string_view>> array_elements(std::string_view s) {
    std::size_t pos = skip_ws(s, 0);
    if (pos >= s.size() || s[pos] != '[')
        return std::nullopt;
    std::vector<std::string_view> out;
    pos = skip_ws(s, pos + 1);
    if (pos < s.size() && s[pos] == ']')
        return out;
    while (pos < s.size()) {
        auto end = skip_value(s, pos);
        if (!end)
            return std::nullopt;
        out.push_back(s.substr(pos, *end - pos));
        pos = skip_ws(s, *end);
        if (pos < s.size() && s[pos] == ',') {
            pos = skip_ws(s, pos + 1);
            continue;
        }
        if (pos < s.size() && s[pos] == ']')
            return out;
        return std::nullopt;
    }
    return std::nullopt;
}

ArrayScanner::ArrayScanner(std::string_view text) : text_(text) {
    pos_ = skip_ws(text_, 0);
    if (pos_ >= text_.size() || text_[pos_] != '[') {
        done_ = true;
        return;
    }
    pos_ = skip_ws(text_, pos_ + 1);
    if (pos_ < text_.size() && text_[pos_] == ']') {
        done_ = true;
        closed_ = true;
    }
}

std::optional<std::string_view> ArrayScanner::next() {
    if (done_ || pos_ >= text_.size()) {
        done_ = true;
        return std::nullopt;
    }
    const std::size_t start = pos_;
    auto end = skip_value(text_, start);
    done_ = true;  // unless a ',' follows
    if (!end)
        return std::nullopt;
    std::string_view element = text_.substr(start, *end - start);
    const std::size_t next = skip_ws(text_, *end);
    if (next >= text_.size()) {
        // A value must be followed by ',' or ']': a scalar cut at the end of the
        // text is not known to be whole, a container or string is.
        const char c = text_[start];
        return c == '{' || c == '[' || c == '"' ? std::optional(element) : std::nullopt;
    }
    if (text_[next] == ']') {
        closed_ = true;
        return element;
    }
    if (text_[next] != ',')
        return std::nullopt;
    pos_ = skip_ws(text_, next + 1);
    done_ = false;
    return element;
}

std::vector<std::string_view> array_prefix_elements(std::string_view s, bool* closed) {
    std::vector<std::string_view> out;
    ArrayScanner scanner(s);
    while (auto element = scanner.next())
        out.push_back(*element);
    if (closed)
        *closed = scanner.closed();
    return out;
}

bool nesting_within(std::string_view s, std::size_t limit) {
    std::size_t depth = 0;
    for (std::size_t pos = 0; pos < s.size(); ++pos) {
        char c = s[pos];
        if (c == '"') {
            auto end = skip_string(s, pos);
            if (!end)
                return true;  // unterminated: the parser will reject it
            pos = *end - 1;
        } else if (c == '{' || c == '[') {
            if (++depth > limit)
                return false;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return true;
}

std::string_view member_raw(std::string_view object, std::string_view key) {
    auto members = object_members(object);
    if (!members)
        return {};
    for (const auto& [k, v] : *members) {
        if (k == key)
            return v;
    }
    return {};
}

}  // namespace ct::analyze::llm

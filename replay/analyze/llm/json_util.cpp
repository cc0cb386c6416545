#include "llm/json_util.hpp"

#include "llm/json_scan.hpp"

namespace ct::analyze::llm {

Json parse_json(std::string_view text) {
    // Deeper documents would overflow the stack when serialised again.
    constexpr std::size_t kMaxNesting = 256;
    if (!nesting_within(text, kMaxNesting))
        return Json(Json::value_t::discarded);
    return Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

const Json* member(const Json& object, std::string_view key) {
    if (!object.is_object())
        return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

std::string string_member(const Json& object, std::string_view key) {
    const Json* v = member(object, key);
    return v && v->is_string() ? v->get_ref<const std::string&>() : std::string{};
}

std::optional<std::int64_t> int_member(const Json& object, std::string_view key) {
    const Json* v = member(object, key);
    if (!v)
        return std::nullopt;
    if (v->is_number_integer())
        return v->get<std::int64_t>();
    if (v->is_number_unsigned())
        return static_cast<std::int64_t>(v->get<std::uint64_t>());
    return std::nullopt;
}

std::optional<bool> bool_member(const Json& object, std::string_view key) {
    const Json* v = member(object, key);
    if (!v || !v->is_boolean())
        return std::nullopt;
    return v->get<bool>();
}

std::string json_string_value(std::string_view raw) {
    if (raw.size() < 2 || raw.front() != '"')
        return {};
    // Most values need no unescaping.
    std::string_view inner = raw.substr(1, raw.size() - 2);
    if (inner.find('\\') == std::string_view::npos)
        return std::string(inner);
    Json j = parse_json(raw);
    return j.is_string() ? j.get<std::string>() : std::string{};
}

std::optional<std::int64_t> json_int_value(std::string_view raw) {
    if (raw.empty() || raw.size() > 19)
        return std::nullopt;
    std::int64_t v = 0;
    bool negative = raw.front() == '-';
    std::size_t i = negative ? 1 : 0;
    if (i >= raw.size())
        return std::nullopt;
    for (; i < raw.size(); ++i) {
        if (raw[i] < '0' || raw[i] > '9')
            return std::nullopt;
        // 19 digits can exceed int64 (9999999999999999999): no overflow, no value.
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, raw[i] - '0', &v))
            return std::nullopt;
    }
    return negative ? -v : v;
}

std::string dump(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string compact_json(std::string_view valid_json) {
    std::string out;
    out.reserve(valid_json.size());
    bool in_string = false;
    for (std::size_t i = 0; i < valid_json.size(); ++i) {
        char c = valid_json[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < valid_json.size()) {
                out += valid_json[++i];
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
            out += c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out += c;
        }
    }
    return out;
}

std::string content_text(const Json& content) {
    if (content.is_string())
        return content.get<std::string>();
    std::string out;
    if (content.is_array()) {
        for (const auto& part : content) {
            std::string text = string_member(part, "text");
            if (text.empty())
                continue;
            if (!out.empty())
                out += "\n";
            out += text;
        }
    }
    return out;
}

}  // namespace ct::analyze::llm

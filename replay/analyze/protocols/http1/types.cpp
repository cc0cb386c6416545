#include "protocols/http1/types.hpp"

#include <cctype>

namespace ct::analyze::http1 {

const char* framing_name(BodyFraming framing) {
    switch (framing) {
        case BodyFraming::None:
            return "none";
        case BodyFraming::ContentLength:
            return "content-length";
        case BodyFraming::Chunked:
            return "chunked";
        case BodyFraming::UntilClose:
            return "until-close";
        case BodyFraming::Tunnel:
            return "tunnel";
        case BodyFraming::Http2:
            return "http2";
    }
    return "?";
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

const Header* Message::find(std::string_view name) const {
    for (const auto& h : headers) {
        if (iequals(h.name, name))
            return &h;
    }
    return nullptr;
}

std::string_view Message::value_of(std::string_view name) const {
    const Header* h = find(name);
    return h ? std::string_view(h->value) : std::string_view();
}

bool Message::has_token(std::string_view name, std::string_view token) const {
    for (const auto& h : headers) {
        if (!iequals(h.name, name))
            continue;
        std::string_view v = h.value;
        while (!v.empty()) {
            std::size_t comma = v.find(',');
            std::string_view item = v.substr(0, comma);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
                item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
                item.remove_suffix(1);
            if (iequals(item, token))
                return true;
            if (comma == std::string_view::npos)
                break;
            v.remove_prefix(comma + 1);
        }
    }
    return false;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace ct::analyze::http1

#include "export/export_util.hpp"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <cctype>
#include <ctime>

namespace ct::analyze::exports {

// Bytes that may stand in a URI as they are (RFC 3986 unreserved and reserved);
// every other byte is percent-encoded, and so is a '%' that starts no escape.
std::string uri_safe(std::string_view s) {
    static constexpr std::string_view kAllowed = "-._~:/?#[]@!$&'()*+,;=";
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        bool escape_start = c == '%' && i + 2 < s.size() &&
                            std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                            std::isxdigit(static_cast<unsigned char>(s[i + 2]));
        if (std::isalnum(c) || kAllowed.find(static_cast<char>(c)) != std::string_view::npos ||
            escape_start) {
            out += static_cast<char>(c);
        } else {
            static constexpr char kDigits[] = "0123456789ABCDEF";
            out += '%';
            out += kDigits[c >> 4];
            out += kDigits[c & 15];
        }
    }
    return out;
}

std::string url_of(const std::string& method, const std::string& target,
                   const std::string& authority) {
    if (target.starts_with("http://") || target.starts_with("https://"))
        return uri_safe(target);
    if (method == "CONNECT")
        return "https://" + uri_safe(target) + "/";
    std::string path = target.starts_with("/") ? target : "/" + target;
    return "https://" + uri_safe(authority) + uri_safe(path);
}

std::string iso8601(std::int64_t unix_ns) {
    std::int64_t seconds = unix_ns / 1'000'000'000;
    std::int64_t frac = unix_ns % 1'000'000'000;
    if (frac < 0) {
        frac += 1'000'000'000;
        --seconds;
    }
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
}

std::string base64(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto at = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
    };
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
        for (int shift : {18, 12, 6, 0})
            out += kAlphabet[(v >> shift) & 63];
    }
    if (std::size_t rest = bytes.size() - i; rest > 0) {
        std::uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        std::uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (std::size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (cc & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

std::array<std::uint8_t, 32> sha256(std::string_view bytes) {
    std::array<std::uint8_t, 32> out{};
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data());
    return out;
}

std::string hex(const std::uint8_t* bytes, std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out += kDigits[bytes[i] >> 4];
        out += kDigits[bytes[i] & 15];
    }
    return out;
}

std::optional<std::int64_t> opt_int(const sqlite::Statement& st, int i) {
    if (st.column_is_null(i))
        return std::nullopt;
    return st.column_int64(i);
}

std::string text(const sqlite::Statement& st, int i) {
    return st.column_is_null(i) ? std::string() : std::string(st.column_text(i));
}

}  // namespace ct::analyze::exports

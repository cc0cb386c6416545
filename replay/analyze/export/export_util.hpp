// Small helpers shared by the HAR and OTLP exports.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sqlite/statement.hpp"

namespace ct::analyze::exports {

// UTC Unix nanoseconds as ISO 8601 with microseconds: 2026-11-30T02:33:51.123456Z.
std::string iso8601(std::int64_t unix_ns);
// Standard base64 with padding.
std::string base64(std::string_view bytes);
// True if `bytes` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view bytes);
std::array<std::uint8_t, 32> sha256(std::string_view bytes);
// Percent-encodes every byte that may not stand in a URI (RFC 3986).
std::string uri_safe(std::string_view s);
// The URL of a request as sent over TLS: its target if absolute, else
// https://authority + target.
std::string url_of(const std::string& method, const std::string& target,
                   const std::string& authority);

// The SQL of a request's authority: its Host / :authority, else the connection's
// first Host, else the peer address (for http_requests q JOIN connections n).
inline constexpr const char* kAuthoritySql =
    "coalesce(q.host, n.host, CASE WHEN n.remote_addr IS NOT NULL THEN"
    " (CASE WHEN instr(n.remote_addr, ':') THEN '[' || n.remote_addr || ']' ELSE n.remote_addr"
    " END) || ':' || n.remote_port END, 'unknown-host')";

// Lower-case hex.
std::string hex(const std::uint8_t* bytes, std::size_t n);

// Column i of the current row: NULL as nullopt / as "".
std::optional<std::int64_t> opt_int(const sqlite::Statement& st, int i);
std::string text(const sqlite::Statement& st, int i);

}  // namespace ct::analyze::exports

#include "export/har.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "ct/version.hpp"
#include "export/export_util.hpp"

namespace ct::analyze::exports {
namespace {

using Json = nlohmann::ordered_json;

bool equals_ci(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// The stored [[name, value], ...] as pairs; anything else gives none.
std::vector<std::pair<std::string, std::string>> header_pairs(const std::string& stored) {
    std::vector<std::pair<std::string, std::string>> out;
    auto parsed = nlohmann::json::parse(stored, nullptr, false);
    if (!parsed.is_array())
        return out;
    for (const auto& pair : parsed) {
        if (pair.is_array() && pair.size() == 2 && pair[0].is_string() && pair[1].is_string())
            out.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
    return out;
}

std::string form_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() &&
                   std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return valid_utf8(out) ? out : std::string(s);
}

Json query_string(std::string_view url) {
    Json out = Json::array();
    auto q = url.find('?');
    if (q == std::string_view::npos)
        return out;
    std::string_view query = url.substr(q + 1);
    if (auto hash = query.find('#'); hash != std::string_view::npos)
        query = query.substr(0, hash);
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty())
            continue;
        auto eq = part.find('=');
        out.push_back({{"name", form_decode(part.substr(0, eq))},
                       {"value", eq == std::string_view::npos ? std::string()
                                                              : form_decode(part.substr(eq + 1))}});
    }
    return out;
}

Json headers_json(const std::vector<std::pair<std::string, std::string>>& headers) {
    Json out = Json::array();
    for (const auto& [name, value] : headers)
        out.push_back({{"name", name}, {"value", value}});
    return out;
}

Json request_cookies(const std::vector<std::pair<std::string, std::string>>& headers) {
    Json out = Json::array();
    for (const auto& [name, value] : headers) {
        if (!equals_ci(name, "cookie"))
            continue;
        std::string_view rest = value;
        while (!rest.empty()) {
            auto semi = rest.find(';');
            std::string_view part = trim(rest.substr(0, semi));
            rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            if (part.empty())
                continue;
            auto eq = part.find('=');
            out.push_back(
                {{"name", std::string(trim(part.substr(0, eq)))},
                 {"value", eq == std::string_view::npos ? std::string()
                                                        : std::string(trim(part.substr(eq + 1)))}});
        }
    }
    return out;
}

Json response_cookies(const std::vector<std::pair<std::string, std::string>>& headers) {
    Json out = Json::array();
    for (const auto& [name, value] : headers) {
        if (!equals_ci(name, "set-cookie"))
            continue;
        std::string_view rest = value;
        auto semi = rest.find(';');
        std::string_view first = trim(rest.substr(0, semi));
        auto eq = first.find('=');
        Json cookie = {
            {"name", std::string(trim(first.substr(0, eq)))},
            {"value", eq == std::string_view::npos ? std::string()
                                                   : std::string(trim(first.substr(eq + 1)))}};
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
        while (!rest.empty()) {
            semi = rest.find(';');
            std::string_view attr = trim(rest.substr(0, semi));
            rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            auto aeq = attr.find('=');
            std::string_view key = trim(attr.substr(0, aeq));
            std::string_view val =
                aeq == std::string_view::npos ? std::string_view() : trim(attr.substr(aeq + 1));
            if (equals_ci(key, "path")) {
                cookie["path"] = std::string(val);
            } else if (equals_ci(key, "domain")) {
                cookie["domain"] = std::string(val);
            } else if (equals_ci(key, "httponly")) {
                cookie["httpOnly"] = true;
            } else if (equals_ci(key, "secure")) {
                cookie["secure"] = true;
            }
        }
        out.push_back(std::move(cookie));
    }
    return out;
}

std::string header_value(const std::vector<std::pair<std::string, std::string>>& headers,
                         std::string_view name) {
    for (const auto& [n, v] : headers)
        if (equals_ci(n, name))
            return v;
    return {};
}

// A body as HAR text: itself when it is UTF-8, else base64 (with encoding set).
void put_body(Json& object, std::string_view body) {
    if (valid_utf8(body)) {
        object["text"] = std::string(body);
    } else {
        object["text"] = base64(body);
        object["encoding"] = "base64";
    }
}

bool ip_address(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string incomplete(const char* what, std::int64_t gap_bytes) {
    return gap_bytes > 0 ? std::string(what) + " incomplete: " + std::to_string(gap_bytes) +
                               " bytes not captured"
                         : std::string(what) + " incomplete: cut by the end of the capture";
}

double ms(std::int64_t ns) {
    return static_cast<double>(ns) / 1e6;
}

std::string entries_sql() {
    return std::string(
               "SELECT q.id, q.connection_id, q.start_ns, q.end_ns, q.method, q.target,"
               " q.http_version, ") +
           kAuthoritySql +
           ","
           " q.headers, q.content_type, q.body, q.encoded_size, q.decode_error, q.complete, "
           "q.gap_bytes, n.remote_addr,"
           " r.id, r.start_ns, r.end_ns, r.status, r.reason, r.http_version, r.headers, "
           "r.content_type,"
           " r.body, r.encoded_size, r.decode_error, r.complete, r.gap_bytes, r.content_encoding,"
           " q.body_prefix_id, q.body_suffix_id"
           " FROM http_requests q JOIN connections n ON n.id = q.connection_id"
           " LEFT JOIN http_responses r ON r.id = (SELECT x.id FROM http_responses x WHERE"
           "  x.request_id = q.id AND x.interim = 0 ORDER BY x.id LIMIT 1)"
           " WHERE q.capture_id = ?1 AND " +
           kRequestInScope + " ORDER BY coalesce(q.start_ns, r.start_ns), q.id";
}

// Request bodies byte-exact, as the http_request_bodies view gives them: an LLM
// request stored by parts is its prefix, each message after its separator, and
// its suffix. Put together here through the primary keys (the view's plan scans
// every message of the database for each request).
class RequestBodies {
  public:
    static Expected<RequestBodies> create(sqlite::Database& db) {
        RequestBodies b;
        auto calls = db.prepare("SELECT request_id, id FROM llm_calls WHERE capture_id = ?1");
        auto blob = db.prepare("SELECT text FROM llm_blobs WHERE id = ?1");
        auto messages = db.prepare(
            "SELECT m.sep, b.text FROM llm_call_messages m JOIN llm_blobs b ON b.id = m.blob_id"
            " WHERE m.llm_call_id = ?1 ORDER BY m.idx");
        for (auto* st : {&calls, &blob, &messages})
            if (!*st)
                return std::unexpected(st->error());
        b.calls_ = std::move(*calls);
        b.blob_ = std::move(*blob);
        b.messages_ = std::move(*messages);
        return b;
    }

    Expected<void> start_capture(std::int64_t capture_id) {
        call_of_request_.clear();
        calls_.bind(1, capture_id);
        if (auto done = calls_.each_row([&]() {
                call_of_request_.emplace(calls_.column_int64(0), calls_.column_int64(1));
            });
            !done)
            return std::unexpected(done.error());
        return {};
    }

    // The body of the current row of the entries statement `s`.
    Expected<std::string> body(const sqlite::Statement& s, int body_col, int prefix_col,
                               int suffix_col, std::int64_t request_id) {
        if (s.column_is_null(prefix_col))
            return std::string(s.column_is_null(body_col) ? "" : s.column_text(body_col));
        auto out = blob_text(s.column_int64(prefix_col));
        if (!out)
            return out;
        if (auto call = call_of_request_.find(request_id); call != call_of_request_.end()) {
            messages_.bind(1, call->second);
            if (auto done = messages_.each_row([&] {
                    if (!messages_.column_is_null(0))
                        *out += messages_.column_text(0);
                    *out += messages_.column_text(1);
                });
                !done)
                return std::unexpected(done.error());
        }
        if (!s.column_is_null(suffix_col)) {
            auto suffix = blob_text(s.column_int64(suffix_col));
            if (!suffix)
                return suffix;
            *out += *suffix;
        }
        return out;
    }

  private:
    Expected<std::string> blob_text(std::int64_t id) {
        blob_.bind(1, id);
        auto row = blob_.step();
        std::string text = row && *row ? std::string(blob_.column_text(0)) : std::string();
        blob_.reset();
        if (!row)
            return std::unexpected(row.error());
        return text;
    }

    sqlite::Statement calls_, blob_, messages_;
    std::map<std::int64_t, std::int64_t> call_of_request_;
};

}  // namespace

Expected<HarDocument> build_har(sqlite::Database& db, const ExportScope& scope) {
    Json entries = Json::array();
    std::string captures_comment;
    auto st = db.prepare(entries_sql());
    if (!st)
        return std::unexpected(st.error());
    auto uuid_st = db.prepare("SELECT uuid FROM captures WHERE id = ?1");
    if (!uuid_st)
        return std::unexpected(uuid_st.error());
    auto bodies = RequestBodies::create(db);
    if (!bodies)
        return std::unexpected(bodies.error());
    for (auto capture_id : scope.capture_ids) {
        uuid_st->bind(1, capture_id);
        std::string uuid;
        if (auto row = uuid_st->step(); row && *row)
            uuid = text(*uuid_st, 0);
        uuid_st->reset();
        captures_comment += (captures_comment.empty() ? "" : ", ") + uuid;

        if (auto started = bodies->start_capture(capture_id); !started)
            return std::unexpected(started.error());
        st->bind(1, capture_id);
        st->bind(2, scope.conversation);
        if (auto done = st->each_row([&]() -> Expected<void> {
                const auto& s = *st;
                const std::int64_t request_id = s.column_int64(0);
                const auto q_start = opt_int(s, 2), q_end = opt_int(s, 3);
                const std::string method = text(s, 4);
                const std::string url = url_of(method, text(s, 5), text(s, 7));
                const auto q_headers = header_pairs(text(s, 8));
                const std::string q_type = text(s, 9);
                auto q_body = bodies->body(s, 10, 30, 31, request_id);
                if (!q_body)
                    return std::unexpected(q_body.error());
                const bool q_complete = s.column_int64(13) != 0;
                const std::string remote = text(s, 15);
                const bool has_response = !s.column_is_null(16);
                const auto r_start = opt_int(s, 17), r_end = opt_int(s, 18);

                Json request = {{"method", method},
                                {"url", url},
                                {"httpVersion", text(s, 6)},
                                {"cookies", request_cookies(q_headers)},
                                {"headers", headers_json(q_headers)},
                                {"queryString", query_string(url)},
                                {"headersSize", -1},
                                {"bodySize", s.column_int64(11)}};
                if (!q_body->empty() || !q_type.empty()) {
                    Json post = {{"mimeType", q_type}};
                    put_body(post, *q_body);
                    request["postData"] = std::move(post);
                }

                Json response;
                std::vector<std::string> comments;
                if (!q_complete)
                    comments.push_back(incomplete("request", s.column_int64(14)));
                if (!s.column_is_null(12))
                    comments.push_back("request body: " + text(s, 12));
                if (has_response) {
                    const auto r_headers = header_pairs(text(s, 22));
                    const std::string_view r_body = s.column_is_null(24) ? "" : s.column_text(24);
                    const std::string r_type = text(s, 23);
                    Json content = {{"size", static_cast<std::int64_t>(r_body.size())}};
                    const std::int64_t r_encoded = s.column_int64(25);
                    if (!s.column_is_null(29) &&
                        r_encoded <= static_cast<std::int64_t>(r_body.size()))
                        content["compression"] =
                            static_cast<std::int64_t>(r_body.size()) - r_encoded;
                    content["mimeType"] = r_type.empty() ? "x-unknown" : r_type;
                    put_body(content, r_body);
                    response = {{"status", s.column_int64(19)},
                                {"statusText", text(s, 20)},
                                {"httpVersion", text(s, 21)},
                                {"cookies", response_cookies(r_headers)},
                                {"headers", headers_json(r_headers)},
                                {"content", std::move(content)},
                                {"redirectURL", header_value(r_headers, "location")},
                                {"headersSize", -1},
                                {"bodySize", r_encoded}};
                    if (s.column_int64(27) == 0)
                        comments.push_back(incomplete("response", s.column_int64(28)));
                    if (!s.column_is_null(26))
                        comments.push_back("response body: " + text(s, 26));
                } else {
                    response = {{"status", 0},
                                {"statusText", ""},
                                {"httpVersion", text(s, 6)},
                                {"cookies", Json::array()},
                                {"headers", Json::array()},
                                {"content", {{"size", 0}, {"mimeType", "x-unknown"}}},
                                {"redirectURL", ""},
                                {"headersSize", -1},
                                {"bodySize", -1}};
                    comments.push_back("no response captured");
                }

                // send: the request's first to last byte; wait: until the response's
                // first byte; receive: to its last. The response may start before the
                // request ended (HTTP/2, early answers): wait is then 0.
                const std::int64_t start = q_start.value_or(r_start.value_or(0));
                const std::int64_t sent = std::max(start, q_end.value_or(start));
                const std::int64_t first = std::max(sent, r_start.value_or(sent));
                const std::int64_t last = std::max(first, r_end.value_or(first));
                Json timings = {{"blocked", -1},
                                {"dns", -1},
                                {"connect", -1},
                                {"ssl", -1},
                                {"send", ms(sent - start)},
                                {"wait", ms(first - sent)},
                                {"receive", ms(last - first)}};
                Json entry = {
                    {"startedDateTime", iso8601(start)}, {"time", ms(last - start)},
                    {"request", std::move(request)},     {"response", std::move(response)},
                    {"cache", Json::object()},           {"timings", std::move(timings)}};
                if (ip_address(remote))
                    entry["serverIPAddress"] = remote;
                entry["connection"] = std::to_string(s.column_int64(1));
                if (!comments.empty()) {
                    std::string c;
                    for (const auto& part : comments)
                        c += (c.empty() ? "" : "; ") + part;
                    entry["comment"] = c;
                }
                entry["_ct_capture"] = uuid;
                entry["_ct_request_id"] = request_id;
                if (has_response)
                    entry["_ct_response_id"] = s.column_int64(16);
                entries.push_back(std::move(entry));
                return {};
            });
            !done)
            return std::unexpected(done.error());
    }
    HarDocument doc;
    doc.entries = entries.size();
    Json log = {{"version", "1.2"},
                {"creator", {{"name", "ct-analyze"}, {"version", ct::kVersion}}},
                {"entries", std::move(entries)}};
    std::string comment = "ct capture " + captures_comment;
    if (!scope.conversation.empty())
        comment += "; conversation " + scope.conversation;
    log["comment"] = comment;
    Json har = {{"log", std::move(log)}};
    doc.json = har.dump(-1, ' ', false, Json::error_handler_t::replace);
    return doc;
}

}  // namespace ct::analyze::exports

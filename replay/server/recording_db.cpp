// Recorded exchanges from a ct-analyze database (schema/sql): requests with their
// bodies, final responses with decoded bodies, SSE event times.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "protocols/http1/types.hpp"
#include "protocols/sse/parse.hpp"
#include "server/recording.hpp"
#include "sqlite/database.hpp"

namespace ct::replay::serve {

Expected<Recording> load_recording_from_db(const std::string& db_path,
                                           const std::string& capture_uuid,
                                           const std::string& conversation) {
    auto db = analyze::sqlite::Database::open(db_path, analyze::sqlite::Database::Mode::ReadOnly);
    if (!db)
        return std::unexpected(db.error());
    // With a conversation (hex, as v_llm_conversations shows it): the captures holding it.
    auto captures = db->prepare(
        "SELECT c.id, c.uuid FROM captures c WHERE (?1 = '' OR c.uuid = ?1) AND (?2 = '' OR "
        "EXISTS (SELECT 1 FROM llm_calls l WHERE l.capture_id = c.id AND "
        "hex(l.conversation_key) = upper(?2))) ORDER BY c.id");
    if (!captures)
        return std::unexpected(captures.error());
    captures->bind(1, capture_uuid);
    captures->bind(2, conversation);
    std::vector<std::pair<std::int64_t, std::string>> found;
    if (auto done = captures->each_row([&]() {
            found.emplace_back(captures->column_int64(0), std::string(captures->column_text(1)));
        });
        !done)
        return std::unexpected(done.error());
    if (found.empty() && !conversation.empty())
        return fail("no conversation " + conversation + " in " + db_path +
                    (capture_uuid.empty() ? "" : " (capture " + capture_uuid + ")") +
                    "; see SELECT conversation FROM v_llm_conversations");
    if (found.empty())
        return fail(capture_uuid.empty() ? db_path + " holds no capture"
                                         : "no capture " + capture_uuid + " in " + db_path);
    if (found.size() > 1) {
        std::string list;
        for (const auto& [id, uuid] : found)
            list += " " + uuid;
        return fail(db_path + " holds several captures; choose one with --capture:" + list);
    }
    const std::int64_t capture_id = found.front().first;

    auto q = db->prepare(
        "SELECT q.method, q.target, coalesce(q.host, ''), b.body, coalesce(q.end_ns, 0), "
        "q.complete,"
        "       r.id, r.status, coalesce(r.reason, ''), r.headers, coalesce(r.body, ''), "
        "coalesce(r.start_ns, 0),"
        "       r.complete, coalesce(r.content_type, ''), r.decode_error IS NULL AND "
        "q.decode_error IS NULL"
        " FROM http_requests q JOIN http_request_bodies b ON b.request_id = q.id"
        " JOIN http_responses r ON r.request_id = q.id AND r.interim = 0"
        " WHERE q.capture_id = ?1 AND (?2 = '' OR q.id IN (SELECT l.request_id FROM llm_calls l"
        " WHERE l.capture_id = ?1 AND hex(l.conversation_key) = upper(?2)))"
        " ORDER BY q.start_ns, q.id");
    auto events = db->prepare(
        "SELECT coalesce(time_ns, 0) FROM sse_events WHERE response_id = ? ORDER BY idx");
    if (!q)
        return std::unexpected(q.error());
    if (!events)
        return std::unexpected(events.error());
    q->bind(1, capture_id);
    q->bind(2, conversation);
    Recording rec;
    if (auto done = q->each_row([&]() -> Expected<void> {
            RecordedExchange x;
            x.method = std::string(q->column_text(0));
            x.target = std::string(q->column_text(1));
            x.host = std::string(q->column_text(2));
            x.request_body = std::string(q->column_text(3));
            const auto request_end = static_cast<std::uint64_t>(q->column_int64(4));
            if (q->column_int64(5) == 0 || q->column_int64(12) == 0 || q->column_int64(14) == 0) {
                rec.skipped.push_back(x.method + " " + x.target +
                                      ": incomplete or undecodable in the database");
                return {};
            }
            const std::int64_t response_id = q->column_int64(6);
            x.status = static_cast<int>(q->column_int64(7));
            x.reason = std::string(q->column_text(8));
            const auto headers = nlohmann::json::parse(q->column_text(9), nullptr, false);
            if (headers.is_array())
                for (const auto& h : headers)
                    if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string() &&
                        !is_framing_header(h[0].get<std::string>()) &&
                        !analyze::http1::iequals(h[0].get<std::string>(), "Content-Encoding"))
                        x.headers.push_back({h[0].get<std::string>(), h[1].get<std::string>()});
            std::string body(q->column_text(10));
            const auto response_start = static_cast<std::uint64_t>(q->column_int64(11));
            if (response_start > request_end && request_end)
                x.response_delay_ns = response_start - request_end;
            std::string_view type = q->column_text(13);
            x.sse = analyze::http1::iequals(type.substr(0, type.find(';')), "text/event-stream");
            if (x.sse) {
                std::vector<std::uint64_t> times;
                events->bind(1, response_id);
                if (auto timed = events->each_row([&]() {
                        times.push_back(static_cast<std::uint64_t>(events->column_int64(0)));
                    });
                    !timed)
                    return std::unexpected(timed.error());
                // Event boundaries from the analyzer's own SSE parser; times from the database.
                auto decoded = analyze::sse::decode_body(body);
                x.sse_events = decoded.events.size();
                x.chunks = sse_chunks(std::move(body), decoded.events, times, response_start);
            } else if (!body.empty()) {
                x.chunks.push_back({0, std::move(body)});
            }
            rec.exchanges.push_back(std::move(x));
            return {};
        });
        !done)
        return std::unexpected(done.error());
    for (std::size_t i = 0; i < rec.exchanges.size(); ++i)
        rec.exchanges[i].number = i + 1;
    return rec;
}

}  // namespace ct::replay::serve

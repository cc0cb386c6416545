#include "export/html_report.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "ct/version.hpp"

namespace ct::analyze {
namespace {

using Json = nlohmann::json;

// One text (a message, an answer, a header list) is embedded up to this size, so
// that a session with huge tool outputs or images still gives a file a browser
// opens; the rest stays in the database.
constexpr std::size_t kMaxText = 4u << 20;

std::string capped(std::string_view text) {
    if (text.size() <= kMaxText)
        return std::string(text);
    std::size_t cut = kMaxText;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;  // not inside a UTF-8 sequence
    return fmt::format("{}\n[… cut by ct-analyze --html: {} bytes in all, in the database]",
                       text.substr(0, cut), text.size());
}

// Rows of `sql` as JSON objects keyed by column name. Columns whose name ends in
// "_t" are wall-clock ns and become ns since `t0` (JavaScript numbers hold them
// exactly); "_json" columns holding valid JSON are embedded as JSON.
Expected<Json> rows(sqlite::Database& db, const std::string& sql, std::int64_t t0) {
    auto stmt = db.prepare(sql);
    if (!stmt)
        return std::unexpected(stmt.error());
    const int n = stmt->column_count();
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i)
        names.push_back(stmt->column_name(i));
    Json out = Json::array();
    if (auto done = stmt->each_row([&]() {
            Json row = Json::object();
            for (int i = 0; i < n; ++i) {
                const std::string& name = names[static_cast<std::size_t>(i)];
                switch (stmt->column_type(i)) {
                    case SQLITE_NULL:
                        break;  // absent keys are null to the script, and smaller
                    case SQLITE_INTEGER: {
                        std::int64_t v = stmt->column_int64(i);
                        std::int64_t rel = 0;
                        // Hostile captures hold any time at all: saturate, never overflow.
                        if (name.ends_with("_t") && __builtin_sub_overflow(v, t0, &rel))
                            rel = v < 0 ? INT64_MIN : INT64_MAX;
                        row[name] = name.ends_with("_t") ? rel : v;
                        break;
                    }
                    case SQLITE_FLOAT:
                        row[name] = stmt->column_double(i);
                        break;
                    default: {
                        std::string text = capped(stmt->column_text(i));
                        if (name.ends_with("_json")) {
                            Json parsed = Json::parse(text, nullptr, false);
                            if (!parsed.is_discarded()) {
                                row[name] = std::move(parsed);
                                break;
                            }
                        }
                        row[name] = std::move(text);
                    }
                }
            }
            out.push_back(std::move(row));
        });
        !done)
        return std::unexpected(done.error());
    return out;
}

Expected<std::vector<std::pair<std::int64_t, std::string>>> id_text(sqlite::Database& db,
                                                                    const std::string& sql,
                                                                    const std::string& bind) {
    auto stmt = db.prepare(sql);
    if (!stmt)
        return std::unexpected(stmt.error());
    stmt->bind(1, bind);
    std::vector<std::pair<std::int64_t, std::string>> out;
    if (auto done = stmt->each_row(
            [&]() { out.emplace_back(stmt->column_int64(0), std::string(stmt->column_text(1))); });
        !done)
        return std::unexpected(done.error());
    return out;
}

bool is_hex(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
    });
}

std::string upper(std::string s) {
    for (char& c : s)
        c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    return s;
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// JSON that can sit inside <script type="application/json">: no "<" at all, so
// neither "</script" nor "<!--" can end or change the element.
std::string script_safe_json(const Json& j) {
    std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
    std::string out;
    out.reserve(text.size() + text.size() / 64);
    for (char c : text) {
        if (c == '<')
            out += "\\u003c";
        else
            out += c;
    }
    return out;
}

}  // namespace

Expected<ReportSelection> select_report(sqlite::Database& db, const std::string& capture_uuid,
                                        const std::string& conversation) {
    ReportSelection sel;
    if (!conversation.empty()) {
        if (!is_hex(conversation) || conversation.size() < 8 || conversation.size() > 64)
            return fail("--conversation: " + conversation +
                        " is not a conversation key (8 to 64 hex digits; see SELECT "
                        "conversation FROM v_llm_conversations)");
        auto keys = id_text(db,
                            "SELECT 0, hex(conversation_key) FROM llm_calls WHERE "
                            "substr(hex(conversation_key), 1, length(?1)) = ?1 "
                            "GROUP BY conversation_key LIMIT 3",
                            upper(conversation));
        if (!keys)
            return std::unexpected(keys.error());
        if (keys->empty())
            return fail("no conversation " + conversation +
                        " in the database; see SELECT conversation FROM v_llm_conversations");
        if (keys->size() > 1)
            return fail("--conversation " + conversation +
                        " matches several conversations; give more digits");
        sel.conversation = keys->front().second;
    }
    auto captures =
        id_text(db,
                "SELECT c.id, c.uuid FROM captures c WHERE (?1 = '' OR c.uuid = ?1) AND (" +
                    (sel.conversation.empty()
                         ? std::string("1")
                         : "EXISTS (SELECT 1 FROM llm_calls l WHERE l.capture_id = c.id AND "
                           "hex(l.conversation_key) = '" +
                               sel.conversation + "')") +
                    ") ORDER BY c.id",
                capture_uuid);
    if (!captures)
        return std::unexpected(captures.error());
    if (captures->empty())
        return fail(!capture_uuid.empty()
                        ? "no capture " + capture_uuid + " in the database" +
                              (sel.conversation.empty() ? "" : " holding that conversation")
                        : std::string("the database holds no capture"));
    if (captures->size() > 1 && capture_uuid.empty() && sel.conversation.empty()) {
        std::string list;
        for (const auto& [id, uuid] : *captures)
            list += "\n  " + uuid;
        return fail(
            "the database holds several captures; choose one with --capture UUID (or "
            "a conversation with --conversation KEY):" +
            list);
    }
    for (const auto& [id, uuid] : *captures)
        sel.capture_ids.push_back(id);
    return sel;
}

Expected<std::string> html_report(sqlite::Database& db, const ReportSelection& selection,
                                  ReportFigures* figures) {
    if (selection.capture_ids.empty())
        return fail("no capture to report on");
    if (!selection.conversation.empty() && !is_hex(selection.conversation))
        return fail("bad conversation key");
    std::string ids;
    for (auto id : selection.capture_ids)
        ids += (ids.empty() ? "" : ",") + std::to_string(id);
    const std::string in_captures = "capture_id IN (" + ids + ")";
    const std::string conv = upper(selection.conversation);
    // The LLM calls shown, and (for one conversation) only their HTTP exchanges.
    const std::string calls_where =
        "l." + in_captures + (conv.empty() ? "" : " AND hex(l.conversation_key) = '" + conv + "'");
    const std::string requests_where =
        "q." + in_captures +
        (conv.empty()
             ? ""
             : " AND q.id IN (SELECT l.request_id FROM llm_calls l WHERE " + calls_where + ")");

    std::int64_t t0 = 0;
    {
        auto st =
            db.prepare("SELECT coalesce(min(start_ns), 0) FROM captures WHERE id IN (" + ids + ")");
        if (!st)
            return std::unexpected(st.error());
        auto row = st->step();
        if (!row)
            return std::unexpected(row.error());
        t0 = st->column_int64(0);
    }

    Json data = Json::object();
    struct Part {
        const char* key;
        std::string sql;
    };
    const std::vector<Part> parts = {
        {"captures",
         "SELECT c.id, c.uuid, c.file, c.hostname, c.recorder_version, c.start_ns AS start_t, "
         "c.end_ns AS end_t, c.ended_cleanly, c.end_reason, c.exit_status, c.events, "
         "c.lost_events, c.lost_bytes, c.malformed_events, c.bad_frames, c.missing_frames, "
         "c.skipped_file_bytes, c.truncated_tail, v.target FROM captures c JOIN v_captures v "
         "ON v.id = c.id WHERE c.id IN (" +
             ids + ") ORDER BY c.start_ns, c.id"},
        {"processes",
         "SELECT id, capture_id AS cap, pid, ppid, coalesce(nullif(exe, ''), comm) AS exe, "
         "cmdline, cwd, start_ns AS start_t, exit_ns AS end_t, exit_status FROM processes WHERE " +
             in_captures + " ORDER BY coalesce(start_ns, 0), pid"},
        {"connections",
         "SELECT n.id, n.capture_id AS cap, n.pid, n.comm, n.tls_library AS tls, n.protocol, "
         "n.host, n.remote_addr AS addr, n.remote_port AS port, n.start_ns AS start_t, "
         "n.end_ns AS end_t, n.handshake_ns AS hs_t, n.closed, n.bytes_sent AS sent, "
         "n.bytes_received AS recv, n.gaps, n.gap_bytes_sent + n.gap_bytes_received AS "
         "gap_bytes, n.undecoded_bytes_sent + n.undecoded_bytes_received AS undecoded FROM "
         "connections n WHERE n." +
             in_captures +
             (conv.empty() ? ""
                           : " AND n.id IN (SELECT q.connection_id FROM http_requests q WHERE " +
                                 requests_where + ")") +
             " ORDER BY coalesce(n.start_ns, 0), n.id"},
        {"gaps",
         "SELECT g.connection_id AS conn, g.direction AS dir, g.stream_pos AS pos, g.length AS "
         "len, g.reason, g.time_ns AS time_t FROM stream_gaps g JOIN connections n ON n.id = "
         "g.connection_id WHERE n." +
             in_captures + " ORDER BY g.id LIMIT 5000"},
        {"unseen",
         "SELECT id, capture_id AS cap, pid, exe, origin, family, remote_addr AS addr, "
         "remote_port AS port, open_ns AS start_t, end_ns AS end_t, end_reason, bytes_sent AS "
         "sent, bytes_received AS recv FROM tcp_connections WHERE unseen = 1 AND " +
             in_captures + " ORDER BY coalesce(open_ns, 0), id LIMIT 5000"},
        {"notes",
         "SELECT capture_id AS cap, time_ns AS time_t, level, source, message FROM notes WHERE " +
             in_captures + " ORDER BY coalesce(time_ns, 0), id LIMIT 5000"},
        {"damage",
         "SELECT capture_id AS cap, file_offset AS off, length AS len, what FROM capture_damage "
         "WHERE " +
             in_captures + " ORDER BY id LIMIT 5000"},
        {"http",
         "SELECT q.id, q.connection_id AS conn, q.start_ns AS start_t, q.end_ns AS req_end_t, "
         "q.method, q.target, q.host, q.http_version AS ver, q.headers AS req_headers, "
         "q.content_type AS req_type, q.body_size AS req_size, q.complete AS req_complete, "
         "q.decode_error AS req_error, q.gap_bytes AS req_gap, r.id AS resp, r.start_ns AS "
         "resp_start_t, r.end_ns AS end_t, r.status, r.reason, r.headers AS resp_headers, "
         "r.content_type AS resp_type, r.decoded_size AS resp_size, r.complete AS "
         "resp_complete, r.decode_error AS resp_error, r.gap_bytes AS resp_gap, (SELECT count(*) "
         "FROM sse_events e WHERE e.response_id = r.id) AS sse, (SELECT min(e.time_ns) FROM "
         "sse_events e WHERE e.response_id = r.id) AS sse_first_t, (SELECT max(e.time_ns) FROM "
         "sse_events e WHERE e.response_id = r.id) AS sse_last_t FROM http_requests q LEFT JOIN "
         "http_responses r ON r.request_id = q.id AND r.interim = 0 WHERE " +
             requests_where + " ORDER BY coalesce(q.start_ns, 0), q.id"},
        {"llm",
         "SELECT l.id, l.capture_id AS cap, l.request_id AS req, l.provider, l.api, l.model, "
         "l.response_model AS rmodel, l.streamed, l.max_tokens, l.system_blob_id AS sys, "
         "l.tools_blob_id AS tools, l.message_count AS nmsg, l.tool_count AS ntools, "
         "l.message_id AS msg_id, l.stop_reason AS stop, l.input_tokens AS tin, "
         "l.output_tokens AS tout, l.cache_creation_input_tokens AS tcw, "
         "l.cache_read_input_tokens AS tcr, l.reasoning_tokens AS treason, l.start_ns AS "
         "start_t, l.first_token_ns AS first_t, l.end_ns AS end_t, l.ttft_ns AS ttft, "
         "l.duration_ns AS dur, l.content, CASE WHEN l.content IS NULL THEN l.response_text END "
         "AS text, CASE WHEN l.content IS NULL THEN l.thinking_text END AS thinking, CASE WHEN "
         "l.content IS NULL THEN l.tool_calls END AS tool_calls, (SELECT json_group_array(t.name) "
         "FROM (SELECT name FROM llm_tool_calls t WHERE t.llm_call_id = l.id ORDER BY t.idx) t) "
         "AS tool_names_json, l.sse_event_count AS sse, l.error, l.complete, "
         "hex(l.conversation_key) AS conv, substr(l.opening_prompt, 1, 200) AS prompt FROM "
         "llm_calls l "
         "WHERE " +
             calls_where + " ORDER BY coalesce(l.start_ns, 0), l.id"},
    };
    for (const auto& part : parts) {
        auto r = rows(db, part.sql, t0);
        if (!r)
            return fail(fmt::format("report ({}): {}", part.key, r.error().what()));
        data[part.key] = std::move(*r);
    }

    // Which messages each call sent (blob ids in order), and the blobs' texts once.
    std::map<std::int64_t, std::vector<std::int64_t>> messages;
    std::set<std::int64_t> blob_ids;
    {
        auto st = db.prepare(
            "SELECT m.llm_call_id, m.blob_id FROM llm_call_messages m JOIN llm_calls l ON l.id "
            "= m.llm_call_id WHERE " +
            calls_where + " ORDER BY m.llm_call_id, m.idx");
        if (!st)
            return std::unexpected(st.error());
        if (auto done = st->each_row([&]() {
                messages[st->column_int64(0)].push_back(st->column_int64(1));
                blob_ids.insert(st->column_int64(1));
            });
            !done)
            return std::unexpected(done.error());
    }
    // Every call resends the conversation: a call's list is stored as the number of
    // leading messages it shares with the previous call of its conversation ("mp",
    // "mk") plus the rest ("ma"), else whole ("ma"), so the size stays linear.
    static const std::vector<std::int64_t> kNone;
    std::map<std::string, std::pair<std::int64_t, const std::vector<std::int64_t>*>> last;
    for (auto& call : data["llm"]) {
        const std::int64_t id = call["id"].get<std::int64_t>();
        auto it = messages.find(id);
        const std::vector<std::int64_t>& mine = it == messages.end() ? kNone : it->second;
        std::size_t shared = 0;
        if (call.contains("conv")) {
            auto& prev = last[call["conv"].get<std::string>()];
            if (prev.second) {
                const auto& theirs = *prev.second;
                while (shared < theirs.size() && shared < mine.size() &&
                       theirs[shared] == mine[shared])
                    ++shared;
                if (shared) {
                    call["mp"] = prev.first;
                    call["mk"] = shared;
                }
            }
            prev = {id, &mine};
        }
        call["ma"] = std::vector<std::int64_t>(mine.begin() + static_cast<std::ptrdiff_t>(shared),
                                               mine.end());
        for (const char* key : {"sys", "tools"}) {
            if (call.contains(key))
                blob_ids.insert(call[key].get<std::int64_t>());
        }
    }
    Json blobs = Json::object();
    {
        auto st = db.prepare("SELECT text FROM llm_blobs WHERE id = ?");
        if (!st)
            return std::unexpected(st.error());
        for (auto id : blob_ids) {
            st->bind(1, id);
            auto row = st->step();
            if (!row)
                return std::unexpected(row.error());
            if (*row)
                blobs[std::to_string(id)] = capped(st->column_text(0));
            st->reset();
        }
    }
    data["blobs"] = std::move(blobs);
    if (figures) {
        figures->llm_calls = data["llm"].size();
        figures->http_exchanges = data["http"].size();
    }
    data["meta"] = {{"generator", std::string("ct-analyze ") + ct::kVersion},
                    {"conversation", conv},
                    {"t0_ms", static_cast<double>(t0) / 1e6}};

    std::string title = "ct report";
    if (!data["captures"].empty()) {
        const Json& c = data["captures"][0];
        std::string what = c.value("target", c.value("file", std::string()));
        if (!what.empty())
            title += ": " + what.substr(0, 120);
    }
    std::string html;
    html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    // Nothing in the report may reach the network: inline style and script, data: images.
    html +=
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n";
    html += "<meta name=\"generator\" content=\"ct-analyze " + std::string(ct::kVersion) + "\">\n";
    html += "<title>" + html_escape(title) + "</title>\n<style>\n";
    html += html_report_css();
    html +=
        "</style>\n</head>\n<body>\n<div id=\"app\"><p class=\"loading\">Loading the "
        "report… (it needs JavaScript)</p></div>\n";
    html += "<script type=\"application/json\" id=\"ct-data\">";
    html += script_safe_json(data);
    html += "</script>\n<script>\n";
    html += html_report_js();
    html += "</script>\n</body>\n</html>\n";
    return html;
}

Expected<ReportFigures> write_html_report(sqlite::Database& db, const ReportSelection& selection,
                                          const std::string& path) {
    ReportFigures figures;
    auto html = html_report(db, selection, &figures);
    if (!html)
        return std::unexpected(html.error());
    std::string tmp = path + ".tmp";
    {
        // Mode 0600, as the database: the report holds the conversations.
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return fail_errno("cannot create " + tmp);
        std::unique_ptr<std::FILE, decltype(&std::fclose)> f(::fdopen(fd, "wb"), &std::fclose);
        if (!f) {
            int e = errno;
            ::close(fd);
            std::remove(tmp.c_str());
            return fail("cannot write " + tmp, e);
        }
        if (std::fwrite(html->data(), 1, html->size(), f.get()) != html->size() ||
            std::fflush(f.get()) != 0) {
            int e = errno;
            std::remove(tmp.c_str());
            return fail("cannot write " + tmp, e);
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        std::remove(tmp.c_str());
        return fail("cannot write " + path, e);
    }
    figures.bytes = html->size();
    return figures;
}

Expected<ReportFigures> html_report_command(sqlite::Database& db,
                                            const std::vector<std::int64_t>& imported,
                                            const std::string& capture_uuid,
                                            const std::string& conversation,
                                            const std::string& path) {
    ReportSelection selection;
    if (capture_uuid.empty() && conversation.empty() && !imported.empty()) {
        selection.capture_ids = imported;
        std::sort(selection.capture_ids.begin(), selection.capture_ids.end());
        selection.capture_ids.erase(
            std::unique(selection.capture_ids.begin(), selection.capture_ids.end()),
            selection.capture_ids.end());
    } else {
        auto chosen = select_report(db, capture_uuid, conversation);
        if (!chosen)
            return std::unexpected(chosen.error());
        selection = std::move(*chosen);
    }
    return write_html_report(db, selection, path);
}

}  // namespace ct::analyze

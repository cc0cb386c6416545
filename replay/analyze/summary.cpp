#include "summary.hpp"

#include <fmt/format.h>

#include <vector>

namespace ct::analyze {
namespace {

struct Rows {
    std::vector<std::vector<std::string>> rows;
};

Expected<Rows> query(sqlite::Database& db, std::string_view sql, std::int64_t capture_id) {
    auto stmt = db.prepare(sql);
    if (!stmt)
        return std::unexpected(stmt.error());
    stmt->bind(1, capture_id);
    Rows out;
    if (auto done = stmt->each_row([&]() {
            std::vector<std::string> row;
            for (int i = 0; i < stmt->column_count(); ++i) {
                row.emplace_back(stmt->column_is_null(i) ? "-" : std::string(stmt->column_text(i)));
            }
            out.rows.push_back(std::move(row));
        });
        !done)
        return std::unexpected(done.error());
    return out;
}

std::string human_bytes(const std::string& text) {
    double v = std::strtod(text.c_str(), nullptr);
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", text) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace

Expected<std::string> capture_summary(sqlite::Database& db, std::int64_t capture_id) {
    std::string out;
    auto head = query(
        db,
        "SELECT uuid, file, coalesce(hostname,''),"
        " strftime('%Y-%m-%d %H:%M:%f', start_ns / 1e9, 'unixepoch'),"
        " printf('%.3f', (end_ns - start_ns) / 1e9), ended_cleanly, events, lost_events,"
        " lost_bytes, bad_frames, skipped_file_bytes, truncated_tail, coalesce(end_reason, '')"
        " FROM captures WHERE id = ?",
        capture_id);
    if (!head)
        return std::unexpected(head.error());
    if (head->rows.empty())
        return fail("no capture with id " + std::to_string(capture_id));
    const auto& c = head->rows[0];
    out += fmt::format("Capture {}  ({})\n", c[0], c[1]);
    out += fmt::format("  host {}, started {} UTC, duration {} s, {} events\n", c[2], c[3], c[4],
                       c[6]);
    if (c[5] == "1") {
        out += fmt::format("  ended cleanly ({})\n", c[12]);
    } else {
        out += fmt::format("  did NOT end cleanly{}\n",
                           c[11] == "1" ? " (truncated tail)" : " (no trailer)");
    }
    if (c[9] != "0")
        out += fmt::format("  damaged frames: {} ({} file bytes skipped)\n", c[9], c[10]);

    auto procs =
        query(db,
              "SELECT pid, coalesce(nullif(exe,''), comm, '?'), substr(coalesce(cmdline,''), 1, 80)"
              " FROM processes WHERE capture_id = ? ORDER BY pid LIMIT 11",
              capture_id);
    if (!procs)
        return std::unexpected(procs.error());
    auto proc_count = query(db, "SELECT count(*) FROM processes WHERE capture_id = ?", capture_id);
    if (!proc_count)
        return std::unexpected(proc_count.error());
    out += fmt::format("Processes: {}\n", proc_count->rows[0][0]);
    for (std::size_t i = 0; i < procs->rows.size() && i < 10; ++i) {
        const auto& p = procs->rows[i];
        out += fmt::format("  {:>7}  {}  {}\n", p[0], p[1], p[2]);
    }

    // A TLS object (SSL_new) that never reached a peer nor moved a byte: no connection.
    const std::string empty_connection =
        "host IS NULL AND remote_addr IS NULL AND coalesce(bytes_sent, 0) = 0 AND "
        "coalesce(bytes_received, 0) = 0";
    auto hosts = query(
        db,
        std::string("SELECT coalesce(host, remote_addr || ':' || remote_port, '(unknown host)'), "
                    "count(*),") +
            " sum(bytes_sent), sum(bytes_received), group_concat(DISTINCT protocol)"
            " FROM connections WHERE capture_id = ? AND NOT (" +
            empty_connection + ") GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20",
        capture_id);
    if (!hosts)
        return std::unexpected(hosts.error());
    auto empty = query(
        db, "SELECT count(*) FROM connections WHERE capture_id = ? AND (" + empty_connection + ")",
        capture_id);
    if (!empty)
        return std::unexpected(empty.error());
    out += "Connections by host:\n";
    if (hosts->rows.empty())
        out += "  (none)\n";
    for (const auto& h : hosts->rows) {
        out += fmt::format("  {:<40} {:>4} conn  sent {:>10}  received {:>10}  {}\n", h[0], h[1],
                           human_bytes(h[2]), human_bytes(h[3]), h[4]);
    }
    if (empty->rows[0][0] != "0") {
        out += fmt::format("  (and {} TLS objects that were created but never connected or used)\n",
                           empty->rows[0][0]);
    }

    auto unseen = query(
        db,
        "SELECT pid, coalesce(nullif(exe, ''), '?'), origin,"
        " CASE WHEN family = 'ipv6' THEN '[' || remote_addr || ']:' || remote_port"
        "  ELSE remote_addr || ':' || remote_port END, bytes_sent, bytes_received, end_reason"
        " FROM tcp_connections WHERE capture_id = ? AND unseen = 1 ORDER BY open_ns, id LIMIT 21",
        capture_id);
    if (!unseen)
        return std::unexpected(unseen.error());
    out += "Unseen TCP traffic (connections no TLS probe could read):\n";
    if (unseen->rows.empty())
        out += "  (none)\n";
    for (std::size_t i = 0; i < unseen->rows.size() && i < 20; ++i) {
        const auto& u = unseen->rows[i];
        out += fmt::format("  pid {} {}: {} {} {}  sent {}  received {}  ({})\n", u[0], u[1], u[2],
                           u[2] == "accept" ? "from" : "to", u[3], human_bytes(u[4]),
                           human_bytes(u[5]), u[6]);
    }
    if (unseen->rows.size() > 20)
        out += "  ... more in the tcp_connections table\n";

    auto reqs = query(
        db,
        "SELECT q.method, coalesce(q.host, ''), q.path, coalesce(r.status, '-'), count(*)"
        " FROM http_requests q LEFT JOIN http_responses r ON r.request_id = q.id AND r.interim = 0"
        " WHERE q.capture_id = ? GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 3 LIMIT 25",
        capture_id);
    if (!reqs)
        return std::unexpected(reqs.error());
    out += "Requests by method, path and status:\n";
    if (reqs->rows.empty())
        out += "  (none)\n";
    for (const auto& r : reqs->rows) {
        out += fmt::format("  {:>5} x {:<7} {}{}  -> {}\n", r[4], r[0], r[1], r[2], r[3]);
    }

    auto llm = query(
        db,
        "SELECT provider || ' ' || coalesce(nullif(response_model,''), model, '?'), count(*),"
        " coalesce(sum(input_tokens),0), coalesce(sum(output_tokens),0),"
        " coalesce(sum(cache_creation_input_tokens),0), coalesce(sum(cache_read_input_tokens),0),"
        " (SELECT count(*) FROM llm_tool_calls t JOIN llm_calls l2 ON l2.id = t.llm_call_id"
        "   WHERE l2.capture_id = l.capture_id AND coalesce(nullif(l2.response_model,''), "
        "l2.model, '?')"
        "   = coalesce(nullif(l.response_model,''), l.model, '?'))"
        " FROM llm_calls l WHERE capture_id = ? GROUP BY 1 ORDER BY 2 DESC",
        capture_id);
    if (!llm)
        return std::unexpected(llm.error());
    out += "LLM calls by model:\n";
    if (llm->rows.empty())
        out += "  (none)\n";
    for (const auto& l : llm->rows) {
        out += fmt::format(
            "  {:<40} {:>4} calls  in {} out {} cache-write {} cache-read {}  tool calls {}\n",
            l[0], l[1], l[2], l[3], l[4], l[5], l[6]);
    }

    auto damage =
        query(db,
              "SELECT (SELECT count(*) FROM http_requests WHERE capture_id = ?1 AND complete = 0),"
              " (SELECT count(*) FROM http_responses WHERE capture_id = ?1 AND complete = 0),"
              " (SELECT coalesce(sum(gaps),0) FROM connections WHERE capture_id = ?1),"
              " (SELECT lost_bytes FROM captures WHERE id = ?1),"
              " (SELECT lost_events FROM captures WHERE id = ?1)",
              capture_id);
    if (!damage)
        return std::unexpected(damage.error());
    const auto& d = damage->rows[0];
    out += fmt::format(
        "Incomplete: {} requests, {} responses; {} gaps, {} lost bytes, {} lost events\n", d[0],
        d[1], d[2], d[3], d[4]);

    // What the recorder warned about while recording (late probes, refused binaries).
    auto warnings = query(db,
                          "SELECT level, source, message FROM notes WHERE capture_id = ?"
                          " AND level IN ('warning', 'error') ORDER BY coalesce(time_ns, 0), id",
                          capture_id);
    if (!warnings)
        return std::unexpected(warnings.error());
    if (!warnings->rows.empty()) {
        out += fmt::format("Warnings ({}):\n", warnings->rows.size());
        for (std::size_t i = 0; i < warnings->rows.size() && i < 20; ++i) {
            const auto& w = warnings->rows[i];
            out += fmt::format("  {} ({}): {}\n", w[0], w[1], w[2]);
        }
        if (warnings->rows.size() > 20)
            out += "  ... more in the notes table\n";
    }
    return out;
}

}  // namespace ct::analyze

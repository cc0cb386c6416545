#include "search.hpp"

#include <fmt/format.h>

#include <vector>

namespace ct::analyze {
namespace {

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (pos < text.size()) {
        while (pos < text.size() && is_space(text[pos]))
            ++pos;
        std::size_t start = pos;
        while (pos < text.size() && !is_space(text[pos]))
            ++pos;
        if (pos > start)
            words.push_back(text.substr(start, pos - start));
    }
    return words;
}

// `s` with every `quote` doubled, between two of them.
std::string quoted(std::string_view s, char quote) {
    std::string out(1, quote);
    for (char c : s) {
        out += c;
        if (c == quote)
            out += quote;
    }
    out += quote;
    return out;
}

}  // namespace

Expected<std::string> fts_query_for_words(std::string_view words) {
    auto list = split_words(words);
    if (list.empty())
        return fail("--search needs at least one word");
    std::string query;
    for (auto w : list) {
        if (!query.empty())
            query += ' ';
        query += quoted(w, '"');
    }
    return query;
}

Expected<std::string> search_sql(std::string_view words, int limit) {
    auto query = fts_query_for_words(words);
    if (!query)
        return std::unexpected(query.error());
    std::string first(split_words(words).front());
    // Every piece of user text goes in as an SQL string literal.
    return fmt::format(
        "WITH hits AS ("
        " SELECT d.capture_id, d.kind, d.ref_id, search_index.rank AS rank"
        " FROM search_index JOIN search_documents d ON d.rowid = search_index.rowid"
        " WHERE search_index MATCH {query} ORDER BY search_index.rank LIMIT {limit}),"
        " texts AS ("
        " SELECT h.*, CASE h.kind"
        "  WHEN 'request_body' THEN (SELECT CAST(b.body AS TEXT) FROM http_request_bodies b"
        "   WHERE b.request_id = h.ref_id)"
        "  WHEN 'response_body' THEN (SELECT CAST(r.body AS TEXT) FROM http_responses r"
        "   WHERE r.id = h.ref_id)"
        "  WHEN 'llm_response' THEN (SELECT coalesce(l.response_text, '') || ' ' ||"
        "   coalesce(l.thinking_text, '') || ' ' || l.tool_calls FROM llm_calls l"
        "   WHERE l.id = h.ref_id)"
        "  ELSE (SELECT CAST(b.text AS TEXT) FROM llm_blobs b WHERE b.id = h.ref_id) END AS text,"
        "  CASE h.kind"
        "  WHEN 'request_body' THEN (SELECT q.start_ns FROM http_requests q WHERE q.id = h.ref_id)"
        "  WHEN 'response_body' THEN (SELECT r.start_ns FROM http_responses r"
        "   WHERE r.id = h.ref_id)"
        "  WHEN 'llm_response' THEN (SELECT l.start_ns FROM llm_calls l WHERE l.id = h.ref_id)"
        "  END AS time_ns"
        " FROM hits h),"
        " found AS (SELECT t.*, instr(lower(t.text), lower({first})) AS at FROM texts t)"
        " SELECT capture_id, kind, ref_id,"
        " strftime('%Y-%m-%d %H:%M:%f', time_ns / 1e9, 'unixepoch') AS time_utc,"
        " replace(replace(replace("
        "  CASE WHEN at > 60 THEN '…' ELSE '' END || substr(text, max(1, at - 60), 160) ||"
        "  CASE WHEN length(text) > max(1, at - 60) + 159 THEN '…' ELSE '' END,"
        "  char(13), ' '), char(10), ' '), char(9), ' ') AS snippet"
        " FROM found ORDER BY rank",
        fmt::arg("query", quoted(*query, '\'')), fmt::arg("limit", limit),
        fmt::arg("first", quoted(first, '\'')));
}

Expected<std::string> pg_search_sql(std::string_view words, int limit) {
    auto list = split_words(words);
    if (list.empty())
        return fail("--search needs at least one word");
    // Each word a phrase of its tokens, all of them required.
    std::string query;
    for (auto w : list) {
        if (!query.empty())
            query += " && ";
        query += "phraseto_tsquery('simple', " + quoted(w, '\'') + ")";
    }
    std::string first(list.front());
    return fmt::format(
        "WITH hits AS ("
        " SELECT d.rowid, d.capture_id, d.kind, d.ref_id, ts_rank(s.tsv, q.q) AS rank"
        " FROM search_index s JOIN search_documents d ON d.rowid = s.rowid,"
        " (SELECT {query} AS q) q"
        " WHERE s.tsv @@ q.q ORDER BY rank DESC, d.rowid LIMIT {limit}),"
        " texts AS ("
        " SELECT h.*, CASE h.kind"
        "  WHEN 'request_body' THEN (SELECT ct_text(b.body) FROM http_request_bodies b"
        "   WHERE b.request_id = h.ref_id)"
        "  WHEN 'response_body' THEN (SELECT ct_text(r.body) FROM http_responses r"
        "   WHERE r.id = h.ref_id)"
        "  WHEN 'llm_response' THEN (SELECT coalesce(l.response_text, '') || ' ' ||"
        "   coalesce(l.thinking_text, '') || ' ' || l.tool_calls FROM llm_calls l"
        "   WHERE l.id = h.ref_id)"
        "  ELSE (SELECT b.text FROM llm_blobs b WHERE b.id = h.ref_id) END AS text,"
        "  CASE h.kind"
        "  WHEN 'request_body' THEN (SELECT q.start_ns FROM http_requests q WHERE q.id = h.ref_id)"
        "  WHEN 'response_body' THEN (SELECT r.start_ns FROM http_responses r"
        "   WHERE r.id = h.ref_id)"
        "  WHEN 'llm_response' THEN (SELECT l.start_ns FROM llm_calls l WHERE l.id = h.ref_id)"
        "  END AS time_ns"
        " FROM hits h),"
        " found AS (SELECT t.*, strpos(lower(t.text), lower({first})) AS at FROM texts t)"
        " SELECT capture_id, kind, ref_id, ct_utc(time_ns) AS time_utc,"
        " replace(replace(replace("
        "  CASE WHEN at > 60 THEN '…' ELSE '' END || substr(text, greatest(1, at - 60), 160) ||"
        "  CASE WHEN length(text) > greatest(1, at - 60) + 159 THEN '…' ELSE '' END,"
        "  chr(13), ' '), chr(10), ' '), chr(9), ' ') AS snippet"
        " FROM found ORDER BY rank DESC, rowid",
        fmt::arg("query", query), fmt::arg("limit", limit), fmt::arg("first", quoted(first, '\'')));
}

}  // namespace ct::analyze

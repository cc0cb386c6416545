// What an import writes, row by row, whatever the engine: the mapping from a
// decoded capture to the rows of schema/sql (data-dictionary.md), written once
// and driven by the engine's Writer (SqliteStore, PgStore). A Writer has:
//
//   Expected<std::int64_t> insert(Table, values...)     one row; its new id
//   std::int64_t last_id()                              the id insert() gave last
//   Expected<std::optional<std::int64_t>> insert_capture(values...)
//                                  the captures row; nullopt when its UUID is stored
//   Expected<void> insert_rows(Table, n, f)  n rows; f(emit, i) calls emit(values...)
//   Expected<StoredBlob> intern_blob(sha256, kind, text)  llm_blobs, once per content
//   Expected<void> update(Table, id, values...)  sets a row again (only connections,
//                                  for a connection written as it is read)
//
// Values are std::int64_t (or any integer), std::string_view (TEXT), sqlite::Blob
// (BLOB / bytea) or std::optional of those (NULL when empty).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "capture/capture_contents.hpp"
#include "capture_store.hpp"
#include "connection_decoder.hpp"
#include "ct/version.hpp"
#include "llm/json_util.hpp"
#include "llm/llm_call.hpp"
#include "prepared_connection.hpp"
#include "sqlite/statement.hpp"
#include "util/argv.hpp"

namespace ct::analyze::rows {

using sqlite::Blob;

// The tables an import writes, parents before children (the order in which
// buffered rows can be flushed without breaking a foreign key).
enum class Table {
    captures,
    capture_damage,
    notes,
    processes,
    probes,
    tcp_connections,
    connections,
    stream_gaps,
    raw_streams,
    http_requests,
    http_responses,
    sse_events,
    llm_blobs,
    llm_calls,
    llm_call_messages,
    llm_tool_calls,
    search_documents,
    search_index,
};
inline constexpr std::size_t kTables = static_cast<std::size_t>(Table::search_index) + 1;

struct StoredBlob {
    std::int64_t id = 0;
    bool inserted = false;  // this import stored it (it was not there before)
};

inline std::optional<std::int64_t> realtime(const replay::CaptureHeader& header,
                                            std::uint64_t mono) {
    if (mono == 0)
        return std::nullopt;
    return header.to_realtime(mono);
}

inline std::string json_array(const std::vector<std::string>& items) {
    llm::Json j = llm::Json::array();
    for (const auto& s : items)
        j.push_back(s);
    return llm::dump(j);
}

inline const char* direction_name(int direction) {
    return direction == kWrite ? "sent" : "received";
}

inline const char* gap_reason(replay::GapReason reason) {
    switch (reason) {
        case replay::GapReason::LostEvents:
            return "lost_events";
        case replay::GapReason::RingFull:
            return "ring_full";
        case replay::GapReason::ReadFault:
            return "read_fault";
        case replay::GapReason::Truncated:
            return "truncated";
        case replay::GapReason::OverLimit:
            return "over_limit";
        case replay::GapReason::EarlierFile:
            return "earlier_file";
    }
    return "unknown";
}

inline std::string_view path_of(std::string_view target) {
    if (std::size_t scheme = target.find("://"); scheme != std::string_view::npos) {
        std::size_t slash = target.find('/', scheme + 3);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    return target.substr(0, target.find_first_of("?#"));
}

// Host header, or the HTTP/2 :authority pseudo-header.
inline std::string_view request_host(const http1::Message& m) {
    std::string_view host = m.value_of("Host");
    return host.empty() ? m.value_of(":authority") : host;
}

// A body worth full-text indexing: text-like content, or plain UTF-8-looking bytes.
inline bool is_textual(std::string_view content_type, std::string_view body) {
    if (body.empty())
        return false;
    std::string type = http1::to_lower(content_type);
    for (std::string_view t :
         {"text/", "json", "xml", "javascript", "x-www-form-urlencoded", "yaml"}) {
        if (type.find(t) != std::string::npos)
            return true;
    }
    if (!type.empty())
        return false;
    std::size_t n = std::min<std::size_t>(body.size(), 512);
    for (std::size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(body[i]);
        if (c < 0x09 || (c > 0x0d && c < 0x20))
            return false;
    }
    return true;
}

// TLS library of a connection: the binary whose probes were attached in its process.
inline std::string tls_library_for(const replay::CaptureContents& contents, std::uint32_t pid) {
    std::set<std::string> for_pid;
    std::set<std::string> global;
    for (const auto& p : contents.probes) {
        if (!p.attached || p.binary_path.empty())
            continue;
        if (p.pid == pid)
            for_pid.insert(p.binary_path);
        if (p.pid == 0)
            global.insert(p.binary_path);
    }
    const auto& chosen = for_pid.empty() ? global : for_pid;
    std::string out;
    for (const auto& b : chosen) {
        if (!out.empty())
            out += ",";
        out += b.substr(b.rfind('/') + 1);
    }
    return out;
}

// Everything one import needs while it walks the capture.
template <typename Writer>
struct RowRun {
    Writer& w;
    const replay::CaptureContents& contents;
    std::int64_t capture_id = 0;
    std::map<std::uint32_t, std::int64_t> process_ids;
    ImportResult& result;
    std::unordered_map<std::string, std::int64_t> blob_ids;  // sha256 -> llm_blobs.id
    // The connection being inserted, and llm_blobs.id per distinct part of it.
    const PreparedConnection* connection = nullptr;
    std::vector<std::optional<std::int64_t>> part_ids;
    // The connection begun and not ended (begin_connection), and the
    // http_requests.seq of its next request.
    std::int64_t open_connection_id = 0;
    std::int64_t open_seq = 0;

    std::optional<std::int64_t> rt(std::uint64_t mono) const {
        return realtime(contents.header, mono);
    }

    // `text`: a std::string_view, or a sqlite::TerminatedText (all of a string,
    // which SQLite's full-text index then takes without a copy of it).
    template <typename Text>
    Expected<void> index_text(const char* kind, std::int64_t ref_id, const Text& text) {
        if (std::string_view(text_of(text)).empty())
            return {};
        CT_TRY(w.insert(Table::search_documents, capture_id, kind, ref_id));
        CT_TRY(w.insert(Table::search_index, w.last_id(), text));
        return {};
    }
    static std::string_view text_of(std::string_view text) { return text; }
    static std::string_view text_of(sqlite::TerminatedText text) { return text.text; }

    // Stores a request part once per distinct content (by SHA-256) and indexes
    // it for full-text search the first time it is seen. A part's first use on
    // the connection decides its kind.
    Expected<std::int64_t> intern(const char* kind, std::size_t part) {
        if (part_ids[part])
            return *part_ids[part];
        auto id = intern_by_digest(kind, connection->parts[part]);
        if (id)
            part_ids[part] = *id;
        return id;
    }

    Expected<std::int64_t> intern_by_digest(const char* kind, const BlobPart& part) {
        const std::string_view json = part.text;
        const std::string& digest = part.digest;
        if (auto it = blob_ids.find(digest); it != blob_ids.end())
            return it->second;
        auto stored = w.intern_blob(digest, kind, json);
        if (!stored)
            return std::unexpected(stored.error());
        const std::int64_t existing = stored->id;
        // Request frames hold the system prompt and tools, indexed on their own.
        if (stored->inserted && kind != std::string_view("request_frame")) {
            CT_TRY(
                index_text(kind == std::string_view("message") ? "llm_message" : "llm_request_part",
                           existing, json));
        }
        blob_ids.emplace(digest, existing);
        return existing;
    }

    // With `call` set and its messages found in the body, the body is stored as
    // the bytes around the messages; the messages go to llm_blobs once each.
    Expected<std::int64_t> insert_request(std::int64_t connection_id, std::int64_t seq,
                                          const DecodedMessage& d, const PreparedMessage& pm,
                                          const PreparedCall* call) {
        const bool index_body = call == nullptr;
        std::optional<Blob> body = Blob{d.body.bytes};
        std::optional<std::int64_t> prefix, suffix;
        if (call && call->frame_parts) {
            auto p = intern("request_frame", (*call->frame_parts)[0]);
            if (!p)
                return std::unexpected(p.error());
            auto q = intern("request_frame", (*call->frame_parts)[1]);
            if (!q)
                return std::unexpected(q.error());
            prefix = *p;
            suffix = *q;
            body.reset();
        }
        const auto& m = d.message;
        std::optional<std::string_view> error;
        if (!d.body.decode_ok)
            error = d.body.decode_error;
        std::string_view host = request_host(m);
        std::string_view content_type = m.value_of("Content-Type");
        CT_TRY(w.insert(Table::http_requests, capture_id, connection_id, seq,
                        rt(m.start_monotonic_ns), rt(m.end_monotonic_ns), m.method, pm.target,
                        path_of(m.target), m.version(),
                        host.empty() ? std::optional<std::string_view>() : host, pm.headers_json,
                        content_type.empty() ? std::optional<std::string_view>() : content_type,
                        d.body.encoding.empty() ? std::optional<std::string_view>()
                                                : std::string_view(d.body.encoding),
                        body, d.body.bytes.size(), d.body.encoded_size, prefix, suffix,
                        http1::framing_name(m.framing), pm.trailers_json, error, m.stream_pos,
                        m.wire_size, m.gap_bytes, m.after_resync, m.complete));
        std::int64_t id = w.last_id();
        ++result.requests;
        if (index_body && is_textual(content_type, d.body.bytes)) {
            CT_TRY(index_text("request_body", id, sqlite::TerminatedText(d.body.bytes)));
        }
        return id;
    }

    Expected<std::int64_t> insert_response(std::int64_t connection_id,
                                           std::optional<std::int64_t> request_id,
                                           const DecodedMessage& d, const PreparedMessage& pm,
                                           bool index_body) {
        const auto& m = d.message;
        std::optional<std::string_view> error;
        if (!d.body.decode_ok)
            error = d.body.decode_error;
        std::string_view content_type = m.value_of("Content-Type");
        CT_TRY(w.insert(Table::http_responses, capture_id, connection_id, request_id,
                        m.is_interim(), rt(m.start_monotonic_ns), rt(m.end_monotonic_ns), m.status,
                        m.reason, m.version(), pm.headers_json,
                        content_type.empty() ? std::optional<std::string_view>() : content_type,
                        d.body.encoding.empty() ? std::optional<std::string_view>()
                                                : std::string_view(d.body.encoding),
                        Blob{d.body.bytes}, d.body.encoded_size, d.body.bytes.size(),
                        http1::framing_name(m.framing), pm.trailers_json, error, m.stream_pos,
                        m.wire_size, m.gap_bytes, m.after_resync, m.complete));
        std::int64_t id = w.last_id();
        ++result.responses;
        const auto& events = d.sse.events;
        CT_TRY(w.insert_rows(Table::sse_events, events.size(), [&](auto&& emit, std::size_t i) {
            const auto& e = events[i];
            std::optional<std::string_view> event_id;
            if (!e.last_event_id.empty())
                event_id = e.last_event_id;
            std::optional<std::int64_t> retry;
            if (e.retry_ms)
                retry = static_cast<std::int64_t>(*e.retry_ms);
            emit(id, i, rt(d.sse_monotonic_ns[i]), e.type, e.data, event_id, retry);
        }));
        result.sse_events += events.size();
        if (index_body && is_textual(content_type, d.body.bytes)) {
            CT_TRY(index_text("response_body", id, sqlite::TerminatedText(d.body.bytes)));
        }
        return id;
    }

    Expected<void> insert_llm_call(std::int64_t request_id, std::optional<std::int64_t> response_id,
                                   const DecodedMessage& request, const DecodedMessage* response,
                                   const PreparedCall& pc) {
        const llm::LlmCall& call = pc.call;
        const auto& q = request.message;
        std::optional<std::int64_t> end, ttft, duration, first;
        if (response)
            end = rt(response->message.end_monotonic_ns);
        if (call.first_token_monotonic_ns) {
            first = rt(*call.first_token_monotonic_ns);
            if (q.end_monotonic_ns && *call.first_token_monotonic_ns >= q.end_monotonic_ns) {
                ttft =
                    static_cast<std::int64_t>(*call.first_token_monotonic_ns - q.end_monotonic_ns);
            }
        }
        if (response && q.start_monotonic_ns &&
            response->message.end_monotonic_ns >= q.start_monotonic_ns) {
            duration = static_cast<std::int64_t>(response->message.end_monotonic_ns -
                                                 q.start_monotonic_ns);
        }
        auto opt = [](const std::string& s) {
            return s.empty() ? std::optional<std::string_view>()
                             : std::optional<std::string_view>(s);
        };
        // A stream whose own end arrived is whole, even when the client stopped
        // reading before the HTTP framing after it (the last chunk's terminator).
        const bool complete =
            q.complete && response &&
            (response->message.complete || (call.stream_ended && response->message.gap_bytes == 0));
        std::optional<std::int64_t> system_id, tools_id;
        if (pc.system_part) {
            auto id = intern("system", *pc.system_part);
            if (!id)
                return std::unexpected(id.error());
            system_id = *id;
        }
        if (pc.tools_part) {
            auto id = intern("tools", *pc.tools_part);
            if (!id)
                return std::unexpected(id.error());
            tools_id = *id;
        }
        CT_TRY(w.insert(Table::llm_calls, capture_id, request_id, response_id, call.provider,
                        call.api, opt(call.model), opt(call.response_model), call.streamed,
                        call.max_tokens, system_id, call.message_count, tools_id, call.tool_count,
                        opt(call.response_id), opt(call.stop_reason), call.usage.input_tokens,
                        call.usage.output_tokens, call.usage.cache_creation_input_tokens,
                        call.usage.cache_read_input_tokens, call.usage.reasoning_tokens,
                        rt(q.start_monotonic_ns), first, end, ttft, duration, opt(call.text),
                        opt(call.thinking), pc.tool_calls_json, opt(call.content_json), call.events,
                        opt(call.error), complete,
                        pc.conversation_key ? std::optional<Blob>(Blob{*pc.conversation_key})
                                            : std::optional<Blob>(),
                        pc.opening_prompt));
        std::int64_t id = w.last_id();
        ++result.llm_calls;
        // Blobs first: their inserts (and search indexing) happen in message order,
        // then the links go in as one batch.
        std::vector<std::int64_t> message_blob_ids(call.messages.size());
        for (std::size_t i = 0; i < call.messages.size(); ++i) {
            auto blob_id = intern("message", pc.message_parts[i]);
            if (!blob_id)
                return std::unexpected(blob_id.error());
            message_blob_ids[i] = *blob_id;
        }
        CT_TRY(w.insert_rows(
            Table::llm_call_messages, call.messages.size(), [&](auto&& emit, std::size_t i) {
                // The bytes between this message and the previous one (usually ",").
                std::optional<Blob> sep;
                if (i > 0) {
                    const char* prev_end =
                        call.messages[i - 1].data() + call.messages[i - 1].size();
                    sep = Blob{std::string_view(
                        prev_end, static_cast<std::size_t>(call.messages[i].data() - prev_end))};
                }
                emit(id, i, message_blob_ids[i], sep);
            }));
        for (std::size_t i = 0; i < call.tool_calls.size(); ++i) {
            const auto& t = call.tool_calls[i];
            CT_TRY(w.insert(Table::llm_tool_calls, id, i, t.id, t.name, t.input_json, t.input_valid,
                            t.input_raw));
        }
        CT_TRY(index_text("llm_response", id, sqlite::TerminatedText(pc.search_text)));
        return {};
    }

    // The connections row: inserted, or (update_id) set again to the values an
    // insert of the whole connection would have given.
    Expected<std::int64_t> connection_row(const replay::Connection& c, const DecodedConnection& dc,
                                          std::string_view protocol, std::string_view host,
                                          std::optional<std::int64_t> update_id) {
        std::optional<std::int64_t> process_id;
        if (auto it = process_ids.find(c.pid); it != process_ids.end())
            process_id = it->second;
        std::optional<std::string_view> local_addr, remote_addr;
        std::optional<std::int64_t> local_port, remote_port;
        if (c.socket) {
            if (!c.socket->local_addr.empty())
                local_addr = c.socket->local_addr;
            if (!c.socket->remote_addr.empty())
                remote_addr = c.socket->remote_addr;
            if (c.socket->local_port)
                local_port = c.socket->local_port;
            if (c.socket->remote_port)
                remote_port = c.socket->remote_port;
        }
        std::optional<std::int64_t> handshake;
        if (c.handshake_done_ns)
            handshake = rt(*c.handshake_done_ns);
        std::int64_t gaps = static_cast<std::int64_t>(dc.views[kWrite].gaps().size() +
                                                      dc.views[kRead].gaps().size());
        std::string tls = tls_library_for(contents, c.pid);
        auto with_values = [&](auto&& write) {
            return write(capture_id, process_id, c.pid, c.comm, c.conn_gen, c.ssl,
                         tls.empty() ? std::optional<std::string_view>() : std::string_view(tls),
                         protocol, local_addr, local_port, remote_addr, remote_port,
                         host.empty() ? std::optional<std::string_view>() : host,
                         rt(c.first_monotonic_ns), rt(c.last_monotonic_ns), handshake, c.closed,
                         dc.views[kWrite].end_pos(), dc.views[kRead].end_pos(),
                         dc.views[kWrite].gap_bytes(), dc.views[kRead].gap_bytes(), gaps,
                         dc.skipped_bytes[kWrite], dc.skipped_bytes[kRead]);
        };
        if (update_id) {
            CT_TRY(with_values(
                [&](const auto&... v) { return w.update(Table::connections, *update_id, v...); }));
            return *update_id;
        }
        CT_TRY(with_values([&](const auto&... v) { return w.insert(Table::connections, v...); }));
        ++result.connections;
        return w.last_id();
    }

    static std::string first_host(const DecodedConnection& dc) {
        for (const auto& r : dc.requests) {
            std::string host(request_host(r.message));
            if (!host.empty())
                return host;
        }
        return {};
    }

    // The gaps and raw stretches of a connection.
    Expected<void> insert_gaps_and_raw(std::int64_t connection_id, const DecodedConnection& dc) {
        for (int dir : {kWrite, kRead}) {
            for (const auto* g : dc.views[dir].gaps()) {
                std::uint64_t t =
                    g->monotonic_ns ? g->monotonic_ns : dc.views[dir].monotonic_at(g->pos);
                CT_TRY(w.insert(Table::stream_gaps, connection_id, direction_name(dir), g->pos,
                                g->len, gap_reason(g->gap_reason), rt(t)));
            }
        }
        for (const auto& raw : dc.raw) {
            CT_TRY(w.insert(Table::raw_streams, connection_id, direction_name(raw.direction),
                            raw.pos, raw.reason, rt(raw.monotonic_ns), raw.bytes.size(),
                            Blob{raw.bytes}));
        }
        return {};
    }

    Expected<void> insert_connection(const replay::Connection& c,
                                     const PreparedConnection& prepared) {
        const DecodedConnection& dc = prepared.dc;
        auto connection_id = connection_row(c, dc, dc.protocol, first_host(dc), std::nullopt);
        if (!connection_id)
            return std::unexpected(connection_id.error());
        CT_TRY(insert_gaps_and_raw(*connection_id, dc));
        std::int64_t seq = 0;
        return insert_exchanges(*connection_id, prepared, seq);
    }

    // A connection written as it is read (CaptureStore::begin_connection): the
    // row first, with what is known before its exchanges; end_connection() sets
    // it again.
    Expected<void> begin_connection(const replay::Connection& c) {
        const DecodedConnection nothing_yet;
        auto connection_id = connection_row(c, nothing_yet, {}, {}, std::nullopt);
        if (!connection_id)
            return std::unexpected(connection_id.error());
        open_connection_id = *connection_id;
        open_seq = 0;
        return {};
    }

    // The next exchanges of the connection begun.
    Expected<void> write_exchanges(const PreparedConnection& prepared) {
        return insert_exchanges(open_connection_id, prepared, open_seq);
    }

    Expected<void> end_connection(const replay::Connection& c, const PreparedConnection& rest,
                                  const StreamedPart& streamed) {
        const std::int64_t connection_id = open_connection_id;
        std::string host = streamed.host.empty() ? first_host(rest.dc) : streamed.host;
        CT_TRY(connection_row(c, rest.dc, streamed.protocol, host, connection_id));
        CT_TRY(insert_gaps_and_raw(connection_id, rest.dc));
        CT_TRY(insert_exchanges(connection_id, rest, open_seq));
        open_connection_id = 0;
        return {};
    }

    // The exchanges of `prepared` (all of a connection, or the next of one
    // written as it is read), numbered on from `seq`.
    Expected<void> insert_exchanges(std::int64_t connection_id, const PreparedConnection& prepared,
                                    std::int64_t& seq) {
        const DecodedConnection& dc = prepared.dc;
        connection = &prepared;
        part_ids.assign(prepared.parts.size(), std::nullopt);
        for (std::size_t x = 0; x < dc.exchanges.size(); ++x) {
            const auto& pairing = dc.exchanges[x];
            std::optional<std::int64_t> request_id;
            const DecodedMessage* request = nullptr;
            const DecodedMessage* response =
                pairing.response ? &dc.responses[*pairing.response] : nullptr;
            const std::optional<PreparedCall>& call = prepared.calls[x];
            if (pairing.request) {
                request = &dc.requests[*pairing.request];
                // An LLM request's parts are indexed once each through llm_blobs.
                auto id =
                    insert_request(connection_id, seq++, *request,
                                   prepared.requests[*pairing.request], call ? &*call : nullptr);
                if (!id)
                    return std::unexpected(id.error());
                request_id = *id;
            }
            for (std::size_t i : pairing.interim) {
                auto id = insert_response(connection_id, request_id, dc.responses[i],
                                          prepared.responses[i], false);
                if (!id)
                    return std::unexpected(id.error());
            }
            std::optional<std::int64_t> response_id;
            if (response) {
                // An LLM stream's text is indexed through llm_calls; skip the raw events.
                bool index_body = !(call && response->is_sse);
                auto id = insert_response(connection_id, request_id, *response,
                                          prepared.responses[*pairing.response], index_body);
                if (!id)
                    return std::unexpected(id.error());
                response_id = *id;
            }
            if (call && request_id)
                CT_TRY(insert_llm_call(*request_id, response_id, *request, response, *call));
        }
        return {};
    }
    // The capture row (lost_bytes left for finish()), its damage, notes,
    // processes, probes and TCP connections. false: the capture's UUID is
    // already stored (by a concurrent import that committed first).
    Expected<bool> write_capture(const std::string& file) {
        const auto& h = contents.header;
        const auto& s = contents.summary;
        // Known once every connection was written: finish_capture() sets it.
        const std::uint64_t lost_bytes = 0;
        std::optional<std::int64_t> start = h.start_realtime_ns
                                                ? std::optional<std::int64_t>(h.start_realtime_ns)
                                                : rt(contents.first_monotonic_ns);
        std::optional<std::int64_t> end;
        std::optional<std::string_view> end_reason;
        std::optional<std::int64_t> exit_status;
        if (s.trailer) {
            if (s.trailer->end_realtime_ns)
                end = s.trailer->end_realtime_ns;
            end_reason = s.trailer->end_reason;
            exit_status = s.trailer->exit_status;
        }
        if (!end)
            end = rt(contents.last_monotonic_ns);
        // A file of a --watch series (capture-format.md 3.7): its place in the series.
        const bool series = !h.series_uuid.empty();
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
        auto inserted = w.insert_capture(
            h.uuid, file, s.file_size, std::to_string(h.major) + "." + std::to_string(h.minor),
            h.recorder_version, h.hostname, h.kernel_release, h.machine, h.boot_id,
            json_array(h.recorder_cmdline), json_array(h.target_cmdline), h.target_pid, start, end,
            s.ended_cleanly(), end_reason, exit_status, contents.events, contents.lost_events,
            lost_bytes, contents.malformed_events, s.frames, s.bad_frames, s.missing_frames,
            s.skipped_bytes, s.truncated_tail, now, std::string_view(ct::kVersion),
            static_cast<std::int64_t>(h.first_seq),  // as SQLite stores any u64: the same bits
            series ? std::optional<std::string_view>(h.series_uuid) : std::nullopt,
            series ? std::optional<std::int64_t>(static_cast<std::int64_t>(h.series_index))
                   : std::nullopt,
            h.previous_capture_uuid.empty()
                ? std::nullopt
                : std::optional<std::string_view>(h.previous_capture_uuid),
            h.watch_rules.empty() ? std::nullopt
                                  : std::optional<std::string>(json_array(h.watch_rules)));
        if (!inserted)
            return std::unexpected(inserted.error());
        if (!*inserted)
            return false;  // a concurrent import of the same UUID stored it first
        capture_id = **inserted;

        for (const auto& d : s.damage)
            CT_TRY(w.insert(Table::capture_damage, capture_id, d.file_offset, d.length, d.what));
        for (const auto& n : contents.notes) {
            CT_TRY(w.insert(Table::notes, capture_id, rt(n.monotonic_ns), n.level, "recorder",
                            n.message));
        }
        if (contents.impossible_positions) {
            CT_TRY(w.insert(
                Table::notes, capture_id, end, "warning", "analyzer",
                fmt::format("{} event(s) named stream positions past 2^62, which no connection "
                            "reaches; they were ignored (counted in malformed_events)",
                            contents.impossible_positions)));
        }
        if (contents.over_limit_bytes || contents.over_limit_records) {
            CT_TRY(w.insert(
                Table::notes, capture_id, end, "warning", "analyzer",
                fmt::format("the capture holds more than the analyzer imports of one capture "
                            "({} bytes, --max-plaintext): {} captured bytes were left out "
                            "(stream_gaps with reason over_limit) and {} other records",
                            contents.max_held_bytes, contents.over_limit_bytes,
                            contents.over_limit_records)));
        }
        if (!s.ended_cleanly()) {
            CT_TRY(w.insert(Table::notes, capture_id, end, "warning", "analyzer",
                            s.truncated_tail
                                ? "the capture did not end cleanly: its tail is truncated"
                                : "the capture did not end cleanly: no trailer"));
        }
        for (const auto& p : contents.processes) {
            std::optional<std::int64_t> exit_status_p;
            if (p.exit_status)
                exit_status_p = *p.exit_status;
            CT_TRY(w.insert(Table::processes, capture_id, p.pid, p.ppid, p.exe,
                            join_argv(p.cmdline), json_array(p.cmdline), p.cwd, p.comm,
                            rt(p.start_monotonic_ns), rt(p.exit_monotonic_ns), exit_status_p));
            process_ids[p.pid] = w.last_id();
        }
        for (const auto& p : contents.probes) {
            CT_TRY(w.insert(Table::probes, capture_id, p.binary_path, p.build_id, p.function,
                            p.file_offset, p.how_found, p.kind, p.attached, p.error, p.pid));
        }
        {
            std::map<std::uint32_t, std::string_view> exes;
            for (const auto& p : contents.processes)
                exes[p.pid] = p.exe;
            for (const auto& t : contents.tcp_connections) {
                std::optional<std::int64_t> process_id;
                if (auto it = process_ids.find(t.pid); it != process_ids.end())
                    process_id = it->second;
                std::optional<std::string_view> exe;
                if (auto it = exes.find(t.pid); it != exes.end() && !it->second.empty())
                    exe = it->second;
                std::optional<std::int64_t> tls_gen;
                if (t.tls_seen)
                    tls_gen = static_cast<std::int64_t>(t.conn_gen);
                CT_TRY(w.insert(Table::tcp_connections, capture_id, process_id, t.pid, exe, t.fd,
                                t.origin, std::string_view(t.family == AF_INET6 ? "ipv6" : "ipv4"),
                                t.local_addr, t.local_port, t.remote_addr, t.remote_port,
                                t.connect_ret, rt(t.open_monotonic_ns), rt(t.end_monotonic_ns),
                                t.end_reason, t.bytes_sent, t.bytes_received, t.send_calls,
                                t.recv_calls, t.tls_seen, tls_gen, t.inherited, t.unseen()));
            }
        }
        return true;
    }
};

}  // namespace ct::analyze::rows

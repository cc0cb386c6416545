#include "pg_store.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sqlite/migrations.hpp"
#include "store_rows.hpp"

namespace ct::analyze {

using rows::Table;
using sqlite::Blob;

namespace {

struct TableInfo {
    const char* name;
    const char* id;       // the id column the importer reserves, or nullptr
    const char* columns;  // in the order RowRun hands the values over (id first)
    // A child table that has capture_id on PostgreSQL only (for Citus): the
    // writer adds it, last.
    bool adds_capture = false;
};

// Indexed by rows::Table. search_index rows go to a temporary table first and
// become tsvectors on the way in (flush()).
constexpr std::array<TableInfo, rows::kTables> kTableInfo{{
    {"captures", "id", nullptr},  // insert_capture()
    {"capture_damage", "id", "id, capture_id, file_offset, length, what"},
    {"notes", "id", "id, capture_id, time_ns, level, source, message"},
    {"processes", "id",
     "id, capture_id, pid, ppid, exe, cmdline, argv_json, cwd, comm, start_ns, exit_ns, "
     "exit_status"},
    {"probes", "id",
     "id, capture_id, binary_path, build_id, function, file_offset, how_found, kind, attached, "
     "error, pid"},
    {"tcp_connections", "id",
     "id, capture_id, process_id, pid, exe, fd, origin, family, local_addr, local_port, "
     "remote_addr, remote_port, connect_ret, open_ns, end_ns, end_reason, bytes_sent, "
     "bytes_received, send_calls, recv_calls, tls_seen, tls_conn_gen, inherited, unseen"},
    {"connections", "id",
     "id, capture_id, process_id, pid, comm, conn_gen, ssl_ptr, tls_library, protocol, "
     "local_addr, local_port, remote_addr, remote_port, host, start_ns, end_ns, handshake_ns, "
     "closed, bytes_sent, bytes_received, gap_bytes_sent, gap_bytes_received, gaps, "
     "undecoded_bytes_sent, undecoded_bytes_received"},
    {"stream_gaps", "id",
     "id, connection_id, direction, stream_pos, length, reason, time_ns, capture_id", true},
    {"raw_streams", "id",
     "id, connection_id, direction, stream_pos, reason, time_ns, size, bytes, capture_id", true},
    {"http_requests", "id",
     "id, capture_id, connection_id, seq, start_ns, end_ns, method, target, path, "
     "http_version, host, headers, content_type, content_encoding, body, body_size, "
     "encoded_size, body_prefix_id, body_suffix_id, framing, trailers, decode_error, "
     "stream_pos, wire_size, gap_bytes, after_resync, complete"},
    {"http_responses", "id",
     "id, capture_id, connection_id, request_id, interim, start_ns, end_ns, status, reason, "
     "http_version, headers, content_type, content_encoding, body, encoded_size, decoded_size, "
     "framing, trailers, decode_error, stream_pos, wire_size, gap_bytes, after_resync, "
     "complete"},
    {"sse_events", nullptr,
     "response_id, idx, time_ns, event, data, event_id, retry_ms, capture_id", true},
    {"llm_blobs", "id", nullptr},  // intern_blob()
    {"llm_calls", "id",
     "id, capture_id, request_id, response_id, provider, api, model, response_model, "
     "streamed, max_tokens, system_blob_id, message_count, tools_blob_id, tool_count, "
     "message_id, stop_reason, input_tokens, output_tokens, cache_creation_input_tokens, "
     "cache_read_input_tokens, reasoning_tokens, start_ns, first_token_ns, end_ns, ttft_ns, "
     "duration_ns, response_text, thinking_text, tool_calls, content, sse_event_count, error, "
     "complete, conversation_key, opening_prompt"},
    {"llm_call_messages", nullptr, "llm_call_id, idx, blob_id, sep, capture_id", true},
    {"llm_tool_calls", "id",
     "id, llm_call_id, idx, tool_use_id, name, input, input_valid, input_raw, capture_id", true},
    {"search_documents", "rowid", "rowid, capture_id, kind, ref_id"},
    {"ct_search_text", nullptr, "rowid, text, capture_id", true},
}};

constexpr const char* kCaptureColumns =
    "uuid, file, file_size, format_version, recorder_version, hostname, kernel_release, "
    "machine, boot_id, recorder_cmdline, target_cmdline, target_pid, start_ns, end_ns, "
    "ended_cleanly, end_reason, exit_status, events, lost_events, lost_bytes, "
    "malformed_events, frames, bad_frames, missing_frames, skipped_file_bytes, truncated_tail, "
    "imported_ns, analyzer_version, first_seq, series_uuid, series_index, "
    "previous_capture_uuid, watch_rules";

// Length of the valid UTF-8 sequence at s[i] as PostgreSQL accepts it (no
// overlong forms, surrogates, code points past U+10FFFF or NUL), else 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (i + n > s.size())
        return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi)
        return 0;
    for (std::size_t k = 2; k < n; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

// Appends text as PostgreSQL can hold it: NUL bytes and invalid UTF-8 become
// U+FFFD. `escape`: in COPY's text format.
void append_text(std::string& out, std::string_view s, bool escape) {
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = utf8_sequence(s, i);
        if (n == 0) {
            out += "\xef\xbf\xbd";
            ++i;
            continue;
        }
        if (n == 1 && escape) {
            char c = s[i];
            switch (c) {
                case '\\':
                    out += "\\\\";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                default:
                    out += c;
            }
        } else {
            out.append(s.data() + i, n);
        }
        i += n;
    }
}

void append_hex(std::string& out, std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned char c : bytes) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
}

// One value in COPY's text format.
[[maybe_unused]] void append_field(std::string& out, std::nullptr_t) {
    out += "\\N";
}
void append_field(std::string& out, std::string_view s) {
    append_text(out, s, true);
}
void append_field(std::string& out, const std::string& s) {
    append_text(out, s, true);
}
void append_field(std::string& out, const char* s) {
    append_text(out, s, true);
}
void append_field(std::string& out, sqlite::TerminatedText t) {
    append_text(out, t.text, true);
}
void append_field(std::string& out, Blob b) {
    out += "\\\\x";
    append_hex(out, b.bytes);
}
template <typename T>
requires std::is_integral_v<T>
void append_field(std::string& out, T v) {
    if constexpr (std::is_same_v<T, bool>)
        out += v ? '1' : '0';
    else
        fmt::format_to(std::back_inserter(out), "{}", v);
}
template <typename T>
void append_field(std::string& out, const std::optional<T>& v) {
    if (v)
        append_field(out, *v);
    else
        out += "\\N";
}

template <typename... Args>
void append_row(std::string& out, const Args&... args) {
    bool first = true;
    ((out += first ? "" : "\t", first = false, append_field(out, args)), ...);
    out += '\n';
}

// One value as a text-format statement parameter.
[[maybe_unused]] pg::Param param(std::nullptr_t) {
    return {};
}
pg::Param param(std::string_view s) {
    std::string v;
    append_text(v, s, false);
    return {std::move(v), false};
}
pg::Param param(const std::string& s) {
    return param(std::string_view(s));
}
pg::Param param(const char* s) {
    return param(std::string_view(s));
}
[[maybe_unused]] pg::Param param(sqlite::TerminatedText t) {
    return param(t.text);
}
pg::Param param(Blob b) {
    return {std::string(b.bytes), true};
}
template <typename T>
requires std::is_integral_v<T> pg::Param param(T v) {
    if constexpr (std::is_same_v<T, bool>)
        return {std::string(v ? "1" : "0"), false};
    else
        return {fmt::format("{}", v), false};
}
template <typename T>
pg::Param param(const std::optional<T>& v) {
    return v ? param(*v) : pg::Param{};
}

}  // namespace

namespace {

// A blob a connection will intern, its kind that of its first use.
struct NewBlob {
    std::string digest;
    const char* kind;
    std::string_view text;
};

// A Writer that writes nothing: a connection run through it says which blobs
// its import will intern, in which order (and so of which kind), so that the
// new ones are stored in one round trip (PgStore::write_connection).
struct BlobSurvey {
    const PgStore::Writer& writer;
    std::vector<NewBlob> wanted;
    std::unordered_set<std::string> seen;
    std::int64_t next = 0;

    template <typename... Args>
    Expected<std::int64_t> insert(Table, const Args&...) {
        return ++next;
    }
    std::int64_t last_id() const { return next; }
    template <typename F>
    Expected<void> insert_rows(Table, std::size_t, F&&) {
        return {};
    }
    template <typename... Args>
    Expected<void> update(Table, std::int64_t, const Args&...) {
        return {};
    }
    Expected<rows::StoredBlob> intern_blob(const std::string& digest, const char* kind,
                                           std::string_view text);
};

}  // namespace

// rows::RowRun's Writer: rows buffered per table in COPY's text format.
class PgStore::Writer {
  public:
    Writer(pg::Connection& main, pg::Connection& blobs) : main_(main), blobs_(blobs) {}

    template <typename... Args>
    Expected<std::int64_t> insert(Table table, const Args&... args) {
        const auto t = static_cast<std::size_t>(table);
        std::string& out = buffers_[t];
        if (kTableInfo[t].id) {
            auto id = reserve(t);
            if (!id)
                return std::unexpected(id.error());
            last_id_ = *id;
            if (kTableInfo[t].adds_capture)
                append_row(out, *id, args..., capture_id_);
            else
                append_row(out, *id, args...);
        } else if (kTableInfo[t].adds_capture) {
            append_row(out, args..., capture_id_);
        } else {
            append_row(out, args...);
        }
        buffered_ += 1;
        return last_id_;
    }
    std::int64_t last_id() const { return last_id_; }

    // Sets a row again (a connection written as it is read): the rows buffered
    // go out first, the row among them, then one UPDATE of every column but id.
    template <typename... Args>
    Expected<void> update(Table table, std::int64_t id, const Args&... args) {
        const auto t = static_cast<std::size_t>(table);
        CT_TRY(flush());
        std::vector<pg::Param> params{param(args)...};
        std::string_view columns = kTableInfo[t].columns;
        columns.remove_prefix(columns.find(',') + 1);  // not the id
        std::string set;
        std::size_t n = 0;
        while (!columns.empty()) {
            std::size_t comma = columns.find(',');
            std::string_view column = columns.substr(0, comma);
            while (column.starts_with(' '))
                column.remove_prefix(1);
            set += fmt::format("{}{} = ${}", n ? ", " : "", column, n + 1);
            ++n;
            columns =
                comma == std::string_view::npos ? std::string_view() : columns.substr(comma + 1);
        }
        if (n != params.size() || kTableInfo[t].adds_capture)
            return fail(
                fmt::format("{}: {} values for {} columns", kTableInfo[t].name, params.size(), n));
        params.push_back(param(id));
        CT_TRY(main_.exec(
            fmt::format("UPDATE {} SET {} WHERE id = ${}", kTableInfo[t].name, set, n + 1),
            params));
        return {};
    }

    template <typename... Args>
    Expected<std::optional<std::int64_t>> insert_capture(const Args&... args) {
        std::vector<pg::Param> params{param(args)...};
        std::string placeholders;
        for (std::size_t i = 1; i <= params.size(); ++i)
            placeholders += fmt::format("{}${}", i > 1 ? "," : "", i);
        // Waits for a concurrent import of the same UUID to end; stores nothing
        // if that one committed.
        auto r = main_.exec(fmt::format("INSERT INTO captures ({}) VALUES ({}) ON CONFLICT (uuid) "
                                        "DO NOTHING RETURNING id",
                                        kCaptureColumns, placeholders),
                            params);
        if (!r)
            return std::unexpected(r.error());
        if (PQntuples(r->get()) == 0)
            return std::optional<std::int64_t>();
        last_id_ = std::stoll(PQgetvalue(r->get(), 0, 0));
        capture_id_ = last_id_;
        return std::optional<std::int64_t>(last_id_);
    }

    template <typename F>
    Expected<void> insert_rows(Table table, std::size_t count, F&& row) {
        std::string& out = buffers_[static_cast<std::size_t>(table)];
        // Both many-row tables (sse_events, llm_call_messages) add capture_id.
        for (std::size_t i = 0; i < count; ++i)
            row([&](const auto&... values) { append_row(out, values..., capture_id_); }, i);
        buffered_ += count;
        return {};
    }

    // Looks up, in one round trip, which of a connection's request parts are
    // stored already (another capture sent the same system prompt, tools or
    // messages), so that intern_blob() needs no round trip for them.
    Expected<void> prefetch_blobs(const std::vector<BlobPart>& parts) {
        std::string hex;
        for (const auto& p : parts) {
            if (known_blobs_.contains(p.digest))
                continue;
            if (!hex.empty())
                hex += ',';
            append_hex(hex, p.digest);
        }
        if (hex.empty())
            return {};
        auto r = blobs_.exec(
            "SELECT sha256, id FROM llm_blobs WHERE sha256 IN "
            "(SELECT decode(h, 'hex') FROM unnest(string_to_array($1, ',')) h)",
            {param(std::string_view(hex))});
        if (!r)
            return std::unexpected(r.error());
        for (int i = 0; i < PQntuples(r->get()); ++i) {
            std::string_view text = PQgetvalue(r->get(), i, 0);  // \x + hex
            std::string digest;
            for (std::size_t k = 2; k + 1 < text.size(); k += 2)
                digest += static_cast<char>(std::stoi(std::string(text.substr(k, 2)), nullptr, 16));
            known_blobs_.emplace(std::move(digest),
                                 KnownBlob{std::stoll(PQgetvalue(r->get(), i, 1)), false});
        }
        return {};
    }

    bool knows_blob(const std::string& digest) const { return known_blobs_.contains(digest); }

    // Stores, in one statement (autocommit, on the blob connection, the rows in
    // sha256 order so that two imports cannot deadlock), the blobs a connection will
    // intern that are not stored yet; those another import stored meanwhile are
    // looked up. Each then costs intern_blob() no round trip.
    Expected<void> store_new_blobs(const std::vector<NewBlob>& blobs) {
        if (blobs.empty())
            return {};
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& b : blobs) {
            std::string hex;
            append_hex(hex, b.digest);
            rows.push_back({std::move(hex), b.kind, b.text.size(), pg_text(b.text)});
        }
        auto inserted = blobs_.exec(
            // Ids in the order of first use (as SQLite gives them), rows in sha256 order.
            "WITH b AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('llm_blobs', 'id')) "
            "AS id, decode(e->>0, 'hex') AS sha256, e->>1 AS kind, (e->>2)::bigint AS size, "
            "e->>3 AS text FROM json_array_elements($1::json) WITH ORDINALITY AS t(e, n) "
            "ORDER BY n) "
            "INSERT INTO llm_blobs (id, sha256, kind, size, text) SELECT id, sha256, kind, size, "
            "text FROM b ORDER BY sha256 ON CONFLICT (sha256) DO NOTHING "
            "RETURNING encode(sha256, 'hex'), id",
            {param(std::string_view(rows.dump()))});
        if (!inserted)
            return std::unexpected(inserted.error());
        auto unhex = [](std::string_view h) {
            std::string out;
            for (std::size_t k = 0; k + 1 < h.size(); k += 2)
                out += static_cast<char>(std::stoi(std::string(h.substr(k, 2)), nullptr, 16));
            return out;
        };
        for (int i = 0; i < PQntuples(inserted->get()); ++i)
            known_blobs_[unhex(PQgetvalue(inserted->get(), i, 0))] =
                KnownBlob{std::stoll(PQgetvalue(inserted->get(), i, 1)), true};
        std::string missing;
        for (const auto& b : blobs) {
            if (known_blobs_.contains(b.digest))
                continue;
            if (!missing.empty())
                missing += ',';
            append_hex(missing, b.digest);
        }
        if (missing.empty())
            return {};
        auto found = blobs_.exec(
            "SELECT encode(sha256, 'hex'), id FROM llm_blobs WHERE sha256 IN "
            "(SELECT decode(h, 'hex') FROM unnest(string_to_array($1, ',')) h)",
            {param(std::string_view(missing))});
        if (!found)
            return std::unexpected(found.error());
        for (int i = 0; i < PQntuples(found->get()); ++i)
            known_blobs_[unhex(PQgetvalue(found->get(), i, 0))] =
                KnownBlob{std::stoll(PQgetvalue(found->get(), i, 1)), false};
        return {};
    }

    Expected<rows::StoredBlob> intern_blob(const std::string& digest, const char* kind,
                                           std::string_view text) {
        if (auto it = known_blobs_.find(digest); it != known_blobs_.end()) {
            const bool fresh = std::exchange(it->second.fresh, false);
            return rows::StoredBlob{it->second.id, fresh};
        }
        std::vector<pg::Param> params{param(Blob{digest}), param(kind),
                                      param(static_cast<std::int64_t>(text.size())), param(text)};
        auto r = blobs_.exec(
            "INSERT INTO llm_blobs (sha256, kind, size, text) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (sha256) DO NOTHING RETURNING id",
            params);
        if (!r)
            return std::unexpected(r.error());
        if (PQntuples(r->get()) == 1)
            return rows::StoredBlob{std::stoll(PQgetvalue(r->get(), 0, 0)), true};
        auto found =
            blobs_.exec("SELECT id FROM llm_blobs WHERE sha256 = $1", {param(Blob{digest})});
        if (!found)
            return std::unexpected(found.error());
        if (PQntuples(found->get()) != 1)
            return fail("llm_blobs: a blob reported present cannot be found");
        return rows::StoredBlob{std::stoll(PQgetvalue(found->get(), 0, 0)), false};
    }

    std::size_t buffered_bytes() const {
        std::size_t n = 0;
        for (const auto& b : buffers_)
            n += b.size();
        return n;
    }

    // Sends the buffered rows, parents before children.
    Expected<void> flush() {
        for (std::size_t t = 0; t < rows::kTables; ++t) {
            std::string& data = buffers_[t];
            if (data.empty())
                continue;
            CT_TRY(main_.copy_in(
                fmt::format("COPY {} ({}) FROM STDIN", kTableInfo[t].name, kTableInfo[t].columns),
                data));
            data.clear();
            if (static_cast<Table>(t) == Table::search_index) {
                CT_TRY(
                    main_.exec("INSERT INTO search_index (rowid, tsv, capture_id) SELECT rowid, "
                               "to_tsvector('simple', text), capture_id FROM ct_search_text;"
                               "TRUNCATE ct_search_text"));
            }
        }
        buffered_ = 0;
        return {};
    }

    void discard() {
        for (auto& b : buffers_)
            b.clear();
        buffered_ = 0;
        known_blobs_.clear();
    }

  private:
    // The next id of a table, from a block reserved from its sequence.
    Expected<std::int64_t> reserve(std::size_t t) {
        auto& pool = pools_[t];
        if (pool.next == pool.ids.size()) {
            pool.block = std::min<std::size_t>(pool.block ? pool.block * 2 : 16, 4096);
            auto r = main_.exec(fmt::format(
                "SELECT nextval(pg_get_serial_sequence('{}', '{}')) FROM generate_series(1, {})",
                kTableInfo[t].name, kTableInfo[t].id, pool.block));
            if (!r)
                return std::unexpected(r.error());
            pool.ids.clear();
            pool.next = 0;
            for (int i = 0; i < PQntuples(r->get()); ++i)
                pool.ids.push_back(std::stoll(PQgetvalue(r->get(), i, 0)));
        }
        return pool.ids[pool.next++];
    }

    struct Pool {
        std::vector<std::int64_t> ids;
        std::size_t next = 0;
        std::size_t block = 0;
    };
    pg::Connection& main_;
    pg::Connection& blobs_;
    std::array<std::string, rows::kTables> buffers_;
    std::array<Pool, rows::kTables> pools_;
    std::size_t buffered_ = 0;
    std::int64_t last_id_ = 0;
    std::int64_t capture_id_ = 0;  // the capture being written
    // llm_blobs found stored by prefetch_blobs() or stored by store_new_blobs(),
    // sha256 -> id; `fresh`: stored by this import and not yet handed out (the
    // first intern_blob() of it reports it inserted, so that it is indexed once).
    struct KnownBlob {
        std::int64_t id;
        bool fresh;
    };
    std::unordered_map<std::string, KnownBlob> known_blobs_;
};

Expected<rows::StoredBlob> BlobSurvey::intern_blob(const std::string& digest, const char* kind,
                                                   std::string_view text) {
    if (!writer.knows_blob(digest) && seen.insert(digest).second)
        wanted.push_back({digest, kind, text});
    return rows::StoredBlob{++next, false};
}

struct PgStore::Run {
    Run(Writer& writer, const replay::CaptureContents& contents, ImportResult& result)
        : rows{writer, contents, 0, {}, result, {}, nullptr, {}, 0, 0} {}
    rows::RowRun<Writer> rows;
};

PgStore::PgStore(pg::Connection main, pg::Connection blobs)
    : main_(std::move(main)),
      blobs_(std::move(blobs)),
      writer_(std::make_unique<Writer>(main_, blobs_)) {}

PgStore::~PgStore() {
    rollback();
}

Expected<std::unique_ptr<PgStore>> PgStore::create(const std::string& spec) {
    auto main = pg::Connection::open(spec);
    if (!main)
        return std::unexpected(main.error());
    auto blobs = pg::Connection::open(spec);
    if (!blobs)
        return std::unexpected(blobs.error());
    CT_TRY(
        main->exec("CREATE TEMPORARY TABLE IF NOT EXISTS ct_search_text (rowid bigint, text "
                   "text, capture_id bigint) ON COMMIT DELETE ROWS"));
    return std::unique_ptr<PgStore>(new PgStore(std::move(*main), std::move(*blobs)));
}

Expected<void> PgStore::begin() {
    rollback();
    CT_TRY(main_.exec("BEGIN"));
    in_transaction_ = true;
    return {};
}

Expected<std::optional<StoredCapture>> PgStore::find_capture(std::string_view uuid) {
    auto r = main_.exec("SELECT id, events FROM captures WHERE uuid = $1", {param(uuid)});
    if (!r)
        return std::unexpected(r.error());
    if (PQntuples(r->get()) == 0)
        return std::optional<StoredCapture>();
    return StoredCapture{std::stoll(PQgetvalue(r->get(), 0, 0)),
                         std::stoull(PQgetvalue(r->get(), 0, 1))};
}

Expected<std::optional<std::int64_t>> PgStore::write_capture(
    const replay::CaptureContents& contents, const std::string& file, ImportResult& result) {
    run_ = std::make_unique<Run>(*writer_, contents, result);
    auto written = run_->rows.write_capture(file);
    if (!written)
        return std::unexpected(written.error());
    if (!*written)
        return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(run_->rows.capture_id);
}

// Stores, in one round trip, the blobs that `write` (a RowRun call) will intern
// and that are not stored yet: `write` run first on a RowRun that writes nothing.
template <typename F>
Expected<void> PgStore::store_blobs_of(const PreparedConnection& prepared, F&& write) {
    CT_TRY(writer_->prefetch_blobs(prepared.parts));
    if (prepared.parts.empty())
        return {};
    BlobSurvey survey{*writer_, {}, {}, 0};
    ImportResult scratch;
    rows::RowRun<BlobSurvey> dry{survey, run_->rows.contents, 0, {}, scratch, {}, nullptr, {}, 0,
                                 0};
    CT_TRY(write(dry));
    return writer_->store_new_blobs(survey.wanted);
}

Expected<void> PgStore::write_connection(const replay::Connection& connection,
                                         const PreparedConnection& prepared) {
    CT_TRY(store_blobs_of(prepared,
                          [&](auto& dry) { return dry.insert_connection(connection, prepared); }));
    CT_TRY(run_->rows.insert_connection(connection, prepared));
    return flush_if_big();
}

// Bounded memory: rows go out once a few MiB are waiting.
Expected<void> PgStore::flush_if_big() {
    if (writer_->buffered_bytes() > (8u << 20))
        return writer_->flush();
    return {};
}

Expected<void> PgStore::begin_connection(const replay::Connection& connection) {
    return run_->rows.begin_connection(connection);
}

Expected<void> PgStore::write_exchanges(const PreparedConnection& prepared) {
    CT_TRY(store_blobs_of(prepared, [&](auto& dry) {
        std::int64_t seq = run_->rows.open_seq;
        return dry.insert_exchanges(0, prepared, seq);
    }));
    CT_TRY(run_->rows.write_exchanges(prepared));
    return flush_if_big();
}

// The connection row, buffered at begin_connection(), goes out with the rows
// before it and is then set again (Writer::update); ids were reserved as a
// whole-connection import reserves them, so the rows are the same.
Expected<void> PgStore::end_connection(const replay::Connection& connection,
                                       const PreparedConnection& rest,
                                       const StreamedPart& streamed) {
    CT_TRY(store_blobs_of(rest, [&](auto& dry) {
        std::int64_t seq = run_->rows.open_seq;
        return dry.insert_exchanges(0, rest, seq);
    }));
    CT_TRY(run_->rows.end_connection(connection, rest, streamed));
    return flush_if_big();
}

Expected<void> PgStore::finish_capture(std::uint64_t lost_bytes) {
    CT_TRY(writer_->flush());
    writer_->discard();
    CT_TRY(main_.exec("UPDATE captures SET lost_bytes = $1 WHERE id = $2",
                      {param(lost_bytes), param(run_->rows.capture_id)}));
    run_.reset();
    in_transaction_ = false;
    CT_TRY(main_.exec("COMMIT"));
    return {};
}

void PgStore::rollback() {
    run_.reset();
    if (writer_)
        writer_->discard();
    if (in_transaction_) {
        in_transaction_ = false;
        (void)main_.exec("ROLLBACK");
    }
}

std::string pg_text(std::string_view s) {
    std::string out;
    append_text(out, s, false);
    return out;
}

namespace {

// PostgreSQL's migrations: postgresql/NNN_*.sql (the first creates every table of
// its version at once), then for each later version the shared ../NNN_*.sql,
// unless postgresql/ has its own file of that number (SQL only PostgreSQL takes).
std::vector<Migration> pg_migrations() {
    std::vector<Migration> out(pg_schema_migrations().begin(), pg_schema_migrations().end());
    const int init = out.empty() ? 0 : out.front().version;
    for (const auto& m : schema_migrations()) {
        if (m.version <= init)
            continue;
        if (std::none_of(out.begin(), out.end(),
                         [&](const Migration& p) { return p.version == m.version; }))
            out.push_back(m);
    }
    std::sort(out.begin(), out.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    return out;
}

}  // namespace

Expected<int> migrate_pg(pg::Connection& db) {
    const auto migrations = pg_migrations();
    CT_TRY(db.exec("BEGIN"));
    struct RollbackUnlessCommitted {
        pg::Connection& db;
        bool done = false;
        ~RollbackUnlessCommitted() {
            if (!done)
                (void)db.exec("ROLLBACK");
        }
    } guard{db};
    // One migrating importer at a time (the key: "ct-schema" in ASCII).
    CT_TRY(db.exec("SELECT pg_advisory_xact_lock(7310312830049676645)"));
    auto state =
        db.exec("SELECT to_regclass('ct_schema') IS NOT NULL, to_regclass('captures') IS NOT NULL");
    if (!state)
        return std::unexpected(state.error());
    const bool has_version = PQgetvalue(state->get(), 0, 0)[0] == 't';
    const bool has_captures = PQgetvalue(state->get(), 0, 1)[0] == 't';
    int current = 0;
    if (has_version) {
        auto v = db.exec("SELECT coalesce(max(version), 0) FROM ct_schema");
        if (!v)
            return std::unexpected(v.error());
        current = std::stoi(PQgetvalue(v->get(), 0, 0));
    } else if (has_captures) {
        return fail("PostgreSQL database " + pg::redact_connection_string(db.spec()) +
                    " has a captures table but is not a ct database; give another database "
                    "to --db");
    }
    auto reached = apply_migrations(migrations, current, [&](const Migration& m) -> Expected<int> {
        if (auto r = db.exec(std::string(m.sql)); !r)
            return fail(std::string(m.name) + ": " + r.error().message);
        CT_TRY(db.exec("DELETE FROM ct_schema"));
        CT_TRY(db.exec(fmt::format("INSERT INTO ct_schema (version) VALUES ({})", m.version)));
        return m.version;
    });
    if (!reached)
        return reached;
    guard.done = true;
    CT_TRY(db.exec("COMMIT"));
    return *reached;
}

Expected<std::string> pg_fingerprint_key(pg::Connection& db) {
    std::string key(32, '\0');
    if (getrandom(key.data(), key.size(), 0) != static_cast<ssize_t>(key.size()))
        return fail_errno("getrandom");
    // The first importer's key wins; every later one reads it.
    CT_TRY(
        db.exec("INSERT INTO ct_settings (name, value) VALUES ('fingerprint_key', $1) "
                "ON CONFLICT (name) DO NOTHING",
                {pg::Param{key, true}}));
    auto r = db.exec("SELECT value FROM ct_settings WHERE name = 'fingerprint_key'", {});
    if (!r)
        return std::unexpected(r.error());
    // bytea in text output: \x + hex.
    std::string_view hex = PQgetvalue(r->get(), 0, 0);
    if (!hex.starts_with("\\x"))
        return fail("ct_settings: unexpected fingerprint key format");
    std::string out;
    for (std::size_t i = 2; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return out;
}

}  // namespace ct::analyze

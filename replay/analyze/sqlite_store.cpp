#include "sqlite_store.hpp"

#include <sys/socket.h>

#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "connection_decoder.hpp"
#include "ct/version.hpp"
#include "llm/json_util.hpp"
#include "llm/llm_call.hpp"
#include "prepared_connection.hpp"
#include "sqlite/multi_row_insert.hpp"
#include "sqlite/transaction.hpp"
#include "store_rows.hpp"

namespace ct::analyze {

using sqlite::Blob;
using sqlite::MultiRowInsert;
using sqlite::Statement;

struct SqliteStore::Statements {
    Statement find_capture;
    Statement capture;
    Statement capture_lost_bytes;
    Statement damage;
    Statement note;
    Statement process;
    Statement probe;
    Statement tcp_connection;
    Statement connection;
    Statement connection_update;
    Statement gap;
    Statement raw;
    Statement request;
    Statement response;
    MultiRowInsert sse_events;
    Statement llm_call;
    Statement tool_call;
    Statement search_document;
    Statement search_text;
    Statement find_blob;
    Statement blob;
    MultiRowInsert call_messages;
};

Expected<std::unique_ptr<SqliteStore>> SqliteStore::create(sqlite::Database& db) {
    auto st = std::make_unique<Statements>();
    auto prep = [&](Statement& target, std::string_view sql) -> Expected<void> {
        auto s = db.prepare(sql);
        if (!s)
            return std::unexpected(s.error());
        target = std::move(*s);
        return {};
    };
    CT_TRY(prep(st->find_capture, "SELECT id, events FROM captures WHERE uuid = ?"));
    CT_TRY(prep(st->capture_lost_bytes, "UPDATE captures SET lost_bytes = ? WHERE id = ?"));
    CT_TRY(prep(
        st->capture,
        "INSERT INTO captures (uuid, file, file_size, format_version, recorder_version, hostname,"
        " kernel_release, machine, boot_id, recorder_cmdline, target_cmdline, target_pid,"
        " start_ns, end_ns, ended_cleanly, end_reason, exit_status, events, lost_events,"
        " lost_bytes, malformed_events, frames, bad_frames, missing_frames, skipped_file_bytes,"
        " truncated_tail, imported_ns, analyzer_version, first_seq, series_uuid, series_index,"
        " previous_capture_uuid, watch_rules)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    CT_TRY(prep(
        st->damage,
        "INSERT INTO capture_damage (capture_id, file_offset, length, what) VALUES (?,?,?,?)"));
    CT_TRY(
        prep(st->note,
             "INSERT INTO notes (capture_id, time_ns, level, source, message) VALUES (?,?,?,?,?)"));
    CT_TRY(prep(st->process,
                "INSERT INTO processes (capture_id, pid, ppid, exe, cmdline, argv_json, cwd, comm,"
                " start_ns, exit_ns, exit_status) VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
    CT_TRY(prep(st->probe,
                "INSERT INTO probes (capture_id, binary_path, build_id, function, file_offset,"
                " how_found, kind, attached, error, pid) VALUES (?,?,?,?,?,?,?,?,?,?)"));
    CT_TRY(prep(st->tcp_connection,
                "INSERT INTO tcp_connections (capture_id, process_id, pid, exe, fd, origin, family,"
                " local_addr, local_port, remote_addr, remote_port, connect_ret, open_ns, end_ns,"
                " end_reason, bytes_sent, bytes_received, send_calls, recv_calls, tls_seen,"
                " tls_conn_gen, inherited, unseen)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    CT_TRY(
        prep(st->connection,
             "INSERT INTO connections (capture_id, process_id, pid, comm, conn_gen, ssl_ptr,"
             " tls_library, protocol, local_addr, local_port, remote_addr, remote_port, host,"
             " start_ns, end_ns, handshake_ns, closed, bytes_sent, bytes_received, gap_bytes_sent,"
             " gap_bytes_received, gaps, undecoded_bytes_sent, undecoded_bytes_received)"
             " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    CT_TRY(prep(st->connection_update,
                "UPDATE connections SET capture_id = ?, process_id = ?, pid = ?, comm = ?,"
                " conn_gen = ?, ssl_ptr = ?, tls_library = ?, protocol = ?, local_addr = ?,"
                " local_port = ?, remote_addr = ?, remote_port = ?, host = ?, start_ns = ?,"
                " end_ns = ?, handshake_ns = ?, closed = ?, bytes_sent = ?, bytes_received = ?,"
                " gap_bytes_sent = ?, gap_bytes_received = ?, gaps = ?, undecoded_bytes_sent = ?,"
                " undecoded_bytes_received = ? WHERE id = ?"));
    CT_TRY(prep(
        st->gap,
        "INSERT INTO stream_gaps (connection_id, direction, stream_pos, length, reason, time_ns)"
        " VALUES (?,?,?,?,?,?)"));
    CT_TRY(
        prep(st->raw,
             "INSERT INTO raw_streams (connection_id, direction, stream_pos, reason, time_ns, size,"
             " bytes) VALUES (?,?,?,?,?,?,?)"));
    CT_TRY(prep(
        st->request,
        "INSERT INTO http_requests (capture_id, connection_id, seq, start_ns, end_ns, method,"
        " target, path, http_version, host, headers, content_type, content_encoding, body,"
        " body_size, encoded_size, body_prefix_id, body_suffix_id, framing, trailers, decode_error,"
        " stream_pos, wire_size, gap_bytes, after_resync, complete)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    CT_TRY(
        prep(st->response,
             "INSERT INTO http_responses (capture_id, connection_id, request_id, interim, start_ns,"
             " end_ns, status, reason, http_version, headers, content_type, content_encoding, body,"
             " encoded_size, decoded_size, framing, trailers, decode_error, stream_pos, wire_size,"
             " gap_bytes, after_resync, complete)"
             " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    // The two tables that take the most rows go in many rows per statement. OR FAIL
    // rather than ABORT: a failure fails the whole import anyway, and ABORT would
    // make each statement open a statement journal, whose savepoint also makes
    // FTS5 flush its pending terms (a more fragmented full-text index).
    auto prep_rows = [&](MultiRowInsert& target, std::string_view head,
                         int columns) -> Expected<void> {
        auto s = MultiRowInsert::prepare(db, head, columns);
        if (!s)
            return std::unexpected(s.error());
        target = std::move(*s);
        return {};
    };
    CT_TRY(prep_rows(st->sse_events,
                     "INSERT OR FAIL INTO sse_events (response_id, idx, time_ns, event, data, "
                     "event_id, retry_ms)",
                     7));
    CT_TRY(
        prep(st->llm_call,
             "INSERT INTO llm_calls (capture_id, request_id, response_id, provider, api, model,"
             " response_model, streamed, max_tokens, system_blob_id, message_count, tools_blob_id,"
             " tool_count, message_id, stop_reason, input_tokens, output_tokens,"
             " cache_creation_input_tokens, cache_read_input_tokens, reasoning_tokens, start_ns,"
             " first_token_ns, end_ns, ttft_ns, duration_ns, response_text, thinking_text,"
             " tool_calls, content, sse_event_count, error, complete, conversation_key,"
             " opening_prompt)"
             " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    CT_TRY(
        prep(st->tool_call,
             "INSERT INTO llm_tool_calls (llm_call_id, idx, tool_use_id, name, input, input_valid,"
             " input_raw) VALUES (?,?,?,?,?,?,?)"));
    CT_TRY(prep(st->search_document,
                "INSERT INTO search_documents (capture_id, kind, ref_id) VALUES (?,?,?)"));
    CT_TRY(prep(st->search_text, "INSERT INTO search_index (rowid, text) VALUES (?,?)"));
    CT_TRY(prep(st->find_blob, "SELECT id FROM llm_blobs WHERE sha256 = ?"));
    CT_TRY(prep(st->blob, "INSERT INTO llm_blobs (sha256, kind, size, text) VALUES (?,?,?,?)"));
    CT_TRY(prep_rows(st->call_messages,
                     "INSERT OR FAIL INTO llm_call_messages (llm_call_id, idx, blob_id, sep)", 4));
    return std::unique_ptr<SqliteStore>(new SqliteStore(db, std::move(st)));
}

// rows::RowRun's Writer on the prepared statements.
class SqliteWriter {
  public:
    SqliteWriter(sqlite::Database& db, SqliteStore::Statements& st) : db_(db), st_(st) {}

    template <typename... Args>
    Expected<std::int64_t> insert(rows::Table table, const Args&... args) {
        CT_TRY(statement(table).execute(args...));
        return db_.last_insert_rowid();
    }
    std::int64_t last_id() const { return db_.last_insert_rowid(); }

    // Only connections are set again (a connection written as it is read).
    template <typename... Args>
    Expected<void> update(rows::Table table, std::int64_t id, const Args&... args) {
        if (table != rows::Table::connections)
            std::abort();
        return st_.connection_update.execute(args..., id);
    }

    template <typename... Args>
    Expected<std::optional<std::int64_t>> insert_capture(const Args&... args) {
        CT_TRY(st_.capture.execute(args...));
        return db_.last_insert_rowid();
    }

    template <typename F>
    Expected<void> insert_rows(rows::Table table, std::size_t count, F&& row) {
        MultiRowInsert& target =
            table == rows::Table::sse_events ? st_.sse_events : st_.call_messages;
        return target.insert(count, [&](Statement& s, int index, std::size_t i) {
            row([&](const auto&... values) { s.bind_from(index, values...); }, i);
        });
    }

    Expected<rows::StoredBlob> intern_blob(const std::string& digest, const char* kind,
                                           std::string_view text) {
        st_.find_blob.bind(1, Blob{digest});
        auto found = st_.find_blob.step();
        std::optional<std::int64_t> existing;
        if (found && *found)
            existing = st_.find_blob.column_int64(0);
        st_.find_blob.reset();
        if (!found)
            return std::unexpected(found.error());
        if (existing)
            return rows::StoredBlob{*existing, false};
        CT_TRY(st_.blob.execute(Blob{digest}, kind, text.size(), text));
        return rows::StoredBlob{db_.last_insert_rowid(), true};
    }

  private:
    Statement& statement(rows::Table table) {
        using rows::Table;
        switch (table) {
            case Table::captures:
                return st_.capture;
            case Table::capture_damage:
                return st_.damage;
            case Table::notes:
                return st_.note;
            case Table::processes:
                return st_.process;
            case Table::probes:
                return st_.probe;
            case Table::tcp_connections:
                return st_.tcp_connection;
            case Table::connections:
                return st_.connection;
            case Table::stream_gaps:
                return st_.gap;
            case Table::raw_streams:
                return st_.raw;
            case Table::http_requests:
                return st_.request;
            case Table::http_responses:
                return st_.response;
            case Table::llm_calls:
                return st_.llm_call;
            case Table::llm_tool_calls:
                return st_.tool_call;
            case Table::search_documents:
                return st_.search_document;
            case Table::search_index:
                return st_.search_text;
            case Table::llm_blobs:
                return st_.blob;
            case Table::sse_events:
            case Table::llm_call_messages:
                break;
        }
        std::abort();  // many-row tables go through insert_rows()
    }

    sqlite::Database& db_;
    SqliteStore::Statements& st_;
};

// One capture being written.
struct SqliteStore::Run {
    Run(sqlite::Database& db, Statements& st, const replay::CaptureContents& contents,
        ImportResult& result)
        : writer(db, st), rows{writer, contents, 0, {}, result, {}, nullptr, {}, 0, 0} {}
    SqliteWriter writer;
    rows::RowRun<SqliteWriter> rows;
};

SqliteStore::SqliteStore(sqlite::Database& db, std::unique_ptr<Statements> statements)
    : db_(db), st_(std::move(statements)) {}

SqliteStore::~SqliteStore() = default;

Expected<void> SqliteStore::begin() {
    run_.reset();
    tx_.reset();
    auto tx = sqlite::Transaction::begin(db_);
    if (!tx)
        return std::unexpected(tx.error());
    tx_ = std::make_unique<sqlite::Transaction>(std::move(*tx));
    return {};
}

Expected<std::optional<StoredCapture>> SqliteStore::find_capture(std::string_view uuid) {
    st_->find_capture.bind(1, uuid);
    auto found = st_->find_capture.step();
    std::optional<StoredCapture> existing;
    if (found && *found) {
        existing = StoredCapture{st_->find_capture.column_int64(0),
                                 static_cast<std::uint64_t>(st_->find_capture.column_int64(1))};
    }
    st_->find_capture.reset();
    if (!found)
        return std::unexpected(found.error());
    return existing;
}

Expected<std::optional<std::int64_t>> SqliteStore::write_capture(
    const replay::CaptureContents& contents, const std::string& file, ImportResult& result) {
    run_ = std::make_unique<Run>(db_, *st_, contents, result);
    auto written = run_->rows.write_capture(file);
    if (!written)
        return std::unexpected(written.error());
    return run_->rows.capture_id;  // the UUID was looked for in this transaction
}

Expected<void> SqliteStore::write_connection(const replay::Connection& connection,
                                             const PreparedConnection& prepared) {
    return run_->rows.insert_connection(connection, prepared);
}

Expected<void> SqliteStore::begin_connection(const replay::Connection& connection) {
    return run_->rows.begin_connection(connection);
}

Expected<void> SqliteStore::write_exchanges(const PreparedConnection& prepared) {
    return run_->rows.write_exchanges(prepared);
}

Expected<void> SqliteStore::end_connection(const replay::Connection& connection,
                                           const PreparedConnection& rest,
                                           const StreamedPart& streamed) {
    return run_->rows.end_connection(connection, rest, streamed);
}

Expected<void> SqliteStore::finish_capture(std::uint64_t lost_bytes) {
    CT_TRY(st_->capture_lost_bytes.execute(lost_bytes, run_->rows.capture_id));
    run_.reset();
    auto tx = std::move(tx_);
    return tx->commit();
}

void SqliteStore::rollback() {
    run_.reset();
    tx_.reset();  // rolls back
}

}  // namespace ct::analyze

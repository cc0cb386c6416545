// Where an import writes. The importer decodes; a store keeps what it decoded,
// one capture at a time and all of it or nothing: SqliteStore or PgStore
// (open_store() in session_database.hpp picks one from a --db string).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "capture/capture_contents.hpp"
#include "prepared_connection.hpp"
#include "util/error.hpp"

namespace ct::analyze {

struct ImportResult {
    std::int64_t capture_id = 0;
    bool already_present = false;  // the UUID was imported before: nothing changed
    // Set when the earlier import held fewer events than this file (it was read
    // while still being recorded): the events it stored.
    std::optional<std::uint64_t> stored_events;
    std::uint64_t file_events = 0;  // events in the file being imported
    std::uint64_t connections = 0;
    std::uint64_t requests = 0;
    std::uint64_t responses = 0;
    std::uint64_t sse_events = 0;
    std::uint64_t llm_calls = 0;
};

// What the exchanges of a connection written as it is read decided for its row.
struct StreamedPart {
    std::string protocol;  // "http/1.1" or "http/1.0", from its first request
    std::string host;      // the first request Host that is not empty
};

// A capture already stored, by UUID.
struct StoredCapture {
    std::int64_t id = 0;
    std::uint64_t events = 0;  // the events it was imported with
};

class CaptureStore {
  public:
    virtual ~CaptureStore() = default;

    // Starts writing one capture. Nothing is kept until finish_capture(); a new
    // begin(), rollback() or the destructor drops what was not finished.
    virtual Expected<void> begin() = 0;
    virtual Expected<std::optional<StoredCapture>> find_capture(std::string_view uuid) = 0;
    // The capture and what it knows as a whole: damage, notes, processes, probes,
    // TCP connections (not contents.connections). Counts go to `result`, which
    // must outlive the capture's writing. Returns the capture's id, or nullopt
    // when the UUID turned out to be stored already (a concurrent import of the
    // same capture committed first; the caller then rolls back).
    virtual Expected<std::optional<std::int64_t>> write_capture(
        const replay::CaptureContents& contents, const std::string& file, ImportResult& result) = 0;
    // One connection with its gaps, raw stretches, exchanges, SSE events and LLM
    // calls, in the order the import hands them over.
    virtual Expected<void> write_connection(const replay::Connection& connection,
                                            const PreparedConnection& prepared) = 0;
    // A connection written as it is read (ExchangeStreamer): its row with what is
    // known at first, then its exchanges as they complete, numbered on, then
    // the rest of it (gaps, raw stretches, the exchanges left), which sets the
    // row again to what write_connection() of the whole connection gives. No
    // other connection is written in between.
    virtual Expected<void> begin_connection(const replay::Connection& connection) = 0;
    virtual Expected<void> write_exchanges(const PreparedConnection& prepared) = 0;
    virtual Expected<void> end_connection(const replay::Connection& connection,
                                          const PreparedConnection& rest,
                                          const StreamedPart& streamed) = 0;
    // What only the whole capture knows (the bytes its gaps lost), then keeps it all.
    virtual Expected<void> finish_capture(std::uint64_t lost_bytes) = 0;
    virtual void rollback() = 0;
};

}  // namespace ct::analyze

// CaptureStore on a ct PostgreSQL database (schema/sql/postgresql), one
// transaction per capture, many importers at once (issue 12):
//   * the captures row goes in first, INSERT ... ON CONFLICT (uuid) DO NOTHING:
//     a concurrent import of the same capture waits for the other's commit and
//     then finds it stored (exactly one copy; the loser reports "already present");
//   * ids come from the tables' sequences, reserved in blocks (nextval), so
//     imports of different captures never collide; the rows go in with COPY,
//     buffered per table and flushed parents first;
//   * llm_blobs (shared by all captures, content-addressed) are inserted on a
//     second, autocommit connection with ON CONFLICT DO NOTHING, one statement
//     per connection for all its new blobs (found by running the connection
//     through a writer that writes nothing first), in sha256 order: two imports
//     that store the same blobs in different orders cannot deadlock. A blob
//     whose import then fails stays (unreferenced, like any blob nobody uses).
#pragma once

#include <memory>

#include "capture_store.hpp"
#include <vector>

#include "pg/connection.hpp"

namespace ct::analyze {

class PgStore final : public CaptureStore {
  public:
    // The database must already be migrated (migrate_pg).
    static Expected<std::unique_ptr<PgStore>> create(const std::string& spec);
    ~PgStore() override;
    PgStore(const PgStore&) = delete;
    PgStore& operator=(const PgStore&) = delete;

    Expected<void> begin() override;
    Expected<std::optional<StoredCapture>> find_capture(std::string_view uuid) override;
    Expected<std::optional<std::int64_t>> write_capture(const replay::CaptureContents& contents,
                                                        const std::string& file,
                                                        ImportResult& result) override;
    Expected<void> write_connection(const replay::Connection& connection,
                                    const PreparedConnection& prepared) override;
    Expected<void> begin_connection(const replay::Connection& connection) override;
    Expected<void> write_exchanges(const PreparedConnection& prepared) override;
    Expected<void> end_connection(const replay::Connection& connection,
                                  const PreparedConnection& rest,
                                  const StreamedPart& streamed) override;
    Expected<void> finish_capture(std::uint64_t lost_bytes) override;
    void rollback() override;
    // Are both connections still up? (A store whose server went away is replaced.)
    bool connected() const {
        return PQstatus(main_.handle()) == CONNECTION_OK &&
               PQstatus(blobs_.handle()) == CONNECTION_OK;
    }

    class Writer;

  private:
    struct Run;
    PgStore(pg::Connection main, pg::Connection blobs);
    template <typename F>
    Expected<void> store_blobs_of(const PreparedConnection& prepared, F&& write);
    Expected<void> flush_if_big();

    pg::Connection main_;
    pg::Connection blobs_;
    std::unique_ptr<Writer> writer_;
    std::unique_ptr<Run> run_;
    bool in_transaction_ = false;
};

// `s` as PostgreSQL text can hold it: NUL bytes and invalid UTF-8 (a file name's
// bytes, say) become U+FFFD, as everywhere the importer writes text.
std::string pg_text(std::string_view s);

// Creates ct's tables in an empty database, or checks that the database is
// ct's and brings it to this binary's schema version (one importer at a time:
// an advisory lock). Returns the schema version.
Expected<int> migrate_pg(pg::Connection& db);

// The secret-fingerprint key shared by every importer of the database
// (ct_settings), created on first use.
Expected<std::string> pg_fingerprint_key(pg::Connection& db);

}  // namespace ct::analyze

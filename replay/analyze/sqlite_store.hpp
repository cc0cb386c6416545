// CaptureStore on a ct SQLite database (schema/sql), one transaction per capture.
#pragma once

#include <memory>

#include "capture_store.hpp"
#include "sqlite/database.hpp"
#include "sqlite/transaction.hpp"

namespace ct::analyze {

class SqliteStore final : public CaptureStore {
  public:
    // Prepares the statements; the database must already be migrated.
    static Expected<std::unique_ptr<SqliteStore>> create(sqlite::Database& db);
    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

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

    struct Statements;

  private:
    struct Run;  // one capture being written
    SqliteStore(sqlite::Database& db, std::unique_ptr<Statements> statements);

    sqlite::Database& db_;
    std::unique_ptr<Statements> st_;
    std::unique_ptr<Run> run_;
    std::unique_ptr<sqlite::Transaction> tx_;
};

}  // namespace ct::analyze

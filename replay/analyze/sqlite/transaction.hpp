// A write transaction that rolls back unless committed (RAII).
#pragma once

#include "sqlite/database.hpp"

namespace ct::analyze::sqlite {

class Transaction {
  public:
    // BEGIN IMMEDIATE: take the write lock now rather than fail halfway.
    static Expected<Transaction> begin(Database& db) {
        if (auto r = db.exec("BEGIN IMMEDIATE"); !r)
            return std::unexpected(r.error());
        return Transaction(db);
    }
    Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    ~Transaction() {
        if (db_)
            (void)db_->exec("ROLLBACK");
    }

    Expected<void> commit() {
        Database* db = db_;
        db_ = nullptr;
        return db->exec("COMMIT");
    }

  private:
    explicit Transaction(Database& db) : db_(&db) {}
    Database* db_;
};

}  // namespace ct::analyze::sqlite

// What fuzz_importer and fuzz_export share: an in-memory session database with
// its Importer, and the import of one fuzz input into it, from records as the
// reader delivers them (stream assembly, the connection being read decoded
// exchange by exchange, every decoder, every insert).
#pragma once

#include <memory>

#include "analyze_capture.hpp"
#include "fuzz_support.hpp"
#include "importer.hpp"

namespace ct::fuzz {

class ImportFixture {
  public:
    // Imports the input as one capture (a new UUID each time); traps if the
    // import fails or finds the capture already present.
    analyze::ImportResult import(const std::uint8_t* data, std::size_t size) {
        // A fresh database now and then keeps memory flat over a long run.
        if (!db_ || runs_ % 256 == 0)
            reopen();
        auto records = records_from({data, size});
        replay::LoadOptions load;
        load.max_held_bytes = 1u << 16;
        // As ct-analyze reads a capture: connection by connection, the one being
        // read decoded exchange by exchange (ExchangeStreamer).
        auto capture =
            replay::StreamedCapture::from_records(fuzz_header(runs_++), records, {}, load);
        auto result = importer_->import(
            capture.contents(), "fuzz.ctz", capture.connection_count(),
            [&](const analyze::Importer::ConnectionSink& sink, replay::ConnectionTap* tap) {
                return capture.for_each_connection(
                    [&](replay::Connection&& c) {
                        return sink(std::make_shared<const replay::Connection>(std::move(c)));
                    },
                    tap);
            });
        if (!result || result->already_present)
            __builtin_trap();
        return *result;
    }

    analyze::sqlite::Database& db() { return *db_; }

  private:
    void reopen() {
        importer_.reset();
        db_.reset();
        auto opened = analyze::open_session_database(":memory:");
        if (!opened)
            __builtin_trap();
        db_ = std::make_unique<analyze::sqlite::Database>(std::move(*opened));
        // No rollback journal: an import that fails traps the target anyway, and
        // the in-memory journal's copy of every page an import touches (about a
        // thousand 1 KiB allocations per input) was most of the target's time.
        if (!db_->exec("PRAGMA journal_mode = OFF"))
            __builtin_trap();
        static const auto fingerprinter = analyze::SecretFingerprinter::with_key("fuzz-key");
        analyze::ImportOptions options;
        options.decode.max_body = 16384;  // small, so that fuzzed inputs reach the cuts
        options.decode.max_growth = 65536;
        // A thread per connection would cost more than the import (thread stacks
        // mapped and unmapped for every input); the rows are the same.
        options.decode_ahead = false;
        auto created = analyze::Importer::create(*db_, &fingerprinter, options);
        if (!created)
            __builtin_trap();
        importer_ = std::move(*created);
    }

    std::uint64_t runs_ = 0;
    std::unique_ptr<analyze::sqlite::Database> db_;
    // Kept with its database: its prepared statements serve every import into it.
    std::unique_ptr<analyze::Importer> importer_;
};

}  // namespace ct::fuzz

// Imports a loaded capture into the database: one transaction per capture,
// idempotent by capture UUID.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "capture/capture_contents.hpp"
#include "content_decoding.hpp"
#include "secrets.hpp"
#include "sqlite/database.hpp"

namespace ct::analyze {

struct ImportOptions {
    bool keep_secrets = false;  // store secret header values verbatim
    DecodeLimits decode;        // against compression bombs
    std::function<void(std::size_t done, std::size_t total)> progress;  // connections decoded
};

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

class Importer {
  public:
    // Prepares the statements; the database must already be migrated.
    static Expected<std::unique_ptr<Importer>> create(sqlite::Database& db,
                                                      const SecretFingerprinter* fingerprinter,
                                                      ImportOptions options);
    ~Importer();
    Importer(const Importer&) = delete;
    Importer& operator=(const Importer&) = delete;

    Expected<ImportResult> import(const replay::CaptureContents& contents, const std::string& file);

    struct Statements;
    Importer(sqlite::Database& db, const SecretFingerprinter* fingerprinter, ImportOptions options,
             std::unique_ptr<Statements> statements);

  private:
    sqlite::Database& db_;
    const SecretFingerprinter* fingerprinter_;
    ImportOptions options_;
    std::unique_ptr<Statements> st_;
};

}  // namespace ct::analyze

// Imports a capture into a store: decodes its connections (a few at a time, on
// worker threads) and hands what they hold to the store, one transaction per
// capture, idempotent by capture UUID.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "capture/capture_contents.hpp"
#include "capture_store.hpp"
#include "content_decoding.hpp"
#include "secrets.hpp"
#include "sqlite/database.hpp"

namespace ct::analyze {

struct ImportOptions {
    bool keep_secrets = false;  // store secret header values verbatim
    DecodeLimits decode;        // against compression bombs
    std::function<void(std::size_t done, std::size_t total)> progress;  // connections decoded
    // Connections are decoded on worker threads a few ahead of the writes; false
    // decodes each on the writing thread when its turn comes (the same rows: the
    // fuzz targets, where a thread per connection costs more than the decoding).
    bool decode_ahead = true;
};

class Importer {
  public:
    // Writes to a ct SQLite database, which must already be migrated.
    static Expected<std::unique_ptr<Importer>> create(sqlite::Database& db,
                                                      const SecretFingerprinter* fingerprinter,
                                                      ImportOptions options);
    Importer(std::unique_ptr<CaptureStore> store, const SecretFingerprinter* fingerprinter,
             ImportOptions options);
    // Writes to `store`, which must outlive the importer.
    Importer(CaptureStore& store, const SecretFingerprinter* fingerprinter, ImportOptions options);
    ~Importer();
    Importer(const Importer&) = delete;
    Importer& operator=(const Importer&) = delete;

    // A capture loaded whole (load_capture).
    Expected<ImportResult> import(const replay::CaptureContents& contents, const std::string& file);

    // A capture whose connections come one by one: `source(sink)` calls
    // sink(connection) for each of the `connection_count` connections, in the
    // order of CaptureContents::connections, and stops at the first failure it
    // returns. `contents` holds the rest of the capture (its connections unused).
    // The importer keeps a connection only until it is written.
    // With a `tap` (given to the source), the connection next in order is decoded
    // and written exchange by exchange while it is read (ExchangeStreamer), so
    // one long connection is not held whole either.
    using ConnectionSink = std::function<Expected<void>(std::shared_ptr<const replay::Connection>)>;
    using ConnectionSource =
        std::function<Expected<void>(const ConnectionSink&, replay::ConnectionTap* tap)>;
    Expected<ImportResult> import(const replay::CaptureContents& contents, const std::string& file,
                                  std::size_t connection_count, const ConnectionSource& source);

    // Of the last import: the most tapped bytes the ExchangeStreamer held at
    // once, and the exchanges it wrote as they came.
    std::uint64_t streamed_high_water() const { return streamed_high_water_; }
    std::uint64_t exchanges_streamed() const { return exchanges_streamed_; }

  private:
    std::unique_ptr<CaptureStore> owned_;
    CaptureStore* store_;
    std::uint64_t streamed_high_water_ = 0;
    std::uint64_t exchanges_streamed_ = 0;
    const SecretFingerprinter* fingerprinter_;
    ImportOptions options_;
};

}  // namespace ct::analyze

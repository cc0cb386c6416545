// The steps behind `ct-analyze FILE...`: open and migrate the database, load a
// capture, import it.
#pragma once

#include <functional>
#include <string>

#include "importer.hpp"
#include "sqlite/database.hpp"

namespace ct::analyze {

// Opens (creating it and its directory if needed) and migrates the database.
Expected<sqlite::Database> open_session_database(const std::string& path);

struct CaptureImport {
    ImportResult result;
    bool ended_cleanly = false;
    std::uint64_t bad_frames = 0;
    // The most captured plaintext bytes the reading held at once: those of the
    // connections open at that point of the file (StreamedCapture).
    std::uint64_t held_plaintext_high_water = 0;
    // The most plaintext of the connection being read that its decoding held at
    // once (ExchangeStreamer), and the exchanges written while they were read.
    std::uint64_t streamed_high_water = 0;
    std::uint64_t exchanges_streamed = 0;
};

// progress(phase, done, total): phase "read" counts file bytes, "decode" connections.
using ImportProgress =
    std::function<void(const char* phase, std::uint64_t done, std::uint64_t total)>;

// Bounds on what one capture may take, against hostile captures.
struct CaptureLimits {
    std::uint64_t max_held_bytes = replay::kDefaultMaxHeldBytes;  // --max-plaintext
    DecodeLimits decode;  // --max-body-size, --max-decoded-growth
};

Expected<CaptureImport> import_capture_file(sqlite::Database& db, const std::string& capture_path,
                                            bool keep_secrets, const ImportProgress& progress = {},
                                            const CaptureLimits& limits = {});

}  // namespace ct::analyze

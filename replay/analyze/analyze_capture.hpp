// The steps behind `ct-analyze FILE...`: open and migrate the database, load a
// capture, import it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "importer.hpp"
#include "pg/connection.hpp"
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

// The database --db names, whichever the engine: an SQLite file, or PostgreSQL
// (a postgresql:// or postgres:// URI, or libpq keyword=value pairs). Opened,
// created and migrated by open_store().
class SessionDatabase {
  public:
    enum class Engine { Sqlite, Postgres };
    Engine engine() const { return pg_ ? Engine::Postgres : Engine::Sqlite; }
    // Non-null for the engine it is.
    sqlite::Database* sqlite() { return sqlite_ ? &*sqlite_ : nullptr; }
    pg::Connection* postgres() { return pg_.get(); }
    // The --db value, a PostgreSQL password hidden: for messages.
    const std::string& display_name() const { return display_; }
    const std::string& spec() const { return spec_; }

    // A store writing captures into this database (PostgreSQL: its own connections).
    Expected<std::unique_ptr<CaptureStore>> capture_store();
    // The secret fingerprints' key of this database (SQLite: the file beside
    // it; PostgreSQL: ct_settings, shared by every host importing into it).
    Expected<SecretFingerprinter> fingerprinter();

  private:
    friend Expected<SessionDatabase> open_store(const std::string& spec);
    std::string spec_, display_;
    std::optional<sqlite::Database> sqlite_;
    std::unique_ptr<pg::Connection> pg_;
};

// Picks the engine from a --db value, opens it, creates its tables or checks
// they are ct's, and migrates it.
Expected<SessionDatabase> open_store(const std::string& spec);

// Imports one capture file into the database, whichever the engine: the one
// entry point of ct-analyze FILE... (and of anything importing captures).
Expected<CaptureImport> import_capture_file(SessionDatabase& db, const std::string& capture_path,
                                            bool keep_secrets, const ImportProgress& progress = {},
                                            const CaptureLimits& limits = {});

// The same into a store, with the fingerprinter the database uses (nullptr
// with keep_secrets).
Expected<CaptureImport> import_capture_file(CaptureStore& store,
                                            const SecretFingerprinter* fingerprinter,
                                            const std::string& capture_path, bool keep_secrets,
                                            const ImportProgress& progress = {},
                                            const CaptureLimits& limits = {});

}  // namespace ct::analyze

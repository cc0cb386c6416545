// ct-analyze --watch DIR: ships the captures of a directory into a database as
// soon as each is finished (an always-on recorder's rotated files, say), and
// keeps what it did in the database (shipped_files) so that a restart reads only
// what changed. Several watchers may write into one database: imports are
// idempotent by capture UUID.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "analyze_capture.hpp"

namespace ct::analyze {

// One row of shipped_files: what the watcher did with a file, and the file as it
// was then (a file that changes is looked at again).
struct ShippedFile {
    std::string path;  // absolute
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::string outcome;  // "imported", "already_present" or "failed"
    std::optional<std::string> capture_uuid;
    std::optional<std::int64_t> capture_id;
    std::optional<bool> ended_cleanly;
    std::string message;  // why it failed, what was damaged
};

// The database a watcher writes to, whichever engine: the import of one capture
// file (one transaction, idempotent by UUID) and the shipped_files rows.
class ShipTarget {
  public:
    virtual ~ShipTarget() = default;
    virtual Expected<std::optional<ShippedFile>> find_shipped(const std::string& host,
                                                              const std::string& path) = 0;
    virtual Expected<void> record_shipped(const std::string& host, const ShippedFile& file) = 0;
    // `progress` as for import_capture_file ("decode" steps come inside the
    // capture's transaction).
    virtual Expected<CaptureImport> import_file(const std::string& path,
                                                const ImportProgress& progress) = 0;
};

// The database named by --db. Knows SQLite files only: a postgresql:// URL is
// refused until the PostgreSQL store is there.
Expected<std::unique_ptr<ShipTarget>> open_ship_target(const std::string& db_spec,
                                                       bool keep_secrets,
                                                       const CaptureLimits& limits);

// What a look at a file found, without reading more than its header and tail.
struct FileLook {
    enum class Writer { None, Open, Unknown };
    Writer writer = Writer::Unknown;  // does a process hold it open for writing?
    bool header_ok = false;           // a ct capture header (with its UUID)
    bool maybe_incomplete = false;    // too short for its header: may still be written
    std::string header_error;
    std::string uuid;
    bool clean_trailer = false;  // the file ends with a capture trailer
    // The file's stat, taken after the writer check: what the look describes. A
    // stat from before the check can name a copy still under way.
    struct stat st {};
};
Expected<FileLook> look_at_file(const std::string& path);

// Does a file whose last bytes are `tail` end with a capture trailer (a CTZT
// skippable frame that ends where the file ends and parses)? A file's tail is its
// last kTailBytes; trailers are far smaller.
inline constexpr std::size_t kTailBytes = 64 * 1024;
bool tail_ends_with_trailer(std::span<const std::uint8_t> tail);

// A temporary name a writer gives a file until it is complete (x.ctz.part ...).
bool is_temporary_name(std::string_view name);

struct ShipOptions {
    std::string dir;
    bool once = false;              // scan, import, exit
    unsigned rescan_seconds = 60;   // rescan this often besides inotify
    unsigned settle_seconds = 120;  // an unfinished file nobody writes is final after this
    std::string move_to;            // move imported files here
    bool delete_after_import = false;
    bool quiet = false;  // only problems on stderr
    std::string host;    // shipped_files.host; gethostname() when empty
    // The database's own files (a database kept in the watched directory, with its
    // -wal, -shm and .key) are no captures: paths starting with this are left alone.
    std::string skip_prefix;
};

// Exit statuses of --watch (documented in --help and the README).
inline constexpr int kShipOk = 0;  // stopped by SIGTERM/SIGINT, or --once imported all
inline constexpr int kShipFailed =
    1;  // --once: a file failed; the directory or database is unusable
// 2 is a bad command line, as for every ct-analyze run.

// Runs the watcher until SIGTERM or SIGINT (which it blocks and reads from a
// signalfd, so that they end the run between two captures, never inside an
// import) or, with --once, after one scan. Call it before any thread starts.
// Returns an exit status.
int run_ship(ShipTarget& target, const ShipOptions& options);

}  // namespace ct::analyze

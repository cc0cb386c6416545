#include "ship.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "capture/capture_reader.hpp"
#include "ctz_format.hpp"
#include "pg/connection.hpp"
#include "pg_store.hpp"
#include "sqlite/database.hpp"
#include "util/unique_fd.hpp"

namespace ct::analyze {

namespace {

// Starts the message of an error because the PostgreSQL server went away.
constexpr const char* kPgLost = "PostgreSQL server unreachable: ";

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::uint32_t le32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// shipped_files on a ct SQLite database; the SQL is PostgreSQL's too but for the
// placeholders.
class SqliteShipTarget final : public ShipTarget {
  public:
    SqliteShipTarget(sqlite::Database db, bool keep_secrets, CaptureLimits limits)
        : db_(std::move(db)), keep_secrets_(keep_secrets), limits_(limits) {}

    Expected<std::optional<ShippedFile>> find_shipped(const std::string& host,
                                                      const std::string& path) override {
        auto st = db_.prepare(
            "SELECT device, inode, size, mtime_ns, outcome, capture_uuid, capture_id, "
            "ended_cleanly, message FROM shipped_files WHERE host = ? AND path = ?");
        if (!st)
            return std::unexpected(st.error());
        st->bind_from(1, host, path);
        auto row = st->step();
        if (!row)
            return std::unexpected(row.error());
        if (!*row)
            return std::nullopt;
        ShippedFile f;
        f.path = path;
        f.device = static_cast<std::uint64_t>(st->column_int64(0));
        f.inode = static_cast<std::uint64_t>(st->column_int64(1));
        f.size = static_cast<std::uint64_t>(st->column_int64(2));
        f.mtime_ns = st->column_int64(3);
        f.outcome = std::string(st->column_text(4));
        if (!st->column_is_null(5))
            f.capture_uuid = std::string(st->column_text(5));
        if (!st->column_is_null(6))
            f.capture_id = st->column_int64(6);
        if (!st->column_is_null(7))
            f.ended_cleanly = st->column_int64(7) != 0;
        if (!st->column_is_null(8))
            f.message = std::string(st->column_text(8));
        return f;
    }

    Expected<void> record_shipped(const std::string& host, const ShippedFile& f) override {
        auto st = db_.prepare(
            "INSERT INTO shipped_files (host, path, device, inode, size, mtime_ns, outcome, "
            "capture_uuid, capture_id, ended_cleanly, message, shipped_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (host, path) DO UPDATE SET device = excluded.device, "
            "inode = excluded.inode, size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "outcome = excluded.outcome, capture_uuid = excluded.capture_uuid, "
            "capture_id = excluded.capture_id, ended_cleanly = excluded.ended_cleanly, "
            "message = excluded.message, shipped_ns = excluded.shipped_ns");
        if (!st)
            return std::unexpected(st.error());
        std::optional<std::int64_t> clean;
        if (f.ended_cleanly)
            clean = *f.ended_cleanly ? 1 : 0;
        std::optional<std::string> message;
        if (!f.message.empty())
            message = f.message;
        return st->execute(host, f.path, static_cast<std::int64_t>(f.device),
                           static_cast<std::int64_t>(f.inode), static_cast<std::int64_t>(f.size),
                           f.mtime_ns, f.outcome, f.capture_uuid, f.capture_id, clean, message,
                           now_ns());
    }

    Expected<CaptureImport> import_file(const std::string& path,
                                        const ImportProgress& progress) override {
        return import_capture_file(db_, path, keep_secrets_, progress, limits_);
    }

  private:
    sqlite::Database db_;
    bool keep_secrets_;
    CaptureLimits limits_;
};

// shipped_files on a ct PostgreSQL database: the same statements, $n
// placeholders. One connection for shipped_files and one PgStore (with its own
// two connections) for every capture the watcher imports; a connection the
// server dropped is opened again at the next call.
class PgShipTarget final : public ShipTarget {
  public:
    PgShipTarget(SessionDatabase db, bool keep_secrets, CaptureLimits limits)
        : db_(std::move(db)), keep_secrets_(keep_secrets), limits_(limits) {}

    Expected<std::optional<ShippedFile>> find_shipped(const std::string& host,
                                                      const std::string& path) override {
        auto r = exec(
            "SELECT device, inode, size, mtime_ns, outcome, capture_uuid, capture_id, "
            "ended_cleanly, message FROM shipped_files WHERE host = $1 AND path = $2",
            {text(host), text(path)});
        if (!r)
            return std::unexpected(r.error());
        const PGresult* res = r->get();
        if (PQntuples(res) == 0)
            return std::nullopt;
        auto value = [&](int c) -> std::optional<std::string> {
            if (PQgetisnull(res, 0, c))
                return std::nullopt;
            return std::string(PQgetvalue(res, 0, c));
        };
        ShippedFile f;
        f.path = path;
        f.device = std::stoull(*value(0));
        f.inode = std::stoull(*value(1));
        f.size = std::stoull(*value(2));
        f.mtime_ns = std::stoll(*value(3));
        f.outcome = *value(4);
        f.capture_uuid = value(5);
        if (auto v = value(6))
            f.capture_id = std::stoll(*v);
        if (auto v = value(7))
            f.ended_cleanly = *v != "0";
        if (auto v = value(8))
            f.message = *v;
        return f;
    }

    Expected<void> record_shipped(const std::string& host, const ShippedFile& f) override {
        auto number = [](auto v) { return pg::Param{fmt::format("{}", v), false}; };
        pg::Param clean, id, uuid, message;
        if (f.ended_cleanly)
            clean = number(*f.ended_cleanly ? 1 : 0);
        if (f.capture_id)
            id = number(*f.capture_id);
        if (f.capture_uuid)
            uuid = text(*f.capture_uuid);
        if (!f.message.empty())
            message = text(f.message);
        auto r = exec(
            "INSERT INTO shipped_files (host, path, device, inode, size, mtime_ns, outcome, "
            "capture_uuid, capture_id, ended_cleanly, message, shipped_ns) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
            "ON CONFLICT (host, path) DO UPDATE SET device = excluded.device, "
            "inode = excluded.inode, size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "outcome = excluded.outcome, capture_uuid = excluded.capture_uuid, "
            "capture_id = excluded.capture_id, ended_cleanly = excluded.ended_cleanly, "
            "message = excluded.message, shipped_ns = excluded.shipped_ns",
            {text(host), text(f.path), number(static_cast<std::int64_t>(f.device)),
             number(static_cast<std::int64_t>(f.inode)), number(static_cast<std::int64_t>(f.size)),
             number(f.mtime_ns), text(f.outcome), uuid, id, clean, message, number(now_ns())});
        if (!r)
            return std::unexpected(r.error());
        return {};
    }

    Expected<CaptureImport> import_file(const std::string& path,
                                        const ImportProgress& progress) override {
        if (!keep_secrets_ && !fingerprinter_) {
            auto fp = db_.fingerprinter();
            if (!fp)
                return std::unexpected(lost(fp.error()));
            fingerprinter_ = std::move(*fp);
        }
        // A store whose connections the server dropped (a restart since the
        // last capture) is replaced and the import run again: it is one
        // transaction, idempotent by UUID.
        for (int attempt = 0;; ++attempt) {
            if (!store_) {
                auto store = db_.capture_store();  // connects: fails when unreachable
                if (!store)
                    return std::unexpected(Error{std::string(kPgLost) + store.error().message, 0});
                store_ = std::move(*store);
            }
            auto r = import_capture_file(*store_, fingerprinter_ ? &*fingerprinter_ : nullptr, path,
                                         keep_secrets_, progress, limits_);
            if (r || static_cast<PgStore&>(*store_).connected())
                return r;
            store_.reset();
            if (attempt == 1)
                return std::unexpected(Error{std::string(kPgLost) + r.error().message, 0});
        }
    }

  private:
    static pg::Param text(const std::string& s) { return {pg_text(s), false}; }

    // A failure because the server is out of reach is no fault of the file:
    // the watcher retries it at its next scan (busy_error()).
    Error lost(Error e) {
        if (PQstatus(db_.postgres()->handle()) != CONNECTION_OK)
            e.message = std::string(kPgLost) + e.message;
        return e;
    }

    // Runs one statement of shipped_files (each is safe to run twice), once
    // more on a new connection when the server dropped this one.
    Expected<pg::Result> exec(const std::string& sql, const std::vector<pg::Param>& params) {
        pg::Connection& c = *db_.postgres();
        for (int attempt = 0;; ++attempt) {
            if (PQstatus(c.handle()) != CONNECTION_OK) {
                PQreset(c.handle());
                PQsetClientEncoding(c.handle(), "UTF8");
            }
            auto r = c.exec(sql, params);
            if (r || PQstatus(c.handle()) == CONNECTION_OK || attempt == 1)
                return r ? std::move(r) : std::unexpected(lost(r.error()));
        }
    }

    SessionDatabase db_;
    bool keep_secrets_;
    CaptureLimits limits_;
    std::optional<SecretFingerprinter> fingerprinter_;
    std::unique_ptr<CaptureStore> store_;
};

// Is the file open for writing anywhere? A read lease is refused (EAGAIN) while it
// is; taken, it is given back at once. Leases need the file's owner or CAP_LEASE.
FileLook::Writer writer_state(int fd) {
    if (::fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
        ::fcntl(fd, F_SETLEASE, F_UNLCK);
        return FileLook::Writer::None;
    }
    return errno == EAGAIN ? FileLook::Writer::Open : FileLook::Writer::Unknown;
}

// Reads the file's last kTailBytes (fewer if it is shorter).
std::vector<std::uint8_t> read_tail(int fd, std::uint64_t size) {
    const std::uint64_t take = std::min<std::uint64_t>(size, kTailBytes);
    std::vector<std::uint8_t> tail(take);
    const auto start = static_cast<off_t>(size - take);
    std::size_t got = 0;
    while (got < take) {
        ssize_t n = ::pread(fd, tail.data() + got, take - got, start + static_cast<off_t>(got));
        if (n <= 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    tail.resize(got);
    return tail;
}

}  // namespace

Expected<std::unique_ptr<ShipTarget>> open_ship_target(const std::string& db_spec,
                                                       bool keep_secrets,
                                                       const CaptureLimits& limits) {
    if (pg::is_connection_string(db_spec)) {
        auto db = open_store(db_spec);
        if (!db)
            return std::unexpected(db.error());
        return std::make_unique<PgShipTarget>(std::move(*db), keep_secrets, limits);
    }
    auto db = open_session_database(db_spec);
    if (!db)
        return std::unexpected(db.error());
    return std::make_unique<SqliteShipTarget>(std::move(*db), keep_secrets, limits);
}

bool tail_ends_with_trailer(std::span<const std::uint8_t> tail) {
    const std::size_t size = tail.size();
    if (size < 16)
        return false;
    // Candidates from the end back: a frame of ours whose end is the tail's end.
    for (std::size_t p = size - 16;; --p) {
        if (le32(&tail[p]) == ctz::kSkippableMagic && le32(&tail[p + 8]) == ctz::kTagTrailer &&
            le32(&tail[p + 4]) == size - p - 8 &&
            replay::parse_trailer_content(tail.subspan(p + 8)))
            return true;
        if (p == 0)
            return false;
    }
}

bool is_temporary_name(std::string_view name) {
    for (std::string_view suffix : {".part", ".tmp", ".partial", ".inprogress", ".open", "~"}) {
        if (name.ends_with(suffix))
            return true;
    }
    return false;
}

Expected<FileLook> look_at_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd)
        return fail_errno("cannot open " + path);
    FileLook look;
    look.writer = writer_state(fd.get());
    if (look.writer == FileLook::Writer::Open)
        return look;  // nothing else counts while it is written
    // After the writer check: a writer that closed just before it has written
    // everything this stat sees, so the key stored with the import is the file's
    // final one (a stat from before could name half a copy, and the file would be
    // imported again as changed).
    struct stat& st = look.st;
    if (::fstat(fd.get(), &st) != 0)
        return fail_errno("cannot stat " + path);
    auto reader = replay::CaptureReader::open(path);
    if (reader) {
        look.header_ok = true;
        look.uuid = reader->header().uuid;
    } else {
        // Renamed or deleted since our open (a recorder renaming `x.ctz.part` to
        // `x.ctz` as it closes it): not a bad file, the new name comes next.
        struct stat now {};
        if (::lstat(path.c_str(), &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)
            return fail("gone while being looked at: " + path, ENOENT);
        look.header_error = reader.error().what();
        // The header is written at once, but a copy may be under way.
        look.maybe_incomplete = look.header_error.find("too short") != std::string::npos ||
                                look.header_error.find("truncated") != std::string::npos;
    }
    look.clean_trailer = look.header_ok && tail_ends_with_trailer(read_tail(
                                               fd.get(), static_cast<std::uint64_t>(st.st_size)));
    return look;
}

namespace {

struct FileKey {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileKey&) const = default;
};

FileKey key_of(const struct stat& st) {
    return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
            static_cast<std::uint64_t>(st.st_size),
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

FileKey key_of(const ShippedFile& f) {
    return {f.device, f.inode, f.size, f.mtime_ns};
}

bool busy_error(const Error& e) {
    return e.message.starts_with(kPgLost) ||
           e.message.find("database is locked") != std::string::npos ||
           e.message.find("database table is locked") != std::string::npos;
}

class Shipper {
  public:
    Shipper(ShipTarget& target, const ShipOptions& options, std::string dir, int signal_fd)
        : target_(target), options_(options), dir_(std::move(dir)), signal_fd_(signal_fd) {}

    bool stop_requested() {
        if (stopping_)
            return true;
        if (signal_fd_ < 0)
            return false;
        pollfd p{signal_fd_, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
            signalfd_siginfo info{};
            if (::read(signal_fd_, &info, sizeof info) == sizeof info)
                log("stopping on {}", info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            stopping_ = true;
        }
        return stopping_;
    }

    // One pass over the directory. Returns false if the directory cannot be read.
    // `next_wake_ms` gets how soon a file waiting to settle needs another look.
    bool scan(int& next_wake_ms) {
        next_wake_ms = -1;
        struct Closer {
            void operator()(DIR* d) const { ::closedir(d); }
        };
        std::unique_ptr<DIR, Closer> d(::opendir(dir_.c_str()));
        if (!d) {
            log_error("cannot read {}: {}", dir_, std::strerror(errno));
            return false;
        }
        struct Candidate {
            std::string path;
            struct stat st;
            FileLook look;
        };
        std::vector<Candidate> ready;
        std::unordered_set<std::string> seen;
        waiting_ = 0;
        const std::int64_t now = now_ns();
        while (dirent* e = ::readdir(d.get())) {
            std::string_view name = e->d_name;
            if (name.empty() || name[0] == '.')
                continue;  // ., .., hidden files (rsync's temporary names among them)
            std::string path = dir_ + "/" + std::string(name);
            if (!options_.skip_prefix.empty() && path.starts_with(options_.skip_prefix))
                continue;
            struct stat st {};
            if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            seen.insert(path);
            FileKey key = key_of(st);
            if (auto it = done_.find(path); it != done_.end() && it->second == key)
                continue;
            // Another watcher, or this one before a restart, may have shipped it.
            auto shipped = target_.find_shipped(host(), path);
            if (!shipped) {
                log_error("{}: reading shipped_files: {}", path, shipped.error().what());
                continue;
            }
            if (*shipped && key_of(**shipped) == key) {
                done_[path] = key;
                continue;
            }
            auto look = look_at_file(path);
            if (!look) {
                if (look.error().errno_value != ENOENT)  // not gone meanwhile
                    fail_file(path, st, look.error().what(), {});
                continue;
            }
            if (look->writer == FileLook::Writer::Open) {
                ++waiting_;  // still being written: its close (inotify) brings us back
                continue;
            }
            if (key_of(look->st) != key) {
                // Written between our lstat and the look: the look's stat is the
                // file's state now; it may be what was shipped already.
                st = look->st;
                key = key_of(st);
                if (*shipped && key_of(**shipped) == key) {
                    done_[path] = key;
                    continue;
                }
            }
            if (!look->header_ok && !look->maybe_incomplete) {
                fail_file(path, st, look->header_error, {});
                continue;
            }
            const bool finished = look->clean_trailer && !is_temporary_name(name);
            if (!finished) {
                // No trailer yet (or a temporary name): final only once nobody has
                // written it for the settle time, e.g. after its recorder was killed.
                const std::int64_t settle_ns =
                    static_cast<std::int64_t>(options_.settle_seconds) * 1'000'000'000;
                const std::int64_t age = now - key.mtime_ns;
                if (age < settle_ns) {
                    ++waiting_;
                    const std::int64_t wait_ms = (settle_ns - age) / 1'000'000 + 1;
                    const int ms = static_cast<int>(std::min<std::int64_t>(wait_ms, INT_MAX));
                    next_wake_ms = next_wake_ms < 0 ? ms : std::min(next_wake_ms, ms);
                    continue;
                }
            }
            if (!look->header_ok) {
                fail_file(path, st, look->header_error, {});
                continue;
            }
            ready.push_back({path, st, std::move(*look)});
        }
        d.reset();
        // Forget what is gone (moved away, deleted, rotated out).
        std::erase_if(done_, [&](const auto& kv) { return !seen.contains(kv.first); });
        // Oldest first: the history fills in the order it was recorded.
        std::sort(ready.begin(), ready.end(), [](const Candidate& a, const Candidate& b) {
            const FileKey ka = key_of(a.st), kb = key_of(b.st);
            return ka.mtime_ns != kb.mtime_ns ? ka.mtime_ns < kb.mtime_ns : a.path < b.path;
        });
        for (auto& c : ready) {
            if (stop_requested())
                break;
            ship(c.path, c.st, c.look);
        }
        return true;
    }

    int failures() const { return failures_; }
    unsigned waiting() const { return waiting_; }
    unsigned imported() const { return imported_; }

    template <typename... Args>
    void log(fmt::format_string<Args...> format, Args&&... args) {
        if (!options_.quiet)
            fmt::print(stderr, "ct-analyze: {}\n",
                       fmt::format(format, std::forward<Args>(args)...));
    }
    template <typename... Args>
    void log_error(fmt::format_string<Args...> format, Args&&... args) {
        fmt::print(stderr, "ct-analyze: {}\n", fmt::format(format, std::forward<Args>(args)...));
    }

  private:
    const std::string& host() {
        if (host_.empty()) {
            host_ = options_.host;
            if (host_.empty()) {
                std::array<char, 256> name{};
                if (::gethostname(name.data(), name.size() - 1) == 0)
                    host_ = name.data();
                else
                    host_ = "localhost";
            }
        }
        return host_;
    }

    void remember(const std::string& path, const ShippedFile& f) {
        if (auto r = target_.record_shipped(host(), f); !r)
            log_error("{}: recording it in shipped_files: {}", path, r.error().what());
        done_[path] = key_of(f);
    }

    static ShippedFile row_for(const std::string& path, const struct stat& st) {
        ShippedFile f;
        const FileKey k = key_of(st);
        f.path = path;
        f.device = k.device;
        f.inode = k.inode;
        f.size = k.size;
        f.mtime_ns = k.mtime_ns;
        return f;
    }

    // Reported once and skipped until the file changes.
    void fail_file(const std::string& path, const struct stat& st, const std::string& why,
                   std::optional<std::string> uuid) {
        log_error("{}: skipped: {}", path, why);
        ++failures_;
        ShippedFile f = row_for(path, st);
        f.outcome = "failed";
        f.capture_uuid = std::move(uuid);
        f.message = why;
        remember(path, f);
    }

    void ship(const std::string& path, const struct stat& st, const FileLook& look) {
        log("{}: importing", path);
        // For tests of a watcher stopped inside an import: with CT_SHIP_TEST_STALL
        // set, it halts once the first connection is written, its transaction
        // open: for good ("1"; SIGKILL ends it), or until SIGTERM or SIGINT is
        // pending ("signal"; the import then goes on to its end).
        ImportProgress stall;
        if (const char* v = std::getenv("CT_SHIP_TEST_STALL"); v && *v) {
            const bool until_signal = std::string_view(v) == "signal";
            stall = [&path, until_signal](const char* phase, std::uint64_t done, std::uint64_t) {
                if (std::string_view(phase) != "decode" || done != 1)
                    return;
                fmt::print(stderr, "ct-analyze: {}: stalled inside the import\n", path);
                for (;;) {
                    sigset_t pending;
                    if (until_signal && ::sigpending(&pending) == 0 &&
                        (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT)))
                        return;
                    ::usleep(10000);
                }
            };
        }
        auto imported = target_.import_file(path, stall);
        if (!imported) {
            const Error& e = imported.error();
            struct stat now {};
            if (::lstat(path.c_str(), &now) != 0)
                return;  // gone meanwhile (another watcher moved it): nothing to do
            if (busy_error(e)) {
                if (e.message.starts_with(kPgLost))
                    log_error("{}: {}; retrying at the next scan", path, e.what());
                else
                    log("{}: database busy, retrying at the next scan", path);
                return;
            }
            int& tries = tries_[path];
            if (++tries < kTries) {
                log_error("{}: import failed (try {} of {}): {}", path, tries, kTries, e.what());
                return;
            }
            tries_.erase(path);
            fail_file(path, st, e.what(), look.uuid);
            return;
        }
        tries_.erase(path);
        const ImportResult& r = imported->result;
        ShippedFile f = row_for(path, st);
        f.outcome = r.already_present ? "already_present" : "imported";
        f.capture_uuid = look.uuid;
        f.capture_id = r.capture_id;
        f.ended_cleanly = imported->ended_cleanly;
        if (!imported->ended_cleanly)
            f.message = "no clean end (recorder killed or file cut short)";
        if (imported->bad_frames > 0)
            f.message += fmt::format("{}{} damaged frames", f.message.empty() ? "" : "; ",
                                     imported->bad_frames);
        if (r.already_present) {
            log("{}: capture {} already in the database (id {})", path, look.uuid, r.capture_id);
            if (r.stored_events)
                log_error(
                    "{}: note: the database holds an earlier, shorter read of capture {} ({} of "
                    "{} events)",
                    path, look.uuid, *r.stored_events, r.file_events);
        } else {
            ++imported_;
            log("{}: imported capture {} as id {} ({} connections, {} requests, {} LLM calls){}",
                path, look.uuid, r.capture_id, r.connections, r.requests, r.llm_calls,
                f.message.empty() ? "" : ": " + f.message);
        }
        remember(path, f);
        after_import(path);
    }

    void after_import(const std::string& path) {
        if (options_.delete_after_import) {
            if (::unlink(path.c_str()) != 0)
                log_error("{}: cannot delete: {}", path, std::strerror(errno));
            else
                log("{}: deleted", path);
            return;
        }
        if (options_.move_to.empty())
            return;
        const std::string target =
            options_.move_to + "/" + std::filesystem::path(path).filename().string();
        // renameat2(RENAME_NOREPLACE) would be tidier; link + unlink never overwrites.
        if (::link(path.c_str(), target.c_str()) != 0) {
            log_error("{}: cannot move to {}: {}", path, options_.move_to, std::strerror(errno));
            return;
        }
        ::unlink(path.c_str());
        log("{}: moved to {}", path, options_.move_to);
    }

    static constexpr int kTries = 3;
    ShipTarget& target_;
    const ShipOptions& options_;
    std::string dir_;
    int signal_fd_;
    std::string host_;
    bool stopping_ = false;
    int failures_ = 0;
    unsigned waiting_ = 0;
    unsigned imported_ = 0;
    std::unordered_map<std::string, FileKey> done_;  // handled, as the file was then
    std::unordered_map<std::string, int> tries_;     // import failures of the same file
};

}  // namespace

int run_ship(ShipTarget& target, const ShipOptions& options) {
    std::error_code ec;
    std::string dir = std::filesystem::canonical(options.dir, ec).string();
    if (ec || !std::filesystem::is_directory(dir, ec)) {
        fmt::print(stderr, "ct-analyze: --watch {}: not a directory\n", options.dir);
        return kShipFailed;
    }

    // SIGTERM and SIGINT end the run between two captures, never inside one.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
        fmt::print(stderr, "ct-analyze: cannot block SIGTERM and SIGINT\n");
        return kShipFailed;
    }
    UniqueFd sigfd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd) {
        fmt::print(stderr, "ct-analyze: signalfd: {}\n", std::strerror(errno));
        return kShipFailed;
    }
    // Watched before the first scan, so nothing finished in between is missed.
    UniqueFd in;
    if (!options.once) {
        in = UniqueFd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
        if (!in || ::inotify_add_watch(in.get(), dir.c_str(),
                                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB |
                                           IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
            fmt::print(stderr, "ct-analyze: inotify on {}: {}\n", dir, std::strerror(errno));
            return kShipFailed;
        }
    }

    Shipper shipper(target, options, dir, sigfd.get());
    int next_wake_ms = -1;
    if (!shipper.scan(next_wake_ms))
        return kShipFailed;
    if (options.once) {
        if (shipper.waiting() > 0)
            shipper.log("{} file(s) still being written or not yet settled: left for the next run",
                        shipper.waiting());
        return shipper.failures() > 0 ? kShipFailed : kShipOk;
    }
    shipper.log("watching {} (rescan every {} s, settle {} s)", dir, options.rescan_seconds,
                options.settle_seconds);

    const int rescan_ms =
        static_cast<int>(std::min<unsigned>(options.rescan_seconds, 86400)) * 1000;
    alignas(inotify_event) std::array<char, 64 * 1024> buffer;
    while (!shipper.stop_requested()) {
        int timeout = rescan_ms;
        if (next_wake_ms >= 0)
            timeout = std::min(timeout, next_wake_ms);
        std::array<pollfd, 2> fds{pollfd{in.get(), POLLIN, 0}, pollfd{sigfd.get(), POLLIN, 0}};
        int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR) {
            fmt::print(stderr, "ct-analyze: poll: {}\n", std::strerror(errno));
            return kShipFailed;
        }
        if (fds[1].revents & POLLIN)
            continue;  // stop_requested() reads it
        bool rescan = n == 0;
        if (fds[0].revents & POLLIN) {
            for (;;) {
                ssize_t len = ::read(in.get(), buffer.data(), buffer.size());
                if (len <= 0)
                    break;
                for (ssize_t off = 0; off < len;) {
                    const auto* ev = reinterpret_cast<const inotify_event*>(buffer.data() + off);
                    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                        fmt::print(stderr, "ct-analyze: {} was removed or moved away\n", dir);
                        return kShipFailed;
                    }
                    if (ev->mask &
                        (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB | IN_Q_OVERFLOW))
                        rescan = true;
                    off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
                }
            }
        }
        if (rescan && !shipper.scan(next_wake_ms))
            return kShipFailed;
    }
    return kShipOk;
}

}  // namespace ct::analyze

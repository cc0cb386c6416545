#include "analyze_capture.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "capture/capture_contents.hpp"
#include "default_paths.hpp"
#include "pg_store.hpp"
#include "sqlite_store.hpp"
#include "secrets.hpp"
#include "sqlite/migrations.hpp"
#include "util/unique_fd.hpp"

namespace ct::analyze {

namespace {

// A database that already has tables must be ct's: never add ct's tables to (or
// switch to WAL) somebody else's database. Read without changing a byte.
Expected<void> check_is_ct_database(const std::string& path) {
    auto db = sqlite::Database::open(path, sqlite::Database::Mode::ReadOnly);
    if (!db)
        return std::unexpected(db.error());
    auto not_ct = [&] { return fail(path + " is not a ct database; give a new file to --db"); };
    auto objects = db->prepare(
        "SELECT count(*), count(*) FILTER (WHERE type = 'table' AND name = "
        "'captures') FROM sqlite_schema");
    if (!objects) {
        if (db->error_message().find("not a database") != std::string::npos)
            return not_ct();
        return std::unexpected(objects.error());
    }
    auto row = objects->step();
    if (!row) {
        if (db->error_message().find("not a database") != std::string::npos)
            return not_ct();
        return std::unexpected(row.error());
    }
    const bool empty = *row && objects->column_int64(0) == 0;
    const bool has_captures = *row && objects->column_int64(1) > 0;
    if (empty)
        return {};
    auto version = db->prepare("PRAGMA user_version");
    if (!version)
        return std::unexpected(version.error());
    auto v = version->step();
    if (!v)
        return std::unexpected(v.error());
    if (!*v || version->column_int64(0) == 0 || !has_captures)
        return not_ct();
    return {};
}

}  // namespace

Expected<sqlite::Database> open_session_database(const std::string& path) {
    if (path != ":memory:" && !path.empty()) {
        if (auto r = ensure_parent_directory(path); !r)
            return std::unexpected(r.error());
        // Created here, so that it is 0600 whatever the umask: it holds bodies and
        // prompts. SQLite gives its -wal and -shm files the database's mode.
        UniqueFd created(
            ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (created) {
            ::fchmod(created.get(), 0600);
        } else if (errno != EEXIST) {
            return fail_errno("cannot create database " + path);
        } else {
            struct stat st {};
            if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
                if (auto r = check_is_ct_database(path); !r)
                    return std::unexpected(r.error());
            }
        }
    }
    auto db = sqlite::Database::open(path);
    if (!db)
        return std::unexpected(db.error());
    if (auto r = migrate(*db); !r)
        return std::unexpected(r.error());
    return db;
}

Expected<CaptureImport> import_capture_file(sqlite::Database& db, const std::string& capture_path,
                                            bool keep_secrets, const ImportProgress& progress,
                                            const CaptureLimits& limits) {
    std::optional<SecretFingerprinter> fingerprinter;
    if (!keep_secrets) {
        auto fp = SecretFingerprinter::for_database(db.path());
        if (!fp)
            return std::unexpected(fp.error());
        fingerprinter = std::move(*fp);
    }
    auto store = SqliteStore::create(db);
    if (!store)
        return std::unexpected(store.error());
    return import_capture_file(**store, fingerprinter ? &*fingerprinter : nullptr, capture_path,
                               keep_secrets, progress, limits);
}

Expected<std::unique_ptr<CaptureStore>> SessionDatabase::capture_store() {
    if (pg_) {
        auto store = PgStore::create(spec_);
        if (!store)
            return std::unexpected(store.error());
        return std::unique_ptr<CaptureStore>(std::move(*store));
    }
    auto store = SqliteStore::create(*sqlite_);
    if (!store)
        return std::unexpected(store.error());
    return std::unique_ptr<CaptureStore>(std::move(*store));
}

Expected<SecretFingerprinter> SessionDatabase::fingerprinter() {
    if (pg_) {
        auto key = pg_fingerprint_key(*pg_);
        if (!key)
            return std::unexpected(key.error());
        return SecretFingerprinter::with_key(std::move(*key));
    }
    return SecretFingerprinter::for_database(sqlite_->path());
}

Expected<SessionDatabase> open_store(const std::string& spec) {
    SessionDatabase db;
    db.spec_ = spec;
    if (pg::is_connection_string(spec)) {
        db.display_ = pg::redact_connection_string(spec);
        auto conn = pg::Connection::open(spec);
        if (!conn)
            return std::unexpected(conn.error());
        if (auto r = migrate_pg(*conn); !r)
            return std::unexpected(r.error());
        db.pg_ = std::make_unique<pg::Connection>(std::move(*conn));
        return db;
    }
    db.display_ = spec;
    auto opened = open_session_database(spec);
    if (!opened)
        return std::unexpected(opened.error());
    db.sqlite_ = std::move(*opened);
    return db;
}

Expected<CaptureImport> import_capture_file(SessionDatabase& db, const std::string& capture_path,
                                            bool keep_secrets, const ImportProgress& progress,
                                            const CaptureLimits& limits) {
    std::optional<SecretFingerprinter> fingerprinter;
    if (!keep_secrets) {
        auto fp = db.fingerprinter();
        if (!fp)
            return std::unexpected(fp.error());
        fingerprinter = std::move(*fp);
    }
    auto store = db.capture_store();
    if (!store)
        return std::unexpected(store.error());
    return import_capture_file(**store, fingerprinter ? &*fingerprinter : nullptr, capture_path,
                               keep_secrets, progress, limits);
}

Expected<CaptureImport> import_capture_file(CaptureStore& store,
                                            const SecretFingerprinter* fingerprinter,
                                            const std::string& capture_path, bool keep_secrets,
                                            const ImportProgress& progress,
                                            const CaptureLimits& limits) {
    replay::LoadOptions load;
    load.max_held_bytes = limits.max_held_bytes;
    if (progress)
        load.progress = [&](std::uint64_t done, std::uint64_t total) {
            progress("read", done, total);
        };
    // Read twice rather than held: the connections come one by one.
    auto capture = replay::StreamedCapture::open(capture_path, load);
    if (!capture)
        return std::unexpected(capture.error());
    const replay::CaptureContents& contents = capture->contents();

    ImportOptions options;
    options.keep_secrets = keep_secrets;
    options.decode = limits.decode;
    if (progress)
        options.progress = [&](std::size_t done, std::size_t total) {
            progress("decode", done, total);
        };
    Importer importer(store, fingerprinter, std::move(options));

    std::error_code ec;
    std::string absolute = std::filesystem::absolute(capture_path, ec).string();
    auto result = importer.import(
        contents, ec ? capture_path : absolute, capture->connection_count(),
        [&](const Importer::ConnectionSink& sink, replay::ConnectionTap* tap) {
            return capture->for_each_connection(
                [&](replay::Connection&& c) {
                    return sink(std::make_shared<const replay::Connection>(std::move(c)));
                },
                tap);
        });
    if (!result)
        return std::unexpected(result.error());
    return CaptureImport{*result,
                         contents.summary.ended_cleanly(),
                         contents.summary.bad_frames,
                         capture->held_high_water(),
                         importer.streamed_high_water(),
                         importer.exchanges_streamed()};
}

}  // namespace ct::analyze

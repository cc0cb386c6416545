#include "analyze_capture.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "capture/capture_contents.hpp"
#include "default_paths.hpp"
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

    std::optional<SecretFingerprinter> fingerprinter;
    if (!keep_secrets) {
        auto fp = SecretFingerprinter::for_database(db.path());
        if (!fp)
            return std::unexpected(fp.error());
        fingerprinter = std::move(*fp);
    }
    ImportOptions options;
    options.keep_secrets = keep_secrets;
    options.decode = limits.decode;
    if (progress)
        options.progress = [&](std::size_t done, std::size_t total) {
            progress("decode", done, total);
        };
    auto importer =
        Importer::create(db, fingerprinter ? &*fingerprinter : nullptr, std::move(options));
    if (!importer)
        return std::unexpected(importer.error());

    std::error_code ec;
    std::string absolute = std::filesystem::absolute(capture_path, ec).string();
    auto result = (*importer)->import(
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
                         (*importer)->streamed_high_water(),
                         (*importer)->exchanges_streamed()};
}

}  // namespace ct::analyze

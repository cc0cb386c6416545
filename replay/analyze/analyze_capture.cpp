#include "analyze_capture.hpp"

#include <filesystem>

#include "capture/capture_contents.hpp"
#include "default_paths.hpp"
#include "secrets.hpp"
#include "sqlite/migrations.hpp"

namespace ct::analyze {

Expected<sqlite::Database> open_session_database(const std::string& path) {
    if (path != ":memory:") {
        if (auto r = ensure_parent_directory(path); !r)
            return std::unexpected(r.error());
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
    auto contents = replay::load_capture(capture_path, load);
    if (!contents)
        return std::unexpected(contents.error());

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
    auto result = (*importer)->import(*contents, ec ? capture_path : absolute);
    if (!result)
        return std::unexpected(result.error());
    return CaptureImport{*result, contents->summary.ended_cleanly(), contents->summary.bad_frames};
}

}  // namespace ct::analyze

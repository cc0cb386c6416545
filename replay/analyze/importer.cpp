#include "importer.hpp"

#include <deque>
#include <future>

#include "exchange_streamer.hpp"
#include "prepared_connection.hpp"
#include "sqlite_store.hpp"

namespace ct::analyze {

Importer::Importer(std::unique_ptr<CaptureStore> store, const SecretFingerprinter* fingerprinter,
                   ImportOptions options)
    : owned_(std::move(store)),
      store_(owned_.get()),
      fingerprinter_(fingerprinter),
      options_(std::move(options)) {}

Importer::Importer(CaptureStore& store, const SecretFingerprinter* fingerprinter,
                   ImportOptions options)
    : store_(&store), fingerprinter_(fingerprinter), options_(std::move(options)) {}

Importer::~Importer() = default;

Expected<std::unique_ptr<Importer>> Importer::create(sqlite::Database& db,
                                                     const SecretFingerprinter* fingerprinter,
                                                     ImportOptions options) {
    auto store = SqliteStore::create(db);
    if (!store)
        return std::unexpected(store.error());
    return std::make_unique<Importer>(std::move(*store), fingerprinter, std::move(options));
}

Expected<ImportResult> Importer::import(const replay::CaptureContents& contents,
                                        const std::string& file) {
    return import(
        contents, file, contents.connections.size(),
        [&contents](const ConnectionSink& sink, replay::ConnectionTap*) -> Expected<void> {
            for (const auto& c : contents.connections) {
                // Not owned: `contents` keeps it.
                if (auto r = sink(
                        std::shared_ptr<const replay::Connection>(std::shared_ptr<void>(), &c));
                    !r)
                    return r;
            }
            return {};
        });
}

Expected<ImportResult> Importer::import(const replay::CaptureContents& contents,
                                        const std::string& file, std::size_t connection_count,
                                        const ConnectionSource& source) {
    struct RollbackUnlessDone {
        CaptureStore* store;
        ~RollbackUnlessDone() {
            if (store)
                store->rollback();
        }
    } rollback{store_};
    if (auto r = store_->begin(); !r)
        return std::unexpected(r.error());
    ImportResult result;
    // The UUID stored already: nothing changes (the transaction is rolled back).
    auto already = [&](const StoredCapture& stored) {
        result.capture_id = stored.id;
        result.already_present = true;
        result.file_events = contents.events;
        // Imported while it was still being recorded, say: this file holds more.
        if (stored.events < contents.events)
            result.stored_events = stored.events;
        return result;
    };
    auto existing = store_->find_capture(contents.header.uuid);
    if (!existing)
        return std::unexpected(existing.error());
    if (*existing)
        return already(**existing);
    auto capture_id = store_->write_capture(contents, file, result);
    if (!capture_id)
        return std::unexpected(capture_id.error());
    if (!*capture_id) {
        // A concurrent import of the same capture committed first.
        store_->rollback();
        auto stored = store_->find_capture(contents.header.uuid);
        if (!stored)
            return std::unexpected(stored.error());
        if (!*stored)
            return fail("capture " + contents.header.uuid +
                        " was reported stored by the database but cannot be found");
        result = ImportResult{};
        return already(**stored);
    }
    result.capture_id = **capture_id;

    // Connections decode a few ahead of the writes (bounded, to bound memory).
    // The worker also frees the connection written before, off the writing thread.
    constexpr std::size_t kDecodeAhead = 2;
    const HeaderPolicy policy{fingerprinter_, options_.keep_secrets};
    // Shared by the decode workers: compression bombs in many connections must not
    // fill the disk either.
    GrowthBudget growth(options_.decode.max_growth);
    const DecodeLimits& limits = options_.decode;
    struct Done {
        std::shared_ptr<const replay::Connection> connection;
        std::unique_ptr<PreparedConnection> prepared;
    };
    struct Ahead {
        std::shared_ptr<const replay::Connection> connection;
        std::future<std::unique_ptr<PreparedConnection>> prepared;
    };
    std::deque<Ahead> ahead;
    Done retired;
    std::uint64_t lost_bytes = 0;
    std::size_t written = 0;
    auto write_front = [&]() -> Expected<void> {
        Done done{std::move(ahead.front().connection), ahead.front().prepared.get()};
        ahead.pop_front();
        const replay::Connection& c = *done.connection;
        lost_bytes += c.streams[0].gap_bytes + c.streams[1].gap_bytes;
        if (auto r = store_->write_connection(c, *done.prepared); !r)
            return r;
        retired = std::move(done);
        if (options_.progress)
            options_.progress(++written, connection_count);
        return {};
    };
    // Before a connection written as it is read writes its first row, the
    // connections before it are written.
    auto write_all = [&]() -> Expected<void> {
        while (!ahead.empty()) {
            if (auto r = write_front(); !r)
                return r;
        }
        return {};
    };
    ExchangeStreamer streamer(*store_, policy, limits, growth, write_all);
    auto sink = [&](std::shared_ptr<const replay::Connection> c) -> Expected<void> {
        if (streamer.tapped(*c)) {
            std::uint64_t gap_bytes = 0;
            auto whole = streamer.finish(*c, gap_bytes);
            if (!whole)
                return std::unexpected(whole.error());
            if (!*whole) {
                // Written exchange by exchange, the rest just now.
                lost_bytes += gap_bytes;
                if (options_.progress)
                    options_.progress(++written, connection_count);
                return {};
            }
            c = std::make_shared<const replay::Connection>(std::move(**whole));
        }
        const replay::Connection* raw = c.get();
        const auto launch = options_.decode_ahead ? std::launch::async : std::launch::deferred;
        ahead.push_back(Ahead{std::move(c), std::async(
                                                launch,
                                                [raw, &limits, &growth, policy](Done old) {
                                                    old = {};
                                                    return prepare_connection(*raw, policy, limits,
                                                                              &growth);
                                                },
                                                std::move(retired))});
        retired = {};
        if (ahead.size() > kDecodeAhead)
            return write_front();
        return {};
    };
    if (auto r = source(sink, &streamer); !r)
        return std::unexpected(r.error());
    streamed_high_water_ = streamer.held_high_water();
    exchanges_streamed_ = streamer.exchanges_streamed();
    while (!ahead.empty()) {
        if (auto r = write_front(); !r)
            return std::unexpected(r.error());
    }
    if (auto r = store_->finish_capture(lost_bytes); !r)
        return std::unexpected(r.error());
    rollback.store = nullptr;
    return result;
}

}  // namespace ct::analyze

// libFuzzer target: the importer on an in-memory database, from records as the
// reader delivers them (stream assembly, the connection being read decoded
// exchange by exchange, every decoder, every insert), then the
// HAR and OTLP exports of what was imported (they must always be valid JSON).
#include <memory>

#include <nlohmann/json.hpp>

#include "analyze_capture.hpp"
#include "export/har.hpp"
#include "export/otlp.hpp"
#include "fuzz_support.hpp"
#include "importer.hpp"

namespace {

std::uint64_t runs = 0;
std::unique_ptr<ct::analyze::sqlite::Database> db;
// Kept with its database: its prepared statements serve every import into it.
std::unique_ptr<ct::analyze::Importer> importer;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // A fresh database now and then keeps memory flat over a long run.
    if (!db || runs % 256 == 0) {
        importer.reset();
        db.reset();
        auto opened = ct::analyze::open_session_database(":memory:");
        if (!opened)
            __builtin_trap();
        db = std::make_unique<ct::analyze::sqlite::Database>(std::move(*opened));
        static const auto fingerprinter = ct::analyze::SecretFingerprinter::with_key("fuzz-key");
        ct::analyze::ImportOptions options;
        options.decode.max_body = 16384;  // small, so that fuzzed inputs reach the cuts
        options.decode.max_growth = 65536;
        auto created = ct::analyze::Importer::create(*db, &fingerprinter, options);
        if (!created)
            __builtin_trap();
        importer = std::move(*created);
    }
    auto records = ct::fuzz::records_from({data, size});
    ct::replay::LoadOptions load;
    load.max_held_bytes = 1u << 16;
    // As ct-analyze reads a capture: connection by connection, the one being read
    // decoded exchange by exchange (ExchangeStreamer).
    auto capture =
        ct::replay::StreamedCapture::from_records(ct::fuzz::fuzz_header(runs++), records, {}, load);
    auto result = importer->import(
        capture.contents(), "fuzz.ctz", capture.connection_count(),
        [&](const ct::analyze::Importer::ConnectionSink& sink, ct::replay::ConnectionTap* tap) {
            return capture.for_each_connection(
                [&](ct::replay::Connection&& c) {
                    return sink(std::make_shared<const ct::replay::Connection>(std::move(c)));
                },
                tap);
        });
    if (!result || result->already_present)
        __builtin_trap();
    ct::analyze::exports::ExportScope scope{{result->capture_id}, {}};
    auto har = ct::analyze::exports::build_har(*db, scope);
    auto otlp = ct::analyze::exports::build_otlp(*db, scope);
    if (!har || !otlp || !nlohmann::json::accept(har->json) || !nlohmann::json::accept(otlp->json))
        __builtin_trap();
    return 0;
}

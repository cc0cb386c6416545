// Imports one capture and prints the process's peak RSS and the most captured
// plaintext the import held at once, to compare memory across plaintext sizes.
// `whole` loads the capture whole first (load_capture, as ct-analyze did before
// it streamed); `stream` is what ct-analyze does. MAX_BODY: --max-body-size.
//
//   analyze-bench-memory stream|whole CAPTURE.ctz DB [MAX_BODY]
#include <sys/resource.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "analyze_capture.hpp"
#include "importer.hpp"

int main(int argc, char** argv) {
    if (argc < 4 || argc > 5 ||
        (std::strcmp(argv[1], "stream") != 0 && std::strcmp(argv[1], "whole") != 0)) {
        fmt::print(stderr, "usage: {} stream|whole CAPTURE.ctz DB [MAX_BODY]\n", argv[0]);
        return 2;
    }
    auto db = ct::analyze::open_session_database(argv[3]);
    if (!db) {
        fmt::print(stderr, "{}\n", db.error().what());
        return 1;
    }
    ct::analyze::CaptureLimits limits;
    if (argc == 5)
        limits.decode.max_body = std::strtoull(argv[4], nullptr, 10);
    std::uint64_t held = 0;
    std::uint64_t streamed = 0;
    std::uint64_t exchanges_streamed = 0;
    if (std::strcmp(argv[1], "stream") == 0) {
        auto r = ct::analyze::import_capture_file(*db, argv[2], true, {}, limits);
        if (!r) {
            fmt::print(stderr, "{}\n", r.error().what());
            return 1;
        }
        held = r->held_plaintext_high_water;
        streamed = r->streamed_high_water;
        exchanges_streamed = r->exchanges_streamed;
    } else {
        auto contents = ct::replay::load_capture(argv[2]);
        if (!contents) {
            fmt::print(stderr, "{}\n", contents.error().what());
            return 1;
        }
        for (const auto& c : contents->connections)
            held += c.streams[0].data.size() + c.streams[1].data.size();
        ct::analyze::ImportOptions options;
        options.decode = limits.decode;
        auto importer = ct::analyze::Importer::create(*db, nullptr, options);
        if (!importer)
            return 1;
        if (auto r = (*importer)->import(*contents, argv[2]); !r) {
            fmt::print(stderr, "{}\n", r.error().what());
            return 1;
        }
    }
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    // held: the most plaintext the reading held at once; streamed: the most of the
    // connection being read that its exchange-by-exchange decoding held.
    fmt::print(
        "peak_rss_mib={:.1f} held_plaintext_mib={:.1f} streamed_held_mib={:.1f} "
        "exchanges_streamed={}\n",
        static_cast<double>(ru.ru_maxrss) / 1024.0, static_cast<double>(held) / 1048576.0,
        static_cast<double>(streamed) / 1048576.0, exchanges_streamed);
    return 0;
}

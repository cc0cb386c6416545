// Imports a capture two ways and compares the databases row for row: streamed
// (import_capture_file: connections read as they come, the one next in order
// decoded exchange by exchange) and whole (load_capture, then each connection
// decoded whole, the reference path).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "db_dump.hpp"
#include "importer.hpp"

namespace ct::analyze {

struct Compared {
    std::size_t rows = 0;
    std::uint64_t streamed = 0;  // exchanges the streamer wrote
};

// Imports `path` both ways and compares every row.
inline Compared compare_imports(const std::string& path, const CaptureLimits& limits) {
    Compared out;
    auto streamed_db = open_session_database(":memory:");
    auto whole_db = open_session_database(":memory:");
    EXPECT_TRUE(streamed_db && whole_db);
    if (!streamed_db || !whole_db)
        return out;
    auto streamed = import_capture_file(*streamed_db, path, true, {}, limits);
    EXPECT_TRUE(streamed) << streamed.error().what();
    if (!streamed)
        return out;
    out.streamed = streamed->exchanges_streamed;

    replay::LoadOptions load;
    load.max_held_bytes = limits.max_held_bytes;
    auto contents = replay::load_capture(path, load);
    EXPECT_TRUE(contents);
    if (!contents)
        return out;
    ImportOptions options;
    options.keep_secrets = true;
    options.decode = limits.decode;
    auto importer = Importer::create(*whole_db, nullptr, options);
    EXPECT_TRUE(importer);
    auto whole = (*importer)->import(*contents, std::filesystem::absolute(path).string());
    EXPECT_TRUE(whole) << whole.error().what();
    if (!whole)
        return out;
    EXPECT_EQ((*importer)->exchanges_streamed(), 0u);  // the reference path takes none

    auto a = dump(*streamed_db);
    auto b = dump(*whole_db);
    EXPECT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        EXPECT_EQ(a[i], b[i]) << "row " << i;
    out.rows = a.size();
    return out;
}

// A capture's records as the reader delivers them, to import in other orders.
struct CaptureRecords {
    replay::CaptureHeader header;
    std::vector<ctz::RecordType> types;
    std::vector<std::vector<std::uint8_t>> bodies;
    replay::ReadSummary summary;
};

inline CaptureRecords read_records(const std::string& path) {
    CaptureRecords out;
    auto reader = replay::CaptureReader::open(path);
    EXPECT_TRUE(reader);
    if (!reader)
        return out;
    out.header = reader->header();
    out.summary = reader->for_each_record([&](const replay::Record& r) {
        out.bodies.emplace_back(r.body.begin(), r.body.end());
        out.types.push_back(r.type);
    });
    return out;
}

// Imports the records in `order` two ways, streamed (StreamedCapture, the connection
// being read decoded exchange by exchange) and whole (build_contents), and compares
// every row; returns the exchanges the streamer wrote.
inline std::uint64_t compare_imports_in_order(const CaptureRecords& c,
                                              const std::vector<std::size_t>& order) {
    std::vector<replay::Record> records;
    for (std::size_t i : order)
        records.push_back(replay::Record{c.types[i], c.bodies[i]});
    auto streamed_db = open_session_database(":memory:");
    auto whole_db = open_session_database(":memory:");
    EXPECT_TRUE(streamed_db && whole_db);
    ImportOptions options;
    options.keep_secrets = true;
    auto streamed_importer = streamed_db ? Importer::create(*streamed_db, nullptr, options)
                                         : std::unexpected(Error{"no database"});
    auto whole_importer = whole_db ? Importer::create(*whole_db, nullptr, options)
                                   : std::unexpected(Error{"no database"});
    EXPECT_TRUE(streamed_importer && whole_importer);
    if (!streamed_importer || !whole_importer)
        return 0;
    auto capture = replay::StreamedCapture::from_records(c.header, records, c.summary);
    auto streamed =
        (*streamed_importer)
            ->import(capture.contents(), "x.ctz", capture.connection_count(),
                     [&](const Importer::ConnectionSink& sink, replay::ConnectionTap* tap) {
                         return capture.for_each_connection(
                             [&](replay::Connection&& conn) {
                                 return sink(
                                     std::make_shared<const replay::Connection>(std::move(conn)));
                             },
                             tap);
                     });
    EXPECT_TRUE(streamed);
    auto contents = replay::build_contents(c.header, records, c.summary);
    EXPECT_TRUE((*whole_importer)->import(contents, "x.ctz"));
    auto a = dump(*streamed_db);
    auto b = dump(*whole_db);
    EXPECT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        EXPECT_EQ(a[i], b[i]) << "row " << i;
    return (*streamed_importer)->exchanges_streamed();
}

inline std::vector<CaptureLimits> limit_sets() {
    std::vector<CaptureLimits> out(4);
    out[1].decode.max_body = 1000;      // bodies cut while parsing and after decoding
    out[2].max_held_bytes = 20 * 1024;  // the over-limit cut
    out[3].decode.max_growth = 3000;    // the capture's decoding budget runs out
    return out;
}

}  // namespace ct::analyze

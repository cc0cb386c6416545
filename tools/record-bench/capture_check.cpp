// record-bench-check: what a capture holds, as one JSON line, reading it as a
// stream (a 30 s capture at full speed does not fit in memory comfortably).
//
//   record-bench-check FILE [--pattern-pid PID]
//
// Counts events, data events and payload bytes per direction, loss events,
// sequence-number gaps (events lost without a trace), the last counters record
// and the trailer. With --pattern-pid, compares every written byte of that
// process with the stream of bench_pattern.hpp at the same stream position.
#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench_pattern.hpp"
#include "capture/capture_reader.hpp"
#include "ct_abi.hpp"

namespace {

using namespace ct;

struct Totals {
    std::uint64_t records = 0, events = 0, data_events = 0, loss_events = 0, lost_bytes = 0;
    std::uint64_t data_bytes[2] = {0, 0};
    std::uint64_t conn_events = 0, socket_events = 0;
    std::vector<std::uint64_t> seqs;
    std::uint64_t counters_events = 0, counters_ring_full = 0, counters_data_bytes = 0;
    std::uint64_t pattern_bytes = 0, pattern_mismatch = 0;
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"record-bench-check: a capture's events, losses and payload as JSON"};
    std::string path;
    std::int64_t pattern_pid = -1;
    app.add_option("capture", path, "Capture file")->required();
    app.add_option("--pattern-pid", pattern_pid,
                   "Compare this process's written bytes with the benchmark pattern");
    CLI11_PARSE(app, argc, argv);

    auto reader = replay::CaptureReader::open(path);
    if (!reader) {
        std::cerr << "record-bench-check: " << reader.error().what() << "\n";
        return 1;
    }
    std::vector<std::uint8_t> pattern;
    if (pattern_pid >= 0)
        pattern = record_bench::make_pattern();
    Totals t;
    auto summary = reader->for_each_record([&](const replay::Record& r) {
        ++t.records;
        if (r.type == ctz::RecordType::Counters) {
            auto f = ctz::parse_fields(r.body);
            t.counters_events = f.u64(ctz::CounterField::Events).value_or(0);
            t.counters_ring_full = f.u64(ctz::CounterField::RingFullEvents).value_or(0);
            t.counters_data_bytes = f.u64(ctz::CounterField::DataBytes).value_or(0);
            return;
        }
        if (r.type != ctz::RecordType::Event)
            return;
        auto h = abi::read_header(r.body);
        if (!h)
            return;
        ++t.events;
        t.seqs.push_back(h->seq);
        switch (h->type) {
            case CT_EVENT_DATA: {
                auto e = *abi::read_struct<ct_data_event>(r.body);
                auto payload = abi::tail(r.body);
                ++t.data_events;
                t.data_bytes[e.direction & 1] += payload.size();
                if (pattern_pid >= 0 && h->pid == static_cast<std::uint64_t>(pattern_pid) &&
                    e.direction == CT_DIR_WRITE) {
                    // Stream byte p is pattern[p % kPatternBytes]; a payload may wrap.
                    std::size_t done = 0;
                    while (done < payload.size()) {
                        std::size_t at = (e.stream_pos + done) % record_bench::kPatternBytes;
                        std::size_t n =
                            std::min(payload.size() - done, record_bench::kPatternBytes - at);
                        if (std::memcmp(payload.data() + done, pattern.data() + at, n) != 0)
                            t.pattern_mismatch += n;
                        done += n;
                    }
                    t.pattern_bytes += payload.size();
                }
                break;
            }
            case CT_EVENT_LOSS: {
                ++t.loss_events;
                t.lost_bytes += abi::read_struct<ct_loss_event>(r.body)->lost_len;
                break;
            }
            case CT_EVENT_CONN:
                ++t.conn_events;
                break;
            case CT_EVENT_SOCKET:
                ++t.socket_events;
                break;
            default:
                break;
        }
    });
    std::sort(t.seqs.begin(), t.seqs.end());
    std::uint64_t duplicates = 0, gaps = 0;
    for (std::size_t i = 1; i < t.seqs.size(); ++i) {
        if (t.seqs[i] == t.seqs[i - 1])
            ++duplicates;
        else
            gaps += t.seqs[i] - t.seqs[i - 1] - 1;
    }
    std::string trailer = "null";
    if (summary.trailer) {
        const auto& tr = *summary.trailer;
        trailer = fmt::format(
            R"({{"events":{},"data_bytes":{},"lost_events":{},"lost_bytes":{},"end_reason":"{}"}})",
            tr.events, tr.data_bytes, tr.lost_events, tr.lost_bytes, tr.end_reason);
    }
    fmt::print(
        R"({{"file_bytes":{},"frames":{},"records":{},"ended_cleanly":{},"bad_frames":{},)"
        R"("events":{},"data_events":{},"data_bytes_write":{},"data_bytes_read":{},)"
        R"("conn_events":{},"socket_events":{},"loss_events":{},"lost_bytes":{},)"
        R"("seq_gaps":{},"seq_duplicates":{},"counters_events":{},"counters_ring_full_events":{},)"
        R"("counters_data_bytes":{},"pattern_bytes":{},"pattern_mismatch_bytes":{},"trailer":{}}})"
        "\n",
        summary.file_size, summary.frames, t.records, summary.ended_cleanly(), summary.bad_frames,
        t.events, t.data_events, t.data_bytes[CT_DIR_WRITE], t.data_bytes[CT_DIR_READ],
        t.conn_events, t.socket_events, t.loss_events, t.lost_bytes, gaps, duplicates,
        t.counters_events, t.counters_ring_full, t.counters_data_bytes, t.pattern_bytes,
        t.pattern_mismatch, trailer);
    return 0;
}

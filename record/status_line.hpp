// The one-line live status on a terminal and the summary at the end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ct::record {

struct RecordingStats {
    std::uint64_t events = 0;
    std::uint64_t data_events = 0;
    std::uint64_t bytes_written = 0;  // plaintext the target sent
    std::uint64_t bytes_read = 0;     // plaintext the target received
    std::uint64_t connections = 0;
    std::uint64_t processes = 0;
    std::uint64_t lost_events = 0;
    std::uint64_t lost_bytes = 0;
    std::uint64_t truncated_calls = 0;
    std::uint64_t malformed_events = 0;
    std::uint64_t untracked_tcp = 0;  // TCP connections the BPF map had no room for
    std::uint64_t file_bytes = 0;
    std::uint64_t frames = 0;
    // --lossless: how often and how long traced processes were stopped for backpressure.
    std::uint64_t throttled_stops = 0;
    std::uint64_t throttled_ns = 0;
    // The exec/dlopen hold: processes stopped until new code was probed.
    std::uint64_t holds = 0;
    std::uint64_t hold_total_ns = 0;
    std::uint64_t hold_max_ns = 0;
};

std::string human_bytes(std::uint64_t bytes);

class StatusLine {
  public:
    explicit StatusLine(bool enabled) : enabled_(enabled) {}
    // Redraws at most once a second.
    void update(const RecordingStats& s, double elapsed_s);
    void clear();

  private:
    bool enabled_;
    bool drawn_ = false;
    double last_s_ = -1;
};

// `unseen`: one line per process whose TCP connections no probe could read;
// `socketless`: one per process with TLS connections whose socket is unknown.
std::string format_summary(const RecordingStats& s, const std::string& path, double elapsed_s,
                           const std::vector<std::string>& unseen = {},
                           const std::vector<std::string>& socketless = {});

}  // namespace ct::record

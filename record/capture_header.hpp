// The facts a capture starts with: who recorded what, where, and how BPF's
// monotonic clock maps to UTC.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ctz_format.hpp"

namespace ct::record {

struct ClockSample {
    std::uint64_t monotonic_ns = 0;  // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns()
    std::int64_t realtime_ns = 0;    // CLOCK_REALTIME at the same instant
    std::int64_t offset() const { return realtime_ns - static_cast<std::int64_t>(monotonic_ns); }
};

// Reads both clocks several times and keeps the tightest pair.
ClockSample sample_clocks();
std::uint64_t monotonic_now_ns();

struct HeaderInputs {
    std::vector<std::string> recorder_cmdline;
    std::vector<std::string> target_cmdline;
    pid_t target_pid = 0;
    std::uint64_t ring_bytes = 0;
    std::uint64_t payload_cap = 0;
    std::uint64_t flush_interval_ms = 0;
    std::uint64_t unit_max_bytes = 0;
    std::uint64_t segment_max_bytes = 0;
    std::uint64_t segment_interval_ms = 0;
    int window_log = 0;
    int zstd_level = 0;
};

// A random (version 4) UUID.
std::array<std::uint8_t, 16> random_uuid();

ctz::FieldWriter build_capture_header(const HeaderInputs& in, const ClockSample& clock,
                                      const std::array<std::uint8_t, 16>& uuid);

}  // namespace ct::record

// ct-record's job from start to finish: load the probes, attach them to the
// target's TLS libraries, follow its process tree, drain the ring buffer into
// the capture file, and stop cleanly.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "watch.hpp"

namespace ct::record {

// --watch: which processes, and where their captures go.
struct WatchOptions {
    WatchRuleArgs rules;
    std::string dir;                            // --output-dir
    std::uint64_t rotate_ms = 3'600'000;        // --rotate: a file's age at most
    std::uint64_t rotate_bytes = 256ull << 20;  // --rotate-size: a file's size at most
    std::uint64_t keep_ms = 0;                  // --keep: remove finished files older than this
    std::uint64_t keep_bytes = 0;               // --keep-size: total bound of the directory
};

struct RecorderOptions {
    pid_t pid = 0;                     // -p PID
    std::vector<std::string> command;  // -- CMD ARGS...
    std::string output;                // -w FILE
    bool force = false;                // overwrite an existing FILE
    bool wait_for_tls = false;         // -p: record even if no TLS library is loaded yet
    bool lossless = false;             // stop the target rather than lose events
    std::uint64_t ring_bytes = 64u << 20;
    std::uint64_t payload_cap = 16u << 20;
    int zstd_level = 3;
    std::uint64_t flush_interval_ms = 1000;       // units reach the disk at least this often
    std::uint64_t segment_max_bytes = 32u << 20;  // a zstd frame holds at most this much
    std::uint64_t segment_interval_ms = 60'000;   // ... or this much time
    bool system_libraries = true;                 // probe the system's libssl up front
    std::vector<std::string> binaries;            // --binary: extra files to probe
    int status = -1;  // status line: 1 on, 0 off, -1 if stderr is a terminal
    bool quiet = false;
    std::vector<std::string> recorder_cmdline;
    bool watch = false;  // --watch: every matching process of the machine, into a directory
    WatchOptions watch_options;
};

// Exit codes (also in --help and README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitSetupFailed = 1;  // nothing was recorded
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRecordingFailed = 3;  // the capture is readable up to the failure

// Runs a recording; returns the process exit code. In command mode that is the
// command's own status (exit code, or 128 + signal) unless recording failed.
int run_recorder(const RecorderOptions& options);

}  // namespace ct::record

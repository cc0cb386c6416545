#include "capture_header.hpp"

#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <fstream>

#include "ct/version.hpp"
#include "ct_abi.hpp"

namespace ct::record {

namespace {

std::int64_t read_clock(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string first_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

}  // namespace

std::uint64_t monotonic_now_ns() {
    return static_cast<std::uint64_t>(read_clock(CLOCK_MONOTONIC));
}

ClockSample sample_clocks() {
    ClockSample best;
    std::int64_t best_width = INT64_MAX;
    for (int i = 0; i < 7; ++i) {
        std::int64_t before = read_clock(CLOCK_MONOTONIC);
        std::int64_t real = read_clock(CLOCK_REALTIME);
        std::int64_t after = read_clock(CLOCK_MONOTONIC);
        if (after - before < best_width) {
            best_width = after - before;
            best.monotonic_ns = static_cast<std::uint64_t>(before + (after - before) / 2);
            best.realtime_ns = real;
        }
    }
    return best;
}

std::array<std::uint8_t, 16> random_uuid() {
    std::array<std::uint8_t, 16> u{};
    if (::getrandom(u.data(), u.size(), 0) != static_cast<ssize_t>(u.size())) {
        // getrandom cannot fail for 16 bytes after boot; fall back to the clock anyway.
        auto t = static_cast<std::uint64_t>(read_clock(CLOCK_REALTIME)) ^
                 (static_cast<std::uint64_t>(::getpid()) << 32);
        for (std::size_t i = 0; i < 16; ++i)
            u[i] = static_cast<std::uint8_t>(t >> ((i % 8) * 8));
    }
    u[6] = static_cast<std::uint8_t>((u[6] & 0x0f) | 0x40);  // version 4
    u[8] = static_cast<std::uint8_t>((u[8] & 0x3f) | 0x80);  // RFC 4122 variant
    return u;
}

ctz::FieldWriter build_capture_header(const HeaderInputs& in, const ClockSample& clock,
                                      const std::array<std::uint8_t, 16>& uuid) {
    utsname uts{};
    ::uname(&uts);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    using F = ctz::HeaderField;
    ctz::FieldWriter f;
    f.u64(F::AbiVersion, CT_ABI_VERSION)
        .str(F::RecorderVersion, kVersion)
        .bytes(F::CaptureUuid, uuid)
        .str(F::Hostname, host)
        .str(F::KernelRelease, uts.release)
        .str(F::KernelVersion, uts.version)
        .str(F::Machine, uts.machine)
        .i64(F::RealtimeMinusMonotonicNs, clock.offset())
        .i64(F::StartRealtimeNs, clock.realtime_ns)
        .u64(F::StartMonotonicNs, clock.monotonic_ns)
        .str_list(F::RecorderCmdline, in.recorder_cmdline)
        .u64(F::RecorderPid, static_cast<std::uint64_t>(::getpid()))
        .u64(F::RingBufferBytes, in.ring_bytes)
        .u64(F::PayloadCapBytes, in.payload_cap)
        .str(F::BootId, first_line("/proc/sys/kernel/random/boot_id"))
        .u64(F::FlushIntervalMs, in.flush_interval_ms)
        .u64(F::UnitMaxBytes, in.unit_max_bytes)
        .u64(F::SegmentMaxBytes, in.segment_max_bytes)
        .u64(F::SegmentIntervalMs, in.segment_interval_ms)
        .u64(F::WindowLog, static_cast<std::uint64_t>(in.window_log))
        .u64(F::ZstdLevel, static_cast<std::uint64_t>(in.zstd_level));
    if (!in.target_cmdline.empty())
        f.str_list(F::TargetCmdline, in.target_cmdline);
    if (in.target_pid > 0)
        f.u64(F::TargetPid, static_cast<std::uint64_t>(in.target_pid));
    return f;
}

}  // namespace ct::record

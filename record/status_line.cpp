#include "status_line.hpp"

#include <cstdio>

#include <fmt/format.h>

namespace ct::record {

std::string human_bytes(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

void StatusLine::update(const RecordingStats& s, double elapsed_s) {
    if (!enabled_ || (last_s_ >= 0 && elapsed_s - last_s_ < 1.0))
        return;
    last_s_ = elapsed_s;
    std::string line = fmt::format(
        "\r\033[Kct-record {:.0f}s  events {}  plaintext {} out / {} in  conns {}  procs {}  "
        "lost {}",
        elapsed_s, s.events, human_bytes(s.bytes_written), human_bytes(s.bytes_read), s.connections,
        s.processes, s.lost_events);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    drawn_ = true;
}

void StatusLine::clear() {
    if (drawn_)
        std::fputs("\r\033[K", stderr);
    drawn_ = false;
}

std::string format_summary(const RecordingStats& s, const std::string& path, double elapsed_s,
                           const std::vector<std::string>& unseen,
                           const std::vector<std::string>& socketless) {
    std::string out = fmt::format(
        "ct-record: wrote {} ({}, {} frames) in {:.1f} s\n"
        "  events {}, plaintext {} sent + {} received, {} TLS connections, {} processes\n",
        path, human_bytes(s.file_bytes), s.frames, elapsed_s, s.events,
        human_bytes(s.bytes_written), human_bytes(s.bytes_read), s.connections, s.processes);
    if (s.throttled_stops) {
        out += fmt::format("  --lossless held the target {} times, {:.1f} ms in all\n",
                           s.throttled_stops, static_cast<double>(s.throttled_ns) / 1e6);
    }
    if (s.lost_events || s.lost_bytes || s.truncated_calls || s.malformed_events) {
        out += fmt::format(
            "  LOST: {} events, {} of plaintext; {} calls truncated at the payload cap; {} "
            "malformed events\n",
            s.lost_events, human_bytes(s.lost_bytes), s.truncated_calls, s.malformed_events);
    }
    if (s.holds) {
        out += fmt::format(
            "  {} hold{} until new code was examined and probed: longest {:.1f} ms, total {:.1f} "
            "ms\n",
            s.holds, s.holds == 1 ? "" : "s", static_cast<double>(s.hold_max_ns) / 1e6,
            static_cast<double>(s.hold_total_ns) / 1e6);
    }
    if (s.untracked_tcp) {
        out += fmt::format(
            "  UNTRACKED: {} TCP connections found the connection map full: whether a probe read "
            "them is unknown\n",
            s.untracked_tcp);
    }
    if (!unseen.empty()) {
        out += "  UNSEEN: TCP traffic of the traced processes that no probe could read:\n";
        for (const auto& line : unseen)
            out += fmt::format("    {}\n", line);
    }
    if (!socketless.empty()) {
        out += "  UNKNOWN SOCKET: TLS connections recorded without their addresses and ports:\n";
        for (const auto& line : socketless)
            out += fmt::format("    {}\n", line);
    }
    bool lost = s.lost_events || s.lost_bytes || s.truncated_calls || s.malformed_events;
    if (!lost && unseen.empty() && !s.untracked_tcp)
        out += "  nothing lost\n";
    return out;
}

}  // namespace ct::record

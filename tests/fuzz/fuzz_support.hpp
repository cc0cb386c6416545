// Helpers shared by the libFuzzer targets: turning the fuzzer's bytes into the
// inputs the parsers take (files, records, streams cut into calls with gaps).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture/capture_contents.hpp"
#include "ct_abi.hpp"

namespace ct::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// The input as a file the capture reader can open: a memfd, no disk.
class MemFile {
  public:
    explicit MemFile(std::string_view bytes) {
        fd_ = memfd_create("ct-fuzz", MFD_CLOEXEC);
        std::size_t done = 0;
        while (fd_ >= 0 && done < bytes.size()) {
            ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
            if (n <= 0)
                break;
            done += static_cast<std::size_t>(n);
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemFile() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    MemFile(const MemFile&) = delete;
    MemFile& operator=(const MemFile&) = delete;
    const std::string& path() const { return path_; }

  private:
    int fd_ = -1;
    std::string path_;
};

// Splits the input in two at the first `sep` (the second part empty without one).
inline std::pair<std::string_view, std::string_view> split_two(std::string_view in,
                                                               std::string_view sep = "\n~~\n") {
    std::size_t at = in.find(sep);
    if (at == std::string_view::npos)
        return {in, {}};
    return {in.substr(0, at), in.substr(at + sep.size())};
}

// Takes the first byte as a count n and the next n bytes as control bytes; the
// rest is the payload.
inline std::pair<std::string_view, std::string_view> take_controls(std::string_view in) {
    if (in.empty())
        return {{}, {}};
    std::size_t n = std::min<std::size_t>(static_cast<unsigned char>(in[0]) % 16, in.size() - 1);
    return {in.substr(1, n), in.substr(1 + n)};
}

// Payload bytes as one direction of a connection, cut into calls where the
// control bytes say, with a gap of up to 127 bytes at the cut when a control
// byte is odd; each call 1 ms after the last.
inline replay::DirectionStream stream_from(std::string_view payload, std::string_view controls) {
    std::vector<std::pair<std::size_t, std::uint64_t>> cuts;  // payload offset, gap bytes
    for (char ch : controls) {
        auto c = static_cast<unsigned char>(ch);
        cuts.emplace_back(payload.size() * c / 256, (c & 1) ? (c >> 1) : 0);
    }
    std::sort(cuts.begin(), cuts.end());
    replay::DirectionStream s;
    std::uint64_t t = 1'000'000'000, seq = 0;
    std::size_t prev = 0;
    auto data = [&](std::size_t from, std::size_t to) {
        if (to <= from)
            return;
        replay::StreamSegment seg;
        seg.pos = s.end_pos;
        seg.len = to - from;
        seg.data_offset = s.data.size();
        seg.monotonic_ns = seg.call_start_ns = t += 1'000'000;
        seg.seq = ++seq;
        seg.call_len = seg.len;
        s.data.insert(s.data.end(), payload.begin() + static_cast<std::ptrdiff_t>(from),
                      payload.begin() + static_cast<std::ptrdiff_t>(to));
        s.segments.push_back(seg);
        s.end_pos += seg.len;
    };
    for (auto [at, gap] : cuts) {
        data(prev, at);
        prev = std::max(prev, at);
        if (gap) {
            replay::StreamSegment seg;
            seg.pos = s.end_pos;
            seg.len = gap;
            seg.is_gap = true;
            seg.gap_reason = replay::GapReason::RingFull;
            seg.monotonic_ns = t += 1'000'000;
            seg.seq = ++seq;
            s.segments.push_back(seg);
            s.end_pos += gap;
            s.gap_bytes += gap;
        }
    }
    data(prev, payload.size());
    return s;
}

// A connection whose streams come from the input: "<sent>\n~~\n<received>", each
// with its own control bytes (see take_controls and stream_from).
inline replay::Connection connection_from(std::string_view in, std::string_view prefix_sent = {}) {
    auto [sent, received] = split_two(in);
    auto [sent_ctl, sent_payload] = take_controls(sent);
    auto [recv_ctl, recv_payload] = take_controls(received);
    replay::Connection c;
    c.conn_gen = 1;
    c.pid = 42;
    c.comm = "fuzz";
    c.closed = !in.empty() && (static_cast<unsigned char>(in.back()) & 1);
    std::string sent_bytes = std::string(prefix_sent) + std::string(sent_payload);
    c.streams[0] = stream_from(sent_bytes, sent_ctl);
    c.streams[1] = stream_from(recv_payload, recv_ctl);
    return c;
}

// Records as a capture holds them: each a type byte (0 and types past Sync read
// as Event), a 2-byte little-endian length and that many bytes (clipped).
inline std::vector<replay::Record> records_from(std::span<const std::uint8_t> in) {
    std::vector<replay::Record> out;
    std::size_t off = 0;
    while (off + 3 <= in.size()) {
        unsigned type = in[off] % 9;
        std::size_t len = in[off + 1] | (static_cast<std::size_t>(in[off + 2]) << 8);
        off += 3;
        len = std::min(len, in.size() - off);
        replay::Record r{};
        r.type = type == 0 ? ctz::RecordType::Event : static_cast<ctz::RecordType>(type);
        r.body = in.subspan(off, len);
        out.push_back(r);
        off += len;
    }
    return out;
}

inline replay::CaptureHeader fuzz_header(std::uint64_t n) {
    replay::CaptureHeader h;
    h.major = ctz::kFormatMajor;
    h.uuid = "00000000-0000-0000-0000-" + std::to_string(100000000000ull + n).substr(0, 12);
    h.hostname = "fuzz";
    h.realtime_minus_monotonic_ns = 1'700'000'000'000'000'000;
    return h;
}

}  // namespace ct::fuzz

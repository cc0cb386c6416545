// Builds reassembled streams and connections by hand, the way the capture
// reader lays them out, so decoders can be tested without capture files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "capture/capture_contents.hpp"

namespace ct::testing {

class StreamBuilder {
  public:
    // Captured bytes from one call, returning at `monotonic_ns` (0: 1 ms after the last).
    StreamBuilder& data(std::string_view bytes, std::uint64_t monotonic_ns = 0) {
        replay::StreamSegment s;
        s.pos = stream_.end_pos;
        s.len = bytes.size();
        s.data_offset = stream_.data.size();
        s.monotonic_ns = next_time(monotonic_ns);
        s.call_start_ns = s.monotonic_ns;
        s.seq = ++seq_;
        stream_.data.insert(stream_.data.end(), bytes.begin(), bytes.end());
        stream_.segments.push_back(s);
        stream_.end_pos += bytes.size();
        return *this;
    }
    StreamBuilder& gap(std::uint64_t len, std::uint64_t monotonic_ns = 0) {
        replay::StreamSegment s;
        s.pos = stream_.end_pos;
        s.len = len;
        s.is_gap = true;
        s.gap_reason = replay::GapReason::RingFull;
        s.monotonic_ns = next_time(monotonic_ns);
        s.seq = ++seq_;
        stream_.segments.push_back(s);
        stream_.end_pos += len;
        stream_.gap_bytes += len;
        return *this;
    }
    const replay::DirectionStream& stream() const { return stream_; }

    std::uint64_t time_ = 1'000'000'000;

  private:
    std::uint64_t next_time(std::uint64_t t) {
        time_ = t ? t : time_ + 1'000'000;
        return time_;
    }
    replay::DirectionStream stream_;
    std::uint64_t seq_ = 0;
};

// Splits `bytes` into data segments at the given cut offsets.
inline replay::DirectionStream cut_stream(std::string_view bytes,
                                          const std::vector<std::size_t>& cuts) {
    StreamBuilder b;
    std::size_t prev = 0;
    for (std::size_t c : cuts) {
        if (c > prev && c < bytes.size()) {
            b.data(bytes.substr(prev, c - prev));
            prev = c;
        }
    }
    b.data(bytes.substr(prev));
    return b.stream();
}

inline replay::Connection make_connection(replay::DirectionStream sent,
                                          replay::DirectionStream received, bool closed = true) {
    replay::Connection c;
    c.conn_gen = 1;
    c.pid = 42;
    c.comm = "client";
    c.closed = closed;
    c.streams[0] = std::move(sent);
    c.streams[1] = std::move(received);
    return c;
}

// One request (sent at 1 s) and its response, read in two pieces cut at `cut`
// (at 2 s and 3 s), or whole at 2 s when `cut` is 0 or past its end.
inline replay::Connection request_and_response(std::string_view request, std::string_view response,
                                               std::size_t cut) {
    StreamBuilder out, in;
    out.data(request, 1'000'000'000);
    if (cut > 0 && cut < response.size()) {
        in.data(response.substr(0, cut), 2'000'000'000);
        in.data(response.substr(cut), 3'000'000'000);
    } else {
        in.data(response, 2'000'000'000);
    }
    return make_connection(out.stream(), in.stream());
}

}  // namespace ct::testing

// One direction of a reassembled connection seen as runs of contiguous captured
// bytes separated by gaps, with a map from stream position to time.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "capture/capture_contents.hpp"

namespace ct::analyze {

struct ByteRun {
    std::uint64_t pos = 0;  // stream position of bytes[0]
    std::string_view bytes;
    std::uint64_t end() const { return pos + bytes.size(); }
};

class StreamView {
  public:
    StreamView() = default;
    explicit StreamView(const replay::DirectionStream& stream);
    // Times only: the stream's segments without its bytes (`stream.data` may be
    // empty, its bytes gone); monotonic_at() and end_pos() answer as a view of
    // the stream with its bytes did, runs() is empty.
    static StreamView timing_only(const replay::DirectionStream& stream);

    const std::vector<ByteRun>& runs() const { return runs_; }
    std::uint64_t end_pos() const { return end_pos_; }
    std::uint64_t gap_bytes() const { return gap_bytes_; }
    const std::vector<const replay::StreamSegment*>& gaps() const { return gaps_; }
    // The data segments, by position.
    const std::vector<const replay::StreamSegment*>& segments() const { return timed_; }

    // CLOCK_MONOTONIC ns of the call that carried the byte at `pos` (for a gap, the
    // nearest captured byte); 0 if the stream is empty.
    std::uint64_t monotonic_at(std::uint64_t pos) const;
    // Index of the run holding `pos`, or of the first run after it; runs().size() if none.
    std::size_t run_at_or_after(std::uint64_t pos) const;
    // Bytes captured in [from, to), appended to `out`; returns the captured count.
    std::uint64_t copy_range(std::uint64_t from, std::uint64_t to, std::string& out) const;

  private:
    std::vector<ByteRun> runs_;
    std::vector<const replay::StreamSegment*> timed_;  // data segments, by pos
    std::vector<const replay::StreamSegment*> gaps_;
    std::uint64_t end_pos_ = 0;
    std::uint64_t gap_bytes_ = 0;
    std::uint64_t monotonic_before_ = 0;  // DirectionStream::monotonic_before
};

}  // namespace ct::analyze

// Reads .ctz capture files (schema/capture-format.md), including damaged ones:
// a corrupt frame is skipped and reading resumes at the next frame magic; a
// truncated tail ends the read with everything before it intact.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ctz_format.hpp"
#include "util/error.hpp"

namespace ct::replay {

struct CaptureHeader {
    std::uint16_t major = 0;
    std::uint16_t minor = 0;
    std::uint64_t abi_version = 0;
    std::string recorder_version;
    std::string uuid;  // 32 lowercase hex digits, 8-4-4-4-12 dashed
    std::string hostname;
    std::string kernel_release;
    std::string machine;
    std::string boot_id;
    std::int64_t realtime_minus_monotonic_ns = 0;
    std::int64_t start_realtime_ns = 0;
    std::uint64_t start_monotonic_ns = 0;
    std::vector<std::string> recorder_cmdline;
    std::vector<std::string> target_cmdline;
    std::uint64_t target_pid = 0;
    std::uint64_t ring_buffer_bytes = 0;
    std::uint64_t payload_cap_bytes = 0;
    // 1.6, --watch: the first sequence number of this file (earlier ones: earlier files).
    std::uint64_t first_seq = 0;
    std::string series_uuid;  // the recorder run this file belongs to ("" if none)
    std::uint64_t series_index = 0;
    std::string previous_capture_uuid;     // the file this one continues ("" if none)
    std::vector<std::string> watch_rules;  // the recorder's --watch rules (header field 28)
    std::vector<std::uint8_t> raw_fields;  // the header's `fields` bytes, for fields not named here

    ctz::ParsedFields fields() const { return ctz::parse_fields(raw_fields); }

    // CLOCK_MONOTONIC ns (BPF time) to Unix ns UTC, saturating at the int64 range
    // (a damaged or hostile file may hold any values).
    std::int64_t to_realtime(std::uint64_t monotonic_ns) const {
        constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
        constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
        const std::int64_t offset = realtime_minus_monotonic_ns;
        if (monotonic_ns > static_cast<std::uint64_t>(kMax)) {
            // Only a negative offset can bring it back into range.
            const std::uint64_t back = offset < 0 ? 0 - static_cast<std::uint64_t>(offset) : 0;
            return monotonic_ns - back > static_cast<std::uint64_t>(kMax)
                       ? kMax
                       : static_cast<std::int64_t>(monotonic_ns - back);
        }
        std::int64_t out = 0;
        if (__builtin_add_overflow(static_cast<std::int64_t>(monotonic_ns), offset, &out))
            return offset < 0 ? kMin : kMax;
        return out;
    }
};

struct CaptureTrailer {
    std::string end_reason;
    std::int64_t end_realtime_ns = 0;
    std::uint64_t end_monotonic_ns = 0;
    std::uint64_t frames = 0;
    std::uint64_t records = 0;
    std::uint64_t events = 0;
    std::uint64_t data_bytes = 0;
    std::uint64_t lost_events = 0;
    std::uint64_t lost_bytes = 0;
    std::optional<std::int64_t> exit_status;
    std::uint64_t last_seq = 0;
};

// One stretch of the file that could not be read.
struct Damage {
    std::uint64_t file_offset = 0;
    std::uint64_t length = 0;  // bytes skipped
    std::string what;
};

struct ReadSummary {
    std::uint64_t file_size = 0;
    std::uint64_t frames = 0;               // data frames decoded
    std::uint64_t records = 0;              // records delivered
    std::uint64_t bad_frames = 0;           // frames with damage (units before it are kept)
    std::uint64_t skipped_bytes = 0;        // file bytes not used
    std::uint64_t missing_frames = 0;       // gaps in FRAME_BEGIN indexes
    bool truncated_tail = false;            // the file ends inside a frame
    std::uint64_t unverified_records = 0;   // salvaged after the last SYNC of a cut segment
    std::optional<CaptureTrailer> trailer;  // set when the capture ended cleanly
    std::vector<Damage> damage;

    bool ended_cleanly() const { return trailer.has_value() && !truncated_tail; }
};

struct Record {
    ctz::RecordType type;
    std::span<const std::uint8_t> body;  // valid only during the callback
    std::uint64_t frame_index = 0;       // from the frame's FRAME_BEGIN record
    std::uint64_t frame_offset = 0;      // file offset of the frame holding it
};

class CaptureReader {
  public:
    // Fails on: unreadable file, not a capture, unknown major version.
    static Expected<CaptureReader> open(const std::string& path);

    const CaptureHeader& header() const { return header_; }
    std::uint64_t file_size() const { return file_size_; }

    // Visits every record in file order. `progress(done_bytes, total_bytes)` is
    // called now and then if given. Never throws on damaged input.
    ReadSummary for_each_record(
        const std::function<void(const Record&)>& visit,
        const std::function<void(std::uint64_t, std::uint64_t)>& progress = {}) const;

  private:
    CaptureReader() = default;
    std::string path_;
    std::uint64_t file_size_ = 0;
    CaptureHeader header_;
    std::uint64_t header_end_ = 0;
};

// Parses a header/trailer skippable-frame content; exposed for tests.
Expected<CaptureHeader> parse_header_content(std::span<const std::uint8_t> content);
std::optional<CaptureTrailer> parse_trailer_content(std::span<const std::uint8_t> content);

}  // namespace ct::replay

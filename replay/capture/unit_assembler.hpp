// Turns the decompressed bytes of one segment into records, and delivers the
// records of each unit only once the unit's SYNC record vouches for them (a
// checksum of the unit's bytes). zstd verifies a frame only at its end; units let
// a reader trust what it got from a segment that was cut short or damaged.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ctz_format.hpp"

namespace ct::replay {

class UnitAssembler {
  public:
    using Deliver = std::function<void(ctz::RecordType, std::span<const std::uint8_t>)>;
    enum class Status { Ok, BadCrc, Malformed, TooLarge };

    // `limit`: most bytes held while waiting for a unit's SYNC record.
    explicit UnitAssembler(std::size_t limit) : limit_(limit) {}

    // Adds decompressed bytes and delivers every unit they complete. After a
    // status other than Ok, the rest of the segment cannot be trusted.
    Status feed(std::span<const std::uint8_t> bytes, const Deliver& deliver);
    // The segment ended. Records after the last SYNC are delivered if
    // `deliver_pending` (zstd verified the frame, or a truncated tail is being
    // salvaged) and dropped otherwise. Returns how many there were.
    std::size_t finish(bool deliver_pending, const Deliver& deliver);

    std::uint64_t units() const { return units_; }
    // Decompressed bytes held after the last complete unit.
    std::size_t buffered() const { return buf_.size(); }

  private:
    struct Pending {
        ctz::RecordType type;
        std::size_t offset;  // of the body in buf_
        std::size_t length;
    };
    void deliver_pending(const Deliver& deliver);

    std::size_t limit_;
    std::vector<std::uint8_t> buf_;  // bytes of the open unit (and a partial record)
    std::size_t parsed_ = 0;         // bytes of buf_ split into records so far
    std::vector<Pending> pending_;
    std::uint64_t units_ = 0;
};

}  // namespace ct::replay

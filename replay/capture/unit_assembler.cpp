#include "capture/unit_assembler.hpp"

#include <xxhash.h>

namespace ct::replay {

void UnitAssembler::deliver_pending(const Deliver& deliver) {
    for (const auto& p : pending_)
        deliver(p.type, {buf_.data() + p.offset, p.length});
    pending_.clear();
}

UnitAssembler::Status UnitAssembler::feed(std::span<const std::uint8_t> bytes,
                                          const Deliver& deliver) {
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    while (buf_.size() - parsed_ >= ctz::kRecordHeaderSize) {
        const std::uint8_t* p = buf_.data() + parsed_;
        std::uint32_t len = ctz::get_u32(p);
        auto type = static_cast<ctz::RecordType>(ctz::get_u16(p + 4));
        if (len > ctz::kRecordLimit)
            return Status::Malformed;
        if (buf_.size() - parsed_ - ctz::kRecordHeaderSize < len)
            break;  // needs more bytes
        std::size_t body = parsed_ + ctz::kRecordHeaderSize;
        if (type != ctz::RecordType::Sync) {
            pending_.push_back({type, body, len});
            parsed_ = body + len;
            continue;
        }
        auto fields = ctz::parse_fields({buf_.data() + body, len});
        if (fields.u64(ctz::SyncField::Checksum) != XXH3_64bits(buf_.data(), parsed_) ||
            fields.u64(ctz::SyncField::Records) != pending_.size()) {
            return Status::BadCrc;
        }
        deliver_pending(deliver);
        ++units_;
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(body + len));
        parsed_ = 0;
    }
    if (buf_.size() > limit_)
        return Status::TooLarge;
    return Status::Ok;
}

std::size_t UnitAssembler::finish(bool deliver, const Deliver& callback) {
    std::size_t n = pending_.size();
    if (deliver) {
        deliver_pending(callback);
    } else {
        pending_.clear();
    }
    buf_.clear();
    parsed_ = 0;
    return n;
}

}  // namespace ct::replay

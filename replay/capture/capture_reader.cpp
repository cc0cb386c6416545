#include "capture/capture_reader.hpp"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_d_forceIgnoreChecksum, ZSTD_getFrameHeader
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "capture/file_window.hpp"
#include "capture/frame_magic.hpp"
#include "capture/unit_assembler.hpp"

namespace ct::replay {

namespace {

using ctz::get_u16;
using ctz::get_u32;

struct DctxFree {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
using Dctx = std::unique_ptr<ZSTD_DCtx, DctxFree>;

struct Xxh64Free {
    void operator()(XXH64_state_t* s) const { XXH64_freeState(s); }
};
using Xxh64State = std::unique_ptr<XXH64_state_t, Xxh64Free>;

std::string format_uuid(std::span<const std::uint8_t> b) {
    if (b.size() != 16)
        return {};
    std::string hex;
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            hex += '-';
        hex += fmt::format("{:02x}", b[i]);
    }
    return hex;
}

constexpr std::size_t kZstdBlockHeaderSize = 3;  // RFC 8878, 3.1.1.2

// Walks the file; owns the per-read state so for_each_record stays readable.
class FrameWalker {
  public:
    FrameWalker(FileWindow& file, const std::function<void(const Record&)>& visit,
                const std::function<void(std::uint64_t, std::uint64_t)>& progress)
        : file_(file), visit_(visit), progress_(progress), dctx_(ZSTD_createDCtx()) {
        summary_.file_size = file.size();
        // Writers use windows of at most 16 MiB; refusing bigger bounds memory.
        ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_windowLogMax, 24);
        // zstd checks a frame's checksum in the call that decodes its last block and
        // then drops that call's output, units already vouched for by their SYNC
        // records included. The reader checks the frame checksum itself instead.
        ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_forceIgnoreChecksum, ZSTD_d_ignoreChecksum);
    }

    ReadSummary run(std::uint64_t start) {
        std::uint64_t off = start;
        std::uint64_t next_progress = 0;
        while (off < file_.size()) {
            if (progress_ && off >= next_progress) {
                progress_(off, file_.size());
                next_progress = off + (16u << 20);
            }
            auto head = file_.view(off, 8);
            if (head.size() < 4) {
                damage(off, head.size(), "trailing bytes too short to be a frame");
                summary_.truncated_tail = true;
                break;
            }
            std::uint32_t magic = get_u32(head.data());
            // A trailer is only the end of a capture if no segment or stray bytes follow.
            if (!ctz::is_skippable_magic(magic))
                pending_trailer_.reset();
            if (magic == ctz::kZstdFrameMagic) {
                off = data_frame(off);
            } else if (ctz::is_skippable_magic(magic)) {
                off = skippable_frame(off);
            } else {
                off = resync(off, "bytes that are not a frame");
            }
        }
        summary_.trailer = pending_trailer_;
        if (progress_)
            progress_(file_.size(), file_.size());
        return std::move(summary_);
    }

  private:
    void damage(std::uint64_t off, std::uint64_t len, std::string what) {
        summary_.skipped_bytes += len;
        summary_.damage.push_back(Damage{off, len, std::move(what)});
    }

    // Skips to the next plausible frame magic after `off`; returns its offset.
    std::uint64_t resync(std::uint64_t off, const char* why) {
        std::uint64_t pos = off + 1;
        constexpr std::size_t kChunk = 1u << 20;
        while (pos < file_.size()) {
            auto v = file_.view(pos, kChunk + 3);
            if (v.size() < 4) {
                pos = file_.size();
                break;
            }
            const std::size_t i = find_frame_magic(v);
            if (i + 4 <= v.size()) {
                pos += i;
                break;
            }
            pos += v.size() - 3;
        }
        damage(off, pos - off, fmt::format("{}; resynchronised at byte {}", why, pos));
        return pos;
    }

    std::uint64_t skippable_frame(std::uint64_t off) {
        auto head = file_.view(off, 8);
        if (head.size() < 8) {
            damage(off, head.size(), "truncated skippable frame header");
            summary_.truncated_tail = true;
            return file_.size();
        }
        std::uint32_t size = get_u32(head.data() + 4);
        if (off + 8 + size > file_.size()) {
            if (size <= ctz::kSkippableContentLimit) {
                damage(off, file_.size() - off, "truncated skippable frame at the end of the file");
                summary_.truncated_tail = true;
                return file_.size();
            }
            return resync(off, "skippable frame larger than the file");
        }
        if (get_u32(head.data()) == ctz::kSkippableMagic && size >= 8 &&
            size <= ctz::kSkippableContentLimit) {
            auto content = file_.view(off + 8, size);
            if (content.size() == size && get_u32(content.data()) == ctz::kTagTrailer) {
                pending_trailer_ = parse_trailer_content(content);
                if (!pending_trailer_)
                    damage(off, 8 + size, "unreadable trailer");
            } else if (content.size() == size && get_u32(content.data()) == ctz::kTagHeader) {
                // Records after it belong to another capture (files joined together):
                // their sequence numbers and connection generations would collide.
                damage(off, file_.size() - off,
                       "a second capture header: another capture starts here and was not read");
                return file_.size();
            }
        }
        return off + 8 + size;  // other skippable frames are not ours to read
    }

    // How one pass over a segment ended.
    struct SegmentPass {
        enum class End { Complete, Truncated, DecodeError, Implausible } end = End::Complete;
        std::uint64_t next_offset = 0;   // where the next frame starts (Complete)
        std::uint64_t error_offset = 0;  // input position reached (DecodeError, Implausible)
        std::uint64_t delivered = 0;     // records delivered, skipped ones included
        std::size_t salvaged = 0;        // unverified records delivered from a cut tail
        std::uint64_t units = 0;         // units that passed their SYNC checks
        std::uint64_t used_end = 0;      // input position by which the last of them was decoded
        bool bad_checksum = false;       // complete, but the frame checksum does not match
        std::size_t dropped = 0;         // records after the last SYNC dropped for it
        std::string why;                 // set when units failed their checks
        std::string zstd_error;
    };

    // Whether the zstd frame at `off` carries a content checksum (its last 4 bytes).
    bool frame_has_checksum(std::uint64_t off) {
        auto head = file_.view(off, ZSTD_FRAMEHEADERSIZE_MAX);
        ZSTD_frameHeader zfh{};
        return ZSTD_getFrameHeader(&zfh, head.data(), head.size()) == 0 && zfh.checksumFlag;
    }

    // Compares the checksum stored at the end of a frame ending at `end` with `digest`,
    // the XXH64 of its content (zstd keeps the low 32 bits).
    bool frame_checksum_matches(std::uint64_t end, XXH64_hash_t digest) {
        auto stored = file_.view(end - 4, 4);
        return stored.size() == 4 && get_u32(stored.data()) == static_cast<std::uint32_t>(digest);
    }

    // Decodes the segment at `off` as a stream, `slice` input bytes per call, and
    // delivers each unit once its SYNC record vouches for it. The first `skip`
    // records are not delivered again (a second, finer pass after an error).
    SegmentPass decode_segment(std::uint64_t off, std::size_t slice, std::uint64_t skip) {
        ZSTD_DCtx_reset(dctx_.get(), ZSTD_reset_session_only);
        XXH64_reset(content_hash_.get(), 0);
        const bool has_checksum = frame_has_checksum(off);
        UnitAssembler units(ctz::kFrameContentLimit);
        SegmentPass pass;
        auto deliver = [&](ctz::RecordType type, std::span<const std::uint8_t> body) {
            if (pass.delivered++ >= skip)
                deliver_record(type, body, off);
        };
        first_record_ = skip == 0;
        std::uint64_t decoded = 0, pos = off;
        std::size_t hint = 0;     // the last ZSTD_decompressStream result
        bool discarding = false;  // damage seen: find the frame's end, keep nothing more
        for (;;) {
            auto in_view = file_.view(pos, slice);
            if (in_view.empty()) {
                pass.end = SegmentPass::End::Truncated;
                pass.units = units.units();
                // zstd's hint is a block header's size when it holds no partial block.
                if (!discarding && units.buffered() == 0 && hint == kZstdBlockHeaderSize)
                    pass.used_end = pos;  // the file ends where a unit ended
                if (!discarding)
                    pass.salvaged = units.finish(true, deliver);
                return pass;
            }
            ZSTD_inBuffer in{in_view.data(), in_view.size(), 0};
            while (in.pos < in.size) {
                ZSTD_outBuffer out{out_.data(), out_.size(), 0};
                std::size_t r = ZSTD_decompressStream(dctx_.get(), &out, &in);
                if (ZSTD_isError(r)) {
                    units.finish(false, deliver);
                    pass.end = SegmentPass::End::DecodeError;
                    pass.error_offset = pos + in.pos;
                    pass.zstd_error = ZSTD_getErrorName(r);
                    return pass;
                }
                hint = r;
                decoded += out.pos;
                if (out.pos > 0)
                    XXH64_update(content_hash_.get(), out_.data(), out.pos);
                if (!discarding && out.pos > 0) {
                    const auto units_before = units.units();
                    auto status = units.feed({out_.data(), out.pos}, deliver);
                    if (units.units() != units_before)
                        pass.used_end = pos + in.pos;
                    if (status != UnitAssembler::Status::Ok) {
                        discarding = true;
                        pass.why =
                            status == UnitAssembler::Status::BadCrc
                                ? "a unit failed its checksum; the rest of the segment was skipped"
                                : "malformed records; the rest of the segment was skipped";
                        units.finish(false, deliver);
                    }
                }
                // Bound the work on hostile input: real captures never expand this much.
                if (decoded > ctz::kFrameContentLimit && decoded / 2000 > pos + in.pos - off) {
                    units.finish(false, deliver);
                    pass.end = SegmentPass::End::Implausible;
                    pass.error_offset = pos + in.pos;
                    return pass;
                }
                if (r == 0) {  // frame complete
                    pass.next_offset = pos + in.pos;
                    pass.units = units.units();
                    // Units delivered so far passed their own checks; only records
                    // after the last SYNC (all of a segment from a writer that predates
                    // units) depend on the frame checksum.
                    pass.bad_checksum =
                        has_checksum && !frame_checksum_matches(pass.next_offset,
                                                                XXH64_digest(content_hash_.get()));
                    if (!discarding) {
                        std::size_t pending = units.finish(!pass.bad_checksum, deliver);
                        if (pass.bad_checksum)
                            pass.dropped = pending;
                    }
                    return pass;
                }
            }
            pos += in.size;
        }
    }

    // One segment (a zstd frame): every unit before any damage is kept.
    std::uint64_t data_frame(std::uint64_t off) {
        auto pass = decode_segment(off, 1u << 20, 0);
        if (pass.end == SegmentPass::End::DecodeError) {
            // zstd drops the output of the call that fails; a pass with small input
            // slices recovers the units that ended just before the damage.
            auto fine = decode_segment(off, 16, pass.delivered);
            if (fine.end == SegmentPass::End::DecodeError)
                pass.error_offset = fine.error_offset;
        }
        switch (pass.end) {
            case SegmentPass::End::Complete:
                if (!pass.why.empty()) {
                    ++summary_.bad_frames;
                    damage(off, pass.next_offset - off, pass.why);
                } else if (pass.bad_checksum) {
                    ++summary_.bad_frames;
                    damage(off, pass.dropped > 0 ? pass.next_offset - off : 0,
                           fmt::format("the segment's zstd checksum does not match; its {} "
                                       "unit(s) that passed their own SYNC checksums were kept, "
                                       "{} record(s) after the last SYNC were dropped",
                                       pass.units, pass.dropped));
                } else {
                    ++summary_.frames;
                }
                return pass.next_offset;
            case SegmentPass::End::Truncated: {
                summary_.truncated_tail = true;
                summary_.unverified_records += pass.salvaged;
                if (!pass.why.empty()) {
                    damage(off, file_.size() - off,
                           pass.why + "; the file ends inside this segment");
                    return file_.size();
                }
                // Not damage: the recorder stopped while writing. Only the bytes after
                // the last complete unit went unused (none when the file ends at a unit).
                std::uint64_t used = std::max(pass.used_end, off);
                damage(used, file_.size() - used,
                       fmt::format("the file ends inside a segment (the recorder stopped while "
                                   "writing); all {} complete unit(s) of the segment were kept, "
                                   "{} record(s) after the last one are unverified",
                                   pass.units, pass.salvaged));
                return file_.size();
            }
            case SegmentPass::End::DecodeError:
                ++summary_.bad_frames;
                damage(off, 0,
                       fmt::format("corrupt segment ({}); the units before the damage "
                                   "were kept",
                                   pass.zstd_error));
                return resync(std::max(pass.error_offset, off + 1) - 1,
                              "the rest of a corrupt segment");
            case SegmentPass::End::Implausible:
                ++summary_.bad_frames;
                damage(off, 0, "segment expands implausibly; skipped");
                return resync(pass.error_offset, "the rest of an implausible segment");
        }
        return file_.size();
    }

    void deliver_record(ctz::RecordType type, std::span<const std::uint8_t> body,
                        std::uint64_t frame_offset) {
        if (first_record_ && type == ctz::RecordType::FrameBegin) {
            auto fields = ctz::parse_fields(body);
            if (auto idx = fields.u64(ctz::FrameField::Index)) {
                if (*idx > expected_index_)
                    summary_.missing_frames += *idx - expected_index_;
                frame_index_ = *idx;
                expected_index_ = *idx + 1;
            }
        } else if (first_record_) {
            frame_index_ = expected_index_++;
        }
        first_record_ = false;
        visit_(Record{type, body, frame_index_, frame_offset});
        ++summary_.records;
    }

    FileWindow& file_;
    const std::function<void(const Record&)>& visit_;
    const std::function<void(std::uint64_t, std::uint64_t)>& progress_;
    Dctx dctx_;
    Xxh64State content_hash_{XXH64_createState()};
    std::vector<std::uint8_t> out_ = std::vector<std::uint8_t>(ZSTD_DStreamOutSize());
    bool first_record_ = true;
    std::uint64_t frame_index_ = 0;
    ReadSummary summary_;
    std::optional<CaptureTrailer> pending_trailer_;
    std::uint64_t expected_index_ = 0;
};

}  // namespace

Expected<CaptureHeader> parse_header_content(std::span<const std::uint8_t> content) {
    if (content.size() < 8 || get_u32(content.data()) != ctz::kTagHeader) {
        return fail("no ct capture header");
    }
    CaptureHeader h;
    h.major = get_u16(content.data() + 4);
    h.minor = get_u16(content.data() + 6);
    if (h.major != ctz::kFormatMajor) {
        return fail(fmt::format(
            "capture format version {}.{} is not supported (this build reads version {}.x)",
            h.major, h.minor, ctz::kFormatMajor));
    }
    h.raw_fields.assign(content.begin() + 8, content.end());
    auto f = h.fields();
    using F = ctz::HeaderField;
    h.abi_version = f.u64(F::AbiVersion).value_or(0);
    h.recorder_version = f.str(F::RecorderVersion);
    if (const auto* u = f.find(F::CaptureUuid))
        h.uuid = format_uuid(u->value);
    h.hostname = f.str(F::Hostname);
    h.kernel_release = f.str(F::KernelRelease);
    h.machine = f.str(F::Machine);
    h.boot_id = f.str(F::BootId);
    h.realtime_minus_monotonic_ns = f.i64(F::RealtimeMinusMonotonicNs).value_or(0);
    h.start_realtime_ns = f.i64(F::StartRealtimeNs).value_or(0);
    h.start_monotonic_ns = f.u64(F::StartMonotonicNs).value_or(0);
    h.recorder_cmdline = f.str_list(F::RecorderCmdline);
    h.target_cmdline = f.str_list(F::TargetCmdline);
    h.target_pid = f.u64(F::TargetPid).value_or(0);
    h.ring_buffer_bytes = f.u64(F::RingBufferBytes).value_or(0);
    h.payload_cap_bytes = f.u64(F::PayloadCapBytes).value_or(0);
    h.first_seq = f.u64(F::FirstSeq).value_or(0);
    if (const auto* u = f.find(F::SeriesUuid))
        h.series_uuid = format_uuid(u->value);
    h.series_index = f.u64(F::SeriesIndex).value_or(0);
    if (const auto* u = f.find(F::PreviousCaptureUuid))
        h.previous_capture_uuid = format_uuid(u->value);
    h.watch_rules = f.str_list(F::WatchRules);
    if (h.uuid.empty())
        return fail("capture header has no capture UUID");
    return h;
}

std::optional<CaptureTrailer> parse_trailer_content(std::span<const std::uint8_t> content) {
    if (content.size() < 8 || get_u32(content.data()) != ctz::kTagTrailer)
        return std::nullopt;
    if (get_u16(content.data() + 4) != ctz::kFormatMajor)
        return std::nullopt;
    auto f = ctz::parse_fields(content.subspan(8));
    using F = ctz::TrailerField;
    CaptureTrailer t;
    t.end_reason = f.str(F::EndReason);
    t.end_realtime_ns = f.i64(F::EndRealtimeNs).value_or(0);
    t.end_monotonic_ns = f.u64(F::EndMonotonicNs).value_or(0);
    t.frames = f.u64(F::Frames).value_or(0);
    t.records = f.u64(F::Records).value_or(0);
    t.events = f.u64(F::Events).value_or(0);
    t.data_bytes = f.u64(F::DataBytes).value_or(0);
    t.lost_events = f.u64(F::LostEvents).value_or(0);
    t.lost_bytes = f.u64(F::LostBytes).value_or(0);
    t.exit_status = f.i64(F::ExitStatus);
    t.last_seq = f.u64(F::LastSeq).value_or(0);
    return t;
}

Expected<CaptureReader> CaptureReader::open(const std::string& path) {
    auto file = FileWindow::open(path);
    if (!file)
        return std::unexpected(file.error());
    auto head = file->view(0, 12);
    auto not_capture = [&](const char* why) {
        return fail(fmt::format("{} is not a ct capture file: {}", path, why));
    };
    if (head.size() < 12)
        return not_capture("it is too short");
    std::uint32_t magic = get_u32(head.data());
    if (magic == ctz::kZstdFrameMagic) {
        return not_capture("it is a plain zstd file without a ct header");
    }
    if (magic != ctz::kSkippableMagic || get_u32(head.data() + 8) != ctz::kTagHeader) {
        return not_capture("no CTZH header frame at the start");
    }
    std::uint32_t size = get_u32(head.data() + 4);
    if (size > ctz::kSkippableContentLimit)
        return not_capture("header frame size is implausible");
    auto content = file->view(8, size);
    if (content.size() != size)
        return not_capture("the header frame is truncated");
    auto header = parse_header_content(content);
    if (!header)
        return fail(fmt::format("{}: {}", path, header.error().message));
    CaptureReader reader;
    reader.path_ = path;
    reader.file_size_ = file->size();
    reader.header_ = std::move(*header);
    reader.header_end_ = 8ull + size;
    return reader;
}

ReadSummary CaptureReader::for_each_record(
    const std::function<void(const Record&)>& visit,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) const {
    auto file = FileWindow::open(path_);
    if (!file) {
        ReadSummary s;
        s.damage.push_back(Damage{0, 0, file.error().what()});
        return s;
    }
    FrameWalker walker(*file, visit, progress);
    return walker.run(header_end_);
}

}  // namespace ct::replay

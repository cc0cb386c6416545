#include "capture/capture_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include <fmt/format.h>

namespace ct::record {

namespace {

std::uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

struct CaptureWriter::ZstdContext {
    struct Free {
        void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
    };
    std::unique_ptr<ZSTD_CCtx, Free> cctx{ZSTD_createCCtx()};
};

Expected<std::unique_ptr<CaptureWriter>> CaptureWriter::create(const std::string& path,
                                                               const WriterOptions& options) {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options.overwrite ? O_TRUNC : O_EXCL);
    UniqueFd fd(::open(path.c_str(), flags, 0600));
    if (!fd) {
        if (errno == EEXIST) {
            return fail(fmt::format("{} already exists; use --force to overwrite it", path));
        }
        return fail_errno(fmt::format("cannot create {}", path));
    }
    // An overwritten file keeps its old mode: captures hold secrets, so force 0600.
    if (::fchmod(fd.get(), 0600) != 0)
        return fail_errno(fmt::format("cannot chmod {}", path));
    auto writer = std::make_unique<CaptureWriter>(PrivateTag{}, path, std::move(fd), options);
    if (!writer->zstd_->cctx)
        return fail("cannot allocate a zstd compression context");
    ZSTD_CCtx* c = writer->zstd_->cctx.get();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, options.zstd_level);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    if (options.background)
        writer->worker_ = std::thread([w = writer.get()] { w->worker_loop(); });
    return writer;
}

CaptureWriter::CaptureWriter(PrivateTag, std::string path, UniqueFd fd,
                             const WriterOptions& options)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      options_(options),
      zstd_(std::make_unique<ZstdContext>()) {
    if (options_.frame_max_bytes > ctz::kFrameContentLimit / 2) {
        options_.frame_max_bytes = ctz::kFrameContentLimit / 2;
    }
    if (options_.max_pending_frames == 0)
        options_.max_pending_frames = 1;
    frame_.reserve(options_.frame_max_bytes + 128 * 1024);
}

CaptureWriter::~CaptureWriter() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queue_changed_.notify_all();
    if (worker_.joinable())
        worker_.join();
}

Expected<void> CaptureWriter::check_failed() const {
    std::lock_guard lock(mutex_);
    if (failure_)
        return std::unexpected(*failure_);
    return {};
}

Expected<void> CaptureWriter::write_fully(std::span<const std::uint8_t> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : ENOSPC;
            // Cut the partial frame so the file ends at a frame boundary.
            std::uint64_t good_end;
            {
                std::lock_guard lock(mutex_);
                good_end = good_end_;
            }
            if (::ftruncate(fd_.get(), static_cast<off_t>(good_end)) == 0) {
                ::lseek(fd_.get(), static_cast<off_t>(good_end), SEEK_SET);
            }
            std::string what = err == ENOSPC || err == EDQUOT
                                   ? fmt::format(
                                         "disk full while writing {}; the capture is "
                                         "readable up to byte {}",
                                         path_, good_end)
                                   : fmt::format("cannot write {}", path_);
            Error e{what, err};
            std::lock_guard lock(mutex_);
            if (!failure_)
                failure_ = std::make_unique<Error>(e);
            return std::unexpected(e);
        }
        done += static_cast<std::size_t>(n);
    }
    std::lock_guard lock(mutex_);
    good_end_ += bytes.size();
    stats_.file_bytes = good_end_;
    return {};
}

Expected<void> CaptureWriter::write_skippable(std::uint32_t tag, const ctz::FieldWriter& fields) {
    std::vector<std::uint8_t> out;
    const auto& body = fields.bytes();
    ctz::put_u32(out, ctz::kSkippableMagic);
    ctz::put_u32(out, static_cast<std::uint32_t>(8 + body.size()));
    ctz::put_u32(out, tag);
    ctz::put_u16(out, ctz::kFormatMajor);
    ctz::put_u16(out, ctz::kFormatMinor);
    out.insert(out.end(), body.begin(), body.end());
    return write_fully(out);
}

Expected<void> CaptureWriter::write_header(const ctz::FieldWriter& fields) {
    if (header_written_)
        return fail("capture header written twice");
    header_written_ = true;
    return write_skippable(ctz::kTagHeader, fields);
}

void CaptureWriter::open_frame() {
    ctz::FieldWriter begin;
    begin.u64(ctz::FrameField::Index, next_frame_index_++)
        .u64(ctz::FrameField::MonotonicNs, monotonic_ns());
    const auto& body = begin.bytes();
    ctz::put_u32(frame_, static_cast<std::uint32_t>(body.size()));
    ctz::put_u16(frame_, static_cast<std::uint16_t>(ctz::RecordType::FrameBegin));
    ctz::put_u16(frame_, 0);
    frame_.insert(frame_.end(), body.begin(), body.end());
}

Expected<void> CaptureWriter::append(ctz::RecordType type, std::span<const std::uint8_t> body) {
    if (!header_written_)
        return fail("capture record appended before the header");
    if (finished_)
        return fail("capture record appended after finish");
    if (body.size() > ctz::kRecordLimit) {
        return fail(fmt::format("record of {} bytes exceeds the format limit", body.size()));
    }
    if (auto ok = check_failed(); !ok)
        return ok;
    if (frame_.empty())
        open_frame();
    ctz::put_u32(frame_, static_cast<std::uint32_t>(body.size()));
    ctz::put_u16(frame_, static_cast<std::uint16_t>(type));
    ctz::put_u16(frame_, 0);
    frame_.insert(frame_.end(), body.begin(), body.end());
    ++frame_records_;
    ++stats_.records;
    stats_.raw_bytes += ctz::kRecordHeaderSize + body.size();
    if (frame_.size() >= options_.frame_max_bytes)
        return seal_frame();
    return {};
}

Expected<void> CaptureWriter::flush_frame() {
    if (frame_records_ == 0)
        return check_failed();
    return seal_frame();
}

Expected<void> CaptureWriter::seal_frame() {
    frame_records_ = 0;
    if (!options_.background) {
        auto ok = compress_and_write(frame_);
        frame_.clear();
        return ok;
    }
    std::vector<std::uint8_t> next;
    next.reserve(options_.frame_max_bytes + 128 * 1024);
    std::swap(next, frame_);
    std::unique_lock lock(mutex_);
    queue_changed_.wait(
        lock, [&] { return queue_.size() < options_.max_pending_frames || failure_ != nullptr; });
    if (failure_)
        return std::unexpected(*failure_);
    queue_.push_back(std::move(next));
    lock.unlock();
    queue_changed_.notify_all();
    return {};
}

Expected<void> CaptureWriter::compress_and_write(std::vector<std::uint8_t>& raw) {
    compressed_.resize(ZSTD_compressBound(raw.size()));
    std::size_t n = ZSTD_compress2(zstd_->cctx.get(), compressed_.data(), compressed_.size(),
                                   raw.data(), raw.size());
    if (ZSTD_isError(n)) {
        Error e{fmt::format("zstd compression failed: {}", ZSTD_getErrorName(n))};
        std::lock_guard lock(mutex_);
        if (!failure_)
            failure_ = std::make_unique<Error>(e);
        return std::unexpected(e);
    }
    auto ok = write_fully({compressed_.data(), n});
    if (ok) {
        std::lock_guard lock(mutex_);
        ++stats_.frames;
    }
    return ok;
}

void CaptureWriter::worker_loop() {
    for (;;) {
        std::vector<std::uint8_t> raw;
        {
            std::unique_lock lock(mutex_);
            queue_changed_.wait(lock, [&] { return !queue_.empty() || stopping_; });
            if (queue_.empty())
                return;
            raw = std::move(queue_.front());
            queue_.pop_front();
            worker_busy_ = true;
        }
        bool failed;
        {
            std::lock_guard lock(mutex_);
            failed = failure_ != nullptr;
        }
        if (!failed)
            (void)compress_and_write(raw);
        {
            std::lock_guard lock(mutex_);
            worker_busy_ = false;
        }
        queue_changed_.notify_all();
    }
}

Expected<void> CaptureWriter::drain() {
    if (frame_records_ > 0) {
        if (auto ok = seal_frame(); !ok) return ok;
    }
    if (options_.background) {
        std::unique_lock lock(mutex_);
        queue_changed_.wait(lock, [&] { return queue_.empty() && !worker_busy_; });
    }
    return check_failed();
}

Expected<void> CaptureWriter::finish(const ctz::FieldWriter& trailer_fields) {
    if (finished_)
        return fail("capture finished twice");
    if (frame_records_ > 0) {
        if (auto ok = seal_frame(); !ok)
            return ok;
    }
    finished_ = true;
    if (options_.background) {
        std::unique_lock lock(mutex_);
        queue_changed_.wait(lock, [&] { return queue_.empty() && !worker_busy_; });
    }
    if (auto ok = check_failed(); !ok)
        return ok;
    if (auto ok = write_skippable(ctz::kTagTrailer, trailer_fields); !ok)
        return ok;
    if (::fdatasync(fd_.get()) != 0 && errno != EINVAL) {
        return fail_errno(fmt::format("cannot sync {}", path_));
    }
    return {};
}

WriterStats CaptureWriter::stats() const {
    std::lock_guard lock(mutex_);
    WriterStats s = stats_;
    return s;
}

}  // namespace ct::record

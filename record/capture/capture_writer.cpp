#include "capture/capture_writer.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>

#include <fmt/format.h>

namespace ct::record {

namespace {

std::uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

// Appends the SYNC record that closes a unit: a checksum of everything before it.
void close_with_sync(std::vector<std::uint8_t>& unit, std::uint64_t records) {
    ctz::FieldWriter sync;
    sync.u64(ctz::SyncField::Checksum, XXH3_64bits(unit.data(), unit.size()))
        .u64(ctz::SyncField::Records, records)
        .u64(ctz::SyncField::MonotonicNs, monotonic_ns());
    ctz::put_record(unit, ctz::RecordType::Sync, sync.bytes());
}

const char* file_kind(mode_t mode) {
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

// Creates `path` with mode 0600; fails if anything (even a dangling link) is there.
UniqueFd create_exclusive(const std::string& path) {
    return UniqueFd(
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
}

// ".NAME.XXXXXXXXXXXXXXXX.tmp" in the directory of `path`.
std::string temp_name_beside(const std::string& path) {
    std::uint64_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r))
        r = monotonic_ns() ^ static_cast<std::uint64_t>(::getpid());
    std::size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    return fmt::format("{}.{}.{:016x}.tmp", dir, name, r);
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
    // Look at what is there without following a link: --force replaces only a
    // regular file, and nothing else is ever opened, truncated or chmod-ed.
    struct stat st {};
    const bool exists = ::lstat(path.c_str(), &st) == 0;
    if (exists && S_ISLNK(st.st_mode)) {
        return fail(
            fmt::format("-w {}: is a symbolic link; ct-record does not write through links (give "
                        "the path it points to, or remove the link)",
                        path));
    }
    if (exists && !S_ISREG(st.st_mode)) {
        return fail(fmt::format(
            "-w {}: not a regular file (it is {}); ct-record writes a capture only to a new "
            "file{}",
            path, file_kind(st.st_mode), options.overwrite ? ", or replaces a regular file" : ""));
    }
    if (exists && !options.overwrite)
        return fail(fmt::format("{} already exists; use --force to overwrite it", path));

    UniqueFd fd;
    std::string created;
    if (exists) {
        // Written beside the old capture and renamed over it once the header is on
        // disk, so a start that fails leaves the old capture as it was.
        for (int attempt = 0; attempt < 100 && !fd; ++attempt) {
            created = temp_name_beside(path);
            fd = create_exclusive(created);
            if (!fd && errno != EEXIST)
                break;
        }
        if (!fd) {
            return fail_errno(fmt::format(
                "cannot create a temporary file beside {} (--force writes the new capture "
                "there and renames it over the old one)",
                path));
        }
    } else {
        created = path;
        fd = create_exclusive(path);
        if (!fd) {
            if (errno == EEXIST) {
                return fail(
                    fmt::format("{} appeared while ct-record was starting; not touching it", path));
            }
            return fail_errno(fmt::format("cannot create {}", path));
        }
    }
    // The creation mode is filtered by the umask; captures hold secrets: exactly 0600.
    if (::fchmod(fd.get(), 0600) != 0) {
        int err = errno;
        ::unlink(created.c_str());
        return fail(fmt::format("cannot chmod {}", created), err);
    }
    auto writer = std::make_unique<CaptureWriter>(PrivateTag{}, path, std::move(fd), options);
    writer->unpublished_path_ = created;
    ZSTD_CCtx* c = writer->zstd_->cctx.get();
    if (!c)
        return fail("cannot allocate a zstd compression context");
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, writer->options_.window_log);
    if (options.background)
        writer->worker_ = std::thread([w = writer.get()] { w->worker_loop(); });
    return writer;
}

CaptureWriter::CaptureWriter(PrivateTag, std::string path, UniqueFd fd,
                             const WriterOptions& options)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      options_(options),
      zstd_(std::make_unique<ZstdContext>()),
      out_(ZSTD_CStreamOutSize()) {
    // Readers bound what they hold unverified; stay well inside their limits.
    options_.unit_max_bytes = std::min(options_.unit_max_bytes, ctz::kFrameContentLimit / 4);
    options_.window_log = std::clamp(options_.window_log, 17, 24);
    if (options_.max_pending_units == 0)
        options_.max_pending_units = 1;
    unit_.reserve(options_.unit_max_bytes + 128 * 1024);
}

CaptureWriter::~CaptureWriter() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queue_changed_.notify_all();
    if (worker_.joinable())
        worker_.join();
    remove_unpublished();
}

// Puts the file at its path: with --force, renames the temporary file over the old
// capture (synced first, so a crash cannot leave an empty file in its place).
Expected<void> CaptureWriter::publish() {
    if (unpublished_path_ == path_) {
        unpublished_path_.clear();
        return {};
    }
    if (::fdatasync(fd_.get()) != 0 && errno != EINVAL)
        return fail_errno(fmt::format("cannot sync {}", unpublished_path_));
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        return fail(fmt::format("-w {}: not a regular file any more (it is {}); not replacing it",
                                path_,
                                S_ISLNK(st.st_mode) ? "a symbolic link" : file_kind(st.st_mode)));
    }
    if (::rename(unpublished_path_.c_str(), path_.c_str()) != 0) {
        return fail_errno(fmt::format("cannot rename {} over {}", unpublished_path_, path_));
    }
    unpublished_path_.clear();
    return {};
}

// A writer that never wrote its header holds no data: remove its file (the
// temporary one with --force), if that name still is the file it created.
void CaptureWriter::remove_unpublished() {
    if (unpublished_path_.empty() || !fd_)
        return;
    struct stat ours {
    }, there{};
    if (::fstat(fd_.get(), &ours) == 0 && ::lstat(unpublished_path_.c_str(), &there) == 0 &&
        ours.st_dev == there.st_dev && ours.st_ino == there.st_ino) {
        ::unlink(unpublished_path_.c_str());
    }
    unpublished_path_.clear();
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
            // Cut what follows the last complete unit so the file stays readable.
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
    stats_.file_bytes += bytes.size();
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
    auto ok = write_fully(out);
    if (ok) {
        std::lock_guard lock(mutex_);
        good_end_ = stats_.file_bytes;
    }
    return ok;
}

Expected<void> CaptureWriter::write_header(const ctz::FieldWriter& fields) {
    if (header_written_)
        return fail("capture header written twice");
    header_written_ = true;
    if (auto ok = write_skippable(ctz::kTagHeader, fields); !ok)
        return ok;
    return publish();
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
    ctz::put_record(unit_, type, body);
    ++unit_records_;
    ++stats_.records;
    stats_.raw_bytes += ctz::kRecordHeaderSize + body.size();
    if (unit_.size() >= options_.unit_max_bytes)
        return close_unit(false);
    return {};
}

Expected<void> CaptureWriter::flush() {
    return close_unit(false);
}

Expected<void> CaptureWriter::end_segment() {
    return close_unit(true);
}

Expected<void> CaptureWriter::close_unit(bool end_segment) {
    if (unit_records_ == 0 && !end_segment)
        return check_failed();
    Job job;
    job.end_segment = end_segment;
    if (unit_records_ > 0) {
        close_with_sync(unit_, unit_records_);
        job.raw.swap(unit_);
        unit_.reserve(options_.unit_max_bytes + 128 * 1024);
        unit_records_ = 0;
    }
    return submit(std::move(job));
}

Expected<void> CaptureWriter::submit(Job job) {
    if (!options_.background)
        return compress(job, 0);
    std::unique_lock lock(mutex_);
    queue_changed_.wait(
        lock, [&] { return queue_.size() < options_.max_pending_units || failure_ != nullptr; });
    if (failure_)
        return std::unexpected(*failure_);
    queue_.push_back(std::move(job));
    lock.unlock();
    queue_changed_.notify_all();
    return {};
}

// Compresses `raw` into the open segment: ZSTD_e_continue buffers, ZSTD_e_flush
// makes everything given so far decodable, ZSTD_e_end closes the frame.
Expected<void> CaptureWriter::stream(std::span<const std::uint8_t> raw, int mode) {
    auto directive = static_cast<ZSTD_EndDirective>(mode);
    ZSTD_inBuffer in{raw.data(), raw.size(), 0};
    for (;;) {
        ZSTD_outBuffer out{out_.data(), out_.size(), 0};
        std::size_t remaining = ZSTD_compressStream2(zstd_->cctx.get(), &out, &in, directive);
        if (ZSTD_isError(remaining)) {
            Error e{fmt::format("zstd compression failed: {}", ZSTD_getErrorName(remaining))};
            std::lock_guard lock(mutex_);
            if (!failure_)
                failure_ = std::make_unique<Error>(e);
            return std::unexpected(e);
        }
        if (out.pos > 0) {
            if (auto ok = write_fully({out_.data(), out.pos}); !ok)
                return ok;
        }
        bool done = directive == ZSTD_e_continue ? in.pos == in.size : remaining == 0;
        if (done)
            break;
    }
    if (directive != ZSTD_e_continue) {
        std::lock_guard lock(mutex_);
        good_end_ = stats_.file_bytes;
    }
    return {};
}

int CaptureWriter::level_for(std::size_t backlog) {
    if (!options_.adapt_level_to_backlog)
        return options_.zstd_level;
    // Further behind means faster and looser, so that units keep flowing to disk.
    int level = backlog <= 1 ? options_.zstd_level : backlog <= 3 ? 1 : backlog <= 5 ? -10 : -100;
    level = std::min(level, options_.zstd_level);
    // Once a burst forced a faster level, keep it for a while: going back to the
    // slow level at once would only fall behind again (and overflow the ring).
    std::uint64_t now = monotonic_ns();
    if (level < options_.zstd_level) {
        held_level_ = std::min(level, now < hold_until_ns_ ? held_level_ : level);
        hold_until_ns_ = now + kLevelHoldNs;
    } else if (now < hold_until_ns_) {
        level = held_level_;
    }
    return level;
}

Expected<void> CaptureWriter::open_segment(std::size_t backlog) {
    int level = level_for(backlog);
    ZSTD_CCtx* c = zstd_->cctx.get();
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    segment_open_ = true;
    segment_raw_ = 0;
    segment_started_ns_ = monotonic_ns();
    segment_level_ = level;
    if (level < options_.zstd_level) {
        std::lock_guard lock(mutex_);
        if (stats_.lowest_level == 0 || level < stats_.lowest_level)
            stats_.lowest_level = level;
    }
    // The segment's first unit: FRAME_BEGIN alone.
    std::vector<std::uint8_t> first;
    ctz::FieldWriter begin;
    begin.u64(ctz::FrameField::Index, next_segment_index_++)
        .u64(ctz::FrameField::MonotonicNs, segment_started_ns_)
        .i64(ctz::FrameField::ZstdLevel, level);
    ctz::put_record(first, ctz::RecordType::FrameBegin, begin.bytes());
    close_with_sync(first, 1);
    return stream(first, ZSTD_e_continue);
}

Expected<void> CaptureWriter::compress(const Job& job, std::size_t backlog) {
    if (auto ok = check_failed(); !ok)
        return ok;
    if (!job.raw.empty()) {
        bool lagging = options_.adapt_level_to_backlog && backlog > 1;
        if (segment_open_ && lagging) {
            // Falling behind: end this segment so the next one can use a faster level.
            int wanted = level_for(backlog);
            if (wanted < segment_level_) {
                if (auto ok = stream({}, ZSTD_e_end); !ok)
                    return ok;
                segment_open_ = false;
                std::lock_guard lock(mutex_);
                ++stats_.segments;
            }
        }
        if (!segment_open_) {
            if (auto ok = open_segment(backlog); !ok)
                return ok;
        }
        if (auto ok = stream(job.raw, ZSTD_e_flush); !ok)
            return ok;
        segment_raw_ += job.raw.size();
        std::lock_guard lock(mutex_);
        ++stats_.units;
    }
    bool full = segment_raw_ >= options_.segment_max_bytes ||
                monotonic_ns() - segment_started_ns_ >= options_.segment_interval_ms * 1'000'000;
    if (segment_open_ && (job.end_segment || full)) {
        if (auto ok = stream({}, ZSTD_e_end); !ok)
            return ok;
        segment_open_ = false;
        std::lock_guard lock(mutex_);
        ++stats_.segments;
    }
    return {};
}

void CaptureWriter::worker_loop() {
    for (;;) {
        Job job;
        std::size_t backlog;
        {
            std::unique_lock lock(mutex_);
            queue_changed_.wait(lock, [&] { return !queue_.empty() || stopping_; });
            if (queue_.empty())
                return;
            backlog = queue_.size();
            job = std::move(queue_.front());
            queue_.pop_front();
            worker_busy_ = true;
        }
        (void)compress(job, backlog);  // a failure is sticky and reported to the caller
        {
            std::lock_guard lock(mutex_);
            worker_busy_ = false;
        }
        queue_changed_.notify_all();
    }
}

Expected<void> CaptureWriter::drain() {
    if (auto ok = close_unit(true); !ok)
        return ok;
    if (options_.background) {
        std::unique_lock lock(mutex_);
        queue_changed_.wait(lock, [&] { return queue_.empty() && !worker_busy_; });
    }
    return check_failed();
}

Expected<void> CaptureWriter::finish(const ctz::FieldWriter& trailer_fields) {
    if (finished_)
        return fail("capture finished twice");
    if (auto ok = drain(); !ok)
        return ok;
    finished_ = true;
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

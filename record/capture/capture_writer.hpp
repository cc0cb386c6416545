// Writes .ctz capture files (schema/capture-format.md): a header in a skippable
// frame, then independent checksummed zstd frames of records, then a trailer.
//
// A frame is sealed when it reaches frame_max_bytes or when the caller says so
// (the recorder does every second), so a crash loses at most the open frame.
// With `background` set, sealed frames are compressed and written by a worker
// thread so that the caller (the ring-buffer drain) never waits on zstd or disk
// unless the worker falls behind by more than `max_pending_frames`.
//
// A failed write (disk full, I/O error) truncates the file back to the end of
// the last complete frame, so the file stays readable, and every later call
// returns the error.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ctz_format.hpp"
#include "util/error.hpp"
#include "util/unique_fd.hpp"

namespace ct::record {

struct WriterOptions {
    int zstd_level = 3;
    std::size_t frame_max_bytes = 4u << 20;  // uncompressed bytes per frame
    bool overwrite = false;                  // replace an existing file
    bool background = false;                 // compress and write on a worker thread
    std::size_t max_pending_frames = 8;      // background queue bound
};

struct WriterStats {
    std::uint64_t frames = 0;      // data frames written
    std::uint64_t records = 0;     // records appended
    std::uint64_t raw_bytes = 0;   // uncompressed record bytes
    std::uint64_t file_bytes = 0;  // bytes on disk
};

class CaptureWriter {
  public:
    static Expected<std::unique_ptr<CaptureWriter>> create(const std::string& path,
                                                           const WriterOptions& options);
    ~CaptureWriter();
    CaptureWriter(const CaptureWriter&) = delete;
    CaptureWriter& operator=(const CaptureWriter&) = delete;

    // Must be called once, before any record.
    Expected<void> write_header(const ctz::FieldWriter& fields);
    // Appends one record to the open frame; seals it when it is full.
    Expected<void> append(ctz::RecordType type, std::span<const std::uint8_t> body);
    // Seals the open frame (no-op if it holds no record).
    Expected<void> flush_frame();
    // Seals the open frame and waits until every frame is on disk (stats are exact after).
    Expected<void> drain();
    // Seals the open frame, waits for the worker, writes the trailer and syncs.
    Expected<void> finish(const ctz::FieldWriter& trailer_fields);

    bool frame_empty() const { return frame_records_ == 0; }
    // Snapshot; with a background writer, frames/file_bytes lag behind.
    WriterStats stats() const;
    const std::string& path() const { return path_; }

    struct PrivateTag {};  // lets create() use make_unique with a constructor nobody else can call
    CaptureWriter(PrivateTag, std::string path, UniqueFd fd, const WriterOptions& options);

  private:
    void open_frame();
    Expected<void> seal_frame();
    Expected<void> compress_and_write(std::vector<std::uint8_t>& raw);
    Expected<void> write_fully(std::span<const std::uint8_t> bytes);
    Expected<void> write_skippable(std::uint32_t tag, const ctz::FieldWriter& fields);
    Expected<void> check_failed() const;
    void worker_loop();

    std::string path_;
    UniqueFd fd_;
    WriterOptions options_;
    std::vector<std::uint8_t> frame_;  // raw records of the open frame
    std::uint64_t frame_records_ = 0;
    std::uint64_t next_frame_index_ = 0;
    bool header_written_ = false;
    bool finished_ = false;

    struct ZstdContext;
    std::unique_ptr<ZstdContext> zstd_;
    std::vector<std::uint8_t> compressed_;

    // Shared with the worker thread.
    mutable std::mutex mutex_;
    std::condition_variable queue_changed_;
    std::deque<std::vector<std::uint8_t>> queue_;
    bool stopping_ = false;
    bool worker_busy_ = false;
    std::unique_ptr<Error> failure_;  // first write error; sticky
    WriterStats stats_;
    std::uint64_t good_end_ = 0;  // file offset after the last complete frame
    std::thread worker_;
};

}  // namespace ct::record

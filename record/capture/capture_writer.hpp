// Writes .ctz capture files (schema/capture-format.md): a header in a skippable
// frame, then segments, then a trailer.
//
// A segment is one zstd frame. Records are gathered into units; a unit is
// closed by a SYNC record (a checksum of the unit) and flushed into the segment's
// compressed stream, so every closed unit is on disk and decodable even if the
// recorder dies before the segment ends. Compression history spans the whole
// segment, which is what makes an agent's resent conversation cheap to store.
// Segments end at segment_max_bytes or segment_interval_ms, so damage costs at
// most the rest of one segment.
//
// With `background` set, closed units are compressed and written by a worker
// thread, so the caller (the ring-buffer drain) does not wait on zstd or disk
// unless the worker falls behind by more than `max_pending_units`. When it
// falls behind, the worker ends the segment and continues at a faster level.
//
// A failed write (disk full, I/O error) truncates the file back to the end of
// the last complete unit, so the file stays readable, and every later call
// returns the error.
//
// The file is created with mode 0600 and O_EXCL. With `overwrite`, an existing
// path is replaced only if it is a regular file (never a symlink, directory,
// device, FIFO or socket), and atomically: the new capture is written under a
// temporary name in the same directory and renamed over the old file when its
// header is on disk (the earliest point at which it is a readable capture). A
// writer destroyed before that removes what it created, so a recorder that
// fails to start leaves an old capture untouched and no file of its own.
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
    std::size_t unit_max_bytes = 1u << 20;       // close a unit at this raw size
    std::size_t segment_max_bytes = 32u << 20;   // end a segment at this raw size
    std::uint64_t segment_interval_ms = 60'000;  // ... or at this age
    int window_log = 23;                         // zstd history: 8 MiB
    bool overwrite = false;                      // replace an existing regular file
    bool background = false;                     // compress and write on a worker thread
    std::size_t max_pending_units = 8;           // background queue bound
    bool adapt_level_to_backlog = true;          // faster levels when the worker lags
};

struct WriterStats {
    std::uint64_t segments = 0;    // segments ended
    std::uint64_t units = 0;       // units written
    std::uint64_t records = 0;     // records appended
    std::uint64_t raw_bytes = 0;   // uncompressed record bytes
    std::uint64_t file_bytes = 0;  // bytes on disk
    int lowest_level = 0;          // fastest level the backlog forced, 0 if never lowered
};

class CaptureWriter {
  public:
    static Expected<std::unique_ptr<CaptureWriter>> create(const std::string& path,
                                                           const WriterOptions& options);
    ~CaptureWriter();
    CaptureWriter(const CaptureWriter&) = delete;
    CaptureWriter& operator=(const CaptureWriter&) = delete;

    // Must be called once, before any record. Once the header is on disk the file
    // is at its path (with `overwrite`, this is when it replaces the old one).
    Expected<void> write_header(const ctz::FieldWriter& fields);
    // Appends one record to the open unit; closes the unit when it is full.
    Expected<void> append(ctz::RecordType type, std::span<const std::uint8_t> body);
    // Closes the open unit, so that it reaches the disk (no-op if it is empty).
    Expected<void> flush();
    // flush(), then ends the current segment: the next unit starts a new zstd frame.
    Expected<void> end_segment();
    // Ends the segment and waits until everything is on disk (stats are exact after).
    Expected<void> drain();
    // drain(), then writes the trailer and syncs the file.
    Expected<void> finish(const ctz::FieldWriter& trailer_fields);

    bool unit_empty() const { return unit_records_ == 0; }
    // Snapshot; with a background writer, units/segments/file_bytes lag behind.
    WriterStats stats() const;
    const std::string& path() const { return path_; }

    struct PrivateTag {};  // lets create() use make_unique with a constructor nobody else can call
    CaptureWriter(PrivateTag, std::string path, UniqueFd fd, const WriterOptions& options);

  private:
    // A closed unit on its way to the compressor, or an order to end the segment.
    struct Job {
        std::vector<std::uint8_t> raw;
        bool end_segment = false;
    };

    Expected<void> close_unit(bool end_segment);
    Expected<void> submit(Job job);
    Expected<void> compress(const Job& job, std::size_t backlog);
    Expected<void> open_segment(std::size_t backlog);
    int level_for(std::size_t backlog);
    Expected<void> stream(std::span<const std::uint8_t> raw, int mode);
    Expected<void> write_fully(std::span<const std::uint8_t> bytes);
    Expected<void> write_skippable(std::uint32_t tag, const ctz::FieldWriter& fields);
    Expected<void> check_failed() const;
    Expected<void> publish();
    void remove_unpublished();
    void worker_loop();

    std::string path_;
    UniqueFd fd_;
    // Until the header is written: the file's current name (path_, or a temporary
    // name beside it with `overwrite`), removed by the destructor.
    std::string unpublished_path_;
    WriterOptions options_;
    bool header_written_ = false;
    bool finished_ = false;

    // Producer side (the caller's thread).
    std::vector<std::uint8_t> unit_;
    std::uint64_t unit_records_ = 0;

    // Compressor side (the worker, or the caller when not in background).
    struct ZstdContext;
    std::unique_ptr<ZstdContext> zstd_;
    std::vector<std::uint8_t> out_;
    bool segment_open_ = false;
    std::uint64_t segment_raw_ = 0;
    std::uint64_t segment_started_ns_ = 0;
    std::uint64_t next_segment_index_ = 0;
    int segment_level_ = 0;
    static constexpr std::uint64_t kLevelHoldNs = 5'000'000'000;
    int held_level_ = 0;  // fastest level a recent backlog asked for
    std::uint64_t hold_until_ns_ = 0;

    // Shared with the worker thread.
    mutable std::mutex mutex_;
    std::condition_variable queue_changed_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    bool worker_busy_ = false;
    std::unique_ptr<Error> failure_;  // first write error; sticky
    WriterStats stats_;
    std::uint64_t good_end_ = 0;  // file offset after the last complete unit
    std::thread worker_;
};

}  // namespace ct::record

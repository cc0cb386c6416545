// Hands records from a reading thread to a consuming one, in order and in
// batches, so that decompression and checksums run beside what the records are
// used for. A record's bytes are copied once, into a batch that is reused.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "capture/capture_reader.hpp"

namespace ct::replay {

class RecordPipe {
  public:
    using Visit = std::function<void(const Record&)>;
    using Progress = std::function<void(std::uint64_t, std::uint64_t)>;

    // Reading side. push() waits while the consumer is behind by kMaxBatches, and
    // drops the record once the consumer has cancelled.
    void push(const Record& r);
    void progress(std::uint64_t done, std::uint64_t total);
    void close();  // no more records

    // Consuming side: visits every record in order (and reports progress on this
    // thread) until the reading side closes.
    void drain(const Visit& visit, const Progress& progress);
    void cancel();  // the consumer stops: the reader must not wait for it

  private:
    struct Entry {
        ctz::RecordType type;
        std::size_t offset;  // of the body in Batch::bytes
        std::size_t length;
        std::uint64_t frame_index;
        std::uint64_t frame_offset;
    };
    struct Batch {
        std::vector<std::uint8_t> bytes;
        std::vector<Entry> entries;
        std::optional<std::pair<std::uint64_t, std::uint64_t>> progress;
        bool empty() const { return entries.empty() && !progress; }
    };
    static constexpr std::size_t kBatchBytes = std::size_t{1} << 20;
    static constexpr std::size_t kMaxBatches = 4;

    void send();  // queues `filling_` for the consumer

    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Batch> full_;
    std::vector<Batch> spare_;  // drained batches, kept for their capacity
    bool closed_ = false;
    bool cancelled_ = false;
    Batch filling_;  // the reader's own
};

}  // namespace ct::replay

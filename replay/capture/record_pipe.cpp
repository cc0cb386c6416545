#include "capture/record_pipe.hpp"

namespace ct::replay {

void RecordPipe::push(const Record& r) {
    filling_.entries.push_back(
        Entry{r.type, filling_.bytes.size(), r.body.size(), r.frame_index, r.frame_offset});
    filling_.bytes.insert(filling_.bytes.end(), r.body.begin(), r.body.end());
    if (filling_.bytes.size() >= kBatchBytes)
        send();
}

void RecordPipe::progress(std::uint64_t done, std::uint64_t total) {
    filling_.progress = {done, total};
}

void RecordPipe::close() {
    if (!filling_.empty())
        send();
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
}

void RecordPipe::send() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return full_.size() < kMaxBatches || cancelled_; });
    if (cancelled_) {
        filling_.bytes.clear();
        filling_.entries.clear();
        filling_.progress.reset();
        return;
    }
    full_.push_back(std::move(filling_));
    filling_ = Batch{};
    if (!spare_.empty()) {
        filling_ = std::move(spare_.back());
        spare_.pop_back();
    }
    changed_.notify_all();
}

void RecordPipe::drain(const Visit& visit, const Progress& progress) {
    for (;;) {
        Batch batch;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [&] { return !full_.empty() || closed_; });
            if (full_.empty())
                return;
            batch = std::move(full_.front());
            full_.pop_front();
            changed_.notify_all();
        }
        for (const Entry& e : batch.entries) {
            visit(Record{
                e.type, {batch.bytes.data() + e.offset, e.length}, e.frame_index, e.frame_offset});
        }
        if (batch.progress && progress)
            progress(batch.progress->first, batch.progress->second);
        batch.bytes.clear();
        batch.entries.clear();
        batch.progress.reset();
        std::lock_guard lock(mutex_);
        spare_.push_back(std::move(batch));
    }
}

void RecordPipe::cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    changed_.notify_all();
}

}  // namespace ct::replay

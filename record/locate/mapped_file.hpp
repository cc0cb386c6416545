// A read-only, private mapping of a whole file. The locator scans binaries of several
// hundred MB: it maps them instead of reading them, and drops scanned pages from its
// resident set as it goes so that memory use does not grow with the file.
#pragma once

#include <sys/types.h>

#include <string.h>  // memmem

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "util/error.hpp"
#include "util/unique_fd.hpp"

namespace ct::locate {

class MappedFile {
  public:
    // Opens and maps `path`; fails for unreadable, empty or non-regular files.
    static Expected<MappedFile> open(const std::string& path);

    MappedFile() = default;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    std::span<const uint8_t> bytes() const { return {data_, size_}; }
    int fd() const { return fd_.get(); }
    uint64_t size() const { return size_; }
    uint64_t device() const { return device_; }
    uint64_t inode() const { return inode_; }

    // Bytes [offset, offset+length) clipped to the file; empty when out of range.
    std::span<const uint8_t> slice(uint64_t offset, uint64_t length) const;

    // Tells the kernel we are done with these pages for now (they stay in the page
    // cache, but leave our resident set).
    void release(std::span<const uint8_t> range) const;

  private:
    UniqueFd fd_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    uint64_t device_ = 0;
    uint64_t inode_ = 0;
};

// Walks `bytes` in pieces of `chunk_size` bytes, calling fn(piece, start, owned): piece
// is bytes[start, start + owned + overlap) clipped to the end, so that a pattern of up
// to `overlap` + 1 bytes starting in the owned part is seen whole. Each piece leaves
// the resident set once used.
template <typename Fn>
void scan_in_chunks(const MappedFile& file, std::span<const uint8_t> bytes, size_t chunk_size,
                    size_t overlap, Fn&& fn) {
    for (size_t start = 0; start < bytes.size(); start += chunk_size) {
        const size_t owned = std::min(chunk_size, bytes.size() - start);
        const size_t length = std::min(bytes.size() - start, owned + overlap);
        fn(bytes.subspan(start, length), start, owned);
        file.release(bytes.subspan(start, owned));
    }
}

inline std::span<const uint8_t> text_bytes(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Calls fn(at) for each occurrence of `needle` in `piece` (one piece of scan_in_chunks)
// that starts in its first `owned` bytes, so that overlapping pieces report it once.
template <typename Fn>
void for_each_match(std::span<const uint8_t> piece, size_t owned, std::span<const uint8_t> needle,
                    Fn&& fn) {
    const uint8_t* p = piece.data();
    const uint8_t* end = piece.data() + piece.size();
    while (p < end) {
        const void* hit = memmem(p, static_cast<size_t>(end - p), needle.data(), needle.size());
        if (hit == nullptr)
            return;
        const auto at = static_cast<size_t>(static_cast<const uint8_t*>(hit) - piece.data());
        if (at >= owned)
            return;
        fn(at);
        p = static_cast<const uint8_t*>(hit) + 1;
    }
}

}  // namespace ct::locate

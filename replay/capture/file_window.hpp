// A pread-backed view of a slice of a file, so readers of multi-gigabyte
// captures hold one frame in memory, not the whole file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "util/error.hpp"
#include "util/unique_fd.hpp"

namespace ct::replay {

class FileWindow {
  public:
    static Expected<FileWindow> open(const std::string& path);

    std::uint64_t size() const { return size_; }
    // Bytes [offset, offset+len) clipped to the end of the file. The span stays
    // valid until the next call. Short only at end of file or on a read error.
    std::span<const std::uint8_t> view(std::uint64_t offset, std::size_t len);

  private:
    UniqueFd fd_;
    std::uint64_t size_ = 0;
    std::uint64_t start_ = 0;  // file offset of buf_[0]
    std::vector<std::uint8_t> buf_;
};

}  // namespace ct::replay

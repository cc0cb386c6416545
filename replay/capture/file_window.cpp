#include "capture/file_window.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace ct::replay {

Expected<FileWindow> FileWindow::open(const std::string& path) {
    FileWindow w;
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    // It changes nothing for the regular files read below.
    w.fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!w.fd_) {
        if (errno == ENXIO)  // a socket
            return fail(fmt::format("{} is a socket, not a capture file", path));
        return fail_errno(fmt::format("cannot open {}", path));
    }
    struct stat st {};
    if (::fstat(w.fd_.get(), &st) != 0)
        return fail_errno(fmt::format("cannot stat {}", path));
    if (!S_ISREG(st.st_mode)) {
        const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                           : S_ISBLK(st.st_mode)  ? "a block device"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "a special file";
        return fail(
            fmt::format("{} is {}, not a capture file (captures are regular files)", path, what));
    }
    w.size_ = static_cast<std::uint64_t>(st.st_size);
    return w;
}

std::span<const std::uint8_t> FileWindow::view(std::uint64_t offset, std::size_t len) {
    if (offset >= size_)
        return {};
    len = static_cast<std::size_t>(std::min<std::uint64_t>(len, size_ - offset));
    bool cached = offset >= start_ && offset + len <= start_ + buf_.size();
    if (!cached) {
        // Read ahead a little so that walking small frames costs few syscalls.
        std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(std::max<std::size_t>(len, 1u << 20), size_ - offset));
        buf_.resize(want);
        std::size_t got = 0;
        while (got < want) {
            ssize_t n =
                ::pread(fd_.get(), buf_.data() + got, want - got, static_cast<off_t>(offset + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += static_cast<std::size_t>(n);
        }
        buf_.resize(got);
        start_ = offset;
        len = std::min(len, got);
    }
    return {buf_.data() + (offset - start_), len};
}

}  // namespace ct::replay

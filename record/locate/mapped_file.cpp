#include "locate/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <utility>

namespace ct::locate {

Expected<MappedFile> MappedFile::open(const std::string& path) {
    MappedFile file;
    file.fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file.fd_)
        return fail_errno("cannot open " + path);
    struct stat st {};
    if (::fstat(file.fd_.get(), &st) != 0)
        return fail_errno("cannot stat " + path);
    if (!S_ISREG(st.st_mode))
        return fail(path + " is not a regular file");
    if (st.st_size <= 0)
        return fail(path + " is empty");
    file.size_ = static_cast<uint64_t>(st.st_size);
    file.device_ = st.st_dev;
    file.inode_ = st.st_ino;
    // MAP_SHARED on purpose: the kernel installs uprobes (int3) in every private
    // mapping of a probed file that could become executable, including a PROT_READ
    // one like this, so a private map would show another recording's probes as
    // code. Shared mappings are left alone and show the file as it is on disk.
    void* data = ::mmap(nullptr, file.size_, PROT_READ, MAP_SHARED, file.fd_.get(), 0);
    if (data == MAP_FAILED)  // file systems without shared mappings
        data = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, file.fd_.get(), 0);
    if (data == MAP_FAILED)
        return fail_errno("cannot map " + path);
    file.data_ = static_cast<const uint8_t*>(data);
    return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : fd_(std::move(other.fd_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(other.device_),
      inode_(other.inode_) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        if (data_ != nullptr)
            ::munmap(const_cast<uint8_t*>(data_), size_);
        fd_ = std::move(other.fd_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        device_ = other.device_;
        inode_ = other.inode_;
    }
    return *this;
}

MappedFile::~MappedFile() {
    if (data_ != nullptr)
        ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::span<const uint8_t> MappedFile::slice(uint64_t offset, uint64_t length) const {
    if (offset >= size_)
        return {};
    return bytes().subspan(offset, std::min(length, size_ - offset));
}

void MappedFile::release(std::span<const uint8_t> range) const {
    if (range.empty())
        return;
    // madvise needs a page-aligned start; only whole pages inside the range go.
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto begin = reinterpret_cast<uintptr_t>(range.data());
    const auto end = begin + range.size();
    begin = (begin + page - 1) & ~(page - 1);
    if (end <= begin)
        return;
    ::madvise(reinterpret_cast<void*>(begin), (end - begin) & ~(page - 1), MADV_DONTNEED);
}

}  // namespace ct::locate

// mapped_binaries(): which ELF files a process runs code from, and how to open them.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <set>
#include <string>

#include "locate/tls_locator.hpp"
#include "util/unique_fd.hpp"

namespace ct::locate {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

struct MapsLine {
    uint64_t start = 0, end = 0;
    bool executable = false;
    uint64_t device = 0, inode = 0;
    std::string path;
};

std::optional<MapsLine> parse_maps_line(const std::string& line) {
    MapsLine m;
    char perms[5] = {};
    unsigned long long start = 0, end = 0, offset = 0, inode = 0;
    unsigned major = 0, minor = 0;
    int consumed = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &offset,
                    &major, &minor, &inode, &consumed) < 7) {
        return std::nullopt;
    }
    m.start = start;
    m.end = end;
    m.executable = perms[2] == 'x';
    m.device = makedev(major, minor);
    m.inode = inode;
    if (consumed > 0 && static_cast<size_t>(consumed) <= line.size())
        m.path = line.substr(consumed);
    return m;
}

bool same_file(const std::string& path, uint64_t device, uint64_t inode, bool inode_only) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return false;
    return st.st_ino == inode && (inode_only || st.st_dev == device);
}

bool is_elf(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return false;
    char magic[4] = {};
    return ::pread(fd.get(), magic, sizeof magic, 0) == 4 && std::memcmp(magic,
                                                                         "\x7f"
                                                                         "ELF",
                                                                         4) == 0;
}

// Prefers the path through the process's root (a stable name the kernel resolves
// like the process would), checked to be the very file mapped; else the map_files
// link (works for deleted or replaced files, needs CAP_SYS_ADMIN). Overlay file
// systems report the lower device in maps, so an inode-only match is the last resort.
std::string choose_access_path(pid_t pid, const MappedBinary& binary, const std::string& map_file) {
    const std::string via_root = fmt::format("/proc/{}/root{}", pid, binary.path_in_process);
    if (!binary.deleted && same_file(via_root, binary.device, binary.inode, false))
        return via_root;
    if (!map_file.empty() && same_file(map_file, binary.device, binary.inode, true))
        return map_file;
    if (!binary.deleted && same_file(via_root, binary.device, binary.inode, true))
        return via_root;
    if (binary.is_main_executable) {
        const std::string exe = fmt::format("/proc/{}/exe", pid);
        if (same_file(exe, binary.device, binary.inode, true))
            return exe;
    }
    return "";
}

}  // namespace

Expected<std::vector<MappedBinary>> read_mapped_binaries(pid_t pid) {
    const std::string maps_path = fmt::format("/proc/{}/maps", pid);
    UniqueFd maps_fd(::open(maps_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!maps_fd) {
        if (errno == ENOENT || errno == ESRCH) {
            return fail(fmt::format("process {} does not exist (or has exited)", pid), errno);
        }
        return fail_errno("cannot read " + maps_path);
    }
    // Read it whole and early: the process may exit or remap while we work.
    std::string text;
    char buffer[65536];
    for (ssize_t n; (n = ::read(maps_fd.get(), buffer, sizeof buffer)) != 0;) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail_errno("cannot read " + maps_path);
        }
        text.append(buffer, static_cast<size_t>(n));
    }
    std::istringstream maps(text);
    struct Found {
        MappedBinary binary;
        std::string map_file;
    };
    std::vector<Found> found;
    std::set<std::pair<uint64_t, uint64_t>> seen;
    std::string line;
    size_t lines = 0;
    while (std::getline(maps, line)) {
        ++lines;
        auto m = parse_maps_line(line);
        if (!m || !m->executable || m->inode == 0 || m->path.empty() || m->path[0] != '/') {
            continue;
        }
        if (!seen.emplace(m->device, m->inode).second)
            continue;
        Found f;
        f.binary.device = m->device;
        f.binary.inode = m->inode;
        f.binary.path_in_process = m->path;
        if (m->path.ends_with(kDeletedSuffix)) {
            f.binary.deleted = true;
            f.binary.path_in_process.resize(m->path.size() - kDeletedSuffix.size());
        }
        f.map_file = fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, m->start, m->end);
        found.push_back(std::move(f));
    }
    // A process that exited while we read gives an empty (or short) maps file.
    struct stat exe_stat {};
    const std::string exe_link = fmt::format("/proc/{}/exe", pid);
    const bool have_exe = ::stat(exe_link.c_str(), &exe_stat) == 0;
    if (lines == 0 && !have_exe) {
        return fail(fmt::format("process {} has exited (or is a kernel thread)", pid));
    }
    if (have_exe) {
        auto it = std::find_if(found.begin(), found.end(), [&](const Found& f) {
            return f.binary.inode == exe_stat.st_ino && f.binary.device == exe_stat.st_dev;
        });
        if (it == found.end()) {
            // Not matched by (device, inode): try by inode (overlay) before adding it.
            it = std::find_if(found.begin(), found.end(),
                              [&](const Found& f) { return f.binary.inode == exe_stat.st_ino; });
        }
        if (it != found.end()) {
            it->binary.is_main_executable = true;
            std::rotate(found.begin(), it, it + 1);
        } else {
            Found f;
            char target[4096];
            const ssize_t n = ::readlink(exe_link.c_str(), target, sizeof target - 1);
            f.binary.path_in_process = n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
            if (f.binary.path_in_process.ends_with(kDeletedSuffix)) {
                f.binary.deleted = true;
                f.binary.path_in_process.resize(f.binary.path_in_process.size() -
                                                kDeletedSuffix.size());
            }
            f.binary.device = exe_stat.st_dev;
            f.binary.inode = exe_stat.st_ino;
            f.binary.is_main_executable = true;
            found.insert(found.begin(), std::move(f));
        }
    }
    std::vector<MappedBinary> result;
    for (auto& f : found) {
        f.binary.access_path = choose_access_path(pid, f.binary, f.map_file);
        // Executable mappings of non-ELF files (JIT code in memfds) are not ours.
        if (!f.binary.access_path.empty() && !is_elf(f.binary.access_path))
            continue;
        result.push_back(std::move(f.binary));
    }
    return result;
}

std::vector<MappedBinary> mapped_binaries(pid_t pid) {
    auto result = read_mapped_binaries(pid);
    return result ? std::move(*result) : std::vector<MappedBinary>{};
}

}  // namespace ct::locate

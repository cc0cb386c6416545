#include "tls_attacher.hpp"

#include "command_launcher.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

#include "capture_header.hpp"
#include "util/unique_fd.hpp"

namespace ct::record {

namespace {

bool has_elf_magic(int fd) {
    static constexpr char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
    char magic[4] = {};
    return ::pread(fd, magic, sizeof magic, 0) == 4 && std::memcmp(magic, kElfMagic, 4) == 0;
}

// The target of a /proc magic link, without the " (deleted)" the kernel appends.
std::string link_target(const std::string& link) {
    char buf[4096];
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0)
        return link;
    std::string out(buf, static_cast<std::size_t>(n));
    constexpr std::string_view kDeleted = " (deleted)";
    if (out.ends_with(kDeleted))
        out.resize(out.size() - kDeleted.size());
    return out;
}

// Exited: no such process, or a zombie waiting for its parent.
bool is_gone(pid_t pid) {
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    if (!std::getline(stat, line))
        return true;
    auto paren = line.rfind(')');
    return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z' ||
           line[paren + 2] == 'X';
}

}  // namespace

bool AttachReport::attached_any() const {
    return std::any_of(probes.begin(), probes.end(),
                       [](const auto& p) { return p.second.attached; });
}

TlsAttacher::TlsAttacher(BpfProbes& probes, locate::LocatorOptions options)
    : probes_(probes), options_(std::move(options)) {
    worker_ = std::thread([this] { worker_loop(); });
}

TlsAttacher::~TlsAttacher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
    for (const auto& h : holds_)
        probes_.continue_held(h.pid, h.seq);  // recording is over: nothing to wait for
}

void TlsAttacher::request_hold(const HoldRequest& request) {
    {
        std::lock_guard lock(mutex_);
        holds_.push_back(request);
    }
    wake_.notify_all();
}

void TlsAttacher::wait_for_holds(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    holds_ended_.wait_for(lock, limit, [&] { return holds_.empty() && !hold_busy_; });
}

std::vector<HoldOutcome> TlsAttacher::take_hold_outcomes() {
    std::lock_guard lock(mutex_);
    return std::exchange(hold_outcomes_, {});
}

void TlsAttacher::process_hold(const HoldRequest& request) {
    // The process is stopped: its exe link and the mapped fd still name the file.
    std::string access = request.exec ? fmt::format("/proc/{}/exe", request.pid)
                                      : fmt::format("/proc/{}/fd/{}", request.pid, request.fd);
    std::string shown;
    struct stat st {};
    bool reachable = ::stat(access.c_str(), &st) == 0;
    if (reachable && st.st_ino == request.id.ino) {
        shown = link_target(access);
    } else {
        // Another thread closed the fd, or a file system (overlayfs) numbers its
        // inodes differently for stat(): look for the mapping itself.
        std::string fallback;
        for (const auto& b : locate::mapped_binaries(request.pid)) {
            if (b.inode == request.id.ino && !b.access_path.empty()) {
                fallback = b.access_path;
                shown = b.path_in_process;
                break;
            }
        }
        if (!fallback.empty()) {
            access = fallback;
        } else if (request.exec && reachable) {
            shown = link_target(access);  // a stopped process's exe is the file it executed
        } else {
            access.clear();
        }
    }
    Examination ex;
    if (!access.empty())
        ex = examine(access, shown, request.pid);
    if (ex.decided)
        (void)probes_.mark_known(request.id);  // exactly as BPF named it
    HoldOutcome outcome;
    outcome.pid = request.pid;
    outcome.path = shown.empty() ? request.filename : shown;
    outcome.exited = !probes_.continue_held(request.pid, request.seq) || is_gone(request.pid);
    if (!ex.decided && !outcome.exited)
        request_scan(request.pid);  // not found while held: at least probe it late
    std::uint64_t now = monotonic_now_ns();
    outcome.duration_ns = now > request.stop_ns ? now - request.stop_ns : 0;
    outcome.examined = ex.first;
    std::lock_guard lock(mutex_);
    if (ex.report) {
        ex.report->held = true;
        ex.report->hold_ns = outcome.duration_ns;
        if (request.exec)
            ex.report->exec_ns = request.stop_ns;
        outcome.probed = ex.report->attached_any();
        reports_.push_back(std::move(*ex.report));
    }
    hold_outcomes_.push_back(std::move(outcome));
}

void TlsAttacher::mark_known(std::uint64_t st_dev, std::uint64_t st_ino) {
    // BPF sees the kernel's dev_t encoding (major << 20 | minor).
    ct_file_id id{(static_cast<std::uint64_t>(major(st_dev)) << 20) | minor(st_dev), st_ino};
    (void)probes_.mark_known(id);  // a full map only costs extra holds
}

TlsAttacher::Examination TlsAttacher::examine(const std::string& access_path,
                                              const std::string& shown_path, pid_t pid) {
    // Our own descriptor keeps the file reachable (and the uprobe attach path valid)
    // even if the process that led to it exits meanwhile.
    UniqueFd fd(::open(access_path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0)
        return {};  // gone meanwhile
    {
        std::lock_guard lock(mutex_);
        if (!seen_.insert({st.st_dev, st.st_ino}).second)
            return {.decided = true, .first = false, .report = std::nullopt};
        examined_.push_back(shown_path);
    }
    Examination out{.decided = true, .first = true, .report = std::nullopt};
    if (!S_ISREG(st.st_mode) || !has_elf_magic(fd.get())) {
        mark_known(st.st_dev, st.st_ino);  // scripts, shims, JIT code: nothing to probe
        return out;
    }
    const std::string fd_path = fmt::format("/proc/self/fd/{}", fd.get());
    AttachReport report;
    report.pid = pid;
    report.path = shown_path;
    auto located = locate::locate_tls_functions(fd_path, options_);
    if (!located) {
        report.error = located.error().what();
        mark_known(st.st_dev, st.st_ino);
        out.report = std::move(report);
        return out;
    }
    report.located = std::move(*located);
    report.located.path = shown_path;
    if (report.located.flavor == locate::Flavor::None) {
        mark_known(st.st_dev, st.st_ino);
        // Nothing to hook, but TLS code ct cannot probe (rustls) is reported: its
        // connections are named as unseen, with the file and the version.
        if (!report.located.unprobed_tls.empty())
            out.report = std::move(report);
        return out;
    }
    // Without SSL_free the handshake is the only sign that an SSL* was reused.
    // (gnutls_handshake never starts a generation: gnutls_deinit ends them.)
    bool regen = report.located.find(locate::Role::SslFree) == nullptr;
    for (const auto& target : report.located.targets) {
        for (auto& probe : probes_.attach_function(fd_path, target, regen)) {
            report.probes.emplace_back(target, std::move(probe));
        }
    }
    if (report.attached_any()) {
        report.attached_ns = monotonic_now_ns();
        std::lock_guard lock(mutex_);
        attached_files_.insert({st.st_dev, st.st_ino});
    }
    // Only now, with every probe in place, may processes run this file unheld.
    mark_known(st.st_dev, st.st_ino);
    out.report = std::move(report);
    return out;
}

std::optional<AttachReport> TlsAttacher::attach_file(const std::string& path, pid_t pid) {
    return examine(path, path, pid).report;
}

std::vector<AttachReport> TlsAttacher::attach_process(pid_t pid) {
    std::vector<AttachReport> out;
    for (const auto& bin : locate::mapped_binaries(pid)) {
        if (bin.access_path.empty())
            continue;
        if (auto r = examine(bin.access_path, bin.path_in_process, pid).report)
            out.push_back(std::move(*r));
    }
    return out;
}

void TlsAttacher::request_scan(pid_t pid, std::uint64_t exec_ns) {
    {
        std::lock_guard lock(mutex_);
        auto queued = std::find_if(queue_.begin(), queue_.end(),
                                   [&](const ScanRequest& r) { return r.pid == pid; });
        if (queued != queue_.end()) {
            queued->exec_ns = std::max(queued->exec_ns, exec_ns);
            return;
        }
        // A program just executed goes first: its first TLS call may come soon.
        if (exec_ns) {
            queue_.push_front({pid, exec_ns});
        } else {
            queue_.push_back({pid, exec_ns});
        }
    }
    wake_.notify_all();
}

void TlsAttacher::worker_loop() {
    for (;;) {
        ScanRequest request;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !holds_.empty(); });
            if (stopping_)
                return;
            if (!holds_.empty()) {
                HoldRequest hold = holds_.front();
                holds_.pop_front();
                hold_busy_ = true;
                lock.unlock();
                process_hold(hold);
                lock.lock();
                hold_busy_ = false;
                holds_ended_.notify_all();
                continue;
            }
            request = queue_.front();
            queue_.pop_front();
        }
        auto reports = attach_process(request.pid);
        std::lock_guard lock(mutex_);
        for (auto& r : reports) {
            r.exec_ns = request.exec_ns;
            reports_.push_back(std::move(r));
        }
    }
}

std::vector<AttachReport> TlsAttacher::take_reports() {
    std::lock_guard lock(mutex_);
    return std::exchange(reports_, {});
}

std::vector<std::string> TlsAttacher::examined_paths() const {
    std::lock_guard lock(mutex_);
    return examined_;
}

std::size_t TlsAttacher::attached_binaries() const {
    std::lock_guard lock(mutex_);
    return attached_files_.size();
}

bool TlsAttacher::probes_any_mapping_of(pid_t pid) const {
    auto mapped = locate::mapped_binaries(pid);
    std::lock_guard lock(mutex_);
    return std::any_of(mapped.begin(), mapped.end(), [&](const locate::MappedBinary& b) {
        return attached_files_.count({b.device, b.inode}) > 0;
    });
}

std::vector<std::string> system_tls_libraries() {
    static const char* kDirs[] = {"/lib/x86_64-linux-gnu",
                                  "/usr/lib/x86_64-linux-gnu",
                                  "/lib/aarch64-linux-gnu",
                                  "/usr/lib/aarch64-linux-gnu",
                                  "/lib64",
                                  "/usr/lib64",
                                  "/lib",
                                  "/usr/lib",
                                  "/usr/local/lib"};
    std::vector<std::string> out;
    std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
    for (const char* dir : kDirs) {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
            std::string name = entry.path().filename().string();
            // libcrypto: BIO_write, which ties connections to their sockets.
            if (name.rfind("libssl.so", 0) != 0 && name.rfind("libgnutls.so", 0) != 0 &&
                name.rfind("libcrypto.so", 0) != 0)
                continue;
            struct stat st {};
            if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (!seen.insert({st.st_dev, st.st_ino}).second)
                continue;
            std::error_code canonical_ec;
            auto real = std::filesystem::canonical(entry.path(), canonical_ec);
            if (!canonical_ec)
                out.push_back(real.string());
        }
    }
    return out;
}

std::vector<std::string> well_known_tls_programs() {
    std::vector<std::string> out;
    std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
    for (const char* name : {"node", "nodejs", "bun", "deno", "claude"}) {
        std::string found = resolve_in_path(name);
        if (found.empty())
            continue;
        std::error_code ec;
        std::string real = std::filesystem::canonical(found, ec).string();
        struct stat st {};
        if (ec || ::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (seen.insert({st.st_dev, st.st_ino}).second)
            out.push_back(real);
    }
    return out;
}

}  // namespace ct::record

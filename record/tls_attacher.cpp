#include "tls_attacher.hpp"

#include "command_launcher.hpp"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <filesystem>

namespace ct::record {

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
}

std::optional<AttachReport> TlsAttacher::examine(const std::string& access_path,
                                                 const std::string& shown_path, pid_t pid) {
    struct stat st {};
    if (::stat(access_path.c_str(), &st) != 0)
        return std::nullopt;  // gone meanwhile
    {
        std::lock_guard lock(mutex_);
        if (!seen_.insert({st.st_dev, st.st_ino}).second)
            return std::nullopt;
        examined_.push_back(shown_path);
    }
    AttachReport report;
    report.pid = pid;
    report.path = shown_path;
    auto located = locate::locate_tls_functions(access_path, options_);
    if (!located) {
        report.error = located.error().what();
        return report;
    }
    report.located = std::move(*located);
    if (report.located.flavor == locate::Flavor::None)
        return std::nullopt;
    // Without SSL_free the handshake is the only sign that an SSL* was reused.
    bool regen = report.located.find(locate::Role::SslFree) == nullptr;
    for (const auto& target : report.located.targets) {
        for (auto& probe : probes_.attach_function(access_path, target, regen)) {
            report.probes.emplace_back(target, std::move(probe));
        }
    }
    if (report.attached_any()) {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        report.attached_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
                             static_cast<std::uint64_t>(ts.tv_nsec);
        std::lock_guard lock(mutex_);
        attached_files_.insert({st.st_dev, st.st_ino});
    }
    return report;
}

std::optional<AttachReport> TlsAttacher::attach_file(const std::string& path, pid_t pid) {
    return examine(path, path, pid);
}

std::vector<AttachReport> TlsAttacher::attach_process(pid_t pid) {
    std::vector<AttachReport> out;
    for (const auto& bin : locate::mapped_binaries(pid)) {
        if (auto r = examine(bin.access_path, bin.path_in_process, pid))
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
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_)
                return;
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
            if (name.rfind("libssl.so", 0) != 0)
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

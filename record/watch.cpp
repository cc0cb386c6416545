#include "watch.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include <fmt/format.h>

#include "util/argv.hpp"

namespace ct::record {

namespace {

constexpr std::size_t kCommMax = CT_COMM_LEN - 1;  // the kernel keeps 15 bytes of a name
constexpr const char* kLockName = ".ct-record.lock";
constexpr const char* kPrefix = "ct-";
constexpr const char* kSuffix = ".ctz";
constexpr const char* kPartSuffix = ".ctz.part";

std::string basename_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::uint64_t now_realtime_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000;
}

}  // namespace

std::optional<ct_file_id> file_id_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return std::nullopt;
    return ct_file_id{(static_cast<std::uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev),
                      st.st_ino};
}

Expected<WatchRules> WatchRules::resolve(const WatchRuleArgs& args) {
    WatchRules r;
    for (const auto& name : args.names) {
        if (name.empty() || name.find('/') != std::string::npos)
            return fail(
                fmt::format("--match-name '{}': give a program name such as claude or "
                            "python3 (no path; use --match-exe for a file)",
                            name));
        // The kernel's comm and ct's BPF comparison keep the first 15 bytes.
        r.names_.push_back(name.substr(0, kCommMax));
        r.text_.push_back("name=" + name);
    }
    for (const auto& exe : args.exes) {
        char real[PATH_MAX];
        if (!::realpath(exe.c_str(), real))
            return fail_errno(fmt::format("--match-exe {}: cannot resolve the file", exe));
        auto id = file_id_of(real);
        struct stat st {};
        if (!id || ::stat(real, &st) != 0 || !S_ISREG(st.st_mode))
            return fail(fmt::format("--match-exe {}: not a regular file", exe));
        r.exe_paths_.push_back(real);
        r.exe_ids_.push_back(*id);
        r.text_.push_back(std::string("exe=") + real);
    }
    for (const auto& pattern : args.cmdlines) {
        try {
            r.cmdlines_.emplace_back(pattern, std::regex(pattern, std::regex::ECMAScript));
        } catch (const std::regex_error& e) {
            return fail(fmt::format("--match-cmdline '{}': not a valid regular expression ({})",
                                    pattern, e.what()));
        }
        r.text_.push_back("cmdline=" + pattern);
    }
    for (const auto& user : args.users) {
        std::uint32_t uid = 0;
        auto [end, ec] = std::from_chars(user.data(), user.data() + user.size(), uid);
        if (ec == std::errc() && end == user.data() + user.size()) {
            r.uids_.push_back(uid);
        } else {
            passwd pw{}, *found = nullptr;
            std::vector<char> buf(16384);
            if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
                return fail(fmt::format("--match-user {}: no such user", user));
            r.uids_.push_back(found->pw_uid);
        }
        r.text_.push_back(fmt::format("user={}", user));
    }
    return r;
}

std::optional<std::string> WatchRules::match(const ProcessSnapshot& p,
                                             std::optional<ct_file_id> exe_id) const {
    const std::string comm = p.comm.substr(0, kCommMax);
    const std::string base = basename_of(p.exe).substr(0, kCommMax);
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (names_[i] == comm || (!base.empty() && names_[i] == base))
            return text_[i];
    }
    if (exe_id) {
        for (std::size_t i = 0; i < exe_ids_.size(); ++i) {
            if (exe_ids_[i].dev == exe_id->dev && exe_ids_[i].ino == exe_id->ino)
                return "exe=" + exe_paths_[i];
        }
    }
    if (auto m = match_cmdline(p.cmdline))
        return m;
    for (std::uint32_t uid : uids_) {
        if (uid == p.uid)
            return fmt::format("user={}", uid);
    }
    return std::nullopt;
}

std::optional<std::string> WatchRules::match_cmdline(const std::vector<std::string>& argv) const {
    if (cmdlines_.empty() || argv.empty())
        return std::nullopt;
    const std::string line = join_argv(argv);
    for (const auto& [text, re] : cmdlines_) {
        if (std::regex_search(line, re))
            return "cmdline=" + text;
    }
    return std::nullopt;
}

Expected<std::uint64_t> parse_duration_ms(const std::string& text) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end == text.data())
        return fail(fmt::format("'{}' is not a duration (e.g. 90s, 30m, 1h, 7d)", text));
    std::string unit(end, text.data() + text.size());
    std::uint64_t mult = 0;
    if (unit.empty() || unit == "s")
        mult = 1000;
    else if (unit == "ms")
        mult = 1;
    else if (unit == "m" || unit == "min")
        mult = 60'000;
    else if (unit == "h")
        mult = 3'600'000;
    else if (unit == "d")
        mult = 86'400'000;
    else
        return fail(fmt::format("'{}': unknown unit '{}' (ms, s, m, h or d)", text, unit));
    if (value > UINT64_MAX / mult)
        return fail(fmt::format("'{}' is too long", text));
    return value * mult;
}

Expected<CaptureDirectory> CaptureDirectory::open(const std::string& dir, Limits limits) {
    CaptureDirectory d;
    d.dir_ = dir;
    d.limits_ = limits;
    while (d.dir_.size() > 1 && d.dir_.back() == '/')
        d.dir_.pop_back();
    if (::mkdir(d.dir_.c_str(), 0700) != 0 && errno != EEXIST)
        return fail_errno(fmt::format("cannot create the output directory {}", d.dir_));
    struct stat st {};
    if (::lstat(d.dir_.c_str(), &st) != 0)
        return fail_errno(fmt::format("cannot read the output directory {}", d.dir_));
    if (!S_ISDIR(st.st_mode))
        return fail(fmt::format("--output-dir {}: not a directory", d.dir_));
    d.dir_fd_.reset(::open(d.dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d.dir_fd_)
        return fail_errno(fmt::format("cannot open the output directory {}", d.dir_));
    d.lock_.reset(
        ::openat(d.dir_fd_.get(), kLockName, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!d.lock_) {
        return fail_errno(fmt::format(
            "the output directory {} is not writable (cannot create {} in it)", d.dir_, kLockName));
    }
    if (::flock(d.lock_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            char pid[32] = {};
            (void)::pread(d.lock_.get(), pid, sizeof pid - 1, 0);
            return fail(
                fmt::format("another ct-record --watch writes into {} (pid {}); one "
                            "recorder per directory",
                            d.dir_, std::string(pid).substr(0, std::string(pid).find('\n'))));
        }
        return fail_errno(fmt::format("cannot lock {}/{}", d.dir_, kLockName));
    }
    std::string me = fmt::format("{}\n", ::getpid());
    if (::ftruncate(d.lock_.get(), 0) != 0 ||
        ::pwrite(d.lock_.get(), me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
        return fail_errno(fmt::format("the output directory {} is not writable", d.dir_));
    // We hold the lock: every partial file is a dead recorder's. It keeps what it
    // flushed; under its final name an importer takes it (no trailer: damaged).
    if (DIR* dp = ::opendir(d.dir_.c_str())) {
        while (dirent* e = ::readdir(dp)) {
            std::string name = e->d_name;
            if (name.rfind(kPrefix, 0) != 0 || !name.ends_with(kPartSuffix))
                continue;
            std::string final_name = name.substr(0, name.size() - 5);  // drop ".part"
            if (::renameat(d.dir_fd_.get(), name.c_str(), d.dir_fd_.get(), final_name.c_str()) == 0)
                d.recovered_.push_back(d.dir_ + "/" + final_name);
        }
        ::closedir(dp);
        ::fsync(d.dir_fd_.get());
    }
    return d;
}

CaptureDirectory::Names CaptureDirectory::next_names(std::int64_t start_realtime_ns,
                                                     const std::string& series,
                                                     std::uint64_t index) const {
    time_t secs = static_cast<time_t>(start_realtime_ns / 1'000'000'000);
    tm utc{};
    ::gmtime_r(&secs, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    std::string base = fmt::format("{}/{}{}-{}-{:04}", dir_, kPrefix, stamp, series, index);
    return {base + kPartSuffix, base + kSuffix};
}

Expected<void> CaptureDirectory::publish(const Names& names) const {
    if (::rename(names.part.c_str(), names.final_path.c_str()) != 0)
        return fail_errno(fmt::format("cannot rename {} to {}", names.part, names.final_path));
    ::fsync(dir_fd_.get());
    return {};
}

std::vector<std::string> CaptureDirectory::enforce_limits(const std::string& keep_path) const {
    std::vector<std::string> removed;
    if (limits_.keep_age_ms == 0 && limits_.keep_bytes == 0)
        return removed;
    struct Entry {
        std::string name;
        std::uint64_t bytes;
        std::uint64_t mtime_ms;
    };
    std::vector<Entry> finished;
    std::uint64_t total = 0;
    if (DIR* dp = ::opendir(dir_.c_str())) {
        while (dirent* e = ::readdir(dp)) {
            std::string name = e->d_name;
            if (name.rfind(kPrefix, 0) != 0)
                continue;
            bool done = name.ends_with(kSuffix), part = name.ends_with(kPartSuffix);
            if (!done && !part)
                continue;
            struct stat st {};
            if (::fstatat(dir_fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISREG(st.st_mode))
                continue;
            auto bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
            total += bytes;  // the file being written counts towards the bound
            if (done && dir_ + "/" + name != keep_path) {
                finished.push_back(
                    {name, bytes,
                     static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000 +
                         static_cast<std::uint64_t>(st.st_mtim.tv_nsec) / 1'000'000});
            }
        }
        ::closedir(dp);
    }
    // Names sort by start time.
    std::sort(finished.begin(), finished.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    const std::uint64_t now = now_realtime_ms();
    for (const auto& e : finished) {
        bool too_old = limits_.keep_age_ms && e.mtime_ms + limits_.keep_age_ms < now;
        bool too_big = limits_.keep_bytes && total > limits_.keep_bytes;
        if (!too_old && !too_big)
            continue;
        if (::unlinkat(dir_fd_.get(), e.name.c_str(), 0) == 0) {
            total -= std::min(total, e.bytes);
            removed.push_back(dir_ + "/" + e.name);
        }
    }
    return removed;
}

}  // namespace ct::record

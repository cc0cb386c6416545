#include "proc_reader.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "util/unique_fd.hpp"

namespace ct::record {

namespace {

// Plain read(2): a /proc file of a process that just exited fails with ESRCH, which
// std::istreambuf_iterator would surface as an uncaught std::ios_base::failure.
std::string read_small_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::string out;
    if (!fd)
        return out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

std::string read_link(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

struct StatFields {
    char state = '?';
    pid_t ppid = 0;
    std::string comm;
    std::uint64_t start_ticks = 0;
};

// /proc/PID/stat: "pid (comm) state ppid ... starttime(22nd) ..."; comm may hold ')'.
bool parse_stat(const std::string& stat, StatFields& out) {
    auto open = stat.find('(');
    auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open)
        return false;
    out.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 1));
    std::string field;
    std::vector<std::string> fields;  // fields[0] is the 3rd stat field (state)
    while (rest >> field && fields.size() < 20)
        fields.push_back(field);
    if (fields.size() < 20)
        return false;
    out.state = fields[0].empty() ? '?' : fields[0][0];
    out.ppid = static_cast<pid_t>(std::strtol(fields[1].c_str(), nullptr, 10));
    out.start_ticks = std::strtoull(fields[19].c_str(), nullptr, 10);
    return true;
}

}  // namespace

std::vector<std::string> split_nul_separated(const std::string& bytes) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < bytes.size()) {
        auto end = bytes.find('\0', start);
        if (end == std::string::npos)
            end = bytes.size();
        out.push_back(bytes.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

Expected<ProcessSnapshot> read_process(pid_t pid) {
    std::string dir = fmt::format("/proc/{}", pid);
    StatFields stat;
    if (!parse_stat(read_small_file(dir + "/stat"), stat)) {
        return fail(fmt::format("no such process: {}", pid), ESRCH);
    }
    ProcessSnapshot s;
    s.pid = pid;
    s.ppid = stat.ppid;
    s.state = stat.state;
    s.comm = stat.comm;
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    s.start_boottime_ns =
        ticks > 0 ? stat.start_ticks * (1'000'000'000ull / static_cast<std::uint64_t>(ticks)) : 0;
    s.exe = read_link(dir + "/exe");
    s.cwd = read_link(dir + "/cwd");
    s.cmdline = split_nul_separated(read_small_file(dir + "/cmdline"));
    std::istringstream status(read_small_file(dir + "/status"));
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("Uid:", 0) == 0) {
            s.uid = static_cast<std::uint32_t>(std::strtoul(line.c_str() + 4, nullptr, 10));
            break;
        }
    }
    return s;
}

std::vector<pid_t> list_pids() {
    struct DirCloser {
        void operator()(DIR* d) const { ::closedir(d); }
    };
    std::unique_ptr<DIR, DirCloser> proc(::opendir("/proc"));
    std::vector<pid_t> pids;
    if (!proc)
        return pids;
    while (dirent* e = ::readdir(proc.get())) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (*end == '\0' && pid > 0)
            pids.push_back(static_cast<pid_t>(pid));
    }
    return pids;
}

std::vector<pid_t> list_descendants(pid_t root) {
    std::multimap<pid_t, pid_t> children;  // ppid -> pid
    for (pid_t pid : list_pids()) {
        StatFields stat;
        if (!parse_stat(read_small_file(fmt::format("/proc/{}/stat", pid)), stat))
            continue;
        children.emplace(stat.ppid, pid);
    }
    std::vector<pid_t> out;
    std::vector<pid_t> todo = {root};
    while (!todo.empty()) {
        pid_t parent = todo.back();
        todo.pop_back();
        auto [lo, hi] = children.equal_range(parent);
        for (auto it = lo; it != hi; ++it) {
            out.push_back(it->second);
            todo.push_back(it->second);
        }
    }
    return out;
}

bool process_alive(pid_t pid) {
    StatFields stat;
    if (!parse_stat(read_small_file(fmt::format("/proc/{}/stat", pid)), stat))
        return false;
    return stat.state != 'Z' && stat.state != 'X';
}

}  // namespace ct::record

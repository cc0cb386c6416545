// What /proc says about a process: identity for the capture's process records,
// and the tree of descendants that ct-record follows.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace ct::record {

struct ProcessSnapshot {
    pid_t pid = 0;
    pid_t ppid = 0;
    char state = '?';  // from /proc/PID/stat: R, S, Z, ...
    std::string comm;
    std::string exe;  // readlink of /proc/PID/exe ("" for kernel threads or if denied)
    std::vector<std::string> cmdline;
    std::string cwd;
    std::uint32_t uid = 0;
    std::uint64_t start_boottime_ns = 0;  // since boot, from the stat start time
};

Expected<ProcessSnapshot> read_process(pid_t pid);

// Every process /proc lists now (empty if /proc cannot be read).
std::vector<pid_t> list_pids();

// pid's children, grandchildren, ... as /proc shows them now (pid itself excluded).
std::vector<pid_t> list_descendants(pid_t pid);

// Exists and is not a zombie.
bool process_alive(pid_t pid);

// The NUL-separated argv of a process as a list.
std::vector<std::string> split_nul_separated(const std::string& bytes);

}  // namespace ct::record

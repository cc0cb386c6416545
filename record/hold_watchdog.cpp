#include "hold_watchdog.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "util/unique_fd.hpp"

namespace ct::record {

int continue_all_held(int held_map_fd) {
    std::vector<__u64> holds;
    __u64 key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(held_map_fd, prev, &next) == 0) {
        holds.push_back(next);
        key = next;
        prev = &key;
    }
    int continued = 0;
    for (__u64 hold : holds) {
        __u32 pid = 0;
        // An entry gone meanwhile is a hold that ended.
        if (bpf_map_lookup_elem(held_map_fd, &hold, &pid) != 0)
            continue;
        ::kill(static_cast<pid_t>(pid), SIGCONT);  // ESRCH: it died meanwhile, fine
        bpf_map_delete_elem(held_map_fd, &hold);
        ++continued;
    }
    return continued;
}

Expected<pid_t> start_hold_watchdog(int held_map_fd) {
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
    if (!pidfd)
        return fail_errno("cannot open a pidfd of ct-record for the hold watchdog");
    // Everything the child needs is prepared before fork: threads may exist.
    std::string map_arg = std::to_string(held_map_fd), pid_arg = std::to_string(pidfd.get());
    char exe[] = "/proc/self/exe";
    char name[] = "ct-record";
    char* argv[] = {name, const_cast<char*>(kHoldWatchdogFlag), map_arg.data(), pid_arg.data(),
                    nullptr};
    int lo = std::min(held_map_fd, pidfd.get()), hi = std::max(held_map_fd, pidfd.get());
    pid_t pid = ::fork();
    if (pid < 0)
        return fail_errno("cannot fork the hold watchdog");
    if (pid == 0) {
        // Its own process group: a terminal's Ctrl-C is not for it.
        ::setpgid(0, 0);
        for (int fd : {lo, hi}) {
            int flags = ::fcntl(fd, F_GETFD);
            ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
        }
        // Nothing else: no probe links, no capture file, no pipe a caller waits on.
        if (lo > 0)
            ::close_range(0, static_cast<unsigned>(lo - 1), 0);
        if (hi > lo + 1)
            ::close_range(static_cast<unsigned>(lo + 1), static_cast<unsigned>(hi - 1), 0);
        ::close_range(static_cast<unsigned>(hi + 1), ~0u, 0);
        ::execv(exe, argv);
        ::_exit(127);
    }
    return pid;
}

int run_hold_watchdog(int held_map_fd, int parent_pidfd) {
    for (int s : {SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU})
        ::signal(s, SIG_IGN);
    pollfd p{parent_pidfd, POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    // ct-record has exited and its probe links are closed; a program already running
    // on another CPU may still add one last hold, so look again shortly after.
    for (int round = 0; round < 3; ++round) {
        continue_all_held(held_map_fd);
        ::usleep(round == 0 ? 20'000 : 100'000);
    }
    continue_all_held(held_map_fd);
    return 0;
}

}  // namespace ct::record

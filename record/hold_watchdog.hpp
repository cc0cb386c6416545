// The exec/dlopen hold stops traced processes (SIGSTOP from BPF) until their new
// code is probed. Whatever happens to ct-record, none may stay stopped: a small
// watchdog process, holding nothing but the `held` map, continues every process
// listed there once ct-record is gone (also after kill -9).
#pragma once

#include <sys/types.h>

#include "util/error.hpp"

namespace ct::record {

// The hidden argv[1] that turns ct-record into the watchdog.
inline constexpr const char* kHoldWatchdogFlag = "--internal-hold-watchdog";

// Forks and executes `/proc/self/exe --internal-hold-watchdog MAP_FD PIDFD`; the
// child keeps only a copy of `held_map_fd` and a pidfd of this process. Returns
// the watchdog's pid.
Expected<pid_t> start_hold_watchdog(int held_map_fd);

// The watchdog's whole life: waits until the process behind `parent_pidfd` has
// exited, then continues every pid in the held map. Returns the exit code.
int run_hold_watchdog(int held_map_fd, int parent_pidfd);

// Sends SIGCONT to every pid in the held map and removes it. Returns how many.
int continue_all_held(int held_map_fd);

}  // namespace ct::record

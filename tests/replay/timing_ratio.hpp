// Timing without wall-clock bounds: tests time two sizes of the same work in one
// run and compare the ratio, so a busy machine slows both alike. Time is this
// thread's CPU time, so time spent preempted by other processes does not count.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>

namespace ct::testing {

inline std::chrono::nanoseconds thread_cpu_time() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// The least CPU time of `runs` calls of `fn`: other load only ever makes a run slower.
template <typename Fn>
std::chrono::nanoseconds best_time_of(int runs, Fn&& fn) {
    auto best = std::chrono::nanoseconds::max();
    for (int i = 0; i < runs; ++i) {
        auto start = thread_cpu_time();
        fn();
        best = std::min(best, thread_cpu_time() - start);
    }
    return best;
}

inline double ratio(std::chrono::nanoseconds large, std::chrono::nanoseconds small) {
    return static_cast<double>(large.count()) /
           static_cast<double>(std::max<std::chrono::nanoseconds::rep>(small.count(), 1));
}

}  // namespace ct::testing

// Timing without wall-clock bounds: tests time two sizes of the same work in one
// run and compare the ratio, so a busy machine slows both alike.
#pragma once

#include <algorithm>
#include <chrono>

namespace ct::testing {

// The fastest of `runs` calls of `fn`: other load only ever makes a run slower.
template <typename Fn>
std::chrono::nanoseconds best_time_of(int runs, Fn&& fn) {
    auto best = std::chrono::nanoseconds::max();
    for (int i = 0; i < runs; ++i) {
        auto start = std::chrono::steady_clock::now();
        fn();
        best = std::min(best, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - start));
    }
    return best;
}

inline double ratio(std::chrono::nanoseconds large, std::chrono::nanoseconds small) {
    return static_cast<double>(large.count()) /
           static_cast<double>(std::max<std::chrono::nanoseconds::rep>(small.count(), 1));
}

}  // namespace ct::testing

// locator-bench: how long the TLS locator takes on one binary, and how much memory,
// without the result cache ("cold") and served from it ("cached").
//
//   locator-bench BINARY [-n RUNS] [--drop-page-cache] [--report]
//
// Each phase runs in its own child process so that its peak RSS (getrusage ru_maxrss)
// and CPU time are its own. "cold" disables the cache; with --drop-page-cache the binary's pages
// are also evicted from the page cache before every cold run (posix_fadvise DONTNEED), so the file
// is read from disk.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <iostream>
#include <vector>

#include "locate/tls_locator.hpp"
#include "util/unique_fd.hpp"

namespace {

struct Settings {
    std::string binary;
    int runs = 5;
    bool drop_page_cache = false;
    bool report = false;
};

void evict_from_page_cache(const std::string& path) {
    ct::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd)
        ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
}

// Runs the phase; returns the process exit status to use.
int run_phase(const Settings& settings, const char* name, const ct::locate::LocatorOptions& options,
              bool evict) {
    std::vector<double> millis;
    bool from_cache = true;
    std::string outcome;
    for (int i = 0; i < settings.runs; ++i) {
        if (evict)
            evict_from_page_cache(settings.binary);
        const auto start = std::chrono::steady_clock::now();
        auto report = ct::locate::locate_tls_functions(settings.binary, options);
        const auto stop = std::chrono::steady_clock::now();
        if (!report) {
            std::cerr << "locator error: " << report.error().what() << "\n";
            return 2;
        }
        millis.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
        from_cache = from_cache && report->from_cache;
        outcome = report->refusal ? "refused" : fmt::format("{} targets", report->targets.size());
        if (settings.report && i == 0)
            std::cout << ct::locate::format_probe_report(*report);
    }
    std::sort(millis.begin(), millis.end());
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    // CPU time per run is steadier than wall time on a busy machine (it includes the
    // child's start-up, a fraction of a millisecond).
    auto seconds = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    const double cpu_ms = (seconds(usage.ru_utime) + seconds(usage.ru_stime)) * 1000.0 /
                          static_cast<double>(millis.size());
    std::cout << fmt::format(
        "{:<7} runs {:>3}  wall ms: min {:9.2f}  median {:9.2f}  max {:9.2f}  cpu ms/run {:8.2f}"
        "  peak RSS {:6.1f} MiB  ({}, from cache: {})\n",
        name, millis.size(), millis.front(), millis[millis.size() / 2], millis.back(), cpu_ms,
        static_cast<double>(usage.ru_maxrss) / 1024.0, outcome, from_cache ? "yes" : "no");
    return 0;
}

int in_child(const std::function<int()>& phase) {
    std::cout.flush();
    const pid_t child = ::fork();
    if (child < 0)
        return 2;
    if (child == 0) {
        const int status = phase();
        std::cout.flush();
        std::_Exit(status);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

}  // namespace

int main(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "-n" || arg == "--runs") && i + 1 < argc) {
            settings.runs = std::atoi(argv[++i]);
        } else if (arg == "--drop-page-cache") {
            settings.drop_page_cache = true;
        } else if (arg == "--report") {
            settings.report = true;
        } else if (!arg.empty() && arg[0] != '-' && settings.binary.empty()) {
            settings.binary = arg;
        } else {
            settings.binary.clear();
            break;
        }
    }
    if (settings.binary.empty() || settings.runs <= 0) {
        std::cerr << "usage: locator-bench BINARY [-n RUNS] [--drop-page-cache] [--report]\n";
        return 2;
    }

    const auto cache_dir =
        std::filesystem::temp_directory_path() / fmt::format("locator-bench-{}", ::getpid());
    ct::locate::LocatorOptions cold;
    cold.use_cache = false;
    ct::locate::LocatorOptions cached;
    cached.cache_dir = cache_dir.string();

    std::cout << settings.binary << "\n";
    int status =
        in_child([&] { return run_phase(settings, "cold", cold, settings.drop_page_cache); });
    if (status == 0) {
        // Fill the cache in a process of its own, so that the cached phase's peak RSS is
        // its own too.
        status = in_child(
            [&] { return ct::locate::locate_tls_functions(settings.binary, cached) ? 0 : 2; });
    }
    if (status == 0) {
        Settings quiet = settings;
        quiet.report = false;
        status = in_child([&] { return run_phase(quiet, "cached", cached, false); });
    }
    std::error_code ec;
    std::filesystem::remove_all(cache_dir, ec);
    return status;
}

// Decides which binaries get TLS uprobes and attaches them: files examined
// before the target starts (the system's libssl, the command's executable) and
// every ELF object a traced process maps later. Each file is examined once,
// keyed by (device, inode), since uprobes bind to the file, not the process.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bpf_probes.hpp"
#include "locate/tls_locator.hpp"

namespace ct::record {

// What happened to one binary that holds TLS code.
struct AttachReport {
    pid_t pid = 0;                 // process that led to it (0: examined up front)
    std::string path;              // as the process sees it
    locate::BinaryReport located;  // functions, evidence, or the refusal
    std::vector<std::pair<locate::Target, AttachedProbe>> probes;
    std::optional<std::string> error;  // could not be examined at all
    std::uint64_t exec_ns = 0;         // when the process executed the program that maps it
    std::uint64_t attached_ns = 0;     // when the probes were in place (CLOCK_MONOTONIC)

    bool attached_any() const;
};

class TlsAttacher {
  public:
    TlsAttacher(BpfProbes& probes, locate::LocatorOptions options);
    ~TlsAttacher();
    TlsAttacher(const TlsAttacher&) = delete;
    TlsAttacher& operator=(const TlsAttacher&) = delete;

    // Examines one file now. nullopt when it holds no TLS code or was seen before.
    std::optional<AttachReport> attach_file(const std::string& path, pid_t pid = 0);
    // Examines every binary `pid` maps now.
    std::vector<AttachReport> attach_process(pid_t pid);

    // Background scanning: new processes and new executable mappings. `exec_ns`:
    // when the process executed its program, to report probes that came late.
    void request_scan(pid_t pid, std::uint64_t exec_ns = 0);
    std::vector<AttachReport> take_reports();
    // Paths looked at so far, for "no TLS library found" messages.
    std::vector<std::string> examined_paths() const;
    std::size_t attached_binaries() const;
    // Whether any binary `pid` maps now carries our probes.
    bool probes_any_mapping_of(pid_t pid) const;

  private:
    std::optional<AttachReport> examine(const std::string& access_path,
                                        const std::string& shown_path, pid_t pid);
    void worker_loop();

    BpfProbes& probes_;
    locate::LocatorOptions options_;

    mutable std::mutex mutex_;                                // guards everything below
    std::set<std::pair<std::uint64_t, std::uint64_t>> seen_;  // (device, inode)
    std::vector<std::string> examined_;
    std::set<std::pair<std::uint64_t, std::uint64_t>> attached_files_;
    struct ScanRequest {
        pid_t pid;
        std::uint64_t exec_ns;
    };
    std::deque<ScanRequest> queue_;
    std::vector<AttachReport> reports_;
    bool stopping_ = false;
    std::condition_variable wake_;
    std::thread worker_;
};

// libssl.so.* in the system library directories (deduplicated by inode), so
// that a library a process loads later (python's `import ssl`) is probed before
// its first call.
std::vector<std::string> system_tls_libraries();

// Programs with TLS compiled in that a traced shell is likely to start (node,
// bun, deno, claude) as found in PATH: probing them up front closes the window
// between a child's exec and the probes' attach.
std::vector<std::string> well_known_tls_programs();

}  // namespace ct::record

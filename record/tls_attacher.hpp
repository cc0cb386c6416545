// Decides which binaries get TLS uprobes and attaches them: files examined
// before the target starts (the system's libssl, the command's executable) and
// every ELF object a traced process maps later. Each file is examined once,
// keyed by (device, inode), since uprobes bind to the file, not the process.
#pragma once

#include <sys/types.h>

#include <chrono>
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
    bool held = false;                 // `pid` was stopped until the probes were in place
    std::uint64_t hold_ns = 0;         // ... for this long

    bool attached_any() const;
};

// A traced process that BPF stopped (SIGSTOP) at the exec or executable mmap of a
// file not decided on yet (struct ct_exec_event / ct_mmap_exec_event, hold 1).
struct HoldRequest {
    pid_t pid = 0;
    bool exec = false;          // exec (the program is /proc/PID/exe), else an mmap of `fd`
    int fd = -1;                // mmap: the mapped file's descriptor in the process
    ct_file_id id{};            // the file, exactly as BPF named it
    std::uint64_t stop_ns = 0;  // when BPF stopped it (CLOCK_MONOTONIC)
    std::uint64_t seq = 0;      // of the event: the hold's key in the held map
    std::string filename;       // exec: the path given to execve, for messages
};

// How one hold ended.
struct HoldOutcome {
    pid_t pid = 0;
    std::string path;               // the file it was held for ("" if it could not be found)
    std::uint64_t duration_ns = 0;  // from the stop to SIGCONT
    bool probed = false;            // the file got probes
    bool examined = false;          // this hold examined the file (else: decided before)
    bool exited = false;            // the process no longer existed at SIGCONT
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
    // The hold: examines and probes the file, marks it known, continues the process.
    void request_hold(const HoldRequest& request);
    std::vector<HoldOutcome> take_hold_outcomes();
    // Waits (at most `limit`) until every requested hold has ended, so that the
    // outcomes of the last ones can still be written.
    void wait_for_holds(std::chrono::milliseconds limit);
    // Paths looked at so far, for "no TLS library found" messages.
    std::vector<std::string> examined_paths() const;
    std::size_t attached_binaries() const;
    // Whether any binary `pid` maps now carries our probes.
    bool probes_any_mapping_of(pid_t pid) const;

  private:
    struct Examination {
        bool decided = false;  // examined now or before; false: the file was gone
        bool first = false;    // examined by this call
        std::optional<AttachReport> report;
    };
    Examination examine(const std::string& access_path, const std::string& shown_path, pid_t pid);
    void mark_known(std::uint64_t st_dev, std::uint64_t st_ino);
    void process_hold(const HoldRequest& request);
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
    std::deque<HoldRequest> holds_;  // served before queue_
    bool hold_busy_ = false;         // the worker is ending a hold
    std::condition_variable holds_ended_;
    std::vector<AttachReport> reports_;
    std::vector<HoldOutcome> hold_outcomes_;
    bool stopping_ = false;
    std::condition_variable wake_;
    std::thread worker_;
};

// libssl.so.* and libgnutls.so.* in the system library directories (deduplicated
// by inode), so that a library a process loads later (python's `import ssl`, a
// dlopen'ed libgnutls) is probed before its first call.
std::vector<std::string> system_tls_libraries();

// Programs with TLS compiled in that a traced shell is likely to start (node,
// bun, deno, claude) as found in PATH: probing them up front closes the window
// between a child's exec and the probes' attach.
std::vector<std::string> well_known_tls_programs();

}  // namespace ct::record

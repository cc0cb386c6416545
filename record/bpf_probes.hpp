// Owns the loaded BPF program (ct_record.bpf.c): its maps, the links of every
// attached probe, and the ring buffer the events arrive on.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ct_abi.hpp"
#include "locate/tls_locator.hpp"
#include "util/error.hpp"
#include "util/unique_fd.hpp"

struct ct_record;
struct bpf_link;
struct bpf_program;
struct ring_buffer;

namespace ct::record {

struct ProbeSettings {
    std::uint64_t ring_bytes = 64u << 20;   // power of two, >= page size
    std::uint64_t payload_cap = 16u << 20;  // bytes recorded per TLS call
    bool perf_uprobes = false;              // use perf-event uprobes even where uprobe_multi exists
    // --lossless: stop a traced process whose TLS call finds this much backlog in the
    // ring (0: never).
    std::uint64_t lossless_high_water = 0;
};

// Processes that --lossless stopped and resume_throttled() let go again.
struct ThrottleRelease {
    std::uint64_t processes = 0;
    std::uint64_t stopped_ns = 0;  // summed over them: how long they were held
};

// One uprobe or uretprobe placed on a function.
struct AttachedProbe {
    std::string function;  // "SSL_write"
    std::string kind;      // "entry" or "return"
    // An entry probe placed this many bytes into the function, on the first instruction the
    // kernel emulates (see locate/probe_placement.hpp); 0: on the function's first byte.
    std::uint64_t entry_delta = 0;
    bool attached = false;
    std::string error;
};

class BpfProbes {
  public:
    using EventHandler = std::function<int(std::span<const std::uint8_t>)>;

    // Opens and loads the program; errors explain what the machine lacks.
    static Expected<std::unique_ptr<BpfProbes>> load(const ProbeSettings& settings);
    ~BpfProbes();
    BpfProbes(const BpfProbes&) = delete;
    BpfProbes& operator=(const BpfProbes&) = delete;

    // Syscall and scheduler raw tracepoints (no tracefs needed).
    Expected<void> attach_tracepoints();
    // Uprobes for one located function of `binary_path` (a path we can open).
    // `regen_handshake`: the binary has no SSL_free to hook, so a handshake on an
    // SSL* that already carried data starts a new connection generation.
    std::vector<AttachedProbe> attach_function(const std::string& binary_path,
                                               const locate::Target& target, bool regen_handshake);
    // Detaches every uprobe and tracepoint (the ring stays readable). Slow: each
    // uretprobe detach waits for the kernel (~0.1 s each on this VM).
    void detach_all();
    // Stops recording at once: empties the traced set, then leaves the slow detach
    // to a short-lived child process so that ct-record can exit without waiting.
    void release_in_background();
    void untrace_all();

    // --watch: processes that are not traced join the traced set when they execute a
    // program that matches (names: comm or executable basename, at most 15 bytes;
    // exes: file identities; uids: real uids). `cmdlines`: every other exec is also
    // reported (ct_exec_event.watch CT_WATCH_CANDIDATE) for user space to match.
    Expected<void> set_watch_rules(const std::vector<std::string>& names,
                                   const std::vector<ct_file_id>& exes,
                                   const std::vector<std::uint32_t>& uids, bool cmdlines);
    // Nothing joins the traced set any more (called before untrace_all at the end).
    void stop_watching();

    // Sends SIGCONT to every process --lossless stopped, and forgets them.
    ThrottleRelease resume_throttled();
    Expected<void> trace_pid(pid_t pid);
    void untrace_pid(pid_t pid);
    bool is_traced(pid_t pid) const;

    // Sum of the per-CPU counters (of both epochs).
    ct_counters counters() const;
    // ring_full_bytes + read_fault_bytes of the events numbered in `epoch` (0 or 1), since
    // the start: every lost byte is counted under the epoch of its event's number.
    std::uint64_t lost_bytes_of_epoch(std::uint32_t epoch) const;
    // Sequence numbers handed out so far (the next one to be used).
    std::uint64_t next_seq() const;
    // Takes the next sequence number as the BPF side does, for an event that
    // ct-record writes itself.
    std::uint64_t take_seq();
    // Cuts the numbers (a --watch rotation): flips the epoch (CT_SEQ_EPOCH_BIT) and returns
    // the first number of the new epoch. In one atomic operation, so every number below
    // it was taken in the old epoch and every later one in the new.
    std::uint64_t cut_seq();
    // The epoch numbers are taken in now (0 or 1).
    std::uint32_t seq_epoch() const;
    // Tracks a TCP connection found in /proc (unless the BPF side tracks that fd already).
    void track_tcp(const ct_tcp_key& key, const ct_tcp_state& state);
    // The TCP connections still tracked (open), removed from the map.
    std::vector<std::pair<ct_tcp_key, ct_tcp_state>> take_tcp_sockets();

    // Events are delivered to `handler` from consume(); a negative return stops it.
    Expected<void> open_ring(EventHandler handler);
    int ring_epoll_fd() const;
    // Reads every event available now. Returns events consumed or an error.
    Expected<int> consume();
    // Ring positions in bytes since the ring was created: how far BPF has reserved
    // (committed or not), and how far this process has consumed. While the handler
    // runs, the consumer position is the start of the event it is given.
    std::uint64_t ring_producer_pos() const;
    std::uint64_t ring_consumer_pos() const;
    // Returns once every BPF program that was running when it was called has returned:
    // an RCU grace period (membarrier MEMBARRIER_CMD_GLOBAL), since the programs run
    // under rcu_read_lock. Then every sequence number taken before the call is either
    // an event committed to the ring, below ring_producer_pos(), or a failed
    // reservation. An error where the kernel has no such barrier (nohz_full).
    Expected<void> wait_for_running_programs() const;

    // The exec/dlopen hold (see hold_watchdog.hpp). A file marked known no longer
    // stops the processes that execute or map it.
    Expected<void> mark_known(const ct_file_id& id);
    // Continues a held process and forgets that hold (`hold_seq`: the seq of the
    // event that reported it). False if the process no longer exists.
    bool continue_held(pid_t pid, std::uint64_t hold_seq);
    int held_map_fd() const;

    struct PrivateTag {};
    BpfProbes(PrivateTag, const ProbeSettings& settings);

  private:
    static int on_ring_event(void* ctx, void* data, std::size_t size);
    ct_counters counters_entry(std::uint32_t key) const;
    static bool kernel_has_uprobe_multi();
    std::expected<UniqueFd, int> attach_uprobe_multi(bpf_program* prog, const std::string& path,
                                                     std::uint64_t offset, bool retprobe);

    ProbeSettings settings_;
    struct SkeletonDeleter {
        void operator()(ct_record* skel) const;
    };
    std::unique_ptr<ct_record, SkeletonDeleter> skel_;
    struct LinkDeleter {
        void operator()(bpf_link* link) const;
    };
    std::mutex links_mutex_;  // attach_function() may run on the attacher thread
    std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
    std::vector<UniqueFd> multi_links_;  // uprobe_multi links (Linux 6.6+)
    bool uprobe_multi_ = false;
    struct RingDeleter {
        void operator()(ring_buffer* rb) const;
    };
    std::unique_ptr<ring_buffer, RingDeleter> ring_;
    // Read-only mappings of the ring's consumer and producer pages (libbpf 1.1 has no
    // accessor for the positions).
    struct PageMapping {
        void* addr = nullptr;
        std::size_t size = 0;
        PageMapping() = default;
        PageMapping(const PageMapping&) = delete;
        PageMapping& operator=(const PageMapping&) = delete;
        ~PageMapping();
        std::uint64_t load() const;
    };
    PageMapping consumer_page_, producer_page_;
    EventHandler handler_;
    int num_cpus_ = 1;
};

}  // namespace ct::record

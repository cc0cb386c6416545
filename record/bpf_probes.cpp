#include "bpf_probes.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <time.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "capture_header.hpp"
#include "ct_record.skel.h"
#include "locate/probe_placement.hpp"
#include "util/unique_fd.hpp"

namespace ct::record {

namespace {

// libbpf prints through this; stay quiet unless CT_DEBUG_LIBBPF is set.
int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
    static const bool verbose = std::getenv("CT_DEBUG_LIBBPF") != nullptr;
    if (!verbose && level != LIBBPF_WARN)
        return 0;
    if (!verbose)
        return 0;
    return std::vfprintf(stderr, format, args);
}

// A BPF_LINK_CREATE for one uprobe_multi link (Linux 6.6). Debian 12's libbpf (1.1) and
// kernel headers (6.1) predate it, so the attribute layout is spelled out here, as in
// the kernel's uapi <linux/bpf.h>: the common link_create head, then the uprobe_multi
// member of its union.
constexpr __u32 kAttachUprobeMulti = 48;       // BPF_TRACE_UPROBE_MULTI
constexpr __u32 kUprobeMultiReturn = 1u << 0;  // BPF_F_UPROBE_MULTI_RETURN
struct UprobeMultiLinkAttr {
    __u32 prog_fd;
    __u32 target_fd;
    __u32 attach_type;
    __u32 flags;
    __u64 path;
    __u64 offsets;
    __u64 ref_ctr_offsets;
    __u64 cookies;
    __u32 cnt;
    __u32 multi_flags;
    __u32 pid;
    __u32 pad;
};
static_assert(sizeof(UprobeMultiLinkAttr) == 64);

std::string load_error_hint(int err) {
    switch (err) {
        case EPERM:
        case EACCES:
            return "permission denied: run ct-record as root (it needs CAP_BPF, CAP_PERFMON and "
                   "CAP_SYS_ADMIN for uprobes)";
        case ENOSYS:
            return "this kernel has no BPF support (CONFIG_BPF_SYSCALL)";
        case EINVAL:
        case E2BIG:
            return "the kernel rejected the BPF program; ct needs Linux 5.17 or newer with BTF "
                   "(set CT_DEBUG_LIBBPF=1 to see the verifier log)";
        default:
            return std::strerror(err);
    }
}

// emulated_entry_delta() of the code at `file_offset` of `path` (x86-64 only; 0 elsewhere
// or if the file cannot be read).
std::uint64_t entry_delta_in_file(const std::string& path, std::uint64_t file_offset,
                                  unsigned arg_mask) {
#if defined(__x86_64__)
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::array<std::uint8_t, 96> code{};
    ssize_t n =
        fd ? ::pread(fd.get(), code.data(), code.size(), static_cast<off_t>(file_offset)) : -1;
    if (n <= 0)
        return 0;
    return locate::emulated_entry_delta(std::span(code.data(), static_cast<std::size_t>(n)),
                                        arg_mask);
#else
    (void)path;
    (void)file_offset;
    (void)arg_mask;
    return 0;
#endif
}

}  // namespace

void BpfProbes::SkeletonDeleter::operator()(ct_record* skel) const {
    ct_record__destroy(skel);
}
void BpfProbes::LinkDeleter::operator()(bpf_link* link) const {
    bpf_link__destroy(link);
}
void BpfProbes::RingDeleter::operator()(ring_buffer* rb) const {
    ring_buffer__free(rb);
}

BpfProbes::BpfProbes(PrivateTag, const ProbeSettings& settings) : settings_(settings) {}

BpfProbes::~BpfProbes() {
    ring_.reset();
    detach_all();
    skel_.reset();
}

Expected<std::unique_ptr<BpfProbes>> BpfProbes::load(const ProbeSettings& settings) {
    libbpf_set_print(libbpf_print);
    auto probes = std::make_unique<BpfProbes>(PrivateTag{}, settings);
    probes->num_cpus_ = libbpf_num_possible_cpus();
    if (probes->num_cpus_ <= 0)
        return fail("cannot count the possible CPUs");
    probes->skel_.reset(ct_record__open());
    if (!probes->skel_) {
        int err = errno;
        return fail(fmt::format("cannot open the BPF program: {}", load_error_hint(err)));
    }
    auto* skel = probes->skel_.get();
    // uprobe_multi links attach and detach without the kernel's global trace-event
    // mutex, which perf-event uprobes hold across an RCU grace period on every detach:
    // with them, a recording that starts while another one's probes are being
    // released waits for all of those grace periods first.
    probes->uprobe_multi_ = !settings.perf_uprobes && std::getenv("CT_PERF_UPROBES") == nullptr &&
                            kernel_has_uprobe_multi();
    if (probes->uprobe_multi_) {
        bpf_program* prog = nullptr;
        bpf_object__for_each_program(prog, skel->obj) {
            if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE)
                bpf_program__set_expected_attach_type(
                    prog, static_cast<bpf_attach_type>(kAttachUprobeMulti));
        }
    }
    skel->rodata->payload_cap = settings.payload_cap;
    skel->rodata->wakeup_data_bytes = settings.ring_bytes / 16;
    skel->rodata->lossless_high_water = settings.lossless_high_water;
    if (int err =
            bpf_map__set_max_entries(skel->maps.events, static_cast<__u32>(settings.ring_bytes));
        err != 0) {
        return fail(fmt::format("invalid ring buffer size {}", settings.ring_bytes), -err);
    }
    if (int err = ct_record__load(skel); err != 0) {
        return fail(fmt::format("cannot load the BPF program: {}", load_error_hint(-err)));
    }
    return probes;
}

Expected<void> BpfProbes::attach_tracepoints() {
    bpf_program* programs[] = {skel_->progs.handle_sys_enter, skel_->progs.handle_sys_exit,
                               skel_->progs.handle_fork, skel_->progs.handle_exec,
                               skel_->progs.handle_exit};
    for (auto* prog : programs) {
        bpf_link* link = bpf_program__attach(prog);
        if (!link) {
            int err = errno;
            return fail(fmt::format("cannot attach raw tracepoint {}: {}",
                                    bpf_program__section_name(prog), load_error_hint(err)));
        }
        links_.emplace_back(link);
    }
    return {};
}

std::vector<AttachedProbe> BpfProbes::attach_function(const std::string& binary_path,
                                                      const locate::Target& target,
                                                      bool regen_handshake) {
    struct Plan {
        bpf_program* entry = nullptr;
        bpf_program* ret = nullptr;
        bool at_return_instruction = false;  // `entry` is placed on a RET instruction
        unsigned moved_entry_args = 0;       // see below
    } plan;
    auto& p = skel_->progs;
    switch (target.role) {
        case locate::Role::SslWrite:
            plan = {p.probe_entry_SSL_write, p.probe_return_SSL_io};
            break;
        case locate::Role::SslWriteEx:
            plan = {p.probe_entry_SSL_write_ex, p.probe_return_SSL_io};
            break;
        case locate::Role::SslRead:
            plan = {p.probe_entry_SSL_read, p.probe_return_SSL_io};
            break;
        case locate::Role::SslReadEx:
        case locate::Role::SslReadInternal:  // same arguments and return as SSL_read_ex
            plan = {p.probe_entry_SSL_read_ex, p.probe_return_SSL_io};
            break;
        case locate::Role::SslWriteInternal:  // OpenSSL 3.0-3.2: SSL_write_ex's ABI
            plan = {p.probe_entry_SSL_write_ex, p.probe_return_SSL_io};
            break;
        case locate::Role::SslWriteInternalFlags:
            plan = {p.probe_entry_ssl_write_internal_flags, p.probe_return_SSL_io};
            break;
        case locate::Role::SslDoHandshake:
            plan = {regen_handshake ? p.probe_entry_SSL_do_handshake_regen
                                    : p.probe_entry_SSL_do_handshake,
                    p.probe_return_SSL_do_handshake};
            break;
        case locate::Role::SslNew:
            plan = {nullptr, p.probe_return_SSL_new};
            break;
        case locate::Role::SslFree:
            plan = {p.probe_entry_SSL_free, nullptr};
            break;
        case locate::Role::SslClear:
            plan = {p.probe_entry_SSL_clear, nullptr};
            break;
        case locate::Role::BioWrite:
        case locate::Role::BioWriteEx:  // (bio, data, len, ...): the same first arguments
            // CT_BENCH_NO_BIO_WRITE: record-bench's measure of what this probe costs (the
            // sockets of connections are then found by I/O inside their TLS calls only).
            if (std::getenv("CT_BENCH_NO_BIO_WRITE") != nullptr)
                return {};
            // It reads data and len (arguments 2 and 3).
            plan = {p.probe_entry_BIO_write, nullptr, false, 0b110};
            break;
        case locate::Role::GnutlsRecordSend:
            plan = {p.probe_entry_gnutls_record_send, p.probe_return_SSL_io};
            break;
        case locate::Role::GnutlsRecordSend2:
            plan = {p.probe_entry_gnutls_record_send2, p.probe_return_SSL_io};
            break;
        case locate::Role::GnutlsRecordSendRange:
            plan = {p.probe_entry_gnutls_record_send_range, p.probe_return_SSL_io};
            break;
        case locate::Role::GnutlsRecordSendEarlyData:
            plan = {p.probe_entry_gnutls_record_send_early_data, p.probe_return_SSL_io};
            break;
        case locate::Role::GnutlsRecordRecv:
            plan = {p.probe_entry_gnutls_record_recv, p.probe_return_SSL_io};
            break;
        case locate::Role::GnutlsRecordRecvSeq:
            plan = {p.probe_entry_gnutls_record_recv_seq, p.probe_return_SSL_io};
            break;
        case locate::Role::GnutlsRecordRecvEarlyData:
            plan = {p.probe_entry_gnutls_record_recv_early_data, p.probe_return_SSL_io};
            break;
        case locate::Role::GnutlsHandshake:
            plan = {p.probe_entry_gnutls_handshake, p.probe_return_SSL_do_handshake};
            break;
        case locate::Role::GnutlsDeinit:
            plan = {p.probe_entry_gnutls_deinit, nullptr};
            break;
        // Go: returns are plain uprobes on RET instructions (Go moves goroutine stacks,
        // which a uretprobe's swapped return address does not survive).
        case locate::Role::GoConnWrite:
            plan = {p.probe_entry_go_conn_write, nullptr};
            break;
        case locate::Role::GoConnRead:
            plan = {p.probe_entry_go_conn_read, nullptr};
            break;
        case locate::Role::GoConnWriteReturn:
            plan = {p.probe_ret_go_conn_write, nullptr, true};
            break;
        case locate::Role::GoConnReadReturn:
            plan = {p.probe_ret_go_conn_read, nullptr, true};
            break;
        case locate::Role::GoConnClose:
            plan = {p.probe_entry_go_conn_close, nullptr};
            break;
        default:
            return {};  // located but not needed for recording
    }
    // An entry-only probe that reads only argument registers goes on the first instruction
    // the kernel emulates, if the arguments are still intact there (emulated_entry_delta):
    // a probe on an instruction the kernel single-steps out of line costs a second
    // exception, and BIO_write is hit once per TLS record by every process that maps its
    // file, traced or not.
    std::uint64_t entry_offset = target.file_offset;
    if (plan.moved_entry_args != 0 && !plan.ret && !plan.at_return_instruction)
        entry_offset += entry_delta_in_file(binary_path, target.file_offset, plan.moved_entry_args);
    std::vector<AttachedProbe> out;
    // Return probe first: a call entered between the two attaches would otherwise push
    // a frame that no return ever pops, and every later call on that SSL* in that
    // direction would look nested inside it and go unrecorded.
    for (bool retprobe : {true, false}) {
        bpf_program* prog = retprobe ? plan.ret : plan.entry;
        if (!prog)
            continue;
        AttachedProbe a;
        a.function = locate::role_symbol(target.role);
        a.kind = retprobe || plan.at_return_instruction ? "return" : "entry";
        a.entry_delta = retprobe ? 0 : entry_offset - target.file_offset;
        if (uprobe_multi_) {
            auto link = attach_uprobe_multi(prog, binary_path,
                                            retprobe ? target.file_offset : entry_offset, retprobe);
            if (link) {
                std::lock_guard lock(links_mutex_);
                multi_links_.push_back(std::move(*link));
                a.attached = true;
            } else {
                a.error = load_error_hint(link.error());
            }
        } else {
            LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);
            bpf_link* link = bpf_program__attach_uprobe_opts(
                prog, -1, binary_path.c_str(),
                static_cast<std::size_t>(retprobe ? target.file_offset : entry_offset), &opts);
            if (link) {
                std::lock_guard lock(links_mutex_);
                links_.emplace_back(link);
                a.attached = true;
            } else {
                a.error = load_error_hint(errno);
            }
        }
        out.push_back(std::move(a));
    }
    return out;
}

std::expected<UniqueFd, int> BpfProbes::attach_uprobe_multi(bpf_program* prog,
                                                            const std::string& path,
                                                            std::uint64_t offset, bool retprobe) {
    __u64 offsets[1] = {offset};
    UprobeMultiLinkAttr attr{};
    attr.prog_fd = static_cast<__u32>(bpf_program__fd(prog));
    attr.attach_type = kAttachUprobeMulti;
    attr.path = reinterpret_cast<__u64>(path.c_str());
    attr.offsets = reinterpret_cast<__u64>(offsets);
    attr.cnt = 1;
    attr.multi_flags = retprobe ? kUprobeMultiReturn : 0;
    long fd = ::syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
    if (fd < 0)
        return std::unexpected(errno);
    return UniqueFd(static_cast<int>(fd));
}

// Whether this kernel takes uprobe_multi links: a two-instruction program loaded with
// that attach type is accepted or not.
bool BpfProbes::kernel_has_uprobe_multi() {
    const bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K,
         .dst_reg = BPF_REG_0,
         .src_reg = 0,
         .off = 0,
         .imm = 0},
        {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts,
                .expected_attach_type = static_cast<bpf_attach_type>(kAttachUprobeMulti));
    int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ct_probe_um", "GPL", insns, 2, &opts);
    if (fd < 0)
        return false;
    ::close(fd);
    return true;
}

void BpfProbes::detach_all() {
    std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
    std::vector<UniqueFd> multi_links;
    {
        std::lock_guard lock(links_mutex_);
        links.swap(links_);
        multi_links.swap(multi_links_);
    }
    // Each uprobe detach waits for an RCU grace period (~0.1 s here); closing them
    // concurrently lets the waits overlap instead of adding up.
    std::vector<std::thread> closers;
    for (auto& link : links)
        closers.emplace_back([l = std::move(link)]() mutable { l.reset(); });
    for (auto& fd : multi_links)
        closers.emplace_back([f = std::move(fd)]() mutable { f.reset(); });
    for (auto& t : closers)
        t.join();
}

void BpfProbes::untrace_all() {
    stop_watching();
    __u32 key = 0, next = 0;
    std::vector<__u32> keys;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(skel_->maps.traced, prev, &next, sizeof next) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }
    for (__u32 k : keys)
        bpf_map__delete_elem(skel_->maps.traced, &k, sizeof k, 0);
}

Expected<void> BpfProbes::set_watch_rules(const std::vector<std::string>& names,
                                          const std::vector<ct_file_id>& exes,
                                          const std::vector<std::uint32_t>& uids, bool cmdlines) {
    __u32 one = 1, rules = 0;
    for (const auto& name : names) {
        char key[CT_COMM_LEN] = {};
        std::memcpy(key, name.data(), std::min(name.size(), sizeof key - 1));
        if (bpf_map__update_elem(skel_->maps.watch_names, key, sizeof key, &one, sizeof one,
                                 BPF_ANY) != 0)
            return fail_errno("cannot add a --match-name rule to the BPF map");
        rules |= CT_WATCH_NAMES;
    }
    for (const auto& id : exes) {
        if (bpf_map__update_elem(skel_->maps.watch_exes, &id, sizeof id, &one, sizeof one,
                                 BPF_ANY) != 0)
            return fail_errno("cannot add a --match-exe rule to the BPF map");
        rules |= CT_WATCH_EXES;
    }
    for (std::uint32_t uid : uids) {
        if (bpf_map__update_elem(skel_->maps.watch_uids, &uid, sizeof uid, &one, sizeof one,
                                 BPF_ANY) != 0)
            return fail_errno("cannot add a --match-user rule to the BPF map");
        rules |= CT_WATCH_UIDS;
    }
    if (cmdlines)
        rules |= CT_WATCH_CMDLINES;
    __atomic_store_n(&skel_->bss->watch_rules, rules, __ATOMIC_SEQ_CST);
    return {};
}

void BpfProbes::stop_watching() {
    __atomic_store_n(&skel_->bss->watch_rules, 0u, __ATOMIC_SEQ_CST);
}

void BpfProbes::release_in_background() {
    untrace_all();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return detach_all();
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    pid_t pid = ::fork();
    if (pid < 0)
        return detach_all();
    if (pid == 0) {
        // Holds a reference to every probe until the parent has dropped its own, then
        // exits; the kernel detaches the probes during this exit.
        write_end.reset();
        char c;
        while (::read(read_end.get(), &c, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);
    }
    read_end.reset();
    {
        std::lock_guard lock(links_mutex_);
        links_.clear();  // fast: the child still holds the links open
        multi_links_.clear();
    }
    write_end.reset();
}

ThrottleRelease BpfProbes::resume_throttled() {
    ThrottleRelease out;
    std::vector<std::pair<__u32, __u64>> stopped;
    __u32 key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(skel_->maps.throttled, prev, &next, sizeof next) == 0) {
        __u64 since = 0;
        if (bpf_map__lookup_elem(skel_->maps.throttled, &next, sizeof next, &since, sizeof since,
                                 0) == 0)
            stopped.emplace_back(next, since);
        key = next;
        prev = &key;
    }
    if (stopped.empty())
        return out;
    std::uint64_t now = monotonic_now_ns();
    for (auto [pid, since] : stopped) {
        // Deleted first: a process stopped again right after its SIGCONT gets a new entry.
        __u64 held_key = CT_HELD_KEY_THROTTLE | pid;
        bpf_map__delete_elem(skel_->maps.held, &held_key, sizeof held_key, 0);
        bpf_map__delete_elem(skel_->maps.throttled, &pid, sizeof pid, 0);
        ::kill(static_cast<pid_t>(pid), SIGCONT);  // ESRCH: it died meanwhile, fine
        ++out.processes;
        out.stopped_ns += now > since ? now - since : 0;
    }
    return out;
}

Expected<void> BpfProbes::trace_pid(pid_t pid) {
    __u32 key = static_cast<__u32>(pid), one = 1;
    if (bpf_map__update_elem(skel_->maps.traced, &key, sizeof key, &one, sizeof one, BPF_ANY) !=
        0) {
        return fail_errno(fmt::format("cannot add pid {} to the traced set", pid));
    }
    return {};
}

void BpfProbes::untrace_pid(pid_t pid) {
    __u32 key = static_cast<__u32>(pid);
    bpf_map__delete_elem(skel_->maps.traced, &key, sizeof key, 0);
}

bool BpfProbes::is_traced(pid_t pid) const {
    __u32 key = static_cast<__u32>(pid), value = 0;
    return bpf_map__lookup_elem(skel_->maps.traced, &key, sizeof key, &value, sizeof value, 0) == 0;
}

namespace {

void add_counters(ct_counters& sum, const ct_counters& c) {
    constexpr std::size_t kFields = sizeof(ct_counters) / sizeof(__u64);
    __u64 src[kFields], dst[kFields];
    std::memcpy(src, &c, sizeof c);
    std::memcpy(dst, &sum, sizeof sum);
    for (std::size_t i = 0; i < kFields; ++i)
        dst[i] += src[i];
    std::memcpy(&sum, dst, sizeof sum);
}

}  // namespace

ct_counters BpfProbes::counters_entry(std::uint32_t key) const {
    std::vector<ct_counters> per_cpu(static_cast<std::size_t>(num_cpus_));
    ct_counters sum{};
    if (bpf_map__lookup_elem(skel_->maps.counters, &key, sizeof key, per_cpu.data(),
                             per_cpu.size() * sizeof(ct_counters), 0) != 0) {
        return sum;
    }
    for (const auto& c : per_cpu)
        add_counters(sum, c);
    return sum;
}

ct_counters BpfProbes::counters() const {
    ct_counters sum = counters_entry(0);
    add_counters(sum, counters_entry(1));
    return sum;
}

std::uint64_t BpfProbes::lost_bytes_of_epoch(std::uint32_t epoch) const {
    // Ring-full and read-fault counts are only ever added under their event's epoch.
    const ct_counters c = counters_entry(epoch ? 1 : 0);
    return c.ring_full_bytes + c.read_fault_bytes;
}

std::uint64_t BpfProbes::next_seq() const {
    return __atomic_load_n(&skel_->bss->next_seq, __ATOMIC_SEQ_CST) & ~CT_SEQ_EPOCH_BIT;
}

std::uint64_t BpfProbes::take_seq() {
    return __atomic_fetch_add(&skel_->bss->next_seq, 1, __ATOMIC_SEQ_CST) & ~CT_SEQ_EPOCH_BIT;
}

std::uint64_t BpfProbes::cut_seq() {
    return __atomic_fetch_xor(&skel_->bss->next_seq, CT_SEQ_EPOCH_BIT, __ATOMIC_SEQ_CST) &
           ~CT_SEQ_EPOCH_BIT;
}

std::uint32_t BpfProbes::seq_epoch() const {
    return static_cast<std::uint32_t>(__atomic_load_n(&skel_->bss->next_seq, __ATOMIC_SEQ_CST) >>
                                      63);
}

void BpfProbes::track_tcp(const ct_tcp_key& key, const ct_tcp_state& state) {
    bpf_map__update_elem(skel_->maps.tcp_socks, &key, sizeof key, &state, sizeof state,
                         BPF_NOEXIST);
}

std::vector<std::pair<ct_tcp_key, ct_tcp_state>> BpfProbes::take_tcp_sockets() {
    std::vector<ct_tcp_key> keys;
    ct_tcp_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map__get_next_key(skel_->maps.tcp_socks, prev, &next, sizeof next) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }
    std::vector<std::pair<ct_tcp_key, ct_tcp_state>> out;
    for (const auto& k : keys) {
        ct_tcp_state st{};
        if (bpf_map__lookup_and_delete_elem(skel_->maps.tcp_socks, &k, sizeof k, &st, sizeof st,
                                            0) == 0) {
            out.emplace_back(k, st);
        }
    }
    return out;
}

Expected<void> BpfProbes::mark_known(const ct_file_id& id) {
    __u32 one = 1;
    if (bpf_map__update_elem(skel_->maps.known_files, &id, sizeof id, &one, sizeof one, BPF_ANY) !=
        0) {
        return fail_errno("cannot add a file to the known-files map");
    }
    return {};
}

bool BpfProbes::continue_held(pid_t pid, std::uint64_t hold_seq) {
    bool alive = ::kill(pid, SIGCONT) == 0 || errno != ESRCH;
    __u64 key = hold_seq;
    bpf_map__delete_elem(skel_->maps.held, &key, sizeof key, 0);
    return alive;
}

int BpfProbes::held_map_fd() const {
    return bpf_map__fd(skel_->maps.held);
}

int BpfProbes::on_ring_event(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<BpfProbes*>(ctx);
    return self->handler_({static_cast<const std::uint8_t*>(data), size});
}

Expected<void> BpfProbes::open_ring(EventHandler handler) {
    handler_ = std::move(handler);
    const int fd = bpf_map__fd(skel_->maps.events);
    ring_.reset(ring_buffer__new(fd, on_ring_event, this, nullptr));
    if (!ring_)
        return fail_errno("cannot open the BPF ring buffer");
    // The kernel's layout of a ring buffer map: the consumer page, then the producer page,
    // each starting with its position; read-only mappings of them are always allowed.
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (auto [mapping, offset] : {std::pair{&consumer_page_, 0}, std::pair{&producer_page_, 1}}) {
        void* addr =
            ::mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset * page));
        if (addr == MAP_FAILED)
            return fail_errno("cannot map the BPF ring buffer's positions");
        mapping->addr = addr;
        mapping->size = page;
    }
    return {};
}

BpfProbes::PageMapping::~PageMapping() {
    if (addr)
        ::munmap(addr, size);
}

std::uint64_t BpfProbes::PageMapping::load() const {
    return __atomic_load_n(static_cast<const unsigned long*>(addr), __ATOMIC_ACQUIRE);
}

std::uint64_t BpfProbes::ring_producer_pos() const {
    return producer_page_.load();
}

std::uint64_t BpfProbes::ring_consumer_pos() const {
    return consumer_page_.load();
}

Expected<void> BpfProbes::wait_for_running_programs() const {
    // MEMBARRIER_CMD_GLOBAL is synchronize_rcu() in the kernel. On a single CPU the
    // kernel skips it; a program preempted there could still be running (the recorder
    // then finds its event late, and says so).
    if (::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0)
        return fail_errno("membarrier(MEMBARRIER_CMD_GLOBAL)");
    return {};
}

int BpfProbes::ring_epoll_fd() const {
    return ring_buffer__epoll_fd(ring_.get());
}

Expected<int> BpfProbes::consume() {
    int n = ring_buffer__consume(ring_.get());
    if (n < 0 && n != -EINTR)
        return fail("reading the ring buffer failed", -n);
    return n < 0 ? 0 : n;
}

}  // namespace ct::record

#include "recorder.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bpf_probes.hpp"
#include "capture/capture_writer.hpp"
#include "capture_header.hpp"
#include "capture_records.hpp"
#include "command_launcher.hpp"
#include "hold_watchdog.hpp"
#include "proc_reader.hpp"
#include "status_line.hpp"
#include "tcp_scan.hpp"
#include "tls_attacher.hpp"
#include "unseen_traffic.hpp"
#include "watch.hpp"

namespace ct::record {

namespace {

// Returned by the ring handler to break out of a long consume() for periodic work.
constexpr int kTimeToTick = -EAGAIN;
constexpr std::uint64_t kTickNs = 250'000'000;
// ct-record's own nice value (see setup()); failing to set it (no CAP_SYS_NICE) is fine.
constexpr int kRecorderNice = -10;
// Longest stretch of draining the ring before periodic work (flush, signals) runs.
constexpr std::uint64_t kDrainSliceNs = 20'000'000;
constexpr std::uint64_t kCountersEveryNs = 1'000'000'000;
constexpr std::uint64_t kClockEveryNs = 60'000'000'000;
// How long a rotation waits for events reserved before its cut to be submitted (a BPF
// program runs for microseconds; this only bounds a wait that should never be long).
constexpr std::uint64_t kCutWaitNs = 2'000'000'000;

void say(const std::string& line) {
    std::fprintf(stderr, "ct-record: %s\n", line.c_str());
}

// Capabilities the probes need when not running as root.
bool has_bpf_capabilities() {
    if (::geteuid() == 0)
        return true;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("CapEff:", 0) == 0) {
            unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
            const int kSysAdmin = 21, kPerfmon = 38, kBpf = 39;
            return (caps >> kSysAdmin & 1) && (caps >> kPerfmon & 1) && (caps >> kBpf & 1);
        }
    }
    return false;
}

int wait_status_to_exit_code(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

class Recording {
  public:
    explicit Recording(const RecorderOptions& o)
        : o_(o), status_line_(o.status == 1 || (o.status == -1 && ::isatty(2))) {}

    int run() {
        if (!o_.command.empty()) {
            // As shells and env(1) do: 127 when the command cannot be found or run.
            std::string exe = resolve_in_path(o_.command[0]);
            if (exe.empty() || ::access(exe.c_str(), X_OK) != 0) {
                say(fmt::format("command not found or not executable: {}", o_.command[0]));
                return 127;
            }
        }
        if (auto ok = setup(); !ok) {
            status_line_.clear();
            say(ok.error().what());
            if (launcher_)
                launcher_->abort();
            attacher_.reset();
            // It removes what it created (it holds no data yet); with --force the old
            // capture is replaced only once the header is written, so it survives.
            writer_.reset();
            return kExitSetupFailed;
        }
        loop();
        return finish();
    }

  private:
    // ---- setup -------------------------------------------------------------------------

    Expected<void> setup() {
        if (auto ok = block_signals(); !ok)
            return ok;
        if (!has_bpf_capabilities()) {
            return fail(
                "needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN) to load BPF probes; run "
                "it with sudo");
        }
        if (o_.watch) {
            auto rules = WatchRules::resolve(o_.watch_options.rules);
            if (!rules)
                return std::unexpected(rules.error());
            watch_rules_.emplace(std::move(*rules));
            CaptureDirectory::Limits limits{o_.watch_options.keep_ms, o_.watch_options.keep_bytes};
            auto dir = CaptureDirectory::open(o_.watch_options.dir, limits);
            if (!dir)
                return std::unexpected(dir.error());
            capture_dir_.emplace(std::move(*dir));
            for (const auto& f : capture_dir_->recovered()) {
                say(
                    fmt::format("kept {}: a capture a previous recorder did not close (no "
                                "trailer; readable up to its last flush)",
                                f));
            }
            series_uuid_ = random_uuid();
            series_name_ = fmt::format("{:02x}{:02x}{:02x}{:02x}", series_uuid_[0], series_uuid_[1],
                                       series_uuid_[2], series_uuid_[3]);
        } else if (o_.pid > 0) {
            if (o_.pid == ::getpid())
                return fail("-p names ct-record itself, which it cannot record");
            if (!process_alive(o_.pid)) {
                return fail(fmt::format("no such process: {} (check the PID with ps)", o_.pid));
            }
        } else {
            // Fork before any thread exists; the child waits until the probes are attached.
            auto launcher = CommandLauncher::fork_waiting(o_.command);
            if (!launcher)
                return std::unexpected(launcher.error());
            launcher_.emplace(std::move(*launcher));
            // Orphaned descendants are re-parented to us, so we can reap them.
            ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        }
        // The recorder must keep up with what it traces even when the machine is busy:
        // what waits in the ring is lost to a kill -9, and a full ring loses events. It
        // only uses CPU in proportion to the traffic, so it runs at a higher priority
        // than the processes around it (the command above was forked before, at the
        // caller's). Before any thread exists: threads inherit it.
        if (::getpriority(PRIO_PROCESS, 0) > kRecorderNice)
            (void)::setpriority(PRIO_PROCESS, 0, kRecorderNice);

        WriterOptions wo;
        wo.zstd_level = o_.zstd_level;
        wo.segment_max_bytes = o_.segment_max_bytes;
        wo.segment_interval_ms = o_.segment_interval_ms;
        wo.overwrite = o_.force;
        wo.background = true;
        wo_unit_max_ = wo.unit_max_bytes;
        wo_window_log_ = wo.window_log;
        writer_options_ = wo;
        if (capture_dir_) {
            names_ = capture_dir_->next_names(sample_clocks().realtime_ns, series_name_, 0);
            output_path_ = names_.final_path;
        } else {
            output_path_ = o_.output;
        }
        auto writer = CaptureWriter::create(capture_dir_ ? names_.part : o_.output, wo);
        if (!writer)
            return std::unexpected(writer.error());
        writer_ = std::move(*writer);

        ProbeSettings ps;
        ps.ring_bytes = o_.ring_bytes;
        ps.payload_cap = o_.payload_cap;
        ps.lossless_high_water = o_.lossless ? o_.ring_bytes / 2 : 0;
        auto probes = BpfProbes::load(ps);
        if (!probes)
            return std::unexpected(probes.error());
        probes_ = std::move(*probes);
        // Before any process can be held: nothing may stay stopped if we die.
        if (auto watchdog = start_hold_watchdog(probes_->held_map_fd()); !watchdog)
            return std::unexpected(watchdog.error());
        if (auto ok = probes_->open_ring([this](auto bytes) { return on_event(bytes); }); !ok) {
            return ok;
        }
        if (auto ok = probes_->attach_tracepoints(); !ok)
            return ok;
        if (watch_rules_) {
            // From here on a matching exec joins in BPF; the scan below finds the rest.
            if (auto ok =
                    probes_->set_watch_rules(watch_rules_->names(), watch_rules_->exe_ids(),
                                             watch_rules_->uids(), watch_rules_->has_cmdlines());
                !ok)
                return ok;
        }

        if (auto ok = watch_rules_ ? trace_watched() : trace_targets(); !ok)
            return ok;
        attacher_ = std::make_unique<TlsAttacher>(*probes_, locate::LocatorOptions{});
        if (auto ok = attach_initial(); !ok)
            return ok;

        clock_ = sample_clocks();
        start_ns_ = clock_.monotonic_ns;
        file_start_ns_ = start_ns_;
        HeaderInputs hi;
        hi.recorder_cmdline = o_.recorder_cmdline;
        hi.target_cmdline = o_.command;
        hi.target_pid = o_.pid;
        hi.ring_bytes = o_.ring_bytes;
        hi.payload_cap = o_.payload_cap;
        hi.flush_interval_ms = o_.flush_interval_ms;
        hi.unit_max_bytes = wo_unit_max_;
        hi.segment_max_bytes = o_.segment_max_bytes;
        hi.segment_interval_ms = o_.segment_interval_ms;
        hi.window_log = wo_window_log_;
        hi.zstd_level = o_.zstd_level;
        header_inputs_ = hi;
        if (auto ok = write_header(); !ok)
            return ok;
        for (auto& [fields] : pending_records_)
            append(ctz::RecordType::Process, fields);
        pending_records_.clear();
        write_attach_reports(initial_reports_);
        initial_reports_.clear();

        if (launcher_) {
            launcher_->release();
            if (!o_.quiet) {
                say(fmt::format("recording `{}` (pid {}) into {}", fmt::join(o_.command, " "),
                                launcher_->pid(), o_.output));
            }
        } else if (watch_rules_) {
            say(fmt::format(
                "watching for {} (and their descendants): {} running now; captures "
                "into {}/, rotated every {} s or {} MiB",
                fmt::join(watch_rules_->describe(), ", "), live_.size(), capture_dir_->path(),
                o_.watch_options.rotate_ms / 1000, o_.watch_options.rotate_bytes >> 20));
            for (const auto& f : capture_dir_->enforce_limits())
                say(fmt::format("removed {} (--keep/--keep-size)", f));
        } else if (!o_.quiet) {
            say(fmt::format("recording pid {} and its children into {}; Ctrl-C to stop", o_.pid,
                            o_.output));
        }
        return {};
    }

    // The header of the current file; with --watch, where it stands in the series.
    Expected<void> write_header() {
        current_uuid_ = random_uuid();
        auto fields = build_capture_header(header_inputs_, clock_, current_uuid_);
        if (watch_rules_) {
            using F = ctz::HeaderField;
            fields.u64(F::FirstSeq, first_seq_)
                .bytes(F::SeriesUuid, series_uuid_)
                .u64(F::SeriesIndex, series_index_)
                .str_list(F::WatchRules, watch_rules_->describe());
            if (previous_uuid_)
                fields.bytes(F::PreviousCaptureUuid, *previous_uuid_);
        }
        return writer_->write_header(fields);
    }

    // --watch: the processes running now that match a rule, with their descendants.
    Expected<void> trace_watched() {
        const pid_t self = ::getpid();
        // Our ancestors (the shell, sudo or service manager that started us) are never
        // matched here: their descendants are unrelated programs and ct-record itself.
        // A program they start later is matched at its exec like any other.
        std::set<pid_t> ancestors;
        for (pid_t p = ::getppid(); p > 0 && ancestors.insert(p).second;) {
            auto snap = read_process(p);
            if (!snap)
                break;
            p = snap->ppid;
        }
        auto add = [&](pid_t pid) -> Expected<void> {
            if (pid == self || ancestors.contains(pid) || !live_.insert(pid).second)
                return {};
            return probes_->trace_pid(pid);
        };
        // Exec tracking is live now; two passes catch what started during the first.
        for (int pass = 0; pass < 2; ++pass) {
            const std::vector<pid_t> pids = list_pids();
            if (pids.empty())
                return fail("cannot read /proc");
            for (pid_t pid : pids) {
                if (pid == self || ancestors.contains(pid) || live_.contains(pid))
                    continue;
                auto snap = read_process(pid);
                if (!snap || snap->exe.empty() || snap->ppid == self)
                    continue;  // gone, a kernel thread, or our own watchdog
                auto rule =
                    watch_rules_->match(*snap, file_id_of(fmt::format("/proc/{}/exe", pid)));
                if (!rule)
                    continue;
                if (auto ok = add(pid); !ok)
                    return ok;
                for (pid_t child : list_descendants(pid)) {
                    if (auto ok = add(child); !ok)
                        return ok;
                }
            }
        }
        note_scanned_processes();
        return {};
    }

    Expected<void> block_signals() {
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD})
            sigaddset(&set, s);
        if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0)
            return fail("cannot block signals");
        ::signal(SIGPIPE, SIG_IGN);
        signal_fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!signal_fd_)
            return fail_errno("cannot create a signalfd");
        return {};
    }

    // Seeds the traced set: the command's child, or the PID and its descendants.
    Expected<void> trace_targets() {
        pid_t root = launcher_ ? launcher_->pid() : o_.pid;
        if (auto ok = probes_->trace_pid(root); !ok)
            return ok;
        live_.insert(root);
        if (launcher_) {
            ProcessSnapshot s;
            s.pid = root;
            s.ppid = ::getpid();
            s.exe = resolve_in_path(o_.command[0]);
            s.cmdline = o_.command;
            char cwd[4096];
            if (::getcwd(cwd, sizeof cwd))
                s.cwd = cwd;
            s.comm = o_.command[0];
            unseen_.note_exe(root, s.exe);
            pending_records_.push_back({process_record(s, "command")});
            return {};
        }
        // Fork tracking is live now; two passes catch children forked during the scan.
        for (int pass = 0; pass < 2; ++pass) {
            for (pid_t pid : list_descendants(root)) {
                if (live_.insert(pid).second) {
                    if (auto ok = probes_->trace_pid(pid); !ok)
                        return ok;
                }
            }
        }
        note_scanned_processes();
        return {};
    }

    // The processes found already running (by -p or a --watch rule): their connections
    // open before the recording are tracked from now on, and each gets a PROCESS record.
    void note_scanned_processes() {
        for (pid_t pid : live_) {
            for (const auto& [key, st] : open_tcp_connections(pid, monotonic_now_ns()))
                probes_->track_tcp(key, st);
            if (auto snap = read_process(pid)) {
                unseen_.note_exe(pid, snap->exe);
                pending_records_.push_back({process_record(*snap, "scan")});
            }
        }
        processes_seen_ = live_.size();
    }

    Expected<void> attach_initial() {
        auto keep = [&](std::optional<AttachReport> r) {
            if (r)
                initial_reports_.push_back(std::move(*r));
        };
        for (const auto& path : o_.binaries) {
            auto r = attacher_->attach_file(path);
            if (!r || (!r->error && r->located.flavor == locate::Flavor::None)) {
                std::string rustls =
                    r ? fmt::format(" (it contains {}, which ct has no probes for)",
                                    fmt::join(r->located.unprobed_tls, ", "))
                      : "";
                return fail(
                    fmt::format("--binary {}: no TLS functions found there{} (see "
                                "ct-record --probe-report {})",
                                path, rustls, path));
            }
            keep(std::move(r));
        }
        if (o_.system_libraries) {
            for (const auto& lib : system_tls_libraries())
                keep(attacher_->attach_file(lib));
            for (const auto& exe : well_known_tls_programs())
                keep(attacher_->attach_file(exe));
            // Files nearly every process maps (libc, libstdc++, ...) and the usual
            // launchers: decided now, they never hold a process (a few ms in all).
            for (const auto& bin : locate::mapped_binaries(::getpid()))
                keep(attacher_->attach_file(bin.access_path));
            for (const char* launcher : {"sh", "bash", "env"}) {
                if (std::string exe = resolve_in_path(launcher); !exe.empty())
                    keep(attacher_->attach_file(exe));
            }
        }
        if (launcher_) {
            std::string exe = resolve_in_path(o_.command[0]);
            if (exe.empty()) {
                return fail(fmt::format("command not found: {} (not in PATH)", o_.command[0]));
            }
            for (const auto& file : executables_behind(exe))
                keep(attacher_->attach_file(file));
            return {};
        }
        for (pid_t pid : live_) {
            for (auto& r : attacher_->attach_process(pid))
                initial_reports_.push_back(std::move(r));
        }
        if (watch_rules_)
            return {};
        bool target_has_tls = false;
        for (pid_t pid : live_)
            target_has_tls = target_has_tls || attacher_->probes_any_mapping_of(pid);
        if (!target_has_tls && !o_.wait_for_tls) {
            return fail(fmt::format(
                "no TLS library found in process {} or its children; examined: {}. If it loads "
                "one later (python imports ssl on first use), add --wait; for a TLS library in "
                "an unusual file, add --binary FILE (check it with --probe-report FILE)",
                o_.pid, fmt::join(attacher_->examined_paths(), ", ")));
        }
        return {};
    }

    // ---- records -----------------------------------------------------------------------

    void append(ctz::RecordType type, const ctz::FieldWriter& fields) {
        if (watch_rules_ && type == ctz::RecordType::Probe)
            probe_records_.emplace_back(fields.bytes().begin(), fields.bytes().end());
        if (failed_)
            return;
        if (auto ok = writer_->append(type, fields.bytes()); !ok)
            on_write_failure(ok.error());
    }

    void note(std::string_view level, const std::string& message) {
        append(ctz::RecordType::Note, note_record(level, message));
    }

    void write_attach_reports(const std::vector<AttachReport>& reports) {
        for (const auto& r : reports) {
            if (r.error) {
                std::string msg = fmt::format("cannot examine {}: {}", r.path, *r.error);
                if (!o_.quiet)
                    say(msg);
                note("warning", msg);
                continue;
            }
            for (const auto& what : r.located.unprobed_tls) {
                // rustls (Rust programs: Codex CLI, Copilot CLI's runtime.node): no probes.
                unseen_.note_unprobed_tls(r.pid, r.path, what);
                std::string msg = fmt::format(
                    "NOT seen: {} contains {}, and ct has no probes for rustls: connections it "
                    "makes through rustls are not recorded",
                    r.path, what);
                say(msg);
                note("warning", msg);
            }
            if (r.located.refusal) {
                std::string msg = fmt::format("NOT probing {}: {}", r.path, *r.located.refusal);
                say(msg);
                note("warning", msg);
                continue;
            }
            if (r.located.flavor == locate::Flavor::None)
                continue;  // rustls only: named above, nothing probed
            std::vector<std::string> parts;
            for (const auto& [target, probe] : r.probes) {
                append(ctz::RecordType::Probe, probe_record(r, target, probe));
                if (probe.kind == "entry" || target.role == locate::Role::SslNew) {
                    parts.push_back(fmt::format(
                        "{}@{:#x}{}{}", probe.function, target.file_offset,
                        probe.entry_delta ? fmt::format("+{:#x}", probe.entry_delta) : "",
                        probe.attached ? "" : " (FAILED: " + probe.error + ")"));
                }
                if (!probe.attached) {
                    note("error", fmt::format("cannot attach {} {} in {}: {}", probe.kind,
                                              probe.function, r.path, probe.error));
                }
            }
            std::string held;
            if (r.held) {
                held = fmt::format("held pid {} for {:.1f} ms while probing {}", r.pid,
                                   static_cast<double>(r.hold_ns) / 1e6, r.path);
                note("info", held);
            }
            if (!o_.quiet) {
                say(fmt::format("probing {} [{}{}{}]: {}{}", r.path,
                                r.located.flavor == locate::Flavor::GnutlsSymbols ? "GnuTLS, " : "",
                                r.located.how_found,
                                r.pid ? fmt::format(", mapped by pid {}", r.pid) : "",
                                fmt::join(parts, " "), held.empty() ? "" : "; " + held));
            }
            if (!r.held && r.exec_ns && r.attached_any() && r.attached_ns > r.exec_ns) {
                // Not silent: the process could not be held, so what the program sent
                // before its probes existed is missing.
                std::string msg = fmt::format(
                    "probes on {} were attached {:.1f} ms after pid {} executed it (the process "
                    "could not be stopped until then); TLS traffic it made before then is not in "
                    "the capture (its connections show as joined mid-way). Add --binary {} to "
                    "probe it from the start.",
                    r.path, static_cast<double>(r.attached_ns - r.exec_ns) / 1e6, r.pid, r.path);
                unseen_.note_late_probes(r.pid, r.path);
                say(msg);
                note("warning", msg);
            }
        }
    }

    // ---- the ring ----------------------------------------------------------------------

    int on_event(std::span<const std::uint8_t> bytes) {
        std::size_t len = abi::stored_length(bytes);
        if (len == 0) {
            ++stats_.malformed_events;
            return 0;
        }
        auto ev = bytes.first(len);
        auto h = *abi::read_header(ev);
        if (h.type == CT_EVENT_EXEC && h.seq == CT_SEQ_NONE) {
            // --watch: an exec of an untraced process, asked about for --match-cmdline
            // only; it is not written (the process is nothing of ours unless it matches).
            on_watch_candidate(ev, h);
            return 0;
        }
        if (cut_seq_ && h.seq >= *cut_seq_) {
            // A rotation is closing the current file: this event is numbered after the
            // cut, so it is the next file's, written there once that file is open.
            next_file_events_.emplace_back(ev.begin(), ev.end());
            return monotonic_now_ns() >= consume_until_ns_ ? kTimeToTick : 0;
        }
        if (!failed_) {
            if (auto ok = writer_->append(ctz::RecordType::Event, ev); !ok) {
                on_write_failure(ok.error());
                return -EIO;
            }
            ++events_in_file_;
            ++events_written_;
            if (h.seq < first_seq_)
                ++late_events_in_file_;  // the previous file counted it as lost
            if (h.type == CT_EVENT_LOSS)
                ++loss_events_written_;
        }
        ++stats_.events;
        unseen_.on_event(ev);
        if (watch_rules_)
            track_connection(ev, h);
        switch (h.type) {
            case CT_EVENT_DATA: {
                auto d = *abi::read_struct<ct_data_event>(ev);
                ++stats_.data_events;
                file_data_bytes_ += d.data_len;
                (d.direction == CT_DIR_WRITE ? stats_.bytes_written : stats_.bytes_read) +=
                    d.data_len;
                break;
            }
            case CT_EVENT_CONN:
                if (abi::read_struct<ct_conn_event>(ev)->kind == CT_CONN_OPEN)
                    ++stats_.connections;
                break;
            case CT_EVENT_FORK: {
                pid_t child = static_cast<pid_t>(abi::read_struct<ct_fork_event>(ev)->child_pid);
                if (live_.insert(child).second)
                    ++processes_seen_;
                new_processes_.push_back({child, "fork"});
                break;
            }
            case CT_EVENT_EXEC: {
                auto e = *abi::read_event<ct_exec_event>(ev);
                if (e.watch == CT_WATCH_MATCHED) {
                    // Joined by a --watch rule in BPF, before its first instruction.
                    if (live_.insert(static_cast<pid_t>(h.pid)).second)
                        ++processes_seen_;
                    ++watch_matches_;
                    if (!o_.quiet) {
                        say(fmt::format(
                            "recording pid {} ({}): it matched a --watch rule", h.pid,
                            std::string(e.filename, strnlen(e.filename, sizeof e.filename))));
                    }
                }
                new_processes_.push_back(
                    {static_cast<pid_t>(h.pid), e.watch == CT_WATCH_MATCHED ? "watch" : "exec"});
                on_new_code(
                    h, true, -1, e.file_dev, e.file_ino,
                    h.size >= sizeof(ct_exec_event) ? e.hold : std::uint32_t{CT_HOLD_FAILED},
                    std::string(e.filename, strnlen(e.filename, sizeof e.filename)));
                break;
            }
            case CT_EVENT_EXIT:
                live_.erase(static_cast<pid_t>(h.pid));
                break;
            case CT_EVENT_MMAP_EXEC: {
                auto e = *abi::read_event<ct_mmap_exec_event>(ev);
                on_new_code(
                    h, false, e.fd, e.file_dev, e.file_ino,
                    h.size >= sizeof(ct_mmap_exec_event) ? e.hold : std::uint32_t{CT_HOLD_FAILED});
                break;
            }
            default:
                break;
        }
        if ((stats_.events & 63) == 0 && monotonic_now_ns() >= consume_until_ns_)
            return kTimeToTick;
        return 0;
    }

    // --watch: where each open TLS connection stands in what the current file holds, so
    // that the next file can say where its part of the streams begins. Kept from the
    // events themselves (not from BPF's maps), so it agrees with the file exactly.
    void track_connection(std::span<const std::uint8_t> ev, const ct_event_header& h) {
        auto at_least = [](std::uint64_t& pos, std::uint64_t end) { pos = std::max(pos, end); };
        auto get = [&](std::uint64_t gen, std::uint64_t ssl) -> TrackedConnection& {
            auto& c = open_conns_[gen];
            c.pid = h.pid;
            c.ssl = ssl;
            return c;
        };
        switch (h.type) {
            case CT_EVENT_CONN: {
                auto e = *abi::read_struct<ct_conn_event>(ev);
                if (e.kind == CT_CONN_CLOSE) {
                    open_conns_.erase(e.conn_gen);
                    break;
                }
                auto& c = get(e.conn_gen, e.ssl);
                at_least(c.pos[CT_DIR_WRITE], e.bytes_written);
                at_least(c.pos[CT_DIR_READ], e.bytes_read);
                std::memcpy(c.comm, e.comm, sizeof c.comm);
                break;
            }
            case CT_EVENT_DATA: {
                auto e = *abi::read_struct<ct_data_event>(ev);
                if (e.direction > CT_DIR_READ)
                    break;
                std::uint64_t end = e.stream_pos + e.data_len;
                if ((e.flags & CT_DATA_TRUNCATED) && (e.flags & CT_DATA_LAST_CHUNK) &&
                    e.stream_pos >= e.chunk_offset)
                    end = std::max<std::uint64_t>(end, e.stream_pos - e.chunk_offset + e.call_len);
                auto& c = get(e.conn_gen, e.ssl);
                at_least(c.pos[e.direction], end);
                std::memcpy(c.comm, e.comm, sizeof c.comm);
                break;
            }
            case CT_EVENT_LOSS: {
                auto e = *abi::read_struct<ct_loss_event>(ev);
                if (e.direction <= CT_DIR_READ && e.conn_gen != 0)
                    at_least(get(e.conn_gen, e.ssl).pos[e.direction], e.stream_pos + e.lost_len);
                break;
            }
            case CT_EVENT_SOCKET: {
                auto e = *abi::read_struct<ct_socket_event>(ev);
                if (e.conn_gen != 0 && e.origin != CT_SOCKET_FROM_CONNECT)
                    get(e.conn_gen, e.ssl).socket = e;
                break;
            }
            case CT_EVENT_EXIT:
                std::erase_if(open_conns_, [&](const auto& kv) { return kv.second.pid == h.pid; });
                break;
            default:
                break;
        }
    }

    // --watch with --match-cmdline: BPF reports execs of untraced processes; one whose
    // command line matches joins the traced set from now on. It was not stopped (that
    // would stop every program started on the machine), so its probes come late: what
    // it sent before then is missing, and the capture says so (the late-probe warning).
    void on_watch_candidate(std::span<const std::uint8_t> ev, const ct_event_header& h) {
        auto e = abi::read_event<ct_exec_event>(ev);
        if (!e || !watch_rules_ || stop_ || failed_)
            return;
        auto args = abi::tail(ev);
        std::string raw(reinterpret_cast<const char*>(args.data()), args.size());
        auto rule = watch_rules_->match_cmdline(split_nul_separated(raw));
        if (!rule)
            return;
        pid_t pid = static_cast<pid_t>(h.pid);
        if (pid == ::getpid() || !probes_->trace_pid(pid))
            return;
        if (live_.insert(pid).second)
            ++processes_seen_;
        ++watch_matches_;
        new_processes_.push_back({pid, "watch"});
        attacher_->request_scan(pid, h.ts_ns);
        if (!o_.quiet)
            say(fmt::format("recording pid {} ({}): it matched {}", pid,
                            std::string(e->filename, strnlen(e->filename, sizeof e->filename)),
                            *rule));
    }

    // A traced process executed or mapped a file: probe it if BPF did not know it.
    void on_new_code(const ct_event_header& h, bool exec, int fd, std::uint64_t dev,
                     std::uint64_t ino, std::uint32_t hold, std::string filename = {}) {
        pid_t pid = static_cast<pid_t>(h.pid);
        if (hold == CT_HOLD_STOPPED) {
            attacher_->request_hold(
                {pid, exec, fd, ct_file_id{dev, ino}, h.ts_ns, h.seq, std::move(filename)});
        } else if (hold == CT_HOLD_FAILED) {
            attacher_->request_scan(pid, exec ? h.ts_ns : 0);  // late, and it says so
        }
        // CT_HOLD_NONE: the file is probed already, or holds no TLS code.
    }

    void note_holds() {
        for (const auto& o : attacher_->take_hold_outcomes()) {
            ++stats_.holds;
            stats_.hold_total_ns += o.duration_ns;
            stats_.hold_max_ns = std::max(stats_.hold_max_ns, o.duration_ns);
            if (o.probed)
                continue;  // said with the probes
            double ms = static_cast<double>(o.duration_ns) / 1e6;
            if (o.exited) {
                note("info", fmt::format("pid {} exited while held ({:.1f} ms) for {}", o.pid, ms,
                                         o.path.empty() ? "a file it no longer had" : o.path));
            } else if (o.examined) {
                note("info", fmt::format("held pid {} for {:.1f} ms while examining {} (nothing "
                                         "to probe)",
                                         o.pid, ms, o.path));
            } else {
                note("info", fmt::format("held pid {} for {:.1f} ms for {} (decided already)",
                                         o.pid, ms, o.path.empty() ? "a file now gone" : o.path));
            }
        }
    }

    // Drains the ring for at most kDrainSliceNs, so that flushing, counters and signals
    // are never starved. Returns true when events were left in the ring: the caller
    // comes straight back instead of sleeping, because data events do not wake it.
    bool consume_ring() {
        consume_until_ns_ = monotonic_now_ns() + kDrainSliceNs;
        auto n = probes_->consume();
        if (n)
            return false;
        if (n.error().errno_value == -kTimeToTick)
            return true;
        if (!failed_) {
            say(n.error().what());
            on_write_failure(n.error());
        }
        return false;
    }

    // ---- main loop -----------------------------------------------------------------------

    void loop() {
        UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = probes_->ring_epoll_fd();
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, probes_->ring_epoll_fd(), &ev);
        ev.data.fd = signal_fd_.get();
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, signal_fd_.get(), &ev);
        std::uint64_t now = monotonic_now_ns();
        next_tick_ns_ = now + kTickNs;
        next_flush_ns_ = now + o_.flush_interval_ms * 1'000'000;
        next_counters_ns_ = now + kCountersEveryNs;
        next_clock_ns_ = now + kClockEveryNs;
        bool backlog = false;
        while (!stop_) {
            now = monotonic_now_ns();
            std::uint64_t due = std::min(next_tick_ns_, next_flush_ns_);
            int timeout_ms =
                backlog || due <= now ? 0 : static_cast<int>((due - now + 999'999) / 1'000'000);
            epoll_event events[4];
            int n = ::epoll_wait(ep.get(), events, 4, timeout_ms);
            (void)n;
            backlog = consume_ring();
            if (o_.lossless && !backlog)
                release_throttled();  // the ring is drained: let stopped processes go on
            handle_signals();
            after_events();
            now = monotonic_now_ns();
            if (now >= next_tick_ns_ || now >= next_flush_ns_)
                tick();
        }
    }

    void after_events() {
        for (auto& [pid, source] : new_processes_) {
            if (auto snap = read_process(pid)) {
                unseen_.note_exe(pid, snap->exe);
                append(ctz::RecordType::Process, process_record(*snap, source));
            }
        }
        new_processes_.clear();
        write_attach_reports(attacher_->take_reports());
        note_holds();
    }

    void tick() {
        std::uint64_t now = monotonic_now_ns();
        next_tick_ns_ = now + kTickNs;
        if (now >= next_counters_ns_) {
            next_counters_ns_ = now + kCountersEveryNs;
            counters_ = probes_->counters();
            append(ctz::RecordType::Counters, counters_record(counters_, false));
        }
        if (now >= next_clock_ns_) {
            next_clock_ns_ = now + kClockEveryNs;
            append(ctz::RecordType::Clock, clock_record(sample_clocks()));
        }
        if (now >= next_flush_ns_) {
            // On a fixed schedule: what reached the ring is on disk one interval later.
            std::uint64_t interval = o_.flush_interval_ms * 1'000'000;
            next_flush_ns_ += interval;
            if (next_flush_ns_ <= now)
                next_flush_ns_ = now + interval;
            if (!failed_) {
                if (auto ok = writer_->flush(); !ok)
                    on_write_failure(ok.error());
            }
        }
        // Exit events can be lost when the ring is full; /proc has the last word.
        for (auto it = live_.begin(); it != live_.end();) {
            it = process_alive(*it) ? std::next(it) : live_.erase(it);
        }
        if (live_.empty() && !watch_rules_) {
            stop_ = true;
            end_reason_ = launcher_ ? "command exited" : "target exited";
        }
        if (watch_rules_ && !failed_ && !stop_) {
            const auto& w = o_.watch_options;
            bool old = now - file_start_ns_ >= w.rotate_ms * 1'000'000;
            bool big = writer_->stats().file_bytes >= w.rotate_bytes;
            if (old || big || rotate_requested_) {
                rotate(rotate_requested_ ? "rotated (SIGHUP)"
                       : old             ? "rotated (age)"
                                         : "rotated (size)");
                rotate_requested_ = false;
            }
        }
        update_stats_from_counters();
        status_line_.update(stats_, static_cast<double>(now - start_ns_) / 1e9);
    }

    void release_throttled() {
        auto r = probes_->resume_throttled();
        stats_.throttled_stops += r.processes;
        stats_.throttled_ns += r.stopped_ns;
    }

    void update_stats_from_counters() {
        // Lost events are sequence numbers no event in the file carries (what ct-analyze
        // counts). While recording, estimated from the counters: every failed
        // reservation or read fault, unless its LOSS event (same number) got through.
        std::uint64_t failed =
            counters_.ring_full_events + counters_.read_fault_events + stats_.malformed_events;
        stats_.lost_events = failed > loss_events_written_ ? failed - loss_events_written_ : 0;
        stats_.lost_bytes = counters_.ring_full_bytes + counters_.read_fault_bytes;
        stats_.truncated_calls = counters_.truncated_calls;
        stats_.untracked_tcp = counters_.tcp_map_full;
        stats_.processes = processes_seen_;
    }

    void handle_signals() {
        signalfd_siginfo si{};
        while (::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
            int sig = static_cast<int>(si.ssi_signo);
            if (sig == SIGCHLD) {
                reap_children();
                continue;
            }
            const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
            if (watch_rules_ && sig == SIGHUP) {
                rotate_requested_ = true;  // a new file now (logrotate style)
                next_tick_ns_ = 0;
                continue;
            }
            if (!launcher_) {
                stop_ = true;
                end_reason_ = fmt::format("stopped by {}", name);
                continue;
            }
            // Command mode: a terminal's Ctrl-C reaches the command too, which decides.
            bool from_terminal = si.ssi_code == SI_KERNEL;
            if (from_terminal)
                continue;
            if (!forwarded_signal_ && !child_status_) {
                forwarded_signal_ = true;
                ::kill(launcher_->pid(), sig);
                say(fmt::format("{} forwarded to the command; send it again to stop recording now",
                                name));
            } else {
                stop_ = true;
                end_reason_ = fmt::format("stopped by {}", name);
            }
        }
    }

    void reap_children() {
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            if (launcher_ && pid == launcher_->pid())
                child_status_ = status;
            live_.erase(pid);
        }
    }

    void on_write_failure(const Error& e) {
        if (failed_)
            return;
        failed_ = true;
        status_line_.clear();
        say(fmt::format("recording stopped: {}", e.what()));
        write_error_ = e.what();
        probes_->untrace_all();
        if (!launcher_)
            stop_ = true;  // command mode: wait for the command, then exit non-zero
    }

    // ---- the end of a file ---------------------------------------------------------------

    // Writes the current file's trailer (its final COUNTERS are in already) and, with
    // --watch, gives it its final name. False if the file could not be closed cleanly.
    // `last_seq`: where the file's sequence numbers end (capture-format.md 3.7: the
    // rotation's cut; at the end, every number handed out).
    bool close_file(const std::string& reason, std::uint64_t end_mono, std::uint64_t last_seq) {
        if (failed_)
            return false;
        if (auto ok = writer_->drain(); !ok) {
            on_write_failure(ok.error());
            return false;
        }
        auto ws = writer_->stats();
        // Every count below is this file's own (capture-format.md 2.5.2); its sequence
        // numbers are first_seq_ .. last_seq - 1 (4, rule 8), a single capture's from 0.
        const std::uint64_t allocated = last_seq > first_seq_ ? last_seq - first_seq_ : 0;
        const std::uint64_t numbered = events_in_file_ - late_events_in_file_;
        lost_events_in_file_ = allocated > numbered ? allocated - numbered : 0;
        // BPF counts each lost byte under the epoch of its event's number, and the files
        // of a series alternate epochs: what the file's epoch counted since the last file
        // of that epoch closed. Exact once every program numbered in the file returned
        // (drain_through_cut()).
        const std::uint64_t epoch_lost = probes_->lost_bytes_of_epoch(file_epoch_);
        lost_bytes_in_file_ = epoch_lost - std::min(epoch_lost, lost_bytes_closed_[file_epoch_]);
        lost_bytes_closed_[file_epoch_] = epoch_lost;
        using F = ctz::TrailerField;
        ctz::FieldWriter t;
        t.str(F::EndReason, reason)
            .i64(F::EndRealtimeNs, static_cast<std::int64_t>(end_mono) + clock_.offset())
            .u64(F::EndMonotonicNs, end_mono)
            .u64(F::Frames, ws.segments)
            .u64(F::Records, ws.records)
            .u64(F::Events, events_in_file_)
            .u64(F::DataBytes, file_data_bytes_)
            .u64(F::LostEvents, lost_events_in_file_)
            .u64(F::LostBytes, lost_bytes_in_file_)
            .u64(F::LastSeq, last_seq);
        if (child_status_)
            t.i64(F::ExitStatus, *child_status_);
        if (auto ok = writer_->finish(t); !ok) {
            on_write_failure(ok.error());
            return false;
        }
        const auto done = writer_->stats();
        closed_file_bytes_ += done.file_bytes;
        closed_frames_ += done.segments;
        if (capture_dir_) {
            if (auto ok = capture_dir_->publish(names_); !ok) {
                on_write_failure(ok.error());
                return false;
            }
        }
        return true;
    }

    // Consumes the ring until every event numbered below `cut` is in (or was never
    // submitted: a failed reservation). BPF numbers an event before reserving its place
    // in the ring, so events from several CPUs reach the ring out of order: the numbers
    // below the cut can still be on their way when the cut is taken. Once every program
    // running at the cut has returned, each of them is in the ring below the producer
    // position of that moment; reading up to it brings them all in. Events numbered
    // from the cut on that come out meanwhile are the next file's (on_event keeps them).
    void drain_through_cut() {
        // Tests only: no barrier and no reading before the file closes, so that events
        // numbered below the cut reach the next file, as they can without a barrier.
        if (test_late_events()) {
            if (!barrier_warned_) {
                barrier_warned_ = true;
                const std::string msg =
                    "no barrier for running BPF programs (CT_RECORD_TEST_LATE_EVENTS): an event "
                    "numbered just before a rotation can reach the next file (it then says so)";
                say(msg);
                note("warning", msg);
            }
            return;
        }
        // Without it (nohz_full), an event can arrive after its file closed: in the
        // last file it counts as lost (its number is never seen), after a rotation it
        // goes into the next file, which says so (note_late_events()).
        if (auto ok = probes_->wait_for_running_programs();
            !ok && watch_rules_ && !barrier_warned_) {
            barrier_warned_ = true;
            std::string msg = fmt::format(
                "no barrier for running BPF programs ({}): an event numbered just before a "
                "rotation can reach the next file (it then says so)",
                ok.error().what());
            say(msg);
            note("warning", msg);
        }
        const std::uint64_t until = probes_->ring_producer_pos();
        const std::uint64_t give_up = monotonic_now_ns() + kCutWaitNs;
        while (!failed_ && probes_->ring_consumer_pos() < until) {
            if (consume_ring() || probes_->ring_consumer_pos() >= until)
                continue;
            // An event reserved before `until` is not submitted yet (its program started
            // after the cut, so it is numbered after it; it holds up the ones behind it).
            if (monotonic_now_ns() >= give_up)
                break;
            timespec pause{0, 100'000};
            ::nanosleep(&pause, nullptr);
        }
    }

    // --watch: closes the current file cleanly and continues in a new one, which starts
    // with what a reader needs to decode it alone (capture-format.md, "Rotated captures").
    // CT_RECORD_TEST_LATE_EVENTS (tests only): rotations take no barrier and read
    // nothing before the file closes, and first let 50 ms of events gather unread, so
    // that many events numbered below the cut reach the next file (capture-format.md
    // 3.7: what kernels without the barrier can do now and then).
    static bool test_late_events() {
        static const bool on = std::getenv("CT_RECORD_TEST_LATE_EVENTS") != nullptr;
        return on;
    }

    void rotate(const std::string& reason) {
        if (test_late_events()) {
            timespec pause{0, 50'000'000};
            ::nanosleep(&pause, nullptr);
        }
        // The cut: the numbers below it are this file's, the others the next file's,
        // whichever order their events arrive in (capture-format.md 3.7).
        const ClockSample next_clock = sample_clocks();
        const std::uint64_t cut = probes_->cut_seq();  // and a new epoch for the next file
        cut_seq_ = cut;
        drain_through_cut();
        cut_seq_.reset();
        after_events();  // process records and probe reports go in the file they belong to
        for (const auto& line : unseen_.report_lines())
            note("warning", "unseen traffic: " + line);
        note_late_events();
        counters_ = probes_->counters();
        update_stats_from_counters();
        append(ctz::RecordType::Counters, counters_record(counters_, true));
        const std::string closed = output_path_;
        const std::uint64_t closed_events = events_in_file_, closed_bytes = file_data_bytes_;
        if (!close_file(reason, monotonic_now_ns(), cut))
            return;
        const std::uint64_t closed_lost = lost_events_in_file_;
        unseen_ = UnseenTraffic{};  // each file reports its own unseen connections
        previous_uuid_ = current_uuid_;
        ++series_index_;
        first_seq_ = cut;  // the numbers of the files do not overlap
        events_in_file_ = late_events_in_file_ = file_data_bytes_ = 0;
        file_epoch_ ^= 1;
        clock_ = next_clock;
        file_start_ns_ = clock_.monotonic_ns;
        names_ = capture_dir_->next_names(clock_.realtime_ns, series_name_, series_index_);
        output_path_ = names_.final_path;
        auto writer = CaptureWriter::create(names_.part, writer_options_);
        if (!writer) {
            on_write_failure(writer.error());
            return;
        }
        writer_ = std::move(*writer);
        if (auto ok = write_header(); !ok) {
            on_write_failure(ok.error());
            return;
        }
        carry_over();
        // Then the events numbered after the cut that came out of the ring while the
        // previous file was being closed, in the order they came.
        const auto waiting = std::move(next_file_events_);
        next_file_events_.clear();
        for (const auto& ev : waiting)
            on_event(ev);
        if (!o_.quiet) {
            say(fmt::format(
                "{}: closed {} ({} events{}, {:.1f} MiB of plaintext); now {} ({} "
                "processes, {} open connections carried over, {} events numbered after the "
                "cut read while closing)",
                reason, closed, closed_events,
                closed_lost ? fmt::format(", {} LOST", closed_lost) : std::string(),
                static_cast<double>(closed_bytes) / (1 << 20), names_.part, live_.size(),
                carried_connections_, waiting.size()));
        }
        for (const auto& f : capture_dir_->enforce_limits(names_.part))
            say(fmt::format("removed {} (--keep/--keep-size)", f));
    }

    // Events numbered before the current file began that reached it anyway (only where
    // the barrier of drain_through_cut() is missing): kept, and said.
    void note_late_events() {
        if (late_events_in_file_ == 0)
            return;
        note("warning",
             fmt::format("{} event(s) numbered below this file's first_seq ({}) reached the "
                         "ring after the previous file closed: they are in this file, and the "
                         "previous file counts them as lost",
                         late_events_in_file_, first_seq_));
    }

    // An event ct-record writes itself (tid 0), numbered like BPF's.
    template <typename T>
    void write_own_event(T& ev, std::uint16_t type, pid_t pid) {
        ev.hdr = {};
        ev.hdr.type = type;
        ev.hdr.size = sizeof ev;
        ev.hdr.seq = probes_->take_seq();
        ev.hdr.ts_ns = monotonic_now_ns();
        ev.hdr.pid = static_cast<std::uint32_t>(pid);
        on_event({reinterpret_cast<const std::uint8_t*>(&ev), sizeof ev});
    }

    // The start of a rotated file: the processes being recorded, every probe placed so
    // far, and the TLS connections open now (where their streams stand, and their socket).
    void carry_over() {
        std::map<pid_t, std::string> comms;
        for (pid_t pid : live_) {
            if (auto snap = read_process(pid)) {
                unseen_.note_exe(pid, snap->exe);
                comms[pid] = snap->comm;
                append(ctz::RecordType::Process, process_record(*snap, "carried"));
            }
        }
        for (const auto& body : probe_records_) {
            if (failed_)
                break;
            if (auto ok = writer_->append(ctz::RecordType::Probe, body); !ok)
                on_write_failure(ok.error());
        }
        carried_connections_ = 0;
        // A copy: writing the events below goes through track_connection().
        const auto open = open_conns_;
        for (const auto& [gen, c] : open) {
            ct_conn_event ev{};
            ev.ssl = c.ssl;
            ev.conn_gen = gen;
            ev.bytes_written = c.pos[CT_DIR_WRITE];
            ev.bytes_read = c.pos[CT_DIR_READ];
            ev.kind = CT_CONN_OPEN;
            ev.func = CT_FUNC_CONTINUED;
            std::memcpy(ev.comm, c.comm, sizeof ev.comm);
            write_own_event(ev, CT_EVENT_CONN, static_cast<pid_t>(c.pid));
            ++carried_connections_;
            if (!c.socket)
                continue;
            ct_socket_event se = *c.socket;
            se.origin = CT_SOCKET_FROM_CONTINUED;
            write_own_event(se, CT_EVENT_SOCKET, static_cast<pid_t>(c.pid));
        }
    }

    // ---- the end -----------------------------------------------------------------------

    // TCP connections still open: their totals so far, as events of their own.
    void write_open_tcp_connections() {
        std::uint64_t now = monotonic_now_ns();
        for (auto& [key, st] : probes_->take_tcp_sockets()) {
            ct_tcp_event ev = st.ev;
            if ((ev.flags & CT_TCP_INHERITED) && ev.bytes_sent + ev.bytes_received == 0)
                continue;  // as the BPF side: a child that never used its parent's socket
            ev.hdr = {};   // tid 0: written by ct-record, not by a thread's syscall
            ev.hdr.type = CT_EVENT_TCP;
            ev.hdr.size = sizeof ev;
            ev.hdr.seq = probes_->take_seq();
            ev.hdr.ts_ns = now;
            ev.hdr.pid = key.tgid;
            ev.end = CT_TCP_END_RECORDING;
            on_event({reinterpret_cast<const std::uint8_t*>(&ev), sizeof ev});
        }
    }

    int finish() {
        status_line_.clear();
        consume_ring();
        probes_->untrace_all();  // nothing new from here on
        continue_all_held(probes_->held_map_fd());
        // Finite: nothing new is numbered for a traced process from here on. Every event
        // numbered so far comes in (capture-format.md 4, rule 8: last_seq is exact).
        drain_through_cut();
        attacher_->wait_for_holds(std::chrono::seconds(2));  // their outcomes go in the capture
        write_open_tcp_connections();
        release_throttled();  // never leave a process stopped behind us
        if (stats_.throttled_stops) {
            note("info", fmt::format("--lossless stopped traced processes {} times for {:.1f} "
                                     "ms in all while the recorder drained the ring",
                                     stats_.throttled_stops,
                                     static_cast<double>(stats_.throttled_ns) / 1e6));
        }
        after_events();
        std::vector<std::string> unseen = unseen_.report_lines();
        for (const auto& line : unseen)
            note("warning", "unseen traffic: " + line);  // with the reason, for ct-analyze
        std::vector<std::string> socketless = unseen_.socketless_lines();
        for (const auto& line : socketless)
            note("warning", "unknown socket: " + line);
        note_late_events();
        counters_ = probes_->counters();
        update_stats_from_counters();
        if (launcher_ && !child_status_) {
            // The command may still run if we were told to stop; do not wait for it then.
            int status = 0;
            if (::waitpid(launcher_->pid(), &status,
                          stop_ && !end_reason_.starts_with("command") ? WNOHANG : 0) ==
                launcher_->pid()) {
                child_status_ = status;
            }
        }
        append(ctz::RecordType::Counters, counters_record(counters_, true));
        std::uint64_t end_mono = monotonic_now_ns();
        // Exact at the end: sequence numbers handed out that no event in the files carries.
        const std::uint64_t last_seq = probes_->next_seq();
        if (!close_file(end_reason_, end_mono, last_seq)) {
            const auto ws = writer_->stats();  // what reached the file before the failure
            closed_file_bytes_ += ws.file_bytes;
            closed_frames_ += ws.segments;
        }
        stats_.lost_events = last_seq > events_written_ ? last_seq - events_written_ : 0;
        probes_->release_in_background();
        // The run's totals: with --watch, over every file of the series this run wrote
        // (each file's own counts are in its trailer and in the rotation messages).
        stats_.file_bytes = closed_file_bytes_;
        stats_.frames = closed_frames_;
        double elapsed = static_cast<double>(end_mono - start_ns_) / 1e9;
        const std::string written =
            capture_dir_ ? fmt::format("{} capture(s) of series {} into {}/", series_index_ + 1,
                                       series_name_, capture_dir_->path())
                         : o_.output;
        if (!o_.quiet || failed_)
            std::fputs(format_summary(stats_, written, elapsed, unseen, socketless).c_str(),
                       stderr);
        if (capture_dir_ && !o_.quiet) {
            say(fmt::format("{} process(es) joined by a rule; the last file: {}", watch_matches_,
                            output_path_));
        }
        if (failed_) {
            say(
                fmt::format("the capture is incomplete ({}); everything before the failure is "
                            "readable",
                            write_error_));
            return kExitRecordingFailed;
        }
        if (launcher_) {
            if (!child_status_)
                return 128 + SIGTERM;  // stopped before the command ended
            return wait_status_to_exit_code(*child_status_);
        }
        return kExitOk;
    }

    const RecorderOptions& o_;
    StatusLine status_line_;
    UniqueFd signal_fd_;
    std::optional<CommandLauncher> launcher_;
    std::unique_ptr<CaptureWriter> writer_;
    std::uint64_t wo_unit_max_ = 0;
    int wo_window_log_ = 0;
    std::unique_ptr<BpfProbes> probes_;
    std::unique_ptr<TlsAttacher> attacher_;
    std::vector<AttachReport> initial_reports_;
    struct PendingRecord {
        ctz::FieldWriter fields;
    };
    std::vector<PendingRecord> pending_records_;
    std::vector<std::pair<pid_t, const char*>> new_processes_;
    std::set<pid_t> live_;
    std::uint64_t processes_seen_ = 1;
    ClockSample clock_;
    std::uint64_t start_ns_ = 0;
    std::uint64_t next_tick_ns_ = 0, next_flush_ns_ = 0, next_counters_ns_ = 0, next_clock_ns_ = 0;
    std::uint64_t consume_until_ns_ = 0;
    ct_counters counters_{};
    std::uint64_t events_written_ = 0;   // events handed to the writers (every file)
    std::uint64_t file_data_bytes_ = 0;  // DATA bytes in the current file
    // The epoch of the current file's sequence numbers (BpfProbes::cut_seq()), and per
    // epoch the lost bytes BPF had counted when the last file of that epoch closed.
    std::uint32_t file_epoch_ = 0;
    std::array<std::uint64_t, 2> lost_bytes_closed_{};
    // --watch
    std::optional<WatchRules> watch_rules_;
    std::optional<CaptureDirectory> capture_dir_;
    CaptureDirectory::Names names_;
    WriterOptions writer_options_;
    HeaderInputs header_inputs_;
    std::array<std::uint8_t, 16> series_uuid_{};
    std::array<std::uint8_t, 16> current_uuid_{};
    std::optional<std::array<std::uint8_t, 16>> previous_uuid_;
    std::string series_name_;
    std::uint64_t series_index_ = 0;
    std::uint64_t first_seq_ = 0;
    // While a rotation closes a file: the first sequence number of the next one.
    std::optional<std::uint64_t> cut_seq_;
    std::vector<std::vector<std::uint8_t>> next_file_events_;  // numbered from cut_seq_ on
    bool barrier_warned_ = false;
    std::uint64_t file_start_ns_ = 0;
    std::uint64_t watch_matches_ = 0;
    std::uint64_t carried_connections_ = 0;
    bool rotate_requested_ = false;
    std::vector<std::vector<std::uint8_t>> probe_records_;  // re-written in each new file
    struct TrackedConnection {
        std::uint32_t pid = 0;
        std::uint64_t ssl = 0;
        std::uint64_t pos[2] = {0, 0};  // stream ends the current file reaches
        char comm[CT_COMM_LEN] = {};
        std::optional<ct_socket_event> socket;  // the last socket tied to it
    };
    std::map<std::uint64_t, TrackedConnection> open_conns_;  // by generation
    std::string output_path_;
    std::uint64_t events_in_file_ = 0;       // events handed to the writer
    std::uint64_t late_events_in_file_ = 0;  // ... of which numbered below first_seq_
    std::uint64_t loss_events_written_ = 0;  // LOSS events handed to the writers (every file)
    // The file closed last: its own counts, as its trailer gives them.
    std::uint64_t lost_events_in_file_ = 0;
    std::uint64_t lost_bytes_in_file_ = 0;
    // Every closed file of the run: bytes on disk and segments.
    std::uint64_t closed_file_bytes_ = 0;
    std::uint64_t closed_frames_ = 0;
    RecordingStats stats_;
    UnseenTraffic unseen_;
    bool stop_ = false;
    bool failed_ = false;
    bool forwarded_signal_ = false;
    std::string write_error_;
    std::string end_reason_ = "stopped";
    std::optional<int> child_status_;
};

}  // namespace

int run_recorder(const RecorderOptions& options) {
    Recording recording(options);
    return recording.run();
}

}  // namespace ct::record

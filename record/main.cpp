// ct-record: command-line parsing only; the work is in recorder.cpp.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "ct/version.hpp"
#include "hold_watchdog.hpp"
#include "locate/tls_locator.hpp"
#include "recorder.hpp"
#include "util/size_argument.hpp"

namespace {

// The kernel takes the ring size as a 32-bit power of two (so 2G at most); 1G is
// already far more than a recording needs, and it is locked kernel memory.
constexpr std::uint64_t kMaxRingBytes = 1ull << 30;

const char* kDescription =
    R"(ct-record: record every TLS plaintext byte a process tree sends and receives.

  ct-record -p PID -w FILE [OPTIONS]
  ct-record -w FILE [OPTIONS] -- CMD [ARGS...]
  ct-record --watch --match-name NAME... --output-dir DIR [OPTIONS]
  ct-record --probe-report BINARY_OR_PID

Attaches eBPF uprobes to SSL_write/SSL_read (and friends) in the target's TLS
library (libssl.so, OpenSSL linked into node, BoringSSL inside Bun executables
such as the native Claude Code, OpenSSL 3 linked statically into stripped Rust
programs such as Codex CLI and Copilot CLI's runtime.node), to
gnutls_record_send/gnutls_record_recv (and friends) in libgnutls.so (wget, git
and curl over HTTPS on Debian) and, in Go programs, stripped or not, to
crypto/tls's (*Conn).Write and Read (returns probed at their RET instructions),
follows the target's children, and writes the raw events into a
zstd-compressed, append-only capture file. Decode it later with ct-analyze.
Every TCP connection of the target tree is also tracked with its peer and the
bytes its syscalls moved; the summary at the end names the ones no probe could
read (plain TCP, or TLS in rustls, NSS, Java); a binary with rustls inside is
named when it is examined ("NOT seen: ...").

A traced process that executes a program or maps a library ct-record has not
examined yet is stopped (SIGSTOP) before it runs any of it, and continued
(SIGCONT) once every probe on that file is attached, usually within a few ms:
nothing is missed, whatever starts the program. A parent waiting with waitpid
sees no difference; one using WUNTRACED (job control) may see the stop.

Always-on (--watch): every process of the machine that matches a rule (several
rules: any one) is recorded from its first instruction with its descendants, no
PID or command needed; new ones join as they execute. --match-name, --match-exe
and --match-user are checked in BPF at exec, and the process is held until its
probes are attached; --match-cmdline is checked by ct-record on each exec, so its
probes come a moment late (the capture says how late). Processes already running
that match are recorded from the start of the recorder (their earlier traffic,
and the start of connections already open, are not). Captures go into DIR as
ct-<UTC start>-<series>-<NNNN>.ctz.part, renamed to .ctz once closed with their
trailer: a .ctz never changes again. They rotate by age and size; each starts
with the processes, probes and open connections a reader needs to decode it
alone. SIGTERM/SIGINT close the current file cleanly, SIGHUP rotates now.

Examples:
  sudo ct-record -w session.ctz -- curl -s https://example.com/
  sudo ct-record -p $(pgrep -n claude) -w claude.ctz      # Ctrl-C to stop
  sudo ct-record -w s.ctz -- claude -p "explain this repo"
  sudo ct-record --probe-report /usr/bin/node             # where would probes go?
  zstd -dc session.ctz | strings | less                   # raw look without ct-analyze
  sudo ct-record --watch --match-name claude --match-name python3 \
       --output-dir /var/lib/ct/captures --rotate 1h --rotate-size 256M --keep 7d --keep-size 10G
  sudo ct-record --watch --match-cmdline 'agent\.py' --match-user ci -w /var/lib/ct/captures

Exit status: 0 recorded and finished cleanly; with -- CMD, the command's own
status (128+N if killed by signal N); 1 nothing recorded (setup failed);
2 bad command line; 3 recording failed midway (disk full, I/O error): the
capture is readable up to the failure. --watch runs until SIGTERM or SIGINT
(then 0) or a failure (3; systemd's Restart=on-failure starts it again).)";

int run_main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == ct::record::kHoldWatchdogFlag) {
        return ct::record::run_hold_watchdog(std::atoi(argv[2]), std::atoi(argv[3]));
    }
    std::vector<std::string> recorder_cmdline(argv, argv + argc);
    // Everything after the first "--" is the command to run, untouched by the parser.
    std::vector<std::string> command;
    int parse_argc = argc;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--") {
            command.assign(argv + i + 1, argv + argc);
            parse_argc = i;
            break;
        }
    }

    CLI::App app{kDescription, "ct-record"};
    app.set_version_flag("--version", std::string("ct-record ") + ct::kVersion);
    ct::record::RecorderOptions o;
    std::string ring = "64M", cap = "16M", segment_max = "32M", probe_report;
    std::uint64_t segment_interval_s = 60;
    bool no_system_libs = false, status = false, no_status = false;
    bool allow_init = false;
    std::string rotate = "1h", rotate_size = "256M", keep, keep_size, output_dir;
    auto& w = o.watch_options;
    auto* pid_option =
        app.add_option("-p,--pid", o.pid, "Record this running process and its descendants");
    app.add_flag("--allow-init", allow_init,
                 "Allow -p 1: init's descendants are every process on the machine, so their "
                 "TLS plaintext would all be recorded (refused without this flag)");
    app.add_option("-w,--write", o.output,
                   "Capture file to write (created with mode 0600); never a symbolic link, "
                   "device, FIFO, socket or directory. With --watch: the output directory");
    app.add_flag("--watch", o.watch,
                 "Always-on: record every process that matches a --match-* rule (and its "
                 "descendants) into rotated captures in --output-dir, until SIGTERM/SIGINT");
    auto* match_name = app.add_option(
        "--match-name", w.rules.names,
        "--watch rule: the program's name (comm, as ps shows it, or its executable's basename; "
        "first 15 bytes compared), e.g. claude, node, python3; repeatable");
    auto* match_exe = app.add_option("--match-exe", w.rules.exes,
                                     "--watch rule: this executable file (compared by inode; "
                                     "for a script, give its interpreter); repeatable");
    auto* match_cmdline = app.add_option(
        "--match-cmdline", w.rules.cmdlines,
        "--watch rule: an ECMAScript regular expression searched in the command line (argv "
        "joined with spaces); checked in user space, so probes come a moment after exec; "
        "repeatable");
    auto* match_user = app.add_option("--match-user", w.rules.users,
                                      "--watch rule: processes of this user (name or uid; the "
                                      "real uid at exec); repeatable");
    app.add_option("--output-dir", output_dir,
                   "--watch: directory of the captures (created 0700 if missing; one recorder "
                   "per directory)");
    app.add_option("--rotate", rotate,
                   "--watch: start a new capture when the current one is this old (90s, 30m, "
                   "1h, 1d)")
        ->default_str("1h");
    app.add_option("--rotate-size", rotate_size, "--watch: ... or this big on disk (compressed)")
        ->default_str("256M");
    app.add_option("--keep", keep,
                   "--watch: remove finished captures older than this (e.g. 7d; default: keep)");
    app.add_option("--keep-size", keep_size,
                   "--watch: remove the oldest finished captures while the directory's captures "
                   "exceed this (e.g. 10G; default: no bound). Disk use stays below it plus "
                   "--rotate-size");
    app.add_flag("-f,--force", o.force,
                 "Replace FILE if it is an existing regular file (and only then): the new "
                 "capture is written beside it under a temporary name and renamed over it once "
                 "recording has started (its header is written), so a start that fails leaves "
                 "the old file untouched");
    app.add_flag("--wait", o.wait_for_tls,
                 "With -p: record even if the process has not loaded a TLS library yet");
    app.add_flag("--lossless", o.lossless,
                 "Never lose an event: when the ring is half full, stop the traced process "
                 "(SIGSTOP) until ct-record has drained it (slows the target under load)");
    app.add_option("--binary", o.binaries,
                   "Also probe this file before the command starts (saves the hold at its first "
                   "exec or dlopen); repeatable");
    app.add_flag("--no-system-libs", no_system_libs,
                 "Do not probe the system's libssl.so.*, libcrypto.so.*, libgnutls.so.* and the "
                 "node, bun, deno and claude found in PATH before the target starts them (they "
                 "are then probed during a hold when first executed or loaded)");
    app.add_option("--ring-size", ring, "BPF ring buffer size (power of two, at most 1G)")
        ->default_str("64M");
    app.add_option("--payload-cap", cap,
                   "Bytes recorded per TLS call; longer calls are recorded as truncated with "
                   "their true length")
        ->default_str("16M");
    app.add_option("--zstd-level", o.zstd_level, "zstd compression level (1-19)")
        ->default_val(3)
        ->check(CLI::Range(1, 19));
    app.add_option("--flush-interval", o.flush_interval_ms,
                   "Get recorded data onto the disk at least this often (ms); kill -9 of the "
                   "recorder loses at most this much")
        ->default_val(1000)
        ->check(CLI::Range(50, 60000));
    app.add_option("--segment-max", segment_max,
                   "Start a new zstd frame after this much data: compression history spans a "
                   "frame, damage costs at most the rest of one")
        ->default_str("32M");
    app.add_option("--segment-interval", segment_interval_s, "... or after this many seconds")
        ->default_val(60)
        ->check(CLI::Range(1, 3600));
    app.add_flag("--status", status,
                 "Show a live status line (default: when stderr is a terminal)");
    app.add_flag("--no-status", no_status, "Never show the status line");
    app.add_flag("-q,--quiet", o.quiet, "Print only errors and warnings");
    app.add_option("--probe-report", probe_report,
                   "Print where probes would go in BINARY (or every binary of PID) and the "
                   "evidence, then exit (1 if a TLS library would be refused, or if the only "
                   "TLS is one ct has no probes for, such as rustls)");

    try {
        app.parse(parse_argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : ct::record::kExitUsage;
    }

    if (!probe_report.empty())
        return ct::locate::run_probe_report(probe_report, std::cout);

    auto usage_error = [](const std::string& msg) {
        std::cerr << "ct-record: " << msg << "\nRun ct-record --help for usage.\n";
        return ct::record::kExitUsage;
    };
    if (pid_option->count() > 0 && o.pid <= 0)
        return usage_error("-p needs the ID of a running process (a number above 0)");
    bool any_rule =
        match_name->count() + match_exe->count() + match_cmdline->count() + match_user->count() > 0;
    if (o.watch) {
        if (o.pid > 0 || !command.empty())
            return usage_error("--watch records by rules: it takes no -p PID and no -- CMD");
        if (!any_rule) {
            return usage_error(
                "--watch needs at least one rule: --match-name NAME, --match-exe PATH, "
                "--match-cmdline REGEX or --match-user USER (e.g. --match-name claude)");
        }
        if (o.force)
            return usage_error("--force does not apply to --watch (captures get new names)");
        if (!output_dir.empty() && !o.output.empty() && output_dir != o.output)
            return usage_error("give the directory once: --output-dir DIR (or -w DIR)");
        w.dir = output_dir.empty() ? o.output : output_dir;
        if (w.dir.empty())
            return usage_error("--watch needs --output-dir DIR (where the captures go)");
        auto r = ct::record::parse_duration_ms(rotate);
        if (!r || *r < 1000)
            return usage_error("--rotate: " + (r ? std::string("at least 1s") : r.error().message));
        w.rotate_ms = *r;
        auto rs = ct::parse_size(rotate_size);
        if (!rs || *rs < (1ull << 20))
            return usage_error("--rotate-size: " +
                               (rs ? std::string("at least 1M") : rs.error().message));
        w.rotate_bytes = *rs;
        if (!keep.empty()) {
            auto k = ct::record::parse_duration_ms(keep);
            if (!k || *k == 0)
                return usage_error("--keep: " +
                                   (k ? std::string("must be above 0") : k.error().message));
            w.keep_ms = *k;
        }
        if (!keep_size.empty()) {
            auto ks = ct::parse_size(keep_size);
            if (!ks || *ks < w.rotate_bytes)
                return usage_error(
                    "--keep-size: " +
                    (ks ? std::string("must be at least --rotate-size") : ks.error().message));
            w.keep_bytes = *ks;
        }
    } else {
        if (any_rule)
            return usage_error("--match-* rules need --watch");
        if (!output_dir.empty())
            return usage_error("--output-dir needs --watch (for one capture, use -w FILE)");
        if (o.output.empty())
            return usage_error("-w FILE is required");
        if ((o.pid > 0) == !command.empty()) {
            return usage_error("give either -p PID or -- CMD ARGS... (exactly one of them)");
        }
    }
    auto ring_bytes = ct::parse_size(ring);
    auto cap_bytes = ct::parse_size(cap);
    auto segment_bytes = ct::parse_size(segment_max);
    if (!ring_bytes)
        return usage_error("--ring-size: " + ring_bytes.error().message);
    if (!cap_bytes)
        return usage_error("--payload-cap: " + cap_bytes.error().message);
    if (!segment_bytes)
        return usage_error("--segment-max: " + segment_bytes.error().message);
    long page = ::sysconf(_SC_PAGESIZE);
    if ((*ring_bytes & (*ring_bytes - 1)) != 0 || *ring_bytes < static_cast<std::uint64_t>(page)) {
        return usage_error("--ring-size must be a power of two of at least one page (e.g. 64M)");
    }
    if (*ring_bytes > kMaxRingBytes) {
        return usage_error(fmt::format(
            "--ring-size {} is too big: the BPF ring buffer can be at most 1G (it is kernel "
            "memory, locked while recording)",
            ring));
    }
    if (*cap_bytes < 1 || *cap_bytes > (1ull << 30)) {
        return usage_error("--payload-cap must be between 1 byte and 1G");
    }
    if (o.lossless && *cap_bytes > *ring_bytes / 4) {
        return usage_error(
            "--lossless needs --payload-cap at most a quarter of --ring-size, so that calls "
            "under way when the ring is half full still fit (e.g. --ring-size 256M)");
    }
    if (*segment_bytes < (1ull << 20) || *segment_bytes > (256ull << 20)) {
        return usage_error("--segment-max must be between 1M and 256M");
    }
    if (o.pid == 1 && !allow_init) {
        return usage_error(
            "-p 1 is init: its descendants are every process on this machine, so this would "
            "record all of their TLS plaintext. Add --allow-init if that is really what you "
            "want.");
    }
    o.ring_bytes = *ring_bytes;
    o.payload_cap = *cap_bytes;
    o.segment_max_bytes = *segment_bytes;
    o.segment_interval_ms = segment_interval_s * 1000;
    o.system_libraries = !no_system_libs;
    o.status = no_status ? 0 : status ? 1 : -1;
    o.command = std::move(command);
    o.recorder_cmdline = std::move(recorder_cmdline);
    return ct::record::run_recorder(o);
}

}  // namespace

// The last line of defence: an unexpected exception still ends with a message and an exit
// code scripts can read, and unwinding closes the capture file through its destructors.
int main(int argc, char** argv) {
    try {
        return run_main(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "ct-record: internal error: " << e.what()
                  << "\nct-record: the capture is readable up to this point; please report this.\n";
        return ct::record::kExitRecordingFailed;
    }
}

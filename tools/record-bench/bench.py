#!/usr/bin/python3
"""record-bench: what ct-record costs, measured side by side in one run.

Run it as root through run.sh, which builds what it needs first:

  sudo tools/record-bench/run.sh [--quick] [options]

  1. per-call cost: ns per SSL_write(SIZE)+SSL_read pair of a client and a
     server in one thread over a BIO pair, untraced / under empty
     uprobe+uretprobe programs / under ct-record, modes interleaved in rounds;
  2. losses: a TLS client writes 16 KiB calls as fast as it can over TCP
     loopback under ct-record with the default ring; events, lost events and a
     byte-by-byte comparison of the capture with what was written;
  3. the recorder's CPU seconds per captured GB in that run (wait4 rusage);
  4. capture size over plaintext size for an agent-like LLM conversation
     against tests/servers/mock_llm_server.py;
  5. the recorder's RSS outside the BPF ring mapping during run 2 (smaps);
  6. launch latency: from starting `ct-record -- CMD` to CMD's first instruction,
     on an idle machine (the previous recording's probes fully released) and back
     to back (started the moment the previous ct-record exited, while its probes
     are still being released in the background);
  7. --lossless: the client of run 2 writing 100 B, 16 KiB and 1 MiB calls as fast as
     it can, under ct-record with and without --lossless, side by side: the
     client's throughput, events lost, and whether the capture equals what was
     written byte for byte.

Not a test: nothing here asserts on timings. Figures are medians over rounds
with [min-max]; ratios are taken within a round, then summarised.
"""

import argparse
import ctypes
import glob
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
PR_SET_CHILD_SUBREAPER = 36
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

AIMS = {
    "ratio_100": 1.10,
    "ratio_1m": 1.5,
    "size_ratio": 0.2,
    "rss_mib": 32.0,
    "launch_s": 0.35,
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log("record-bench: " + msg)
    sys.exit(1)


# ---- processes ---------------------------------------------------------------------------------

def children_of_me():
    """(pid, comm) of the processes whose parent is this one."""
    me = os.getpid()
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[1]) == me:
            out.append((int(stat.split("/")[2]), comm))
    return out


# Process names (comm) of the recorder: ct-record, and the binary --ct-record names (its
# detach child keeps that name, e.g. a copy of a baseline build under another name).
RECORDER_COMMS = {"ct-record"}


def reap_orphaned_recorders(timeout=30.0):
    """ct-record hands the detach of its probes to a child that outlives it. We are a
    subreaper, so that child becomes ours: wait for it, so that no probe is left
    attached when the next mode is measured. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        pending = [pid for pid, comm in children_of_me()
                   if any(comm.startswith(name) for name in RECORDER_COMMS)]
        if not pending:
            break
        for pid in pending:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return time.monotonic() - start


def wait4(popen):
    """Waits for a Popen child with wait4; returns (exit code, rusage)."""
    _, status, usage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    return popen.returncode, usage


class Workload:
    """record-bench-workload: commands on stdin, one answer line each."""

    def __init__(self, cfg, lib_dir, binary="record-bench-workload"):
        env = dict(os.environ, LD_LIBRARY_PATH=lib_dir) if lib_dir else None
        self.p = subprocess.Popen([cfg.bin(binary)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            die("the workload did not start: " + line)
        self.pid = self.p.pid

    def cmd(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        if not line.startswith("ok"):
            die("workload: %s -> %s" % (text, line or "(no answer)"))
        return dict(kv.split("=", 1) for kv in line.split()[1:])

    def run(self, pairs, size):
        """(wall ns, this thread's CPU ns) per pair."""
        r = self.cmd("run %d %d" % (pairs, size))
        return float(r["ns_per_pair"]), float(r["cpu_ns_per_pair"])

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait()


class GoWorkload(Workload):
    """record-bench-go-workload (a private copy at `path`): the same commands and answers."""

    def __init__(self, path):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            die("the Go workload did not start: " + line)
        self.pid = self.p.pid


class EmptyProbe:
    """record-bench-empty-probe attached for the duration of a `with` block."""

    def __init__(self, cfg, lib, functions=(), go=False):
        self.cfg, self.lib = cfg, lib
        self.args = ["--go", lib] if go else [lib, *functions]

    def __enter__(self):
        self.p = subprocess.Popen([self.cfg.bin("record-bench-empty-probe")] + self.args,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("attached"):
            die("the empty probe did not attach")
        return self

    def __exit__(self, *exc):
        self.p.stdin.close()  # it detaches, then exits
        self.p.wait()


class CtRecord:
    """ct-record -p PID, started and stopped around a `with` block."""

    def __init__(self, cfg, pid, out, extra=(), cmdline=None, ready="ct-record: recording"):
        self.cmdline = cmdline or ([cfg.ct_record, "-p", str(pid), "-w", out, "-f", "--no-status"]
                                   + list(extra))
        self.ready_prefix = ready
        self.stderr = []
        self.usage = None
        self.detach_wait = 0.0

    def __enter__(self):
        self.p = subprocess.Popen(self.cmdline, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def pump():
            for line in self.p.stderr:
                self.stderr.append(line.rstrip("\n"))
                if line.startswith(self.ready_prefix):
                    ready.set()
            ready.set()

        self.pump = threading.Thread(target=pump, daemon=True)
        self.pump.start()
        ready.wait(60)
        if self.p.poll() is not None:
            die("ct-record failed:\n  " + "\n  ".join(self.stderr))
        self.pid = self.p.pid
        return self

    def __exit__(self, *exc):
        self.p.send_signal(signal.SIGINT)
        code, self.usage = wait4(self.p)
        self.pump.join()
        self.detach_wait = reap_orphaned_recorders()
        if code != 0:
            die("ct-record exited with %d:\n  %s" % (code, "\n  ".join(self.stderr)))


def bpf_prog_stats(pid):
    """{program name: (run_time_ns, run_cnt)} of the BPF programs process `pid` holds open
    (kernel.bpf_stats_enabled must be 1 for the numbers to move)."""
    ids = set()
    for info in glob.glob("/proc/%d/fdinfo/*" % pid):
        try:
            with open(info) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    progs = json.loads(subprocess.check_output(["bpftool", "prog", "show", "-j"], text=True))
    return {p["name"]: (p.get("run_time_ns", 0), p.get("run_cnt", 0))
            for p in progs if p["id"] in ids}


class BpfStats:
    """kernel.bpf_stats_enabled=1 for the duration of a `with` block (restored after)."""
    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        with open(self.PATH) as f:
            self.old = f.read().strip()
        with open(self.PATH, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(self.PATH, "w") as f:
            f.write(self.old)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def pid_cpu(pid):
    """utime + stime of a process (all threads) in seconds, None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def machine_busy():
    """CPU seconds spent busy by the whole machine so far (all CPUs)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v[:8]) - idle) / CLK_TCK


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def check_capture(cfg, path, pattern_pid=None):
    cmd = [cfg.bin("record-bench-check"), path]
    if pattern_pid is not None:
        cmd += ["--pattern-pid", str(pattern_pid)]
    return json.loads(subprocess.check_output(cmd, text=True))


# ---- formatting --------------------------------------------------------------------------------

def med(values):
    return statistics.median(values) if values else float("nan")


def spread(values, fmt):
    if not values:
        return "-"
    return "%s [%s-%s]" % (fmt(med(values)), fmt(min(values)), fmt(max(values)))


def us(ns):
    return "%.1f" % (ns / 1000.0) if ns < 100000 else "%.0f" % (ns / 1000.0)


def x2(v):
    return "%.2f" % v


def verdict(ok):
    return "met" if ok else "MISSED"


def table(rows, indent="  "):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [str(c).rjust(w) if i else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append(indent + "  ".join(cells).rstrip())
        if n == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- 1. per-call cost --------------------------------------------------------------------------

# The functions ct-record probes on GnuTLS's I/O path (gnutls_record_send is a tail call
# into gnutls_record_send2 in GnuTLS 3.7, and ct-record probes both).
GNUTLS_IO = ("gnutls_record_send", "gnutls_record_send2", "gnutls_record_recv")


def per_call(cfg, gnutls=False):
    log("[%s] per-call cost%s: %d rounds" % ("8" if gnutls else "1", " (GnuTLS)" if gnutls else "",
                                            cfg.rounds))
    sizes = [(100, cfg.pairs_small), (MIB, cfg.pairs_big)]
    res = {s: {k: [] for k in ("untraced", "empty", "ct", "ratio", "over", "lost", "events",
                               "detach", "cpu_untraced", "cpu_empty", "cpu_ct", "cpu_ratio",
                               "cpu_over")} for s, _ in sizes}
    for s, _ in sizes:
        res[s]["bpf"] = {}
        res[s]["ct_cpu"] = []
    if gnutls:
        w = Workload(cfg, cfg.lib_traced, "record-bench-gnutls-workload")
        probed, functions = cfg.gnutls_probed, GNUTLS_IO
    else:
        w = Workload(cfg, cfg.lib_traced)
        probed, functions = cfg.lib_probed, ()
    modes = ["untraced", "empty", "ct"]
    load_start = loadavg()
    try:
        for rnd in range(cfg.rounds):
            for size, pairs in sizes:
                warm = max(pairs // 20, 2)
                order = modes[rnd % 3:] + modes[:rnd % 3]
                got = {}
                for mode in order:
                    if mode == "untraced":
                        w.run(warm, size)
                        # Cheap: more pairs for the same precision.
                        got[mode] = w.run(pairs * 10 if size < KIB else pairs, size)
                    elif mode == "empty":
                        with EmptyProbe(cfg, probed, functions):
                            w.run(warm, size)
                            got[mode] = w.run(pairs, size)
                    else:
                        out = os.path.join(cfg.work, "percall.ctz")
                        with CtRecord(cfg, w.pid, out, cfg.ct_args) as ct:
                            w.run(warm, size)
                            cpu0 = pid_cpu(ct.pid)
                            if cfg.bpf_stats:
                                with BpfStats():
                                    before = bpf_prog_stats(ct.pid)
                                    got[mode] = w.run(pairs, size)
                                    after = bpf_prog_stats(ct.pid)
                                for name, (ns, cnt) in after.items():
                                    d_ns, d_cnt = ns - before[name][0], cnt - before[name][1]
                                    if d_cnt:
                                        res[size]["bpf"].setdefault(name, []).append(
                                            (d_cnt / pairs, d_ns / d_cnt, d_ns / pairs))
                            else:
                                got[mode] = w.run(pairs, size)
                            cpu = pid_cpu(ct.pid) - cpu0
                            res[size]["ct_cpu"].append(cpu * 1e9 / pairs)
                        c = check_capture(cfg, out)
                        tr = c["trailer"]
                        res[size]["lost"].append(tr["lost_events"] if tr else -1)
                        res[size]["events"].append(c["events"])
                        res[size]["detach"].append(ct.detach_wait)
                        os.unlink(out)
                r = res[size]
                cpu = {m: v[1] for m, v in got.items()}
                got = {m: v[0] for m, v in got.items()}
                for mode in modes:
                    r[mode].append(got[mode])
                    r["cpu_" + mode].append(cpu[mode])
                r["ratio"].append(got["ct"] / got["empty"])
                r["over"].append((got["ct"] - got["untraced"]) / (got["empty"] - got["untraced"]))
                r["cpu_ratio"].append(cpu["ct"] / cpu["empty"])
                r["cpu_over"].append((cpu["ct"] - cpu["untraced"]) /
                                     (cpu["empty"] - cpu["untraced"]))
                log("    round %d, %7d B: untraced %s us, empty %s us, ct-record %s us per pair"
                    ", ct/empty %.2f (thread CPU %.2f)"
                    % (rnd + 1, size, us(got["untraced"]), us(got["empty"]), us(got["ct"]),
                       got["ct"] / got["empty"], cpu["ct"] / cpu["empty"]))
    finally:
        w.close()
    res["load"] = (load_start, loadavg())
    return res


# ---- 10. --watch: what a process that matches no rule pays -------------------------------------

def watch_cost(cfg):
    """ct-record --watch with a rule the workload does not match, its probes on the workload's
    libssl (--binary): the workload pays the probes' first map lookup. Interleaved with no
    recorder and with empty probes, as in part 1 (100 B pairs). Then the exec tracepoint's
    run time per exec, --watch (rules looked up for every untraced exec) against -p (one
    lookup), over /bin/true runs, from kernel.bpf_stats_enabled."""
    log("[10] --watch, a process that matches no rule: %d rounds" % cfg.rounds)
    pairs = cfg.pairs_small
    res = {k: [] for k in ("untraced", "empty", "watch", "ratio", "cpu_ratio", "probe_ns")}
    w = Workload(cfg, cfg.lib_traced)

    def watcher(tag):
        out = os.path.join(cfg.work, "watch-%s" % tag)
        shutil.rmtree(out, ignore_errors=True)
        cmd = [cfg.ct_record, "--watch", "--no-status", "--match-name", "ct-bench-nomatch",
               "--match-exe", "/bin/false", "--output-dir", out, "--binary", cfg.lib_probed,
               "--no-system-libs"] + cfg.ct_extra
        return CtRecord(cfg, 0, out, cmdline=cmd, ready="ct-record: watching for")

    modes = ["untraced", "empty", "watch"]
    try:
        for rnd in range(cfg.rounds):
            got = {}
            for mode in modes[rnd % 3:] + modes[:rnd % 3]:
                if mode == "untraced":
                    w.run(max(pairs // 20, 2), 100)
                    got[mode] = w.run(pairs, 100)
                elif mode == "empty":
                    with EmptyProbe(cfg, cfg.lib_probed):
                        w.run(max(pairs // 20, 2), 100)
                        got[mode] = w.run(pairs, 100)
                else:
                    with watcher(rnd) as ct:
                        w.run(max(pairs // 20, 2), 100)
                        with BpfStats():
                            before = bpf_prog_stats(ct.pid)
                            got[mode] = w.run(pairs, 100)
                            after = bpf_prog_stats(ct.pid)
                        ns = cnt = 0
                        for name, (t, c) in after.items():
                            if name.startswith("probe_"):
                                ns += t - before.get(name, (0, 0))[0]
                                cnt += c - before.get(name, (0, 0))[1]
                        res["probe_ns"].append(ns / cnt if cnt else float("nan"))
            for mode in modes:
                res[mode].append(got[mode][0])
            res["ratio"].append(got["watch"][0] / got["empty"][0])
            res["cpu_ratio"].append(got["watch"][1] / got["empty"][1])
            log("    round %d: untraced %s us, empty %s us, --watch (no match) %s us per pair, "
                "watch/empty %.2f" % (rnd + 1, us(got["untraced"][0]), us(got["empty"][0]),
                                      us(got["watch"][0]), res["ratio"][-1]))
    finally:
        w.close()
    # The exec tracepoint: --watch against -p, over the same execs.
    execs = 300 if cfg.quick else 1000
    idle = subprocess.Popen(["sleep", "1000000"])
    res["exec"] = {}
    try:
        for label, rec in (("-p (one lookup)", CtRecord(cfg, idle.pid,
                                                         os.path.join(cfg.work, "exec.ctz"),
                                                         ["--wait"] + cfg.ct_args)),
                           ("--watch (rules)", watcher("exec"))):
            with rec as ct:
                with BpfStats():
                    before = bpf_prog_stats(ct.pid).get("handle_exec", (0, 0))
                    for _ in range(execs):
                        subprocess.run(["/bin/true"])
                    after = bpf_prog_stats(ct.pid).get("handle_exec", (0, 0))
            d_ns, d_cnt = after[0] - before[0], after[1] - before[1]
            res["exec"][label] = (d_ns / d_cnt if d_cnt else float("nan"), d_cnt)
            log("    exec tracepoint under %s: %.0f ns per run over %d runs"
                % (label, res["exec"][label][0], d_cnt))
    finally:
        idle.kill()
        idle.wait()
    res["load"] = loadavg()
    return res


def report_watch(cfg, wc):
    p = print
    p("10. --watch: a process that matches no rule, its libssl probed by ct-record --watch")
    p("    (--binary), 100 B SSL_write+SSL_read pairs, us per pair, median [min-max] of %d rounds"
      % cfg.rounds)
    rows = [("untraced", "empty probe", "--watch, no match", "watch/empty", "thread CPU",
             "probe run time")]
    rows.append((spread(wc["untraced"], us), spread(wc["empty"], us), spread(wc["watch"], us),
                 spread(wc["ratio"], x2), spread(wc["cpu_ratio"], x2),
                 "%.0f ns/run" % med(wc["probe_ns"])))
    p(table(rows, "    "))
    for label, (ns, cnt) in wc["exec"].items():
        p("    exec tracepoint (handle_exec) under %s: %.0f ns per run (%d runs)"
          % (label, ns, cnt))
    p("    load average %s" % (wc["load"],))
    p("")


# ---- 11. BIO_write: what its probe costs, untraced and traced ---------------------------------

SSL_IO = ("SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex")
# Empty probes where ct-record puts its BIO_write probes (the first instruction the kernel
# emulates, locate/probe_placement.hpp), and on the functions' first instruction (where
# ct-record put them before; usually copied out of line and single-stepped).
BIO_IO = ("BIO_write:emulated", "BIO_write_ex:emulated")
BIO_IO_AT_ENTRY = ("BIO_write:entry", "BIO_write_ex:entry")


def private_openssl(cfg, name):
    """A directory with private copies of libssl.so.3 and libcrypto.so.3 (their own inodes:
    probes other recordings put on the system's copies do not reach them)."""
    d = os.path.join(cfg.work, name)
    os.makedirs(d, exist_ok=True)
    for lib in (cfg.system_libssl, cfg.system_libcrypto):
        shutil.copy2(lib, os.path.join(d, os.path.basename(lib)))
    return d, os.path.join(d, "libssl.so.3"), os.path.join(d, "libcrypto.so.3")


def probe_runs(after, before, name):
    """(runs, ns per run) of BPF program `name` between two bpf_prog_stats() snapshots."""
    t1, c1 = after.get(name, (0, 0))
    t0, c0 = before.get(name, (0, 0))
    return c1 - c0, ((t1 - t0) / (c1 - c0) if c1 > c0 else float("nan"))


def bio_cost(cfg):
    """ct-record probes BIO_write/BIO_write_ex on the libcrypto its target maps, for every
    process that maps the same file. (a) A process that is not traced, on the same copies
    as a process ct-record -p records: BIO_write on a memory BIO and TLS pairs, with no
    probe, under empty probes on the functions ct-record traps on that path, and while
    ct-record records the other process. (b) The traced process: TLS pairs over a BIO pair
    (no socket: its connections never find one) and SSL_write over TCP to a sink (the
    socket is found), under empty probes without and with BIO_write, and under ct-record
    without (CT_BENCH_NO_BIO_WRITE) and with its BIO_write probe."""
    log("[11] BIO_write probe: %d rounds" % cfg.rounds)
    _, shared_ssl, shared_crypto = private_openssl(cfg, "lib-bio-shared")
    lib_w, w_ssl, w_crypto = private_openssl(cfg, "lib-bio-traced")
    lib_sink, _, _ = private_openssl(cfg, "lib-bio-sink")
    bio_calls = 4000 if cfg.quick else 10000
    pairs = cfg.pairs_small // 2
    big_pairs = cfg.pairs_big // 2
    tcp_seconds = 0.5 if cfg.quick else 1.0
    res = {"a": {}, "b": {}, "bpf": {}}
    load_start = loadavg()
    # kernel.bpf_stats_enabled for the whole part, so that every mode pays its accounting.
    with BpfStats():
        bio_cost_a(cfg, res, shared_ssl, shared_crypto, bio_calls, pairs)
        bio_cost_b(cfg, res, lib_w, w_ssl, w_crypto, lib_sink, pairs, big_pairs, tcp_seconds)
    res["load"] = (load_start, loadavg())
    return res


def bio_cost_a(cfg, res, shared_ssl, shared_crypto, bio_calls, pairs):
    def add(key, mode, value):
        res["a"].setdefault(key, {}).setdefault(mode, []).append(value)

    # (a) the untraced process u shares its libraries with t, the process ct-record records.
    u = Workload(cfg, os.path.dirname(shared_ssl))
    t = Workload(cfg, os.path.dirname(shared_ssl))
    modes = ["none", "empty_entry", "empty", "ct"]
    try:
        for rnd in range(cfg.rounds):
            got = {}
            for mode in modes[rnd % 4:] + modes[:rnd % 4]:
                def measure():
                    u.cmd("bio %d 100" % max(bio_calls // 20, 2))
                    n = bio_calls * (20 if mode == "none" else 1)
                    b = u.cmd("bio %d 100" % n)
                    u.run(max(pairs // 20, 2), 100)
                    r = u.run(pairs * (10 if mode == "none" else 1), 100)
                    return (float(b["ns_per_call"]), float(b["cpu_ns_per_call"])), r
                if mode == "none":
                    got[mode] = measure()
                elif mode.startswith("empty"):
                    bio = BIO_IO if mode == "empty" else BIO_IO_AT_ENTRY
                    with EmptyProbe(cfg, shared_crypto, bio), EmptyProbe(cfg, shared_ssl, SSL_IO):
                        got[mode] = measure()
                else:
                    out = os.path.join(cfg.work, "bio-a.ctz")
                    with CtRecord(cfg, t.pid, out, ["--no-system-libs"] + cfg.ct_extra) as ct:
                        before = bpf_prog_stats(ct.pid)
                        got[mode] = measure()
                        after = bpf_prog_stats(ct.pid)
                    res["bpf"].setdefault("untraced", []).append(
                        probe_runs(after, before, "probe_entry_BIO_write")[1])
                    os.unlink(out)
            for i, key in ((0, "bio"), (1, "tls")):
                for mode in modes:
                    add(key, mode, got[mode][i][0])
                    add(key + "_cpu", mode, got[mode][i][1])
            log("    round %d (a) untraced: BIO_write %s us, TLS pair %s us (none / empty, BIO_write "
                "probe on the entry / empty / ct-record)"
                % (rnd + 1, " / ".join(us(got[m][0][0]) for m in modes),
                   " / ".join(us(got[m][1][0]) for m in modes)))
    finally:
        u.close()
        t.close()



def bio_cost_b(cfg, res, lib_w, w_ssl, w_crypto, lib_sink, pairs, big_pairs, tcp_seconds):
    def add(key, mode, value):
        res["b"].setdefault(key, {}).setdefault(mode, []).append(value)

    def bpf(key, value):
        res["bpf"].setdefault(key, []).append(value)

    # (b) the traced process w.
    env = dict(os.environ, LD_LIBRARY_PATH=lib_sink)
    sink = subprocess.Popen([cfg.bin("record-bench-workload"), "--sink"], stdout=subprocess.PIPE,
                            text=True, env=env)
    port = int(sink.stdout.readline().split()[1])
    w = Workload(cfg, lib_w)
    w.cmd("connect %d" % port)
    modes = ["none", "empty_ssl", "empty_all", "ct_nobio", "ct"]
    try:
        for rnd in range(cfg.rounds):
            got = {}
            for mode in modes[rnd % 5:] + modes[:rnd % 5]:
                def measure(snap=lambda phase: None):
                    w.run(max(pairs // 20, 2), 100)
                    snap("pair0")
                    small = w.run(pairs * (10 if mode == "none" else 1), 100)
                    w.run(2, MIB)
                    big = w.run(big_pairs, MIB)
                    snap("pair1")
                    w.cmd("blast 0.05 100")
                    snap("tcp0")
                    b = w.cmd("blast %g 100" % tcp_seconds)
                    snap("tcp1")
                    tcp = float(b["seconds"]) * 1e9 / float(b["calls"])
                    return {"small": small[0], "small_cpu": small[1], "big": big[0],
                            "big_cpu": big[1], "tcp": tcp}
                if mode == "none":
                    got[mode] = measure()
                elif mode.startswith("empty"):
                    with EmptyProbe(cfg, w_ssl, SSL_IO):
                        if mode == "empty_all":
                            with EmptyProbe(cfg, w_crypto, BIO_IO):
                                got[mode] = measure()
                        else:
                            got[mode] = measure()
                else:
                    out = os.path.join(cfg.work, "bio-b.ctz")
                    ct = CtRecord(cfg, w.pid, out, ["--no-system-libs"] + cfg.ct_extra)
                    old = os.environ.pop("CT_BENCH_NO_BIO_WRITE", None)
                    if mode == "ct_nobio":
                        os.environ["CT_BENCH_NO_BIO_WRITE"] = "1"
                    snaps = {}
                    try:
                        with ct:
                            m = measure(lambda phase: snaps.__setitem__(phase,
                                                                        bpf_prog_stats(ct.pid)))
                    finally:
                        os.environ.pop("CT_BENCH_NO_BIO_WRITE", None)
                        if old is not None:
                            os.environ["CT_BENCH_NO_BIO_WRITE"] = old
                    got[mode] = m
                    if mode == "ct":
                        # The BIO pair's connection never has a socket; the TCP one has
                        # its socket from its first call under ct-record on.
                        bpf("traced_nosocket", probe_runs(snaps["pair1"], snaps["pair0"],
                                                          "probe_entry_BIO_write")[1])
                        bpf("traced_socket", probe_runs(snaps["tcp1"], snaps["tcp0"],
                                                        "probe_entry_BIO_write")[1])
                    c = check_capture(cfg, out)
                    tr = c["trailer"]
                    add("lost", mode, tr["lost_events"] if tr else -1)
                    os.unlink(out)
            for key in ("small", "small_cpu", "big", "big_cpu", "tcp"):
                for mode in modes:
                    add(key, mode, got[mode][key])
            log("    round %d (b) traced, 100 B pair: %s us; 1 MiB pair: %s us; TCP SSL_write "
                "100 B: %s us (none / empty SSL / empty SSL+BIO / ct no BIO / ct)"
                % (rnd + 1, " / ".join(us(got[m]["small"]) for m in modes),
                   " / ".join(us(got[m]["big"]) for m in modes),
                   " / ".join(us(got[m]["tcp"]) for m in modes)))
    finally:
        try:
            w.cmd("close")
        except SystemExit:
            pass
        w.close()
        sink.kill()
        sink.wait()


def ratios(values, num, den):
    return [a / b for a, b in zip(values[num], values[den])]


def report_bio(cfg, bc):
    p = print
    p("11. BIO_write: what its probe costs. ct-record probes BIO_write and BIO_write_ex on the")
    p("    libcrypto its target maps, for every process mapping that file. us per call,")
    p("    median [min-max] of %d rounds; ratios are per round." % cfg.rounds)
    p("  (a) A process that is NOT traced, sharing libssl/libcrypto with the process ct-record -p")
    p("      records: 'empty' = empty uprobe on BIO_write(_ex) where ct-record puts its probe")
    p("      (the first instruction the kernel emulates) + empty uprobe+uretprobe on")
    p("      SSL_write/SSL_read(_ex): the traps ct-record's probes take on these paths; 'empty,")
    p("      entry' = the same with the BIO_write probes on the functions' first instruction.")
    a = bc["a"]
    rows = [("call", "none", "empty, entry", "empty", "ct-record", "empty/none",
             "entry/empty", "ct/empty", "ct/empty CPU")]
    for key, name in (("bio", "BIO_write(100 B), memory BIO"),
                      ("tls", "SSL_write+SSL_read 100 B, BIO pair")):
        v, c = a[key], a[key + "_cpu"]
        rows.append((name, spread(v["none"], us), spread(v["empty_entry"], us),
                     spread(v["empty"], us), spread(v["ct"], us),
                     spread(ratios(v, "empty", "none"), x2),
                     spread(ratios(v, "empty_entry", "empty"), x2),
                     spread(ratios(v, "ct", "empty"), x2), spread(ratios(c, "ct", "empty"), x2)))
    p(table(rows, "      "))
    rows = [("thread CPU", "none", "empty, entry", "empty", "ct-record")]
    for key, name in (("bio_cpu", "BIO_write(100 B)"), ("tls_cpu", "TLS pair 100 B")):
        v = a[key]
        rows.append((name, spread(v["none"], us), spread(v["empty_entry"], us),
                     spread(v["empty"], us), spread(v["ct"], us)))
    p(table(rows, "      "))
    p("      ct-record's BIO_write program in this process: %.0f ns per run (bpf_stats)."
      % med(bc["bpf"].get("untraced", [])))
    p("  (b) The traced process (ct-record -p): per pair over a BIO pair (the connection has no")
    p("      socket) and per SSL_write(100 B) over TCP loopback to a sink (socket found).")
    p("      'empty SSL' = part 1's floor; '+BIO' adds an empty uprobe on BIO_write(_ex) where")
    p("      ct-record puts its own;")
    p("      'ct no BIO' = ct-record with CT_BENCH_NO_BIO_WRITE=1 (no BIO_write probe).")
    b = bc["b"]
    rows = [("call", "none", "empty SSL", "empty SSL+BIO", "ct no BIO", "ct-record",
             "ct/empty SSL+BIO", "ct/ct no BIO", "+BIO/empty SSL")]
    for key, name in (("small", "100 B pair (2 calls, 1 record)"),
                      ("big", "1 MiB pair (1 + 64 calls, 64 records)"),
                      ("tcp", "SSL_write 100 B over TCP")):
        v = b[key]
        rows.append((name, spread(v["none"], us), spread(v["empty_ssl"], us),
                     spread(v["empty_all"], us), spread(v["ct_nobio"], us), spread(v["ct"], us),
                     spread(ratios(v, "ct", "empty_all"), x2),
                     spread(ratios(v, "ct", "ct_nobio"), x2),
                     spread(ratios(v, "empty_all", "empty_ssl"), x2)))
    p(table(rows, "      "))
    rows = [("thread CPU", "none", "empty SSL", "empty SSL+BIO", "ct no BIO", "ct-record",
             "ct/empty SSL+BIO", "ct/ct no BIO")]
    for key, name in (("small_cpu", "100 B pair"), ("big_cpu", "1 MiB pair")):
        v = b[key]
        rows.append((name, spread(v["none"], us), spread(v["empty_ssl"], us),
                     spread(v["empty_all"], us), spread(v["ct_nobio"], us), spread(v["ct"], us),
                     spread(ratios(v, "ct", "empty_all"), x2),
                     spread(ratios(v, "ct", "ct_nobio"), x2)))
    p(table(rows, "      "))
    lost = {m: sum(v) for m, v in b.get("lost", {}).items()}
    p("      ct-record's BIO_write program (bpf_stats), traced: %.0f ns per run on the BIO pair"
      % med(bc["bpf"].get("traced_nosocket", [])))
    p("      (the connection has no socket: 24 bytes read and keyed per record), %.0f ns per run"
      % med(bc["bpf"].get("traced_socket", [])))
    p("      over TCP (its socket known). Lost events: %s."
      % (", ".join("%s %d" % kv for kv in sorted(lost.items())) or "-"))
    p("    Load average during part 11: %s -> %s." % bc["load"])
    p("")


# ---- 9. Go crypto/tls per-call cost ----------------------------------------------------------

def go_per_call(cfg):
    """Part 1 for a Go program: (*tls.Conn).Write(SIZE) + server Reads until SIZE bytes over
    net.Pipe, untraced, under empty uprobes on every place ct-record probes (the entries of
    Write, Read and Close and each RET of Write and Read), and under ct-record -p."""
    built = cfg.bin("record-bench-go-workload")
    if not os.access(built, os.X_OK):
        log("[9] skipped: record-bench-go-workload was not built (no Go toolchain)")
        return None
    log("[9] Go crypto/tls per-call cost: %d rounds" % cfg.rounds)
    # A private copy: probes of other recordings on the built file do not reach it.
    path = shutil.copy2(built, os.path.join(cfg.work, "go-workload"))
    sizes = [(100, cfg.pairs_small), (MIB, cfg.pairs_big)]
    res = {s: {k: [] for k in ("untraced", "empty", "ct", "ratio", "over", "lost",
                               "cpu_untraced", "cpu_empty", "cpu_ct", "cpu_ratio")}
           for s, _ in sizes}
    w = GoWorkload(path)
    modes = ["untraced", "empty", "ct"]
    load_start = loadavg()
    try:
        for rnd in range(cfg.rounds):
            for size, pairs in sizes:
                warm = max(pairs // 20, 2)
                order = modes[rnd % 3:] + modes[:rnd % 3]
                got = {}
                for mode in order:
                    if mode == "untraced":
                        w.run(warm, size)
                        got[mode] = w.run(pairs, size)
                    elif mode == "empty":
                        with EmptyProbe(cfg, path, go=True):
                            w.run(warm, size)
                            got[mode] = w.run(pairs, size)
                    else:
                        out = os.path.join(cfg.work, "go-percall.ctz")
                        with CtRecord(cfg, w.pid, out, cfg.ct_args):
                            w.run(warm, size)
                            got[mode] = w.run(pairs, size)
                        c = check_capture(cfg, out)
                        tr = c["trailer"]
                        res[size]["lost"].append(tr["lost_events"] if tr else -1)
                        os.unlink(out)
                r = res[size]
                for mode in modes:
                    r[mode].append(got[mode][0])
                    r["cpu_" + mode].append(got[mode][1])
                r["ratio"].append(got["ct"][0] / got["empty"][0])
                r["over"].append((got["ct"][0] - got["untraced"][0]) /
                                 (got["empty"][0] - got["untraced"][0]))
                r["cpu_ratio"].append(got["ct"][1] / got["empty"][1])
                log("    round %d, %7d B: untraced %s us, empty %s us, ct-record %s us per pair"
                    ", ct/empty %.2f" % (rnd + 1, size, us(got["untraced"][0]),
                                         us(got["empty"][0]), us(got["ct"][0]),
                                         got["ct"][0] / got["empty"][0]))
    finally:
        w.close()
    res["load"] = (load_start, loadavg())
    return res


def go_report(cfg, go):
    p = print
    p("9. Go crypto/tls per-call cost: (*tls.Conn).Write(SIZE) + server Reads until SIZE")
    p("   bytes, client and server goroutines in one process over net.Pipe (no syscalls).")
    p("   'empty probe' = empty uprobes on every place ct-record probes (entries of Write,")
    p("   Read, Close; each RET of Write and Read: no uretprobes, Go moves stacks). us per")
    p("   pair, median [min-max] of %d rounds; CPU = the whole process (goroutines move" %
      cfg.rounds)
    p("   between threads).")
    rows = [("size", "untraced", "empty probe", "ct-record", "ct/empty", "overheads",
             "CPU ct/empty", "lost events")]
    for size, name in ((100, "100 B"), (MIB, "1 MiB")):
        r = go[size]
        rows.append((name, spread(r["untraced"], us), spread(r["empty"], us),
                     spread(r["ct"], us), spread(r["ratio"], x2), spread(r["over"], x2),
                     spread(r["cpu_ratio"], x2), "%d" % sum(r["lost"])))
    p(table(rows))
    p("   The same in CPU time of the workload process (us per pair), which does not count")
    p("   waiting for a CPU: each probe trap is a kernel entry, after which a busy machine")
    p("   may run something else first, and the untraced run makes no kernel entry at all.")
    rows = [("size", "untraced", "empty probe", "ct-record", "ct/empty")]
    for size, name in ((100, "100 B"), (MIB, "1 MiB")):
        r = go[size]
        rows.append((name, spread(r["cpu_untraced"], us), spread(r["cpu_empty"], us),
                     spread(r["cpu_ct"], us), spread(r["cpu_ratio"], x2)))
    p(table(rows))
    p("   A Read returns at most one TLS record (16 KiB): 1 MiB is 1 Write and >= 64 Reads,")
    p("   both sides recorded (2 x SIZE bytes per pair).")
    p("   Load average during part 9: %s -> %s." % (go["load"][0], go["load"][1]))
    p("")


# ---- 2, 3, 5. sustained writes -----------------------------------------------------------------

def smaps_rss(pid):
    """(total RSS, RSS of the BPF map mappings) in bytes, from /proc/PID/smaps."""
    total = bpf = 0
    name = ""
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                    parts = line.split()
                    name = parts[5] if len(parts) > 5 else ""
                elif line.startswith("Rss:"):
                    kb = int(line.split()[1]) * KIB
                    total += kb
                    if name.startswith("anon_inode:bpf-map"):
                        bpf += kb
    except (OSError, ValueError):
        return None
    return total, bpf


def sustained(cfg):
    log("[2] sustained 16 KiB writes for %g s under ct-record" % cfg.blast_seconds)
    env = dict(os.environ, LD_LIBRARY_PATH=cfg.lib_sink) if cfg.lib_sink else None
    sink = subprocess.Popen([cfg.bin("record-bench-workload"), "--sink"], stdout=subprocess.PIPE,
                            text=True, env=env)
    port = int(sink.stdout.readline().split()[1])
    w = Workload(cfg, cfg.lib_traced)
    out = os.path.join(cfg.work, "sustained.ctz")
    samples = []
    try:
        w.cmd("connect %d" % port)
        with CtRecord(cfg, w.pid, out, cfg.ct_args) as ct:
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    s = smaps_rss(ct.pid)
                    if s:
                        samples.append(s)
                    stop.wait(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            pids = {"client": w.pid, "sink": sink.pid, "ct-record": ct.pid}
            cpu0 = {k: pid_cpu(v) for k, v in pids.items()}
            busy0, t0 = machine_busy(), time.monotonic()
            blast = w.cmd("blast %g %d" % (cfg.blast_seconds, 16 * KIB))
            wall = time.monotonic() - t0
            cpu = {k: (pid_cpu(v) - cpu0[k]) / wall for k, v in pids.items()}
            cpu["rest of the machine"] = (machine_busy() - busy0) / wall - sum(cpu.values())
            w.cmd("close")
            time.sleep(0.3)  # the close events
            stop.set()
            sampler.join()
        sink_line = sink.stdout.readline().split()
        sink_bytes = int(sink_line[1]) if sink_line and sink_line[0] == "closed" else -1
    finally:
        w.close()
        sink.kill()
        sink.wait()
    log("    checking the capture")
    c = check_capture(cfg, out, pattern_pid=w.pid)
    file_bytes = os.path.getsize(out)
    os.unlink(out)
    return {"blast": {k: float(v) for k, v in blast.items()}, "sink_bytes": sink_bytes,
            "check": c, "usage": ct.usage, "samples": samples, "file_bytes": file_bytes,
            "stderr": ct.stderr, "cpu": cpu}


def lossless(cfg):
    """{(size, mode): {calls, bytes, seconds, lost, equal, stops}} for blasts under
    ct-record with its default settings and with --lossless, interleaved by size."""
    out = {}
    env = dict(os.environ, LD_LIBRARY_PATH=cfg.lib_sink) if cfg.lib_sink else None
    seconds = 3 if cfg.quick else 8
    for size in (100, 16 * KIB, MIB):
        for mode, extra in (("default", []), ("--lossless", ["--lossless"])):
            log("[7] %s calls of %d B for %g s, %s" % ("SSL_write", size, seconds, mode))
            sink = subprocess.Popen([cfg.bin("record-bench-workload"), "--sink"],
                                    stdout=subprocess.PIPE, text=True, env=env)
            port = int(sink.stdout.readline().split()[1])
            w = Workload(cfg, cfg.lib_traced)
            path = os.path.join(cfg.work, "lossless.ctz")
            try:
                w.cmd("connect %d" % port)
                with CtRecord(cfg, w.pid, path, cfg.ct_args + extra) as ct:
                    blast = w.cmd("blast %g %d" % (seconds, size))
                    w.cmd("close")
                    time.sleep(0.3)
            finally:
                w.close()
                sink.kill()
                sink.wait()
            c = check_capture(cfg, path, pattern_pid=w.pid)
            os.unlink(path)
            b = {k: float(v) for k, v in blast.items()}
            tr = c["trailer"] or {}
            stops = next((l.split()[4] for l in ct.stderr if "--lossless held" in l), "0")
            out[(size, mode)] = {
                "calls": b["calls"], "bytes": b["bytes"], "seconds": b["seconds"],
                "lost": tr.get("lost_events", -1),
                "equal": c["data_bytes_write"] == b["bytes"] and c["pattern_mismatch_bytes"] == 0
                and c["pattern_bytes"] == b["bytes"], "stops": stops}
    return out


# ---- 4. capture size on agent traffic ----------------------------------------------------------

def agent(cfg, turns, event_delay_ms, label):
    log("[4] agent conversation (%s): %d turns, %g ms between SSE events" % (label, turns,
                                                                          event_delay_ms))
    d = os.path.join(cfg.work, "llm-" + label)
    os.makedirs(d)
    cert, key = os.path.join(cfg.work, "cert.pem"), os.path.join(cfg.work, "key.pem")
    if not os.path.exists(cert):
        subprocess.check_call(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                               "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                               "-days", "2", "-subj", "/CN=localhost"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen([PYTHON, os.path.join(REPO, "tests/servers/mock_llm_server.py"),
                               "--cert", cert, "--key", key, "--log-dir", os.path.join(d, "log"),
                               "--scenario", "text", "--event-delay-ms", str(event_delay_ms)],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        out = os.path.join(d, "agent.ctz")
        rec = subprocess.Popen([cfg.ct_record, "-w", out, "-f", "--no-status", "-q"] +
                               cfg.ct_extra + ["--", PYTHON,
                                os.path.join(HERE, "agent_client.py"), "--port", str(port),
                                "--repo", REPO, "--turns", str(turns)],
                               stdout=subprocess.PIPE, text=True)
        client_out = rec.stdout.read()
        code, _ = wait4(rec)
        reap_orphaned_recorders()
        if code != 0:
            die("the agent client under ct-record exited with %d" % code)
        client = json.loads(client_out.strip().splitlines()[-1])
        time.sleep(0.2)  # the server's last index write
    finally:
        server.terminate()
        server.wait()
    with open(os.path.join(d, "log", "index.json")) as f:
        conns = json.load(f)["connections"]
    plain = sum(c["recv_bytes"] + c["sent_bytes"] for c in conns)
    c = check_capture(cfg, out)
    reframed = json.loads(subprocess.check_output([cfg.bin("record-bench-reframe"), out],
                                                  text=True))
    # For reference: the same plaintext as one zstd stream at the recorder's default level.
    logs = sorted(glob.glob(os.path.join(d, "log", "conn-*.recv")) +
                  glob.glob(os.path.join(d, "log", "conn-*.sent")))
    blob = b"".join(open(p, "rb").read() for p in logs)
    one_stream = len(subprocess.run(["zstd", "-3", "-c", "-q"], input=blob,
                                    capture_output=True).stdout)
    return {"label": label, "turns": turns, "delay": event_delay_ms, "client": client,
            "plain": plain, "file_bytes": os.path.getsize(out), "check": c,
            "one_stream": one_stream, "reframed": reframed}


# ---- report ------------------------------------------------------------------------------------

def launch(cfg):
    """Seconds from Popen(ct-record -- date) to `date` printing its start time."""
    out = {"idle": [], "back-to-back": []}
    path = os.path.join(cfg.work, "launch.ctz")
    runs = 3 if cfg.quick else 6
    # System libraries stay on: they are most of the probes a real start attaches.
    args = [cfg.ct_record, "--no-status", "-q", "-f", "-w", path] + cfg.ct_extra
    for mode in ("idle", "back-to-back"):
        for _ in range(runs):
            if mode == "idle":
                reap_orphaned_recorders()
                time.sleep(0.5)
            t0 = time.time()
            r = subprocess.run(args + ["--", "date", "+%s.%N"], capture_output=True, text=True)
            if r.returncode != 0:
                die("ct-record -- date failed: " + r.stderr)
            out[mode].append(float(r.stdout.split()[0]) - t0)
    reap_orphaned_recorders()
    return out


def report_gnutls(cfg, pc):
    p = print
    p("8. Per-call cost of the GnuTLS probes: gnutls_record_send until SIZE bytes are sent + ")
    p("   gnutls_record_recv until SIZE bytes arrived, a GnuTLS client and server (PSK) in one")
    p("   thread over in-memory transport functions (no syscalls); traced copy %s."
      % cfg.gnutls_probed)
    p("   The empty probe is on the functions ct-record probes on that path: %s."
      % ", ".join(GNUTLS_IO))
    p("   us per pair, median [min-max] of %d rounds; ratios are per round." % cfg.rounds)
    rows = [("size", "calls/pair", "untraced", "empty probe", "ct-record", "ct/empty",
             "overheads", "thread CPU ct/empty", "lost events")]
    for size, name, calls in ((100, "100 B", "1 + 1"), (MIB, "1 MiB", "64 + 64")):
        r = pc[size]
        rows.append((name, calls, spread(r["untraced"], us), spread(r["empty"], us),
                     spread(r["ct"], us), spread(r["ratio"], x2), spread(r["over"], x2),
                     spread(r["cpu_ratio"], x2), "%d" % sum(r["lost"])))
    p(table(rows))
    p("   A GnuTLS send carries one record (<= 16 KiB): a 1 MiB pair is 64 sends (each one")
    p("   traps twice, gnutls_record_send and gnutls_record_send2) and 64 receives.")
    p("   Load average during part 8: %s -> %s." % (pc["load"][0], pc["load"][1]))
    p("")


def report(cfg, pc, su, ag, started, la=None, ll=None, gp=None, go=None):
    p = print
    libssl = os.path.realpath(cfg.system_libssl)
    p("ct record-bench (%s run, %s)" % ("quick" if cfg.quick else "full",
                                        time.strftime("%Y-%m-%d %H:%M")))
    p("  kernel %s, %d CPUs, %s, ct-record %s" % (platform.release(), os.cpu_count(),
                                                   os.path.basename(libssl), cfg.ct_record))
    p("  traced workload uses %s" % (cfg.lib_probed))
    p("")
    aims = []
    if pc:
        p("1. Per-call cost: SSL_write(SIZE) + SSL_read until SIZE bytes, client and server in one")
        p("   thread over a BIO pair (no syscalls). us per pair, median [min-max] of %d rounds;"
          % cfg.rounds)
        p("   ratios are per round. 'overheads' = (ct - untraced) / (empty - untraced).")
        rows = [("size", "calls/pair", "untraced", "empty probe", "ct-record", "ct/empty",
                 "overheads", "aim")]
        rows2 = [("size", "untraced", "empty probe", "ct-record", "ct/empty", "overheads",
                  "recorder CPU", "lost events")]
        for size, name, aim in ((100, "100 B", AIMS["ratio_100"]),
                                (MIB, "1 MiB", AIMS["ratio_1m"])):
            r = pc[size]
            calls = "2" if size == 100 else "1 + 64"
            ratio = med(r["ratio"])
            rows.append((name, calls, spread(r["untraced"], us), spread(r["empty"], us),
                         spread(r["ct"], us), spread(r["ratio"], x2), spread(r["over"], x2),
                         "<= %.2f %s" % (aim, verdict(ratio <= aim))))
            rows2.append((name, spread(r["cpu_untraced"], us), spread(r["cpu_empty"], us),
                          spread(r["cpu_ct"], us), spread(r["cpu_ratio"], x2),
                          spread(r["cpu_over"], x2), spread(r["ct_cpu"], us),
                          "%d" % sum(r["lost"])))
            aims.append(("ct/empty per-call time, %s calls" % name, "%.2f" % ratio,
                         "<= %.2f" % aim, ratio <= aim))
            cratio = med(r["cpu_ratio"])
            aims.append(("  the same in workload-thread CPU time", "%.2f" % cratio,
                         "<= %.2f" % aim, cratio <= aim))
        p(table(rows))
        p("   An SSL_read returns one TLS record (<= 16 KiB): a 1 MiB pair is 1 write and 64")
        p("   reads. ct-record records both sides, 2 x SIZE bytes per pair.")
        p("")
        p("   The same runs in CPU time, which does not count waiting for a CPU: the workload")
        p("   thread's own CPU us per pair (TLS + probe traps + BPF programs), and the CPU us the")
        p("   ct-record process (drain, zstd, write) spent per pair beside it: on an idle core")
        p("   that costs the workload nothing, on a busy machine it competes with it. 'lost")
        p("   events': events ct-record lost in its runs, summed over rounds.")
        p(table(rows2))
        p("   Load average during part 1: %s -> %s." % (pc["load"][0], pc["load"][1]))
        if cfg.bpf_stats:
            p("")
            p("   --bpf-stats: time inside ct-record's BPF programs during the ct-record runs")
            p("   (kernel.bpf_stats_enabled; medians over rounds; the syscall tracepoints fire for")
            p("   every process on the machine, so their count per pair is not the workload's)")
            rows = [("size", "program", "runs/pair", "ns/run", "us/pair")]
            for size, name in ((100, "100 B"), (MIB, "1 MiB")):
                for prog, vals in sorted(pc[size]["bpf"].items()):
                    rows.append((name, prog, "%.2f" % med([v[0] for v in vals]),
                                 "%.0f" % med([v[1] for v in vals]),
                                 "%.2f" % (med([v[2] for v in vals]) / 1000)))
            p(table(rows))
        p("")
    if gp:
        report_gnutls(cfg, gp)
    if su:
        b, c, u = su["blast"], su["check"], su["usage"]
        secs = b["seconds"]
        captured = c["data_bytes_write"] + c["data_bytes_read"]
        tr = c["trailer"] or {}
        lost = tr.get("lost_events", -1)
        bytes_equal = (c["data_bytes_write"] == b["bytes"] and c["pattern_mismatch_bytes"] == 0
                       and c["pattern_bytes"] == b["bytes"])
        p("2. Sustained writes: one TLS client, SSL_write(16 KiB) as fast as it can for %g s over"
          % cfg.blast_seconds)
        p("   TCP loopback to an unprobed sink, under ct-record with the default ring (64 MiB).")
        rows = [("figure", "value")]
        rows += [("calls/s", "%.0f" % (b["calls"] / secs)),
                 ("MB/s written (1e6 B)", "%.1f" % (b["bytes"] / secs / 1e6)),
                 ("calls / bytes written", "%d / %d" % (b["calls"], b["bytes"])),
                 ("bytes the sink read", "%d" % su["sink_bytes"]),
                 ("events in the capture", "%d" % c["events"]),
                 ("data events / payload bytes", "%d / %d" % (c["data_events"], captured)),
                 ("lost events (trailer)", "%d" % lost),
                 ("ring-full events (counters)", "%d" % c["counters_ring_full_events"]),
                 ("loss events / sequence gaps", "%d / %d" % (c["loss_events"], c["seq_gaps"])),
                 ("captured == written", "%s (%d bytes compared, %d differ)" % (
                     "yes" if bytes_equal else "NO", c["pattern_bytes"],
                     c["pattern_mismatch_bytes"])),
                 ("capture file", "%.1f MiB, ended cleanly: %s" % (su["file_bytes"] / MIB,
                                                                  c["ended_cleanly"])),
                 ("CPU cores used during the run", ", ".join(
                     "%s %.2f" % kv for kv in su["cpu"].items()) + " (of %d)" % os.cpu_count())]
        p(table(rows))
        aims.append(("lost events at full speed, 16 KiB calls", "%d" % lost, "0", lost == 0))
        aims.append(("captured bytes == written bytes", "yes" if bytes_equal else "no", "yes",
                     bytes_equal))
        p("")
        cpu = u.ru_utime + u.ru_stime
        gb = captured / 1e9
        p("3. Recorder CPU in that run (wait4 rusage of ct-record)")
        rows = [("figure", "value"),
                ("user + system CPU s", "%.2f + %.2f = %.2f" % (u.ru_utime, u.ru_stime, cpu)),
                ("captured payload GB", "%.3f" % gb),
                ("CPU s per captured GB", "%.2f" % (cpu / gb if gb else float("nan"))),
                ("share of one core", "%.0f %%" % (100 * cpu / secs))]
        p(table(rows))
        p("")
        s = su["samples"]
        outside = [t - r for t, r in s]
        peak_out = max(outside) / MIB if s else float("nan")
        p("5. Recorder RSS outside the ring during run 2 (/proc/PID/smaps every 0.2 s, %d samples)"
          % len(s))
        rows = [("figure", "MiB"),
                ("peak total RSS", "%.1f" % (max(t for t, _ in s) / MIB)),
                ("BPF map mappings (ring, mapped twice)", "%.1f" % (max(r for _, r in s) / MIB)),
                ("outside the ring: median", "%.1f" % (med(outside) / MIB)),
                ("outside the ring: peak", "%.1f" % peak_out),
                ("ru_maxrss (includes the ring)", "%.1f" % (u.ru_maxrss * KIB / MIB))]
        p(table(rows))
        aims.append(("recorder RSS outside the ring (peak)", "%.1f MiB" % peak_out,
                     "<= %g MiB" % AIMS["rss_mib"], peak_out <= AIMS["rss_mib"]))
        p("")
    if ag:
        p("4. Capture size over plaintext (both directions) for an agent conversation against")
        p("   mock_llm_server.py: one keep-alive connection, each request resends the whole")
        p("   conversation, SSE answers; plaintext counted by the server's raw logs.")
        rows = [("pacing", "turns", "s", "frames", "last req. KB", "plaintext MB", "capture MB",
                 "capture/plain", "aim", "stream", "prefix", "plain zstd")]
        for a in ag:
            ratio = a["file_bytes"] / a["plain"]
            rf = a["reframed"]
            rows.append(("%s (%g ms/event)" % (a["label"], a["delay"]), a["turns"],
                         "%.1f" % a["client"]["seconds"], rf["frames"],
                         "%.0f" % (a["client"]["last_request_bytes"] / 1e3),
                         "%.2f" % (a["plain"] / 1e6), "%.3f" % (a["file_bytes"] / 1e6),
                         "%.3f" % ratio, "<= %.1f %s" % (AIMS["size_ratio"],
                                                         verdict(ratio <= AIMS["size_ratio"])),
                         "%.3f" % (rf["stream"] / a["plain"]),
                         "%.3f" % (rf["prefix"] / a["plain"]),
                         "%.3f" % (a["one_stream"] / a["plain"])))
            aims.append(("capture/plaintext, agent traffic, %s" % a["label"], "%.3f" % ratio,
                         "<= %.1f" % AIMS["size_ratio"], ratio <= AIMS["size_ratio"]))
            cap = a["check"]["data_bytes_write"] + a["check"]["data_bytes_read"]
            if cap != a["plain"]:
                p("   NOTE: %s: the capture holds %d payload bytes, the server logged %d"
                  % (a["label"], cap, a["plain"]))
        p(table(rows))
        p("   The same records under other framings (record-bench-reframe), over plaintext:")
        p("   'stream': one zstd stream flushed at each of the recorder's frame boundaries, so the")
        p("   history spans frames; 'prefix': each frame compressed with the previous one as its")
        p("   prefix; 'plain zstd': the plaintext alone (no event headers) as one zstd -3 stream.")
        p("")
    if ll:
        p("7. --lossless: SSL_write(SIZE) as fast as possible over TCP loopback to an unprobed sink,")
        p("   under ct-record -p with the default ring (64 MiB), without and with --lossless.")
        rows = [("size", "mode", "MB/s written", "calls/s", "lost events", "capture == written",
                 "target stopped")]
        for (size, mode), r in ll.items():
            rows.append(("%d B" % size if size < KIB else "%d KiB" % (size // KIB)
                         if size < MIB else "%d MiB" % (size // MIB), mode,
                         "%.1f" % (r["bytes"] / r["seconds"] / 1e6),
                         "%.0f" % (r["calls"] / r["seconds"]), str(r["lost"]),
                         "yes" if r["equal"] else "NO", r["stops"]))
            if mode == "--lossless":
                aims.append(("lost events with --lossless, %s calls" % rows[-1][0], str(r["lost"]),
                             "0", r["lost"] == 0 and r["equal"]))
        p(table(rows))
        p("")
    if la:
        p("6. Launch latency: from starting `ct-record -w F -- date` (system libraries probed) to")
        p("   `date` running, seconds, median [min-max]. 'idle': the previous recording's probes")
        p("   were fully released; 'back to back': started as the previous ct-record exited.")
        rows = [("mode", "runs", "latency")]
        for mode in ("idle", "back-to-back"):
            rows.append((mode, str(len(la[mode])), spread(la[mode], lambda v: "%.3f" % v)))
            aims.append(("launch latency, %s" % mode, "%.3f s" % med(la[mode]),
                         "<= %.2f s" % AIMS["launch_s"], med(la[mode]) <= AIMS["launch_s"]))
        p(table(rows))
        p("")
    p("Aims")
    if go:
        go_report(cfg, go)
    p(table([("figure", "measured", "aim", "")] +
            [(n, m, a, verdict(ok)) for n, m, a, ok in aims]))
    p("")
    p("total time %.0f s" % (time.monotonic() - started))


# ---- main --------------------------------------------------------------------------------------

class Config:
    def bin(self, name):
        return os.path.join(self.build, "tools", "record-bench", name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("CT_BUILD_DIR", os.path.join(REPO, "build")))
    ap.add_argument("--quick", action="store_true", help="about a minute")
    ap.add_argument("--rounds", type=int, help="rounds of the per-call comparison")
    ap.add_argument("--blast-seconds", type=float, help="length of the sustained-write run")
    ap.add_argument("--turns", type=int, help="turns of the agent conversation")
    ap.add_argument("--only", default="1,2,4,6,7,8,9,10,11", help="parts to run: 1 (per-call), "
                    "2 (sustained: also 3 and 5), 4 (capture size), 6 (launch latency), 7 "
                    "(--lossless), 8 (per-call, GnuTLS), 9 (per-call, Go crypto/tls), 10 "
                    "(--watch: a process that matches no rule), 11 (the BIO_write probe, "
                    "untraced and traced)")
    ap.add_argument("--system-libssl", action="store_true",
                    help="trace the system libssl instead of a private copy")
    ap.add_argument("--ct-record", help="ct-record binary to measure (default: BUILD/record/"
                    "ct-record), e.g. an experimental build")
    ap.add_argument("--ct-arg", action="append", default=[],
                    help="extra ct-record argument, e.g. --ct-arg=--zstd-level=1 (repeatable)")
    ap.add_argument("--bpf-stats", action="store_true",
                    help="also report the run time of ct-record's BPF programs in part 1 "
                    "(sets kernel.bpf_stats_enabled during those runs; adds a little overhead)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if os.geteuid() != 0:
        die("run as root (ct-record and the empty probe load BPF programs)")
    cfg = Config()
    cfg.quick = a.quick
    cfg.bpf_stats = a.bpf_stats
    cfg.ct_extra = list(a.ct_arg)
    cfg.build = os.path.abspath(a.build)
    cfg.ct_record = a.ct_record or os.path.join(cfg.build, "record", "ct-record")
    RECORDER_COMMS.add(os.path.basename(cfg.ct_record)[:15])  # TASK_COMM_LEN - 1
    cfg.rounds = a.rounds or (3 if a.quick else 15)
    cfg.pairs_small = 2000 if a.quick else 5000
    cfg.pairs_big = 40 if a.quick else 100
    cfg.blast_seconds = a.blast_seconds or (8 if a.quick else 30)
    turns = a.turns or (20 if a.quick else 50)
    parts = set(a.only.split(","))
    for exe in (cfg.ct_record, cfg.bin("record-bench-workload"), cfg.bin("record-bench-check"),
                cfg.bin("record-bench-empty-probe"), cfg.bin("record-bench-reframe")):
        if not os.access(exe, os.X_OK):
            die("%s is missing: build the record-bench target in %s" % (exe, cfg.build))
    others = [l for l in subprocess.run(["pgrep", "-a", "-x", "ct-record"], capture_output=True,
                                        text=True).stdout.splitlines()]
    if others:
        log("record-bench: WARNING: other ct-record processes are running; they add probes to "
            "libraries that may be ours:\n  " + "\n  ".join(others))

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    cfg.work = tempfile.mkdtemp(prefix="record-bench-")
    started = time.monotonic()
    try:
        ldd = subprocess.check_output(["ldd", cfg.bin("record-bench-workload")], text=True)
        m = re.search(r"libssl\.so\.3 => (\S+)", ldd)
        if not m:
            die("the workload does not link libssl.so.3")
        cfg.system_libssl = m.group(1)
        m = re.search(r"libcrypto\.so\.3 => (\S+)", ldd)
        if not m:
            die("the workload does not link libcrypto.so.3")
        cfg.system_libcrypto = m.group(1)
        if a.system_libssl:
            cfg.lib_traced = cfg.lib_sink = None
            cfg.lib_probed = cfg.system_libssl
            cfg.ct_args = cfg.ct_extra
        else:
            # Private copies: probes that other ct-record runs put on the system libssl do
            # not reach the workload, and ct-record's probes on the workload's copy do not
            # reach the sink. ct-record finds the copy through the workload's mappings;
            # --no-system-libs keeps it off the system libssl that the rest of the machine
            # uses.
            cfg.lib_traced = os.path.join(cfg.work, "lib-traced")
            cfg.lib_sink = os.path.join(cfg.work, "lib-sink")
            for d in (cfg.lib_traced, cfg.lib_sink):
                os.makedirs(d)
                shutil.copy2(cfg.system_libssl, os.path.join(d, "libssl.so.3"))
            cfg.lib_probed = os.path.join(cfg.lib_traced, "libssl.so.3")
            cfg.ct_args = ["--no-system-libs"] + cfg.ct_extra
        gp = None
        if "8" in parts and os.access(cfg.bin("record-bench-gnutls-workload"), os.X_OK):
            ldd = subprocess.check_output(["ldd", cfg.bin("record-bench-gnutls-workload")],
                                          text=True)
            m = re.search(r"libgnutls\.so\.30 => (\S+)", ldd)
            if not m:
                die("the GnuTLS workload does not link libgnutls.so.30")
            if cfg.lib_traced:
                cfg.gnutls_probed = os.path.join(cfg.lib_traced, "libgnutls.so.30")
                shutil.copy2(m.group(1), cfg.gnutls_probed)
            else:
                cfg.gnutls_probed = m.group(1)
        elif "8" in parts:
            log("record-bench: no record-bench-gnutls-workload (GnuTLS headers missing): "
                "part 8 skipped")
            parts.discard("8")
        pc = per_call(cfg) if "1" in parts else None
        gp = per_call(cfg, gnutls=True) if "8" in parts else None
        su = sustained(cfg) if "2" in parts else None
        ag = []
        if "4" in parts:
            ag.append(agent(cfg, turns, 5, "fast"))
            # Real agents wait seconds for each answer: about one turn per capture frame.
            ag.append(agent(cfg, max(turns // 2, 5), 80, "paced"))
        la = launch(cfg) if "6" in parts else None
        ll = lossless(cfg) if "7" in parts else None
        go = go_per_call(cfg) if "9" in parts else None
        wc = watch_cost(cfg) if "10" in parts else None
        bc = bio_cost(cfg) if "11" in parts else None
        report(cfg, pc, su, ag, started, la, ll, gp, go)
        if wc:
            report_watch(cfg, wc)
        if bc:
            report_bio(cfg, bc)
    finally:
        if a.keep:
            log("work directory kept: " + cfg.work)
        else:
            shutil.rmtree(cfg.work, ignore_errors=True)


if __name__ == "__main__":
    main()

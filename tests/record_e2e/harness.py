"""Shared pieces of the root end-to-end tests: a logging TLS server, running
ct-record, and reading captures back through ct-dump.

The binaries come from the environment that CTest sets (CT_RECORD, CT_DUMP);
run by hand with e.g.
  CT_RECORD=build/record/ct-record CT_DUMP=build/tools/ct-dump/ct-dump \
      python3 -m unittest -v test_clients
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(HERE, "..", "servers")
CT_RECORD = os.environ.get("CT_RECORD", "ct-record")
CT_DUMP = os.environ.get("CT_DUMP", "ct-dump")
PYTHON = "/usr/bin/python3"


def require_root(test):
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (BPF and uprobes); run with the 'root' label as root")


def make_cert(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class LogServer:
    """tests/servers/tls_log_server.py in the background."""

    def __init__(self, directory, extra=(), cert=None, key=None, python=PYTHON):
        """With cert and key (a chain and its key), serves those instead of a new
        self-signed certificate."""
        self.dir = directory
        self.cert, self.key = (cert, key) if cert else make_cert(directory)
        self.log_dir = os.path.join(directory, "server-log")
        self.proc = subprocess.Popen(
            [python, os.path.join(SERVERS, "tls_log_server.py"), "--cert", self.cert,
             "--key", self.key, "--log-dir", self.log_dir, *extra],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"log server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"https://127.0.0.1:{self.port}"

    def connections(self, expect=0, timeout=180):
        """Logged connections by client port, waiting until at least `expect` are done.
        A port used twice keeps its last connection; connection_list() keeps all."""
        return dict(self.connection_list(expect, timeout))

    def connection_list(self, expect=0, timeout=180):
        """Logged connections in the order the server logged them, as (client port,
        {"recv", "sent"}), waiting until at least `expect` are done."""
        deadline = time.time() + timeout
        while True:
            entries = []
            index = os.path.join(self.log_dir, "index.jsonl")
            if os.path.exists(index):
                with open(index) as f:
                    entries = [json.loads(line) for line in f if line.strip()]
            if len(entries) >= expect or time.time() > deadline:
                break
            time.sleep(0.05)
        out = []
        for e in entries:
            with open(os.path.join(self.log_dir, e["recv"]), "rb") as f:
                recv = f.read()
            with open(os.path.join(self.log_dir, e["sent"]), "rb") as f:
                sent = f.read()
            out.append((e["peer_port"], {"recv": recv, "sent": sent}))
        return out

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Capture:
    """A capture read back through `ct-dump --streams`."""

    def __init__(self, path, directory):
        self.path = path
        out = os.path.join(directory, "streams-" + os.path.basename(path))
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([CT_DUMP, "--streams", out, path], check=True)
        with open(os.path.join(out, "index.jsonl")) as f:
            self.connections = [json.loads(line) for line in f if line.strip()]
        for c in self.connections:
            with open(os.path.join(out, f"{c['gen']}.write"), "rb") as f:
                c["write"] = f.read()
            with open(os.path.join(out, f"{c['gen']}.read"), "rb") as f:
                c["read"] = f.read()
        with open(os.path.join(out, "processes.jsonl")) as f:
            self.processes = [json.loads(line) for line in f if line.strip()]
        with open(os.path.join(out, "summary.json")) as f:
            self.summary = json.load(f)

    def with_data(self):
        return [c for c in self.connections if c["write"] or c["read"]]

    def socket_origins(self):
        """The SOCKET events that tie a TLS connection to a socket, from `ct-dump`:
        {gen: [(origin number, local port), ...]} in file order."""
        out = {}
        dump = subprocess.run([CT_DUMP, self.path], check=True, capture_output=True,
                              text=True).stdout
        for line in dump.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if " socket gen=" in line and fields.get("gen", "0") != "0":
                out.setdefault(int(fields["gen"]), []).append(
                    (int(fields["origin"]), int(fields["lport"])))
        return out


class RecordTest(unittest.TestCase):
    maxDiff = 2000
    longMessage = False
    """Base class: a temp dir and a log server per test."""

    def setUp(self):
        require_root(self)
        self.tmp = tempfile.mkdtemp(prefix="ct-e2e-")
        self.server = LogServer(self.tmp)

    def tearDown(self):
        self.server.stop()
        if os.environ.get("CT_KEEP_TEST_FILES"):
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def capture_path(self, name="session.ctz"):
        return os.path.join(self.tmp, name)

    def record(self, command, name="session.ctz", extra=(), env=None, timeout=300,
               expect_rc=0):
        """Runs `ct-record -w FILE -- command` and returns (Capture, completed process)."""
        path = self.capture_path(name)
        proc = subprocess.run([CT_RECORD, "--no-status", "-w", path, *extra, "--", *command],
                              capture_output=True, text=True, env=env, timeout=timeout)
        if expect_rc is not None:
            self.assertEqual(proc.returncode, expect_rc,
                             f"ct-record exited {proc.returncode}\nstdout:{proc.stdout}\n"
                             f"stderr:{proc.stderr}")
        return Capture(path, self.tmp), proc

    def record_pid(self, pid, name="session.ctz", extra=()):
        """Starts `ct-record -p PID`; returns (process, capture path) once it is attached."""
        path = self.capture_path(name)
        rec = subprocess.Popen([CT_RECORD, "--no-status", *extra, "-p", str(pid), "-w", path],
                               stderr=subprocess.PIPE, text=True)
        # The header is written once the probes are attached.
        attached = wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0,
                            timeout=60)
        self.assertTrue(attached, "ct-record did not attach within 60 s")
        return rec, path

    def assert_matches_server(self, capture, expect_connections):
        """Every captured connection equals what the server logged for that client port.
        Loopback reuses client ports (tcp_tw_reuse), so a port's connections are paired
        in order: the capture's by generation, the server's by its log."""
        logged = self.server.connection_list(expect=expect_connections)
        data = capture.with_data()
        self.assertEqual(len(data), expect_connections,
                         f"captured connections: {[(c['gen'], c['local_port']) for c in data]}")
        self.assertEqual(len(logged), expect_connections)
        by_port = {}
        for port, entry in logged:
            by_port.setdefault(port, []).append(entry)
        matched = 0
        for c in sorted(data, key=lambda c: c["gen"]):
            port = c["local_port"]
            self.assertTrue(by_port.get(port),
                            f"connection {c['gen']} has no server log (port {port}); "
                            f"server saw ports {sorted(p for p, _ in logged)}")
            server = by_port[port].pop(0)
            matched += 1
            self.assertEqual(c["write_gaps"], 0)
            self.assertEqual(c["read_gaps"], 0)
            self.assertEqual(len(c["write"]), len(server["recv"]))
            self.assertTrue(c["write"] == server["recv"], "request bytes differ")
            self.assertEqual(len(c["read"]), len(server["sent"]))
            self.assertTrue(c["read"] == server["sent"], "response bytes differ")
            self.assertEqual(c["remote_port"], self.server.port)
        self.assertEqual(matched, expect_connections)
        self.assertTrue(capture.summary["ended_cleanly"])
        self.assertEqual(capture.summary["lost_events"], 0)
        self.assertEqual(capture.summary["trailer_lost_events"], 0)
        self.assertEqual(capture.summary["ring_full_events"], 0)


def wait_for(predicate, timeout=10, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def terminate(proc, sig=signal.SIGINT, timeout=30):
    proc.send_signal(sig)
    return proc.wait(timeout=timeout)

"""The exec/dlopen hold: a traced process that executes a program, or maps a
library, that ct-record has not probed yet is stopped before it runs one
instruction of it, and continued once every probe is attached. So a short-lived
client started by any launch path is recorded from its first byte, without
--binary and without the PATH pre-scan.

CT_E2E_REPEAT (default 3) sets how often each launch path runs per client.
"""
import os
import shlex
import shutil
import signal
import subprocess
import time
import unittest

from clients import NODE_REQUESTS, PYTHON_REQUESTS
from harness import CT_RECORD, PYTHON, Capture, LogServer, RecordTest, wait_for

REPEAT = int(os.environ.get("CT_E2E_REPEAT", "3"))


def process_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def pids_running(exe):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/exe") == exe:
                    out.append(int(entry))
            except OSError:
                pass
    return out


class Hold(RecordTest):
    def setUp(self):
        super().setUp()
        self.private = os.path.join(self.tmp, "private")
        os.mkdir(self.private)

    def fresh_server(self, run):
        self.server.stop()
        self.server.proc.stdout.close()
        directory = os.path.join(self.tmp, f"run-{run}")
        os.makedirs(directory)
        self.server = LogServer(directory)

    LAUNCH_PATHS = ("direct", "env", "sh -c", "bash script", "child of a child")

    def launch(self, name, argv):
        """`argv` as the launch path `name` starts it."""
        cmd = shlex.join(argv)
        if name == "direct":
            return argv
        if name == "env":
            return ["env", "CT_TEST_VAR=1", *argv]
        if name == "sh -c":
            return ["sh", "-c", cmd]
        if name == "bash script":
            script = os.path.join(self.private, "run-client.sh")  # not in PATH
            with open(script, "w") as f:
                f.write(f"#!/bin/bash\nset -e\n{cmd}\necho client done\n")
            os.chmod(script, 0o755)
            return [script]
        # A grandchild: python starts sh, which forks the client (not its last command).
        grandchild = ("import subprocess, sys\n"
                      "subprocess.run(['sh', '-c', sys.argv[1] + '; true'], check=True)\n")
        return [PYTHON, "-c", grandchild, cmd]

    def run_matrix(self, make_argv, extra=(), env=None, probed=None):
        for run in range(REPEAT):
            for name in self.LAUNCH_PATHS:
                with self.subTest(path=name, run=run):
                    tag = f"{run}-{name.replace(' ', '-')}"
                    self.fresh_server(tag)
                    command = self.launch(name, make_argv(self.server))
                    cap, proc = self.record(command, name=f"{tag}.ctz", extra=extra, env=env)
                    self.assertNotIn("FAILED", proc.stderr)
                    self.assertNotIn("ms after pid", proc.stderr)
                    self.assertNotIn("not an ELF", proc.stderr)
                    if probed:
                        self.assertIn(f"probing {probed}", proc.stderr)
                    self.assert_matches_server(cap, 1)
                    self.assertTrue(cap.with_data()[0]["from_start"])

    def test_private_node_by_every_launch_path(self):
        # node has OpenSSL in its dynsym; a private copy is probed by nothing up front
        # (--no-system-libs) except as the direct command itself.
        node = shutil.copy("/usr/bin/node", os.path.join(self.private, "my-agent"))
        self.run_matrix(lambda s: [node, "-e", NODE_REQUESTS, s.cert, str(s.port)],
                        extra=("--no-system-libs",), probed=node)

    def test_python_with_a_private_libssl_copy(self):
        # python's ssl module dlopens libssl.so.3: here a copy outside the system paths.
        libdir = os.path.join(self.private, "lib")
        os.mkdir(libdir)
        lib = shutil.copy("/usr/lib/x86_64-linux-gnu/libssl.so.3",
                          os.path.join(libdir, "libssl.so.3"))
        self.run_matrix(lambda s: [PYTHON, "-c", PYTHON_REQUESTS, s.cert, str(s.port)],
                        env={**os.environ, "LD_LIBRARY_PATH": libdir}, probed=lib)

    def test_npx_package_bin(self):
        # npx (node) installs a local package and runs its bin through sh and node again:
        # node is probed by nothing up front (--no-system-libs), so its first exec holds.
        if not shutil.which("npx"):
            self.skipTest("npx is not installed")
        pkg = os.path.join(self.private, "agent-pkg")
        os.mkdir(pkg)
        with open(os.path.join(pkg, "package.json"), "w") as f:
            f.write('{"name": "ct-test-agent", "version": "1.0.0", '
                    '"bin": {"ct-test-agent": "agent.js"}}\n')
        with open(os.path.join(pkg, "agent.js"), "w") as f:
            # A script's own path is argv[1] (with -e there is none).
            f.write("#!/usr/bin/env node\n" +
                    NODE_REQUESTS.replace("process.argv.slice(1)", "process.argv.slice(2)"))
        os.chmod(os.path.join(pkg, "agent.js"), 0o755)
        # Offline: npx links the folder; nothing is fetched.
        env = {**os.environ, "npm_config_offline": "true", "npm_config_update_notifier": "false",
               "npm_config_cache": os.path.join(self.tmp, "npm-cache"), "NO_UPDATE_NOTIFIER": "1"}
        for run in range(REPEAT):
            with self.subTest(run=run):
                self.fresh_server(f"npx-{run}")
                cap, proc = self.record(["npx", "--yes", pkg, self.server.cert,
                                         str(self.server.port)],
                                        name=f"npx-{run}.ctz", extra=("--no-system-libs",),
                                        env=env)
                self.assertNotIn("ms after pid", proc.stderr)
                self.assert_matches_server(cap, 1)
                self.assertTrue(cap.with_data()[0]["from_start"])

    def test_python_in_a_venv(self):
        # A venv's python is a link to the system one, started from a folder outside PATH;
        # its ssl module loads libssl when imported, and that mapping is held.
        venv = os.path.join(self.private, "venv")
        r = subprocess.run([PYTHON, "-m", "venv", "--without-pip", venv], capture_output=True,
                           text=True)
        if r.returncode != 0:
            self.skipTest(f"python3 -m venv is not available: {r.stderr.strip()}")
        python = os.path.join(venv, "bin", "python")
        for run in range(REPEAT):
            with self.subTest(run=run):
                self.fresh_server(f"venv-{run}")
                cap, proc = self.record([python, "-c", PYTHON_REQUESTS, self.server.cert,
                                         str(self.server.port)], name=f"venv-{run}.ctz",
                                        extra=("--no-system-libs",))
                self.assertNotIn("ms after pid", proc.stderr)
                self.assert_matches_server(cap, 1)
                self.assertTrue(cap.with_data()[0]["from_start"])

    def test_hold_is_reported(self):
        node = shutil.copy("/usr/bin/node", os.path.join(self.private, "my-agent"))
        cmd = shlex.join([node, "-e", NODE_REQUESTS, self.server.cert, str(self.server.port)])
        cap, proc = self.record(["sh", "-c", cmd], extra=("--no-system-libs",))
        self.assertIn("held pid", proc.stderr)
        self.assertIn(f"while probing {node}", proc.stderr)
        self.assertRegex(proc.stderr, r"holds? until new code was examined and probed: longest")
        dump = subprocess.run([os.environ.get("CT_DUMP", "ct-dump"), cap.path],
                              capture_output=True, text=True, check=True).stdout
        self.assertRegex(dump, rf"held pid \d+ for [0-9.]+ ms while probing {node}")
        self.assert_matches_server(cap, 1)

    def test_waiting_parent_sees_a_normal_exit(self):
        # The parent waits with plain waitpid (subprocess), and gets the child's status.
        node = shutil.copy("/usr/bin/node", os.path.join(self.private, "my-agent"))
        parent = ("import subprocess, sys\n"
                  "r = subprocess.run([sys.argv[1], '-e', 'process.exit(7)'])\n"
                  "sys.exit(0 if r.returncode == 7 else 1)\n")
        _, proc = self.record([PYTHON, "-c", parent, node], extra=("--no-system-libs",))
        self.assertIn(f"while probing {node}", proc.stderr)

    def test_process_killed_while_held_hangs_nothing(self):
        # The held process dies before ct-record gets to it: the recording goes on,
        # ends when the command ends, and says the process exited while held.
        # A short name: ct-dump shows the first 80 characters of a note.
        touch = shutil.copy("/usr/bin/touch", os.path.join(self.private, "t"))
        go = os.path.join(self.tmp, "go")
        target = ("import os, subprocess, sys, time\n"
                  "print('READY', flush=True)\n"
                  "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
                  "r = subprocess.run([sys.argv[2], sys.argv[3]])\n"
                  "sys.exit(0 if r.returncode == -9 else 1)\n")
        path = self.capture_path()
        rec = subprocess.Popen([CT_RECORD, "--no-status", "-w", path, "--", PYTHON, "-c", target,
                                go, touch, os.path.join(self.tmp, "marker")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(rec.stdout.readline().strip(), "READY")
            os.kill(rec.pid, signal.SIGSTOP)
            open(go, "w").close()
            self.assertTrue(wait_for(lambda: any(process_state(p) == "T"
                                                 for p in pids_running(touch)), timeout=30))
            held = pids_running(touch)
            for pid in held:
                os.kill(pid, signal.SIGKILL)
            self.assertTrue(wait_for(lambda: all(process_state(p) in (None, "Z")
                                                 for p in held), timeout=30))
            os.kill(rec.pid, signal.SIGCONT)
            _, err = rec.communicate(timeout=60)
            self.assertEqual(rec.returncode, 0, err)
            self.assertNotIn("FAILED", err)
        finally:
            if rec.poll() is None:
                rec.kill()
                rec.wait()
        dump = subprocess.run([os.environ.get("CT_DUMP", "ct-dump"), path],
                              capture_output=True, text=True, check=True).stdout
        self.assertRegex(dump, rf"pid \d+ exited while held \([0-9.]+ ms\) for {touch}\b")

    def test_kill_9_while_held_leaves_nothing_stopped(self):
        # The target executes a program nobody probed while ct-record cannot answer
        # (stopped); ct-record is then killed: the held process must run on.
        touch = shutil.copy("/usr/bin/touch", os.path.join(self.private, "my-touch"))
        go = os.path.join(self.tmp, "go")
        marker = os.path.join(self.tmp, "marker")
        target = ("import os, subprocess, sys, time\n"
                  "print('READY', flush=True)\n"
                  "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
                  "r = subprocess.run([sys.argv[2], sys.argv[3]])\n"
                  "sys.exit(r.returncode)\n")
        path = self.capture_path()
        rec = subprocess.Popen([CT_RECORD, "--no-status", "-w", path, "--", PYTHON, "-c", target,
                                go, touch, marker],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(rec.stdout.readline().strip(), "READY")
            os.kill(rec.pid, signal.SIGSTOP)
            open(go, "w").close()
            self.assertTrue(wait_for(lambda: any(process_state(p) == "T"
                                                 for p in pids_running(touch)), timeout=30),
                            "the target was not held at the exec of an unprobed program")
            held = pids_running(touch)
            os.kill(rec.pid, signal.SIGKILL)
            rec.wait(timeout=30)
            self.assertTrue(wait_for(lambda: os.path.exists(marker), timeout=30),
                            f"held pid {held} still stopped after ct-record was killed: "
                            f"{[process_state(p) for p in held]}")
            self.assertTrue(wait_for(lambda: not pids_running(touch), timeout=30))
        finally:
            if rec.poll() is None:
                rec.kill()
                rec.wait()


if __name__ == "__main__":
    unittest.main()

"""A throw-away PostgreSQL cluster for tests: initdb into a temporary
directory, pg_ctl start on a free port with the unix socket in that directory,
stopped and removed at the end (a context manager; also on failure).

initdb and postgres refuse to run as root: as root the cluster runs as an
unprivileged user (postgres if it exists, else nobody) that owns the directory.

    with PgCluster() as pg:
        pg.create_database("ct")
        dsn = pg.url("ct")          # postgresql://ct@/ct?host=DIR&port=PORT
        pg.psql("ct", "SELECT 1")   # stdout of psql -X -At
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

BIN = "/usr/lib/postgresql/15/bin"


def available():
    return all(os.access(os.path.join(BIN, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")) \
        and shutil.which("psql") is not None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self):
        self.dir = None
        self.port = None
        self.user = "ct"
        self._as = None  # the unprivileged user the server runs as when we are root
        self._started = False

    def _run(self, argv, **kw):
        if self._as:
            argv = ["runuser", "-u", self._as, "--"] + argv
        return subprocess.run(argv, check=True, **kw)

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="ct-pg-")
        try:
            if os.geteuid() == 0:
                for name in ("postgres", "nobody"):
                    try:
                        pw = pwd.getpwnam(name)
                        break
                    except KeyError:
                        continue
                else:
                    raise RuntimeError("running as root and no postgres or nobody user")
                self._as = pw.pw_name
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            data = os.path.join(self.dir, "data")
            self._run([os.path.join(BIN, "initdb"), "-D", data, "-U", self.user, "--auth=trust",
                       "-E", "UTF8", "--locale=C", "--no-sync"], stdout=subprocess.DEVNULL)
            # A port taken between _free_port() and the start: try again.
            for attempt in range(5):
                self.port = _free_port()
                opts = (f"-c port={self.port} -c unix_socket_directories={self.dir} "
                        "-c listen_addresses='' -c fsync=off -c max_connections=50")
                r = subprocess.run(
                    (["runuser", "-u", self._as, "--"] if self._as else []) +
                    [os.path.join(BIN, "pg_ctl"), "-D", data, "-w", "-t", "60", "-o", opts,
                     "-l", os.path.join(self.dir, "server.log"), "start"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if r.returncode == 0:
                    self._started = True
                    break
            else:
                with open(os.path.join(self.dir, "server.log")) as f:
                    raise RuntimeError("pg_ctl start failed: " + r.stderr + f.read())
            return self
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        if self._started:
            subprocess.run((["runuser", "-u", self._as, "--"] if self._as else []) +
                           [os.path.join(BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                            "-m", "immediate", "-w", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._started = False
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        return False

    def restart(self):
        """Restarts the server (fast: open connections are cut), same options."""
        self._run([os.path.join(BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"), "-m",
                   "fast", "-w", "-t", "60", "-l", os.path.join(self.dir, "server.log"), "restart"],
                  stdout=subprocess.DEVNULL)

    def url(self, db):
        return f"postgresql://{self.user}@/{db}?host={self.dir}&port={self.port}"

    def keywords(self, db):
        return f"host={self.dir} port={self.port} user={self.user} dbname={db}"

    def psql(self, db, sql, csv=False):
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.keywords(db)]
        argv += ["--csv"] if csv else ["-At"]
        r = subprocess.run(argv + ["-c", sql], check=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        return r.stdout.decode("utf-8", "surrogateescape")

    def create_database(self, db):
        self.psql("postgres", f'CREATE DATABASE "{db}"')

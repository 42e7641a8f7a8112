"""What the benchmarks and the load and fault runs share: processes in their own process groups
(stopped whatever happens), free ports on 127.0.0.1, the flask CLI, CSRF tokens, CPU
accounting from /proc, and private or throw-away databases: a PostgreSQL cluster of our own
(initdb into a temporary directory), a redis-server of our own, and a database made and dropped
on a shared PostgreSQL server."""

import contextlib
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PG_BIN = Path(os.environ.get("SBWEB_PG_BIN", "/usr/lib/postgresql/15/bin"))


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------- processes


class Servers:
    """gunicorn processes, each in its own process group, all stopped by stop_all()."""

    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name, args, cwd, env, log_path: Path) -> subprocess.Popen:
        with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append((name, proc, log_path))
        return proc

    def pgid(self, name) -> int | None:
        return next((proc.pid for n, proc, _log in self.procs if n == name), None)

    def stop_all(self):
        for _name, proc, _log in self.procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, proc, _log in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
            # Workers of a killed arbiter may linger in the group: make sure they are gone.
            _signal_group(proc, signal.SIGKILL)
        self.procs.clear()


def _signal_group(proc: subprocess.Popen, sig) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the leader's pid


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_ready(name, proc, url, log_path: Path, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode} while starting:\n{_tail(log_path)}")
        try:
            requests.get(url, timeout=2, allow_redirects=False)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise BenchError(f"{name} did not answer {url} within {timeout:.0f} s:\n{_tail(log_path)}")


def _tail(path: Path, lines=30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def flask_cli(env, *args, timeout=180) -> str:
    done = subprocess.run(
        [str(BIN / "flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise BenchError(f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


# -- the sbweb the fragment benchmarks measure (fragment_bench.py, profile_fragment.py) ------------

RESIDENT = {"id_type": "201", "id_number": "520102198503151246", "name": "王芳"}  # a demo resident
PREFERRED_ENROLLMENT = "520102100000012345"
SESSION_COOKIE = "sbweb_session"


def sbweb_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBWEB_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "FLASK_APP": "app",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            # Keep the real instance/ untouched: our own secret, sandbox keys, and jobs in memory
            # (the dues page enqueues nothing; huey's SQLite file would otherwise be instance/'s).
            "SBWEB_SECRET_KEY": secrets.token_hex(32),
            "SBWEB_PAYMENT_KEY_DIR": str(tmp / "keys"),
            "SBWEB_HUEY_IMMEDIATE": "1",
            "SBWEB_ASSET_DIR": str(tmp / "assets"),  # the static files' versions
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def csrf_token(html: str) -> str:
    for tag in re.findall(r"<input\b[^>]*>", html):
        if re.search(r'\bname="csrf_token"', tag):
            found = re.search(r'\bvalue="([^"]+)"', tag)
            if found:
                return found.group(1)
    raise BenchError("no csrf_token on the page")


# ---------------------------------------------------------------------------- CPU accounting
# On a shared 2-core machine the throughput figures move with whatever else runs. Server CPU per
# request does not, much: it is read from /proc for the server's process group, and the CPU
# used by everything else during the run is reported so a disturbed run can be recognised.

CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float | None:
    total = 0
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid:  # pgrp; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / CLK


def machine_busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)  # idle + iowait
    return (sum(cpu[:8]) - idle) / CLK


def wait_for_quiet(limit: float, servers_pgids, threshold=0.25) -> float | None:
    """Wait up to `limit` seconds for a second in which other processes use < threshold cores.
    Returns the last second's foreign load (None without /proc)."""
    deadline, load = time.monotonic() + limit, None
    while True:
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        ours0 = sum(group_cpu_seconds(p) or 0 for p in servers_pgids)
        time.sleep(1)
        busy1, ours1 = machine_busy_seconds(), sum(group_cpu_seconds(p) or 0 for p in servers_pgids)
        if busy0 is None or busy1 is None:
            return None
        load = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (time.monotonic() - t0)
        if load < threshold or time.monotonic() >= deadline:
            return load


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


# ---------------------------------------------------------------------------- databases


def psycopg_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://…) as psycopg's own conninfo."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class ThrowawayDatabase:
    """A database made on a (shared) PostgreSQL server for one run and dropped after it. Only
    names starting with sbweb_ are made or dropped, never the tests' or anyone else's."""

    def __init__(self, server_url: str, name: str):
        if not re.fullmatch(r"sbweb_[a-z0-9_]+", name):
            raise BenchError(f"refusing to make or drop database {name!r}: not sbweb_<something>")
        self.server_url, self.name = server_url.rstrip("/"), name
        base = self.server_url.rsplit("/", 1)[0] if self.server_url.count("/") > 2 else self.server_url
        self.url = f"{base}/{name}"
        self._admin = f"{base}/postgres"

    def create(self) -> str:
        import psycopg

        with psycopg.connect(psycopg_url(self._admin), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        import psycopg

        try:
            with psycopg.connect(psycopg_url(self._admin), autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except psycopg.Error as exc:
            print(f"(could not drop database {self.name}: {exc})", file=sys.stderr)


class PrivatePostgres:
    """A PostgreSQL cluster of our own: initdb into `directory`, listening on 127.0.0.1:`port`
    only, trust auth, stopped and removed by stop(). Ours to kill and restart."""

    def __init__(self, directory: Path, port: int):
        self.base, self.port = Path(directory) / "postgres", port
        self.data, self.log = self.base / "pgdata", self.base / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@{HOST}:{port}/sbweb_faults"

    def start(self) -> str:
        if not (PG_BIN / "initdb").exists():
            raise BenchError(f"no PostgreSQL binaries in {PG_BIN} (set SBWEB_PG_BIN)")
        self.base.mkdir(parents=True)
        if _postgres_user():
            import pwd

            owner = pwd.getpwnam(_postgres_user())
            os.chmod(self.base.parent, 0o711)  # the cluster's user may pass through, not look
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        init = subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            user=_postgres_user(),
        )
        if init.returncode != 0:
            raise BenchError(f"initdb failed:\n{init.stdout}{init.stderr}")
        options = (
            f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=60 -c shared_buffers=64MB"
        )
        self._run_ctl("start", "-w", "-o", options)
        self._options = options
        import psycopg

        with psycopg.connect(f"postgresql://postgres@{HOST}:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE sbweb_faults")
        return self.url

    def restart(self, down: float = 0.0) -> None:
        """What an operator's `systemctl restart postgresql` does: fast shutdown (every
        connection ended, open transactions rolled back), `down` seconds without a server,
        then start again."""
        self._run_ctl("stop", "-w", "-m", "fast")
        time.sleep(down)
        self._run_ctl("start", "-w", "-o", self._options)

    def stop(self) -> None:
        if self.data.exists():
            with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
                self._run_ctl("stop", "-m", "immediate", timeout=30)
            shutil.rmtree(self.base, ignore_errors=True)

    def _run_ctl(self, *args, timeout=60):
        user = _postgres_user()
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args]
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, user=user)
        if run.returncode != 0:
            raise BenchError(f"pg_ctl {args[0]} failed:\n{run.stdout}{run.stderr}\n{_tail(self.log)}")


def _postgres_user():
    """PostgreSQL refuses to run as root: as root, the cluster is the `postgres` user's."""
    return "postgres" if os.geteuid() == 0 else None


class PrivateRedis:
    """A redis-server of our own on 127.0.0.1:`port`, with its append-only file in `directory`
    (so a restart keeps the queued and scheduled jobs, as a production Redis does)."""

    def __init__(self, directory: Path, port: int):
        self.dir, self.port = Path(directory) / "redis", port
        self.url = f"redis://{HOST}:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis

        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1).ping()
                return self.url
            except redis.RedisError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.1)

    def restart(self, down: float = 0.0) -> None:
        self.stop(remove=False)
        time.sleep(down)
        self.start()

    def stop(self, remove=True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes its append-only file and exits
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------- a scaled sbweb


def scaled_env(tmp: Path, database_url: str, redis_url: str, **settings) -> dict:
    """The environment of every sbweb process of a run (migrations, web workers, job consumer):
    its own instance folder and secret, PostgreSQL and Redis, and `settings` as SBWEB_* values.
    Nothing of the machine's own SBWEB_* or instance/ is used."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SBWEB_") and k not in ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY")
    }
    env.update(
        {
            "FLASK_APP": "app",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SBWEB_INSTANCE_PATH": str(tmp / "instance"),
            "SBWEB_SECRET_KEY": secrets.token_hex(32),
            # As behind a pilot's reverse proxy (README, PROXY_FIX_X_FOR): each phone's address comes in
            # X-Forwarded-For, so the per-address rate limits count each resident, not 127.0.0.1.
            "SBWEB_PROXY_FIX_X_FOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"SBWEB_{name}": str(value) for name, value in settings.items()})
    return env


def start_scaled(
    servers: Servers, env: dict, tmp: Path, port: int, workers: int, config: Path = ROOT / "deploy/gunicorn.conf.py"
) -> str:
    """The job consumer and gunicorn as `make serve` runs them (deploy/gunicorn.conf.py, or
    `config` that extends it), on 127.0.0.1:`port`; returns the base URL once the app answers."""
    jobs_log, web_log = tmp / "jobs.log", tmp / "gunicorn.log"
    # As deploy/serve.sh: the workers and the consumer count their metrics in one empty folder.
    metrics_dir = Path(env["SBWEB_INSTANCE_PATH"]) / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    servers.start("jobs", [str(BIN / "flask"), "jobs", "run", "--workers", "2"], ROOT, env, jobs_log)
    web = servers.start(
        "web",
        [
            str(BIN / "gunicorn"),
            "-c",
            str(config),
            "-w",
            str(workers),
            "-b",
            f"{HOST}:{port}",
            "--access-logfile",
            str(tmp / "access.log"),
            "app:app",
        ],
        ROOT,
        env,
        web_log,
    )
    base = f"http://{HOST}:{port}"
    wait_ready("gunicorn", web, f"{base}/auth/manual", web_log, timeout=60)
    return base


def make_residents(env: dict, count: int, tmp: Path) -> list[dict]:
    """`count` residents with open dues, made through the app's services (bench/population.py)."""
    import json

    out = tmp / "residents.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench/population.py"), str(count), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if run.returncode != 0:
        raise BenchError(f"making residents failed:\n{run.stdout}{run.stderr}")
    return json.loads(out.read_text())


def worker_pids(master_pid: int) -> list[int]:
    """gunicorn's workers: the children of its master."""
    try:
        with open(f"/proc/{master_pid}/task/{master_pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _loopback(port: int) -> str:
    return f"0100007F:{port:04X}"  # 127.0.0.1:port as /proc/net/tcp writes it


def process_serving(server_port: int, client_port: int, pids) -> int | None:
    """Which of `pids` holds the server's end of the TCP connection from `client_port` — the
    gunicorn worker that accepted that request (from /proc/net/tcp and each worker's fds)."""
    inode = None
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1] == _loopback(server_port) and parts[2] == _loopback(client_port):
                    inode = parts[9]
                    break
    except OSError:
        return None
    if inode is None or inode == "0":
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


def backend_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `database_url`'s database (this
    machine's server only): what the app costs the database, apart from other people's work."""
    import psycopg

    found = {}
    with psycopg.connect(psycopg_url(database_url), connect_timeout=5) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
            )
        ]
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / CLK
        except (OSError, IndexError, ValueError):
            continue
    return found


def backend_cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the clean-up below


def run_cleanly(label: str, keep: bool, run) -> int:
    """Call `run(tmp, servers, cleanup)` with a fresh temp directory, a Servers and an ExitStack
    for the run's own clean-ups (databases, Redis); whatever happens — an error, Ctrl-C, SIGTERM —
    the servers are stopped first, then the clean-ups run, then the directory goes (unless keep)."""
    import contextlib
    import tempfile

    for tool in ("gunicorn", "flask"):
        if not (BIN / tool).exists():
            print(f"{BIN / tool} is missing: run `make install-test` first", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix=f"sbweb-{label.split()[0]}-"))
    servers = Servers()
    try:
        with contextlib.ExitStack() as cleanup:
            try:
                return run(tmp, servers, cleanup)
            except BenchError as exc:
                print(f"\n{label} failed: {exc}", file=sys.stderr)
                return 1
            finally:
                servers.stop_all()
    finally:
        if keep:
            print(f"(kept {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

"""The benchmark's shared machinery: the checkout, the scratch database, the servers, the CPU accounting.

A scenario (bench_assets.py) says what to measure; this module runs it on this machine only: the
servers listen on 127.0.0.1, every request goes there, and PostgreSQL must be on the loopback
address too. Nothing here imports the application: whatever needs it runs in a subprocess inside
the checkout being measured (`python -m secgov …`, or bench/inprocess.py), so that another
checkout (--tree) can be measured with the same harness and the same virtualenv.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpload

BENCH = Path(__file__).resolve().parent
LOOPBACK = httpload.LOOPBACK
QUIET_SHARE = 0.10  # the measurements wait (for a while) until other processes use at most this much CPU
CORES = os.cpu_count() or 1


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    path: str  # may hold {placeholders} that the scenario fills in (an asset's id)
    api: bool  # True: bearer token; False: the session cookie of a form sign-in


# --- the checkout ---------------------------------------------------------------------------------


class Tree:
    """A checkout of the project; every command that imports its code runs in a subprocess there."""

    def __init__(self, root: Path, settings: dict[str, str]):
        self.root = root.resolve()
        if not (self.root / "secgov" / "__init__.py").is_file():
            raise SystemExit(f"{self.root}: not a SecGov checkout (no secgov/__init__.py)")
        self.env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PYTHONPATH")}
        # No REDIS_URL: throttling counters stay in the process, nothing leaves this machine.
        self.env.update(settings, PYTHONPATH=str(self.root))
        self.children: list[subprocess.Popen] = []

    def revision(self) -> str:
        def git(*args: str) -> str:
            command = ["git", *args]  # git from the PATH, as a developer runs it
            done = subprocess.run(command, cwd=self.root, capture_output=True, timeout=10, text=True)  # noqa: S603
            return done.stdout.strip()

        try:
            head, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        return f"{head} (with uncommitted changes)" if dirty else head

    def compile_translations(self) -> str:
        """Compile the message catalogs when missing or stale (as `make setup` does); what was done."""
        folder = self.root / "secgov" / "translations"
        stale = [po for po in folder.glob("*/LC_MESSAGES/messages.po") if _older(po.with_suffix(".mo"), po)]
        if not stale:
            return "compiled catalogs present"
        command = [sys.executable, "-m", "babel.messages.frontend", "-q", "compile", "-d", str(folder)]
        subprocess.run(command, cwd=self.root, check=True, timeout=120)  # noqa: S603 - pybabel, as make does
        return f"compiled {len(stale)} catalog(s) (they were missing or older than the .po files)"

    def cli(self, *args: str, timeout: float = 600) -> str:
        """`python -m secgov ARGS` in the checkout; its stdout (an error when it fails)."""
        done = subprocess.run(  # noqa: S603 - the project's own CLI
            [sys.executable, "-m", "secgov", *args], cwd=self.root, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"python -m secgov {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done.stdout

    def inprocess(self, mode: str, spec: dict, timeout: float = 1800) -> dict:
        """bench/inprocess.py MODE in the checkout, the spec on stdin; its JSON answer."""
        done = subprocess.run(  # noqa: S603 - our own worker
            [sys.executable, str(BENCH / "inprocess.py"), mode], input=json.dumps(spec), cwd=self.root,
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"inprocess.py {mode} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def import_register(self, register: str, path: Path, log_path: Path) -> dict:
        """`python -m secgov import REGISTER FILE`: wall time, CPU time and peak memory of that child alone."""
        before = cpu_snapshot()
        with open(log_path, "wb") as out:
            started = time.perf_counter()
            child = subprocess.Popen(  # noqa: S603 - the project's own CLI
                [sys.executable, "-m", "secgov", "import", register, str(path)], cwd=self.root, env=self.env,
                stdout=out, stderr=out,
            )  # fmt: skip
            self.children.append(child)
            _pid, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not all children's
            seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        self.children.remove(child)
        output = log_path.read_text(errors="replace").strip().splitlines()
        # The command's stable output line: "imported N assets from FILE (M rows...)".
        match = re.search(rf"^imported (\d+) {register} from", "\n".join(output), re.M)
        return {
            "exit_code": child.returncode,
            "created": int(match.group(1)) if match else None,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "maxrss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
            "other_processes_share": since(before)["other_processes_share"],
            "output": output[-20:],
        }

    def stop_children(self) -> None:
        for child in self.children:  # an import interrupted by Ctrl-C
            child.kill()
            child.wait(timeout=30)
        self.children.clear()


def _older(target: Path, source: Path) -> bool:
    return not target.exists() or target.stat().st_mtime < source.stat().st_mtime


# --- the scratch database -------------------------------------------------------------------------


class ScratchDatabase:
    """SQLite in the work folder, or a database created on a loopback PostgreSQL and dropped after."""

    def __init__(self, workdir: Path, server_url: str | None):
        self.url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        self._server_url = None
        self._name = ""
        self.description = f"SQLite {sqlite3.sqlite_version} (a file in a temporary folder)"
        if server_url:
            self._create_postgres(server_url)

    def _create_postgres(self, server_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(server_url)
        if url.get_backend_name() != "postgresql":
            raise SystemExit("--database-url must be a PostgreSQL URL (postgresql+psycopg://…)")
        if url.host not in (None, "", "127.0.0.1", "localhost", "::1"):
            raise SystemExit("--database-url: the benchmark talks to 127.0.0.1 only; use a loopback PostgreSQL")
        self._server_url = url.set(host="127.0.0.1") if url.host in (None, "", "localhost") else url
        self._name = f"secgov_bench_{secrets.token_hex(4)}"
        self._admin(f'CREATE DATABASE "{self._name}"')
        version = self._admin("SHOW server_version")
        self.url = self._server_url.set(database=self._name).render_as_string(hide_password=False)
        self.description = f"PostgreSQL {version} (scratch database {self._name}, dropped afterwards)"
        DATABASE_MARKS.append(self._name)

    def _admin(self, statement: str):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self._server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                result = conn.execute(text(statement))
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()

    def scalar(self, statement: str, **params):
        """One value from the scratch database (SQLAlchemy only: no application code)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(text(statement), params).scalar()
        finally:
            engine.dispose()

    def drop(self) -> None:
        if self._server_url is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')
            self._server_url = None


# --- who uses the CPU -----------------------------------------------------------------------------


def machine() -> dict:
    info = {"cpu": "", "memory_gib": None}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M).group(1).strip()
        info["mhz"] = [float(mhz) for mhz in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)]
        info["memory_gib"] = round(
            int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1]) / 2**20, 1
        )
    except (OSError, AttributeError, TypeError):
        pass
    return {
        **info,
        "cores": CORES,
        "cores_usable": len(os.sched_getaffinity(0)),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def machine_cpu_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat), and of
    those the seconds stolen by the hypervisor for other virtual machines."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / ticks, steal / ticks


def python_speed() -> float:
    """Milliseconds for a fixed pure-Python workload (best of 5): the interpreter's speed on this
    machine now, to tell a slower machine from slower code when runs of different days differ.
    A coarse figure: on a shared virtual machine it moves by a third from one call to the next."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        table: dict[str, int] = {}
        for i in range(200_000):
            key = f"k{i % 5000}"
            table[key] = table.get(key, 0) + len(key) * i % 7
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def cpu_snapshot(servers: dict[str, Server] | None = None) -> dict[str, float]:
    """CPU seconds so far of each server's processes, of the benchmark (this process and its
    finished children), and of the whole machine."""
    snapshot = {}
    for name, server in (servers or {}).items():
        snapshot.update({f"{name}/{process}": seconds for process, seconds in server.cpu_seconds().items()})
    if DATABASE_MARKS:
        snapshot.update({f"database/{pid}": seconds for pid, seconds in _processes_named(DATABASE_MARKS).items()})
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    snapshot["bench"] = time.process_time() + children.ru_utime + children.ru_stime
    snapshot["machine"], snapshot["steal"] = machine_cpu_seconds()
    snapshot["wall"] = time.monotonic()
    return snapshot


# PostgreSQL backends that serve this run (their command line names the scratch database): their CPU
# is the run's own, not other processes' load.
DATABASE_MARKS: list[str] = []


def _processes_named(marks: list[str]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and any(m in (entry / "cmdline").read_text(errors="replace") for m in marks):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError):
            continue
    return found


def cpu_summary(delta: dict[str, float]) -> dict:
    """Who used the CPU during a measurement: each server, the load generator, other processes."""
    servers: dict[str, float] = {}
    for key, value in delta.items():
        if "/" in key:
            servers[key.split("/")[0]] = servers.get(key.split("/")[0], 0.0) + value
    wall = max(delta.get("wall", 0.0), 1e-9)
    others = max(0.0, delta.get("machine", 0.0) - sum(servers.values()) - delta.get("bench", 0.0))
    return {
        "seconds": round(wall, 2),
        "servers": {name: round(value, 2) for name, value in servers.items()},
        "load_generator": round(delta.get("bench", 0.0), 2),
        "other_processes": round(others, 2),
        "other_processes_share": round(others / (CORES * wall), 3),
        "steal_share": round(delta.get("steal", 0.0) / (CORES * wall), 3),  # part of other_processes
    }


def since(before: dict[str, float], servers: dict[str, Server] | None = None) -> dict:
    after = cpu_snapshot(servers)
    return cpu_summary({k: v - before.get(k, 0.0) for k, v in after.items()})


def other_load(seconds: float = 3.0) -> float:
    """The share of the machine's CPU that other processes use now (sampled for `seconds`)."""
    before = cpu_snapshot()
    time.sleep(seconds)
    return since(before)["other_processes_share"]


def wait_until_quiet(timeout: float, limit: float = QUIET_SHARE) -> float:
    """Wait (up to timeout seconds) until other processes use at most `limit` of the CPU; the last share."""
    deadline = time.monotonic() + timeout
    share = other_load()
    while share > limit and time.monotonic() < deadline:
        log(f"other processes use {share:.0%} of the CPU: waiting for a quieter machine")
        time.sleep(5)
        share = other_load()
    return share


class Quiet:
    """Waits for a quiet machine: up to `each` seconds at a time, `budget` seconds in all for a run
    (a machine that stays busy must not stretch a run of minutes into hours)."""

    def __init__(self, each: float, budget: float):
        self.each, self.left = each, budget

    def wait(self) -> float:
        """Wait as wait_until_quiet does, within what is left of the budget; the last share."""
        started = time.monotonic()
        share = wait_until_quiet(min(self.each, max(0.0, self.left)))
        self.left -= time.monotonic() - started
        return share

    @property
    def spent(self) -> bool:
        return self.left <= 0


# --- the servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn command in its own process group on 127.0.0.1, stopped with it."""

    def __init__(self, name: str, command: list[str], cwd: Path, env: dict, port: int, workers: int, log_path: Path):
        self.name, self.port, self.workers, self.log_path = name, port, workers, log_path
        self._log = open(log_path, "wb")  # closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own server commands
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, path: str = "/", timeout: float = 60.0) -> None:
        """Until one request is answered and every worker has loaded its app and gone idle.

        A gthread worker keeps the connections it accepted: a client that connects while the
        other worker is still loading would stay on one worker for the whole measurement."""
        deadline = time.monotonic() + timeout
        answered = False
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            if not answered:
                client = httpload.Client(self.port, timeout=5)
                try:
                    answered = client.get(path).status < 500
                except OSError:
                    pass
                finally:
                    client.close()
            else:
                before = self.cpu_seconds()
                time.sleep(0.5)
                after = self.cpu_seconds()
                busy = sum(after.get(k, 0.0) - before.get(k, 0.0) for k in after if k != "master")
                if len(after) == self.workers + 1 and busy < 0.02:
                    return
                continue
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by the gunicorn master and each worker."""
        ticks = os.sysconf("SC_CLK_TCK")
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(entry.name) == self.process.pid:
                found["master"] = (int(fields[11]) + int(fields[12])) / ticks
            elif int(fields[1]) == self.process.pid:
                found[f"worker {entry.name}"] = (int(fields[11]) + int(fields[12])) / ticks
        return found

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.process.pid, sig)  # gunicorn's master and its workers: our child's group
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._log.close()


# --- the run --------------------------------------------------------------------------------------


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


class Scratch:
    """A run's scratch folder, database, checkout and servers; all stopped and removed on leaving."""

    def __init__(self, tree: Path, database_url: str | None, keep: bool = False):
        self.tree_path, self.database_url, self.keep = tree, database_url, keep
        self.servers: dict[str, Server] = {}
        self.database: ScratchDatabase | None = None
        self.tree: Tree | None = None

    def __enter__(self) -> Scratch:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # also when started with SIGINT ignored
            signal.signal(sig, _interrupt)
        self.workdir = Path(tempfile.mkdtemp(prefix="secgov-bench-"))
        try:
            self.database = ScratchDatabase(self.workdir, self.database_url)
            settings = {
                "DATABASE_URL": self.database.url,
                "SECGOV_INSTANCE_PATH": str(self.workdir / "instance"),
                "SECRET_KEY": secrets.token_urlsafe(48),
                "SECGOV_COOKIE_SECURE": "0",  # plain HTTP on the loopback address
                "SECGOV_LOG_LEVEL": "WARNING",
                "SECGOV_SQL_ECHO": "0",
            }
            self.tree = Tree(self.tree_path, settings)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, _type, _value, _traceback) -> None:
        for server in self.servers.values():
            server.stop()
        if self.tree is not None:
            self.tree.stop_children()
        if self.database is not None:
            try:
                self.database.drop()
            except Exception as exc:  # noqa: BLE001 - cleanup must go on; say what is left behind
                log(f"could not drop the scratch database: {exc}")
        if self.keep and self.database_url is None:
            log(f"kept the scratch folder: {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

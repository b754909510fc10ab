"""`make bench`: the asset register at 20,000 assets, against the goals of issue 3.

1. A scratch database (SQLite in a temporary folder, or a scratch database created on the
   PostgreSQL server of --database-url), migrated, with the demo city (about 60 assets).
2. SQL statements per request at demo size, in-process (Flask test client, an engine listener).
3. A synthetic register of 20,000 assets as CSV, imported through `assets.exchange.import_assets`
   in a fresh process: wall time and peak memory (tracemalloc in a first, rolled-back pass
   that stops after a few hundred writes; getrusage maxrss in the timed pass).
4. SQL statements per request again at 20,000 assets.
5. The production server (`python -m secgov serve`, gunicorn, 2 workers) on 127.0.0.1: median
   and p95 latency over 200 sequential requests per endpoint, then requests per second with 8
   concurrent clients for 20 s on the list page and the list API. Before the import and before
   these measurements it waits (up to --wait-quiet seconds) for other processes to leave the
   CPU, and it reports the CPU they used meanwhile, so that a busy machine shows in the report.
6. When a goal is missed: a cProfile of the endpoints concerned, in-process at 20,000 assets.
7. The report on stdout and in bench/results/latest.json.

Everything runs on this machine: the server listens on 127.0.0.1 only, every request goes there,
and PostgreSQL must be on the loopback address too. The server and the scratch database are
removed at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
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
import tracemalloc
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpload  # noqa: E402 - after the project's root is on the path (synth reads the import's columns)
import synth  # noqa: E402

GOAL_P95_MS = 50.0
GOAL_RPS = 300.0
QUIET_SHARE = 0.10  # the measurements wait (for a while) until other processes use at most this much CPU
MEASURE_ATTEMPTS = 3  # an HTTP measurement disturbed by other processes is taken again, up to this often
OFFICER = "officer"  # a demo officer of the city: sees every asset; admins would need TOTP
DETAIL_CODE = "TRF-SIG-01"  # a demo system (level 3, IoT, controls and vendors): the detail measured

# key, label, path (with {id} for the detail asset), api (bearer token) or page (session cookie)
ENDPOINTS = (
    ("page_list", "GET /assets", "/assets", False),
    ("page_list_filtered", "GET /assets?sector=transport&mlps_level=3", "/assets?sector=transport&mlps_level=3", False),
    ("api_list", "GET /api/v1/assets?page_size=50", "/api/v1/assets?page_size=50", True),
    (
        "api_list_filtered",
        "GET /api/v1/assets?page_size=50&sector=transport&is_cii=true",
        "/api/v1/assets?page_size=50&sector=transport&is_cii=true",
        True,
    ),
    ("page_detail", "GET /assets/<id>", "/assets/{id}", False),
    ("api_detail", "GET /api/v1/assets/<id>", "/api/v1/assets/{id}", True),
)
THROUGHPUT = ("page_list", "api_list")

# What the profile breakdown looks for: label, pattern on "file:line(function)" of pstats.
BREAKDOWN = (
    ("whole request (Flask full_dispatch_request)", "flask/app.py", "full_dispatch_request"),
    ("access check + user/token loading", "secgov/web.py", "_access_check"),
    ("template rendering", "flask/templating.py", "_render"),
    ("list_assets (count + page query)", "assets/services.py", "list_assets"),
    ("read_many (departments, owners, records)", "assets/services.py", "read_many"),
    ("coverage_by_asset", "assets/controls.py", "coverage_by_asset"),
    ("form choices (people, departments)", "assets/views.py", "_choices"),
    ("asset_controls (detail)", "assets/controls.py", "asset_controls"),
    ("vendor panel (detail)", "assets/views.py", "_vendor_panel"),
    ("JSON encoding", "flask/json/provider.py", "response"),
    ("SQL execution (SQLAlchemy + driver)", "sqlalchemy/engine/base.py", "_execute_context"),
    ("  of which in the database driver", "sqlite3.Cursor", "execute"),
    ("  of which in the database driver (psycopg)", "psycopg/cursor.py", "execute"),
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the machine ---------------------------------------------------------------------------------


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def git_revision() -> str:
    try:
        head = subprocess.run(  # noqa: S603 - fixed command
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 - fixed command
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


# --- the scratch database ------------------------------------------------------------------------


class ScratchDatabase:
    """SQLite in the work folder, or a database created on a loopback PostgreSQL and dropped after."""

    def __init__(self, workdir: Path, server_url: str | None):
        self.url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        self._server_url = None
        self._name = ""
        self.description = "SQLite (a file in a temporary folder)"
        if server_url:
            self._create_postgres(server_url)

    def _create_postgres(self, server_url: str) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        url = make_url(server_url)
        if url.get_backend_name() != "postgresql":
            raise SystemExit("--database-url must be a PostgreSQL URL (postgresql+psycopg://…)")
        if url.host not in (None, "", "127.0.0.1", "localhost", "::1"):
            raise SystemExit("--database-url: the benchmark talks to 127.0.0.1 only; use a loopback PostgreSQL")
        if url.host == "localhost":
            url = url.set(host="127.0.0.1")
        self._server_url = url
        self._name = f"secgov_bench_{secrets.token_hex(4)}"
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self._name}"'))
                version = conn.execute(text("SHOW server_version")).scalar()
        finally:
            engine.dispose()
        self.url = url.set(database=self._name).render_as_string(hide_password=False)
        self.description = f"PostgreSQL {version} (scratch database {self._name}, dropped afterwards)"

    def drop(self) -> None:
        if self._server_url is None:
            return
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self._server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
        finally:
            engine.dispose()
        self._server_url = None


# --- SQL statements per request, in-process ------------------------------------------------------


class StatementCounter:
    """Counts (and times) every statement the engine sends to the database."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.engine = engine
        self.statements: list[tuple[float, str, object]] = []
        self._event = event
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        self.statements.append(((time.perf_counter() - started) * 1000, statement, parameters))

    def reset(self) -> None:
        self.statements = []

    def remove(self) -> None:
        self._event.remove(self.engine, "before_cursor_execute", self._before)
        self._event.remove(self.engine, "after_cursor_execute", self._after)


def _test_login(client, username: str, password: str) -> None:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    if match is None:
        raise RuntimeError("no CSRF token on /login")
    answer = client.post(
        "/login", data={"csrf_token": match.group(1), "username": username, "password": password, "next": "/"}
    )
    if answer.status_code != 302 or "/login" in answer.headers.get("Location", ""):
        raise RuntimeError(f"in-process sign-in as {username} failed ({answer.status_code})")


class InProcess:
    """The app built in this process on the scratch database, signed in as the officer."""

    def __init__(self, app, password: str, token: str, detail_id: int):
        self.app = app
        self.token = token
        self.detail_id = detail_id
        self.web = app.test_client()
        _test_login(self.web, OFFICER, password)
        self.api = app.test_client()

    def get(self, path: str, api: bool):
        path = path.format(id=self.detail_id)
        if api:
            return self.api.get(path, headers={"Authorization": f"Bearer {self.token}"})
        return self.web.get(path)


def count_queries(inproc: InProcess, repeats: int = 3) -> dict:
    """Statements per request for every endpoint (after a warm-up request), with their time."""
    counter = StatementCounter(inproc.app.extensions["secgov_engine"])
    results = {}
    try:
        for key, _label, path, api in ENDPOINTS:
            inproc.get(path, api)  # warm-up: caches, the token's last-use note
            counts, sql_ms, app_ms, statuses = [], [], [], set()
            statements: list[tuple[float, str, object]] = []
            for _ in range(repeats):
                counter.reset()
                started = time.perf_counter()
                answer = inproc.get(path, api)
                app_ms.append((time.perf_counter() - started) * 1000)
                statuses.add(answer.status_code)
                statements = list(counter.statements)
                counts.append(len(statements))
                sql_ms.append(sum(ms for ms, _s, _p in statements))
            slowest = max(statements, key=lambda s: s[0]) if statements else (0.0, "", None)
            results[key] = {
                "queries": counts[-1],
                "stable": len(set(counts)) == 1,
                "counts": counts,
                "status": sorted(statuses),
                "sql_ms": round(min(sql_ms), 2),
                "in_process_ms": round(min(app_ms), 2),
                "statements": [_short(s) for _ms, s, _p in statements],
                "slowest_ms": round(slowest[0], 2),
                "slowest": _short(slowest[1], 400),
                "_slowest_raw": (slowest[1], slowest[2]),
            }
    finally:
        counter.remove()
    return results


def _short(statement: str, limit: int = 160) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def query_plans(engine, counts: dict) -> dict:
    """EXPLAIN QUERY PLAN (SQLite) of each endpoint's slowest statement."""
    if engine.dialect.name != "sqlite":
        return {}
    plans = {}
    raw = engine.raw_connection()
    try:
        for key, info in counts.items():
            statement, parameters = info.get("_slowest_raw") or ("", None)
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            try:
                rows = raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters or ()).fetchall()
            except sqlite3.Error as exc:
                plans[key] = [f"(no plan: {exc})"]
                continue
            plans[key] = [str(row[-1]) for row in rows]
    finally:
        raw.close()
    return plans


# --- the import ----------------------------------------------------------------------------------


class _StopTracing(Exception):
    """Ends the memory pass after enough writes; its transaction is rolled back."""


class _NothingWritten(Exception):
    """Ends an import that wrote nothing with a rollback."""


def import_worker(mode: str, csv_path: str, trace_writes: int) -> dict:
    """Run in a fresh process (so that maxrss is this import's): import the CSV as the CLI does.

    mode "memory": tracemalloc on; the checks of every row, then `trace_writes` writes, then a
    rollback. mode "timed": no tracing; the whole import, committed; wall time and maxrss.
    """
    from assets import exchange
    from secgov import create_app
    from secgov.audit import Actor
    from secgov.db import write_session

    app = create_app()
    data = Path(csv_path).read_bytes()
    name = Path(csv_path).name
    with app.app_context():
        from sqlalchemy import func
        from sqlmodel import select

        from assets.models import AssetControl
        from secgov.db import get_engine, new_session

        with new_session(get_engine(), write=False) as session:  # connect and load the catalogs first
            session.exec(select(func.count()).select_from(AssetControl)).one()
        baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if mode == "memory":
            return _memory_pass(exchange, write_session, Actor, data, name, trace_writes)
        started = time.perf_counter()
        try:
            with write_session() as session:  # commits on leaving: the commit is part of the time
                report = exchange.import_assets(session, data, name, Actor.system("cli"), None)
                if not report.written:
                    raise _NothingWritten  # rolls the transaction back, as the CLI does
        except _NothingWritten:
            pass
        seconds = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with new_session(get_engine(), write=False) as session:
            controls = session.exec(select(func.count()).select_from(AssetControl)).one()
    return {
        "seconds": round(seconds, 2),
        "created": report.created,
        "rows": report.total_rows,
        "errors": [asdict(e) for e in report.errors[:10]],
        "error_count": len(report.errors),
        "maxrss_mib": round(peak_kib / 1024, 1),
        "maxrss_before_import_mib": round(baseline_kib / 1024, 1),
        "asset_controls_in_database": controls,
    }


def _memory_pass(exchange, write_session, actor_type, data: bytes, name: str, trace_writes: int) -> dict:
    real_create = getattr(exchange, "create_assets", None)
    checkpoints: list[tuple[int, float]] = []
    state = {"writes": 0, "checked_at": None, "check_seconds": None, "held": None}
    started = 0.0

    def traced_create(session, items, *args, **kwargs):  # one batch of rows
        if state["writes"] == 0:
            state["check_seconds"] = round(time.perf_counter() - started, 2)
            state["checked_at"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
        elif state["writes"] % 100 == 0:
            checkpoints.append((state["writes"], round(tracemalloc.get_traced_memory()[0] / 2**20, 1)))
        if state["writes"] >= trace_writes:
            state["held"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
            raise _StopTracing
        state["writes"] += len(items)
        return real_create(session, items, *args, **kwargs)

    if real_create is not None and trace_writes > 0:
        exchange.create_assets = traced_create
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with write_session() as session:
            exchange.import_assets(session, data, name, actor_type.system("cli"), None)
            state["held"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
            raise _StopTracing  # roll back what was written: the timed pass imports for real
    except _StopTracing:
        pass
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if real_create is not None:
            exchange.create_assets = real_create
    return {
        "tracemalloc_peak_mib": round(peak / 2**20, 1),
        "after_checks_mib": state["checked_at"],
        "check_phase_seconds_traced": state["check_seconds"],
        "writes_traced": min(state["writes"], trace_writes),
        "checkpoints_mib": checkpoints,
        "held_after_traced_writes_mib": state["held"],
    }


def run_import_worker(mode: str, csv_path: Path, trace_writes: int, timeout: float) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--import-worker", mode, str(csv_path)]
    command += ["--trace-writes", str(trace_writes)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"the import ({mode}) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- who uses the CPU ----------------------------------------------------------------------------


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server: Server | None = None) -> dict[str, float]:
    """CPU seconds so far of the server's processes, of the benchmark (this process, the load generator,
    and its finished children), and of the whole machine."""
    snapshot = server.cpu_seconds() if server else {}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished children: the import workers
    snapshot["bench"] = time.process_time() + children.ru_utime + children.ru_stime
    snapshot["machine"] = machine_cpu_seconds()
    snapshot["wall"] = time.monotonic()
    return snapshot


def cpu_summary(delta: dict[str, float], cores: int) -> dict:
    """Who used the CPU during a measurement: the server, the load generator, other processes."""
    server = sum(v for k, v in delta.items() if k == "master" or k.startswith("worker"))
    wall = max(delta.get("wall", 0.0), 1e-9)
    others = max(0.0, delta.get("machine", 0.0) - server - delta.get("bench", 0.0))
    return {
        "seconds": round(wall, 2),
        "server": round(server, 2),
        "workers": sorted((round(v, 2) for k, v in delta.items() if k.startswith("worker")), reverse=True),
        "load_generator": round(delta.get("bench", 0.0), 2),
        "other_processes": round(others, 2),
        "other_processes_share": round(others / (cores * wall), 3),
    }


def other_load(seconds: float = 3.0) -> float:
    """The share of the machine's CPU that other processes use now (sampled for `seconds`)."""
    before = cpu_snapshot()
    time.sleep(seconds)
    after = cpu_snapshot()
    return cpu_summary({k: v - before[k] for k, v in after.items()}, os.cpu_count() or 1)["other_processes_share"]


def wait_until_quiet(limit: float, timeout: float) -> float:
    """Wait (up to timeout seconds) until other processes use at most `limit` of the CPU; the last share."""
    deadline = time.monotonic() + timeout
    share = other_load()
    while share > limit and time.monotonic() < deadline:
        log(f"other processes use {share:.0%} of the CPU: waiting for a quieter machine")
        time.sleep(5)
        share = other_load()
    return share


# --- the production server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((httpload.LOOPBACK, 0))
        return sock.getsockname()[1]


class Server:
    """`python -m secgov serve` on 127.0.0.1 in its own process group, stopped with it."""

    def __init__(self, port: int, workers: int, log_path: Path):
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        command = [sys.executable, "-m", "secgov", "serve", "--host", httpload.LOOPBACK, "--port", str(port)]
        command += ["--workers", str(workers)]
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.log_tail()}")
            client = httpload.Client(self.port, timeout=5)
            try:
                if client.get("/healthz").status == 200:
                    return
            except OSError:
                pass
            finally:
                client.close()
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

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
            pid, ppid = int(entry.name), int(fields[1])
            if pid == self.process.pid:
                found["master"] = (int(fields[11]) + int(fields[12])) / ticks
            elif ppid == self.process.pid:
                found[f"worker {pid}"] = (int(fields[11]) + int(fields[12])) / ticks
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


def create_token() -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "secgov", "token", "create", OFFICER, "--label", "benchmark"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"token create failed: {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def _with_cpu(result: dict) -> dict:
    result["cpu"] = cpu_summary(result.pop("cpu_seconds"), os.cpu_count() or 1)
    return result


def measure_http(server: Server, password: str, token: str, detail_id: int, args) -> tuple[dict, dict]:
    port = server.port
    web = httpload.Client(port, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    httpload.login(web, OFFICER, password)
    api = httpload.Client(port, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    latency, throughput = {}, {}

    def probe() -> dict[str, float]:
        return cpu_snapshot(server)

    def undisturbed(label: str, measure) -> dict:
        # A measurement during which other processes took more than QUIET_SHARE of the CPU is
        # repeated (twice at most) once the machine is quiet again; the report shows the last.
        for attempt in range(1, MEASURE_ATTEMPTS + 1):
            result = _with_cpu(asdict(measure()))
            result["attempts"] = attempt
            share = result["cpu"]["other_processes_share"]
            if share <= QUIET_SHARE or attempt == MEASURE_ATTEMPTS:
                return result
            log(f"{label}: other processes took {share:.0%} of the CPU meanwhile; measuring again")
            wait_until_quiet(QUIET_SHARE, args.wait_quiet)
        raise AssertionError("unreachable")

    try:
        for key, label, path, is_api in ENDPOINTS:
            client = api if is_api else web
            log(f"latency: {label} × {args.requests}")
            latency[key] = undisturbed(
                label,
                lambda c=client, p=path: httpload.sequential(c, p.format(id=detail_id), args.requests, probe=probe),
            )
        for key in THROUGHPUT:
            _key, label, path, is_api = next(e for e in ENDPOINTS if e[0] == key)
            log(f"throughput: {label}, {args.clients} clients for {args.duration:g} s")
            template = api if is_api else web
            throughput[key] = undisturbed(
                label,
                lambda t=template, p=path: httpload.concurrent(
                    t, p.format(id=detail_id), args.clients, args.duration, probe=probe, stagger=0.1
                ),
            )
    finally:
        web.close()
        api.close()
    return latency, throughput


# --- profiling -----------------------------------------------------------------------------------


def profile_endpoint(inproc: InProcess, key: str, requests: int, out: Path) -> dict:
    """cProfile over `requests` in-process requests; a breakdown per request and the full listing."""
    _key, label, path, api = next(e for e in ENDPOINTS if e[0] == key)
    inproc.get(path, api)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        inproc.get(path, api)
    profiler.disable()
    wall_ms = (time.perf_counter() - started) * 1000 / requests
    stats = pstats.Stats(profiler)
    per_function = {}
    for (filename, line, function), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        per_function[(filename, line, function)] = (tottime, cumtime)
    breakdown = []
    for title, file_part, function_part in BREAKDOWN:
        cumulative = [
            cum
            for (filename, _line, function), (_tot, cum) in per_function.items()
            if file_part in f"{filename}:{function}" and function_part in function
        ]
        if cumulative:
            # The outermost frame of a recursive or repeated function holds the total: take the largest.
            total = max(cumulative) if "full_dispatch" in function_part else sum(cumulative)
            breakdown.append((title, round(total * 1000 / requests, 2)))
    own = sorted(
        (
            (cum, f"{Path(filename).relative_to(ROOT)}:{line}({function})")
            for (filename, line, function), (_tot, cum) in per_function.items()
            if filename.startswith(str(ROOT)) and ".venv" not in filename and "/bench/" not in filename
        ),
        reverse=True,
    )[:12]
    buffer = io.StringIO()
    printer = pstats.Stats(profiler, stream=buffer)
    printer.sort_stats("cumulative").print_stats(45)
    printer.sort_stats("tottime").print_stats(30)
    out.write_text(f"{label}: cProfile over {requests} in-process requests\n\n{buffer.getvalue()}")
    return {
        "label": label,
        "requests": requests,
        "in_process_ms_per_request_profiled": round(wall_ms, 2),
        "breakdown_ms_per_request": breakdown,
        "project_functions_cumulative_ms": [(name, round(cum * 1000 / requests, 2)) for cum, name in own],
        "listing": str(out.relative_to(ROOT)),
    }


# --- the report ----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def build_goals(results: dict) -> list[dict]:
    goals = []
    for key, label, _path, _api in ENDPOINTS:
        p95 = results["latency"][key]["p95_ms"]
        goals.append(
            {
                "goal": f"p95 ≤ {GOAL_P95_MS:g} ms: {label}",
                "measured": f"{p95:.1f} ms",
                "pass": p95 <= GOAL_P95_MS and results["latency"][key]["errors"] == 0,
            }
        )
    for key in THROUGHPUT:
        label = next(e[1] for e in ENDPOINTS if e[0] == key)
        rps = results["throughput"][key]["requests_per_second"]
        goals.append(
            {
                "goal": f"≥ {GOAL_RPS:g} requests/s: {label}",
                "measured": f"{rps:.0f} requests/s",
                "pass": rps >= GOAL_RPS and results["throughput"][key]["errors"] == 0,
            }
        )
    small, large = results["queries"]["demo"], results["queries"]["large"]
    for key, label, _path, _api in ENDPOINTS:
        a, b = small[key]["queries"], large[key]["queries"]
        answered = small[key]["status"] == [200] and large[key]["status"] == [200]
        same = a == b and small[key]["stable"] and large[key]["stable"] and answered
        goals.append({"goal": f"same query count: {label}", "measured": f"{a} / {b}", "pass": same})
    return goals


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"SecGov benchmark — {results['date']}",
        f"Machine   {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['memory_gib']} GiB RAM",
        f"          {m['os']}; Python {m['python']}; SQLite {m['sqlite']}",
        f"Database  {results['database']}",
        f"Code      {results['revision']}",
        f"Server    python -m secgov serve --workers {results['settings']['workers']} (gunicorn gthread, "
        "4 threads each), 127.0.0.1, SECGOV_LOG_LEVEL=WARNING",
        f"Other load on the machine: {results['other_load_before_import']:.0%} of the CPU before the import,"
        f" {results['other_load_during_import']:.0%} during it, {results['other_load_before_http']:.0%} before the"
        " HTTP measurements",
        "",
    ]
    imp = results["import"]
    mem = results["import_memory"]
    n = imp["rows"]
    lines += [
        f"Import of {n:,} synthetic assets from CSV ({results['csv_mib']} MiB) through assets.exchange.import_assets",
        f"  wall time          {imp['seconds']:.1f} s  ({n / imp['seconds']:.0f} rows/s; one transaction,"
        " all or nothing)",
        f"  created            {imp['created']:,} assets, {imp['asset_controls_in_database']:,} control rows"
        f" in the database; {imp['error_count']} row errors",
        f"  peak memory        maxrss {imp['maxrss_mib']:.0f} MiB for the importing process"
        f" ({imp['maxrss_before_import_mib']:.0f} MiB before the import)",
        f"                     tracemalloc peak {mem['tracemalloc_peak_mib']:.1f} MiB (checks of all rows, then"
        f" {mem['writes_traced']} writes; {mem['after_checks_mib']} MiB held after the checks,"
        f" {mem['held_after_traced_writes_mib']} MiB after the traced writes)",
        "",
        f"Latency: {results['settings']['requests']} sequential requests per endpoint, one keep-alive"
        f" connection, {n:,} + demo assets (goal p95 ≤ {GOAL_P95_MS:g} ms)",
        f"  {'endpoint':<62} {'median':>8} {'p95':>8} {'max':>8} {'size':>9}  {'others':>6}",
    ]
    for key, label, _path, _api in ENDPOINTS:
        r = results["latency"][key]
        errors = f"  {r['errors']} errors {r['statuses']}" if r["errors"] else ""
        lines.append(
            f"  {label:<62} {r['median_ms']:>6.1f}ms {r['p95_ms']:>6.1f}ms {r['max_ms']:>6.1f}ms"
            f" {r['bytes'] / 1024:>7.1f}kB  {r['cpu']['other_processes_share']:>6.0%}"
            f"  {verdict(r['p95_ms'] <= GOAL_P95_MS and not r['errors'])}{errors}"
        )
    lines.append("  (others: share of the machine's CPU used by other processes meanwhile)")
    s = results["settings"]
    lines += [
        "",
        f"Throughput: {s['clients']} concurrent clients (keep-alive) for {s['duration']:g} s against {s['workers']}"
        f" workers (goal ≥ {GOAL_RPS:g} requests/s)",
    ]
    for key in THROUGHPUT:
        label = next(e[1] for e in ENDPOINTS if e[0] == key)
        r = results["throughput"][key]
        errors = f"  {r['errors']} errors {r['statuses']}" if r["errors"] else ""
        lines.append(
            f"  {label:<62} {r['requests_per_second']:>6.1f} req/s  (median {r['median_ms']:.0f} ms,"
            f" p95 {r['p95_ms']:.0f} ms)  {verdict(r['requests_per_second'] >= GOAL_RPS and not r['errors'])}{errors}"
        )
        cpu = r["cpu"]
        workers = " + ".join(f"{w:.1f}" for w in cpu["workers"])
        lines.append(
            f"      CPU seconds in the {cpu['seconds']:.0f} s window ({results['machine']['cores']} cores:"
            f" {results['machine']['cores'] * cpu['seconds']:.0f} available): server {cpu['server']:.1f}"
            f" (workers {workers}), load generator {cpu['load_generator']:.1f},"
            f" other processes {cpu['other_processes']:.1f}"
        )
        if r["requests"]:
            per_request = cpu["server"] * 1000 / r["requests"]
            cores = results["machine"]["cores_usable"]
            lines.append(
                f"      server CPU per request {per_request:.1f} ms: at most ~{cores * 1000 / per_request:.0f}"
                f" requests/s on {cores} cores; {GOAL_RPS:g}/s needs ≤ {cores * 1000 / GOAL_RPS:.1f} ms"
            )
    small, large = results["queries"]["demo"], results["queries"]["large"]
    lines += [
        "",
        f"SQL statements per request, in-process (goal: the same count at {results['demo_assets']} and"
        f" {results['total_assets']:,} assets)",
        f"  {'endpoint':<62} {'demo':>5} {'large':>6}  {'SQL ms demo/large':>18}  {'request ms demo/large':>22}",
    ]
    for key, label, _path, _api in ENDPOINTS:
        a, b = small[key], large[key]
        same = a["queries"] == b["queries"] and a["stable"] and b["stable"]
        note = "" if same else "  ← differs" if a["queries"] != b["queries"] else "  ← varies between requests"
        lines.append(
            f"  {label:<62} {a['queries']:>5} {b['queries']:>6}  {a['sql_ms']:>8.1f} / {b['sql_ms']:<8.1f}"
            f"  {a['in_process_ms']:>10.1f} / {b['in_process_ms']:<10.1f} {verdict(same)}{note}"
        )
    lines += ["", "  Slowest statement per endpoint at the large size:"]
    for key, label, _path, _api in ENDPOINTS:
        b = large[key]
        lines.append(f"  {label}: {b['slowest_ms']:.1f} ms  {b['slowest'][:150]}")
        for step in results.get("query_plans", {}).get(key, []):
            lines.append(f"      plan: {step}")
    if results.get("profiles"):
        lines += ["", "Profiles (cProfile, in-process at the large size; ms per request, cumulative):"]
        for prof in results["profiles"].values():
            lines.append(f"  {prof['label']}  ({prof['in_process_ms_per_request_profiled']:.1f} ms/request profiled;"
                         f" listing in {prof['listing']})")  # fmt: skip
            for title, ms in prof["breakdown_ms_per_request"]:
                lines.append(f"      {title:<48} {ms:>8.2f}")
            lines.append("      project functions:")
            for name, ms in prof["project_functions_cumulative_ms"][:8]:
                lines.append(f"        {name:<70} {ms:>8.2f}")
    busiest = max(
        r["cpu"]["other_processes_share"] for r in (*results["latency"].values(), *results["throughput"].values())
    )
    if busiest > QUIET_SHARE:
        lines += [
            "",
            f"WARNING: other processes used up to {busiest:.0%} of the CPU during the HTTP measurements:"
            " the latency and throughput figures understate this machine.",
        ]
    if results["other_load_during_import"] > QUIET_SHARE:
        lines += [
            "",
            f"WARNING: other processes used {results['other_load_during_import']:.0%} of the CPU during the import:"
            " its wall time overstates this machine.",
        ]
    goals = results["goals"]
    met = sum(1 for g in goals if g["pass"])
    lines += ["", f"Goals (issue 3): {met} of {len(goals)} met"]
    for goal in goals:
        lines.append(f"  {verdict(goal['pass'])}  {goal['goal']:<80} {goal['measured']}")
    return "\n".join(lines)


def write_json(results: dict, path: Path) -> None:
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if not str(k).startswith("_")}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- the run -------------------------------------------------------------------------------------


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=20_000, help="synthetic assets to import (default 20000)")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per endpoint (200)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of concurrent load per endpoint (20)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a loopback PostgreSQL server (postgresql+psycopg://user@127.0.0.1/postgres): the benchmark"
        " creates a scratch database there and drops it afterwards (needs CREATEDB). Default: SQLite.",
    )
    parser.add_argument("--trace-writes", type=int, default=600, help="writes traced by tracemalloc (600)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="before the import and the HTTP measurements, wait up to this long until other processes use"
        " at most 10%% of the CPU (180; 0: do not wait). The report shows the load either way.",
    )
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto", help="auto: on a miss")
    parser.add_argument("--profile-requests", type=int, default=40)
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json", help="the JSON report")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch folder (SQLite database, CSV, server log) and say where"
    )
    parser.add_argument("--import-worker", nargs=2, metavar=("MODE", "CSV"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.import_worker:
        mode, csv_path = args.import_worker
        print(json.dumps(import_worker(mode, csv_path, args.trace_writes)))
        return 0

    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (in the background)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="secgov-bench-"))
    database: ScratchDatabase | None = None
    try:
        database = ScratchDatabase(workdir, args.database_url)
        os.environ.pop("REDIS_URL", None)  # throttling counters in process: nothing outside this machine
        os.environ.update(
            {
                "DATABASE_URL": database.url,
                "SECGOV_INSTANCE_PATH": str(workdir / "instance"),
                "SECRET_KEY": secrets.token_urlsafe(48),
                "SECGOV_COOKIE_SECURE": "0",  # plain HTTP on the loopback address
                "SECGOV_LOG_LEVEL": "WARNING",
                "SECGOV_SQL_ECHO": "0",
            }
        )
        results = run(args, workdir, database)
        write_json(results, args.output)
        print(render(results))
        print(f"\nJSON report: {args.output}")
        if any(r["errors"] for r in (*results["latency"].values(), *results["throughput"].values())):
            log("some requests failed: see the report")
            return 1
        return 1 if args.strict and not all(g["pass"] for g in results["goals"]) else 0
    except KeyboardInterrupt:
        log("interrupted: stopping the server and removing the scratch database")
        return 130
    finally:
        server = _RUNNING.pop("server", None)
        if server is not None:
            server.stop()
        app = _RUNNING.pop("app", None)
        if app is not None:
            app.extensions["secgov_engine"].dispose()
        if database is not None:
            try:
                database.drop()
            except Exception as exc:  # noqa: BLE001 - cleanup must go on; say what is left behind
                log(f"could not drop the scratch database: {exc}")
        if args.keep and args.database_url is None:
            log(f"kept the scratch folder: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


_RUNNING: dict = {}  # what the finally clause of main() stops: the server, the in-process app


def run(args: argparse.Namespace, workdir: Path, database: ScratchDatabase) -> dict:
    from sqlmodel import func, select

    from assets.models import Asset
    from secgov import create_app
    from secgov.db import new_session, upgrade
    from secgov.demo import load_demo

    results: dict = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "database": database.description,
        "revision": git_revision(),
        "settings": {
            "assets": args.assets,
            "requests": args.requests,
            "clients": args.clients,
            "duration": args.duration,
            "workers": args.workers,
        },
        "goals_definition": {"p95_ms": GOAL_P95_MS, "requests_per_second": GOAL_RPS, "same_query_count": True},
    }
    log(f"scratch database: {database.description}")
    started = time.perf_counter()
    upgrade(database.url)
    app = create_app({"DATABASE_URL": database.url})
    _RUNNING["app"] = app
    with app.app_context():
        logins = load_demo()
    password = next(p for user, _roles, _dept, p in logins if user == OFFICER)
    log(f"migrated and loaded the demo city in {time.perf_counter() - started:.1f} s")
    token = create_token()

    engine = app.extensions["secgov_engine"]
    with new_session(engine, write=False) as session:
        detail_id = session.exec(select(Asset.id).where(Asset.code == DETAIL_CODE)).first()
        if detail_id is None:
            detail_id = session.exec(select(Asset.id).order_by(Asset.id)).first()
        demo_assets = session.exec(select(func.count()).select_from(Asset)).one()
    results["demo_assets"] = demo_assets
    results["detail_asset"] = {"id": detail_id, "code": DETAIL_CODE}

    # No app context around the test client: each request must get its own, as in production.
    log(f"SQL statements per request at {demo_assets} assets (in-process)")
    small = count_queries(InProcess(app, password, token, detail_id))

    log(f"generating {args.assets:,} synthetic assets")
    csv_path = workdir / f"bench-assets-{args.assets}.csv"
    csv_path.write_bytes(synth.assets_csv(args.assets))
    results["csv_mib"] = round(csv_path.stat().st_size / 2**20, 2)
    log(f"import, memory pass: tracemalloc over the checks and the first {args.trace_writes} writes (rolled back)")
    results["import_memory"] = run_import_worker("memory", csv_path, args.trace_writes, timeout=3600)
    results["other_load_before_import"] = wait_until_quiet(QUIET_SHARE, args.wait_quiet)
    log(f"import, timed pass: {args.assets:,} rows (several minutes)")
    before = cpu_snapshot()
    results["import"] = run_import_worker("timed", csv_path, args.trace_writes, timeout=4 * 3600)
    during = cpu_summary({k: v - before[k] for k, v in cpu_snapshot().items()}, os.cpu_count() or 1)
    results["other_load_during_import"] = during["other_processes_share"]
    if results["import"]["created"] != args.assets:
        raise RuntimeError(f"the import created {results['import']['created']} assets: {results['import']['errors']}")
    with new_session(engine, write=False) as session:
        results["total_assets"] = session.exec(select(func.count()).select_from(Asset)).one()

    log(f"SQL statements per request at {results['total_assets']:,} assets (in-process)")
    large = count_queries(InProcess(app, password, token, detail_id))
    results["queries"] = {"demo": small, "large": large}
    results["query_plans"] = query_plans(engine, large)

    port = free_port()
    log(f"starting the production server on 127.0.0.1:{port} with {args.workers} workers")
    server = Server(port, args.workers, workdir / "server.log")
    _RUNNING["server"] = server
    server.wait_ready()
    results["other_load_before_http"] = wait_until_quiet(QUIET_SHARE, args.wait_quiet)
    latency, throughput = measure_http(server, password, token, detail_id, args)
    results["latency"], results["throughput"] = latency, throughput
    server.stop()
    _RUNNING.pop("server", None)

    results["goals"] = build_goals(results)
    slow = [
        key
        for key, *_rest in ENDPOINTS
        if latency[key]["p95_ms"] > GOAL_P95_MS
        or (key in throughput and throughput[key]["requests_per_second"] < GOAL_RPS)
    ]
    if args.profile == "always":
        slow = [key for key, *_rest in ENDPOINTS]
    results["profiles"] = {}
    if slow and args.profile != "never":
        log(f"profiling in-process: {', '.join(slow)}")
        RESULTS.mkdir(parents=True, exist_ok=True)
        inproc = InProcess(app, password, token, detail_id)
        for key in slow:
            results["profiles"][key] = profile_endpoint(
                inproc, key, args.profile_requests, RESULTS / f"profile-{key}.txt"
            )
    return results


if __name__ == "__main__":
    sys.exit(main())

"""A multi-process deployment on PostgreSQL and Redis, started as an operator would start it.

`serve --no-scheduler --no-worker` (the web only), one `scheduler` and two `worker`s, each a
process of its own, on a PostgreSQL database and a Redis database of this test's own (never the
suite's). The test proves what the platform promises across processes:

- a second scheduler refuses to start (exit 3) while the first holds the lock;
- a schedule created through the API is run exactly once per planned time, by the workers;
- a worker killed with SIGKILL in the middle of a run leaves no run "running" for ever: the
  reaper queues it again once (the other worker does it) or fails it as `worker_lost`.

Skipped, saying why, only when PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) cannot be
reached. Runs once, in the SQLite pass of `make test` (it brings its own databases).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA_KEY, PASSWORD
from server_support import free_port

from secgov.background import LEASE_HELD_EXIT, Supervisor

pytestmark = pytest.mark.nodb

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 13  # used by nothing else in the suite; emptied before and after

STALE_SECONDS = 3
REAP_SECONDS = 1
INTERVAL_SECONDS = 2
TIMINGS = {
    "SECGOV_SCHEDULE_MIN_SECONDS": "1",
    "SECGOV_SCHEDULER_POLL_SECONDS": "0.3",
    "SECGOV_RUN_BEAT_SECONDS": "0.5",
    "SECGOV_RUN_STALE_SECONDS": str(STALE_SECONDS),
    "SECGOV_RUN_REAP_SECONDS": str(REAP_SECONDS),
    "SECGOV_SCHEDULER_LEASE_SECONDS": "10",
}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """check()'s first true answer, polled until timeout; fails naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting {timeout:.0f} s for {what}")
        time.sleep(every)


class Process:
    """A `python -m secgov ...` process with its stdout and stderr in files of its own."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.out, self.err = folder / f"{name}.out", folder / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "secgov", *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        self.pid = self.proc.pid

    def output(self) -> str:
        return "".join(path.read_text(errors="replace") for path in (self.out, self.err) if path.exists())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def report(self) -> str:
        return f"----- {self.name} (pid {self.pid}, exit {self.proc.poll()}) -----\n{self.output()}"


class Deployment:
    """The environment, databases and processes of one deployment under test."""

    def __init__(self, folder: Path) -> None:
        import psycopg
        import redis

        self.psycopg = psycopg
        self.folder = folder
        self.database = f"secgov_deploy_{os.getpid()}"
        self.redis = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)
        self.processes: list[Process] = []
        instance = folder / "instance"
        checkpoints = folder / "checkpoints"
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in {"REDIS_URL", "SECGOV_TEST_DATABASE_URL", "SECGOV_TASKS_IMMEDIATE", "SECGOV_TASKS_PATH"}
        }
        self.env = {
            **environment,
            "DATABASE_URL": f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{self.database}",
            "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "SECGOV_INSTANCE_PATH": str(instance),
            "SECRET_KEY": "deployment-test-secret-key",
            "SECGOV_TASKS_KEY": "deployment-test-tasks-key-the-same-everywhere",
            "SECGOV_DATA_KEYS": DATA_KEY,
            "SECGOV_COOKIE_SECURE": "0",
            "SECGOV_LOG_LEVEL": "INFO",
            "SECGOV_CHECKPOINT_KEY": str(checkpoints / "checkpoint_key"),
            "SECGOV_CHECKPOINT_PUBLIC_KEY": str(checkpoints / "checkpoint_key.pub"),
            "SECGOV_CHECKPOINT_LOG": str(checkpoints / "audit-checkpoints.log"),
            **TIMINGS,
        }
        self.base = ""
        self.token = ""

    # --- the databases -------------------------------------------------------------------------

    def _admin(self, statement: str) -> None:
        with self.psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(statement)

    def create_databases(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.database}"')
        self.redis.flushdb()

    def drop_databases(self) -> None:
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            self.redis.flushdb()
            self.redis.close()

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Rows of a query on the deployment's database (read directly, as an operator would)."""
        with self.psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=self.database) as c:
            return list(c.execute(sql, params).fetchall())

    # --- commands and processes ----------------------------------------------------------------

    def command(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "-m", "secgov", *args],
            env=self.env,
            input=stdin.encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"secgov {' '.join(args)} exited {done.returncode}:\n{done.stderr.decode()}"
        return done.stdout.decode()

    def start(self, name: str, *args: str) -> Process:
        process = Process(name, list(args), self.env, self.folder)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.proc.poll() is None:
                process.proc.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.stop()

    def report(self) -> str:
        return "\n".join(process.report() for process in self.processes)

    # --- the API -------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 - a loopback URL built here
            f"{self.base}/api/v1{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode(errors="replace")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False


@pytest.fixture
def deployment(tmp_path):
    missing = [
        f"{name} ({host}:{port})"
        for name, host, port in (("PostgreSQL", PG_HOST, PG_PORT), ("Redis", REDIS_HOST, REDIS_PORT))
        if not reachable(host, port)
    ]
    if missing:
        pytest.skip(f"the multi-process deployment needs {' and '.join(missing)}, which cannot be reached")
    running = Deployment(tmp_path)
    running.create_databases()
    try:
        yield running
    finally:
        running.stop_all()
        running.drop_databases()


def pid_of(worker: str) -> int:
    """The process id in a run's worker name ("host:pid")."""
    return int(worker.rsplit(":", 1)[1])


def test_web_scheduler_and_two_workers(deployment):
    """The web, one scheduler and two workers, each a process: the lock keeps a second scheduler
    out, a schedule runs once per planned time, and a killed worker's run is not left running."""
    started = time.monotonic()
    try:
        exercise(deployment)
    except BaseException:
        print(deployment.report())  # shown with the failure: every process's output
        raise
    print(f"deployment test: {time.monotonic() - started:.1f} s")


def exercise(d: Deployment) -> None:
    d.command("db", "upgrade")
    port = free_port()
    d.base = f"http://127.0.0.1:{port}"
    web = d.start(
        "web", "serve", "--no-scheduler", "--no-worker", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"
    )
    scheduler = d.start("scheduler", "scheduler")
    workers = [d.start(f"worker{n}", "worker", "--threads", "2") for n in (1, 2)]
    worker_pids = {w.pid for w in workers}
    # The first admin and their token, made while the processes start.
    d.command("user", "create", "root-admin", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    d.token = d.command("token", "create", "root-admin").strip()
    assert d.token

    def all_alive() -> None:
        dead = [p.name for p in (web, scheduler, *workers) if p.proc.poll() is not None]
        assert not dead, f"stopped early: {dead}\n{d.report()}"

    def lease_holder() -> str:
        rows = d.query("SELECT holder FROM scheduler_lease WHERE expires_at > now()")
        return rows[0][0] if rows else ""

    wait_for("the web server's /healthz", lambda: all_alive() or d.healthy(), timeout=30)
    holder = wait_for("the scheduler's lock", lease_holder, timeout=30)
    assert holder.split(":")[1] == str(scheduler.pid), holder

    # A second scheduler refuses to start while the first holds the lock (checked below, while
    # the schedule runs).
    second = d.start("scheduler2", "scheduler")

    # --- a schedule made through the API runs once per planned time ------------------------------
    status, schedule = d.api(
        "POST",
        "/schedules",
        {"kind": "system.check", "name": "deployment", "interval_seconds": INTERVAL_SECONDS, "params": {}},
    )
    assert status == 201, schedule
    time.sleep(7)
    all_alive()
    status, paused = d.api(
        "PATCH",
        f"/schedules/{schedule['id']}",
        {
            "kind": "system.check",
            "name": "deployment",
            "interval_seconds": INTERVAL_SECONDS,
            "params": {},
            "enabled": False,
            "version": schedule["version"],
        },
    )
    assert status == 200, paused
    assert paused["enabled"] is False
    paused_at = time.monotonic()

    second.proc.wait(timeout=20)
    assert second.proc.returncode == 3, second.report()
    assert "another scheduler" in second.output() and "holds the lock" in second.output(), second.report()
    assert lease_holder() == holder  # the first scheduler kept it

    def scheduled_runs() -> list[tuple]:
        return d.query(
            "SELECT id, planned_at, status, attempt, worker FROM run WHERE schedule_id = %s ORDER BY planned_at",
            schedule["id"],
        )

    rows = wait_for(
        "the scheduled runs to end",
        lambda: (rows := scheduled_runs()) and all(r[2] in ("succeeded", "failed") for r in rows) and rows,
        timeout=10,
    )
    planned = [r[1] for r in rows]
    assert len(rows) >= 2, rows
    assert len(set(planned)) == len(planned), f"a planned time was run twice: {rows}"
    assert [b - a for a, b in zip(planned, planned[1:], strict=False)] == [timedelta(seconds=INTERVAL_SECONDS)] * (
        len(planned) - 1
    ), f"planned times are not {INTERVAL_SECONDS} s apart: {planned}"
    # ... counted from the schedule's creation, as every scheduler counts them.
    created = datetime.fromisoformat(schedule["created_at"])
    assert (planned[0] - created) % timedelta(seconds=INTERVAL_SECONDS) == timedelta(0), (created, planned)
    assert planned[0] > created
    assert all(r[2] == "succeeded" and r[3] == 1 for r in rows), rows
    done_by = {pid_of(r[4]) for r in rows}
    assert done_by <= worker_pids, f"runs done by {done_by}, not by the workers {worker_pids}"
    # Each run was taken by a worker exactly once (Redis delivered each task once).
    started_entries = Counter(
        int(object_id)
        for (object_id,) in d.query(
            "SELECT object_id FROM audit_entry"
            " WHERE object_type = 'run' AND action = 'run.started' AND object_id = ANY(%s)",
            [str(r[0]) for r in rows],
        )
    )
    assert started_entries == Counter({r[0]: 1 for r in rows}), started_entries
    print(f"scheduled runs: {len(rows)}, done by workers {sorted(done_by)} of {sorted(worker_pids)}")

    # --- a worker killed in the middle of a run ------------------------------------------------
    hold = 3
    status, run = d.api("POST", "/jobs", {"kind": "system.check", "params": {"hold_seconds": hold}})
    assert status == 202, run
    run_id = run["id"]

    def run_row() -> tuple:
        return d.query("SELECT status, attempt, worker, reason FROM run WHERE id = %s", run_id)[0]

    status_now, attempt, worker, _reason = wait_for(
        "a worker to take the run",
        lambda: (row := run_row()) and row[0] != "queued" and row,
        timeout=10,
        every=0.1,
    )
    assert (status_now, attempt) == ("running", 1), run_row()
    victim = pid_of(worker)
    assert victim in worker_pids, f"run {run_id} is done by {worker}, not by one of the workers {worker_pids}"
    progress = "SELECT coalesce(progress_done, 0) FROM run WHERE id = %s"
    wait_for("a second of its work", lambda: d.query(progress, run_id)[0][0] >= 1, timeout=10)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    killed = next(w for w in workers if w.pid == victim)
    killed.proc.wait(timeout=5)
    survivor = next(w for w in workers if w.pid != victim)

    # Given up within STALE + REAP seconds of the last heartbeat, plus a margin for the polling.
    limit = STALE_SECONDS + REAP_SECONDS + 5
    status_now, attempt, worker_now, reason = wait_for(
        "the reaper to give the killed worker's run up",
        lambda: (row := run_row()) and not (row[0] == "running" and row[1] == 1) and row,
        timeout=limit,
        every=0.1,
    )
    given_up_after = time.monotonic() - killed_at
    audited = "SELECT action FROM audit_entry WHERE object_type = 'run' AND object_id = %s"
    actions = {action for (action,) in d.query(audited, str(run_id))} & {"run.requeued", "run.failed"}
    assert actions, f"no run.requeued nor run.failed entry for run {run_id}"
    if status_now == "failed":
        assert reason == "worker_lost", (status_now, reason)
        assert "run.failed" in actions
    else:
        # Queued again once, and done by the worker that is left.
        assert attempt == 2, (status_now, attempt)
        assert "run.requeued" in actions
        status_now, attempt, worker_now, reason = wait_for(
            "the second attempt to succeed",
            lambda: (row := run_row()) and row[0] in ("succeeded", "failed") and row,
            timeout=hold + 10,
        )
        assert (status_now, attempt, reason) == ("succeeded", 2, ""), (status_now, attempt, reason)
        assert pid_of(worker_now) == survivor.pid, (worker_now, survivor.pid)
        status, read = d.api("GET", f"/jobs/{run_id}")
        assert status == 200 and read["status"] == "succeeded" and read["attempt"] == 2, read
        assert read["result"]["worker"] == worker_now and read["result"]["held_seconds"] == hold, read
    print(f"killed worker's run given up after {given_up_after:.1f} s: {status_now}, attempt {attempt}")

    # The paused schedule planned nothing more after the pause (it is read once more now, long
    # after the pause, so a late firing would show).
    assert time.monotonic() - paused_at > 2 * INTERVAL_SECONDS
    assert scheduled_runs() == rows
    all_alive_but_killed = [p.name for p in (web, scheduler, survivor) if p.proc.poll() is not None]
    assert not all_alive_but_killed, all_alive_but_killed


def test_supervisor_starts_a_refused_scheduler_again(tmp_path):
    """`serve`'s supervisor starts a scheduler that found the lock held (exit 3) again after the
    standby time, so that it takes over once the holder is gone (a scheduler killed before it
    released its lease is refused by its own successor until the lease expires); stop() ends
    every child and starts no more."""
    starts = tmp_path / "starts"
    refused = f"import sys; open({str(starts)!r}, 'a').write('x'); sys.exit({LEASE_HELD_EXIT})"
    busy = "import time; time.sleep(60)"
    supervisor = Supervisor(
        [[sys.executable, "-c", refused], [sys.executable, "-c", busy]], standby_seconds=0.2, every=0.1
    )
    supervisor.start()
    try:
        wait_for("the refused child to be started three times", lambda: len(_text(starts)) >= 3, timeout=20)
    finally:
        supervisor.stop()
    assert all(child.poll() is not None for child in supervisor.children.values())
    count = len(_text(starts))
    time.sleep(0.5)
    assert len(_text(starts)) == count, "a child was started after stop()"


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""

"""The task queues (Huey) and the one task they carry: "run number N".

The backend follows the deployment: `RedisHuey` when REDIS_URL is set, else `PostgresHuey` on the
application's PostgreSQL, else `SqliteHuey` in `instance/tasks.sqlite3` (SECGOV_TASKS_PATH). Every
payload is signed (`SignedSerializer`, key SECGOV_TASKS_KEY or `instance/tasks_key`, never in the
database), so that whoever can write to the queue cannot make a worker unpickle what they wrote:
a worker refuses an unsigned or altered task. A task carries only a run's id; what to do and for
whom is read from the run table.

Two more tasks serve the network zones' agents (`secgov.agent`), which hold no database
credentials: a run of a kind with a `Remote` on a queue other than its kind's own is handed over
as "remote" (the payload its kind's `hand_off` builds centrally, signed like every task), and the
agent answers with "reply" tasks on the default queue, which a central worker passes to the
kind's `on_reply`. A PostgreSQL queue may live in a database of its own
(SECGOV_TASKS_DATABASE_URL), so that an agent needs no credentials of the application's.

Consumers run with periodic tasks off: the scheduler (`secgov.scheduler`) is the only clock.
`SECGOV_TASKS_IMMEDIATE` (the tests) runs each task at once in the process that hands it over.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey
from huey.serializer import SignedSerializer
from redis import ConnectionPool
from sqlalchemy import event, update
from sqlalchemy.engine import make_url
from sqlmodel import Session

from secgov import runs
from secgov.config import INSTANCE, instance_file
from secgov.db import new_session, write_session
from secgov.errors import Invalid
from secgov.models import Run
from secgov.runs import DeadlineExceeded, GivenUp, JobContext, JobFailed, JobKind, Remote

log = logging.getLogger("secgov.tasks")

DEFAULT_QUEUE = "default"
SCHEDULER_QUEUE = "scheduler"  # run by the scheduler process itself, never handed to Huey
TASK_NAME = "secgov.run"
REMOTE_TASK = "secgov.remote"  # central -> a zone's agent: what to do, built centrally
REPLY_TASK = "secgov.reply"  # a zone's agent -> the central workers, on the default queue
_SALT = "secgov-tasks"


def task_key(config: Mapping[str, Any], instance: Path = INSTANCE) -> str:
    """The key that signs task payloads: SECGOV_TASKS_KEY (the same on every host of a
    deployment), or `instance/tasks_key` (made once, 0600) for a single machine."""
    key = config.get("SECGOV_TASKS_KEY")
    if key:
        return str(key)
    return instance_file(instance, "tasks_key", lambda: secrets.token_urlsafe(48)).strip()


def backend(config: Mapping[str, Any]) -> str:
    """ "immediate", "redis", "postgres" or "sqlite": which Huey this deployment uses."""
    if config.get("SECGOV_TASKS_IMMEDIATE"):
        return "immediate"
    if config.get("REDIS_URL"):
        return "redis"
    if str(config.get("SECGOV_TASKS_DATABASE_URL") or config.get("DATABASE_URL") or "").startswith("postgresql"):
        return "postgres"
    return "sqlite"


def make_huey(config: Mapping[str, Any], name: str) -> Huey:
    """The Huey of queue `name` for this deployment's backend, with the signing serializer and no
    task registered (the central platform and the zones' agents register theirs)."""
    serializer = SignedSerializer(secret=task_key(config), salt=_SALT)
    options: dict[str, Any] = {"name": name, "results": False, "serializer": serializer, "utc": True}
    kind = backend(config)
    if kind == "immediate":
        return Huey(immediate=True, **options)
    if kind == "redis":
        # Huey takes a URL or a pool, not a URL with connection options: the pool carries them.
        pool = ConnectionPool.from_url(config["REDIS_URL"], socket_connect_timeout=3, socket_timeout=10)
        return RedisHuey(connection_pool=pool, **options)
    if kind == "postgres":
        url = make_url(config.get("SECGOV_TASKS_DATABASE_URL") or config["DATABASE_URL"]).set(drivername="postgresql")
        return PostgresHuey(dsn=url.render_as_string(hide_password=False), connect_timeout=5, **options)
    path = Path(config.get("SECGOV_TASKS_PATH") or INSTANCE / "tasks.sqlite3")
    return SqliteHuey(filename=str(path), **options)


def register_task(huey: Huey, name: str, function: Callable[..., Any]) -> Any:
    """Register `function` as the task `name` of a queue, under the same key in every process:
    Huey keys a task by its function's module and the name, and the agents' functions live in
    other modules than the platform's."""

    def task(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    task.__module__ = __name__
    task.__doc__ = function.__doc__
    return huey.task(name=name)(task)


class Platform:
    """The queues of one process and how runs reach them (`dispatch`) and are done (`execute`)."""

    def __init__(self, app: Flask):
        self.app = app
        self.engine = app.extensions["secgov_engine"]
        self.registry = app.extensions["secgov_registry"]
        self.config = app.config
        self.backend = backend(app.config)
        self._queues: dict[str, Huey] = {}
        self._tasks: dict[str, Any] = {}
        self._remote: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def kinds(self) -> Mapping[str, JobKind]:
        return self.registry.jobs

    # --- the queues -----------------------------------------------------------------------

    def queue(self, name: str = DEFAULT_QUEUE) -> Huey:
        """The Huey of a queue, with the run task registered (made on first use)."""
        with self._lock:
            if name not in self._queues:
                self._queues[name] = self._make(name)
            return self._queues[name]

    def _make(self, name: str) -> Huey:
        huey = make_huey(self.config, name)
        self._tasks[name] = register_task(huey, TASK_NAME, self.execute)
        self._remote[name] = register_task(huey, REMOTE_TASK, self._not_here)
        register_task(huey, REPLY_TASK, self.receive)
        return huey

    def close(self) -> None:
        """Close the queues' connections (PostgresHuey and SqliteHuey keep some open)."""
        with self._lock:
            for huey in self._queues.values():
                huey.storage.close()
            self._queues.clear()
            self._tasks.clear()
            self._remote.clear()

    def task(self, name: str = DEFAULT_QUEUE):
        """The run task of a queue (its Huey's TaskWrapper)."""
        self.queue(name)
        return self._tasks[name]

    # --- handing runs over -----------------------------------------------------------------

    def dispatch(self, run_ids: Sequence[int]) -> None:
        """Hand queued runs to their queues. A queue that cannot be reached fails the run with
        its reason (the web answer that asked for it is not affected). Runs of the scheduler's
        own queue stay queued: the scheduler picks them up."""
        for run_id in run_ids:
            with new_session(self.engine, write=False) as session:
                run = session.get(Run, run_id)
            if run is None or run.status != "queued" or run.queue == SCHEDULER_QUEUE:
                continue
            kind = self.kinds.get(run.kind)
            remote = kind.remote if kind is not None and run.queue != kind.queue else None
            try:
                huey = self.queue(run.queue)
                if remote is None:
                    huey.enqueue(self.task(run.queue).s(run_id))
                elif not self._hand_off(huey, remote, run):
                    continue
            except Exception as exc:  # noqa: BLE001 - any failure of the queue's server
                log.error("run %s could not be handed to queue %s: %s", run_id, run.queue, exc)
                alerts = runs.fail(
                    self.engine,
                    run_id,
                    "queue_unavailable",
                    f"{type(exc).__name__}: {exc}"[:500],
                    from_status=("queued",),
                    kinds=self.kinds,
                )
                if alerts:
                    self.dispatch(alerts)
                continue
            with write_session(self.engine) as session:
                session.execute(
                    update(Run).where(Run.id == run_id, Run.handed_at.is_(None)).values(handed_at=datetime.now(UTC))
                )

    def _hand_off(self, huey: Huey, remote: Remote, run: Run) -> bool:
        """Hand a run to a zone's agent: the payload its kind builds here (False: the kind ended
        the run instead). Tests run tasks at once and have no agent: the run stays queued."""
        with self.app.app_context():
            payload = remote.hand_off(self.engine, self.config, run)
        if payload is None:
            return False
        if self.backend == "immediate":
            log.info("run %s waits for an agent of queue %s (no agents in immediate mode)", run.id, run.queue)
            return False
        huey.enqueue(self._remote[run.queue].s(dict(payload)))
        return True

    def _not_here(self, payload: Mapping[str, Any]) -> None:
        """A remote task reached a central worker: they never consume a zone's queue."""
        log.error("a task for a zone's agent reached a central worker; dropped (run %s)", payload.get("run_id"))

    def receive(self, payload: Mapping[str, Any]) -> None:
        """A zone agent's reply (the task every central worker of the default queue runs): given to
        its kind's `on_reply`; a reply nobody knows is logged and dropped."""
        code = str(payload.get("kind", "")) if isinstance(payload, Mapping) else ""
        kind = self.kinds.get(code)
        if kind is None or kind.remote is None:
            log.error("a reply of an unknown kind (%r) was dropped", code)
            return
        with self.app.app_context():
            try:
                kind.remote.on_reply(self, payload)
            except Exception:  # noqa: BLE001 - a reply that fails must not stop the worker
                log.exception(
                    "the %s reply of %s for run %s failed", payload.get("type"), kind.code, payload.get("run_id")
                )

    # --- doing a run ------------------------------------------------------------------------

    def execute(self, run_id: int) -> None:
        """Take run `run_id` and do it (the task every worker runs)."""
        engine = self.engine
        with new_session(engine, write=False) as session:
            run = session.get(Run, run_id)
        if run is None:
            return
        kind = self.kinds.get(run.kind)
        if kind is None:
            runs.fail(engine, run_id, "unknown_kind", from_status=("queued",))
            return
        claimed = runs.claim(engine, run_id, kind, runs.worker_name())
        if claimed is None:
            return  # taken by another worker, or ended
        attempt = claimed.attempt
        alerts: list[int] | None = None
        with self.app.app_context():
            try:
                with new_session(engine, write=False) as session:
                    actor = runs.actor_of(session, claimed)
                params = runs.check_params(kind, runs.loads(claimed.params))
                context = JobContext(
                    run_id=run_id,
                    attempt=attempt,
                    kind=kind,
                    params=params,
                    actor=actor,
                    engine=engine,
                    config=self.config,
                    registry=self.registry,
                    deadline=claimed.deadline_at,
                    dispatch=self.dispatch,
                )
                with heartbeat(engine, run_id, attempt, float(self.config.get("SECGOV_RUN_BEAT_SECONDS", 10))):
                    result = kind.run(context)
            except GivenUp:
                log.warning("run %s attempt %s was given up by the reaper: stopped", run_id, attempt)
            except DeadlineExceeded:
                alerts = runs.fail(engine, run_id, "timeout", attempt=attempt, kinds=self.kinds)
            except JobFailed as exc:
                alerts = runs.fail(
                    engine, run_id, exc.reason, exc.detail, attempt=attempt, result=exc.result, kinds=self.kinds
                )
            except Invalid as exc:
                alerts = runs.fail(engine, run_id, "bad_params", exc.message, attempt=attempt, kinds=self.kinds)
            except Exception as exc:  # noqa: BLE001 - any failure ends the run, never the worker
                log.exception("run %s (%s) failed", run_id, kind.code)
                alerts = runs.fail(engine, run_id, "error", type(exc).__name__, attempt=attempt, kinds=self.kinds)
            else:
                runs.finish(engine, run_id, attempt, result)
        if alerts:
            self.dispatch(alerts)


@contextmanager
def heartbeat(engine, run_id: int, attempt: int, every: float):
    """Beat for a run in a thread while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                if not runs.beat(engine, run_id, attempt):
                    return
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.exception("heartbeat of run %s", run_id)

    thread = threading.Thread(target=beat, name=f"beat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def platform_of(app: Flask) -> Platform:
    """The app's platform (one per process, made on first use)."""
    app = app._get_current_object() if hasattr(app, "_get_current_object") else app  # not current_app's proxy
    platform = app.extensions.get("secgov_platform")
    if platform is None:
        platform = app.extensions["secgov_platform"] = Platform(app)
    return platform


# --- handing over after the commit -------------------------------------------------------------
#
# A frame asks for runs in its transaction (`runs.enqueue`) and calls `hand_over`; the runs reach
# the queue when that transaction commits, never before (a worker would not find the row) and
# never when it is rolled back.


def hand_over(session: Session, platform: Platform, run_ids: Sequence[int]) -> None:
    """Hand these runs to their queues once the session's transaction commits."""
    session.info.setdefault(_PENDING, []).extend(run_ids)
    session.info[_PLATFORM] = platform


_PENDING = "secgov_runs_to_dispatch"
_PLATFORM = "secgov_platform"


@event.listens_for(Session, "after_commit")
def _dispatch_committed(session: Session) -> None:
    run_ids = session.info.pop(_PENDING, None)
    platform = session.info.pop(_PLATFORM, None)
    if run_ids and platform is not None:
        platform.dispatch(run_ids)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_PLATFORM, None)

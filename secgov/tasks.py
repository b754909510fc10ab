"""The task queues (Huey) and the one task they carry: "run number N".

The backend follows the deployment: `RedisHuey` when REDIS_URL is set, else `PostgresHuey` on the
application's PostgreSQL, else `SqliteHuey` in `instance/tasks.sqlite3` (SECGOV_TASKS_PATH). Every
payload is signed (`SignedSerializer`, key SECGOV_TASKS_KEY or `instance/tasks_key`, never in the
database), so that whoever can write to the queue cannot make a worker unpickle what they wrote:
a worker refuses an unsigned or altered task. A task carries only a run's id; what to do and for
whom is read from the run table.

Consumers run with periodic tasks off: the scheduler (`secgov.scheduler`) is the only clock.
`SECGOV_TASKS_IMMEDIATE` (the tests) runs each task at once in the process that hands it over.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping, Sequence
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
from sqlmodel import Session, select

from secgov import runs
from secgov.config import INSTANCE, instance_file
from secgov.db import new_session, write_session
from secgov.errors import Invalid
from secgov.models import Run
from secgov.runs import DeadlineExceeded, GivenUp, JobContext, JobFailed, JobKind

log = logging.getLogger("secgov.tasks")

DEFAULT_QUEUE = "default"
SCHEDULER_QUEUE = "scheduler"  # run by the scheduler process itself, never handed to Huey
TASK_NAME = "secgov.run"
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
    if str(config.get("DATABASE_URL") or "").startswith("postgresql"):
        return "postgres"
    return "sqlite"


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
        serializer = SignedSerializer(secret=task_key(self.config), salt=_SALT)
        options: dict[str, Any] = {"name": name, "results": False, "serializer": serializer, "utc": True}
        if self.backend == "immediate":
            huey: Huey = Huey(immediate=True, **options)
        elif self.backend == "redis":
            # Huey takes a URL or a pool, not a URL with connection options: the pool carries them.
            pool = ConnectionPool.from_url(self.config["REDIS_URL"], socket_connect_timeout=3, socket_timeout=10)
            huey = RedisHuey(connection_pool=pool, **options)
        elif self.backend == "postgres":
            url = make_url(self.config["DATABASE_URL"]).set(drivername="postgresql")
            dsn = url.render_as_string(hide_password=False)
            huey = PostgresHuey(dsn=dsn, connect_timeout=5, **options)
        else:
            path = Path(self.config.get("SECGOV_TASKS_PATH") or INSTANCE / "tasks.sqlite3")
            huey = SqliteHuey(filename=str(path), **options)
        self._tasks[name] = huey.task(name=TASK_NAME)(self.execute)
        return huey

    def close(self) -> None:
        """Close the queues' connections (PostgresHuey and SqliteHuey keep some open)."""
        with self._lock:
            for huey in self._queues.values():
                huey.storage.close()
            self._queues.clear()
            self._tasks.clear()

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
                row = session.exec(select(Run.queue, Run.status).where(Run.id == run_id)).first()
            if row is None or row[1] != "queued" or row[0] == SCHEDULER_QUEUE:
                continue
            try:
                huey = self.queue(row[0])
                huey.enqueue(self.task(row[0]).s(run_id))
            except Exception as exc:  # noqa: BLE001 - any failure of the queue's server
                log.error("run %s could not be handed to queue %s: %s", run_id, row[0], exc)
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

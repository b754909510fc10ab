"""The one scheduler process: APScheduler decides when, from the application's own schedule table.

APScheduler 3's job stores must never be shared between processes, so this scheduler keeps its
jobs in memory and reads `secgov.models.Schedule` instead, reloading when the table changes. Each
firing asks for a run (`runs.enqueue`) unique per (schedule, planned time), so a planned run is
asked for once however often it is fired; runs missed while no scheduler ran coalesce into one,
planned for the latest missed time. Exactly one scheduler runs: it holds a lease row
(`SchedulerLease`) that it renews; another scheduler starting meanwhile refuses (`LeaseHeld`).

The scheduler also runs the reaper (`runs.reap`) and does the runs of its own queue ("scheduler":
work that needs what only this host holds, such as the checkpoint key) in a small thread pool.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from secgov import runs, schedules
from secgov.authz import Actor
from secgov.db import new_session, write_session
from secgov.models import Run, Schedule, SchedulerLease
from secgov.tasks import SCHEDULER_QUEUE, platform_of

log = logging.getLogger("secgov.scheduler")

LEASE = "scheduler"


class LeaseHeld(Exception):
    """Another scheduler holds the lease."""

    def __init__(self, holder: str, expires_at: datetime):
        super().__init__(f"another scheduler ({holder}) holds the lock until {expires_at.isoformat()}")
        self.holder = holder
        self.expires_at = expires_at


class _PlannedExecutor(BaseExecutor):
    """Calls a job's function at once with the time it was planned for (the latest one when missed
    runs coalesce): APScheduler's own executors do not tell a job when it was meant to run."""

    def _do_submit_job(self, job, run_times):
        try:
            job.func(*job.args, planned_at=run_times[-1])
        except Exception as exc:  # noqa: BLE001 - the scheduler's thread must go on
            log.exception("firing %s failed", job.id)
            self._run_job_error(job.id, exc, exc.__traceback__)
        else:
            self._run_job_success(job.id, [])


class Scheduler:
    """The scheduler of one process; `run` until `stop`."""

    def __init__(self, app: Flask):
        config = app.config
        self.app = app
        self.platform = platform_of(app)
        self.engine = self.platform.engine
        self.timezone = str(config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))
        self.holder = f"{socket.gethostname()}:{__import__('os').getpid()}:{secrets.token_hex(4)}"
        self.lease_seconds = int(config.get("SECGOV_SCHEDULER_LEASE_SECONDS", 30))
        self.poll_seconds = float(config.get("SECGOV_SCHEDULER_POLL_SECONDS", 2))
        self.reap_seconds = float(config.get("SECGOV_RUN_REAP_SECONDS", 30))
        self.stale_seconds = int(config.get("SECGOV_RUN_STALE_SECONDS", runs.STALE_SECONDS))
        self.unclaimed_seconds = int(config.get("SECGOV_RUN_UNCLAIMED_SECONDS", runs.UNCLAIMED_SECONDS))
        self.aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": _PlannedExecutor()},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        self.local = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scheduler-run")
        self._local_runs: set[int] = set()
        self._versions: dict[int, int] = {}
        self._fingerprint: tuple | None = None
        self._stopping = threading.Event()

    @property
    def kinds(self):
        return self.platform.kinds

    # --- the lease -----------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lease, or raise LeaseHeld when another scheduler holds a current one."""
        now = datetime.now(UTC)
        try:
            with write_session(self.engine) as session:
                lease = session.get(SchedulerLease, LEASE, with_for_update=True)
                if lease is not None and lease.holder != self.holder and lease.expires_at > now:
                    raise LeaseHeld(lease.holder, lease.expires_at)
                expires = now + timedelta(seconds=self.lease_seconds)
                if lease is None:
                    session.add(SchedulerLease(name=LEASE, holder=self.holder, acquired_at=now, expires_at=expires))
                else:
                    lease.holder, lease.acquired_at, lease.expires_at = self.holder, now, expires
        except IntegrityError:  # another scheduler inserted the row at the same moment
            with new_session(self.engine, write=False) as session:
                lease = session.get(SchedulerLease, LEASE)
            raise LeaseHeld(lease.holder if lease else "?", lease.expires_at if lease else now) from None

    def renew(self) -> bool:
        """Extend the lease; False when another scheduler has taken it (this one must stop)."""
        with write_session(self.engine) as session:
            return bool(
                session.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == LEASE, SchedulerLease.holder == self.holder)
                    .values(expires_at=datetime.now(UTC) + timedelta(seconds=self.lease_seconds))
                ).rowcount
            )

    def release(self) -> None:
        with write_session(self.engine) as session:
            session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == LEASE, SchedulerLease.holder == self.holder)
                .values(expires_at=datetime.now(UTC))
            )

    # --- schedules -------------------------------------------------------------------------------

    def sync(self, force: bool = False) -> bool:
        """Load the schedule table into APScheduler when it changed; True when it did."""
        with new_session(self.engine, write=False) as session:
            fingerprint = schedules.fingerprint(session)
            if fingerprint == self._fingerprint and not force:
                return False
            rows = schedules.list_all(session)
        wanted = {row.id: row for row in rows if row.enabled and row.kind in self.kinds}
        for schedule_id in list(self._versions):
            if schedule_id not in wanted or wanted[schedule_id].version != self._versions[schedule_id]:
                self._remove(schedule_id)
        for schedule_id, row in wanted.items():
            if schedule_id not in self._versions:
                self._add(row)
        self._fingerprint = fingerprint  # only once applied: a failed pass is done again
        log.info("schedules loaded: %d active", len(self._versions))
        return True

    def _add(self, row: Schedule) -> None:
        try:
            trigger = schedules.trigger(row, self.timezone)
        except (ValueError, KeyError):
            log.error("schedule %s has an unreadable expression %r; skipped", row.id, row.cron)
            return
        now = datetime.now(UTC)
        after = row.last_planned_at + timedelta(microseconds=1) if row.last_planned_at else now
        first = trigger.get_next_fire_time(None, after)
        if first is None:
            return
        self.aps.add_job(
            self.fire, trigger, args=(row.id,), id=f"schedule-{row.id}", next_run_time=first, replace_existing=True
        )
        self._versions[row.id] = row.version

    def _remove(self, schedule_id: int) -> None:
        try:
            self.aps.remove_job(f"schedule-{schedule_id}")
        except JobLookupError:
            pass
        self._versions.pop(schedule_id, None)

    def fire(self, schedule_id: int, planned_at: datetime | None = None) -> int | None:
        """Ask for the run of a schedule planned for planned_at, once: None when it was asked for
        already (by this scheduler before a restart, or by another) or the schedule is gone."""
        planned_at = (planned_at or datetime.now(UTC)).astimezone(UTC)
        try:
            with write_session(self.engine) as session:
                schedule = session.get(Schedule, schedule_id)
                kind = self.kinds.get(schedule.kind) if schedule else None
                if schedule is None or not schedule.enabled or kind is None:
                    return None
                exists = session.exec(
                    select(Run.id).where(Run.schedule_id == schedule_id, Run.planned_at == planned_at)
                ).first()
                if exists is not None:
                    return None
                params = json.loads(schedule.params or "{}")
                try:
                    checked = runs.check_params(kind, params)
                except Exception:  # noqa: BLE001 - the kind's parameters changed since
                    log.error("schedule %s has parameters its kind refuses; not fired", schedule_id)
                    return None
                run = runs.enqueue(
                    session, Actor.system("job"), kind, checked, schedule_id=schedule_id, planned_at=planned_at
                )
                session.execute(update(Schedule).where(Schedule.id == schedule_id).values(last_planned_at=planned_at))
                run_id, queue = run.id, run.queue
        except IntegrityError:
            return None  # the same planned run, asked for at the same moment elsewhere
        log.info("schedule %s fired for %s: run %s", schedule_id, planned_at.isoformat(), run_id)
        if queue == SCHEDULER_QUEUE:
            self.run_local(run_id)
        else:
            self.platform.dispatch([run_id])
        return run_id

    # --- runs done here -------------------------------------------------------------------------

    def run_local(self, run_id: int) -> None:
        if run_id in self._local_runs:
            return
        self._local_runs.add(run_id)

        def work() -> None:
            try:
                self.platform.execute(run_id)
            finally:
                self._local_runs.discard(run_id)

        self.local.submit(work)

    def pick_up_local(self) -> None:
        """Runs of the scheduler's queue asked for elsewhere (a button, the API)."""
        with new_session(self.engine, write=False) as session:
            waiting = session.exec(select(Run.id).where(Run.status == "queued", Run.queue == SCHEDULER_QUEUE)).all()
        for run_id in waiting:
            self.run_local(run_id)

    def reap(self, now: datetime | None = None) -> runs.Reaped:
        reaped = runs.reap(
            self.engine,
            self.kinds,
            now=now,
            stale_seconds=self.stale_seconds,
            unclaimed_seconds=self.unclaimed_seconds,
        )
        self.platform.dispatch(reaped.to_dispatch)
        self.pick_up_local()
        if reaped.requeued or reaped.failed or reaped.rehanded:
            log.warning(
                "reaper: %d queued again, %d failed, %d handed over again",
                len(reaped.requeued),
                len(reaped.failed),
                len(reaped.rehanded),
            )
        return reaped

    # --- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Hold the lease and schedule until `stop` (LeaseHeld when another scheduler runs) or until
        another scheduler took the lease. A pass that fails (the database restarting) is logged and
        tried again at the next poll; the lease is released however the loop ends."""
        self.acquire()
        log.info("scheduler %s started", self.holder)
        next_renew = next_reap = time.monotonic()
        try:
            self.aps.start()
            while not self._stopping.is_set():
                now = time.monotonic()
                try:
                    if now >= next_renew:
                        if not self.renew():
                            log.error("the scheduler lock was taken by another scheduler: stopping")
                            break
                        next_renew = now + self.lease_seconds / 3
                    self.sync()  # the first pass loads every schedule
                    self.pick_up_local()
                    if now >= next_reap:
                        next_reap = now + self.reap_seconds
                        self.reap()
                except Exception:  # noqa: BLE001 - the next pass tries again
                    log.exception("a pass of the scheduler failed; trying again")
                self._stopping.wait(self.poll_seconds)
        finally:
            if self.aps.running:
                self.aps.shutdown(wait=False)
            self.local.shutdown(wait=True, cancel_futures=True)
            try:
                self.release()
            except Exception:  # noqa: BLE001 - it expires by itself
                log.exception("the scheduler lock could not be released; it expires by itself")
            log.info("scheduler %s stopped", self.holder)

    def stop(self) -> None:
        self._stopping.set()

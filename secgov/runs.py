"""The run table: every piece of background work is a row (`secgov.models.Run`), from the moment it
is asked for until it has succeeded or failed, whoever runs it.

A kind of work is declared once as a `JobKind` (by the core in `secgov.jobs`, by a domain in its
`Domain.jobs`); the frames ask for a run with `enqueue` (web, API, command line, the scheduler),
a worker takes it with `claim`, beats while it works, and ends it with `finish` or `fail`. Huey
forgets a task once a worker has taken it, so `reap` (a scheduled job of the scheduler) ends what
a worker left behind: a run whose heartbeat stopped is queued again once, then failed; a run past
its wall-clock limit is failed; a queued run nobody took is handed to the queue again.

Status changes are conditional updates (`WHERE status = ... AND attempt = ...`): a worker that
comes back after the reaper gave its run up changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, func, update
from sqlmodel import Session, select

from secgov import audit
from secgov.audit_terms import AuditTerms, FieldTerm, ObjectKind
from secgov.authz import Actor, in_scope, scoped_row
from secgov.codes import N_
from secgov.db import new_session, write_session
from secgov.errors import Forbidden, Invalid, Refusal, describe_validation
from secgov.models import Department, Run, RunFile, User

log = logging.getLogger("secgov.runs")

Status = Literal["queued", "running", "succeeded", "failed"]
STATUSES: dict[str, str] = {
    "queued": N_("Queued"),
    "running": N_("Running"),
    "succeeded": N_("Succeeded"),
    "failed": N_("Failed"),
}
ENDED = ("succeeded", "failed")

# Why a run failed: the platform's reasons; each kind adds its own (`JobKind.reasons`).
REASONS: dict[str, str] = {
    "timeout": N_("It ran longer than its time limit."),
    "worker_lost": N_("The worker running it stopped answering."),
    "queue_unavailable": N_("The task queue could not be reached; the work was not handed to a worker."),
    "requester_disabled": N_("The user who asked for it has been disabled."),
    "unknown_kind": N_("No worker knows this kind of work any more."),
    "bad_params": N_("Its parameters are not valid any more."),
    "error": N_("An unexpected error stopped it; the workers' log has the details."),
}

# Timing of the reaper (overridable in the configuration: SECGOV_RUN_STALE_SECONDS, ...).
BEAT_SECONDS = 10  # how often a worker marks its run alive
STALE_SECONDS = 60  # no heartbeat for this long: the worker is gone
UNCLAIMED_SECONDS = 300  # queued this long without a worker taking it: handed to the queue again
GRACE_SECONDS = 30  # past its deadline this long without stopping itself: failed by the reaper


class DeadlineExceeded(Exception):
    """A run checked its deadline between two steps and found it passed."""


class GivenUp(Exception):
    """The run is no longer this attempt's (the reaper gave it up): the worker stops its work."""


class JobFailed(Exception):
    """A run ends as failed for a known reason (a code of REASONS or of its kind's reasons), with
    a detail for the operator (English, no secrets) and, if any, a result its page still shows
    (the row-by-row report of a refused import)."""

    def __init__(self, reason: str, detail: str = "", result: Mapping[str, Any] | None = None):
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail
        self.result = result


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class JobKind:
    """A kind of background work, declared once.

    `run(ctx)` does the work and returns its result (a JSON object) or raises JobFailed; long work
    calls `ctx.progress(...)` between steps, which also enforces `max_seconds`. `queue` is the Huey
    queue its runs go to; the queue "scheduler" means the scheduler process runs it itself (work
    that needs what only the scheduler's host holds, the checkpoint key). `roles` may start it by
    hand (none: only schedules and the application start it); `city_wide` kinds concern the whole
    city and are started by root-department users only. `default_schedule` (a cron expression or
    seconds) makes a system schedule at `db upgrade`. When a run fails, `on_failure` names a kind
    that is asked for with {"run_id": ...} (an alert)."""

    code: str
    label: str  # an English message marked with N_
    run: Callable[[JobContext], Mapping[str, Any] | None]
    params: type[BaseModel] = NoParams
    queue: str = "default"
    max_seconds: int = 600
    roles: frozenset[str] = frozenset()
    schedulable: bool = False
    city_wide: bool = False
    retries: int = 1
    default_schedule: str | int | None = None
    on_failure: str | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)
    # A template (under templates/) showing a run's result on its page, given `run` and `result`;
    # none: the page lists the result's fields.
    result_template: str | None = None
    # What the fields of its result are called (N_ messages), for the run's page.
    result_labels: Mapping[str, str] = field(default_factory=dict)
    # Its schedules belong to a domain's object (a scan schedule): only that domain's service makes,
    # changes and deletes them (`secgov.schedules.save_owned`), never the schedules page or API.
    owned_schedules: bool = False
    # How its runs on a queue other than its own are done by an agent without the database.
    remote: Remote | None = None


@dataclass(frozen=True)
class Remote:
    """A kind whose runs, on a queue other than the kind's own (a network zone's), are done by an
    agent that holds no database credentials (`secgov.agent`).

    Central side: `hand_off(engine, config, run)` builds the signed task's payload when the run
    is handed to the queue (None: the run was ended instead), and `on_reply(platform, payload)`
    takes the agent's replies, which reach the central workers through the default queue.
    Agent side: `work(payload, reply)` does the task and answers with `reply(mapping)`;
    `describe()` adds to the agent's heartbeat (its tools' versions). The run table stays the
    truth: the central side claims, beats, finishes and fails the run as the replies arrive."""

    hand_off: Callable[[Engine, Mapping[str, Any], Run], Mapping[str, Any] | None]
    work: Callable[[Mapping[str, Any], Callable[[Mapping[str, Any]], None]], None]
    on_reply: Callable[[Any, Mapping[str, Any]], None]
    describe: Callable[[], Mapping[str, Any]] = lambda: {}


@dataclass
class JobContext:
    """What a running job gets: its run, parameters, actor, the engine, the app's configuration and
    registry, and its deadline."""

    run_id: int
    attempt: int
    kind: JobKind
    params: BaseModel
    actor: Actor
    engine: Engine
    config: Mapping[str, Any]
    registry: Any
    deadline: datetime
    dispatch: Callable[[Sequence[int]], None] = lambda ids: None

    def check_deadline(self) -> None:
        if datetime.now(UTC) > self.deadline:
            raise DeadlineExceeded()

    def progress(self, done: int, total: int | None = None) -> None:
        """Record how far the work is (shown on the run's page); stop when the deadline passed
        (DeadlineExceeded) or when the run was given up meanwhile (GivenUp: a worker that was only
        stalled must not go on beside the attempt that replaced it)."""
        self.check_deadline()
        with write_session(self.engine) as session:
            kept = session.execute(
                update(Run)
                .where(Run.id == self.run_id, Run.attempt == self.attempt, Run.status == "running")
                .values(progress_done=done, progress_total=total, heartbeat_at=datetime.now(UTC))
            ).rowcount
        if not kept:
            raise GivenUp()

    def enqueue(self, kind: JobKind, params: Mapping[str, Any]) -> int:
        """Ask for another run (as the system), handed to the queue at once."""
        with write_session(self.engine) as session:
            run = enqueue(session, Actor.system("job"), kind, params)
        self.dispatch([run.id])
        return run.id


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def reason_text(reason: str, kinds: Mapping[str, JobKind] | None = None, kind: str = "") -> str:
    """A failure's reason in the reader's language."""
    message = REASONS.get(reason)
    if message is None and kinds and kind in kinds:
        message = kinds[kind].reasons.get(reason)
    return _(message) if message else reason


def check_params(kind: JobKind, params: Mapping[str, Any] | None) -> BaseModel:
    """The parameters read with the kind's schema; Invalid names the wrong ones."""
    try:
        return kind.params.model_validate(dict(params or {}))
    except ValidationError as exc:
        raise Invalid(describe_validation(exc), field="params") from None


# --- asking for runs -------------------------------------------------------------------------------


def may_start(actor: Actor, kind: JobKind, roles: frozenset[str] | set[str]) -> None:
    """Refuse a run the actor may not ask for: a kind nobody starts by hand, a role that may not
    start it, a city-wide kind asked for by someone whose scope is not the city."""
    if actor.user_id is None:
        return  # the system
    if not kind.roles or not (set(roles) & kind.roles):
        raise Forbidden(
            _("You may not start this kind of work."),
            field="kind",
            refusal=Refusal(actor, "run.denied", "run", "", {"kind": kind.code}),
        )
    if kind.city_wide and not actor.city_wide:
        raise Forbidden(
            _("This work concerns the whole city: only users of the city's root department may start it."),
            field="kind",
            refusal=Refusal(actor, "run.denied", "run", "", {"kind": kind.code}),
        )


def enqueue(
    session: Session,
    actor: Actor,
    kind: JobKind,
    params: Mapping[str, Any] | BaseModel | None = None,
    *,
    schedule_id: int | None = None,
    planned_at: datetime | None = None,
    file: tuple[str, bytes] | None = None,
    queue: str | None = None,
) -> Run:
    """A queued run of kind for actor, audited, in the caller's transaction. The frame hands it to
    the queue after committing (`secgov.tasks.Platform.dispatch`). `queue` replaces the kind's
    own for this run (a scan goes to its network zone's queue)."""
    checked = params if isinstance(params, BaseModel) else check_params(kind, params)
    run = Run(
        kind=kind.code,
        status="queued",
        queue=queue or kind.queue,
        params=_json(checked.model_dump(mode="json")),
        requested_by=actor.username,
        requested_by_id=actor.user_id,
        channel=actor.channel,
        department_id=None if kind.city_wide else actor.department_id,
        schedule_id=schedule_id,
        planned_at=planned_at,
    )
    session.add(run)
    session.flush()
    if file is not None:
        session.add(RunFile(run_id=run.id, name=file[0][:255], data=file[1]))
    audit.record(
        session,
        actor,
        "run.queued",
        object_type="run",
        object_id=run.id,
        department_id=run.department_id,
        kind=kind.code,
        **({"schedule": schedule_id, "planned_at": planned_at} if schedule_id else {}),
    )
    return run


# --- running -------------------------------------------------------------------------------------


def claim(engine: Engine, run_id: int, kind: JobKind | None, worker: str) -> Run | None:
    """Take a queued run for this worker; None when it is not queued (another worker took it, or
    the same task was handed over twice)."""
    now = datetime.now(UTC)
    limit = kind.max_seconds if kind else 60
    with write_session(engine) as session:
        taken = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "queued")
            .values(
                status="running",
                started_at=now,
                heartbeat_at=now,
                deadline_at=now + timedelta(seconds=limit),
                worker=worker[:120],
                progress_done=None,
                progress_total=None,
            )
        ).rowcount
        if not taken:
            return None
        run = session.get(Run, run_id)
        _record(session, run, "run.started", worker=worker, attempt=run.attempt)
        return run


def beat(engine: Engine, run_id: int, attempt: int) -> bool:
    """Mark a running run alive; False when it is no longer this attempt's (the reaper gave it up)."""
    with write_session(engine) as session:
        return bool(
            session.execute(
                update(Run)
                .where(Run.id == run_id, Run.attempt == attempt, Run.status == "running")
                .values(heartbeat_at=datetime.now(UTC))
            ).rowcount
        )


def finish(engine: Engine, run_id: int, attempt: int, result: Mapping[str, Any] | None) -> bool:
    """End a run as succeeded with its result; False (nothing written) when it was given up."""
    with write_session(engine) as session:
        return finish_in(session, run_id, attempt, result)


def finish_in(session: Session, run_id: int, attempt: int, result: Mapping[str, Any] | None) -> bool:
    """`finish` in the caller's transaction, for work whose own writes must commit with the run's
    end or not at all (a zone agent's results stored centrally)."""
    done = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.attempt == attempt, Run.status == "running")
        .values(status="succeeded", finished_at=datetime.now(UTC), result=_json(dict(result or {})))
    ).rowcount
    if done:
        _record(session, _ended(session, run_id), "run.succeeded")
    return bool(done)


def _record(session: Session, run: Run, action: str, **detail: Any) -> None:
    """A run's audit entry, in its scope, by the application."""
    audit.record(
        session,
        Actor.system("job"),
        action,
        object_type="run",
        object_id=run.id,
        department_id=run.department_id,
        kind=run.kind,
        **detail,
    )


def _ended(session: Session, run_id: int) -> Run:
    """What every end of a run does after its status changed: its file goes."""
    run = session.get(Run, run_id)
    session.execute(RunFile.__table__.delete().where(RunFile.run_id == run_id))
    return run


def fail(
    engine: Engine,
    run_id: int,
    reason: str,
    detail: str = "",
    *,
    attempt: int | None = None,
    from_status: Sequence[str] = ("running",),
    result: Mapping[str, Any] | None = None,
    kinds: Mapping[str, JobKind] | None = None,
) -> list[int] | None:
    """End a run as failed with its reason; returns the runs asked for because of it (the kind's
    `on_failure` alert), for the caller to hand to the queue. Nothing is written, and None is
    returned, when the run is no longer in `from_status` (or no longer this attempt's)."""
    where = [Run.id == run_id, Run.status.in_(list(from_status))]
    if attempt is not None:
        where.append(Run.attempt == attempt)
    values: dict[str, Any] = {"status": "failed", "finished_at": datetime.now(UTC), "reason": reason[:60]}
    values["detail"] = detail[:1000]
    if result is not None:
        values["result"] = _json(dict(result))
    alerts: list[int] = []
    with write_session(engine) as session:
        if not session.execute(update(Run).where(*where).values(**values)).rowcount:
            return None
        run = _ended(session, run_id)
        _record(session, run, "run.failed", reason=reason)
        kind = (kinds or {}).get(run.kind)
        if kind is not None and kind.on_failure and kind.on_failure in (kinds or {}):
            alert = enqueue(session, Actor.system("job"), kinds[kind.on_failure], {"run_id": run_id})
            alerts.append(alert.id)
    log.warning("run %s (%s) failed: %s %s", run_id, run.kind, reason, detail)
    return alerts


def actor_of(session: Session, run: Run) -> Actor:
    """Who a run acts as: the user who asked for it (with their scope now), or the system."""
    if run.requested_by_id is None:
        return Actor.system("job")
    user = session.get(User, run.requested_by_id)
    if user is None or user.disabled:
        raise JobFailed("requester_disabled")
    return Actor.of(user, "job")


# --- the reaper ----------------------------------------------------------------------------------


@dataclass
class Reaped:
    """What one pass of the reaper did: runs queued again (to hand to the queue), failed, and
    runs handed to the queue again because nobody took them."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    rehanded: list[int] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)

    @property
    def to_dispatch(self) -> list[int]:
        return [*self.requeued, *self.rehanded, *self.alerts]


def reap(
    engine: Engine,
    kinds: Mapping[str, JobKind],
    *,
    now: datetime | None = None,
    stale_seconds: int = STALE_SECONDS,
    unclaimed_seconds: int = UNCLAIMED_SECONDS,
    grace_seconds: int = GRACE_SECONDS,
    local_queue: str | None = None,
) -> Reaped:
    """End what workers left behind (see the module's docstring). Runs of the `local_queue` (the
    scheduler's own) are not handed to Huey again: the caller runs them."""
    now = now or datetime.now(UTC)
    done = Reaped()
    with new_session(engine, write=False) as session:
        running = session.exec(
            select(Run.id, Run.kind, Run.attempt, Run.heartbeat_at, Run.deadline_at).where(Run.status == "running")
        ).all()
        waiting = session.exec(
            select(Run.id).where(
                Run.status == "queued",
                func.coalesce(Run.handed_at, Run.created_at) < now - timedelta(seconds=unclaimed_seconds),
            )
        ).all()
    for run_id, kind_code, attempt, heartbeat_at, deadline_at in running:
        kind = kinds.get(kind_code)
        if deadline_at is not None and deadline_at < now - timedelta(seconds=grace_seconds):
            alerts = fail(engine, run_id, "timeout", attempt=attempt, kinds=kinds)
            if alerts is not None:
                done.failed.append(run_id)
                done.alerts.extend(alerts)
            continue
        if heartbeat_at is None or heartbeat_at < now - timedelta(seconds=stale_seconds):
            retries = kind.retries if kind else 0
            if attempt <= retries and _requeue(engine, run_id, attempt):
                done.requeued.append(run_id)
            else:
                alerts = fail(engine, run_id, "worker_lost", attempt=attempt, kinds=kinds)
                if alerts is not None:
                    done.failed.append(run_id)
                    done.alerts.extend(alerts)
    for run_id in waiting:
        with write_session(engine) as session:
            if session.execute(
                update(Run).where(Run.id == run_id, Run.status == "queued").values(handed_at=now)
            ).rowcount:
                done.rehanded.append(run_id)
    return done


def _requeue(engine: Engine, run_id: int, attempt: int) -> bool:
    with write_session(engine) as session:
        again = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.attempt == attempt, Run.status == "running")
            .values(status="queued", attempt=attempt + 1, handed_at=datetime.now(UTC), worker="", heartbeat_at=None)
        ).rowcount
        if again:
            _record(session, session.get(Run, run_id), "run.requeued", reason="worker_lost", attempt=attempt + 1)
        return bool(again)


# --- reading ---------------------------------------------------------------------------------------


class RunFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str | None = Field(default=None, max_length=60)
    status: Status | None = None


def list_runs(
    session: Session, actor: Actor, filters: RunFilter, *, page: int = 1, page_size: int = 50
) -> tuple[list[Run], int]:
    """Runs in the actor's scope, newest first; runs without a department are the whole city's."""
    where = [in_scope(Run.department_id, actor)]
    if filters.kind:
        where.append(Run.kind == filters.kind)
    if filters.status:
        where.append(Run.status == filters.status)
    total = session.exec(select(func.count()).select_from(Run).where(*where)).one()
    rows = session.exec(
        select(Run).where(*where).order_by(Run.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(rows), total


def get_run(session: Session, actor: Actor, run_id: int) -> Run:
    """A run in the actor's scope (a run without a department is the city's), else NotFound."""
    statement = (
        select(Run.id, func.coalesce(Department.path, "/"))
        .outerjoin(Department, Department.id == Run.department_id)
        .where(Run.id == run_id)
    )
    scoped_row(session, statement, actor, "run", run_id)
    return session.get(Run, run_id)


def loads(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def status_label(status: str) -> str:
    return _(STATUSES[status]) if status in STATUSES else status


def _runs_in_scope(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    wanted = [int(i) for i in ids if str(i).isdigit()]
    rows = session.exec(select(Run.id).where(Run.id.in_(wanted), in_scope(Run.department_id, actor))).all()
    return {str(run_id): run_id for run_id in rows}


# --- audit words -----------------------------------------------------------------------------------

AUDIT_TERMS = AuditTerms(
    actions={
        "run.queued": N_("Background work asked for"),
        "run.started": N_("Background work started"),
        "run.succeeded": N_("Background work succeeded"),
        "run.failed": N_("Background work failed"),
        "run.requeued": N_("Background work queued again after its worker was lost"),
        "run.denied": N_("Background work refused"),
        "schedule.created": N_("Schedule created"),
        "schedule.updated": N_("Schedule changed"),
        "schedule.deleted": N_("Schedule deleted"),
        "schedule.denied": N_("Schedule change refused"),
    },
    groups={"run": N_("Background work"), "schedule": N_("Schedules")},
    objects={
        "run": ObjectKind(N_("Background run"), "jobs.detail", "run_id", lambda s, a, ids: _runs_in_scope(s, a, ids)),
        "schedule": ObjectKind(N_("Schedule"), "jobs.schedules"),
    },
    fields={
        "run.kind": FieldTerm(N_("Kind of work")),
        "schedule.kind": FieldTerm(N_("Kind of work")),
        "worker": FieldTerm(N_("Worker")),
        "attempt": FieldTerm(N_("Attempt")),
        "schedule": FieldTerm(N_("Schedule")),
        "planned_at": FieldTerm(N_("Planned for")),
        "cron": FieldTerm(N_("Cron expression")),
        "interval_seconds": FieldTerm(N_("Interval (seconds)")),
        "enabled": FieldTerm(N_("Enabled")),
        "params": FieldTerm(N_("Parameters")),
    },
)

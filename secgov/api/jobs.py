"""Background work over the API: runs (`/jobs`) and schedules (`/schedules`).

Runs are read in the caller's scope by admins, officers and auditors; admins ask for runs of the
kinds they may start (202: the work happens later, on a worker). Schedules are city-wide: read by
admins and auditors, changed by the root department's admins."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, url_for
from pydantic import BaseModel, ConfigDict, Field

from secgov import runs, schedules
from secgov.authz import roles
from secgov.localtime import Instant
from secgov.models import Run, Schedule
from secgov.rest import PageQuery, dump, operation, page, page_model
from secgov.runs import RunFilter
from secgov.schedules import ScheduleIn, ScheduleUpdate
from secgov.web import actor, get_session
from secgov.work import RUN_READERS, SCHEDULE_READERS, kind_label, kinds, schedule_limits, start_run

bp = Blueprint("api_jobs", __name__, url_prefix="/api/v1")


class RunQuery(RunFilter, PageQuery):
    pass


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field(min_length=1, max_length=60)
    params: dict[str, Any] = Field(default_factory=dict)


class RunRead(BaseModel):
    id: int
    kind: str
    kind_label: str = Field(description="What the kind of work is called, in the caller's language.")
    status: runs.Status
    params: dict[str, Any]
    requested_by: str
    channel: str
    schedule_id: int | None
    planned_at: Instant | None
    attempt: int
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    heartbeat_at: Instant | None
    progress_done: int | None
    progress_total: int | None
    result: dict[str, Any] | None
    reason: str = Field(description="Why it failed: a stable code ('' unless failed).")
    reason_text: str = Field(description="The reason in the caller's language.")


class ScheduleRead(BaseModel):
    id: int
    kind: str
    kind_label: str
    name: str
    cron: str
    interval_seconds: int | None
    params: dict[str, Any]
    enabled: bool
    system: bool
    version: int
    created_by: str
    created_at: Instant
    updated_at: Instant
    last_planned_at: Instant | None


def run_read(run: Run) -> RunRead:
    return RunRead(
        id=run.id,
        kind=run.kind,
        kind_label=kind_label(run.kind),
        status=run.status,
        params=runs.loads(run.params),
        requested_by=run.requested_by,
        channel=run.channel,
        schedule_id=run.schedule_id,
        planned_at=run.planned_at,
        attempt=run.attempt,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        heartbeat_at=run.heartbeat_at,
        progress_done=run.progress_done,
        progress_total=run.progress_total,
        result=runs.loads(run.result) if run.result else None,
        reason=run.reason,
        reason_text=runs.reason_text(run.reason, kinds(), run.kind) if run.reason else "",
    )


def schedule_read(row: Schedule) -> ScheduleRead:
    return ScheduleRead(
        **{name: getattr(row, name) for name in ScheduleRead.model_fields if name not in ("kind_label", "params")},
        kind_label=kind_label(row.kind),
        params=json.loads(row.params or "{}"),
    )


# --- runs --------------------------------------------------------------------------------------


@bp.get("/jobs")
@roles(*RUN_READERS)
@operation(query=RunQuery, ok=page_model(RunRead), tags=["jobs"])
def jobs_list(query: RunQuery):
    """Background runs in the caller's scope, newest first (runs of the whole city: its root
    department's users only)."""
    filters = RunFilter(**query.model_dump(include=set(RunFilter.model_fields)))
    rows, total = runs.list_runs(get_session(), actor(), filters, page=query.page, page_size=query.page_size)
    return page([run_read(r) for r in rows], total, query)


@bp.post("/jobs")
@roles("admin")
@operation(body=RunCreate, ok=RunRead, status=202, tags=["jobs"])
def jobs_start(body: RunCreate):
    """Ask for a run (202): it is queued, and done by a worker; follow it at /jobs/{id}."""
    run = start_run(body.kind, body.params)
    get_session().flush()
    response = jsonify(dump(run_read(run)))
    response.status_code = 202
    response.headers["Location"] = url_for("api_jobs.jobs_get", run_id=run.id)
    return response


@bp.get("/jobs/<int:run_id>")
@roles(*RUN_READERS)
@operation(ok=RunRead, tags=["jobs"])
def jobs_get(run_id: int):
    """One run: its status, progress, result or reason."""
    return run_read(runs.get_run(get_session(), actor(), run_id))


# --- schedules ------------------------------------------------------------------------------------


@bp.get("/schedules")
@roles(*SCHEDULE_READERS)
@operation(query=PageQuery, ok=page_model(ScheduleRead), tags=["jobs"])
def schedules_list(query: PageQuery):
    """Every schedule (they are city-wide)."""
    rows = schedules.list_all(get_session())
    start = (query.page - 1) * query.page_size
    return page([schedule_read(r) for r in rows[start : start + query.page_size]], len(rows), query)


@bp.post("/schedules")
@roles("admin")
@operation(body=ScheduleIn, ok=ScheduleRead, status=201, tags=["jobs"])
def schedules_create(body: ScheduleIn):
    """Create a schedule (root-department admins): a cron expression in the city's time zone or
    an interval; the scheduler picks it up without a restart."""
    row = schedules.create(get_session(), actor(), body, kinds(), **schedule_limits())
    return schedule_read(row)


@bp.get("/schedules/<int:schedule_id>")
@roles(*SCHEDULE_READERS)
@operation(ok=ScheduleRead, tags=["jobs"])
def schedules_get(schedule_id: int):
    return schedule_read(schedules.get(get_session(), schedule_id))


@bp.patch("/schedules/<int:schedule_id>")
@roles("admin")
@operation(body=ScheduleUpdate, ok=ScheduleRead, tags=["jobs"])
def schedules_update(schedule_id: int, body: ScheduleUpdate):
    """Change a schedule (root-department admins), giving the version read."""
    return schedule_read(schedules.update(get_session(), actor(), schedule_id, body, kinds(), **schedule_limits()))


@bp.delete("/schedules/<int:schedule_id>")
@roles("admin")
@operation(status=204, tags=["jobs"])
def schedules_delete(schedule_id: int):
    """Delete a schedule (root-department admins); the application's own can only be paused."""
    schedules.delete(get_session(), actor(), schedule_id, kinds())

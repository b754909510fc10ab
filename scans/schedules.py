"""Scan schedules: one asset, or a group of assets (a saved selection of the asset register), scanned
with a profile on a cron expression (the city's time zone) or an interval.

Officers and admins make them in their scope; a schedule belongs to the department of its asset,
or to the department its selection names (the writer's own when it names none), and scans only
the assets of that department's subtree. Its timing is a row of the core's schedule table, which
the one scheduler process reads: the row is made, changed and deleted with the scan schedule
(`secgov.schedules.save_owned`, `delete_owned`), its timing checked as any schedule's. At each
planned time the job "scan.scheduled" (`run_scheduled`) asks, as the system, for one scan per
asset of the selection (`services.request_scan`); a refused asset (no authorization, outside its
maintenance windows) is recorded and the others go on. Scans are unique per (schedule, asset,
planned time), so a planned time repeated gives no second scan."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from assets.models import Asset
from scans import services
from scans.models import Scan, ScanSchedule
from scans.schemas import ScanRequest, ScanScheduleCreate, ScanScheduleQuery, ScanScheduleRead, ScanScheduleUpdate
from secgov import audit, schedules
from secgov.authz import Actor, in_scope, path_in_scope, scoped_row
from secgov.config import ServiceConfig
from secgov.db import new_session, write_session
from secgov.errors import Invalid, ServiceError, check_version
from secgov.models import Department, Run, Schedule
from secgov.runs import JobContext, JobKind

KIND = "scan.scheduled"
READERS = ("admin", "officer", "leader", "auditor")
# A run's result lists at most this many assets one by one (the counts cover all of them).
MAX_OUTCOMES = 500


class ScheduledParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scan_schedule_id: int = Field(ge=1)


# --- writing -------------------------------------------------------------------------------------


def _owner(session: Session, actor: Actor, data: ScanScheduleCreate) -> tuple[int, int | None]:
    """The department a schedule belongs to, and its asset: both in the actor's scope."""
    if data.asset_id is not None:
        asset, _path = services.asset_with_path(session, data.asset_id, actor)
        return asset.department_id, asset.id
    code = data.selection.department if data.selection else None
    if code is None:
        if actor.department_id is None:
            raise Invalid(_("Name the department whose assets are scanned."), field="selection")
        return actor.department_id, None
    department = session.exec(select(Department).where(func.lower(Department.code) == code.lower())).first()
    if department is None or not path_in_scope(department.path, actor):
        raise Invalid(_("Unknown department: %(code)s", code=code), field="selection")
    return department.id, None


def _timing(row: ScanSchedule, data: ScanScheduleCreate) -> schedules.ScheduleIn:
    return schedules.ScheduleIn(
        kind=KIND,
        name=f"{row.name}"[:200],
        cron=data.cron.strip(),
        interval_seconds=data.interval_seconds,
        params={"scan_schedule_id": row.id},
        enabled=data.enabled,
    )


def _snapshot(row: ScanSchedule, core: Schedule | None) -> dict[str, Any]:
    return {
        "name": row.name,
        "asset_id": row.asset_id,
        "selection": dict(row.selection or {}) if row.asset_id is None else None,
        "profile": row.profile,
        "department_id": row.department_id,
        "cron": core.cron if core else "",
        "interval_seconds": core.interval_seconds if core else None,
        "enabled": core.enabled if core else False,
    }


def create_schedule(
    session: Session,
    actor: Actor,
    data: ScanScheduleCreate,
    kinds: Mapping[str, JobKind],
    config: ServiceConfig,
    *,
    min_seconds: int,
) -> ScanSchedule:
    """Make a scan schedule and its row of the schedule table, audited."""
    department_id, asset_id = _owner(session, actor, data)
    row = ScanSchedule(
        name=data.name,
        department_id=department_id,
        asset_id=asset_id,
        selection=data.selection.model_dump(exclude_none=True) if data.selection else {},
        profile=data.profile,
        created_by=actor.username,
    )
    session.add(row)
    session.flush()
    core = schedules.save_owned(
        session, actor, None, _timing(row, data), kinds, timezone=config.timezone, min_seconds=min_seconds
    )
    row.schedule_id = core.id
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "scan_schedule.created", object_type="scan_schedule", object_id=row.id,
        department_id=row.department_id, after=_snapshot(row, core),
    )  # fmt: skip
    return row


def update_schedule(
    session: Session,
    actor: Actor,
    schedule_id: int,
    data: ScanScheduleUpdate,
    kinds: Mapping[str, JobKind],
    config: ServiceConfig,
    *,
    min_seconds: int,
) -> ScanSchedule:
    """Change a scan schedule in the actor's scope (and its timing row), audited."""
    row = get_schedule(session, actor, schedule_id)
    check_version(row, data.version)
    before = _snapshot(row, session.get(Schedule, row.schedule_id) if row.schedule_id else None)
    row.department_id, row.asset_id = _owner(session, actor, data)
    row.name = data.name
    row.selection = data.selection.model_dump(exclude_none=True) if data.selection else {}
    row.profile = data.profile
    core = schedules.save_owned(
        session, actor, row.schedule_id, _timing(row, data), kinds, timezone=config.timezone, min_seconds=min_seconds
    )
    row.schedule_id = core.id
    row.version += 1
    session.add(row)
    session.flush()
    after = _snapshot(row, core)
    changed = [key for key in after if after[key] != before[key]]
    audit.record(
        session, actor, "scan_schedule.updated", object_type="scan_schedule", object_id=row.id,
        department_id=row.department_id, before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
    )  # fmt: skip
    return row


def delete_schedule(session: Session, actor: Actor, schedule_id: int) -> None:
    """Delete a scan schedule in the actor's scope with its timing row; its scans stay."""
    row = get_schedule(session, actor, schedule_id)
    core = session.get(Schedule, row.schedule_id) if row.schedule_id else None
    audit.record(
        session, actor, "scan_schedule.deleted", object_type="scan_schedule", object_id=row.id,
        department_id=row.department_id, before=_snapshot(row, core),
    )  # fmt: skip
    session.delete(row)
    session.flush()
    if core is not None:
        schedules.delete_owned(session, actor, core.id)


# --- reading -------------------------------------------------------------------------------------


def get_schedule(session: Session, actor: Actor, schedule_id: int) -> ScanSchedule:
    """A scan schedule in the actor's scope, else NotFound (audited when it exists)."""
    statement = (
        select(ScanSchedule.id, Department.path)
        .outerjoin(Department, Department.id == ScanSchedule.department_id)
        .where(ScanSchedule.id == schedule_id)
    )
    scoped_row(session, statement, actor, "scan_schedule", schedule_id)
    return session.get(ScanSchedule, schedule_id)


def list_schedules(session: Session, actor: Actor, query: ScanScheduleQuery) -> tuple[list[ScanSchedule], int]:
    """Scan schedules in the actor's scope, newest first."""
    where = [in_scope(ScanSchedule.department_id, actor)]
    if query.asset_id:
        where.append(ScanSchedule.asset_id == query.asset_id)
    total = session.exec(select(func.count()).select_from(ScanSchedule).where(*where)).one()
    rows = session.exec(
        select(ScanSchedule)
        .where(*where)
        .order_by(ScanSchedule.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return list(rows), total


def read(session: Session, row: ScanSchedule) -> ScanScheduleRead:
    core = session.get(Schedule, row.schedule_id) if row.schedule_id else None
    department = session.get(Department, row.department_id)
    asset = session.get(Asset, row.asset_id) if row.asset_id else None
    return ScanScheduleRead(
        id=row.id,
        name=row.name,
        department_id=row.department_id,
        department=department.code if department else "",
        asset_id=row.asset_id,
        asset=asset.code if asset else "",
        selection=dict(row.selection or {}) if row.asset_id is None else None,
        profile=row.profile,
        cron=core.cron if core else "",
        interval_seconds=core.interval_seconds if core else None,
        enabled=bool(core and core.enabled),
        schedule_id=row.schedule_id,
        last_planned_at=core.last_planned_at if core else None,
        created_by=row.created_by,
        created_at=row.created_at,
        version=row.version,
    )


def assets_of(session: Session, row: ScanSchedule) -> list[tuple[int, str]]:
    """The assets a schedule scans now (id, code): its asset, or its selection, always inside its
    department's subtree and only those with network targets."""
    path = session.exec(select(Department.path).where(Department.id == row.department_id)).first()
    if path is None:
        return []
    statement = (
        select(Asset.id, Asset.code, Asset.network_targets)
        .join(Department, Department.id == Asset.department_id)
        .where(Department.path.startswith(path, autoescape=True))
    )
    if row.asset_id is not None:
        statement = statement.where(Asset.id == row.asset_id)
    else:
        chosen = row.selection or {}
        if chosen.get("sector") is not None:
            statement = statement.where(Asset.sector == chosen["sector"])
        if chosen.get("mlps_level") is not None:
            statement = statement.where(Asset.mlps_level == chosen["mlps_level"])
        if chosen.get("is_cii") is not None:
            statement = statement.where(Asset.is_cii == bool(chosen["is_cii"]))
    return [(i, code) for i, code, targets in session.exec(statement.order_by(Asset.code)).all() if targets]


# --- the job -------------------------------------------------------------------------------------


def run_scheduled(ctx: JobContext) -> dict[str, Any]:
    """One planned time of a scan schedule: a scan asked for each of its assets (as the system)."""
    schedule_id = ctx.params.scan_schedule_id
    with new_session(ctx.engine, write=False) as session:
        row = session.get(ScanSchedule, schedule_id)
        run = session.get(Run, ctx.run_id)
        planned_at = (run.planned_at or run.created_at).astimezone(UTC)
        assets = assets_of(session, row) if row is not None else []
        profile = row.profile if row is not None else ""
    config = ServiceConfig.from_mapping(ctx.config)
    kind = ctx.registry.jobs["scan.run"]
    outcomes: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for done, (asset_id, code) in enumerate(assets):
        ctx.progress(done, len(assets))
        outcome = _scan_one(ctx, schedule_id, asset_id, code, profile, planned_at, config, kind)
        counts[outcome["outcome"]] = counts.get(outcome["outcome"], 0) + 1
        if len(outcomes) < MAX_OUTCOMES:
            outcomes.append(outcome)
    ctx.progress(len(assets), len(assets))
    return {
        "scan_schedule_id": schedule_id,
        "planned_at": planned_at.isoformat(),
        "assets": len(assets),
        **counts,
        "outcomes": outcomes,
    }


def _scan_one(
    ctx: JobContext,
    schedule_id: int,
    asset_id: int,
    code: str,
    profile: str,
    planned_at: datetime,
    config: ServiceConfig,
    kind: JobKind,
) -> dict[str, Any]:
    """Ask for the scan of one asset at one planned time: "queued" or "waiting" (its scan's
    status), "exists" (asked for already), or "refused" with the reason (the refusal audited)."""
    system = Actor.system("job")
    planned = {"scan_schedule_id": schedule_id, "asset_id": asset_id, "planned_at": planned_at}
    try:
        with write_session(ctx.engine) as session:
            exists = session.exec(
                select(Scan.id).where(*(getattr(Scan, key) == value for key, value in planned.items()))
            ).first()
            if exists is not None:
                return {"asset": code, "outcome": "exists", "scan_id": exists}
            scan = services.request_scan(
                session, system, ScanRequest(asset_id=asset_id, profile=profile), config, kind=kind,
                scan_schedule_id=schedule_id, planned_at=planned_at,
            )  # fmt: skip
            scan_id, run_id, status = scan.id, scan.run_id, scan.status
    except IntegrityError:  # the same planned scan, asked for at the same moment elsewhere
        return {"asset": code, "outcome": "exists"}
    except ServiceError as exc:
        if exc.refusal is not None:
            audit.record_refusals(ctx.engine, [exc.refusal])
        reason = (exc.refusal.detail.get("reason") if exc.refusal else "") or exc.code
        return {"asset": code, "outcome": "refused", "reason": str(reason), "message": exc.message}
    ctx.dispatch([run_id])
    return {"asset": code, "outcome": status, "scan_id": scan_id}

"""Schedules: when the scheduler starts a kind of work (`secgov.models.Schedule`).

A schedule is a cron expression in the city's time zone (five fields: minute hour day month
weekday) or an interval of at least SECGOV_SCHEDULE_MIN_SECONDS; exactly one of the two. Schedules
are city-wide: only root-department admins (and the system) create, change or delete them; the
application's own (`system`) schedules come from the kinds' `default_schedule` at `db upgrade`
and can be changed or paused but not deleted. The scheduler reads this table and reloads when it
changes (`fingerprint`).

Schedules of a kind with `owned_schedules` (a scan schedule's) belong to a domain's object: the
domain's service checks the actor's rights over that object (its department scope) and makes,
changes and deletes the row with `save_owned` and `delete_owned`, audited like the others; the
city-wide functions below refuse those kinds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import Session, select

from secgov import audit
from secgov.authz import Actor
from secgov.errors import Conflict, Forbidden, Invalid, NotFound, Refusal, check_version
from secgov.models import Schedule
from secgov.runs import JobKind, check_params

MIN_SECONDS = 60  # the default of SECGOV_SCHEDULE_MIN_SECONDS


class ScheduleIn(BaseModel):
    """A schedule as the API and the page give it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field(min_length=1, max_length=60)
    name: str = Field(default="", max_length=200)
    cron: str = Field(default="", max_length=100, description="Five fields, the city's time zone: '10 0 * * *'.")
    interval_seconds: int | None = Field(default=None, ge=1, le=366 * 86400)
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class ScheduleUpdate(ScheduleIn):
    version: int = Field(ge=1, le=2**31 - 1)


def trigger(schedule: Schedule, timezone: str) -> BaseTrigger:
    """The APScheduler trigger of a schedule. Intervals count from the schedule's creation, so that
    every scheduler computes the same planned times."""
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone=ZoneInfo(timezone))
    start = schedule.created_at.astimezone(UTC)
    return IntervalTrigger(seconds=schedule.interval_seconds or MIN_SECONDS, start_date=start, timezone=UTC)


def check_when(cron: str, interval_seconds: int | None, timezone: str, min_seconds: int) -> None:
    """Refuse a schedule without exactly one of cron and interval, an expression that is not a
    five-field cron expression, or one firing more often than min_seconds."""
    if bool(cron) == (interval_seconds is not None):
        raise Invalid(_("Give either a cron expression or an interval, not both and not neither."), field="cron")
    if interval_seconds is not None:
        if interval_seconds < min_seconds:
            raise Invalid(
                _("The interval must be at least %(num)d seconds.", num=min_seconds), field="interval_seconds"
            )
        return
    if len(cron.split()) != 5:
        raise Invalid(_("A cron expression has five fields: minute hour day month weekday."), field="cron")
    try:
        parsed = CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))
    except (ValueError, KeyError):
        raise Invalid(_("This is not a valid cron expression."), field="cron") from None
    fire, now = None, datetime.now(UTC)
    for _step in range(6):
        following = parsed.get_next_fire_time(fire, fire + timedelta(seconds=1) if fire else now)
        if following is None:
            raise Invalid(_("This cron expression never fires."), field="cron")
        if fire is not None and (following - fire).total_seconds() < min_seconds:
            raise Invalid(
                _("The schedule must not fire more often than every %(num)d seconds.", num=min_seconds), field="cron"
            )
        fire = following


def _city_only(actor: Actor, action: str, object_id: Any = "") -> None:
    if not actor.city_wide:
        raise Forbidden(
            _("Schedules are city-wide: only administrators of the city's root department change them."),
            refusal=Refusal(actor, "schedule.denied", "schedule", object_id, {"action": action}),
        )


def _kind(kinds: Mapping[str, JobKind], code: str, *, owned: bool = False) -> JobKind:
    kind = kinds.get(code)
    if kind is None or not kind.schedulable:
        raise Invalid(_("This kind of work cannot be scheduled."), field="kind")
    if kind.owned_schedules != owned:
        raise Invalid(_("Schedules of this kind of work are managed on their own page."), field="kind")
    return kind


def _not_owned(schedule: Schedule, kinds: Mapping[str, JobKind]) -> None:
    kind = kinds.get(schedule.kind)
    if kind is not None and kind.owned_schedules:
        raise Conflict(_("Schedules of this kind of work are managed on their own page."))


def _snapshot(schedule: Schedule) -> dict[str, Any]:
    return {
        "kind": schedule.kind,
        "name": schedule.name,
        "cron": schedule.cron,
        "interval_seconds": schedule.interval_seconds,
        "params": json.loads(schedule.params or "{}"),
        "enabled": schedule.enabled,
    }


def create(
    session: Session,
    actor: Actor,
    data: ScheduleIn,
    kinds: Mapping[str, JobKind],
    *,
    timezone: str,
    min_seconds: int,
) -> Schedule:
    _city_only(actor, "create")
    kind = _kind(kinds, data.kind)
    params = check_params(kind, data.params)
    check_when(data.cron, data.interval_seconds, timezone, min_seconds)
    schedule = Schedule(
        kind=kind.code,
        name=data.name,
        cron=data.cron,
        interval_seconds=data.interval_seconds,
        params=json.dumps(params.model_dump(mode="json"), ensure_ascii=False, sort_keys=True),
        enabled=data.enabled,
        created_by=actor.username,
    )
    session.add(schedule)
    session.flush()
    audit.record(
        session, actor, "schedule.created", object_type="schedule", object_id=schedule.id, after=_snapshot(schedule)
    )
    return schedule


def get(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(_("Not found."))
    return schedule


def update(
    session: Session,
    actor: Actor,
    schedule_id: int,
    data: ScheduleUpdate,
    kinds: Mapping[str, JobKind],
    *,
    timezone: str,
    min_seconds: int,
) -> Schedule:
    schedule = get(session, schedule_id)
    _city_only(actor, "update", schedule_id)
    _not_owned(schedule, kinds)
    check_version(schedule, data.version)
    if schedule.system and data.kind != schedule.kind:
        raise Invalid(_("The kind of work of the application's own schedules cannot be changed."), field="kind")
    kind = _kind(kinds, data.kind)
    params = check_params(kind, data.params)
    check_when(data.cron, data.interval_seconds, timezone, min_seconds)
    before = _snapshot(schedule)
    schedule.kind = kind.code
    schedule.name = data.name
    schedule.cron = data.cron
    schedule.interval_seconds = data.interval_seconds
    schedule.params = json.dumps(params.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    schedule.enabled = data.enabled
    schedule.version += 1
    schedule.updated_at = datetime.now(UTC)
    after = _snapshot(schedule)
    changed = [key for key in after if after[key] != before[key]]
    audit.record(
        session,
        actor,
        "schedule.updated",
        object_type="schedule",
        object_id=schedule.id,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return schedule


def delete(session: Session, actor: Actor, schedule_id: int, kinds: Mapping[str, JobKind] | None = None) -> None:
    schedule = get(session, schedule_id)
    _city_only(actor, "delete", schedule_id)
    if schedule.system:
        raise Conflict(_("The application's own schedules cannot be deleted; pause them instead."))
    _not_owned(schedule, kinds or {})
    audit.record(
        session, actor, "schedule.deleted", object_type="schedule", object_id=schedule.id, before=_snapshot(schedule)
    )
    session.delete(schedule)


def list_all(session: Session) -> list[Schedule]:
    return list(session.exec(select(Schedule).order_by(Schedule.id)).all())


def fingerprint(session: Session) -> tuple:
    """Changes whenever a schedule is created, changed or deleted: the scheduler reloads then."""
    return tuple(
        session.exec(
            select(func.count(Schedule.id), func.coalesce(func.sum(Schedule.version), 0), func.max(Schedule.updated_at))
        ).one()
    )


def sync_system(session: Session, kinds: Mapping[str, JobKind]) -> int:
    """Create the application's own schedules that are missing (one per kind with a
    `default_schedule`); existing ones keep the changes admins made. Returns how many were made."""
    existing = set(session.exec(select(Schedule.kind).where(Schedule.system)).all())
    made = 0
    for kind in kinds.values():
        if kind.default_schedule is None or kind.code in existing:
            continue
        cron = kind.default_schedule if isinstance(kind.default_schedule, str) else ""
        interval = kind.default_schedule if isinstance(kind.default_schedule, int) else None
        session.add(Schedule(kind=kind.code, cron=cron, interval_seconds=interval, system=True, created_by="system"))
        made += 1
    if made:
        session.flush()
        audit.record(session, Actor.system("cli"), "schedule.created", object_type="schedule", system_schedules=made)
    return made


# --- schedules owned by a domain's object ------------------------------------------------------------


def save_owned(
    session: Session,
    actor: Actor,
    schedule_id: int | None,
    data: ScheduleIn,
    kinds: Mapping[str, JobKind],
    *,
    timezone: str,
    min_seconds: int,
) -> Schedule:
    """Make (schedule_id None) or change the schedule row a domain's object owns, for an actor the
    domain's service has already allowed to change that object; the timing is checked
    (`check_when`) and the change audited as any schedule's."""
    kind = _kind(kinds, data.kind, owned=True)
    params = check_params(kind, data.params)
    check_when(data.cron, data.interval_seconds, timezone, min_seconds)
    text = json.dumps(params.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    if schedule_id is None:
        schedule = Schedule(
            kind=kind.code, name=data.name, cron=data.cron, interval_seconds=data.interval_seconds, params=text,
            enabled=data.enabled, created_by=actor.username,
        )  # fmt: skip
        session.add(schedule)
        session.flush()
        audit.record(
            session, actor, "schedule.created", object_type="schedule", object_id=schedule.id, after=_snapshot(schedule)
        )
        return schedule
    schedule = get(session, schedule_id)
    if schedule.kind != kind.code:
        raise Invalid(_("The kind of work of this schedule cannot be changed."), field="kind")
    before = _snapshot(schedule)
    schedule.name, schedule.cron, schedule.interval_seconds = data.name, data.cron, data.interval_seconds
    schedule.params, schedule.enabled = text, data.enabled
    after = _snapshot(schedule)
    changed = [key for key in after if after[key] != before[key]]
    if changed:
        schedule.version += 1
        schedule.updated_at = datetime.now(UTC)
        audit.record(
            session, actor, "schedule.updated", object_type="schedule", object_id=schedule.id,
            before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
        )  # fmt: skip
    return schedule


def delete_owned(session: Session, actor: Actor, schedule_id: int) -> None:
    """Delete the schedule row a domain's object owns (with that object, by its service), audited."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        return
    audit.record(
        session, actor, "schedule.deleted", object_type="schedule", object_id=schedule.id, before=_snapshot(schedule)
    )
    session.delete(schedule)

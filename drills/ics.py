"""Calendars of the drills domain from the database: one drill's .ics (its page's and the API's
download) and a user's personal feed (the drills they lead or take part in, and the due dates of
their corrective actions). This module reads the rows and writes the texts in the reader's
language; `drills.calendar` (pure) writes RFC 5545.

What a personal feed holds:
- drills the user leads or takes part in that are planned or in progress, and those (of any
  status) planned to start within the last `FEED_MONTHS` months;
- the due dates of the corrective actions the user owns that are open or in progress, and of those
  closed within the last `CLOSED_DAYS` days (cancelled actions drop out).

Links (URL) point at the drill's and the action's pages under `base_url` when those pages exist
in the installation; otherwise the item has no URL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import Response, current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_
from sqlmodel import Session, select
from werkzeug.routing import BuildError

from assets.models import Asset
from drills import calendar, rule
from drills.codes import ACTION_OPEN, ACTION_STATUS, EXERCISE_TYPE, INCIDENT_GRADE
from drills.models import CorrectiveAction, Drill, DrillAsset, DrillDepartment, DrillParticipant
from secgov import directory
from secgov.config import ServiceConfig
from secgov.models import Department, User

# The feed reaches back this far for drills, and this far for closed actions.
FEED_MONTHS = 12
CLOSED_DAYS = 90
# The reminder every drill carries (a calendar program shows it before the start).
REMINDER_MINUTES = 60
LIVE = ("planned", "in_progress")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def host_of(base_url: str) -> str:
    """The host part of the UIDs: the installation's host name."""
    return urlsplit(base_url).hostname or "secgov.invalid"


def link(base_url: str, endpoint: str, values: dict) -> str:
    """The absolute address of a page under base_url; "" when the installation has no such page."""
    parts = urlsplit(base_url)
    adapter = current_app.url_map.bind(parts.netloc or "localhost", script_name=parts.path or "/",
                                       url_scheme=parts.scheme or "https")  # fmt: skip
    try:
        return adapter.build(endpoint, values, force_external=True)
    except BuildError:
        return ""


def _person(user: User | None) -> str:
    return (user.display_name or user.username) if user else ""


def _events(session: Session, drills: list[Drill], base_url: str) -> list[calendar.DrillEvent]:
    """The drills as calendar events, with texts in the current language."""
    if not drills:
        return []
    ids = [d.id for d in drills]
    assets: dict[int, list[str]] = {}
    for drill_id, code, name in session.exec(
        select(DrillAsset.drill_id, Asset.code, Asset.name)
        .join(Asset, Asset.id == DrillAsset.asset_id)
        .where(DrillAsset.drill_id.in_(ids))
        .order_by(Asset.code)
    ).all():
        assets.setdefault(drill_id, []).append(f"{code} {name}".strip())
    departments: dict[int, list[str]] = {}
    for drill_id, department in session.exec(
        select(DrillDepartment.drill_id, Department)
        .join(Department, Department.id == DrillDepartment.department_id)
        .where(DrillDepartment.drill_id.in_(ids))
        .order_by(Department.code)
    ).all():
        departments.setdefault(drill_id, []).append(directory.department_label(department) or department.code)
    people: dict[int, list[tuple[str, str]]] = {}
    for row, user in session.exec(
        select(DrillParticipant, User)
        .outerjoin(User, User.id == DrillParticipant.user_id)
        .where(DrillParticipant.drill_id.in_(ids))
        .order_by(DrillParticipant.id)
    ).all():
        if user is not None:
            people.setdefault(row.drill_id, []).append((_person(user), user.email or ""))
        elif row.name:
            name = f"{row.name} ({row.organisation})" if row.organisation else row.name
            people.setdefault(row.drill_id, []).append((name, ""))
    leads = {u.id: u for u in session.exec(select(User).where(User.id.in_({d.lead_id for d in drills}))).all()}
    events = []
    for drill in drills:
        kind, grade = EXERCISE_TYPE.label(drill.exercise_type), INCIDENT_GRADE.label(drill.incident_grade)
        lines = [drill.scenario.strip()] if drill.scenario.strip() else []
        lines.append(_("Exercise type: %(type)s", type=kind))
        lines.append(_("Simulated incident grade: %(grade)s", grade=grade))
        if assets.get(drill.id):
            lines.append(_("Systems: %(list)s", list=", ".join(assets[drill.id])))
        if departments.get(drill.id):
            lines.append(_("Departments: %(list)s", list=", ".join(departments[drill.id])))
        lead = leads.get(drill.lead_id)
        events.append(
            calendar.DrillEvent(
                id=drill.id,
                title=drill.title,
                description="\n".join(lines),
                start=drill.planned_start,
                minutes=drill.duration_minutes,
                status=drill.status,
                url=link(base_url, "drills.detail", {"drill_id": drill.id}),
                organizer=_person(lead),
                organizer_email=lead.email if lead else "",
                attendees=tuple(people.get(drill.id, ())),
                categories=(_("Drill"), kind),
                sequence=drill.version,
                updated=drill.updated_at,
                reminder_minutes=REMINDER_MINUTES,
            )
        )
    return events


def _dues(session: Session, rows: list[CorrectiveAction], base_url: str) -> list[calendar.ActionDue]:
    titles = dict(session.exec(select(Drill.id, Drill.title).where(Drill.id.in_({r.drill_id for r in rows}))).all())
    dues = []
    for row in rows:
        lines = [row.description.strip()] if row.description.strip() else []
        lines.append(_("Drill: %(title)s", title=titles.get(row.drill_id, "")))
        lines.append(_("Status: %(status)s", status=ACTION_STATUS.label(row.status)))
        dues.append(
            calendar.ActionDue(
                id=row.id,
                title=_("Due: %(title)s", title=row.title),
                description="\n".join(lines),
                due=row.due_date,
                status=row.status,
                url=link(base_url, "drills.action", {"action_id": row.id}),
                sequence=row.version,
                updated=row.updated_at,
            )
        )
    return dues


def drill_calendar(session: Session, drill: Drill, config: ServiceConfig, *, base_url: str, lang: str) -> bytes:
    """One drill as an iCalendar file, its texts in lang. The caller has checked the reader's scope."""
    with force_locale(lang):
        events = _events(session, [drill], base_url)
        name = _("Drill: %(title)s", title=drill.title)
    return calendar.drill_ics(events[0], tz=config.timezone, host=host_of(base_url), name=name)


def feed_drills(session: Session, user: User, now: datetime | None = None) -> list[Drill]:
    """The drills of a user's feed (see the module's docstring), in order of their start."""
    since = rule.add_months((now or _now()).date(), -FEED_MONTHS)
    since_at = datetime(since.year, since.month, since.day, tzinfo=UTC)
    taking_part = select(DrillParticipant.drill_id).where(DrillParticipant.user_id == user.id)
    return list(
        session.exec(
            select(Drill)
            .where(
                or_(Drill.lead_id == user.id, Drill.id.in_(taking_part)),
                or_(Drill.status.in_(LIVE), Drill.planned_start >= since_at),
            )
            .order_by(Drill.planned_start, Drill.id)
        ).all()
    )


def feed_actions(session: Session, user: User, now: datetime | None = None) -> list[CorrectiveAction]:
    """The corrective actions of a user's feed (see the module's docstring), by due date."""
    closed_since = (now or _now()) - timedelta(days=CLOSED_DAYS)
    return list(
        session.exec(
            select(CorrectiveAction)
            .where(
                CorrectiveAction.owner_id == user.id,
                or_(
                    CorrectiveAction.status.in_(ACTION_OPEN),
                    (CorrectiveAction.status == "closed") & (CorrectiveAction.closed_at >= closed_since),
                ),
            )
            .order_by(CorrectiveAction.due_date, CorrectiveAction.id)
        ).all()
    )


def user_feed(session: Session, user: User, config: ServiceConfig, *, base_url: str, lang: str) -> bytes:
    """A user's personal feed as an iCalendar file, its texts in lang."""
    now = _now()
    with force_locale(lang):
        events = _events(session, feed_drills(session, user, now), base_url)
        dues = _dues(session, feed_actions(session, user, now), base_url)
        name = _("SecGov drills: %(name)s", name=_person(user))
    return calendar.feed_ics(events, dues, tz=config.timezone, host=host_of(base_url), name=name)


# --- answers -------------------------------------------------------------------------------------

CALENDAR = "text/calendar; charset=utf-8"


def response(data: bytes, filename: str, *, download: bool = True) -> Response:
    """An iCalendar answer: a download (with its file name), or a feed's body."""
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(data, content_type=CALENDAR, headers=headers)


def filename(drill_id: int, title: str) -> str:
    """drill-12-ransomware-tabletop.ics: ASCII only (the title's other characters dropped)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return f"drill-{drill_id}-{slug}.ics" if slug else f"drill-{drill_id}.ics"


def feed_url(token: str) -> str:
    """The absolute address of a feed (of the request's host)."""
    return url_for("drill_calendar.feed", token=token, _external=True)

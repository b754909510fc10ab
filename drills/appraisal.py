"""What the drills domain brings to the security performance appraisal
(secgov.accountability.measures): drills held against what was required, and corrective actions
closed on time.

* **Drills held as required.** What the coverage rule (drills.coverage.required) requires at the
  period's end, or as of now while it runs: every CII asset and every department holding a system
  in operation. An item is good when a completed drill covers it then. The asset's owner answers
  for an asset, the department's head for a department, as they were at that moment.
* **Corrective actions closed on time.** Every action due in the period whose due day has ended
  by then, cancelled ones aside: good when it was closed on or before its due day (the city's
  calendar), bad when closed later or still open. Its owner at the end of the due day answers,
  as the accountability trace names them for an overdue action."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlmodel import Session, select

from assets import services as asset_services
from drills import actions, coverage
from drills.models import CorrectiveAction
from secgov import responsibility
from secgov.accountability import duties
from secgov.accountability.measures import Measure, Outcome, Period
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.localtime import day_start, local

DRILLS_HELD, ACTIONS_ON_TIME = "drills_held", "actions_on_time"


def held(session: Session, period: Period, as_of: datetime, config: ServiceConfig) -> Iterable[Outcome]:
    """One outcome per item the coverage rule requires as of the period's last day (or the day of
    `as_of` while the period runs), city-wide; nothing before the period begins."""
    if as_of <= period.start:
        return []
    day = period.ends_on if as_of >= period.end else local(as_of, config.timezone).date()
    found = coverage.required(session, Actor.system("job"), config, day)
    owners = responsibility.holders_at(
        session, asset_services.SUBJECT, asset_services.OWNER, [(asset.id, as_of) for asset, _seen in found.assets]
    )
    heads = duties.heads_at(session, [(dept, as_of) for dept, _seen in found.departments])
    outcomes = []
    for asset, seen in found.assets:
        outcomes.append(
            Outcome(
                measure=DRILLS_HELD,
                record_type="asset",
                record_id=asset.id,
                title=f"{asset.code} {asset.name}",
                at=as_of,
                department_id=asset.department_id,
                user_id=owners.get((asset.id, as_of)),
                good=found.covered(seen),
                note=_covered_note(found, seen),
            )  # fmt: skip
        )
    for dept, seen in found.departments:
        outcomes.append(
            Outcome(
                measure=DRILLS_HELD,
                record_type="department",
                record_id=dept.id,
                title=f"{dept.code} {dept.name}",
                at=as_of,
                department_id=dept.id,
                user_id=heads[(dept.id, as_of)][1].user_id if (dept.id, as_of) in heads else None,
                good=found.covered(seen),
                note=_covered_note(found, seen),
            )  # fmt: skip
        )
    return outcomes


def _covered_note(found: coverage.Required, seen: coverage.Seen) -> str:
    if seen.last is None:
        return _("no completed drill")
    day, drill_id = seen.last
    if found.covered(seen):
        return _("covered by drill #%(id)d, ended on %(day)s", id=drill_id, day=day.isoformat())
    return _(
        "last drill #%(id)d ended on %(day)s, before %(since)s", id=drill_id, day=day.isoformat(),
        since=found.since.isoformat(),
    )  # fmt: skip


def on_time(session: Session, period: Period, as_of: datetime, config: ServiceConfig) -> Iterable[Outcome]:
    """One outcome per corrective action due in the period whose due day ended by `as_of`
    (cancelled ones aside), city-wide: one statement, and one per 500 actions for their owners."""
    tz = config.timezone
    last_due = min(period.ends_on, local(as_of, tz).date() - timedelta(days=1))
    if last_due < period.starts_on:
        return []
    rows = session.exec(
        select(CorrectiveAction)
        .where(
            CorrectiveAction.due_date >= period.starts_on,
            CorrectiveAction.due_date <= last_due,
            CorrectiveAction.status != "cancelled",
        )
        .order_by(CorrectiveAction.due_date, CorrectiveAction.id)
    ).all()
    due_at = {row.id: day_start(row.due_date + timedelta(days=1), tz) for row in rows}
    owners = responsibility.holders_at(session, actions.SUBJECT, actions.OWNER, due_at.items())
    outcomes = []
    for row in rows:
        closed_on = local(row.closed_at, tz).date() if row.closed_at is not None else None
        good = row.status == "closed" and closed_on is not None and closed_on <= row.due_date
        if closed_on is None:
            note = _("not closed")
        elif good:
            note = _("closed on %(day)s", day=closed_on.isoformat())
        else:
            late = (closed_on - row.due_date).days
            note = ngettext("closed %(num)d day late", "closed %(num)d days late", late)
        outcomes.append(
            Outcome(
                measure=ACTIONS_ON_TIME,
                record_type=actions.SUBJECT,
                record_id=row.id,
                title=row.title,
                at=due_at[row.id],
                department_id=row.department_id,
                user_id=owners.get((row.id, due_at[row.id])),
                good=good,
                note=note,
            )  # fmt: skip
        )
    return outcomes


MEASURES = (
    Measure(
        code=DRILLS_HELD,
        label=N_("Drills held as required"),
        help=N_(
            "Every CII system, and every department holding a system in operation, that the drill coverage "
            "requires at the end of the period: good when a completed drill within the coverage period covers it. "
            "The system's owner or the department's head at that moment (or the head of the nearest department above it) answers."
        ),
        kind="rate",
        weight=20,
        collect=held,
        links={"asset": ("assets.detail", "asset_id"), "department": ("drills.coverage", "department_id")},
        order=40,
    ),
    Measure(
        code=ACTIONS_ON_TIME,
        label=N_("Corrective actions closed on time"),
        help=N_(
            "Every corrective action due in the period (cancelled ones aside), once its due day is over: good when "
            "it was closed on or before its due date. Its owner at the end of the due day answers."
        ),
        kind="rate",
        weight=15,
        collect=on_time,
        links={"corrective_action": ("drills.action", "action_id")},
        order=50,
    ),
)

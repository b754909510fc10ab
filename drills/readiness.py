"""What the dashboard, the daily figures and the compliance report count about drills, stated once:
the completed drills of a period (the days in the city's time zone), how their reporting went
against the deadlines, and the clauses of open, overdue and escalated corrective actions.

A drill counts for the period when it was completed and ended on one of its days; the coverage
period is the one `drills.coverage` uses (`drill_coverage_months` back from today)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, select

from drills import rule
from drills.codes import ACTION_OPEN
from drills.models import CorrectiveAction, Drill
from secgov.localtime import day_start

REPORTING_STATES = ("on_time", "late", "missing")


@dataclass(frozen=True)
class Held:
    """A completed drill of the period, with what its reporting is measured by."""

    id: int
    department_id: int
    title: str
    exercise_type: str
    incident_grade: str
    ended_at: Any
    report_minutes: int | None
    deadline: int | None

    @property
    def reporting(self) -> str:
        return rule.reporting(self.report_minutes, self.deadline, "completed")


def held(session: Session, where: ColumnElement | bool, since: date, until: date, tz: str) -> list[Held]:
    """The completed drills that `where` selects and that ended from `since` to `until` (days of
    the zone tz, both included), the latest first."""
    rows = session.exec(
        select(
            Drill.id,
            Drill.department_id,
            Drill.title,
            Drill.exercise_type,
            Drill.incident_grade,
            Drill.ended_at,
            Drill.report_minutes,
            Drill.report_deadline_minutes,
        )
        .where(
            where,
            Drill.status == "completed",
            Drill.ended_at >= day_start(since, tz),
            Drill.ended_at < day_start(until + timedelta(days=1), tz),
        )
        .order_by(Drill.ended_at.desc(), Drill.id.desc())
    ).all()
    return [Held(*row) for row in rows]


def reporting(drills: Iterable[Held]) -> dict[str, Any]:
    """How the reportable drills among these reported: on time, late, missing; the median minutes
    to report (of those that reported) and the median deadline; and the same by deadline."""
    reportable = [d for d in drills if d.deadline is not None]
    states = Counter(d.reporting for d in reportable)
    by_deadline = []
    for deadline in sorted({d.deadline for d in reportable}):
        mine = [d for d in reportable if d.deadline == deadline]
        mine_states = Counter(d.reporting for d in mine)
        by_deadline.append(
            {
                "deadline": deadline,
                "drills": len(mine),
                **{state: mine_states.get(state, 0) for state in REPORTING_STATES},
                "median_minutes": median(d.report_minutes for d in mine),
            }
        )
    return {
        "reportable": len(reportable),
        **{state: states.get(state, 0) for state in REPORTING_STATES},
        "median_minutes": median(d.report_minutes for d in reportable),
        "median_deadline": median(d.deadline for d in reportable),
        "by_deadline": by_deadline,
    }


def median(values: Iterable[int | None]) -> float | None:
    """The median of the values given (None left out); None when there is none."""
    known = [v for v in values if v is not None]
    return float(statistics.median(known)) if known else None


def ratings(values: Sequence[str]) -> dict[str, int]:
    """How many objectives got each rating (P, S, M, U) and how many are not rated."""
    found = Counter(values)
    return {**{code: found.get(code, 0) for code in ("P", "S", "M", "U")}, "unrated": found.get("", 0)}


def action_open() -> ColumnElement:
    return CorrectiveAction.status.in_(ACTION_OPEN)


def action_overdue(today: date) -> ColumnElement:
    """Open or in progress after the due date (`rule.overdue`)."""
    return and_(action_open(), CorrectiveAction.due_date < today)


def action_escalated(today: date) -> ColumnElement:
    """Overdue and escalated (its owner's department head was told)."""
    return and_(action_overdue(today), CorrectiveAction.escalated_at.is_not(None))

"""The drills domain's rules, stated once and pure (no database, no Flask): the reporting deadline
that applies to a drill, the times measured from its timeline and how reporting compares with the
deadline, the next occurrence of a recurring drill, the coverage period, and when a corrective
action is overdue.

* **Deadline.** An incident is reported within the deadline of the kind of operator that runs the
  systems it strikes: a CII operator 60 minutes, a central or state organ 120, any other operator
  240 (catalog `incident_grades.report_within_minutes`). A drill's operators are those of its
  departments and of its assets' departments, and a CII asset makes its operator a CII operator.
  The strictest (shortest) deadline applies. An incident less severe than the catalog's
  `reportable_from_grade` (III: so grade IV) is not reportable: no deadline.
* **Measured times** are the minutes from the drill's actual start to the earliest timeline entry
  marking each milestone (detected, reported, contained, recovered), rounded down.
* **Reporting** is on time when reported within the deadline, late when after it, missing when the
  drill ended (completed) without a report, and not applicable when there is no deadline or the
  drill was cancelled.
* **Recurrence.** The next occurrence starts the given number of months after the planned start of
  the one before, at the same local time of day in the city's zone (the 31st becomes the month's
  last day).
* **Overdue.** An open or in-progress action is overdue from the day after its due date.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Literal

from drills.codes import ACTION_OPEN, GRADES, REPORT_WITHIN, REPORTABLE_FROM
from secgov.localtime import zone

MILESTONES = ("detected", "reported", "contained", "recovered")
CII_OPERATOR = "cii_operator"
OTHER_OPERATOR = "other_operator"
Reporting = Literal["on_time", "late", "missing", "not_reportable", "pending"]


def reportable(grade: str) -> bool:
    """Whether an incident of this grade is reported (grade IV is not)."""
    return GRADES.index(grade) <= GRADES.index(REPORTABLE_FROM)


def operator_kinds(department_kinds: Iterable[str], any_cii: bool) -> set[str]:
    """The kinds of operator a drill involves: its departments' and its assets' departments'
    operator kinds, and a CII operator when one of its assets is CII."""
    kinds = set(department_kinds)
    if any_cii:
        kinds.add(CII_OPERATOR)
    return kinds


def deadline_minutes(kinds: Iterable[str], grade: str) -> int | None:
    """The reporting deadline in minutes: the strictest of the operators' (another operator's
    240 minutes when none is named); None when the grade is not reportable."""
    if not reportable(grade):
        return None
    minutes = [REPORT_WITHIN[kind] for kind in kinds if kind in REPORT_WITHIN]
    return min(minutes) if minutes else REPORT_WITHIN[OTHER_OPERATOR]


def measured(started_at: datetime | None, entries: Iterable[tuple[datetime, str]]) -> dict[str, int | None]:
    """Minutes from the start to each milestone's earliest entry ({milestone: minutes or None})."""
    earliest: dict[str, datetime] = {}
    for at, milestone in entries:
        if milestone in MILESTONES and (milestone not in earliest or at < earliest[milestone]):
            earliest[milestone] = at
    result: dict[str, int | None] = dict.fromkeys(MILESTONES)
    if started_at is None:
        return result
    for milestone, at in earliest.items():
        result[milestone] = max(0, int((at - started_at).total_seconds() // 60))
    return result


def reporting(report_minutes: int | None, deadline: int | None, status: str) -> Reporting:
    """How reporting went against the deadline (see the module's text); `pending` while the drill
    has not reported yet and is not completed; a cancelled drill has nothing to compare."""
    if deadline is None or status == "cancelled":
        return "not_reportable"
    if report_minutes is None:
        return "missing" if status == "completed" else "pending"
    return "on_time" if report_minutes <= deadline else "late"


def add_months(day: date, months: int) -> date:
    """The same day `months` later; a day past the month's end becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_start(planned_start: datetime, months: int, tz: str) -> datetime:
    """The next occurrence's start: `months` later at the same local time in the zone tz."""
    local = planned_start.astimezone(zone(tz))
    day = add_months(local.date(), months)
    moment = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=zone(tz))
    return moment.astimezone(planned_start.tzinfo)


def coverage_since(today: date, months: int) -> date:
    """The first day a completed drill counts for coverage: `months` before today."""
    return add_months(today, -months)


def overdue(due: date, status: str, today: date) -> bool:
    """Whether an action is overdue: still open or in progress after its due date."""
    return status in ACTION_OPEN and due < today


def days_overdue(due: date, today: date) -> int:
    return max(0, (today - due).days)


def ends(start: datetime, minutes: int) -> datetime:
    return start + timedelta(minutes=minutes)

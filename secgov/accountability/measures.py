"""What the security performance appraisal (安全绩效考核, SPEC §5) measures, declared by the
domains: assessments done on time, risks treated by their due date, remediation time, drills held
against what was required, corrective actions closed on time, findings triaged in time.

A domain declares each of its measures once, as a `Measure` in its `Domain(measures=...)`. For an
appraisal period, `collect(session, period, as_of, config)` gives one `Outcome` per record that
counts in it — city-wide: the core keeps those the reader may see, adds them up per person and per
department, weighs the measures into a score and, when the period is closed, stores the outcomes
as they were. Each outcome names the person who held the duty at the moment that counts (the due
date, the closing) — never who holds it now — and whether it went well. So every figure of the
appraisal lists the records that produced it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session

from secgov.config import ServiceConfig
from secgov.localtime import zone

KINDS = ("rate", "average")


@dataclass(frozen=True)
class Period:
    """An appraisal period: its code ("2026", "2026-H2", "2026-Q3", "2026-09"), its first and last
    days (inclusive, in the city's calendar), and the moments they begin and end in UTC (`end` is
    the first moment after the period)."""

    code: str
    starts_on: date
    ends_on: date
    start: datetime
    end: datetime

    def holds(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def period_of(code: str, starts_on: date, ends_on: date, tz: str) -> Period:
    city = zone(tz)

    def begins(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=city).astimezone(UTC)

    return Period(code, starts_on, ends_on, begins(starts_on), begins(ends_on + timedelta(days=1)))


@dataclass(frozen=True)
class Outcome:
    """One record as it counts in a measure: the record (`record_type` and `record_id`, a title in
    its own words), the moment that counts (`at`: when it was due, or done), its department, the
    person who held the duty at that moment (`user_id`; None when nobody did: a gap, counted for
    the department only), whether it went well (`good`), and for an average measure the value
    averaged (days). `note` says in a few plain words what happened ("approved 12 days late")."""

    measure: str
    record_type: str
    record_id: int
    title: str
    at: datetime
    department_id: int
    user_id: int | None
    good: bool
    value: float | None = None
    note: str = ""


# collect(session, period, as_of, config) -> the outcomes of the period, city-wide. `as_of` is the
# end of the period or now, whichever is earlier: what is not yet due by then does not count.
Collect = Callable[[Session, Period, datetime, ServiceConfig], Iterable[Outcome]]


@dataclass(frozen=True)
class Measure:
    """A measure of the appraisal. `label` and `help` are English messages marked with N_ (`help`
    says what counts as good, for the page and the report's methodology); `kind` "rate" (the share
    of good outcomes) or "average" (the mean of the outcomes' values, with `unit`, an N_ message
    such as "days"; its score is still the share of good outcomes, those within the target);
    `weight` its default weight in the score (the defaults of all measures add up to 100); `links`
    for each record type of its outcomes the endpoint of the record's page and the name of its id
    argument ({"risk": ("risks.detail", "risk_id")}), so each outcome links to its record."""

    code: str
    label: str
    help: str
    kind: str
    weight: int
    collect: Collect
    links: Mapping[str, tuple[str, str]]
    unit: str = ""
    order: int = 50

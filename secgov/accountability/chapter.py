"""The compliance report's chapter "Accountability and appraisal" (SPEC §5): the chief and the
department heads in force at the end of the report's period, the gaps when the report is made
(`assignments.gaps`, as the gaps API counts them), and the appraisal of the report's period
(`appraisal.appraise`, as `GET /api/v1/appraisal?period=…` gives it to a reader of the report's
department): the scope's score, the people and the departments ranked.

The overdue items and the people responsible when each fell overdue are the core's overdue
chapter's (`secgov.reports.service.build_input`, with `trace.when_overdue`). The chapter reads the
domains only through what the registry collected, so the registry builds it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from secgov import localtime, responsibility
from secgov.accountability import appraisal, assignments
from secgov.accountability.duties import Duty
from secgov.accountability.measures import Measure
from secgov.authz import in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.models import Department, Responsibility, User
from secgov.reports.chapters import Chapter, Period, Scope, listed

ORDER = 890  # after the domains' chapters, before the overdue items and the methodology


def _leaders(session: Session, scope: Scope, at: datetime, tz: str) -> dict[str, Any]:
    """The chief of the city and the head of each department of the scope, in force at `at`."""
    departments = list(
        session.exec(select(Department).where(in_scope(Department.id, scope.actor)).order_by(Department.path)).all()
    )
    root = session.exec(select(Department).where(Department.parent_id.is_(None)).order_by(Department.id)).first()
    terms = session.exec(
        select(Responsibility, User)
        .join(User, User.id == Responsibility.user_id)
        .where(
            Responsibility.subject_type.in_(("city", "department")),
            Responsibility.duty.in_(("chief", "head")),
            responsibility.covering(at),
        )
    ).all()
    held = {(t.subject_type, t.duty, t.subject_id): (t, u) for t, u in terms}

    def person(key: tuple[str, str, int]) -> dict[str, Any] | None:
        found = held.get(key)
        if found is None:
            return None
        term, user = found
        return {
            "user": user.username,
            "name": user.display_name or user.username,
            "since": localtime.local(term.valid_from, tz).date().isoformat(),
            "disabled": user.disabled,
        }

    return {
        "chief": person(("city", "chief", root.id)) if root is not None else None,
        "city": root.name if root is not None else "",
        "city_en": root.name_en if root is not None else "",
        "heads": [
            {
                "department": d.code,
                "department_name": d.name,
                "department_name_en": d.name_en,
                "depth": d.path.count("/") - 2,
                "head": person(("department", "head", d.id)),
            }
            for d in departments
        ],
    }


def _line(line: appraisal.Line, person: bool) -> dict[str, Any]:
    return {
        "rank": line.rank,
        "code": line.code,
        "name": line.name,
        "department": line.department if person else "",
        "score": line.score,
        "records": line.records,
        "figures": {code: {"good": f.good, "total": f.total} for code, f in line.figures.items()},
    }


def accountability(
    session: Session,
    scope: Scope,
    period: Period,
    config: Mapping[str, Any],
    duties: Sequence[Duty],
    measures: Sequence[Measure],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The chapter's data (see the module's docstring)."""
    now = now or datetime.now(UTC)
    service_config = ServiceConfig.from_mapping(config)
    ends = localtime.day_start(period.end + timedelta(days=1), service_config.timezone)
    at = min(now, ends - timedelta(microseconds=1))
    gaps = assignments.gaps(session, scope.actor, duties)
    by_duty: dict[str, int] = {}
    for gap in gaps:
        by_duty[gap.duty.code] = by_duty.get(gap.duty.code, 0) + 1
    labels = {duty.code: duty.label for duty in duties}
    code = appraisal.covering(period.start, period.end)
    found = appraisal.appraise(session, scope.actor, appraisal.READERS, measures, code, service_config, now)
    totals: dict[str, dict[str, int]] = {}  # each measure over the scope: its departments' together
    for line in found.departments:
        for measure, figure in line.figures.items():
            total = totals.setdefault(measure, {"good": 0, "total": 0})
            total["good"] += figure.good
            total["total"] += figure.total
    return {
        "at": localtime.utc_text(at),
        "at_day": localtime.local(at, service_config.timezone).date().isoformat(),
        **_leaders(session, scope, at, service_config.timezone),
        "gaps": len(gaps),
        "gaps_by_duty": [
            {"duty": duty, "label": labels[duty], "gaps": n} for duty, n in sorted(by_duty.items(), key=lambda x: -x[1])
        ],
        "appraisal": {
            "period": found.period.code,
            "from": found.period.starts_on.isoformat(),
            "to": found.period.ends_on.isoformat(),
            "as_of": localtime.utc_text(found.as_of),
            "closed": found.closed is not None,
            "closed_sha256": found.closed.sha256 if found.closed else "",
            "score": found.score,
            "measures": [
                {"code": m.code, "label": m.label, "weight": m.weight, **totals.get(m.code, {"good": 0, "total": 0})}
                for m in found.measures
            ],
            "people": listed([_line(line, True) for line in found.people]),
            "departments": listed([_line(line, False) for line in found.departments]),
            "unheld": found.unheld.records,
        },
        "headline": [
            {"label": N_("Accountability gaps"), "value": len(gaps)},
            {"label": N_("Appraisal score (out of 100)"), "value": found.score},
        ],
    }


METHOD = (
    N_(
        "Accountability: the chief responsible person and the department heads are those whose terms were in"
        " force at the end of the report's period (or when the report was made, for a period not yet over)."
        " Gaps are counted when the report is made: subjects that need a holder of a duty and have none, or"
        " whose holder is disabled; each is a violation."
    ),
    N_(
        "Appraisal: the month, quarter, half or year that holds the report's period is appraised, as the"
        " appraisal page and API give it to a reader of the report's department; a closed period is read as"
        " it was stored when it was closed. Each measure's score is the share of its records that went well;"
        " a person's or department's score is the mean of its measures' scores weighed by the appraisal"
        " weights, measures without records left out; equal scores share a rank. Each record counts for the"
        " person who held the duty at the moment that counts (its due date, or when it was done)."
    ),
)


def chapter(duties: Sequence[Duty], measures: Sequence[Measure]) -> Chapter:
    """The chapter over the registry's duties and measures."""

    def build(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
        return accountability(session, scope, period, config, duties, measures)

    return Chapter(
        "accountability",
        N_("Accountability and appraisal"),
        "reports/chapters/accountability.html",
        build,
        order=ORDER,
        method=METHOD,
    )

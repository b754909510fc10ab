"""The drills domain's headline figures, snapshotted daily for trends (`secgov.snapshots`), each
department's own count: completed drills of the coverage period, coverage gaps (a CII system's in
its department, a department's in itself), the reportable drills of the period and those of them
reported late or not at all (the dashboard derives the late share from the two), and corrective
actions open and overdue (in their owner's department). As of the city's today, under the
settings in force (`drills.coverage`, `drills.readiness`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date

from sqlalchemy import ColumnElement, func, true
from sqlmodel import Session, select

from drills import coverage, readiness, rule
from drills.models import CorrectiveAction
from drills.settings import COVERAGE_MONTHS
from secgov import settings
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.models import Department
from secgov.snapshots import Figure, local_today


def _today(config: ServiceConfig) -> date:
    return local_today(config.timezone)


def _held(session: Session) -> list[readiness.Held]:
    config = ServiceConfig()
    today = _today(config)
    since = rule.coverage_since(today, settings.get(session, COVERAGE_MONTHS, config))
    return readiness.held(session, true(), since, today, config.timezone)


def _drills(keep: Callable[[readiness.Held], bool]) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        found = Counter(d.department_id for d in _held(session) if keep(d))
        return {dept: float(n) for dept, n in found.items()}

    return count


def _gaps(session: Session) -> Mapping[int, float]:
    config = ServiceConfig()
    found = coverage.coverage(session, Actor.system("job"), config, _today(config))
    ids = dict(session.exec(select(Department.code, Department.id)).all())
    counted = Counter(ids[gap.department] for gap in found.gaps if gap.department in ids)
    return {dept: float(n) for dept, n in counted.items()}


def _actions(where: Callable[[date], ColumnElement]) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        statement = (
            select(CorrectiveAction.department_id, func.count(CorrectiveAction.id))
            .where(where(_today(ServiceConfig())))
            .group_by(CorrectiveAction.department_id)
        )
        return {dept: float(n) for dept, n in session.exec(statement).all()}

    return count


FIGURES: tuple[Figure, ...] = (
    Figure("drills.held", N_("Drills held in the coverage period"), _drills(lambda _d: True)),
    Figure("drills.coverage_gaps", N_("Drill coverage gaps"), _gaps),
    Figure(
        "drills.reportable", N_("Reportable drills in the coverage period"), _drills(lambda d: d.deadline is not None)
    ),
    Figure(
        "drills.reported_late",
        N_("Drills reported late or not at all"),
        _drills(lambda d: d.reporting in ("late", "missing")),
    ),
    Figure("drills.actions_open", N_("Corrective actions open"), _actions(lambda _today: readiness.action_open())),
    Figure("drills.actions_overdue", N_("Corrective actions overdue"), _actions(readiness.action_overdue)),
)

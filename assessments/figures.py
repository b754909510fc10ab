"""The assessments domain's headline figures, snapshotted daily for trends (`secgov.snapshots`):
open risks (all, and high or very high), overdue treatments and reviews, and required
assessments overdue and due soon, each department's own count.

Risks are counted with the register's own clauses (`assessments.risks`), the due dates with the
schedule (`assessments.schedule`), as of the city's today and under the settings in force."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date

from sqlalchemy import ColumnElement, and_, func
from sqlmodel import Session, select

from assessments import risks, rule, schedule
from assessments.codes import LIVE_STATUSES, SEVERE
from assessments.models import Risk
from assets.models import Asset
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.snapshots import Figure, local_today


def _today() -> date:
    return local_today(ServiceConfig().timezone)


def _risks(where: Callable[[Session, date], ColumnElement]) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        statement = (
            select(Asset.department_id, func.count(Risk.id))
            .join(Asset, Asset.id == Risk.asset_id)
            .where(where(session, _today()))
            .group_by(Asset.department_id)
        )
        return {dept: float(n) for dept, n in session.exec(statement).all()}

    return count


def _review_overdue(session: Session, today: date) -> ColumnElement:
    return risks.review_due_clause(rule.method(session, ServiceConfig()), today)


def _treatment_overdue(_session: Session, today: date) -> ColumnElement:
    return and_(Risk.status.in_(LIVE_STATUSES), Risk.due_date.is_not(None), Risk.due_date < today)


def _assessments(state: str) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        method = rule.method(session, ServiceConfig())
        today = _today()
        found = Counter(
            s.asset.department_id
            for s in schedule.schedule(session, schedule.assessed_assets(session), method, ordered=False)
            if s.due.state(today, method.soon_days) == state
        )
        return {dept: float(n) for dept, n in found.items()}

    return count


FIGURES: tuple[Figure, ...] = (
    Figure("risks.open", N_("Open risks"), _risks(lambda _s, today: risks.open_clause(today))),
    Figure(
        "risks.open_severe",
        N_("Open high and very-high risks"),
        _risks(lambda _s, today: and_(Risk.level.in_(SEVERE), risks.open_clause(today))),
    ),
    Figure("risks.treatment_overdue", N_("Risk treatments overdue"), _risks(_treatment_overdue)),
    Figure("risks.review_overdue", N_("Risk reviews overdue"), _risks(_review_overdue)),
    Figure("assessments.overdue", N_("Required assessments overdue"), _assessments("overdue")),
    Figure("assessments.due_soon", N_("Required assessments due soon"), _assessments("due_soon")),
)

"""The scans domain's headline figures, snapshotted daily for trends (`secgov.snapshots`): findings
not yet triaged (all, and high), unexpected services still open, and systems with network
targets never scanned, each department's own count (the clauses of `scans.exposure`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import ColumnElement, and_, func
from sqlmodel import Session, select

from assets.models import Asset
from scans import exposure
from scans.models import ScanFinding
from secgov.codes import N_
from secgov.snapshots import Figure


def _findings(where: Callable[[], ColumnElement]) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        statement = (
            select(Asset.department_id, func.count(ScanFinding.id))
            .join(Asset, Asset.id == ScanFinding.asset_id)
            .where(where())
            .group_by(Asset.department_id)
        )
        return {dept: float(n) for dept, n in session.exec(statement).all()}

    return count


def _never_scanned(session: Session) -> Mapping[int, float]:
    statement = select(Asset.department_id, func.count()).where(exposure.never_scanned()).group_by(Asset.department_id)
    return {dept: float(n) for dept, n in session.exec(statement).all()}


FIGURES: tuple[Figure, ...] = (
    Figure("scans.untriaged", N_("Untriaged scan findings"), _findings(exposure.untriaged)),
    Figure(
        "scans.untriaged_high",
        N_("Untriaged high-severity scan findings"),
        _findings(lambda: and_(exposure.untriaged(), ScanFinding.severity == "high")),
    ),
    Figure("scans.unexpected_open", N_("Unexpected services open"), _findings(exposure.unexpected_open)),
    Figure("scans.never_scanned", N_("Systems never scanned"), _never_scanned),
)

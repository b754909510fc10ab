"""The asset domain's headline figures, snapshotted daily for trends (`secgov.snapshots`).

Each figure is one grouped query giving every department's own count; they add up over a
subtree, so coverage (implemented / applicable controls) can be computed for any subtree from
the snapshots. Every registered system counts, whatever its lifecycle.

The vendor-origin figures come from the compliance service (`assets.policy.compliance`, as the
whole city): its queries load only the engagements the policy can flag, and the rule runs on
those alone, never on every asset of the city.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import ColumnElement, func, true
from sqlmodel import Session, select

from assets.models import Asset, AssetControl
from assets.policy import compliance
from secgov import catalog
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.models import Department
from secgov.snapshots import Figure


def _assets(*where: ColumnElement) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        statement = select(Asset.department_id, func.count()).where(*where).group_by(Asset.department_id)
        return {dept: float(n) for dept, n in session.exec(statement).all()}

    return count


def _controls(*where: ColumnElement) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        statement = (
            select(Asset.department_id, func.count())
            .join(AssetControl, AssetControl.asset_id == Asset.id)
            .where(AssetControl.required.is_(True), *where)
            .group_by(Asset.department_id)
        )
        return {dept: float(n) for dept, n in session.exec(statement).all()}

    return count


def _findings(outcome: str) -> Callable[[Session], Mapping[int, float]]:
    def count(session: Session) -> Mapping[int, float]:
        report = compliance(session, Actor.system("job"), ServiceConfig())
        counts = {row.code: getattr(row, outcome) for row in report.by_department}
        if not counts:
            return {}
        ids = dict(session.exec(select(Department.code, Department.id).where(Department.code.in_(counts))).all())
        return {ids[code]: float(n) for code, n in counts.items() if code in ids}

    return count


FIGURES: tuple[Figure, ...] = (
    Figure("assets.registered", N_("Systems registered"), _assets(true())),
    Figure("assets.cii", N_("Critical information infrastructure systems"), _assets(Asset.is_cii.is_(True))),
    Figure("assets.graded", N_("Graded systems"), _assets(Asset.mlps_level.is_not(None))),
    Figure("assets.ungraded", N_("Systems not yet graded"), _assets(Asset.mlps_level.is_(None))),
    Figure(
        "assets.unfiled",
        N_("Systems of level 2 or above without a filing number"),
        # assets.services.filing_missing as a WHERE clause
        _assets(Asset.mlps_level >= catalog.filing_required_from(), Asset.mlps_filing_number == ""),
    ),
    Figure("controls.required", N_("Required controls"), _controls()),
    Figure(
        "controls.applicable",
        N_("Required controls that apply"),
        _controls(AssetControl.status != "not_applicable"),
    ),
    Figure("controls.implemented", N_("Implemented controls"), _controls(AssetControl.status == "implemented")),
    Figure("controls.partial", N_("Partly implemented controls"), _controls(AssetControl.status == "partial")),
    Figure("policy.violations", N_("Vendor-origin violations"), _findings("violations")),
    Figure("policy.warnings", N_("Vendor-origin warnings"), _findings("warnings")),
)

"""The asset domain's chapters of the leadership report (`secgov.reports.chapters`): the
inventory with MLPS grading and filing, control coverage by bureau, and vendor-origin compliance.

Each builder reads the registers of the report's scope (its actor's subtree) as they are when the
report is generated, with grouped queries; lists are cut at `LIST_LIMIT` rows (a PDF table holds
no more), the number left out is given beside them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, select

from assets.controls import coverage_by_area, coverage_tree
from assets.models import Asset
from assets.overdue import overdue
from assets.policy import compliance
from assets.services import OWNER, SUBJECT
from secgov import catalog
from secgov.authz import in_scope
from secgov.codes import AREA, N_
from secgov.config import ServiceConfig
from secgov.models import Department
from secgov.reports.chapters import Chapter, Period, Scope, share

LIST_LIMIT = 50
_AREA_ORDER = {code: n for n, code in enumerate(AREA.codes)}


def _listed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": rows[:LIST_LIMIT], "more": max(0, len(rows) - LIST_LIMIT), "total": len(rows)}


def inventory(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """Systems by sector, MLPS level and CII status; ungraded ones; filing numbers missing."""
    where = in_scope(Asset.department_id, scope.actor)
    by_sector = session.exec(
        select(Asset.sector, func.count(), func.sum(case((Asset.is_cii.is_(True), 1), else_=0)))
        .where(where)
        .group_by(Asset.sector)
        .order_by(Asset.sector)
    ).all()
    by_level = dict(session.exec(select(Asset.mlps_level, func.count()).where(where).group_by(Asset.mlps_level)).all())
    required_from = catalog.filing_required_from()
    unfiled = session.exec(
        select(Asset.code, Asset.name, Asset.mlps_level, Department.code)
        .join(Department, Department.id == Asset.department_id)
        .where(where, Asset.mlps_level >= required_from, Asset.mlps_filing_number == "")
        .order_by(Asset.code)
    ).all()
    total = sum(n for _sector, n, _cii in by_sector)
    cii = sum(int(c or 0) for _sector, _n, c in by_sector)
    ungraded = by_level.get(None, 0)
    graded_required = sum(n for level, n in by_level.items() if level is not None and level >= required_from)
    return {
        "total": total,
        "cii": cii,
        "ungraded": ungraded,
        "unfiled": len(unfiled),
        "filing_required_from": required_from,
        "by_sector": [{"sector": s, "assets": n, "cii": int(c or 0)} for s, n, c in by_sector],
        "by_level": [{"level": level, "assets": by_level.get(level, 0)} for level in range(1, 6)],
        "unfiled_list": _listed([{"code": c, "name": n, "level": lv, "department": d} for c, n, lv, d in unfiled]),
        "score": [
            {"label": N_("Systems graded"), "value": share(total - ungraded, total)},
            {"label": N_("Graded systems filed"), "value": share(graded_required - len(unfiled), graded_required)},
        ],
        "headline": [
            {"label": N_("Systems registered"), "value": total},
            {"label": N_("Critical information infrastructure systems"), "value": cii},
            {"label": N_("Systems not yet graded"), "value": ungraded},
            {"label": N_("Systems of level 2 or above without a filing number"), "value": len(unfiled)},
        ],
    }


def coverage(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """Control coverage of the scope and of each department one level below it (the bureaus of the
    city), their whole subtrees counted."""
    rows = [row for row in coverage_tree(session, scope.actor) if row.depth <= 1]
    english = dict(session.exec(select(Department.code, Department.name_en)).all())
    listed = [
        {
            "department": row.department,
            "name": row.name,
            "name_en": english.get(row.department) or "",
            "depth": row.depth,
            "assets": row.assets,
            "required": row.total.required,
            "applicable": row.total.applicable,
            "implemented": row.total.implemented,
            "partial": row.total.partial,
            "percent": row.total.percent,
        }
        for row in rows
    ]
    top = listed[0] if listed else None
    by_area = coverage_by_area(session, scope.actor)
    areas = [
        {
            "area": area,
            "required": found.required,
            "applicable": found.applicable,
            "implemented": found.implemented,
            "partial": found.partial,
            "percent": found.percent,
        }
        for area, found in sorted(by_area.items(), key=lambda item: (_AREA_ORDER.get(item[0], 99), item[0]))
        if found.required
    ]
    return {
        "overall": top["percent"] if top else None,
        "by_area": areas,
        "score": [{"label": N_("Control coverage"), "value": top["percent"] if top else None}],
        "rows": _listed(listed),
        "headline": [{"label": N_("Control coverage (per cent)"), "value": top["percent"] if top else None}],
    }


def _finding(row) -> dict[str, Any]:
    return {
        "asset": row.asset_code,
        "name": row.asset_name,
        "department": row.department,
        "vendor": row.vendor_name,
        "country": row.country,
        "role": row.role,
        "expires_on": row.exemption_expires_on.isoformat() if row.exemption_expires_on else None,
    }


def vendor_origin(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """Violations, warnings and exemptions of the vendor-origin policy (`assets.policy.compliance`)."""
    service_config = ServiceConfig.from_mapping(config)
    report = compliance(session, scope.actor, service_config, today=period.end)
    systems = session.exec(
        select(func.count()).select_from(Asset).where(in_scope(Asset.department_id, scope.actor))
    ).one()
    violating = {finding.asset_id for finding in report.violations}
    late = overdue(session, scope.actor, service_config, period.end, report.violations)
    return {
        "score": [
            {
                "label": N_("Systems without a vendor-origin violation"),
                "value": share(systems - len(violating), systems) if report.policy.enabled else None,
            }
        ],
        # The asset registers' overdue duties (filing, lapsed exemptions): the report's overdue
        # chapter gathers every domain's; computed here, where the violations are at hand.
        "overdue": [
            dict(
                item.as_dict(), what=OVERDUE_WHAT[item.kind], subject_type=SUBJECT, subject_id=item.asset_id, duty=OWNER
            )
            for item in late
        ],
        "enabled": report.policy.enabled,
        "violations": _listed([_finding(r) for r in report.violations]),
        "warnings": _listed([_finding(r) for r in report.warnings]),
        "exempted": _listed([_finding(r) for r in report.exempted]),
        "pending": len(report.pending_exemptions),
        "expiring": _listed(
            [
                {"asset": x.asset_code, "vendor": x.vendor_name, "expires_on": x.expires_on.isoformat()}
                for x in report.expiring_exemptions
            ]
        ),
        "headline": [
            {"label": N_("Vendor-origin violations"), "value": len(report.violations)},
            {"label": N_("Vendor-origin warnings"), "value": len(report.warnings)},
        ],
    }


OVERDUE_WHAT = {
    "filing": N_("Filing with the public security organs"),
    "exemption": N_("Vendor-origin exemption expired, the engagement still runs"),
}

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "inventory",
        N_("Inventory, MLPS grading and filing"),
        "reports/chapters/inventory.html",
        inventory,
        order=10,
        method=(
            N_("Systems registered: every system of the asset register in the scope, whatever its lifecycle."),
            N_("Systems not yet graded: systems without an MLPS level."),
            N_(
                "Filing missing: systems graded at the level from which the public security filing is required"
                " without a filing number."
            ),
        ),
    ),
    Chapter(
        "coverage",
        N_("Control coverage"),
        "reports/chapters/coverage.html",
        coverage,
        order=20,
        method=(
            N_(
                "Control coverage: implemented required controls plus half of the partly implemented ones, over"
                " the required controls that apply (not-applicable ones left out), for each department's subtree."
            ),
        ),
    ),
    Chapter(
        "vendor_origin",
        N_("Vendor-origin compliance"),
        "reports/chapters/vendor_origin.html",
        vendor_origin,
        order=30,
        method=(
            N_(
                "Vendor origin: engagements running on the report's last day that the vendor-origin policy flags;"
                " a violation has no approved exemption, a warning is allowed but to be watched, an exempted one"
                " has an approved exemption until its expiry."
            ),
        ),
    ),
)

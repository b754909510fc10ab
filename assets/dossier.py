"""The per-asset dossier: a report about one asset (`secgov.reports.kinds`), as of the day it is
made, for the leaders and officers of its department.

Its sections are chapters of the report kind "dossier": the asset's facts and responsible persons,
its MLPS grade history, its controls by assessment area, and its vendors with the vendor-origin
policy's outcome. A later capability (vulnerability scans, risks, assessments, drills) adds its
own section by declaring a `Chapter(..., report="dossier")` in its `Domain.chapters`: the
dossier's document lists and renders every chapter of its kind, and its last section says what
each one holds.

Each builder finds the asset by the report's subject in the report's scope (its department's
subtree) and reads it as it is when the report is generated; tables are cut at `LIST_LIMIT` rows
with the number left out beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session, select

from assets import controls, services
from assets.chapters import LIST_LIMIT
from assets.chapters import _listed as listed
from assets.codes import CONTROL_STATUS
from assets.models import Asset, Engagement, Vendor, VendorExemption
from assets.policy import asset_engagements
from assets.rule import get_policy
from assets.schemas import Coverage
from secgov import catalog, responsibility
from secgov.authz import Actor, deny_out_of_scope, path_in_scope
from secgov.codes import AREA, N_
from secgov.config import ServiceConfig
from secgov.errors import NotFound
from secgov.localtime import shown
from secgov.models import Department, User
from secgov.reports.chapters import FOOTER_METHOD, Chapter, Period, Scope
from secgov.reports.kinds import ReportKind, Subject

KIND = "dossier"
# The controls a leader reads first: the gaps, then what is done, then what does not apply.
STATUS_ORDER = {
    code: n for n, code in enumerate(("not_implemented", "planned", "partial", "implemented", "not_applicable"))
}


def asset_in_scope(session: Session, actor: Actor, code: str) -> Asset:
    """The asset of this code (any case) in the actor's scope; NotFound when there is none, the
    refusal audited when it exists out of scope."""
    asset = services.asset_by_code(session, code)
    if asset is None:
        raise NotFound(_("No asset with this code."), field="asset")
    department = session.get(Department, asset.department_id)
    if not path_in_scope(department.path, actor):
        deny_out_of_scope(actor, "asset", asset.code)
    return asset


def resolve(session: Session, actor: Actor, code: str) -> Subject:
    asset = asset_in_scope(session, actor, code)
    return Subject(asset.code, asset.department_id)


def _when(value, config: Mapping[str, Any]) -> str:
    return shown(value, ServiceConfig.from_mapping(config).timezone) if value else ""


def _people(session: Session, usernames: set[str]) -> dict[str, str]:
    """Display names by username (the username itself when there is none)."""
    names = {name: name for name in usernames if name}
    if names:
        rows = session.exec(select(User.username, User.display_name).where(User.username.in_(list(names)))).all()
        names.update({username: display or username for username, display in rows})
    return names


def facts(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """What the register holds about the asset, its department and its responsible persons."""
    asset = asset_in_scope(session, scope.actor, scope.subject)
    record = services.read_one(session, asset)
    department = session.get(Department, asset.department_id)
    terms = responsibility.history(session, services.SUBJECT, asset.id, services.OWNER)
    names = _people(session, {record.owner or ""} | {term.assigned_by for term, _user in terms})
    coverage = controls.coverage_by_asset(session, [asset.id])[asset.id]
    return {
        "asset": record.model_dump(mode="json", exclude={"id", "version", "updated_at", "department", "owner"}),
        "updated_at": _when(asset.updated_at, config),
        "department": {"code": department.code, "name": department.name, "name_en": department.name_en},
        "owner": {"username": record.owner, "name": names.get(record.owner or "", "")} if record.owner else None,
        "owners": listed(
            [
                {
                    "name": user.display_name or user.username,
                    "username": user.username,
                    "from": _when(term.valid_from, config),
                    "to": _when(term.valid_to, config),
                    "assigned_by": names.get(term.assigned_by, term.assigned_by),
                    "reason": term.reason,
                }
                for term, user in terms
            ]
        ),
        "coverage": coverage.percent,
        "filing_required_from": catalog.filing_required_from(),
    }


def grades(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The asset's MLPS grading history, newest first (each change of level or filing number)."""
    asset = asset_in_scope(session, scope.actor, scope.subject)
    history = services.grade_history(session, asset)
    names = _people(session, {grade.changed_by for grade in history})
    return {
        "current": asset.mlps_level,
        "grades": listed(
            [
                {
                    "when": _when(grade.changed_at, config),
                    "level": grade.mlps_level,
                    "filing_number": grade.mlps_filing_number,
                    "by": names.get(grade.changed_by, grade.changed_by),
                    "reason": grade.reason,
                }
                for grade in history
            ]
        ),
    }


def _counts(coverage: Coverage) -> dict[str, Any]:
    return {
        "required": coverage.required,
        "applicable": coverage.applicable,
        **{status: coverage.count(status) for status in CONTROL_STATUS.codes},
        "percent": coverage.percent,
    }


def control_areas(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The required controls by assessment area: how many in each status, and the controls of each
    area with their status (the gaps first)."""
    asset = asset_in_scope(session, scope.actor, scope.subject)
    rows = controls.asset_controls(session, asset)
    by_area: dict[str, list] = {}
    for row, control in rows:
        by_area.setdefault(control.area, []).append((row, control))
    order = {code: n for n, code in enumerate(AREA.codes)}
    areas = []
    for area in sorted(by_area, key=lambda code: order.get(code, len(order))):
        items = sorted(by_area[area], key=lambda item: STATUS_ORDER.get(item[0].status, len(STATUS_ORDER)))
        areas.append(
            {
                "area": area,
                "counts": _counts(controls.coverage_of(row.status for row, _control in items)),
                "controls": listed(
                    [
                        {
                            "code": control.code,
                            "title_zh": control.title_zh,
                            "title_en": control.title_en,
                            "status": row.status,
                            "reviewer": row.reviewer,
                            "reviewed_on": row.reviewed_on.isoformat() if row.reviewed_on else None,
                        }
                        for row, control in items
                    ]
                ),
            }
        )
    total = controls.coverage_of(row.status for row, _control in rows)
    return {"total": _counts(total), "areas": areas}


def vendors(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The asset's vendors (its engagements, running ones first) with their origin and the
    vendor-origin policy's outcome on the report's day, and the exemptions asked for them."""
    asset = asset_in_scope(session, scope.actor, scope.subject)
    service_config = ServiceConfig.from_mapping(config)
    engagements, findings = asset_engagements(session, asset, service_config, today=period.end)
    countries = dict(
        session.exec(select(Vendor.id, Vendor.country).where(Vendor.id.in_([e.vendor_id for e in engagements]))).all()
    )
    policy = get_policy(session, service_config)
    exemptions = session.exec(
        select(VendorExemption, Vendor.name)
        .join(Engagement, Engagement.id == VendorExemption.engagement_id)
        .join(Vendor, Vendor.id == Engagement.vendor_id)
        .where(Engagement.asset_id == asset.id)
        .order_by(VendorExemption.requested_at.desc(), VendorExemption.id.desc())
    ).all()
    outcomes = Counter(finding.outcome for finding in findings)
    return {
        "policy_enabled": bool(policy.get("enabled")),
        "policy_applies": bool(policy.get("enabled")) and asset.sector in policy.get("critical_sectors", ()),
        "violations": outcomes.get("violation", 0),
        "warnings": outcomes.get("warning", 0),
        "exempted": outcomes.get("exempted", 0),
        "engagements": listed(
            [
                {
                    "vendor": e.vendor_name,
                    "origin": e.origin,
                    "country": countries.get(e.vendor_id, ""),
                    "role": e.role,
                    "started_on": e.started_on.isoformat() if e.started_on else None,
                    "ended_on": e.ended_on.isoformat() if e.ended_on else None,
                    "active": e.active,
                    "policy": e.policy,
                }
                for e in engagements
            ]
        ),
        "exemptions": listed(
            [
                {
                    "vendor": vendor_name,
                    "status": x.status,
                    "expires_on": x.expires_on.isoformat(),
                    "requested_by": x.requested_by,
                    "decided_by": x.decided_by,
                }
                for x, vendor_name in exemptions
            ]
        ),
    }


def _about(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {}


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "facts",
        N_("Facts"),
        "reports/dossier/facts.html",
        facts,
        order=10,
        report=KIND,
        method=(
            N_(
                "Facts: the asset as the register holds it when the dossier is made, with its responsible"
                " persons past and present."
            ),
        ),
    ),
    Chapter(
        "grades",
        N_("Grade history"),
        "reports/dossier/grades.html",
        grades,
        order=20,
        report=KIND,
        method=(N_("Grade history: every change of the asset's MLPS level or filing number, newest first."),),
    ),
    Chapter(
        "controls",
        N_("Controls by area"),
        "reports/dossier/controls.html",
        control_areas,
        order=30,
        report=KIND,
        method=(
            N_(
                "Controls: the MLPS control points the asset's level and extended requirements require, by"
                " assessment area; coverage counts implemented controls plus half of the partly implemented"
                " ones, over those that apply. Each area lists its controls not yet implemented first."
            ),
        ),
    ),
    Chapter(
        "vendors",
        N_("Vendors"),
        "reports/dossier/vendors.html",
        vendors,
        order=40,
        report=KIND,
        method=(
            N_(
                "Vendors: the asset's engagements, running ones first, with the vendor's origin and the outcome"
                " of the vendor-origin policy on the dossier's day."
            ),
        ),
    ),
    Chapter(
        "about",
        N_("About this dossier"),
        "reports/chapters/methodology.html",
        _about,
        order=1000,
        report=KIND,
        method=(FOOTER_METHOD,),
    ),
)

DOSSIER = ReportKind(
    KIND,
    N_("Asset dossier"),
    "reports/dossier.html",
    subject=resolve,
    subject_label=N_("Asset"),
    periodic=False,
    registers=False,  # the dossier is about one asset: the department's registers do not go with it
)

__all__ = ["CHAPTERS", "DOSSIER", "LIST_LIMIT"]

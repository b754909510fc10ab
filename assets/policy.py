"""The vendor-origin policy's exemptions and the compliance of a scope: engagements with the
policy's outcome, exemption requests and decisions, violations and warnings per department and
sector, and the recent changes of vendor origin that moved them.

The rule itself and its city-wide setting are `assets.rule`; everything here loads rows and hands
them to `rule.evaluate`.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from assets.models import Asset, Engagement, Vendor, VendorExemption
from assets.rule import Finding, approved_exemptions, evaluate, get_policy, runs_on, today_utc
from assets.schemas import (
    EXPIRING_DAYS,
    ORIGIN_CHANGE_DAYS,
    ComplianceRead,
    DepartmentCount,
    EngagementRead,
    ExemptionCreate,
    ExemptionDecision,
    ExemptionQuery,
    ExemptionRead,
    FindingCounts,
    FindingRead,
    OriginChangeRead,
    PolicyRead,
    SectorCount,
)
from assets.vendors import all_vendors, engagement_read, exemption_snapshot
from secgov import audit
from secgov.authz import Actor, in_scope, path_in_scope, scoped_row
from secgov.codes import SECTOR
from secgov.config import ServiceConfig
from secgov.errors import Conflict, Forbidden, Invalid, NotFound, Refusal
from secgov.models import AuditEntry, Department

# Who decides on exemption requests.
APPROVERS = ("admin", "leader")
MAX_EXEMPTION_YEARS = 3


# --- engagements with the policy's outcome -------------------------------------------------------


def asset_engagements(
    session: Session, asset: Asset, config: ServiceConfig, today: date | None = None
) -> tuple[list[EngagementRead], list[Finding]]:
    """An asset's engagements (ongoing first) with the policy's findings on them today."""
    today = today or today_utc()
    rows = session.exec(
        select(Engagement, Vendor)
        .join(Vendor, Vendor.id == Engagement.vendor_id)
        .where(Engagement.asset_id == asset.id)
        .order_by(Engagement.started_on.desc(), Engagement.id)
    ).all()
    exemptions = approved_exemptions(session, [engagement.id for engagement, _vendor in rows])
    findings = evaluate(asset, rows, [x for xs in exemptions.values() for x in xs], get_policy(session, config), today)
    outcomes = {finding.engagement.id: finding.outcome for finding in findings}
    reads = [engagement_read(e, v, today, outcomes.get(e.id)) for e, v in rows]
    reads.sort(key=lambda read: not read.active)
    return reads, findings


def engagement_panel(session: Session, asset: Asset, config: ServiceConfig) -> dict:
    """The arguments of the `engagements_panel` macro (templates/vendors/_engagements.html)."""
    engagements, findings = asset_engagements(session, asset, config)
    return {
        "engagements": engagements,
        "vendors": all_vendors(session),
        "findings": {finding.engagement.id: finding for finding in findings},
    }


def vendor_engagements(
    session: Session, vendor: Vendor, actor: Actor, config: ServiceConfig, today: date | None = None
) -> list[dict]:
    """The vendor's engagements on assets in the actor's scope, with the policy's outcome today."""
    today = today or today_utc()
    rows = session.exec(
        select(Engagement, Asset)
        .join(Asset, Asset.id == Engagement.asset_id)
        .where(Engagement.vendor_id == vendor.id, in_scope(Asset.department_id, actor))
        .order_by(Asset.code, Engagement.role, Engagement.id)
    ).all()
    exemptions = approved_exemptions(session, [engagement.id for engagement, _asset in rows])
    policy = get_policy(session, config)
    result = []
    for engagement, asset in rows:
        findings = evaluate(asset, [(engagement, vendor)], exemptions.get(engagement.id, []), policy, today)
        outcome = findings[0].outcome if findings else None
        result.append({"asset": asset, "engagement": engagement_read(engagement, vendor, today, outcome)})
    return result


# --- exemptions ----------------------------------------------------------------------------------


def years_later(day: date, years: int) -> date:
    """The same day `years` later (28 February for a 29 February that does not recur)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def exemption_read(
    exemption: VendorExemption, engagement: Engagement, asset: Asset, vendor: Vendor, department: str, today: date
) -> ExemptionRead:
    return ExemptionRead(
        id=exemption.id,
        engagement_id=engagement.id,
        asset_id=asset.id,
        asset_code=asset.code,
        asset_name=asset.name,
        department=department,
        vendor_id=vendor.id,
        vendor_name=vendor.name,
        origin=vendor.origin,
        role=engagement.role,
        reason=exemption.reason,
        expires_on=exemption.expires_on,
        status=exemption.status,
        requested_by=exemption.requested_by,
        requested_at=exemption.requested_at,
        decided_by=exemption.decided_by,
        decided_at=exemption.decided_at,
        decision_note=exemption.decision_note,
        expired=exemption.expires_on <= today,
    )


def _exemption_rows(actor: Actor, *where):
    return (
        select(VendorExemption, Engagement, Asset, Vendor, Department.code)
        .join(Engagement, Engagement.id == VendorExemption.engagement_id)
        .join(Asset, Asset.id == Engagement.asset_id)
        .join(Vendor, Vendor.id == Engagement.vendor_id)
        .join(Department, Department.id == Asset.department_id)
        .where(in_scope(Asset.department_id, actor), *where)
    )


def list_exemptions(
    session: Session, actor: Actor, query: ExemptionQuery, today: date | None = None
) -> tuple[list[ExemptionRead], int]:
    """Exemptions on assets in the actor's scope, newest request first."""
    today = today or today_utc()
    where = [VendorExemption.status == query.status] if query.status else []
    base = _exemption_rows(actor, *where)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(
        base.order_by(VendorExemption.requested_at.desc(), VendorExemption.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return [exemption_read(x, e, a, v, code, today) for x, e, a, v, code in rows], total


def get_exemption(session: Session, exemption_id: int, actor: Actor) -> VendorExemption:
    """An exemption on an asset in the actor's scope (missing or out of scope: 404, audited)."""
    # The scope is checked on the exemption's id and department path alone (one statement
    # whether the exemption is missing or out of scope); the exemption is loaded afterwards.
    statement = (
        select(VendorExemption.id, Department.path)
        .outerjoin(Engagement, Engagement.id == VendorExemption.engagement_id)
        .outerjoin(Asset, Asset.id == Engagement.asset_id)
        .outerjoin(Department, Department.id == Asset.department_id)
        .where(VendorExemption.id == exemption_id)
    )
    scoped_row(session, statement, actor, "vendor_exemption", exemption_id)
    exemption = session.get(VendorExemption, exemption_id)
    if exemption is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    return exemption


def read_exemption(session: Session, exemption: VendorExemption, today: date | None = None) -> ExemptionRead:
    engagement = session.get(Engagement, exemption.engagement_id)
    asset = session.get(Asset, engagement.asset_id)
    vendor = session.get(Vendor, engagement.vendor_id)
    department = session.get(Department, asset.department_id)
    return exemption_read(exemption, engagement, asset, vendor, department.code, today or today_utc())


def request_exemption(session: Session, data: ExemptionCreate, actor: Actor, config: ServiceConfig) -> VendorExemption:
    """Ask a leader to exempt an engagement that the policy warns about (pending until decided)."""
    today = today_utc()
    # The scope first, on ids and the department's path alone: the same one statement whether
    # the engagement is missing or out of scope.
    found = session.exec(
        select(Engagement.id, Department.path)
        .outerjoin(Asset, Asset.id == Engagement.asset_id)
        .outerjoin(Department, Department.id == Asset.department_id)
        .where(Engagement.id == data.engagement_id)
    ).first()
    if found is None or not path_in_scope(found[1], actor):
        raise Invalid(_("Unknown engagement."), field="engagement_id")
    engagement = session.get(Engagement, data.engagement_id)
    asset = session.get(Asset, engagement.asset_id)
    if data.expires_on <= today:
        raise Invalid(_("The expiry date must be after today."), field="expires_on")
    if data.expires_on > years_later(today, MAX_EXEMPTION_YEARS):
        raise Invalid(_("An exemption can last at most three years."), field="expires_on")
    vendor = session.get(Vendor, engagement.vendor_id)
    findings = evaluate(asset, [(engagement, vendor)], [], get_policy(session, config), today)
    if not findings:
        raise Invalid(_("The vendor-origin policy does not flag this engagement."), field="engagement_id")
    if findings[0].outcome == "violation":
        raise Invalid(_("A violation on a classified system cannot be exempted."), field="engagement_id")
    exemption = VendorExemption(
        engagement_id=engagement.id, reason=data.reason, expires_on=data.expires_on, requested_by=actor.username
    )
    session.add(exemption)
    session.flush()
    audit.record(
        session, actor, "vendor_exemption.requested", object_type="vendor_exemption", object_id=exemption.id,
        department_id=asset.department_id, asset=asset.code, after=exemption_snapshot(exemption),
    )  # fmt: skip
    return exemption


def decide_exemption(
    session: Session, exemption: VendorExemption, approve: bool, data: ExemptionDecision, actor: Actor
) -> VendorExemption:
    """Approve or reject a pending request; never one's own (refused and audited), and a
    rejection says why."""
    if exemption.requested_by == actor.username:
        refusal = Refusal(actor, "authz.denied", "vendor_exemption", exemption.id, {"reason": "own_request"})
        raise Forbidden(_("You cannot decide on your own request."), refusal=refusal)
    if exemption.status != "pending":
        raise Conflict(_("This request has already been decided."))
    if not approve and not data.note:
        raise Invalid(_("Say why the request is rejected."), field="note")
    today = today_utc()
    if approve and exemption.expires_on <= today:
        raise Invalid(_("This request has expired: ask for a new one."), field="expires_on")
    engagement = session.get(Engagement, exemption.engagement_id)
    asset = session.get(Asset, engagement.asset_id)
    before = exemption_snapshot(exemption)
    exemption.status = "approved" if approve else "rejected"
    exemption.decided_by = actor.username
    exemption.decided_at = datetime.now(UTC)
    exemption.decision_note = data.note
    session.add(exemption)
    session.flush()
    audit.record(
        session, actor, f"vendor_exemption.{exemption.status}", object_type="vendor_exemption",
        object_id=exemption.id, department_id=asset.department_id, asset=asset.code,
        before=before, after=exemption_snapshot(exemption),
    )  # fmt: skip
    return exemption


def exemption_candidates(
    session: Session, actor: Actor, config: ServiceConfig, today: date | None = None
) -> list[FindingRead]:
    """Warnings and exempted findings in scope: what an exemption may be requested for."""
    report = compliance(session, actor, config, today)
    return report.warnings + report.exempted


# --- compliance ----------------------------------------------------------------------------------


def _finding_read(finding: Finding, asset: Asset, department: str) -> FindingRead:
    engagement, vendor, exemption = finding.engagement, finding.vendor, finding.exemption
    return FindingRead(
        outcome=finding.outcome,
        asset_id=asset.id,
        asset_code=asset.code,
        asset_name=asset.name,
        department=department,
        sector=asset.sector,
        classified=asset.classified,
        engagement_id=engagement.id,
        vendor_id=vendor.id,
        vendor_name=vendor.name,
        origin=vendor.origin,
        country=vendor.country,
        role=engagement.role,
        started_on=engagement.started_on,
        ended_on=engagement.ended_on,
        exemption_id=exemption.id if exemption else None,
        exemption_expires_on=exemption.expires_on if exemption else None,
    )


def origin_changes(session: Session, actor: Actor, today: date, limit: int = 50) -> list[OriginChangeRead]:
    """The newest changes of a vendor's origin or country that moved findings of a department in
    the actor's scope, over the last ORIGIN_CHANGE_DAYS days, in one query: the audit log holds
    them (`assets.vendors.update_vendor` records one entry per department it affects)."""
    since = (today - timedelta(days=ORIGIN_CHANGE_DAYS)).isoformat()
    rows = session.exec(
        select(AuditEntry, Department)
        .join(Department, Department.id == AuditEntry.department_id)
        .where(
            AuditEntry.action == "vendor.origin_changed",
            AuditEntry.created_at >= since,
            in_scope(AuditEntry.department_id, actor),
        )
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
    ).all()
    changes = []
    for entry, department in rows:
        detail = json.loads(entry.detail)
        before, after = detail.get("before", {}), detail.get("after", {})
        changes.append(
            OriginChangeRead(
                at=datetime.fromisoformat(entry.created_at),
                actor=entry.actor,
                vendor_id=int(entry.object_id),
                vendor_name=detail.get("vendor", ""),
                department=department.code,
                department_name=department.name,
                department_name_en=department.name_en,
                origin_before=before.get("origin", ""),
                origin_after=after.get("origin", ""),
                country_before=before.get("country", ""),
                country_after=after.get("country", ""),
                findings_before=FindingCounts(**detail.get("findings_before", {})),
                findings_after=FindingCounts(**detail.get("findings_after", {})),
            )
        )
    return changes


def compliance(session: Session, actor: Actor, config: ServiceConfig, today: date | None = None) -> ComplianceRead:
    """Violations, warnings, exemptions and counts in the actor's scope, and the recent changes
    of vendor origin that moved them, in five queries."""
    today = today or today_utc()
    policy = get_policy(session, config)
    rows = []
    if policy["enabled"]:
        rows = session.exec(
            select(Asset, Engagement, Vendor)
            .join(Engagement, Engagement.asset_id == Asset.id)
            .join(Vendor, Vendor.id == Engagement.vendor_id)
            .where(
                in_scope(Asset.department_id, actor),
                Asset.sector.in_(policy["critical_sectors"]),
                Engagement.role.in_(policy["restricted_roles"]),
                Vendor.origin.in_(policy["restricted_origins"]),
                runs_on(today),
            )
            .order_by(Asset.code, Engagement.id)
        ).all()
    # Pending requests, and approved exemptions still running: for the lists and for evaluate.
    exemption_rows = session.exec(
        _exemption_rows(
            actor,
            or_(
                VendorExemption.status == "pending",
                and_(VendorExemption.status == "approved", VendorExemption.expires_on > today),
            ),
        ).order_by(VendorExemption.expires_on, VendorExemption.id)
    ).all()
    approved: dict[int, list[VendorExemption]] = {}
    for exemption, *_rest in exemption_rows:
        if exemption.status == "approved":
            approved.setdefault(exemption.engagement_id, []).append(exemption)

    by_asset: dict[int, tuple[Asset, list[tuple[Engagement, Vendor]]]] = {}
    for asset, engagement, vendor in rows:
        by_asset.setdefault(asset.id, (asset, []))[1].append((engagement, vendor))
    dept_ids = {asset.department_id for asset, _pairs in by_asset.values()}
    departments = {
        d.id: d for d in (session.exec(select(Department).where(Department.id.in_(dept_ids))).all() if dept_ids else [])
    }

    lists: dict[str, list[FindingRead]] = {"violation": [], "warning": [], "exempted": []}
    per_department: dict[int, Counter] = {}
    per_sector: dict[str, Counter] = {}
    for asset, pairs in by_asset.values():
        exemptions = [x for engagement, _vendor in pairs for x in approved.get(engagement.id, [])]
        for finding in evaluate(asset, pairs, exemptions, policy, today):
            lists[finding.outcome].append(_finding_read(finding, asset, departments[asset.department_id].code))
            per_department.setdefault(asset.department_id, Counter())[finding.outcome] += 1
            per_sector.setdefault(asset.sector, Counter())[finding.outcome] += 1

    exemption_reads = [exemption_read(x, e, a, v, code, today) for x, e, a, v, code in exemption_rows]
    horizon = today + timedelta(days=EXPIRING_DAYS)
    return ComplianceRead(
        today=today,
        policy=PolicyRead(**policy),
        violations=lists["violation"],
        warnings=lists["warning"],
        exempted=lists["exempted"],
        pending_exemptions=sorted(
            (x for x in exemption_reads if x.status == "pending"), key=lambda x: (x.requested_at, x.id)
        ),
        expiring_exemptions=[x for x in exemption_reads if x.status == "approved" and x.expires_on <= horizon],
        by_department=sorted(
            (
                DepartmentCount(
                    code=departments[dept_id].code,
                    name=departments[dept_id].name,
                    name_en=departments[dept_id].name_en,
                    violations=counts["violation"],
                    warnings=counts["warning"],
                    exempted=counts["exempted"],
                )
                for dept_id, counts in per_department.items()
            ),
            key=lambda row: row.code,
        ),
        by_sector=[
            SectorCount(
                sector=sector,
                violations=per_sector[sector]["violation"],
                warnings=per_sector[sector]["warning"],
                exempted=per_sector[sector]["exempted"],
            )
            for sector in SECTOR.codes
            if sector in per_sector
        ],
        origin_changes=origin_changes(session, actor, today),
    )

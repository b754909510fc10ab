"""Vendors, their engagements on assets, the vendor-origin policy, exemptions and compliance.

The policy (SPEC §1): in a critical sector, a foreign or joint-venture planner, builder or
operator is a violation on a classified asset and a warning on any other; a leader's
approved exemption clears a warning (never a violation) until it expires. `evaluate` is the
one place the rule lives; everything else loads rows and hands them to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal

from babel import Locale
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from assets.models import Asset, Engagement, Vendor, VendorExemption
from secgov import audit, catalog, settings
from secgov.audit import Actor
from secgov.authz import deny_out_of_scope, department_in_scope, get_scoped, in_scope
from secgov.directory import Input, Name
from secgov.errors import Conflict, Forbidden, Invalid, NotFound, check_version
from secgov.models import Department, User

POLICY_SETTING = "vendor_origin_policy"
Origin = Literal["domestic", "foreign", "joint_venture"]
Role = Literal["planner", "builder", "operator", "product_supplier", "advisor", "investor"]
Outcome = Literal["violation", "warning", "exempted"]
ExemptionStatus = Literal["pending", "approved", "rejected"]
# Who decides on exemption requests.
APPROVERS = ("admin", "leader")
EXPIRING_DAYS = 30
MAX_EXEMPTION_YEARS = 3
# Two-letter keys of babel's territory list that are groupings or placeholders, not countries.
NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
VERSION = Field(description="The version you read; a newer one on the server is a conflict.")
# A row id in a body: past the databases' INTEGER columns it names no row (and PostgreSQL would refuse it).
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class BadValue(Invalid, ValueError):
    """Raised inside a validator: pydantic reports it as a value error with this message."""


def today_utc() -> date:
    return datetime.now(UTC).date()


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166 alpha-2 codes, as babel knows them."""
    return (
        frozenset(code for code in Locale("en").territories if len(code) == 2 and code.isalpha() and code.isupper())
        - NOT_COUNTRIES
    )


def country_names(lang: str) -> list[tuple[str, str]]:
    """(code, name) of every country in the reader's language, sorted by name."""
    names = Locale.parse("zh_Hans" if lang == "zh" else "en").territories
    return sorted(((code, names.get(code, code)) for code in country_codes()), key=lambda item: item[1])


def _country(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the str type check reports it
    code = value.strip().upper()
    if not code:
        raise BadValue(_("This field is required."))
    if code not in country_codes():
        raise BadValue(_("Unknown country code: %(code)s", code=value.strip()[:10]))
    return code


# --- schemas ---------------------------------------------------------------------------------


class VendorCreate(Input):
    name: Name
    origin: Origin
    country: str = Field(description="ISO 3166 alpha-2 code, e.g. CN or DE.")
    confidentiality_agreement_on: date | None = Field(
        default=None, description="When the confidentiality agreement was signed (none on file: null)."
    )

    _check_country = field_validator("country", mode="before")(_country)


class VendorUpdate(Input):
    name: Name | None = None
    origin: Origin | None = None
    country: str | None = Field(default=None, description="ISO 3166 alpha-2 code.")
    confidentiality_agreement_on: date | None = None
    version: int = VERSION

    @field_validator("country", mode="before")
    @classmethod
    def _check_country(cls, value):
        return value if value is None else _country(value)


class VendorRead(BaseModel):
    id: int
    name: str
    origin: str
    country: str
    confidentiality_agreement_on: date | None
    version: int


class VendorQuery(BaseModel):
    """Filters and page of the vendor list (web page and API), sorted by name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    q: str = Field(default="", max_length=100, description="Part of the name.")
    origin: Origin | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


class EngagementCreate(Input):
    vendor_id: RowId
    role: Role
    started_on: date
    ended_on: date | None = None
    note: Note = ""


class EngagementUpdate(Input):
    ended_on: date | None = Field(default=None, description="The last day of the engagement; null: ongoing.")
    note: Note | None = None


class EngagementRead(BaseModel):
    id: int
    asset_id: int
    vendor_id: int
    vendor_name: str
    origin: str
    role: str
    started_on: date | None
    ended_on: date | None
    note: str
    active: bool
    policy: Outcome | None = Field(default=None, description="The vendor-origin policy's outcome today, if any.")


class ExemptionCreate(Input):
    engagement_id: RowId
    reason: Reason
    expires_on: date = Field(description="After today and at most three years ahead; the exemption ends that day.")


class ExemptionDecision(Input):
    note: Note = Field(default="", description="Why; required to reject.")


class ExemptionRead(BaseModel):
    id: int
    engagement_id: int
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    vendor_id: int
    vendor_name: str
    origin: str
    role: str
    reason: str
    expires_on: date
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str
    decided_at: datetime | None
    decision_note: str
    expired: bool


class ExemptionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ExemptionStatus | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


class FindingRead(BaseModel):
    outcome: Outcome
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    sector: str
    classified: bool
    engagement_id: int
    vendor_id: int
    vendor_name: str
    origin: str
    country: str
    role: str
    started_on: date | None
    ended_on: date | None
    exemption_id: int | None = None
    exemption_expires_on: date | None = None


class DepartmentCount(BaseModel):
    code: str
    name: str
    name_en: str
    violations: int = 0
    warnings: int = 0
    exempted: int = 0


class SectorCount(BaseModel):
    sector: str
    violations: int = 0
    warnings: int = 0
    exempted: int = 0


class PolicyRead(BaseModel):
    enabled: bool
    critical_sectors: list[str]
    restricted_roles: list[str]
    restricted_origins: list[str]


class ComplianceRead(BaseModel):
    """The vendor-origin compliance of the caller's scope on one day."""

    today: date
    policy: PolicyRead
    violations: list[FindingRead]
    warnings: list[FindingRead]
    exempted: list[FindingRead]
    pending_exemptions: list[ExemptionRead]
    expiring_exemptions: list[ExemptionRead] = Field(
        description=f"Approved exemptions that end within {EXPIRING_DAYS} days."
    )
    by_department: list[DepartmentCount]
    by_sector: list[SectorCount]


# --- the policy ------------------------------------------------------------------------------


def get_policy(session: Session) -> dict:
    """The vendor-origin policy as configured (secgov.settings validates it)."""
    return settings.get_setting(session, POLICY_SETTING)


@dataclass(frozen=True)
class Finding:
    """One engagement the policy flags, and the exemption that clears it (outcome "exempted")."""

    engagement: Engagement
    vendor: Vendor
    outcome: Outcome
    exemption: VendorExemption | None = None


def is_active(engagement: Engagement, today: date) -> bool:
    """Whether the engagement runs on today (its start and end days included)."""
    started = engagement.started_on is None or engagement.started_on <= today
    return started and (engagement.ended_on is None or engagement.ended_on >= today)


def runs_on(today: date):
    """is_active as a WHERE clause: the engagements running on today."""
    return and_(
        or_(Engagement.started_on.is_(None), Engagement.started_on <= today),
        or_(Engagement.ended_on.is_(None), Engagement.ended_on >= today),
    )


def exemption_valid(exemption: VendorExemption, today: date) -> bool:
    """Approved and not yet expired: an exemption ends on its expires_on day."""
    return exemption.status == "approved" and exemption.expires_on > today


def evaluate(
    asset: Asset,
    engagements_with_vendors: Iterable[tuple[Engagement, Vendor]],
    approved_exemptions: Iterable[VendorExemption],
    policy: Mapping[str, Any],
    today: date,
) -> list[Finding]:
    """The policy's findings on one asset's engagements on a given day. Pure: no database."""
    if not policy.get("enabled") or asset.sector not in policy.get("critical_sectors", ()):
        return []
    # Advisers, investors and product suppliers never trigger, whatever the setting says.
    roles = set(policy.get("restricted_roles", ())) & set(catalog.restricted_roles())
    origins = set(policy.get("restricted_origins", ()))
    clearing: dict[int, VendorExemption] = {}
    for exemption in approved_exemptions:
        if exemption_valid(exemption, today):
            known = clearing.get(exemption.engagement_id)
            if known is None or exemption.expires_on > known.expires_on:
                clearing[exemption.engagement_id] = exemption
    findings = []
    for engagement, vendor in engagements_with_vendors:
        if engagement.role not in roles or vendor.origin not in origins or not is_active(engagement, today):
            continue
        if asset.classified:
            findings.append(Finding(engagement, vendor, "violation"))
        elif engagement.id in clearing:
            findings.append(Finding(engagement, vendor, "exempted", clearing[engagement.id]))
        else:
            findings.append(Finding(engagement, vendor, "warning"))
    return findings


# --- vendors ---------------------------------------------------------------------------------


def vendor_read(vendor: Vendor) -> VendorRead:
    return VendorRead.model_validate(vendor, from_attributes=True)


def list_vendors(session: Session, query: VendorQuery) -> tuple[list[Vendor], int]:
    """One page of vendors (city-wide: everyone reads them), sorted by name."""
    where = []
    if query.q:
        where.append(func.lower(Vendor.name).like(f"%{query.q.lower()}%"))
    if query.origin:
        where.append(Vendor.origin == query.origin)
    total = session.exec(select(func.count()).select_from(Vendor).where(*where)).one()
    rows = session.exec(
        select(Vendor)
        .where(*where)
        .order_by(Vendor.name, Vendor.id)
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return list(rows), total


def all_vendors(session: Session) -> list[Vendor]:
    return list(session.exec(select(Vendor).order_by(Vendor.name)).all())


def get_vendor(session: Session, vendor_id: int) -> Vendor:
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise NotFound(_("Not found."))
    return vendor


def _vendor_named(session: Session, name: str) -> Vendor | None:
    return session.exec(select(Vendor).where(func.lower(Vendor.name) == name.lower())).first()


def _snapshot_vendor(vendor: Vendor) -> dict:
    return {
        "name": vendor.name,
        "origin": vendor.origin,
        "country": vendor.country,
        "confidentiality_agreement_on": vendor.confidentiality_agreement_on,
    }


def create_vendor(session: Session, data: VendorCreate, actor: Actor) -> Vendor:
    """Register a vendor; names are unique regardless of case."""
    if _vendor_named(session, data.name):
        raise Conflict(_("A vendor named %(name)s already exists.", name=data.name), field="name")
    vendor = Vendor.model_validate(data.model_dump())
    session.add(vendor)
    session.flush()
    audit.record(
        session, actor, "vendor.created", object_type="vendor", object_id=vendor.id, after=_snapshot_vendor(vendor)
    )
    return vendor


def update_vendor(session: Session, vendor: Vendor, data: VendorUpdate, actor: Actor) -> Vendor:
    """Edit a vendor (send the version you read)."""
    check_version(vendor, data.version)
    before = _snapshot_vendor(vendor)
    if data.name is not None and data.name.lower() != vendor.name.lower():
        if _vendor_named(session, data.name):
            raise Conflict(_("A vendor named %(name)s already exists.", name=data.name), field="name")
    for name in data.model_fields_set - {"version"}:
        value = getattr(data, name)
        if value is not None or name == "confidentiality_agreement_on":
            setattr(vendor, name, value)
    vendor.version += 1
    session.add(vendor)
    session.flush()
    after = _snapshot_vendor(vendor)
    changed = [key for key in after if after[key] != before[key]]
    audit.record(
        session, actor, "vendor.updated", object_type="vendor", object_id=vendor.id,
        before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
    )  # fmt: skip
    return vendor


def delete_vendor(session: Session, vendor: Vendor, actor: Actor) -> None:
    """Remove a vendor that has no engagement left, on any asset."""
    engaged = session.exec(select(func.count()).select_from(Engagement).where(Engagement.vendor_id == vendor.id)).one()
    if engaged:
        raise Conflict(_("This vendor still has engagements: end and remove its engagements first."))
    audit.record(
        session, actor, "vendor.deleted", object_type="vendor", object_id=vendor.id, before=_snapshot_vendor(vendor)
    )
    session.delete(vendor)
    session.flush()


def vendor_engagements(session: Session, vendor: Vendor, viewer: User, today: date | None = None) -> list[dict]:
    """The vendor's engagements on assets in the viewer's scope, with the policy's outcome today."""
    today = today or today_utc()
    rows = session.exec(
        select(Engagement, Asset)
        .join(Asset, Asset.id == Engagement.asset_id)
        .where(Engagement.vendor_id == vendor.id, in_scope(Asset.department_id, viewer))
        .order_by(Asset.code, Engagement.role, Engagement.id)
    ).all()
    exemptions = _approved_for(session, [engagement.id for engagement, _asset in rows])
    policy = get_policy(session)
    result = []
    for engagement, asset in rows:
        findings = evaluate(asset, [(engagement, vendor)], exemptions.get(engagement.id, []), policy, today)
        result.append(
            {
                "asset": asset,
                "engagement": engagement_read(engagement, vendor, today, findings[0].outcome if findings else None),
            }
        )
    return result


# --- engagements -----------------------------------------------------------------------------


def engagement_read(engagement: Engagement, vendor: Vendor, today: date, outcome: str | None = None) -> EngagementRead:
    return EngagementRead(
        id=engagement.id,
        asset_id=engagement.asset_id,
        vendor_id=vendor.id,
        vendor_name=vendor.name,
        origin=vendor.origin,
        role=engagement.role,
        started_on=engagement.started_on,
        ended_on=engagement.ended_on,
        note=engagement.note,
        active=is_active(engagement, today),
        policy=outcome,
    )


def _approved_for(session: Session, engagement_ids: list[int]) -> dict[int, list[VendorExemption]]:
    if not engagement_ids:
        return {}
    rows = session.exec(
        select(VendorExemption).where(
            VendorExemption.engagement_id.in_(engagement_ids), VendorExemption.status == "approved"
        )
    ).all()
    result: dict[int, list[VendorExemption]] = {}
    for row in rows:
        result.setdefault(row.engagement_id, []).append(row)
    return result


def asset_engagements(
    session: Session, asset: Asset, today: date | None = None
) -> tuple[list[EngagementRead], list[Finding]]:
    """An asset's engagements (ongoing first) with the policy's findings on them today."""
    today = today or today_utc()
    rows = session.exec(
        select(Engagement, Vendor)
        .join(Vendor, Vendor.id == Engagement.vendor_id)
        .where(Engagement.asset_id == asset.id)
        .order_by(Engagement.started_on.desc(), Engagement.id)
    ).all()
    exemptions = _approved_for(session, [engagement.id for engagement, _vendor in rows])
    findings = evaluate(asset, rows, [x for xs in exemptions.values() for x in xs], get_policy(session), today)
    outcomes = {finding.engagement.id: finding.outcome for finding in findings}
    reads = [engagement_read(e, v, today, outcomes.get(e.id)) for e, v in rows]
    reads.sort(key=lambda read: not read.active)
    return reads, findings


def engagement_panel(session: Session, asset: Asset, today: date | None = None) -> dict:
    """The arguments of the `engagements_panel` macro (templates/vendors/_engagements.html)."""
    engagements, findings = asset_engagements(session, asset, today)
    return {
        "engagements": engagements,
        "vendors": all_vendors(session),
        "findings": {finding.engagement.id: finding for finding in findings},
    }


def get_engagement(session: Session, asset_id: int, engagement_id: int, viewer: User) -> tuple[Asset, Engagement]:
    """An engagement of an asset in the viewer's scope (missing or out of scope: 404)."""
    asset = get_scoped(session, Asset, asset_id, viewer)
    engagement = session.get(Engagement, engagement_id)
    if engagement is None or engagement.asset_id != asset.id:
        raise NotFound(_("Not found."))
    return asset, engagement


def _snapshot_engagement(engagement: Engagement, vendor: Vendor) -> dict:
    return {
        "asset_id": engagement.asset_id,
        "vendor_id": vendor.id,
        "vendor": vendor.name,
        "role": engagement.role,
        "started_on": engagement.started_on,
        "ended_on": engagement.ended_on,
        "note": engagement.note,
    }


def _check_dates(started_on: date | None, ended_on: date | None) -> None:
    if started_on and ended_on and ended_on < started_on:
        raise Invalid(_("The end date cannot be before the start date."), field="ended_on")


def _check_duplicate(session: Session, engagement: Engagement, today: date) -> None:
    """The same vendor in the same role twice at once on one asset is refused."""
    if engagement.ended_on is not None and engagement.ended_on < today:
        return
    clash = session.exec(
        select(Engagement.id).where(
            Engagement.asset_id == engagement.asset_id,
            Engagement.vendor_id == engagement.vendor_id,
            Engagement.role == engagement.role,
            or_(Engagement.ended_on.is_(None), Engagement.ended_on >= today),
            *([Engagement.id != engagement.id] if engagement.id else []),
        )
    ).first()
    if clash is not None:
        raise Conflict(_("This vendor already holds this role on this asset."), field="role")


def add_engagement(session: Session, asset: Asset, data: EngagementCreate, actor: Actor) -> Engagement:
    """Record a vendor's role on an asset."""
    vendor = session.get(Vendor, data.vendor_id)
    if vendor is None:
        raise Invalid(_("Unknown vendor."), field="vendor_id")
    _check_dates(data.started_on, data.ended_on)
    engagement = Engagement(asset_id=asset.id, **data.model_dump())
    _check_duplicate(session, engagement, today_utc())
    session.add(engagement)
    session.flush()
    audit.record(
        session, actor, "engagement.created", object_type="engagement", object_id=engagement.id,
        department_id=asset.department_id, asset=asset.code, after=_snapshot_engagement(engagement, vendor),
    )  # fmt: skip
    return engagement


def update_engagement(
    session: Session, asset: Asset, engagement: Engagement, data: EngagementUpdate, actor: Actor
) -> Engagement:
    """End an engagement (or correct its end date) and edit its note."""
    vendor = session.get(Vendor, engagement.vendor_id)
    before = _snapshot_engagement(engagement, vendor)
    if "ended_on" in data.model_fields_set:
        _check_dates(engagement.started_on, data.ended_on)
        engagement.ended_on = data.ended_on
        _check_duplicate(session, engagement, today_utc())
    if data.note is not None:
        engagement.note = data.note
    session.add(engagement)
    session.flush()
    after = _snapshot_engagement(engagement, vendor)
    changed = [key for key in after if after[key] != before[key]]
    audit.record(
        session, actor, "engagement.updated", object_type="engagement", object_id=engagement.id,
        department_id=asset.department_id, asset=asset.code,
        before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
    )  # fmt: skip
    return engagement


def end_engagement(
    session: Session, asset: Asset, engagement: Engagement, actor: Actor, ended_on: date | None = None
) -> Engagement:
    """End an ongoing engagement on ended_on (default: today)."""
    today = today_utc()
    if engagement.ended_on is not None and engagement.ended_on <= today:
        raise Conflict(_("This engagement has already ended."))
    return update_engagement(session, asset, engagement, EngagementUpdate(ended_on=ended_on or today), actor)


def remove_engagement(session: Session, asset: Asset, engagement: Engagement, actor: Actor) -> None:
    """Delete an engagement recorded by mistake, with its exemptions (all audited)."""
    vendor = session.get(Vendor, engagement.vendor_id)
    exemptions = session.exec(select(VendorExemption).where(VendorExemption.engagement_id == engagement.id)).all()
    audit.record(
        session, actor, "engagement.deleted", object_type="engagement", object_id=engagement.id,
        department_id=asset.department_id, asset=asset.code,
        before={**_snapshot_engagement(engagement, vendor), "exemptions": [_snapshot_exemption(x) for x in exemptions]},
    )  # fmt: skip
    for exemption in exemptions:
        session.delete(exemption)
    session.flush()  # no ORM relationship orders these deletes: exemptions first
    session.delete(engagement)
    session.flush()


# --- exemptions ------------------------------------------------------------------------------


def _snapshot_exemption(exemption: VendorExemption) -> dict:
    return {
        "engagement_id": exemption.engagement_id,
        "reason": exemption.reason,
        "expires_on": exemption.expires_on,
        "status": exemption.status,
        "requested_by": exemption.requested_by,
        "decided_by": exemption.decided_by,
        "decision_note": exemption.decision_note,
    }


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


def _exemption_rows(viewer: User, *where):
    return (
        select(VendorExemption, Engagement, Asset, Vendor, Department.code)
        .join(Engagement, Engagement.id == VendorExemption.engagement_id)
        .join(Asset, Asset.id == Engagement.asset_id)
        .join(Vendor, Vendor.id == Engagement.vendor_id)
        .join(Department, Department.id == Asset.department_id)
        .where(in_scope(Asset.department_id, viewer), *where)
    )


def list_exemptions(
    session: Session, viewer: User, query: ExemptionQuery, today: date | None = None
) -> tuple[list[ExemptionRead], int]:
    """Exemptions on assets in the viewer's scope, newest request first."""
    today = today or today_utc()
    where = [VendorExemption.status == query.status] if query.status else []
    base = _exemption_rows(viewer, *where)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(
        base.order_by(VendorExemption.requested_at.desc(), VendorExemption.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return [exemption_read(x, e, a, v, code, today) for x, e, a, v, code in rows], total


def get_exemption(session: Session, exemption_id: int, viewer: User) -> VendorExemption:
    """An exemption on an asset in the viewer's scope (missing or out of scope: 404, audited)."""
    exemption = session.get(VendorExemption, exemption_id)
    if exemption is None:
        raise NotFound(_("Not found."))
    department = session.exec(
        select(Department)
        .join(Asset, Asset.department_id == Department.id)
        .join(Engagement, Engagement.asset_id == Asset.id)
        .where(Engagement.id == exemption.engagement_id)
    ).one()
    if not department_in_scope(department, viewer):
        deny_out_of_scope(viewer, "vendor_exemption", exemption_id)
    return exemption


def read_exemption(session: Session, exemption: VendorExemption, today: date | None = None) -> ExemptionRead:
    engagement = session.get(Engagement, exemption.engagement_id)
    asset = session.get(Asset, engagement.asset_id)
    vendor = session.get(Vendor, engagement.vendor_id)
    department = session.get(Department, asset.department_id)
    return exemption_read(exemption, engagement, asset, vendor, department.code, today or today_utc())


def request_exemption(session: Session, data: ExemptionCreate, actor: Actor, viewer: User) -> VendorExemption:
    """Ask a leader to exempt an engagement that the policy warns about (pending until decided)."""
    today = today_utc()
    engagement = session.get(Engagement, data.engagement_id)
    asset = session.get(Asset, engagement.asset_id) if engagement else None
    department = session.get(Department, asset.department_id) if asset else None
    if department is None or not department_in_scope(department, viewer):
        raise Invalid(_("Unknown engagement."), field="engagement_id")
    if data.expires_on <= today:
        raise Invalid(_("The expiry date must be after today."), field="expires_on")
    if data.expires_on > years_later(today, MAX_EXEMPTION_YEARS):
        raise Invalid(_("An exemption can last at most three years."), field="expires_on")
    vendor = session.get(Vendor, engagement.vendor_id)
    findings = evaluate(asset, [(engagement, vendor)], [], get_policy(session), today)
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
        department_id=asset.department_id, asset=asset.code, after=_snapshot_exemption(exemption),
    )  # fmt: skip
    return exemption


def decide_exemption(
    session: Session, exemption: VendorExemption, approve: bool, data: ExemptionDecision, actor: Actor
) -> VendorExemption:
    """Approve or reject a pending request; never one's own, and a rejection says why."""
    from secgov.auth import audit_denial

    if exemption.requested_by == actor.username:
        audit_denial(
            actor, "authz.denied", object_type="vendor_exemption", object_id=exemption.id, reason="own_request"
        )
        raise Forbidden(_("You cannot decide on your own request."))
    if exemption.status != "pending":
        raise Conflict(_("This request has already been decided."))
    if not approve and not data.note:
        raise Invalid(_("Say why the request is rejected."), field="note")
    today = today_utc()
    if approve and exemption.expires_on <= today:
        raise Invalid(_("This request has expired: ask for a new one."), field="expires_on")
    engagement = session.get(Engagement, exemption.engagement_id)
    asset = session.get(Asset, engagement.asset_id)
    before = _snapshot_exemption(exemption)
    exemption.status = "approved" if approve else "rejected"
    exemption.decided_by = actor.username
    exemption.decided_at = datetime.now(UTC)
    exemption.decision_note = data.note
    session.add(exemption)
    session.flush()
    audit.record(
        session, actor, f"vendor_exemption.{exemption.status}", object_type="vendor_exemption",
        object_id=exemption.id, department_id=asset.department_id, asset=asset.code,
        before=before, after=_snapshot_exemption(exemption),
    )  # fmt: skip
    return exemption


def exemption_candidates(session: Session, viewer: User, today: date | None = None) -> list[FindingRead]:
    """Warnings and exempted findings in scope: what an exemption may be requested for."""
    report = compliance(session, viewer, today)
    return report.warnings + report.exempted


# --- compliance ------------------------------------------------------------------------------


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


def compliance(session: Session, viewer: User, today: date | None = None) -> ComplianceRead:
    """Violations, warnings, exemptions and counts in the viewer's scope, in four queries."""
    today = today or today_utc()
    policy = get_policy(session)
    rows = []
    if policy["enabled"]:
        rows = session.exec(
            select(Asset, Engagement, Vendor)
            .join(Engagement, Engagement.asset_id == Asset.id)
            .join(Vendor, Vendor.id == Engagement.vendor_id)
            .where(
                in_scope(Asset.department_id, viewer),
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
            viewer,
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
            for sector in catalog.sector_codes()
            if sector in per_sector
        ],
    )

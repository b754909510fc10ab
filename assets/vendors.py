"""Vendors and their engagements on assets: registering, editing and removing them, and when an
engagement runs. What the vendor-origin policy makes of them is `assets.policy`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from assets.models import Asset, Engagement, Vendor, VendorExemption
from assets.schemas import (
    EngagementCreate,
    EngagementRead,
    EngagementUpdate,
    VendorCreate,
    VendorQuery,
    VendorRead,
    VendorUpdate,
)
from secgov import audit, exchange
from secgov.authz import Actor, scoped_row
from secgov.db import chunks
from secgov.errors import Conflict, Invalid, NotFound, ServiceError, check_version
from secgov.models import Department


def today_utc() -> date:
    return datetime.now(UTC).date()


# --- vendors -------------------------------------------------------------------------------------


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


def export_records(session: Session, _actor: Actor, query: VendorQuery) -> Iterator[VendorRead]:
    """Every vendor matching the query (vendors are city-wide), a page at a time."""
    for vendors in exchange.pages(lambda q: list_vendors(session, q), query):
        for vendor in vendors:
            yield vendor_read(vendor)
            session.expunge(vendor)


def all_vendors(session: Session) -> list[Vendor]:
    return list(session.exec(select(Vendor).order_by(Vendor.name)).all())


def get_vendor(session: Session, vendor_id: int) -> Vendor:
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise NotFound(_("Not found."))
    return vendor


def _snapshot_vendor(vendor: Vendor) -> dict:
    return {
        "name": vendor.name,
        "origin": vendor.origin,
        "country": vendor.country,
        "confidentiality_agreement_on": vendor.confidentiality_agreement_on,
    }


def _name_taken(name: str) -> Conflict:
    return Conflict(_("A vendor named %(name)s already exists.", name=name), field="name")


def _names_taken(session: Session, names: Sequence[str]) -> set[str]:
    """Which of these names (lower case) a vendor already has, compared without case."""
    taken: set[str] = set()
    for chunk in chunks(sorted({name.lower() for name in names})):
        query = select(Vendor.name).where(func.lower(Vendor.name).in_(chunk))
        taken.update(name.lower() for name in session.exec(query))
    return taken


def check_vendors(session: Session, items: Sequence[VendorCreate]) -> dict[int, list[ServiceError]]:
    """What the rules refuse in each vendor of a batch: names already used (without case), in the
    register or earlier in the batch. One query per 500 names."""
    taken = _names_taken(session, [data.name for data in items])
    problems: dict[int, list[ServiceError]] = {}
    seen: set[str] = set()
    for index, data in enumerate(items):
        if data.name.lower() in taken or data.name.lower() in seen:
            problems[index] = [_name_taken(data.name)]
        seen.add(data.name.lower())
    return problems


def create_vendor(session: Session, data: VendorCreate, actor: Actor) -> Vendor:
    """Register a vendor; names are unique regardless of case."""
    return create_vendors(session, [data], actor)[0]


def create_vendors(session: Session, items: Sequence[VendorCreate], actor: Actor) -> list[Vendor]:
    """Register vendors (all or none: the first problem `check_vendors` finds is raised)."""
    problems = check_vendors(session, items)
    if problems:
        raise problems[min(problems)][0]
    vendors = [Vendor.model_validate(data.model_dump()) for data in items]
    session.add_all(vendors)
    session.flush()
    audit.record_many(
        session,
        actor,
        [
            audit.Event("vendor.created", object_type="vendor", object_id=vendor.id, after=_snapshot_vendor(vendor))
            for vendor in vendors
        ],
    )
    return vendors


def update_vendor(session: Session, vendor: Vendor, data: VendorUpdate, actor: Actor) -> Vendor:
    """Edit a vendor (send the version you read)."""
    check_version(vendor, data.version)
    before = _snapshot_vendor(vendor)
    if data.name is not None and data.name.lower() != vendor.name.lower():
        if _names_taken(session, [data.name]):
            raise _name_taken(data.name)
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


def delete_vendor(session: Session, vendor: Vendor, actor: Actor, reason: str = "") -> None:
    """Remove a vendor that has no engagement left, on any asset."""
    engaged = session.exec(select(func.count()).select_from(Engagement).where(Engagement.vendor_id == vendor.id)).one()
    if engaged:
        raise Conflict(_("This vendor still has engagements: end and remove its engagements first."))
    extra = {"reason": reason} if reason else {}
    audit.record(
        session,
        actor,
        "vendor.deleted",
        object_type="vendor",
        object_id=vendor.id,
        before=_snapshot_vendor(vendor),
        **extra,
    )
    session.delete(vendor)
    session.flush()


def remove_imported(session: Session, vendor_ids: list[int], actor: Actor) -> None:
    """Undo an import that could not be completed: remove the vendors it wrote (each audited)."""
    for chunk in chunks(vendor_ids):
        for vendor in session.exec(select(Vendor).where(Vendor.id.in_(chunk))).all():
            delete_vendor(session, vendor, actor, reason="import undone")


# --- engagements ---------------------------------------------------------------------------------


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


def get_engagement(session: Session, asset_id: int, engagement_id: int, actor: Actor) -> tuple[Asset, Engagement]:
    """An engagement of an asset in the actor's scope (missing or out of scope: 404).

    One look-up finds the asset, its department's path and the engagement, so that a missing
    engagement of an asset in scope and any engagement of an asset out of it cost the same."""
    statement = (
        select(Asset.id, Department.path, Engagement.id)
        .outerjoin(Department, Department.id == Asset.department_id)
        .outerjoin(Engagement, and_(Engagement.asset_id == Asset.id, Engagement.id == engagement_id))
        .where(Asset.id == asset_id)
    )
    found = scoped_row(session, statement, actor, "asset", asset_id)
    if found[2] is None:
        raise NotFound(_("Not found."))
    asset, engagement = session.get(Asset, asset_id), session.get(Engagement, engagement_id)
    if asset is None or engagement is None:  # removed since the look-up
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
    snapshots = [exemption_snapshot(x) for x in exemptions]
    audit.record(
        session, actor, "engagement.deleted", object_type="engagement", object_id=engagement.id,
        department_id=asset.department_id, asset=asset.code,
        before={**_snapshot_engagement(engagement, vendor), "exemptions": snapshots},
    )  # fmt: skip
    for exemption in exemptions:
        session.delete(exemption)
    session.flush()  # no ORM relationship orders these deletes: exemptions first
    session.delete(engagement)
    session.flush()


def exemption_snapshot(exemption: VendorExemption) -> dict:
    """An exemption as the audit log keeps it (here: its engagement's removal takes it along)."""
    return {
        "engagement_id": exemption.engagement_id,
        "reason": exemption.reason,
        "expires_on": exemption.expires_on,
        "status": exemption.status,
        "requested_by": exemption.requested_by,
        "decided_by": exemption.decided_by,
        "decision_note": exemption.decision_note,
    }

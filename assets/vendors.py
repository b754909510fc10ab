"""Vendors and their engagements on assets: registering, editing and removing them. A vendor is
read and engaged city-wide, and belongs to the department that registered it. When an engagement
runs and what the vendor-origin policy makes of it is `assets.rule`; compliance is `assets.policy`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from assets.models import Asset, Engagement, Vendor, VendorExemption
from assets.rule import approved_exemptions, evaluate, get_policy, is_active, runs_on, today_utc
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
from secgov.authz import Actor, department_in_scope, scoped_row
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.directory import department_by_code, department_label
from secgov.errors import Conflict, Forbidden, Invalid, NotFound, Refusal, ServiceError, check_version
from secgov.models import Department

# --- vendors -------------------------------------------------------------------------------------


def vendor_read(vendor: Vendor, department: str) -> VendorRead:
    """A vendor as the API shows it; `department` is the code of the department it belongs to."""
    return VendorRead.model_validate({**vendor.model_dump(), "department": department})


def read_vendor(session: Session, vendor: Vendor) -> VendorRead:
    """A vendor as the API shows it, with its department's code."""
    return vendor_read(vendor, owner(session, vendor).code)


def list_vendors(session: Session, query: VendorQuery) -> tuple[list[VendorRead], int]:
    """One page of vendors (city-wide: everyone reads them), sorted by name."""
    where = []
    if query.q:
        where.append(func.lower(Vendor.name).like(f"%{query.q.lower()}%"))
    if query.origin:
        where.append(Vendor.origin == query.origin)
    total = session.exec(select(func.count()).select_from(Vendor).where(*where)).one()
    rows = session.exec(
        select(Vendor, Department.code)
        .join(Department, Department.id == Vendor.department_id)
        .where(*where)
        .order_by(Vendor.name, Vendor.id)
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    reads = [vendor_read(vendor, code) for vendor, code in rows]
    for vendor, _code in rows:
        session.expunge(vendor)  # an export pages through every vendor: keep the session small
    return reads, total


def export_records(session: Session, _actor: Actor, query: VendorQuery) -> Iterator[VendorRead]:
    """Every vendor matching the query (vendors are city-wide), a page at a time."""
    for reads in exchange.pages(lambda q: list_vendors(session, q), query):
        yield from reads


def all_vendors(session: Session) -> list[Vendor]:
    return list(session.exec(select(Vendor).order_by(Vendor.name)).all())


def get_vendor(session: Session, vendor_id: int) -> Vendor:
    """A vendor by id: every department reads every vendor."""
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise NotFound(_("Not found."))
    return vendor


def owner(session: Session, vendor: Vendor) -> Department:
    """The department a vendor belongs to."""
    return session.get(Department, vendor.department_id)


def may_change_owned_by(department: Department, actor: Actor) -> bool:
    """Whether the actor may change a shared record of `department`: those whose scope holds that
    department, that is its own people, its bureau's, and the city's root department. Every other
    department reads and engages the record, and no more (a vendor of the city is the city's
    alone)."""
    return department_in_scope(department, actor)


def may_change(session: Session, vendor: Vendor, actor: Actor) -> bool:
    """Whether the actor may change or remove the vendor (the routes add the writer roles)."""
    return may_change_owned_by(owner(session, vendor), actor)


def _check_owner(session: Session, vendor: Vendor, actor: Actor) -> None:
    department = owner(session, vendor)
    if not may_change_owned_by(department, actor):
        refusal = Refusal(actor, "vendor.denied", "vendor", vendor.id, {"owner": department.code, "name": vendor.name})
        raise Forbidden(
            _(
                "This vendor belongs to %(department)s: only that department and the city's administration may change it.",
                department=department_label(department),
            ),
            refusal=refusal,
        )


def _snapshot_vendor(vendor: Vendor, department: str | None = None) -> dict:
    snapshot = {
        "name": vendor.name,
        "origin": vendor.origin,
        "country": vendor.country,
        "confidentiality_agreement_on": vendor.confidentiality_agreement_on,
    }
    if department is not None:
        snapshot["department"] = department
    return snapshot


def _name_taken(name: str) -> Conflict:
    return Conflict(_("A vendor named %(name)s already exists.", name=name), field="name")


def _names_taken(session: Session, names: Sequence[str]) -> set[str]:
    """Which of these names (lower case) a vendor already has, compared without case."""
    taken: set[str] = set()
    for chunk in chunks(sorted({name.lower() for name in names})):
        query = select(Vendor.name).where(func.lower(Vendor.name).in_(chunk))
        taken.update(name.lower() for name in session.exec(query))
    return taken


def _departments(session: Session, items: Sequence[VendorCreate], actor: Actor) -> dict[str, Department | None]:
    """The departments the items name, by code; None for a code unknown or outside the scope."""
    codes = sorted({data.department for data in items if data.department})
    found: dict[str, Department | None] = dict.fromkeys(codes)
    for chunk in chunks(codes):
        for department in session.exec(select(Department).where(Department.code.in_(chunk))).all():
            found[department.code] = department if department_in_scope(department, actor) else None
    return found


def check_vendors(session: Session, items: Sequence[VendorCreate], actor: Actor) -> dict[int, list[ServiceError]]:
    """What the rules refuse in each vendor of a batch: names already used (without case), in the
    register or earlier in the batch; a department unknown or outside the actor's scope. One
    query per 500 names and per 500 departments."""
    taken = _names_taken(session, [data.name for data in items])
    departments = _departments(session, items, actor)
    problems: dict[int, list[ServiceError]] = {}
    seen: set[str] = set()
    for index, data in enumerate(items):
        if data.name.lower() in taken or data.name.lower() in seen:
            problems.setdefault(index, []).append(_name_taken(data.name))
        if data.department and departments[data.department] is None:
            message = _("Unknown department: %(code)s", code=data.department)
            problems.setdefault(index, []).append(Invalid(message, field="department"))
        seen.add(data.name.lower())
    return problems


def _home(session: Session, actor: Actor) -> Department:
    """Where a vendor registered without a department goes: the actor's own department (the city
    for the system itself)."""
    if actor.department_id is not None:
        return session.get(Department, actor.department_id)
    return session.exec(select(Department).where(Department.parent_id.is_(None))).one()


def create_vendor(session: Session, data: VendorCreate, actor: Actor) -> Vendor:
    """Register a vendor; names are unique regardless of case."""
    return create_vendors(session, [data], actor)[0]


def create_vendors(session: Session, items: Sequence[VendorCreate], actor: Actor) -> list[Vendor]:
    """Register vendors (all or none: the first problem `check_vendors` finds is raised). Each
    belongs to the department it names (in the actor's scope), else to the actor's own."""
    problems = check_vendors(session, items, actor)
    if problems:
        raise problems[min(problems)][0]
    departments = _departments(session, items, actor)
    home = _home(session, actor) if any(not data.department for data in items) else None
    vendors = []
    for data in items:
        department = departments[data.department] if data.department else home
        vendors.append(
            Vendor.model_validate({**data.model_dump(exclude={"department"}), "department_id": department.id})
        )
    session.add_all(vendors)
    session.flush()
    codes = {department.id: department.code for department in [*filter(None, departments.values()), home] if department}
    audit.record_many(
        session,
        actor,
        [
            audit.Event(
                "vendor.created",
                object_type="vendor",
                object_id=vendor.id,
                department_id=vendor.department_id,
                after=_snapshot_vendor(vendor, codes[vendor.department_id]),
            )
            for vendor in vendors
        ],
    )
    return vendors


def update_vendor(session: Session, vendor: Vendor, data: VendorUpdate, actor: Actor, config: ServiceConfig) -> Vendor:
    """Edit a vendor (send the version you read); only its department's subtree and the city may.
    A change of origin or country is also recorded for every department whose vendor-origin
    findings it changes (`vendor.origin_changed`), so that each sees it in its audit log and on its
    compliance page."""
    _check_owner(session, vendor, actor)
    check_version(vendor, data.version)
    home = owner(session, vendor)
    before = _snapshot_vendor(vendor, home.code)
    moves_origin = (data.origin or vendor.origin, data.country or vendor.country) != (vendor.origin, vendor.country)
    impact_before = _findings_by_department(session, vendor, config) if moves_origin else {}
    if data.name is not None and data.name.lower() != vendor.name.lower():
        if _names_taken(session, [data.name]):
            raise _name_taken(data.name)
    if data.department is not None and data.department != home.code:
        home = department_by_code(session, data.department, actor)
        vendor.department_id = home.id
    for name in data.model_fields_set - {"version", "department"}:
        value = getattr(data, name)
        if value is not None or name == "confidentiality_agreement_on":
            setattr(vendor, name, value)
    vendor.version += 1
    session.add(vendor)
    session.flush()
    after = _snapshot_vendor(vendor, home.code)
    changed = [key for key in after if after[key] != before[key]]
    events = _origin_events(session, vendor, before, after, impact_before, config) if moves_origin else []
    audit.record_many(
        session,
        actor,
        [
            audit.Event(
                "vendor.updated",
                object_type="vendor",
                object_id=vendor.id,
                department_id=vendor.department_id,
                before={k: before[k] for k in changed},
                after={k: after[k] for k in changed},
                extra={"departments_affected": len(events)} if events else {},
            ),
            *events,
        ],
    )
    return vendor


def _findings_by_department(session: Session, vendor: Vendor, config: ServiceConfig) -> dict[int, Counter]:
    """The vendor-origin findings on the vendor's running engagements, counted per department
    and outcome, city-wide (whoever changes the vendor, every department's findings count)."""
    today = today_utc()
    rows = session.exec(
        select(Asset, Engagement)
        .join(Engagement, Engagement.asset_id == Asset.id)
        .where(Engagement.vendor_id == vendor.id, runs_on(today))
    ).all()
    if not rows:
        return {}
    policy = get_policy(session, config)
    exemptions = approved_exemptions(session, [engagement.id for _asset, engagement in rows])
    counts: dict[int, Counter] = {}
    for asset, engagement in rows:
        findings = evaluate(asset, [(engagement, vendor)], exemptions.get(engagement.id, []), policy, today)
        department = counts.setdefault(asset.department_id, Counter())
        for finding in findings:
            department[finding.outcome] += 1
    return counts


def _origin_events(
    session: Session,
    vendor: Vendor,
    before: dict,
    after: dict,
    impact_before: dict[int, Counter],
    config: ServiceConfig,
) -> list[audit.Event]:
    """One `vendor.origin_changed` event per department whose findings the change moved."""
    impact_after = _findings_by_department(session, vendor, config)
    moved = sorted(d for d in set(impact_before) | set(impact_after) if impact_before.get(d) != impact_after.get(d))
    events = []
    for department_id in moved:
        events.append(
            audit.Event(
                "vendor.origin_changed",
                object_type="vendor",
                object_id=vendor.id,
                department_id=department_id,
                before={"origin": before["origin"], "country": before["country"]},
                after={"origin": after["origin"], "country": after["country"]},
                extra={
                    "vendor": vendor.name,
                    "findings_before": dict(impact_before.get(department_id, {})),
                    "findings_after": dict(impact_after.get(department_id, {})),
                },
            )
        )
    return events


def delete_vendor(session: Session, vendor: Vendor, actor: Actor, reason: str = "") -> None:
    """Remove a vendor that has no engagement left, on any asset (its department's subtree and the
    city only)."""
    _check_owner(session, vendor, actor)
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
        department_id=vendor.department_id,
        before=_snapshot_vendor(vendor, owner(session, vendor).code),
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

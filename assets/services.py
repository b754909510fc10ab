"""Assets: the rules for listing, checking, registering, editing, grading and removing them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import and_, func, not_, or_
from sqlmodel import Session, select

from assets import controls
from assets.models import Asset, AssetGrade, Engagement, Vendor
from assets.rule import runs_on
from assets.schemas import AssetCreate, AssetQuery, AssetRead, AssetUpdate
from assets.targets import address_count
from secgov import audit, catalog, exchange, responsibility
from secgov.authz import Actor, department_in_scope, get_scoped, in_scope
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.directory import department_by_code
from secgov.errors import Conflict, Invalid, Refusal, ServiceError, check_version
from secgov.models import Department, Responsibility, User

OWNER = "owner"
# What the responsibility register calls an asset (and the audit trail its entries).
SUBJECT = "asset"
# Who may change the asset register (assets, controls, engagements, vendors, imports); others read it.
WRITERS = ("admin", "officer")

SORTS = {
    "code": Asset.code,
    "name": Asset.name,
    "sector": Asset.sector,
    "mlps_level": Asset.mlps_level,
    "lifecycle": Asset.lifecycle,
    "updated_at": Asset.updated_at,
}


# --- reading -------------------------------------------------------------------------------------


def filing_missing(asset: Asset) -> bool:
    return (
        asset.mlps_level is not None
        and asset.mlps_level >= catalog.filing_required_from()
        and not asset.mlps_filing_number
    )


def asset_read(asset: Asset, department_code: str, owner: str | None) -> AssetRead:
    return AssetRead(
        id=asset.id,
        code=asset.code,
        name=asset.name,
        description=asset.description,
        sector=asset.sector,
        department=department_code,
        owner=owner,
        mlps_level=asset.mlps_level,
        mlps_filing_number=asset.mlps_filing_number,
        mlps_extensions=list(asset.mlps_extensions or []),
        is_cii=asset.is_cii,
        classified=asset.classified,
        data_level=asset.data_level,
        lifecycle=asset.lifecycle,
        network_targets=list(asset.network_targets or []),
        expected_ports=list(asset.expected_ports or []),
        filing_missing=filing_missing(asset),
        version=asset.version,
        updated_at=asset.updated_at,
    )


def read_many(session: Session, assets: list[Asset]) -> list[AssetRead]:
    """Output records for a page of assets: their departments' codes and current owners in one query."""
    if not assets:
        return []
    ids = [a.id for a in assets]
    owner = and_(
        Responsibility.subject_type == SUBJECT,
        Responsibility.subject_id == Asset.id,
        Responsibility.duty == OWNER,
        responsibility.covering(),
    )
    extra = {
        asset_id: (code, username)
        for asset_id, code, username in session.exec(
            select(Asset.id, Department.code, User.username)
            .join(Department, Department.id == Asset.department_id)
            .outerjoin(Responsibility, owner)
            .outerjoin(User, User.id == Responsibility.user_id)
            .where(Asset.id.in_(ids))
        )
    }
    return [asset_read(a, *extra.get(a.id, ("", None))) for a in assets]


def read_one(session: Session, asset: Asset) -> AssetRead:
    return read_many(session, [asset])[0]


def _filters(session: Session, actor: Actor, query: AssetQuery) -> list:
    where = [in_scope(Asset.department_id, actor)]
    if query.q:
        like = f"%{query.q.lower()}%"
        where.append(
            or_(
                func.lower(Asset.code).like(like),
                func.lower(Asset.name).like(like),
                func.lower(Asset.description).like(like),
            )
        )
    if query.sector:
        where.append(Asset.sector == query.sector)
    if query.department:
        dept = session.exec(select(Department).where(Department.code == query.department)).first()
        if dept is None or not department_in_scope(dept, actor):
            raise Invalid(_("Unknown department: %(code)s", code=query.department), field="department")
        where.append(
            Asset.department_id.in_(select(Department.id).where(Department.path.startswith(dept.path, autoescape=True)))
        )
    if query.mlps_level == "none":
        where.append(Asset.mlps_level.is_(None))
    elif query.mlps_level:
        where.append(Asset.mlps_level == int(query.mlps_level))
    if query.is_cii is not None:
        where.append(Asset.is_cii.is_(query.is_cii))
    if query.classified is not None:
        where.append(Asset.classified.is_(query.classified))
    if query.lifecycle:
        where.append(Asset.lifecycle == query.lifecycle)
    if query.filing_missing is not None:
        missing = and_(Asset.mlps_level >= catalog.filing_required_from(), Asset.mlps_filing_number == "")
        where.append(missing if query.filing_missing else not_(missing))
    if query.vendor_origin:
        today = datetime.now(UTC).date()
        engaged = (
            select(Engagement.asset_id)
            .join(Vendor, Vendor.id == Engagement.vendor_id)
            .where(Vendor.origin == query.vendor_origin, runs_on(today))
        )
        where.append(Asset.id.in_(engaged))
    return where


def list_assets(session: Session, actor: Actor, query: AssetQuery) -> tuple[list[Asset], int]:
    """One page of the assets in the actor's scope matching the query, and the total."""
    where = _filters(session, actor, query)
    total = session.exec(select(func.count()).select_from(Asset).where(*where)).one()
    column = SORTS[query.sort.lstrip("-")]
    order = column.desc() if query.sort.startswith("-") else column.asc()
    rows = session.exec(
        select(Asset)
        .where(*where)
        .order_by(order, Asset.id)
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return list(rows), total


def export_records(session: Session, actor: Actor, query: AssetQuery) -> Iterator[AssetRead]:
    """Every asset in scope matching the query, as output records, a page at a time."""
    for assets in exchange.pages(lambda q: list_assets(session, actor, q), query):
        yield from read_many(session, assets)
        for asset in assets:
            session.expunge(asset)


def get_asset(session: Session, asset_id: int, actor: Actor) -> Asset:
    """The asset with this id in the actor's scope (out of scope: audited, then not found)."""
    return get_scoped(session, Asset, asset_id, actor)


def eligible_owners(session: Session, actor: Actor) -> list[User]:
    """The people who may own an asset registered by the actor: active, in the actor's scope."""
    where = [User.disabled.is_(False), in_scope(User.department_id, actor)]
    return list(session.exec(select(User).where(*where).order_by(User.username)).all())


def asset_by_code(session: Session, code: str) -> Asset | None:
    """Codes are unique regardless of case (a functional unique index on lower(code))."""
    return session.exec(select(Asset).where(func.lower(Asset.code) == code.lower())).first()


def grade_history(session: Session, asset: Asset) -> list[AssetGrade]:
    return list(
        session.exec(
            select(AssetGrade)
            .where(AssetGrade.asset_id == asset.id)
            .order_by(AssetGrade.changed_at.desc(), AssetGrade.id.desc())
        ).all()
    )


# --- the rules of a registration -----------------------------------------------------------------


def _code_taken(code: str, refusal: Refusal | None = None) -> Conflict:
    return Conflict(_("The code %(code)s is already used.", code=code), field="code", refusal=refusal)


def _probed(code: str, actor: Actor) -> Refusal:
    """Codes are unique city-wide, so the refusal of a code held outside the actor's scope tells
    them that another department has such an asset: that attempt is kept in the audit trail (and
    names neither the asset nor its department), so that probing for codes shows."""
    return Refusal(actor, "asset.code_taken", SUBJECT, code)


def _unknown_owner(name: str) -> Invalid:
    return Invalid(_("Unknown or disabled user: %(name)s", name=name), field="owner")


def check_targets(targets: Sequence[str], config: ServiceConfig) -> ServiceError | None:
    """The configured bound on how many addresses one network target may cover."""
    for target in targets:
        if address_count(target) > config.max_target_addresses:
            return Invalid(
                _("%(value)s is larger than the %(n)d addresses allowed.", value=target, n=config.max_target_addresses),
                field="network_targets",
            )
    return None


def owners_named(session: Session, names: Sequence[str], actor: Actor) -> dict[str, User]:
    """The active users in the actor's scope among these names (lower case), in one query per 500."""
    found: dict[str, User] = {}
    for chunk in chunks(sorted({name.lower() for name in names})):
        for user in session.exec(select(User).where(func.lower(User.username).in_(chunk))).all():
            if not user.disabled and department_in_scope(user.department, actor):
                found[user.username.lower()] = user
    return found


def _departments(session: Session, codes: Sequence[str], actor: Actor) -> dict[str, Department]:
    found: dict[str, Department] = {}
    for chunk in chunks(sorted(set(codes))):
        for dept in session.exec(select(Department).where(Department.code.in_(chunk))).all():
            if department_in_scope(dept, actor):
                found[dept.code] = dept
    return found


def check_assets(
    session: Session, items: Sequence[AssetCreate], actor: Actor, config: ServiceConfig
) -> dict[int, list[ServiceError]]:
    """What the rules refuse in each asset of a batch, by its index: codes already used (in the
    register or earlier in the batch, without case), departments and owners unknown to the actor
    (out of scope, disabled), network blocks beyond the configured size. A code used outside the
    actor's scope is refused with a `Refusal` for the audit trail (`_probed`). One query per 500
    codes, departments and owners: a batch of thousands costs a few look-ups."""
    problems: dict[int, list[ServiceError]] = {}
    taken: dict[str, bool] = {}  # each code already used (lower case) -> whether in the actor's scope
    for chunk in chunks(sorted({data.code.lower() for data in items})):
        rows = session.exec(
            select(Asset.code, Department.path)
            .join(Department, Department.id == Asset.department_id)
            .where(func.lower(Asset.code).in_(chunk))
        )
        taken.update((code.lower(), path.startswith(actor.scope)) for code, path in rows)
    departments = _departments(session, [data.department for data in items], actor)
    owners = owners_named(session, [data.owner for data in items], actor)
    seen: set[str] = set()
    for index, data in enumerate(items):
        errors: list[ServiceError] = []
        if data.code.lower() in taken:
            errors.append(_code_taken(data.code, None if taken[data.code.lower()] else _probed(data.code, actor)))
        elif data.code.lower() in seen:
            errors.append(_code_taken(data.code))
        seen.add(data.code.lower())
        if data.department not in departments:
            errors.append(Invalid(_("Unknown department: %(code)s", code=data.department), field="department"))
        if data.owner.lower() not in owners:
            errors.append(_unknown_owner(data.owner))
        too_large = check_targets(data.network_targets, config)
        if too_large is not None:
            errors.append(too_large)
        if errors:
            problems[index] = errors
    return problems


def create_asset(session: Session, data: AssetCreate, actor: Actor, config: ServiceConfig) -> Asset:
    """Register an asset with its owner; grading instantiates the controls its level requires."""
    return create_assets(session, [data], actor, config)[0]


def create_assets(session: Session, items: Sequence[AssetCreate], actor: Actor, config: ServiceConfig) -> list[Asset]:
    """Register assets, each with its owner, its grade history's first entry and the controls
    its level requires; audited one by one. All or none: the first problem `check_assets` finds
    is raised before anything is written. Look-ups and writes go by the batch, so importing
    thousands of rows costs a few statements per hundred assets rather than a dozen per asset."""
    if not items:
        return []
    problems = check_assets(session, items, actor, config)
    if problems:
        raise problems[min(problems)][0]
    departments = _departments(session, [data.department for data in items], actor)
    owners = owners_named(session, [data.owner for data in items], actor)
    assets = [
        Asset(**data.model_dump(exclude={"department", "owner"}), department_id=departments[data.department].id)
        for data in items
    ]
    today = datetime.now(UTC).date()
    for asset in assets:
        asset.cii_designated_on = today if asset.is_cii else None
    session.add_all(assets)
    session.flush()
    controls.grade_many(session, assets)
    session.add_all(
        AssetGrade(
            asset_id=asset.id,
            mlps_level=asset.mlps_level,
            mlps_filing_number=asset.mlps_filing_number,
            changed_by=actor.username,
            reason="registered",  # a code, shown in the reader's language (secgov.codes.REASON)
        )
        for asset in assets
    )
    holders = [owners[data.owner.lower()] for data in items]
    responsibility.assign_many(
        session,
        SUBJECT,
        OWNER,
        [(asset.id, owner, asset.department_id) for asset, owner in zip(assets, holders, strict=True)],
        actor,
        reason="registered",
    )
    audit.record_many(
        session,
        actor,
        [
            audit.Event(
                "asset.created",
                object_type="asset",
                object_id=asset.code,
                department_id=asset.department_id,
                after={**_snapshot(asset), "owner": owner.username},
            )
            for asset, owner in zip(assets, holders, strict=True)
        ],
    )
    return assets


def _snapshot(asset: Asset) -> dict:
    return {
        name: getattr(asset, name)
        for name in (
            "code", "name", "description", "sector", "department_id", "mlps_level", "mlps_filing_number",
            "mlps_extensions", "is_cii", "classified", "data_level", "lifecycle", "network_targets", "expected_ports",
        )
    }  # fmt: skip


def update_asset(session: Session, asset: Asset, data: AssetUpdate, actor: Actor, config: ServiceConfig) -> Asset:
    """Edit an asset. A new level or extension set regrades it; history keeps the old grade."""
    check_version(asset, data.version)
    if data.network_targets is not None:
        too_large = check_targets(data.network_targets, config)
        if too_large is not None:
            raise too_large
    before = _snapshot(asset)
    fields = data.model_fields_set - {"version", "reason", "department", "owner"}
    for name in fields:
        value = getattr(data, name)
        if value is None and name != "mlps_level":
            continue
        setattr(asset, name, value)
    if data.department is not None:
        asset.department_id = department_by_code(session, data.department, actor).id
    if asset.is_cii != before["is_cii"]:
        asset.cii_designated_on = datetime.now(UTC).date() if asset.is_cii else None
    grade_changed = before["mlps_level"] != asset.mlps_level or before["mlps_filing_number"] != asset.mlps_filing_number
    if grade_changed or sorted(before["mlps_extensions"] or []) != sorted(asset.mlps_extensions or []):
        controls.grade(session, asset)
    if grade_changed:
        session.add(
            AssetGrade(
                asset_id=asset.id,
                mlps_level=asset.mlps_level,
                mlps_filing_number=asset.mlps_filing_number,
                changed_by=actor.username,
                reason=data.reason,
            )
        )
    if data.owner is not None:
        owner = owners_named(session, [data.owner], actor).get(data.owner.lower())
        if owner is None:
            raise _unknown_owner(data.owner)
        responsibility.assign(
            session, SUBJECT, asset.id, OWNER, owner, actor, reason=data.reason, department_id=asset.department_id
        )
    asset.version += 1
    asset.updated_at = datetime.now(UTC)
    session.add(asset)
    session.flush()
    after = _snapshot(asset)
    changed = {k for k in after if after[k] != before[k]}
    audit.record(
        session, actor, "asset.updated", object_type="asset", object_id=asset.code, department_id=asset.department_id,
        before={k: before[k] for k in changed}, after={k: after[k] for k in changed}, reason=data.reason,
    )  # fmt: skip
    return asset


def delete_asset(session: Session, asset: Asset, actor: Actor, reason: str = "") -> None:
    """Remove an asset record with its controls, engagements and grade history (audited in full)."""
    extra = {"reason": reason} if reason else {}
    audit.record(
        session,
        actor,
        "asset.deleted",
        object_type="asset",
        object_id=asset.code,
        department_id=asset.department_id,
        before=_snapshot(asset),
        **extra,
    )
    responsibility.forget(session, SUBJECT, [asset.id])
    session.delete(asset)
    session.flush()


def remove_imported(session: Session, asset_ids: list[int], actor: Actor) -> None:
    """Undo an import that could not be completed: remove the assets it wrote (each audited)."""
    for chunk in chunks(asset_ids):
        for asset in session.exec(select(Asset).where(Asset.id.in_(chunk))).all():
            delete_asset(session, asset, actor, reason="import undone")

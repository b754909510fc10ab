"""Assets: input and output schemas and the rules for listing, creating, editing and grading."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from flask import current_app, has_app_context
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from assets import controls, vendors
from assets.models import Asset, AssetGrade, Engagement, Vendor
from assets.targets import TargetError, parse_ports, parse_targets
from secgov import audit, catalog, responsibility
from secgov.audit import Actor
from secgov.authz import department_in_scope, get_scoped, in_scope
from secgov.db import chunks
from secgov.directory import Code, Input, Name, department_by_code
from secgov.errors import Conflict, Invalid, check_version
from secgov.models import Department, User

OWNER = "owner"
# Who may change the asset register (assets, controls, engagements, imports); others read it.
WRITERS = ("admin", "officer")
DEFAULT_MAX_TARGET_ADDRESSES = 256

DataLevel = Literal["core", "important", "general"]
Lifecycle = Literal["planned", "building", "operational", "retired"]
Extension = Literal["cloud", "mobile", "iot", "ics"]
Level = Annotated[int, Field(ge=1, le=5)]


def max_target_addresses() -> int:
    if has_app_context():
        return int(current_app.config.get("SECGOV_MAX_TARGET_ADDRESSES", DEFAULT_MAX_TARGET_ADDRESSES))
    return DEFAULT_MAX_TARGET_ADDRESSES


def _targets(value):
    if value is None:
        return value
    try:
        return parse_targets(value, max_target_addresses())
    except TargetError as exc:
        raise ValueError(target_message(exc)) from None


def _ports(value):
    if value is None:
        return value
    try:
        return parse_ports(value)
    except TargetError as exc:
        raise ValueError(target_message(exc)) from None


def target_message(exc: TargetError) -> str:
    """A TargetError in the user's language, naming the offending value."""
    value = str(exc.value)[:80]
    return {
        "empty": _("An empty network target or port."),
        "option": _("%(value)s starts with '-': not allowed.", value=value),
        "too_large": _("%(value)s is larger than the %(n)d addresses allowed.", value=value, n=max_target_addresses()),
        "port": _("%(value)s is not a port such as 443/tcp.", value=value),
        "protocol": _("%(value)s: the protocol must be tcp, udp or sctp.", value=value),
    }.get(exc.reason, _("%(value)s is not an IP address, CIDR block or host name.", value=value))


def _sector(value: str) -> str:
    if value not in catalog.sector_codes():
        raise ValueError(_("Unknown sector: %(code)s", code=value))
    return value


class AssetCreate(Input):
    code: Code
    name: Name
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    sector: str
    department: Code
    owner: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    mlps_level: Level | None = None
    mlps_filing_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    mlps_extensions: list[Extension] = Field(default_factory=list, max_length=4)
    is_cii: bool = False
    classified: bool = False
    data_level: DataLevel = "general"
    lifecycle: Lifecycle = "operational"
    network_targets: list[str] = Field(default_factory=list, max_length=64)
    expected_ports: list[str] = Field(default_factory=list, max_length=256)

    _check_sector = field_validator("sector")(_sector)
    _check_targets = field_validator("network_targets", mode="before")(_targets)
    _check_ports = field_validator("expected_ports", mode="before")(_ports)


class AssetUpdate(Input):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None
    sector: str | None = None
    department: Code | None = None
    owner: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    mlps_level: Level | None = None
    mlps_filing_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    mlps_extensions: list[Extension] | None = Field(default=None, max_length=4)
    is_cii: bool | None = None
    classified: bool | None = None
    data_level: DataLevel | None = None
    lifecycle: Lifecycle | None = None
    network_targets: list[str] | None = Field(default=None, max_length=64)
    expected_ports: list[str] | None = Field(default=None, max_length=256)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = Field(
        default="", description="Why: kept in the grade history and the owner history."
    )
    version: int = Field(description="The version you read; a newer one on the server is a conflict.")

    @field_validator("sector")
    @classmethod
    def _check_sector(cls, value):
        return value if value is None else _sector(value)

    _check_targets = field_validator("network_targets", mode="before")(_targets)
    _check_ports = field_validator("expected_ports", mode="before")(_ports)


class AssetRead(BaseModel):
    id: int
    code: str
    name: str
    description: str
    sector: str
    department: str
    owner: str | None
    mlps_level: int | None
    mlps_filing_number: str
    mlps_extensions: list[str]
    is_cii: bool
    classified: bool
    data_level: str
    lifecycle: str
    network_targets: list[str]
    expected_ports: list[str]
    filing_missing: bool = Field(description="Graded at level 2 or above without an MLPS filing number.")
    version: int
    updated_at: datetime


SORTS = {
    "code": Asset.code,
    "name": Asset.name,
    "sector": Asset.sector,
    "mlps_level": Asset.mlps_level,
    "lifecycle": Asset.lifecycle,
    "updated_at": Asset.updated_at,
}
SortKey = Literal[
    "code",
    "-code",
    "name",
    "-name",
    "sector",
    "-sector",
    "mlps_level",
    "-mlps_level",
    "lifecycle",
    "-lifecycle",
    "updated_at",
    "-updated_at",
]


class AssetQuery(BaseModel):
    """Filters, sort and page of the asset list (web page and API)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    q: str = Field(default="", max_length=100, description="Part of the code, name or description.")
    sector: str | None = None
    department: str | None = Field(default=None, max_length=40, description="A department code: its whole subtree.")
    mlps_level: Literal["1", "2", "3", "4", "5", "none"] | None = None
    is_cii: bool | None = None
    classified: bool | None = None
    lifecycle: Lifecycle | None = None
    vendor_origin: Literal["domestic", "foreign", "joint_venture"] | None = Field(
        default=None, description="Assets with an ongoing engagement of a vendor of this origin."
    )
    sort: SortKey = "code"
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


# The list's filters: every field of AssetQuery but the page (exports, links and forms use these).
FILTERS = tuple(name for name in AssetQuery.model_fields if name not in ("page", "page_size"))


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
    from secgov.models import Responsibility

    if not assets:
        return []
    ids = [a.id for a in assets]
    owner = and_(
        Responsibility.subject_type == "asset",
        Responsibility.subject_id == Asset.id,
        Responsibility.duty == OWNER,
        Responsibility.valid_to.is_(None),
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


def _filters(session: Session, viewer: User, query: AssetQuery) -> list:
    where = [in_scope(Asset.department_id, viewer)]
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
        if dept is None or not department_in_scope(dept, viewer):
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
    if query.vendor_origin:
        today = datetime.now(UTC).date()
        engaged = (
            select(Engagement.asset_id)
            .join(Vendor, Vendor.id == Engagement.vendor_id)
            .where(Vendor.origin == query.vendor_origin, vendors.runs_on(today))
        )
        where.append(Asset.id.in_(engaged))
    return where


def list_assets(session: Session, viewer: User, query: AssetQuery) -> tuple[list[Asset], int]:
    """One page of the assets in the viewer's scope matching the query, and the total."""
    where = _filters(session, viewer, query)
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


def get_asset(session: Session, asset_id: int, viewer: User) -> Asset:
    """The asset with this id in the viewer's scope (out of scope: audited, then not found)."""
    return get_scoped(session, Asset, asset_id, viewer)


def eligible_owners(session: Session, viewer: User | None) -> list[User]:
    """The people who may own an asset registered by viewer: active, in the viewer's scope."""
    where = [User.disabled.is_(False)]
    if viewer is not None:
        where.append(in_scope(User.department_id, viewer))
    return list(session.exec(select(User).where(*where).order_by(User.username)).all())


def asset_by_code(session: Session, code: str) -> Asset | None:
    """Codes are unique regardless of case (a functional unique index on lower(code))."""
    return session.exec(select(Asset).where(func.lower(Asset.code) == code.lower())).first()


def _owner(session: Session, username: str, viewer: User | None) -> User:
    from secgov.auth import find_user

    user = find_user(session, username)
    if user is None or user.disabled or (viewer is not None and not department_in_scope(user.department, viewer)):
        raise Invalid(_("Unknown or disabled user: %(name)s", name=username), field="owner")
    return user


def _snapshot(asset: Asset) -> dict:
    return {
        name: getattr(asset, name)
        for name in (
            "code", "name", "description", "sector", "department_id", "mlps_level", "mlps_filing_number",
            "mlps_extensions", "is_cii", "classified", "data_level", "lifecycle", "network_targets", "expected_ports",
        )
    }  # fmt: skip


def create_asset(session: Session, data: AssetCreate, actor: Actor, viewer: User | None = None) -> Asset:
    """Register an asset with its owner; grading instantiates the controls its level requires."""
    return create_assets(session, [data], actor, viewer)[0]


def create_assets(
    session: Session, items: Sequence[AssetCreate], actor: Actor, viewer: User | None = None
) -> list[Asset]:
    """Register assets, each with its owner, its grade history's first entry and the controls
    its level requires; audited one by one. All or none: the first problem raises before
    anything is written. Lookups and writes go by the batch, so importing thousands of rows
    costs a few statements per hundred assets rather than a dozen per asset."""
    if not items:
        return []
    seen: set[str] = set()
    for data in items:
        if data.code.lower() in seen:
            raise Conflict(_("The code %(code)s is already used.", code=data.code))
        seen.add(data.code.lower())
    codes = sorted(seen)
    for chunk in chunks(codes):
        taken = session.exec(select(Asset.code).where(func.lower(Asset.code).in_(chunk))).first()
        if taken is not None:
            raise Conflict(_("The code %(code)s is already used.", code=taken))
    departments = {
        code: department_by_code(session, code, viewer) for code in dict.fromkeys(d.department for d in items)
    }
    owners = {name.lower(): _owner(session, name, viewer) for name in dict.fromkeys(d.owner for d in items)}
    assets = [
        Asset(**data.model_dump(exclude={"department", "owner"}), department_id=departments[data.department].id)
        for data in items
    ]
    session.add_all(assets)
    session.flush()
    controls.grade_many(session, assets)
    session.add_all(
        AssetGrade(
            asset_id=asset.id,
            mlps_level=asset.mlps_level,
            mlps_filing_number=asset.mlps_filing_number,
            changed_by=actor.username,
            reason=_("Registered"),
        )
        for asset in assets
    )
    holders = [owners[data.owner.lower()] for data in items]
    responsibility.assign_many(
        session,
        "asset",
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


def update_asset(session: Session, asset: Asset, data: AssetUpdate, actor: Actor, viewer: User | None = None) -> Asset:
    """Edit an asset. A new level or extension set regrades it; history keeps the old grade."""
    check_version(asset, data.version)
    before = _snapshot(asset)
    fields = data.model_fields_set - {"version", "reason", "department", "owner"}
    for name in fields:
        value = getattr(data, name)
        if value is None and name != "mlps_level":
            continue
        setattr(asset, name, value)
    if data.department is not None:
        asset.department_id = department_by_code(session, data.department, viewer).id
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
        owner = _owner(session, data.owner, viewer)
        responsibility.assign(
            session, "asset", asset.id, OWNER, owner, actor, reason=data.reason, department_id=asset.department_id
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


def delete_asset(session: Session, asset: Asset, actor: Actor) -> None:
    """Remove an asset record with its controls, engagements and grade history (audited in full)."""
    audit.record(
        session,
        actor,
        "asset.deleted",
        object_type="asset",
        object_id=asset.code,
        department_id=asset.department_id,
        before=_snapshot(asset),
    )
    session.delete(asset)
    session.flush()


def grade_history(session: Session, asset: Asset) -> list[AssetGrade]:
    return list(
        session.exec(
            select(AssetGrade)
            .where(AssetGrade.asset_id == asset.id)
            .order_by(AssetGrade.changed_at.desc(), AssetGrade.id.desc())
        ).all()
    )

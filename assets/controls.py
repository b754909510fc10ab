"""Security controls: the catalog in the database, grading assets, control status, coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import case, delete, func, insert, literal_column
from sqlmodel import Session, select

from assets.codes import CONTROL_STATUS
from assets.models import Asset, AssetControl, AssetCoverage, Control
from assets.schemas import (
    AreaControls,
    AssetControlRead,
    AssetControlsUpdate,
    AssetControlUpdate,
    ControlOverview,
    Coverage,
    DepartmentCoverage,
)
from secgov import audit, catalog
from secgov.authz import Actor, in_scope
from secgov.codes import AREA, current_language
from secgov.db import chunks
from secgov.directory import departments_in_scope
from secgov.errors import Conflict, Invalid, NotFound, check_version

# Which of the six assessment areas each MLPS family feeds (our reading of the seed report;
# data-protection points of the computing environment count as information protection).
FAMILY_AREA = {
    "PE": "equipment_review",
    "CN": "system_protection",
    "AB": "system_protection",
    "CE": "system_protection",
    "MC": "system_protection",
    "MP": "policies",
    "MO": "policies",
    "MS": "policies",
    "BM": "construction_operations",
    "OM": "construction_operations",
}
INFORMATION_POINTS = ("数据", "个人信息", "剩余信息")


def _catalog_rows() -> list[Control]:
    rows: list[Control] = []
    for position, item in enumerate(catalog.mlps_control_points()):
        area = FAMILY_AREA.get(item["family"], "")
        if item["family"] == "CE" and any(word in item["control_point_zh"] for word in INFORMATION_POINTS):
            area = "information_protection"
        rows.append(
            Control(
                id=f"mlps.{item['id']}",
                catalog="mlps",
                code=item["id"],
                family=item["family"],
                extension=item["extension"],
                area=area,
                title_zh=item["control_point_zh"],
                title_en=item.get("control_point_en", ""),
                levels=catalog.control_levels(item),
                position=position,
            )
        )
    for position, item in enumerate(catalog.domain()["assessment_areas"]["items"]):
        rows.append(
            Control(
                id=f"area.{item['code']}",
                catalog="area",
                code=item["code"],
                area=item["code"],
                title_zh=item["zh"],
                title_en=item["en"],
                position=position,
            )
        )
    for position, item in enumerate(catalog.nist_csf()):
        rows.append(
            Control(
                id=f"csf.{item['id']}",
                catalog="csf",
                code=item["id"],
                title_en=item["title"] or item["text"],
                title_zh="",
                parent=f"csf.{item['parent']}" if item.get("parent") else "",
                position=position,
            )
        )
    return rows


def sync_catalog(session: Session) -> int:
    """Insert or refresh the controls from the catalog files (run by `db upgrade`)."""
    rows = _catalog_rows()
    existing = {c.id: c for c in session.exec(select(Control)).all()}
    for row in rows:
        current = existing.get(row.id)
        if current is None:
            session.add(row)
            continue
        for name in ("catalog", "code", "family", "extension", "area", "title_zh", "title_en", "levels", "parent"):
            setattr(current, name, getattr(row, name))
        current.position = row.position
        session.add(current)
    areas_before = {control_id: control.area for control_id, control in existing.items()}
    session.flush()
    if any(areas_before.get(row.id, row.area) != row.area for row in rows):
        recount_all(session)  # the coverage counts are kept per area
    return len(rows)


def required_control_ids(session: Session, level: int | None, extensions: list[str]) -> set[str]:
    """The MLPS control points that an asset of this level and these extensions must have."""
    return _Requirements(session).of(level, extensions)


class _Requirements:
    """The MLPS catalog read once, answering "what does this level and extension set require?"."""

    def __init__(self, session: Session):
        self._session = session
        self._controls: list | None = None
        self._answers: dict[tuple[int, frozenset[str]], set[str]] = {}

    def of(self, level: int | None, extensions: list[str]) -> set[str]:
        if level is None:
            return set()
        key = (level, frozenset(extensions))
        if key not in self._answers:
            if self._controls is None:
                self._controls = self._session.exec(
                    select(Control.id, Control.extension, Control.levels).where(Control.catalog == "mlps")
                ).all()
            wanted = {"general", *extensions}
            self._answers[key] = {cid for cid, ext, levels in self._controls if ext in wanted and level in levels}
        return self._answers[key]


def grade(session: Session, asset: Asset) -> tuple[int, int]:
    """Bring the asset's controls in line with its level: add what is newly required, mark the
    rest not required. Statuses already recorded are kept. Returns (added, no longer required)."""
    return grade_many(session, [asset])[asset.id]


def grade_many(session: Session, assets: Sequence[Asset]) -> dict[int, tuple[int, int]]:
    """grade() for many assets (flushed, so with ids): one catalog read, one query per 500
    assets for the controls they have, one multi-row INSERT for the controls they lack."""
    requirements = _Requirements(session)
    ids = [asset.id for asset in assets]
    existing: dict[int, dict[str, AssetControl]] = {asset_id: {} for asset_id in ids}
    for chunk in chunks(ids):
        for row in session.exec(select(AssetControl).where(AssetControl.asset_id.in_(chunk))):
            existing[row.asset_id][row.control_id] = row
    new_rows: list[dict] = []
    outcome: dict[int, tuple[int, int]] = {}
    for asset in assets:
        required = requirements.of(asset.mlps_level, asset.mlps_extensions or [])
        rows = existing[asset.id]
        dropped = 0
        for control_id, row in rows.items():
            should = control_id in required
            if row.required != should:
                dropped += 0 if should else 1
                row.required = should
                session.add(row)
        new = sorted(required - rows.keys())
        new_rows.extend({"asset_id": asset.id, "control_id": control_id} for control_id in new)
        outcome[asset.id] = (len(new), dropped)
    session.flush()
    if new_rows:
        # Plain multi-row INSERTs (the columns' defaults fill the rest), not one ORM object per
        # control: a graded asset gets dozens of controls, an import of thousands of assets
        # hundreds of thousands of them.
        session.execute(insert(AssetControl.__table__), new_rows)
    recount(session, ids)
    return outcome


STATUSES = ("implemented", "partial", "planned", "not_implemented", "not_applicable")


def _counts_of(asset_ids: Sequence[int]):
    """SELECT asset, area and the count of each status of its required controls, per area."""
    area = func.coalesce(Control.area, literal_column("''"))  # one expression, selected and grouped by
    return (
        select(
            AssetControl.asset_id,
            area,
            *(func.sum(case((AssetControl.status == status, 1), else_=0)) for status in STATUSES),
        )
        .join(Control, Control.id == AssetControl.control_id)
        .where(AssetControl.asset_id.in_(asset_ids), AssetControl.required.is_(True))
        .group_by(AssetControl.asset_id, area)
    )


def recount(session: Session, asset_ids: Iterable[int]) -> None:
    """Bring the coverage counts (`AssetCoverage`) of these assets in line with their controls:
    every service that changes an asset's controls or their statuses calls it, in its own
    transaction. Two statements per 500 assets, whatever their number of controls."""
    session.flush()
    columns = ["asset_id", "area", *STATUSES]
    for chunk in chunks(sorted(set(asset_ids))):
        session.execute(delete(AssetCoverage).where(AssetCoverage.asset_id.in_(chunk)))
        session.execute(insert(AssetCoverage.__table__).from_select(columns, _counts_of(chunk)))


def recount_all(session: Session) -> None:
    """recount() every asset (after the catalog's areas changed, or to repair the counts)."""
    recount(session, session.exec(select(Asset.id)).all())


def control_read(row: AssetControl, control: Control, lang: str) -> AssetControlRead:
    return AssetControlRead(
        control_id=row.control_id,
        catalog=control.catalog,
        code=control.code,
        family=control.family,
        area=control.area,
        title=(control.title_en if lang == "en" else control.title_zh) or control.title_zh or control.title_en,
        required=row.required,
        status=row.status,
        evidence=row.evidence,
        reviewer=row.reviewer,
        reviewed_on=row.reviewed_on,
        version=row.version,
    )


def asset_controls(session: Session, asset: Asset, *, required_only: bool = True) -> list[tuple[AssetControl, Control]]:
    """The asset's controls with their catalog entries, in catalog order."""
    query = (
        select(AssetControl, Control)
        .join(Control, Control.id == AssetControl.control_id)
        .where(AssetControl.asset_id == asset.id)
    )
    if required_only:
        query = query.where(AssetControl.required.is_(True))
    return list(session.exec(query.order_by(Control.catalog, Control.position)).all())


def control_by_id(session: Session, control_id: str) -> Control:
    control = session.get(Control, control_id)
    if control is None:
        raise NotFound(_("Not found."))
    return control


def get_asset_control(session: Session, asset: Asset, control_id: str) -> AssetControl:
    row = session.exec(
        select(AssetControl).where(AssetControl.asset_id == asset.id, AssetControl.control_id == control_id)
    ).first()
    if row is None:
        raise NotFound(_("Not found."))
    return row


def _state(row: AssetControl) -> dict:
    return {"status": row.status, "evidence": row.evidence, "reviewer": row.reviewer, "reviewed_on": row.reviewed_on}


def _review(row: AssetControl, data: AssetControlUpdate, asset: Asset, actor: Actor) -> audit.Event:
    """Write one reviewed control (the actor its reviewer, dated today unless a date is given);
    the audit event of the change, for the caller to record."""
    before = _state(row)
    row.status = data.status
    row.evidence = data.evidence
    row.reviewer = actor.username
    row.reviewed_on = data.reviewed_on or datetime.now(UTC).date()
    row.version += 1
    row.updated_at = datetime.now(UTC)
    return audit.Event(
        "asset_control.updated",
        object_type="asset",
        object_id=asset.code,
        department_id=asset.department_id,
        before=before,
        after=_state(row),
        extra={"control": row.control_id},
    )


def update_control(
    session: Session, asset: Asset, control_id: str, data: AssetControlUpdate, actor: Actor
) -> AssetControl:
    """Record a control's status with its evidence; the actor is the reviewer."""
    row = get_asset_control(session, asset, control_id)
    check_version(row, data.version)
    event = _review(row, data, asset, actor)
    session.add(row)
    recount(session, [asset.id])
    audit.record_many(session, actor, [event])
    return row


# How many controls a refusal names before it only counts the rest.
NAMED = 5


def _named(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:NAMED])
    rest = len(labels) - NAMED
    return shown if rest <= 0 else _("%(controls)s and %(count)d more", controls=shown, count=rest)


def _label(control: Control) -> str:
    """A control as a page names it: its code and its title in the reader's language."""
    title = (control.title_en if current_language() == "en" else control.title_zh) or control.title_zh
    return f"{control.code} {title}".strip()


def _unchanged(row: AssetControl, item: AssetControlUpdate) -> bool:
    """Sent back as it was read: nothing to record (a form lists every control it shows)."""
    return (
        item.status == row.status
        and item.evidence == row.evidence
        and (item.reviewed_on is None or item.reviewed_on == row.reviewed_on)
    )


def update_controls(
    session: Session, asset: Asset, data: AssetControlsUpdate, actor: Actor
) -> list[tuple[AssetControl, Control]]:
    """Record several controls of the asset at once, all or nothing.

    Every control sent must be one of the asset's, sent once, at the version read: otherwise
    nothing is saved and the refusal names the controls at fault. A control whose status,
    evidence or review date changes is recorded as `update_control` records one (the actor its
    reviewer, one audit entry per control); one sent back as it was is left alone. Returns the
    controls sent with their catalog entries, in their order."""
    ids = [item.control_id for item in data.items]
    repeated = [cid for cid, n in Counter(ids).items() if n > 1]
    if repeated:
        raise Invalid(_("Each control may be sent once: %(controls)s.", controls=_named(repeated)), field="items")
    found = {
        row.control_id: (row, control)
        for row, control in session.exec(
            select(AssetControl, Control)
            .join(Control, Control.id == AssetControl.control_id)
            .where(AssetControl.asset_id == asset.id, AssetControl.control_id.in_(ids))
        )
    }
    unknown = [cid for cid in ids if cid not in found]
    if unknown:
        raise Invalid(
            ngettext(
                "The asset has no control %(controls)s: nothing was saved.",
                "The asset has none of the controls %(controls)s: nothing was saved.",
                len(unknown),
                controls=_named(unknown),
            ),
            field="items",
        )
    stale = [_label(found[i.control_id][1]) for i in data.items if found[i.control_id][0].version != i.version]
    if stale:
        raise Conflict(
            ngettext(
                "Control %(controls)s was changed by someone else since you read it: nothing was saved.",
                "Controls %(controls)s were changed by someone else since you read them: nothing was saved.",
                len(stale),
                controls=_named(stale),
            )
        )
    events = []
    for item in data.items:
        row = found[item.control_id][0]
        if not _unchanged(row, item):
            events.append(_review(row, item, asset, actor))
            session.add(row)
    recount(session, [asset.id])
    audit.record_many(session, actor, events)
    return [found[cid] for cid in ids]


def control_overview(session: Session, asset: Asset, lang: str, statuses: Collection[str] = ()) -> ControlOverview:
    """The asset's required controls grouped by assessment area (in the areas' order; within an
    area, in catalog order), each area with the coverage of all its controls; only the controls
    whose status is in `statuses` are listed (every one when it is empty; unknown codes ignored)."""
    wanted = [code for code in CONTROL_STATUS.codes if code in set(statuses)]
    reads = [control_read(row, control, lang) for row, control in asset_controls(session, asset)]
    order = {code: position for position, code in enumerate(AREA.codes)}
    groups: dict[str, list[AssetControlRead]] = {}
    # sorted() is stable: the catalog order stays within each area; controls of no area come last.
    for read in sorted(reads, key=lambda r: order.get(r.area, len(order))):
        groups.setdefault(read.area, []).append(read)
    areas = [
        AreaControls(
            area=area,
            coverage=_coverage(Counter(r.status for r in items)),
            items=[r for r in items if not wanted or r.status in wanted],
        )
        for area, items in groups.items()
    ]
    return ControlOverview(coverage=_coverage(Counter(r.status for r in reads)), areas=areas, statuses=wanted)


def _coverage(by_status: Mapping[str, int]) -> Coverage:
    """Coverage from the number of controls in each status."""
    total = sum(by_status.values())
    return Coverage(
        required=total,
        applicable=total - by_status.get("not_applicable", 0),
        **{status: by_status.get(status, 0) for status in CONTROL_STATUS.codes},
    )


def coverage_of(statuses: Iterable[str]) -> Coverage:
    """Coverage of the controls whose statuses these are (one per control)."""
    return _coverage(Counter(statuses))


def _summed(key, where) -> Any:
    """SELECT key and the summed status counts of the coverage rows matching where."""
    return (
        select(key, *(func.sum(getattr(AssetCoverage, status)) for status in STATUSES))
        .select_from(AssetCoverage)
        .join(Asset, Asset.id == AssetCoverage.asset_id)
        .where(where)
        .group_by(key)
    )


def _from_sums(rows: Iterable, keys: list) -> dict:
    found = {
        key: _coverage({status: int(n or 0) for status, n in zip(STATUSES, counts, strict=True)})
        for key, *counts in rows
    }
    return {key: found.get(key, Coverage()) for key in keys} if keys else found


def coverage_by_asset(session: Session, asset_ids: list[int]) -> dict[int, Coverage]:
    """Coverage of each asset, from the kept counts (one grouped query)."""
    if not asset_ids:
        return {}
    return _from_sums(
        session.exec(_summed(AssetCoverage.asset_id, AssetCoverage.asset_id.in_(asset_ids))).all(), asset_ids
    )


def coverage_by_department(session: Session, department_ids: list[int]) -> dict[int, Coverage]:
    """Coverage of each department's own assets (not its sub-departments'), from the kept counts:
    one grouped query over a few rows per asset."""
    if not department_ids:
        return {}
    return _from_sums(
        session.exec(_summed(Asset.department_id, Asset.department_id.in_(department_ids))).all(), department_ids
    )


def coverage_by_area(session: Session, actor: Actor) -> dict[str, Coverage]:
    """Coverage of each assessment area over the assets in the actor's scope (kept counts)."""
    return _from_sums(session.exec(_summed(AssetCoverage.area, in_scope(Asset.department_id, actor))).all(), [])


def coverage_tree(session: Session, actor: Actor) -> list[DepartmentCoverage]:
    """Coverage of each department in the actor's scope: its own assets and its whole subtree.
    Depths count from the top of the scope (the actor's department: 0)."""
    departments = departments_in_scope(session, actor)
    ids = [d.id for d in departments]
    own = coverage_by_department(session, ids)
    counts = (
        dict(
            session.exec(
                select(Asset.department_id, func.count())
                .where(Asset.department_id.in_(ids))
                .group_by(Asset.department_id)
            ).all()
        )
        if ids
        else {}
    )
    base = min((d.path.count("/") for d in departments), default=0)
    rows = []
    for dept in departments:
        total, assets = Coverage(), 0
        for other in departments:
            if other.path.startswith(dept.path):
                for name in Coverage.model_fields:
                    setattr(total, name, getattr(total, name) + getattr(own[other.id], name))
                assets += counts.get(other.id, 0)
        rows.append(
            DepartmentCoverage(
                department=dept.code,
                name=dept.name,
                depth=dept.path.count("/") - base,
                assets=assets,
                own=own[dept.id],
                total=total,
            )
        )
    return rows

"""When assessments fall due: for every asset in scope, the next required assessment of each
kind from its MLPS level, CII status and last approved assessments (`assessments.rule` states
the intervals). Derived from the records whenever it is read, so it is never stale; the daily
job reports what has newly fallen due."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from assessments import rule
from assessments.models import Assessment
from assessments.rule import AssetFacts, Due, Method
from assessments.schemas import DueQuery, DueRead
from assets.models import Asset, AssetGrade
from secgov import responsibility
from secgov.authz import Actor, in_scope
from secgov.db import chunks
from secgov.directory import department_by_code
from secgov.models import Department


def _ids_clause(column, asset_ids):
    """column IN the ids: a list, or a SELECT of asset ids (a whole scope in one statement)."""
    return column.in_(asset_ids)


def graded_on(session: Session, asset_ids) -> dict[int, date]:
    """When each asset was graded at its current level: the first entry of the last run of its
    grade history at that level. `asset_ids`: a list of ids or a SELECT of them."""
    statement = select(AssetGrade.asset_id, AssetGrade.mlps_level, AssetGrade.changed_at).order_by(
        AssetGrade.asset_id, AssetGrade.changed_at, AssetGrade.id
    )
    if isinstance(asset_ids, list):
        rows = [
            row
            for chunk in chunks(asset_ids)
            for row in session.exec(statement.where(AssetGrade.asset_id.in_(chunk))).all()
        ]
    else:
        rows = session.exec(statement.where(_ids_clause(AssetGrade.asset_id, asset_ids))).all()
    result: dict[int, date] = {}
    current, level_now, since = None, None, None
    for asset_id, level, at in rows:
        if asset_id != current or level != level_now:
            current, level_now, since = asset_id, level, at
            result[asset_id] = since.date()
    return result


def done_on():
    """The day an assessment counts from for the next due date: when it finished (when it started,
    if no finishing day was given)."""
    return func.coalesce(Assessment.finished_on, Assessment.started_on)


def last_approved(session: Session, asset_ids) -> dict[tuple[int, str], tuple[date, int]]:
    """The last approved assessment of each kind of each asset: (its finishing date, its id).
    `asset_ids`: a list of ids or a SELECT of them."""
    result: dict[tuple[int, str], tuple[date, int]] = {}
    day = done_on()
    statement = (
        select(Assessment.asset_id, Assessment.kind, day, Assessment.id)
        .where(Assessment.status == "approved")
        .order_by(Assessment.asset_id, Assessment.kind, day, Assessment.id)
    )
    parts = (
        [statement.where(Assessment.asset_id.in_(chunk)) for chunk in chunks(asset_ids)]
        if isinstance(asset_ids, list)
        else [statement.where(_ids_clause(Assessment.asset_id, asset_ids))]
    )
    for part in parts:
        for asset_id, kind, on, assessment_id in session.exec(part).all():
            result[(asset_id, kind)] = (on, assessment_id)
    return result


def under_way(session: Session, asset_ids: list[int]) -> dict[tuple[int, str], int]:
    """The newest draft, returned or submitted assessment of each kind of each asset."""
    result: dict[tuple[int, str], int] = {}
    for chunk in chunks(asset_ids):
        for asset_id, kind, assessment_id in session.exec(
            select(Assessment.asset_id, Assessment.kind, func.max(Assessment.id))
            .where(Assessment.asset_id.in_(chunk), Assessment.status != "approved")
            .group_by(Assessment.asset_id, Assessment.kind)
        ).all():
            result[(asset_id, kind)] = assessment_id
    return result


@dataclass(frozen=True)
class Scheduled:
    """An asset's required assessment with what the lists show about the asset (an `Asset`, or a
    row of `ASSET_COLUMNS`)."""

    due: Due
    asset: Any
    department: str


# What the due dates need of an asset, and what the lists show: read as plain rows, not as
# objects, so that a city of thousands of systems is read in one light statement.
ASSET_COLUMNS = (
    Asset.id, Asset.code, Asset.name, Asset.department_id, Asset.mlps_level, Asset.is_cii, Asset.lifecycle,
    Asset.cii_designated_on,
)  # fmt: skip


def assessed_assets(session: Session, *where) -> list[tuple[Any, str]]:
    """The assets in operation or being built that the conditions select, each with its
    department's code, as rows of ASSET_COLUMNS."""
    rows = session.exec(
        select(*ASSET_COLUMNS, Department.code.label("department_code"))
        .join(Department, Department.id == Asset.department_id)
        .where(Asset.lifecycle.in_(rule.ASSESSED_LIFECYCLES), *where)
    ).all()
    return [(row, row.department_code) for row in rows]


def _registered_on(session: Session, asset_ids: list[int]) -> dict[int, date]:
    """The day each asset was registered: what its first assessment counts from when it has
    neither a grading date nor a CII designation (rare: read only for those)."""
    found: dict[int, date] = {}
    for chunk in chunks(asset_ids):
        for asset_id, at in session.exec(select(Asset.id, Asset.created_at).where(Asset.id.in_(chunk))).all():
            found[asset_id] = at.date()
    return found


def facts_of(session: Session, assets: Sequence[Any], asset_ids) -> dict[int, tuple[AssetFacts, date | None]]:
    """What decides the due dates of these assets (rows of ASSET_COLUMNS), by id: their facts and
    the day their first assessment counts from when nothing else tells (`rule.due_dates`'
    fallback). `asset_ids`: the same assets' ids, a list or a SELECT of them."""
    grades = graded_on(session, asset_ids)
    unknown = [a.id for a in assets if a.id not in grades and a.cii_designated_on is None]
    registered = _registered_on(session, unknown) if unknown else {}
    found = {}
    for asset in assets:
        facts = AssetFacts(
            asset.id, asset.mlps_level, asset.is_cii, asset.lifecycle, grades.get(asset.id), asset.cii_designated_on
        )
        found[asset.id] = (facts, registered.get(asset.id) or facts.graded_on or facts.cii_designated_on)
    return found


def schedule(
    session: Session, assets: Iterable[tuple[Any, str]], method: Method, scope=None, *, ordered: bool = True
) -> list[Scheduled]:
    """The due dates of these assets (each with its department's code), by due date unless
    `ordered` is False. `scope`, a SELECT of the same assets' ids, lets the histories be read in
    one statement each."""
    pairs = list(assets)
    ids = scope if scope is not None else [a.id for a, _d in pairs]
    known = facts_of(session, [a for a, _d in pairs], ids)
    last: dict[int, dict[str, tuple[date, int]]] = {}
    for (asset_id, kind), value in last_approved(session, ids).items():
        last.setdefault(asset_id, {})[kind] = value
    result = []
    intervals = method.intervals
    for asset, department in pairs:
        facts, fallback = known[asset.id]
        for due in rule.due_dates(facts, last.get(asset.id, {}), intervals, fallback):
            result.append(Scheduled(due, asset, department))
    if ordered:
        result.sort(key=lambda s: (s.due.due_on, s.asset.code, s.due.kind))
    return result


def _where(session: Session, actor: Actor, query: DueQuery) -> list:
    where = [in_scope(Asset.department_id, actor)]
    if query.department:
        where.append(Department.path.startswith(department_by_code(session, query.department, actor).path))
    if query.asset_id is not None:
        where.append(Asset.id == query.asset_id)
    return where


def _scheduled(
    session: Session, actor: Actor, query: DueQuery, method: Method, *, ordered: bool = True
) -> list[Scheduled]:
    where = _where(session, actor, query)
    scope = (
        select(Asset.id)
        .join(Department, Department.id == Asset.department_id)
        .where(Asset.lifecycle.in_(rule.ASSESSED_LIFECYCLES), *where)
    )
    return schedule(session, assessed_assets(session, *where), method, scope, ordered=ordered)


def due_list(session: Session, actor: Actor, query: DueQuery, method: Method, today: date) -> tuple[list[DueRead], int]:
    """A page of the required assessments in scope, earliest due first, filtered by state and kind."""
    found = _scheduled(session, actor, query, method)
    items = []
    for s in found:
        state = s.due.state(today, method.soon_days)
        if query.kind and s.due.kind != query.kind:
            continue
        if query.state == "attention" and state not in ("overdue", "due_soon"):
            continue
        if query.state not in (None, "attention") and state != query.state:
            continue
        items.append((s, state))
    total = len(items)
    page = items[(query.page - 1) * query.page_size : query.page * query.page_size]
    ids = [s.asset.id for s, _state in page]
    owners = responsibility.holders(session, "asset", ids, "owner")
    open_ones = under_way(session, ids)
    return [
        DueRead(
            asset_id=s.asset.id,
            asset_code=s.asset.code,
            asset_name=s.asset.name,
            department=s.department,
            owner=owners[s.asset.id].username if s.asset.id in owners else None,
            mlps_level=s.asset.mlps_level,
            is_cii=s.asset.is_cii,
            kind=s.due.kind,
            interval_months=s.due.interval_months,
            due_on=s.due.due_on,
            state=state,
            last_on=s.due.last_on,
            last_assessment_id=s.due.last_id,
            open_assessment_id=open_ones.get((s.asset.id, s.due.kind)),
        )  # fmt: skip
        for s, state in page
    ], total


def state_counts(
    session: Session, actor: Actor, method: Method, today: date, department: str | None = None
) -> dict[str, int]:
    """How many required assessments in scope are overdue, due soon and on time."""
    counts = {"overdue": 0, "due_soon": 0, "on_time": 0}
    for s in _scheduled(session, actor, DueQuery(department=department), method, ordered=False):
        counts[s.due.state(today, method.soon_days)] += 1
    return counts

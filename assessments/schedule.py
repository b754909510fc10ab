"""When assessments fall due: for every asset in scope, the next required assessment of each
kind from its MLPS level, CII status and last approved assessments (`assessments.rule` states
the intervals). Derived from the records whenever it is read, so it is never stale; the daily
job reports what has newly fallen due."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

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


def graded_on(session: Session, asset_ids: list[int]) -> dict[int, date]:
    """When each asset was graded at its current level: the first entry of the last run of its
    grade history at that level."""
    rows: dict[int, list[tuple]] = {}
    for chunk in chunks(asset_ids):
        for asset_id, level, at in session.exec(
            select(AssetGrade.asset_id, AssetGrade.mlps_level, AssetGrade.changed_at)
            .where(AssetGrade.asset_id.in_(chunk))
            .order_by(AssetGrade.asset_id, AssetGrade.changed_at, AssetGrade.id)
        ).all():
            rows.setdefault(asset_id, []).append((level, at))
    result = {}
    for asset_id, history in rows.items():
        current = history[-1][0]
        since = history[-1][1]
        for level, at in reversed(history):
            if level != current:
                break
            since = at
        result[asset_id] = since.date()
    return result


def last_approved(session: Session, asset_ids: list[int]) -> dict[tuple[int, str], tuple[date, int]]:
    """The last approved assessment of each kind of each asset: (its finishing date, its id)."""
    result: dict[tuple[int, str], tuple[date, int]] = {}
    day = func.coalesce(Assessment.finished_on, Assessment.started_on)
    for chunk in chunks(asset_ids):
        for asset_id, kind, on, assessment_id in session.exec(
            select(Assessment.asset_id, Assessment.kind, day, Assessment.id)
            .where(Assessment.asset_id.in_(chunk), Assessment.status == "approved")
            .order_by(Assessment.asset_id, Assessment.kind, day, Assessment.id)
        ).all():
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
    """An asset's required assessment with what the lists show about the asset."""

    due: Due
    asset: Asset
    department: str


def schedule(session: Session, assets: Iterable[tuple[Asset, str]], method: Method) -> list[Scheduled]:
    """The due dates of these assets (each with its department's code), by due date."""
    pairs = list(assets)
    ids = [a.id for a, _d in pairs]
    grades = graded_on(session, ids)
    last: dict[int, dict[str, tuple[date, int]]] = {}
    for (asset_id, kind), value in last_approved(session, ids).items():
        last.setdefault(asset_id, {})[kind] = value
    result = []
    for asset, department in pairs:
        facts = AssetFacts(
            asset.id, asset.mlps_level, asset.is_cii, asset.lifecycle, grades.get(asset.id), asset.cii_designated_on
        )
        for due in rule.due_dates(facts, last.get(asset.id, {}), method.intervals, asset.created_at.date()):
            result.append(Scheduled(due, asset, department))
    result.sort(key=lambda s: (s.due.due_on, s.asset.code, s.due.kind))
    return result


def _assets(session: Session, actor: Actor, query: DueQuery) -> list[tuple[Asset, str]]:
    where = [in_scope(Asset.department_id, actor), Asset.lifecycle.in_(rule.ASSESSED_LIFECYCLES)]
    if query.department:
        where.append(Department.path.startswith(department_by_code(session, query.department, actor).path))
    if query.asset_id is not None:
        where.append(Asset.id == query.asset_id)
    return list(
        session.exec(
            select(Asset, Department.code).join(Department, Department.id == Asset.department_id).where(*where)
        ).all()
    )


def due_list(session: Session, actor: Actor, query: DueQuery, method: Method, today: date) -> tuple[list[DueRead], int]:
    """A page of the required assessments in scope, earliest due first, filtered by state and kind."""
    found = schedule(session, _assets(session, actor, query), method)
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
    for s in schedule(session, _assets(session, actor, DueQuery(department=department)), method):
        counts[s.due.state(today, method.soon_days)] += 1
    return counts

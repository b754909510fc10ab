"""Required drill coverage: every CII asset, and every department holding an operational system,
is covered by a completed drill within the configured period (`drill_coverage_months`, 12 by
default). An asset is covered by a drill naming it; a department by a drill naming it, or naming
one of its systems, or one of its sub-departments (a drill of a bureau's unit counts for the
bureau too). The gaps come with the last completed drill and the next planned one for each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, union_all
from sqlmodel import Session, select

from assets.models import Asset
from assets.rule import today_utc
from drills import rule
from drills.models import Drill, DrillAsset, DrillDepartment
from drills.schemas import CoverageGap, CoverageRead
from drills.settings import COVERAGE_MONTHS
from secgov import settings
from secgov.authz import Actor, in_scope, path_in_scope
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.localtime import day_start, local
from secgov.models import Department

# Coverage that lapses within this many days is due soon (the accountability matrix).
LAPSING_DAYS = 30


@dataclass
class Seen:
    """The drills seen for one item that must be covered."""

    last: tuple[date, int] | None = None  # (ended on, drill id) of the latest completed drill
    next: tuple[datetime, int] | None = None  # (planned start, drill id) of the earliest planned one

    def completed(self, day: date, drill_id: int) -> None:
        if self.last is None or day > self.last[0]:
            self.last = (day, drill_id)

    def planned(self, start: datetime, drill_id: int) -> None:
        if self.next is None or start < self.next[0]:
            self.next = (start, drill_id)


@dataclass(frozen=True)
class Required:
    """What must be covered as of a day in a scope, each item with the drills seen for it: the CII
    assets (by code) and the departments holding an operational system (by path)."""

    months: int
    since: date
    assets: list[tuple[Asset, Seen]]
    departments: list[tuple[Department, Seen]]
    every_department: dict[int, Department]  # by id, all of them (the assets' departments)

    def covered(self, seen: Seen) -> bool:
        """Whether an item is covered: its latest completed drill ended within the period."""
        return seen.last is not None and seen.last[0] >= self.since


def required(session: Session, actor: Actor, config: ServiceConfig, today: date | None = None) -> Required:
    """Every item that must be covered in the actor's scope as of `today` (an asset registered
    later is not required yet), with its latest completed drill (ended by the end of `today`) and
    its earliest planned one: the one rule behind the coverage page and the appraisal."""
    today = today or today_utc()
    months = settings.get(session, COVERAGE_MONTHS, config)
    since = rule.coverage_since(today, months)
    # As of `today`: a drill that ended later (a report of a past period) does not count yet.
    until = day_start(today + timedelta(days=1), config.timezone)
    departments = {d.id: d for d in session.exec(select(Department)).all()}
    cii = session.exec(
        select(Asset)
        .where(Asset.is_cii, Asset.created_at < until, in_scope(Asset.department_id, actor))
        .order_by(Asset.code)
    ).all()
    holding = set(
        session.exec(
            select(Asset.department_id)
            .where(Asset.lifecycle == "operational", Asset.created_at < until, in_scope(Asset.department_id, actor))
            .distinct()
        ).all()
    )
    required_departments = sorted(
        (departments[i] for i in holding if path_in_scope(departments[i].path, actor)), key=lambda d: d.path
    )
    # For each CII asset and each department named (directly or through one of its systems): the
    # latest completed drill (it counts when it ended within the period) and the earliest planned
    # one, picked by the database; a department's count for the departments above it too.
    asset_links = (
        select(DrillAsset.asset_id.label("key"), DrillAsset.drill_id.label("drill_id"))
        .join(Asset, Asset.id == DrillAsset.asset_id)
        .where(Asset.is_cii)
        .subquery()
    )
    department_links = union_all(
        select(DrillDepartment.department_id.label("key"), DrillDepartment.drill_id.label("drill_id")),
        select(Asset.department_id.label("key"), DrillAsset.drill_id.label("drill_id")).join(
            Asset, Asset.id == DrillAsset.asset_id
        ),
    ).subquery()
    seen_assets: dict[int, Seen] = {}
    seen_departments: dict[int, Seen] = {}
    lines = {i: [int(p) for p in d.path.strip("/").split("/") if p] for i, d in departments.items()}
    for links, target, upwards in ((asset_links, seen_assets, False), (department_links, seen_departments, True)):
        for key, drill_id, ended_at in _first(session, links, "completed", until):
            day = local(ended_at, config.timezone).date()
            for each in lines.get(key, [key]) if upwards else [key]:
                target.setdefault(each, Seen()).completed(day, drill_id)
        for key, drill_id, start in _first(session, links, "planned"):
            for each in lines.get(key, [key]) if upwards else [key]:
                target.setdefault(each, Seen()).planned(start, drill_id)
    return Required(
        months=months,
        since=since,
        assets=[(asset, seen_assets.get(asset.id, Seen())) for asset in cii],
        departments=[(dept, seen_departments.get(dept.id, Seen())) for dept in required_departments],
        every_department=departments,
    )


def coverage(session: Session, actor: Actor, config: ServiceConfig, today: date | None = None) -> CoverageRead:
    """What must be covered in the actor's scope, what is, and the gaps (assets first, by code;
    then departments, by path)."""
    found = required(session, actor, config, today)
    gaps: list[CoverageGap] = []
    for asset, seen in found.assets:
        if not found.covered(seen):
            gaps.append(_gap("asset", asset.code, asset.name, found.every_department[asset.department_id].code, seen))
    for dept, seen in found.departments:
        if not found.covered(seen):
            gaps.append(_gap("department", dept.code, dept.name, dept.code, seen))
    total = len(found.assets) + len(found.departments)
    return CoverageRead(months=found.months, since=found.since, required=total, covered=total - len(gaps), gaps=gaps)


def _first(session: Session, links, status: str, until: datetime | None = None) -> list[tuple[int, int, datetime]]:
    """Per key of `links` (key, drill_id): the latest completed drill ended before `until` (key, its
    id, its end) or the earliest planned one (key, its id, its planned start)."""
    if status == "completed":
        moment, where = (
            Drill.ended_at,
            (Drill.status == "completed", Drill.ended_at.is_not(None), Drill.ended_at < until),
        )
        order = (Drill.ended_at.desc(), Drill.id.desc())
    else:
        moment, where = Drill.planned_start, (Drill.status == "planned",)
        order = (Drill.planned_start.asc(), Drill.id.asc())
    ranked = (
        select(
            links.c.key, Drill.id.label("drill_id"), moment.label("at"),
            func.row_number().over(partition_by=links.c.key, order_by=order).label("n"),
        )
        .join(Drill, Drill.id == links.c.drill_id)
        .where(*where)
        .subquery()
    )  # fmt: skip
    return list(session.execute(select(ranked.c.key, ranked.c.drill_id, ranked.c.at).where(ranked.c.n == 1)).all())


def _gap(kind: str, code: str, name: str, department: str, seen: Seen) -> CoverageGap:
    return CoverageGap(
        kind=kind,
        code=code,
        name=name,
        department=department,
        last_drill_id=seen.last[1] if seen.last else None,
        last_drill_on=seen.last[0] if seen.last else None,
        next_drill_id=seen.next[1] if seen.next else None,
        next_drill_start=seen.next[0] if seen.next else None,
    )


@dataclass(frozen=True)
class AssetCoverage:
    """A CII asset's coverage: its latest completed drill (ended on, id) and its earliest planned
    one (planned start, id)."""

    months: int
    last: tuple[date, int] | None
    next: tuple[datetime, int] | None

    @property
    def lapses_on(self) -> date | None:
        """The day the latest completed drill stops counting (None: no completed drill)."""
        return rule.add_months(self.last[0], self.months) if self.last else None

    def state(self, today: date) -> str:
        """`overdue` when the asset is not covered today (coverage's own test), `due_soon` when
        it will not be within LAPSING_DAYS, `on_time` otherwise."""
        if self.last is None or self.last[0] < rule.coverage_since(today, self.months):
            return "overdue"
        if self.last[0] < rule.coverage_since(today + timedelta(days=LAPSING_DAYS), self.months):
            return "due_soon"
        return "on_time"


def asset_coverage(
    session: Session, config: ServiceConfig, asset_ids: Sequence[int], today: date
) -> dict[int, AssetCoverage]:
    """The coverage of the CII assets among these (the others need no drill), as of `today` like
    coverage(): three statements per 500 assets, and the setting."""
    months = settings.get(session, COVERAGE_MONTHS, config)
    until = day_start(today + timedelta(days=1), config.timezone)
    found: dict[int, AssetCoverage] = {}
    for chunk in chunks(list(asset_ids)):
        cii = session.exec(select(Asset.id).where(Asset.is_cii, Asset.id.in_(chunk))).all()
        if not cii:
            continue
        links = (
            select(DrillAsset.asset_id.label("key"), DrillAsset.drill_id.label("drill_id"))
            .where(DrillAsset.asset_id.in_(cii))
            .subquery()
        )
        seen: dict[int, Seen] = {}
        for key, drill_id, ended_at in _first(session, links, "completed", until):
            seen.setdefault(key, Seen()).completed(local(ended_at, config.timezone).date(), drill_id)
        for key, drill_id, start in _first(session, links, "planned"):
            seen.setdefault(key, Seen()).planned(start, drill_id)
        for asset_id in cii:
            each = seen.get(asset_id, Seen())
            found[asset_id] = AssetCoverage(months, each.last, each.next)
    return found

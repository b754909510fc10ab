"""Required drill coverage: every CII asset, and every department holding an operational system,
is covered by a completed drill within the configured period (`drill_coverage_months`, 12 by
default). An asset is covered by a drill naming it; a department by a drill naming it, or naming
one of its systems, or one of its sub-departments (a drill of a bureau's unit counts for the
bureau too). The gaps come with the last completed drill and the next planned one for each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

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
from secgov.localtime import local
from secgov.models import Department


@dataclass
class _Seen:
    last: tuple[date, int] | None = None  # (ended on, drill id) of the latest completed drill
    next: tuple[datetime, int] | None = None  # (planned start, drill id) of the earliest planned one

    def completed(self, day: date, drill_id: int) -> None:
        if self.last is None or day > self.last[0]:
            self.last = (day, drill_id)

    def planned(self, start: datetime, drill_id: int) -> None:
        if self.next is None or start < self.next[0]:
            self.next = (start, drill_id)


def coverage(session: Session, actor: Actor, config: ServiceConfig, today: date | None = None) -> CoverageRead:
    """What must be covered in the actor's scope, what is, and the gaps (assets first, by code;
    then departments, by path)."""
    today = today or today_utc()
    months = settings.get(session, COVERAGE_MONTHS, config)
    since = rule.coverage_since(today, months)
    departments = {d.id: d for d in session.exec(select(Department)).all()}
    cii = session.exec(
        select(Asset).where(Asset.is_cii, in_scope(Asset.department_id, actor)).order_by(Asset.code)
    ).all()
    holding = set(
        session.exec(
            select(Asset.department_id).where(Asset.lifecycle == "operational", in_scope(Asset.department_id, actor))
        ).all()
    )
    required_departments = sorted(
        (departments[i] for i in holding if path_in_scope(departments[i].path, actor)), key=lambda d: d.path
    )
    # Every completed drill (the latest counts when it ended within the period) and every planned
    # one (the next), with what it covers.
    drills = session.exec(
        select(Drill.id, Drill.status, Drill.ended_at, Drill.planned_start, Drill.department_id).where(
            Drill.status.in_(("completed", "planned")), Drill.ended_at.is_not(None) | (Drill.status == "planned")
        )
    ).all()
    ids = [row[0] for row in drills]
    asset_links: dict[int, list[int]] = {}
    department_links: dict[int, list[int]] = {}
    if ids:
        for drill_id, asset_id, dept_id in session.exec(
            select(DrillAsset.drill_id, DrillAsset.asset_id, Asset.department_id)
            .join(Asset, Asset.id == DrillAsset.asset_id)
            .where(DrillAsset.drill_id.in_(ids))
        ).all():
            asset_links.setdefault(drill_id, []).append(asset_id)
            department_links.setdefault(drill_id, []).append(dept_id)
        for drill_id, dept_id in session.exec(
            select(DrillDepartment.drill_id, DrillDepartment.department_id).where(DrillDepartment.drill_id.in_(ids))
        ).all():
            department_links.setdefault(drill_id, []).append(dept_id)
    seen_assets: dict[int, _Seen] = {}
    seen_departments: dict[int, _Seen] = {}
    for drill_id, status, ended_at, planned_start, _home in drills:
        covered_departments = set()
        for dept_id in department_links.get(drill_id, []):
            # A drill of a department counts for the departments above it too.
            covered_departments.update(int(p) for p in departments[dept_id].path.strip("/").split("/") if p)
        for target, keys in ((seen_assets, asset_links.get(drill_id, [])), (seen_departments, covered_departments)):
            for key in keys:
                seen = target.setdefault(key, _Seen())
                if status == "completed":
                    ended_on = local(ended_at, config.timezone).date()
                    if ended_on <= today:  # as of today: a later drill (a report of a past period) does not count
                        seen.completed(ended_on, drill_id)
                else:
                    seen.planned(planned_start, drill_id)
    gaps: list[CoverageGap] = []
    for asset in cii:
        seen = seen_assets.get(asset.id, _Seen())
        if seen.last is None or seen.last[0] < since:
            gaps.append(_gap("asset", asset.code, asset.name, departments[asset.department_id].code, seen))
    for dept in required_departments:
        seen = seen_departments.get(dept.id, _Seen())
        if seen.last is None or seen.last[0] < since:
            gaps.append(_gap("department", dept.code, dept.name, dept.code, seen))
    required = len(cii) + len(required_departments)
    return CoverageRead(months=months, since=since, required=required, covered=required - len(gaps), gaps=gaps)


def _gap(kind: str, code: str, name: str, department: str, seen: _Seen) -> CoverageGap:
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

"""The asset domain's dashboard tiles (`secgov.dashboard.Tile`): the inventory, grading and
filing, control coverage and vendor origin of the reader's scope. Each is a few grouped queries."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from assets.controls import coverage_tree
from assets.models import Asset
from assets.overdue import overdue
from assets.policy import compliance
from secgov import catalog
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.dashboard import Tile


def _count(session: Session, actor: Actor, *where) -> int:
    return session.exec(
        select(func.count()).select_from(Asset).where(in_scope(Asset.department_id, actor), *where)
    ).one()


def inventory(session: Session, actor: Actor, _config: ServiceConfig, _today: date) -> dict[str, Any]:
    """Systems in scope: how many, how many are CII, by sector and by MLPS level."""
    scope = in_scope(Asset.department_id, actor)
    by_sector = session.exec(select(Asset.sector, func.count()).where(scope).group_by(Asset.sector)).all()
    by_level = session.exec(select(Asset.mlps_level, func.count()).where(scope).group_by(Asset.mlps_level)).all()
    return {
        "systems": sum(n for _s, n in by_sector),
        "cii": _count(session, actor, Asset.is_cii.is_(True)),
        "by_sector": [{"sector": s, "systems": n} for s, n in sorted(by_sector, key=lambda r: (-r[1], r[0]))],
        "by_level": [
            {"level": level, "systems": n} for level, n in sorted(by_level, key=lambda r: (r[0] is None, r[0] or 0))
        ],
    }


def grading(session: Session, actor: Actor, _config: ServiceConfig, _today: date) -> dict[str, Any]:
    """MLPS grading and filing: systems not graded, and graded at a level that must be filed
    without a filing number."""
    required_from = catalog.filing_required_from()
    return {
        "graded": _count(session, actor, Asset.mlps_level.is_not(None)),
        "ungraded": _count(session, actor, Asset.mlps_level.is_(None)),
        "filing_required_from": required_from,
        "unfiled": _count(session, actor, Asset.mlps_level >= required_from, Asset.mlps_filing_number == ""),
    }


def coverage(session: Session, actor: Actor, _config: ServiceConfig, _today: date) -> dict[str, Any]:
    """Control coverage of the scope and of each department one level down (their subtrees)."""
    tree = coverage_tree(session, actor)
    if not tree:
        return {"percent": None, "required": 0, "applicable": 0, "implemented": 0, "partial": 0, "by_department": []}
    top = tree[0]
    return {
        "percent": top.total.percent,
        "required": top.total.required,
        "applicable": top.total.applicable,
        "implemented": top.total.implemented,
        "partial": top.total.partial,
        "by_department": [
            {"department": row.department, "systems": row.assets, "percent": row.total.percent}
            for row in tree
            if row.depth == 1 and row.assets
        ],
    }


def vendor_origin(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """The vendor-origin policy today: violations, warnings, exemptions waiting and expiring."""
    found = compliance(session, actor, config, today)
    return {
        "violations": len(found.violations),
        "warnings": len(found.warnings),
        "exempted": len(found.exempted),
        "pending_exemptions": len(found.pending_exemptions),
        "expiring_exemptions": len(found.expiring_exemptions),
    }


OVERDUE_SHOWN = 5


def overdue_items(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """Overdue duties in the scope (`assets.overdue`): how many, how many have nobody responsible,
    the oldest few, and those whose responsible person is the reader ("waits for you")."""
    items = overdue(session, actor, config, today, compliance(session, actor, config, today).violations)
    mine = [item for item in items if actor.user_id is not None and item.owner_id == actor.user_id]
    return {
        "total": len(items),
        "without_owner": sum(1 for item in items if item.owner_id is None),
        "filing": sum(1 for item in items if item.kind == "filing"),
        "exemption": sum(1 for item in items if item.kind == "exemption"),
        "yours": len(mine),
        "oldest": [item.as_dict() for item in items[:OVERDUE_SHOWN]],
        "yours_oldest": [item.as_dict() for item in mine[:OVERDUE_SHOWN]],
    }


def _coverage_percent(values: dict[str, float]) -> float | None:
    applicable = values.get("controls.applicable", 0)
    done = values.get("controls.implemented", 0) + 0.5 * values.get("controls.partial", 0)
    return round(100 * done / applicable, 1) if applicable else None


TILES: tuple[Tile, ...] = (
    Tile("inventory", N_("Critical systems"), inventory, "assets/tiles/inventory.html", ("assets.registered",)),
    Tile(
        "grading", N_("Grading and filing"), grading, "assets/tiles/grading.html", ("assets.ungraded", "assets.unfiled")
    ),
    Tile(
        "coverage",
        N_("Control coverage"),
        coverage,
        "assets/tiles/coverage.html",
        ("controls.applicable", "controls.implemented", "controls.partial"),
        derived={"coverage": _coverage_percent},
    ),
    Tile(
        "vendor_origin",
        N_("Vendor origin"),
        vendor_origin,
        "assets/tiles/vendor_origin.html",
        ("policy.violations", "policy.warnings"),
    ),
    Tile("overdue", N_("Overdue filings and exemptions"), overdue_items, "assets/tiles/overdue.html"),
)

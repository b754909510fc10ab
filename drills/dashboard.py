"""The drills domain's dashboard tiles (`secgov.dashboard.Tile`), in the reader's scope: drills
held against the required coverage, the coverage gaps, reporting times against the deadlines,
and open, overdue and escalated corrective actions. They count with `drills.coverage` and the
clauses of `drills.readiness`, as the daily figures and the compliance report do."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from assessments.dashboard import href
from drills import actions, coverage, readiness
from drills.models import CorrectiveAction, Drill
from drills.schemas import CoverageRead
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.dashboard import Tile, percent
from secgov.localtime import local

GAPS_SHOWN = 5


def _held(session: Session, actor: Actor, config: ServiceConfig, found: CoverageRead, today: date):
    return readiness.held(session, in_scope(Drill.department_id, actor), found.since, today, config.timezone)


def drills_held(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """Completed drills of the coverage period in scope, against what must be covered: the CII
    systems and the departments holding an operational system (`drills.coverage`)."""
    found = coverage.coverage(session, actor, config, today)
    held = _held(session, actor, config, found, today)
    return {
        "held": len(held),
        "required": found.required,
        "covered": found.covered,
        "percent": percent(found.covered, found.required),
        "months": found.months,
        "since": found.since.isoformat(),
        "links": {"held": href("drills.index", status="completed")},
    }


def coverage_gaps(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """What is not covered by a completed drill within the period, and how many of the gaps
    have a drill planned; the first few listed."""
    found = coverage.coverage(session, actor, config, today)
    return {
        "gaps": len(found.gaps),
        "assets": sum(1 for gap in found.gaps if gap.kind == "asset"),
        "departments": sum(1 for gap in found.gaps if gap.kind == "department"),
        "planned": sum(1 for gap in found.gaps if gap.next_drill_id is not None),
        "months": found.months,
        "first": [
            {
                "kind": gap.kind,
                "code": gap.code,
                "name": gap.name,
                "department": gap.department,
                "next_drill_id": gap.next_drill_id,
                "next_drill_on": local(gap.next_drill_start, config.timezone).date().isoformat()
                if gap.next_drill_start
                else None,
            }
            for gap in found.gaps[:GAPS_SHOWN]
        ],
        "links": {"gaps": href("drills.coverage")},
    }


def drill_reporting(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """How the reportable drills completed within the coverage period reported: on time, late or
    missing against their deadline, and the median minutes to report against the median
    deadline (also by deadline: 60, 120, 240 minutes)."""
    found = coverage.coverage(session, actor, config, today)
    held = _held(session, actor, config, found, today)
    return {
        **readiness.reporting(held),
        "months": found.months,
        "links": {state: href("drills.index", reporting=state) for state in readiness.REPORTING_STATES},
    }


def corrective_actions(session: Session, actor: Actor, _config: ServiceConfig, today: date) -> dict[str, Any]:
    """Corrective actions the reader sees (in scope, or their own): open, overdue, escalated, and
    the reader's own open ones."""
    counted = dict(
        session.exec(
            select(CorrectiveAction.status, func.count())
            .where(actions._visible(actor), readiness.action_open())
            .group_by(CorrectiveAction.status)
        ).all()
    )

    def count(*where) -> int:
        return session.exec(
            select(func.count()).select_from(CorrectiveAction).where(actions._visible(actor), *where)
        ).one()

    yours = count(readiness.action_open(), CorrectiveAction.owner_id == actor.user_id) if actor.user_id else 0
    return {
        "open": sum(counted.values()),
        "in_progress": counted.get("in_progress", 0),
        "overdue": count(readiness.action_overdue(today)),
        "escalated": count(readiness.action_escalated(today)),
        "yours": yours,
        "links": {
            "open": href("drills.actions"),
            "overdue": href("drills.actions", overdue="true"),
            "yours": href("drills.actions", owner=actor.username) if actor.user_id else None,
        },
    }


def _late_share(values: dict[str, float]) -> float | None:
    return percent(values.get("drills.reported_late", 0), values.get("drills.reportable", 0))


TILES: tuple[Tile, ...] = (
    Tile(
        "drills_held",
        N_("Drills held versus required"),
        drills_held,
        "drills/tiles/drills_held.html",
        ("drills.held",),
    ),
    Tile(
        "coverage_gaps",
        N_("Drill coverage gaps"),
        coverage_gaps,
        "drills/tiles/coverage_gaps.html",
        ("drills.coverage_gaps",),
    ),
    Tile(
        "drill_reporting",
        N_("Drill reporting against the deadlines"),
        drill_reporting,
        "drills/tiles/drill_reporting.html",
        ("drills.reportable", "drills.reported_late"),
        derived={"late_share": _late_share},
    ),
    Tile(
        "corrective_actions",
        N_("Corrective actions"),
        corrective_actions,
        "drills/tiles/corrective_actions.html",
        ("drills.actions_open", "drills.actions_overdue"),
    ),
)

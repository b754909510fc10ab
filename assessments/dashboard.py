"""The assessments domain's dashboard tiles (`secgov.dashboard.Tile`): open risks by level,
overdue treatments and reviews, assessments due soon and overdue, and poor conclusions. Each is a
few grouped queries in the reader's scope (the due dates are derived from the records, as the
due list does: `assessments.schedule`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import url_for
from sqlalchemy import func
from sqlmodel import Session, select
from werkzeug.routing import BuildError

from assessments import risks, rule, schedule, services
from assessments.codes import LEVELS, SEVERE
from assessments.models import Assessment
from assessments.schemas import RiskQuery
from assets.models import Asset
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.dashboard import Tile
from secgov.models import Department

POOR_MONTHS = 12  # the poor-conclusions tile looks back this many months
POOR_SHOWN = 5


def href(endpoint: str, **values: Any) -> str | None:
    """The page's address, or None when the app has no such page (yet) or there is no request."""
    try:
        return url_for(endpoint, **values)
    except (BuildError, RuntimeError):
        return None


def open_risks(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """Open risks in scope by level (open, in treatment, or accepted with a lapsed acceptance),
    highest first."""
    found = risks.counts(session, actor, rule.method(session, config), today)
    by_level = [{"level": level, "risks": found.by_level.get(level, 0)} for level in reversed(LEVELS)]
    return {
        "open": sum(row["risks"] for row in by_level),
        "severe": sum(row["risks"] for row in by_level if row["level"] in SEVERE),
        "accepted": found.accepted,
        "by_level": by_level,
        "links": {
            "all": href("risks.index", status="live"),
            **{level: href("risks.index", level=level, status="live") for level in LEVELS},
        },
    }


def risk_overdue(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """Risks whose treatment is past its due date, risks whose review is past due, and
    acceptances ending within 30 days."""
    method = rule.method(session, config)
    found = risks.counts(session, actor, method, today)
    yours = 0
    if actor.user_id is not None:
        _rows, yours = risks.list_risks(
            session, actor, RiskQuery(owner=actor.username, overdue="any", page_size=1), method, today
        )
    return {
        "yours": yours,
        "yours_link": href("risks.index", owner=actor.username, overdue="any"),
        "treatment_overdue": found.treatment_overdue,
        "review_overdue": found.review_overdue,
        "acceptances_expiring": found.acceptances_expiring,
        "links": {
            "treatment": href("risks.index", overdue="treatment"),
            "review": href("risks.index", overdue="review"),
        },
    }


def assessments_due(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
    """Required assessments in scope that are overdue or due soon (`assessments.schedule`)."""
    method = rule.method(session, config)
    counts = schedule.state_counts(session, actor, method, today)
    submitted = session.exec(
        select(Assessment.created_by, Assessment.submitted_by, Assessment.assessors)
        .join(Asset, Asset.id == Assessment.asset_id)
        .where(in_scope(Asset.department_id, actor), Assessment.status == "submitted")
    ).all()
    # Those the reader may decide on (`services.is_author`, the rule of `services.approve`).
    awaiting = sum(1 for row in submitted if not services.is_author(actor.username, row[0], row[1], row[2]))
    returned = session.exec(
        select(func.count(Assessment.id))
        .join(Asset, Asset.id == Assessment.asset_id)
        .where(
            in_scope(Asset.department_id, actor),
            Assessment.status == "returned",
            Assessment.created_by == actor.username,
        )
    ).one()
    return {
        "awaiting_decision": awaiting,
        "returned_to_you": returned,
        "overdue": counts["overdue"],
        "due_soon": counts["due_soon"],
        "on_time": counts["on_time"],
        "soon_days": method.soon_days,
        "links": {
            "overdue": href("assessments.due", state="overdue"),
            "due_soon": href("assessments.due", state="due_soon"),
            "awaiting_decision": href("assessments.index", status="submitted"),
            "returned_to_you": href("assessments.index", status="returned"),
        },
    }


def poor_conclusions(session: Session, actor: Actor, _config: ServiceConfig, today: date) -> dict[str, Any]:
    """Approved assessments in scope concluding poor, finished (or started) in the last
    POOR_MONTHS months up to today; the latest few listed."""
    day = func.coalesce(Assessment.finished_on, Assessment.started_on)
    since = rule.add_months(today, -POOR_MONTHS)
    where = (
        in_scope(Asset.department_id, actor),
        Assessment.status == "approved",
        Assessment.conclusion == "poor",
        day > since,
        day <= today,
    )
    rows = session.exec(
        select(Assessment.id, Assessment.kind, day, Assessment.score, Asset.id, Asset.code, Department.code)
        .join(Asset, Asset.id == Assessment.asset_id)
        .join(Department, Department.id == Asset.department_id)
        .where(*where)
        .order_by(day.desc(), Assessment.id.desc())
    ).all()
    return {
        "poor": len(rows),
        "systems": len({row[4] for row in rows}),
        "since": since.isoformat(),
        "months": POOR_MONTHS,
        "latest": [
            {
                "id": assessment_id,
                "kind": kind,
                "on": on.isoformat(),
                "score": score,
                "asset_id": asset_id,
                "asset": code,
                "department": department,
                "href": href("assessments.detail", assessment_id=assessment_id),
            }
            for assessment_id, kind, on, score, asset_id, code, department in rows[:POOR_SHOWN]
        ],
        "links": {"all": href("assessments.index", status="approved", conclusion="poor")},
    }


TILES: tuple[Tile, ...] = (
    Tile(
        "open_risks",
        N_("Open risks"),
        open_risks,
        "assessments/tiles/open_risks.html",
        ("risks.open", "risks.open_severe"),
    ),
    Tile(
        "risk_overdue",
        N_("Risk treatments and reviews"),
        risk_overdue,
        "assessments/tiles/risk_overdue.html",
        ("risks.treatment_overdue", "risks.review_overdue"),
    ),
    Tile(
        "assessments_due",
        N_("Assessments due"),
        assessments_due,
        "assessments/tiles/assessments_due.html",
        ("assessments.overdue", "assessments.due_soon"),
    ),
    Tile("poor_conclusions", N_("Poor conclusions"), poor_conclusions, "assessments/tiles/poor_conclusions.html"),
)

"""The asset page's assessment section (declared as a `secgov.registry.AssetSection`): the next
due date of each required kind with its state, the last approved assessments and the risks still
open. The asset domain includes it without importing this package."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from assessments import risks, rule, schedule, services
from assessments.schemas import AssessmentQuery, DueQuery, RiskQuery
from secgov.authz import Actor
from secgov.config import ServiceConfig

TEMPLATE = "assessments/_asset_calendar.html"


def asset_calendar(session: Session, actor: Actor, config: ServiceConfig, asset, today: date | None = None) -> dict:
    """The section's context for one asset already found in the actor's scope."""
    today = today or services.today_utc()
    method = rule.method(session, config)
    due, _n = schedule.due_list(session, actor, DueQuery(asset_id=asset.id, page_size=20), method, today)
    approved, approved_total = services.list_assessments(
        session, actor, AssessmentQuery(asset_id=asset.id, status="approved", page_size=5)
    )
    under_way, _u = services.list_assessments(session, actor, AssessmentQuery(asset_id=asset.id, page_size=20))
    live, live_total = risks.list_risks(
        session, actor, RiskQuery(asset_id=asset.id, status="live", page_size=200), method, today
    )
    by_level = {level: 0 for level in risks.LEVELS}
    for risk in live:
        by_level[risk.level] += 1
    return {
        "asset_id": asset.id,
        "due": due,
        "approved": approved,
        "approved_total": approved_total,
        "under_way": [a for a in under_way if a.status != "approved"],
        "live_total": live_total,
        "by_level": by_level,
        "severe_open": asset.id in risks.severe_open(session, [asset.id], today),
    }

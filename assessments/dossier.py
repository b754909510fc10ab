"""The assessments domain's sections of the per-asset dossier (the asset domain's report kind
"dossier", `assets.dossier`): the asset's assessments (their history, the latest approved one's
score and conclusion, the next due date of each required kind) and its risks.

Declared as chapters of that kind here, so that the asset domain knows nothing of assessments.
Each builder finds the asset by the report's subject in the report's scope, as the asset
domain's sections do, and reads it as of the dossier's day."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from assessments import risks, rule, schedule
from assessments.codes import LEVELS
from assessments.models import Assessment, Risk
from assets.chapters import _listed as listed
from assets.dossier import KIND, asset_in_scope
from secgov import responsibility
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.models import Department
from secgov.reports.chapters import Chapter, Period, Scope

_RANK = {code: rank for rank, code in enumerate(LEVELS)}


def _method(session: Session, config: Mapping[str, Any]) -> rule.Method:
    return rule.method(session, ServiceConfig.from_mapping(config))


def assessments(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The asset's assessments, newest first; the latest approved one; the next due date of each
    kind the asset needs (`assessments.schedule`)."""
    asset = asset_in_scope(session, scope.actor, scope.subject)
    method = _method(session, config)
    day = func.coalesce(Assessment.finished_on, Assessment.started_on)
    rows = session.exec(
        select(Assessment).where(Assessment.asset_id == asset.id).order_by(day.desc(), Assessment.id.desc())
    ).all()
    history = [
        {
            "id": a.id,
            "kind": a.kind,
            "status": a.status,
            "title": a.title,
            "started_on": a.started_on.isoformat(),
            "finished_on": a.finished_on.isoformat() if a.finished_on else None,
            "agency": a.agency,
            "report_number": a.report_number,
            "score": a.score if a.status == "approved" else None,
            "conclusion": a.conclusion if a.status == "approved" else "",
            "decided_by": a.decided_by if a.status == "approved" else "",
        }
        for a in rows
    ]
    latest = next((row for row in history if row["status"] == "approved"), None)
    department = session.get(Department, asset.department_id)
    due = [
        {
            "kind": s.due.kind,
            "interval_months": s.due.interval_months,
            "last_on": s.due.last_on.isoformat() if s.due.last_on else None,
            "due_on": s.due.due_on.isoformat(),
            "state": s.due.state(period.end, method.soon_days),
        }
        for s in schedule.schedule(session, [(asset, department.code)], method)
    ]
    return {
        "latest": latest,
        "severe_open": asset.id in risks.severe_open(session, [asset.id], period.end),
        "due": due,
        "history": listed(history),
    }


def asset_risks(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The asset's risks: open ones first, the highest level first, with their owners, treatment,
    acceptance and review dates."""
    asset = asset_in_scope(session, scope.actor, scope.subject)
    method = _method(session, config)
    today = period.end
    open_ids = set(session.exec(select(Risk.id).where(Risk.asset_id == asset.id, risks.open_clause(today))).all())
    rows = session.exec(select(Risk).where(Risk.asset_id == asset.id)).all()
    owners = responsibility.holders(session, risks.SUBJECT, [r.id for r in rows], risks.OWNER)
    ordered = sorted(rows, key=lambda r: (r.status == "closed", r.id not in open_ids, -_RANK.get(r.level, 0), r.id))
    listed_rows = []
    for risk in ordered:
        upcoming = risks.next_review(risk, method)
        owner = owners.get(risk.id)
        listed_rows.append(
            {
                "id": risk.id,
                "title": risk.title,
                "level": risk.level,
                "likelihood": risk.likelihood,
                "impact": risk.impact,
                "residual_level": risk.residual_level,
                "status": risk.status,
                "open": risk.id in open_ids,
                "treatment": risk.treatment,
                "due": risk.due_date.isoformat() if risk.due_date else None,
                "treatment_late": risks.treatment_overdue(risk, today),
                "next_review": upcoming.isoformat() if upcoming else None,
                "review_late": upcoming is not None and upcoming < today,
                "owner": (owner.display_name or owner.username) if owner else "",
            }
        )
    by_level = {level: 0 for level in LEVELS}
    for risk in rows:
        if risk.id in open_ids:
            by_level[risk.level] += 1
    return {
        "total": len(rows),
        "open": len(open_ids),
        "accepted": sum(1 for r in rows if r.status == "accepted" and r.id not in open_ids),
        "closed": sum(1 for r in rows if r.status == "closed"),
        "by_level": [{"level": level, "risks": by_level[level]} for level in reversed(LEVELS)],
        "risks": listed(listed_rows),
    }


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "assessments",
        N_("Assessments"),
        "reports/dossier/assessments.html",
        assessments,
        order=50,
        report=KIND,
        method=(
            N_(
                "Assessments: every assessment of the asset, newest first; score and conclusion are those fixed"
                " at approval. Next due: for each kind the asset requires, the last approved one plus the"
                " kind's interval (never assessed: its grading or CII designation plus the interval)."
            ),
        ),
    ),
    Chapter(
        "risks",
        N_("Risks"),
        "reports/dossier/risks.html",
        asset_risks,
        order=60,
        report=KIND,
        method=(
            N_(
                "Risks: every risk of the asset, open ones first and the highest level first, with the owner"
                " now, the treatment's due date and the next review; an accepted risk whose acceptance has"
                " lapsed counts as open."
            ),
        ),
    ),
)

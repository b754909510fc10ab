"""The drills domain's chapters: "drills held versus required, with open corrective actions" in the
compliance report (the required coverage by bureau, the gaps with the next planned drill, the
drills completed in the period with their reporting against the deadlines, the corrective actions
overdue with their owners), and the chapters of a drill's after-action report (`drills.aar`).

The builders read the drills of the report's scope (its actor's subtree) as they are when the
report is generated, as of the report's last day, with `drills.coverage` and the clauses of
`drills.readiness` (the dashboard and the daily figures count with them too). Overdue corrective
actions go to the core's overdue chapter as well; the coverage share is a score component. Lists
are cut at `LIST_LIMIT` rows, the number left out beside them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlmodel import Session, select

from assets.chapters import _listed as listed
from assets.models import Asset
from drills import actions, coverage, readiness
from drills.models import CorrectiveAction, Drill
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.localtime import local
from secgov.models import Department, User
from secgov.reports.chapters import Chapter, Period, Scope, share

OVERDUE_WHAT = N_("Corrective action overdue")


def _person(user: User | None) -> str:
    return (user.display_name or user.username) if user else ""


def _narrowed(actor: Actor, department: Department) -> Actor:
    """The actor's scope narrowed to a department's subtree (a bureau of the report's scope)."""
    return dataclasses.replace(actor, scope=department.path, department_id=department.id)


def _by_bureau(session: Session, scope: Scope, config: ServiceConfig, today: date, total, held) -> list[dict]:
    """The required coverage of the scope's own items and of each department one level below it
    (its whole subtree), with the drills each held in the report's period."""
    top = session.get(Department, scope.department_id)
    bureaus = session.exec(select(Department).where(Department.parent_id == top.id).order_by(Department.code)).all()
    paths = dict(session.exec(select(Department.id, Department.path)).all())
    rows = []
    for bureau in bureaus:
        found = coverage.coverage(session, _narrowed(scope.actor, bureau), config, today)
        mine = sum(1 for d in held if paths.get(d.department_id, "").startswith(bureau.path))
        rows.append(
            {
                "department": bureau.code,
                "name": bureau.name,
                "name_en": bureau.name_en,
                "own": False,
                "required": found.required,
                "covered": found.covered,
                "gaps": len(found.gaps),
                "held": mine,
                "share": share(found.covered, found.required),
            }
        )
    own = {
        "department": top.code,
        "name": top.name,
        "name_en": top.name_en,
        "own": True,
        "required": total.required - sum(r["required"] for r in rows),
        "covered": total.covered - sum(r["covered"] for r in rows),
        "gaps": len(total.gaps) - sum(r["gaps"] for r in rows),
        "held": len(held) - sum(r["held"] for r in rows),
    }
    own["share"] = share(own["covered"], own["required"])
    return [own, *rows]


def drill_readiness(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The compliance report's chapter on drills (see the module docstring)."""
    service_config = ServiceConfig.from_mapping(config)
    tz = service_config.timezone
    today = period.end
    actor = scope.actor
    total = coverage.coverage(session, actor, service_config, today)
    held = readiness.held(session, in_scope(Drill.department_id, actor), period.start, period.end, tz)
    codes = dict(session.exec(select(Department.id, Department.code)).all())
    planned_ids = {gap.next_drill_id for gap in total.gaps if gap.next_drill_id}
    titles = (
        dict(session.exec(select(Drill.id, Drill.title).where(Drill.id.in_(planned_ids))).all()) if planned_ids else {}
    )
    gaps = [
        {
            "kind": gap.kind,
            "code": gap.code,
            "name": gap.name,
            "department": gap.department,
            "last_drill_on": gap.last_drill_on.isoformat() if gap.last_drill_on else None,
            "next_drill_id": gap.next_drill_id,
            "next_drill_title": titles.get(gap.next_drill_id, "") if gap.next_drill_id else "",
            "next_drill_on": local(gap.next_drill_start, tz).date().isoformat() if gap.next_drill_start else None,
        }
        for gap in total.gaps
    ]
    reported = readiness.reporting(held)
    drills = [
        {
            "id": d.id,
            "title": d.title,
            "department": codes.get(d.department_id, ""),
            "exercise_type": d.exercise_type,
            "incident_grade": d.incident_grade,
            "ended_on": local(d.ended_at, tz).date().isoformat(),
            "report_minutes": d.report_minutes,
            "deadline": d.deadline,
            "reporting": d.reporting,
        }
        for d in held
    ]
    late = session.exec(
        select(CorrectiveAction, Drill.title, User, Asset.code, Asset.name)
        .join(Drill, Drill.id == CorrectiveAction.drill_id)
        .outerjoin(User, User.id == CorrectiveAction.owner_id)
        .outerjoin(Asset, Asset.id == CorrectiveAction.asset_id)
        .where(in_scope(CorrectiveAction.department_id, actor), readiness.action_overdue(today))
        .order_by(CorrectiveAction.due_date, CorrectiveAction.id)
    ).all()
    open_actions = session.exec(
        select(CorrectiveAction.id).where(in_scope(CorrectiveAction.department_id, actor), readiness.action_open())
    ).all()
    overdue_rows = [
        {
            "id": action.id,
            "title": action.title,
            "drill_id": action.drill_id,
            "drill_title": drill_title,
            "status": action.status,
            "owner": _person(owner),
            "department": codes.get(action.department_id, ""),
            "due": action.due_date.isoformat(),
            "days_late": (today - action.due_date).days,
            "escalated_on": local(action.escalated_at, tz).date().isoformat() if action.escalated_at else None,
        }
        for action, drill_title, owner, _code, _name in late
    ]
    return {
        "months": total.months,
        "since": total.since.isoformat(),
        "as_of": today.isoformat(),
        "required": total.required,
        "covered": total.covered,
        "gaps_total": len(total.gaps),
        "coverage_share": share(total.covered, total.required),
        "held": len(held),
        "by_bureau": _by_bureau(session, scope, service_config, today, total, held),
        "gaps": listed(gaps),
        "drills": listed(drills),
        "reporting": reported,
        "actions_open": len(open_actions),
        "actions_overdue": len(overdue_rows),
        "actions_escalated": sum(1 for row in overdue_rows if row["escalated_on"]),
        "late_actions": listed(overdue_rows),
        "overdue": [
            {
                "kind": "drill_action",
                "what": OVERDUE_WHAT,
                "about": f"#{action.id} {action.title} · {drill_title}",
                "asset": code or "",
                "name": name or "",
                "department": codes.get(action.department_id, ""),
                "due": action.due_date.isoformat(),
                "days_late": (today - action.due_date).days,
                "owner": _person(owner),
                "subject_type": actions.SUBJECT,
                "subject_id": action.id,
                "duty": actions.OWNER,
            }
            for action, drill_title, owner, code, name in late
        ],
        "score": [{"label": N_("Required drill coverage"), "value": share(total.covered, total.required)}],
        "headline": [
            {"label": N_("Drills completed in the period"), "value": len(held)},
            {"label": N_("Drill coverage gaps"), "value": len(total.gaps)},
            {"label": N_("Drills reported late or not at all"), "value": reported["late"] + reported["missing"]},
            {"label": N_("Corrective actions overdue"), "value": len(overdue_rows)},
        ],
    }


METHOD_DRILLS = (
    N_(
        "Drills: every CII system, and every department holding an operational system, is to be covered by a"
        " drill completed within the coverage period (12 months by default) before the report's last day; a"
        " drill of a department counts for the departments above it. A gap lists the last completed drill and"
        " the next one planned. Reporting is on time when the drill's report came within the deadline of the"
        " strictest operator it involves (CII operator 1 hour, central or state organ 2 hours, others 4 hours),"
        " late after it, missing when the drill ended without one; grade IV incidents are not reportable."
        " Corrective actions are overdue when still open or in progress after their due date; escalated ones"
        " were reported to the owner's department head."
    ),
)


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "drill_readiness",
        N_("Drills held versus required, with open corrective actions"),
        "reports/chapters/drill_readiness.html",
        drill_readiness,
        order=60,
        method=METHOD_DRILLS,
    ),
)

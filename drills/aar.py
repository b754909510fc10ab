"""A drill's after-action report: a report about one completed drill (`secgov.reports.kinds`), as
of the day it is made, asked for, generated, archived and read like the asset dossier (the report
routes, `python -m secgov report after_action ID`, the drill's page), in either language.

Its chapters follow the HSEEP after-action report: the overview (the drill, its type, simulated
grade, dates, scope and participants), the objectives with their P/S/M/U ratings, the times
measured from the timeline against the reporting deadline, the strengths, the areas for
improvement, the improvement plan (corrective actions with owner, due date and status) and the
report's approval. Each builder finds the drill by the report's subject (its number) in the
report's scope and reads it as it is when the report is generated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session, select

from assets.chapters import _listed as listed
from drills import actions, readiness, rule, services
from drills.models import CorrectiveAction, Drill, DrillObjective
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.errors import Invalid, NotFound
from secgov.localtime import shown
from secgov.models import Department, User
from secgov.reports.chapters import FOOTER_METHOD, Chapter, Period, Scope
from secgov.reports.kinds import ReportKind, Subject

KIND = "after_action"
TIMES = (
    ("detected", "detect_minutes", N_("Time to detect")),
    ("reported", "report_minutes", N_("Time to report")),
    ("contained", "contain_minutes", N_("Time to contain")),
    ("recovered", "recover_minutes", N_("Time to recover")),
)


def drill_in_scope(session: Session, actor: Actor, code: str) -> Drill:
    """The drill of this number in the actor's scope (NotFound otherwise, the refusal audited
    when it exists out of scope); Invalid unless it is completed."""
    text = (code or "").strip().lstrip("#")
    if not text.isdigit() or not 0 < int(text) < 2**31:
        raise NotFound(_("No drill with this number."), field="asset")
    drill = services.get(session, actor, int(text))
    if drill.status != "completed":
        raise Invalid(_("Only a completed drill has an after-action report."), field="asset")
    return drill


def resolve(session: Session, actor: Actor, code: str) -> Subject:
    drill = drill_in_scope(session, actor, code)
    return Subject(str(drill.id), drill.department_id)


def _tz(config: Mapping[str, Any]) -> str:
    return ServiceConfig.from_mapping(config).timezone


def _when(value, config: Mapping[str, Any]) -> str:
    return shown(value, _tz(config)) if value else ""


def _drill(session: Session, scope: Scope) -> Drill:
    return drill_in_scope(session, scope.actor, scope.subject)


def overview(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The drill: what, when, who led it, what it covered and who took part."""
    drill = _drill(session, scope)
    record = services.read(session, drill)
    department = session.get(Department, drill.department_id)
    lead = session.get(User, drill.lead_id)
    return {
        "id": drill.id,
        "title": drill.title,
        "scenario": drill.scenario,
        "exercise_type": drill.exercise_type,
        "incident_grade": drill.incident_grade,
        "department": {"code": department.code, "name": department.name, "name_en": department.name_en},
        "lead": (lead.display_name or lead.username) if lead else "",
        "planned_start": _when(drill.planned_start, config),
        "duration_minutes": drill.duration_minutes,
        "started_at": _when(drill.started_at, config),
        "ended_at": _when(drill.ended_at, config),
        "recurrence_months": drill.recurrence_months,
        "assets": record.assets,
        "departments": record.departments,
        "participants": [p.model_dump() for p in record.participants],
        "aar_status": drill.aar_status,
    }


def objectives(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The objectives in order, each with its P/S/M/U rating and note."""
    drill = _drill(session, scope)
    rows = session.exec(
        select(DrillObjective).where(DrillObjective.drill_id == drill.id).order_by(DrillObjective.position)
    ).all()
    return {
        "objectives": [
            {"position": n, "text": o.text, "rating": o.rating, "note": o.note} for n, o in enumerate(rows, 1)
        ],
        "ratings": readiness.ratings([o.rating for o in rows]),
    }


def times(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The minutes from the start to each milestone of the timeline, the reporting deadline that
    applied and how reporting compares with it; the timeline's milestone entries."""
    drill = _drill(session, scope)
    record = services.read(session, drill)
    return {
        "times": [
            {"milestone": milestone, "label": label, "minutes": getattr(drill, field)}
            for milestone, field, label in TIMES
        ],
        "deadline": drill.report_deadline_minutes,
        "reporting": rule.reporting(drill.report_minutes, drill.report_deadline_minutes, drill.status),
        "timeline": listed(
            [
                {"at": _when(e.at, config), "who": e.who, "text": e.text, "milestone": e.milestone}
                for e in record.timeline
            ]
        ),
    }


def strengths(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": _drill(session, scope).strengths}


def improvements(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": _drill(session, scope).improvements}


def plan(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The improvement plan: every corrective action of the drill, the earliest due first, with
    its owner, due date and status (overdue ones marked) as of the report's day."""
    drill = _drill(session, scope)
    rows = session.exec(
        select(CorrectiveAction)
        .where(CorrectiveAction.drill_id == drill.id)
        .order_by(CorrectiveAction.due_date, CorrectiveAction.id)
    ).all()
    read = actions.read_many(session, list(rows), period.end)
    names = dict(
        session.exec(select(User.username, User.display_name).where(User.username.in_({a.owner for a in read}))).all()
    )
    objective_texts = dict(
        session.exec(select(DrillObjective.id, DrillObjective.text).where(DrillObjective.drill_id == drill.id)).all()
    )
    return {
        "actions": listed(
            [
                {
                    "id": a.id,
                    "title": a.title,
                    "description": a.description,
                    "objective": objective_texts.get(a.objective_id, "") if a.objective_id else "",
                    "asset": a.asset,
                    "owner": names.get(a.owner) or a.owner,
                    "department": a.department,
                    "due": a.due_date.isoformat(),
                    "status": a.status,
                    "overdue": a.overdue,
                    "days_overdue": a.days_overdue,
                    "risk_id": a.risk_id,
                }
                for a in read
            ]
        ),
        "open": sum(1 for a in read if a.status in ("open", "in_progress")),
        "late": sum(1 for a in read if a.overdue),  # not "overdue": that key is the core's overdue chapter's
    }


def approval(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The report's approval: approved by a leader (who, when), or still a draft."""
    drill = _drill(session, scope)
    approver = (
        session.exec(select(User).where(User.username == drill.aar_approved_by)).first()
        if drill.aar_approved_by
        else None
    )
    return {
        "status": drill.aar_status,
        "approved_by": ((approver.display_name or approver.username) if approver else drill.aar_approved_by),
        "approved_at": _when(drill.aar_approved_at, config),
        "completed_at": _when(drill.completed_at, config),
    }


def _about(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _method(text: str) -> tuple[str, ...]:
    return (text,)


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "aar_overview",
        N_("Exercise overview"),
        "reports/drills/overview.html",
        overview,
        order=10,
        report=KIND,
        method=_method(
            N_(
                "Overview: the drill as recorded when the report is made: its exercise type (HSEEP), the simulated"
                " incident grade, its planned and actual times, the systems and departments in scope and the"
                " participants."
            )
        ),
    ),
    Chapter(
        "aar_objectives",
        N_("Objectives and capability ratings"),
        "reports/drills/objectives.html",
        objectives,
        order=20,
        report=KIND,
        method=_method(
            N_(
                "Ratings (HSEEP): P performed without challenges, S performed with some challenges, M performed with"
                " major challenges, U unable to be performed."
            )
        ),
    ),
    Chapter(
        "aar_times",
        N_("Measured times and the reporting deadline"),
        "reports/drills/times.html",
        times,
        order=30,
        report=KIND,
        method=_method(
            N_(
                "Measured times: minutes from the drill's actual start to the earliest timeline entry marking each"
                " milestone. The reporting deadline is the strictest of the operators involved (CII operator 1"
                " hour, central or state organ 2 hours, others 4 hours); grade IV incidents are not reportable."
            )
        ),
    ),
    Chapter("aar_strengths", N_("Strengths"), "reports/drills/text.html", strengths, order=40, report=KIND),
    Chapter(
        "aar_improvements", N_("Areas for improvement"), "reports/drills/text.html", improvements, order=50, report=KIND
    ),
    Chapter(
        "aar_plan",
        N_("Improvement plan"),
        "reports/drills/plan.html",
        plan,
        order=60,
        report=KIND,
        method=_method(
            N_(
                "Improvement plan: the drill's corrective actions with their owner, due date and status on the"
                " report's day; an open or in-progress action is overdue from the day after its due date."
            )
        ),
    ),
    Chapter(
        "aar_approval",
        N_("Approval"),
        "reports/drills/approval.html",
        approval,
        order=70,
        report=KIND,
        method=_method(N_("Approval: a leader approves the after-action report; until then it is a draft.")),
    ),
    Chapter(
        "aar_about",
        N_("About this report"),
        "reports/chapters/methodology.html",
        _about,
        order=1000,
        report=KIND,
        method=(FOOTER_METHOD,),
    ),
)

AFTER_ACTION = ReportKind(
    KIND,
    N_("After-action report"),
    "reports/after_action.html",
    subject=resolve,
    subject_label=N_("Drill"),
    periodic=False,
    registers=False,  # about one drill: the department's registers do not go with it
)

REPORT_KINDS: tuple[ReportKind, ...] = (AFTER_ACTION,)

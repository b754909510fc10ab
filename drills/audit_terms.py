"""The drills domain's words in the audit log (see secgov.audit_terms): its actions, the objects
they name and the page of each, and the fields of their details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, select

from drills.models import CorrectiveAction, Drill
from secgov.audit_terms import AuditTerms, FieldTerm, ObjectKind
from secgov.authz import Actor, in_scope
from secgov.codes import N_


def _numbers(ids: Sequence[str]) -> list[int]:
    return [int(i) for i in ids if i.isdigit() and len(i) < 19]


def _scoped(model: type):
    def locate(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
        rows = session.exec(
            select(model.id).where(model.id.in_(_numbers(ids)), in_scope(model.department_id, actor))
        ).all()
        return {str(i): i for i in rows}

    return locate


def _actions(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    mine = (
        CorrectiveAction.owner_id == actor.user_id if actor.user_id else in_scope(CorrectiveAction.department_id, actor)
    )
    rows = session.exec(
        select(CorrectiveAction.id).where(
            CorrectiveAction.id.in_(_numbers(ids)), or_(in_scope(CorrectiveAction.department_id, actor), mine)
        )
    ).all()
    return {str(i): i for i in rows}


TERMS = AuditTerms(
    actions={
        "drill.created": N_("Drill planned"),
        "drill.updated": N_("Drill changed"),
        "drill.started": N_("Drill started"),
        "drill.entry_added": N_("Drill timeline entry added"),
        "drill.entry_removed": N_("Drill timeline entry removed"),
        "drill.recorded": N_("Drill record changed"),
        "drill.completed": N_("Drill completed"),
        "drill.cancelled": N_("Drill cancelled"),
        "drill.report_approved": N_("After-action report approved"),
        "drill.commented": N_("Comment on a drill"),
        "drill.reminded": N_("Drill reminder sent"),
        "corrective_action.created": N_("Corrective action added"),
        "corrective_action.updated": N_("Corrective action changed"),
        "corrective_action.deleted": N_("Corrective action removed"),
        "corrective_action.escalated": N_("Overdue corrective action escalated"),
        "corrective_action.reminded": N_("Overdue corrective action reminder sent"),
        "corrective_action.denied": N_("Change of a corrective action refused"),
        "drill_request.created": N_("Drill asked for"),
        "drill_request.scheduled": N_("Drill request scheduled"),
        "drill_request.declined": N_("Drill request declined"),
        "calendar_feed.created": N_("Calendar feed created"),
        "calendar_feed.revoked": N_("Calendar feed revoked"),
        "demo.drills_loaded": N_("Demo drills loaded"),
    },
    groups={
        "drill": N_("Drills"),
        "corrective_action": N_("Corrective actions"),
        "drill_request": N_("Requests for drills"),
        "calendar_feed": N_("Calendar feeds"),
    },
    objects={
        "drill": ObjectKind(N_("Drill"), "drills.detail", "drill_id", _scoped(Drill)),
        "corrective_action": ObjectKind(N_("Corrective action"), "drills.action", "action_id", _actions),
        "drill_request": ObjectKind(N_("Request for a drill")),
    },
    fields={
        "drill.title": FieldTerm(N_("Title")),
        "exercise_type": FieldTerm(N_("Exercise type"), codes="exercise_type"),
        "incident_grade": FieldTerm(N_("Simulated incident grade"), codes="incident_grade"),
        "lead": FieldTerm(N_("Lead")),
        "planned_start": FieldTerm(N_("Planned start")),
        "duration_minutes": FieldTerm(N_("Duration (minutes)")),
        "recurrence_months": FieldTerm(N_("Recurs every (months)")),
        "drill.status": FieldTerm(N_("Status"), codes="drill_status"),
        "drill.assets": FieldTerm(N_("Systems")),
        "drill.departments": FieldTerm(N_("Departments")),
        "report_deadline_minutes": FieldTerm(N_("Reporting deadline (minutes)")),
        "report_minutes": FieldTerm(N_("Reported after (minutes)")),
        "started_at": FieldTerm(N_("Started")),
        "ended_at": FieldTerm(N_("Ended")),
        "strengths": FieldTerm(N_("Strengths")),
        "improvements": FieldTerm(N_("Areas for improvement")),
        "ratings": FieldTerm(N_("Ratings")),
        "aar_status": FieldTerm(N_("After-action report"), codes="aar_status"),
        "at": FieldTerm(N_("Time")),
        "drill.text": FieldTerm(N_("Text")),
        "who": FieldTerm(N_("Who")),
        "milestone": FieldTerm(N_("Milestone"), codes="drill_milestone"),
        "drill_id": FieldTerm(N_("Drill")),
        "previous_id": FieldTerm(N_("Follows drill")),
        "corrective_action.title": FieldTerm(N_("Title")),
        "corrective_action.status": FieldTerm(N_("Status"), codes="action_status"),
        "owner": FieldTerm(N_("Owner")),
        "head": FieldTerm(N_("Department head")),
        "days_overdue": FieldTerm(N_("Days overdue")),
        "drill_request.title": FieldTerm(N_("Title")),
        "due_by": FieldTerm(N_("Wanted by")),
        "prefix": FieldTerm(N_("Token prefix")),
        "operator_kind": FieldTerm(N_("Operator kind"), codes="operator_kind"),
        "drills": FieldTerm(N_("Drills")),
        "operator_kinds": FieldTerm(N_("Operator kinds set")),
    },
)

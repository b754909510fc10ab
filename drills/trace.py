"""The lapses of the drills domain that the accountability trace follows
(secgov.accountability.trace): a corrective action left open after its due date (its owner
answers, from the day after) and a drill objective rated U, unable to be performed (the drill's
lead answers, from the moment the drill ended)."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import gettext as _
from sqlmodel import Session

from drills import actions, rule, services
from drills.models import CorrectiveAction, Drill, DrillObjective
from secgov.accountability.trace import Lapse, TraceSource, number
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.errors import NotFound
from secgov.localtime import day_start

FAILED = "U"  # capability_rating: unable to be performed


def overdue_action(session: Session, actor: Actor, ref: str, config: ServiceConfig, today: date) -> Lapse | None:
    action: CorrectiveAction = actions.get_action(session, actor, number(ref))
    if not rule.overdue(action.due_date, action.status, today):
        return None
    return Lapse(
        kind="action_overdue", record_type="corrective_action", record_id=action.id, title=action.title,
        at=day_start(action.due_date + timedelta(days=1), config.timezone), department_id=action.department_id,
        subject_type=actions.SUBJECT, subject_id=action.id, duty=actions.OWNER, duty_label=N_("Action owner"),
    )  # fmt: skip


def failed_objective(session: Session, actor: Actor, ref: str, config: ServiceConfig, today: date) -> Lapse | None:
    """ref: "DRILL_ID/OBJECTIVE_ID" (the drill in scope first, so that an objective of a drill out
    of scope costs what a missing one costs)."""
    drill_ref, _sep, objective_ref = ref.partition("/")
    drill: Drill = services.get(session, actor, number(drill_ref))
    objective = session.get(DrillObjective, number(objective_ref))
    if objective is None or objective.drill_id != drill.id:
        raise NotFound(_("Not found."))
    if objective.rating != FAILED or drill.ended_at is None:
        return None
    return Lapse(
        kind="objective_failed", record_type="drill", record_id=drill.id, title=f"{drill.title}: {objective.text}",
        at=drill.ended_at, department_id=drill.department_id,
        subject_type=services.SUBJECT, subject_id=drill.id, duty=services.LEAD, duty_label=N_("Drill lead"),
    )  # fmt: skip


SOURCES = (
    TraceSource("action_overdue", N_("Corrective action overdue"), overdue_action),
    TraceSource("objective_failed", N_("Drill objective failed"), failed_objective),
)

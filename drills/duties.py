"""The drills domain's duties (secgov.accountability): each drill that is planned or under way
has a lead, and each open corrective action an owner. Both records name their holder
(`Drill.lead_id`, `CorrectiveAction.owner_id`), so a holder given through the accountability's
assignment changes the record too (`applied`), from now on; who may hold them is the drills'
own rule (`drills.services._user`: an active user in the drill team's scope), and an action goes
to its owner's department, as when the drill team changes the owner on the action."""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import gettext as _
from sqlalchemy import Select
from sqlmodel import Session, select

from drills import actions, services
from drills.codes import ACTION_OPEN
from drills.models import CorrectiveAction, Drill
from secgov.accountability.duties import Duty, Subject
from secgov.authz import Actor
from secgov.codes import N_
from secgov.errors import Conflict
from secgov.models import Department, User

OPEN_DRILLS = ("planned", "in_progress")


def _under(query: Select, column, path: str) -> Select:
    if path == "/":
        return query
    return query.join(Department, Department.id == column).where(Department.path.startswith(path, autoescape=True))


def find_drills(session: Session, ids: Sequence[int]) -> dict[int, Subject]:
    if not ids:
        return {}
    rows = session.exec(
        select(Drill.id, Drill.title, Department.id, Department.path)
        .join(Department, Department.id == Drill.department_id)
        .where(Drill.id.in_(list(ids)))
    ).all()
    return {i: Subject(i, title, dept, path) for i, title, dept, path in rows}


def find_actions(session: Session, ids: Sequence[int]) -> dict[int, Subject]:
    if not ids:
        return {}
    rows = session.exec(
        select(CorrectiveAction.id, CorrectiveAction.title, Department.id, Department.path)
        .join(Department, Department.id == CorrectiveAction.department_id)
        .where(CorrectiveAction.id.in_(list(ids)))
    ).all()
    return {i: Subject(i, title, dept, path) for i, title, dept, path in rows}


def _eligible(session: Session, actor: Actor, _subject: Subject, user: User) -> None:
    services._user(session, user.username, actor, "user")


def _lead_applied(session: Session, actor: Actor, drill_id: int, user: User) -> None:
    drill = session.get(Drill, drill_id)
    if drill.status != "planned":
        raise Conflict(_("Only a planned drill changes its lead."), field="subject_id")
    drill.lead_id = user.id
    drill.version += 1
    session.add(drill)


def _owner_applied(session: Session, actor: Actor, action_id: int, user: User) -> None:
    action = session.get(CorrectiveAction, action_id)
    action.owner_id = user.id
    action.department_id = user.department_id
    action.version += 1
    session.add(action)


LEAD = Duty(
    subject_type=services.SUBJECT,
    duty=services.LEAD,
    label=N_("Drill lead"),
    level="sub_item",
    find=find_drills,
    required=lambda path: _under(select(Drill.id).where(Drill.status.in_(OPEN_DRILLS)), Drill.department_id, path),
    assigners=frozenset(services.WRITERS),
    applied=_lead_applied,
    eligible=_eligible,
)
ACTION_OWNER = Duty(
    subject_type=actions.SUBJECT,
    duty=actions.OWNER,
    label=N_("Action owner"),
    level="sub_item",
    find=find_actions,
    required=lambda path: _under(
        select(CorrectiveAction.id).where(CorrectiveAction.status.in_(ACTION_OPEN)),
        CorrectiveAction.department_id,
        path,
    ),
    assigners=frozenset(services.WRITERS),
    applied=_owner_applied,
    eligible=_eligible,
)

DUTIES = (LEAD, ACTION_OWNER)

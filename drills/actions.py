"""Corrective actions: the improvement plan of a drill. The drill team adds and manages them (the
owner a user in its scope; the action then belongs to the owner's department, so that the
department's head sees it); the owner updates the status and a note wherever their department is.
Overdue actions escalate once (`escalate`, the daily job): the owner's department head is told and
the action carries the date it escalated. An action can be promoted to the risk register through
the register's promotion service (source "drill_action")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_
from sqlmodel import Session, select

from assessments import risks
from assessments.services import WRITERS as RISK_WRITERS
from assets.models import Asset
from assets.rule import today_utc
from drills import rule
from drills.codes import ACTION_OPEN
from drills.models import CorrectiveAction, Drill, DrillAsset, DrillObjective
from drills.schemas import ActionCreate, ActionQuery, ActionRead, ActionUpdate
from drills.services import WRITERS, _user, get, subtree
from secgov import audit, directory, responsibility
from secgov.authz import Actor, in_scope, path_in_scope
from secgov.errors import Conflict, Forbidden, Invalid, NotFound, Refusal, check_version
from secgov.models import Department, User

SUBJECT, OWNER = "corrective_action", "owner"
# Who may promote an action to the risk register: those who write risks, and the drill team.
PROMOTERS = tuple(dict.fromkeys((*RISK_WRITERS, *WRITERS)))
# The department head's duty (assigned through the accountability matrix): told of escalations.
HEAD_SUBJECT, HEAD = "department", "head"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _snapshot(session: Session, row: CorrectiveAction) -> dict[str, Any]:
    owner = session.get(User, row.owner_id)
    return {
        "title": row.title,
        "owner": owner.username if owner else "",
        "due_date": row.due_date,
        "status": row.status,
        "note": row.note,
    }


def _visible(actor: Actor):
    """Actions in the actor's scope, and the actor's own wherever they are."""
    if actor.user_id is None:
        return in_scope(CorrectiveAction.department_id, actor)
    return or_(in_scope(CorrectiveAction.department_id, actor), CorrectiveAction.owner_id == actor.user_id)


def get_action(session: Session, actor: Actor, action_id: int) -> CorrectiveAction:
    """An action in the actor's scope or owned by the actor; otherwise NotFound (out of scope:
    audited)."""
    found = session.execute(
        select(CorrectiveAction.id, Department.path, CorrectiveAction.owner_id)
        .outerjoin(Department, Department.id == CorrectiveAction.department_id)
        .where(CorrectiveAction.id == action_id)
    ).first()
    if found is None or found[0] is None:
        raise NotFound(_("Not found."))
    if not path_in_scope(found[1], actor) and (actor.user_id is None or found[2] != actor.user_id):
        raise NotFound(_("Not found."), refusal=Refusal(actor, "authz.out_of_scope", "corrective_action", action_id))
    return session.get(CorrectiveAction, action_id)


def _asset(session: Session, drill: Drill, code: str | None) -> int | None:
    """The asset an action concerns: one of the drill's assets (named by code)."""
    if not code:
        return None
    asset_id = session.exec(
        select(Asset.id)
        .join(DrillAsset, DrillAsset.asset_id == Asset.id)
        .where(DrillAsset.drill_id == drill.id, Asset.code == code)
    ).first()
    if asset_id is None:
        raise Invalid(_("%(code)s is not one of this drill's systems.", code=code), field="asset")
    return asset_id


def _check_due(due: date, today: date) -> None:
    if due < today:
        raise Invalid(_("A due date cannot lie in the past."), field="due_date")


def create(
    session: Session, actor: Actor, drill_id: int, data: ActionCreate, today: date | None = None
) -> CorrectiveAction:
    """Add a corrective action to a drill's improvement plan."""
    drill = get(session, actor, drill_id)
    if drill.status == "cancelled":
        raise Conflict(_("A cancelled drill has no improvement plan."))
    _check_due(data.due_date, today or today_utc())
    owner = _user(session, data.owner, actor, "owner")
    if data.objective_id is not None:
        objective = session.get(DrillObjective, data.objective_id)
        if objective is None or objective.drill_id != drill.id:
            raise Invalid(
                _("Objective #%(id)d is not one of this drill's.", id=data.objective_id), field="objective_id"
            )
    row = CorrectiveAction(
        drill_id=drill.id,
        objective_id=data.objective_id,
        asset_id=_asset(session, drill, data.asset),
        department_id=owner.department_id,
        title=data.title,
        description=data.description,
        owner_id=owner.id,
        due_date=data.due_date,
        created_by=actor.username,
    )
    session.add(row)
    session.flush()
    responsibility.assign(session, SUBJECT, row.id, OWNER, owner, actor, department_id=row.department_id)
    audit.record(
        session, actor, "corrective_action.created", object_type="corrective_action", object_id=row.id,
        department_id=row.department_id, drill_id=drill.id, after=_snapshot(session, row),
    )  # fmt: skip
    return row


def update(
    session: Session, actor: Actor, action_id: int, data: ActionUpdate, *, manager: bool, today: date | None = None
) -> CorrectiveAction:
    """Change an action. The drill team (`manager`, in its scope) changes anything; the owner
    changes the status (not to cancelled) and the note, wherever their department is."""
    row = get_action(session, actor, action_id)
    check_version(row, data.version)
    today = today or today_utc()
    in_team_scope = manager and path_in_scope(session.get(Department, row.department_id).path, actor)
    is_owner = actor.user_id is not None and actor.user_id == row.owner_id
    given = {name for name in data.model_fields_set if name != "version" and getattr(data, name) is not None}
    if not in_team_scope:
        if not is_owner:
            raise Forbidden(
                _("Only the drill team or the action's owner may change it."),
                refusal=Refusal(actor, "corrective_action.denied", "corrective_action", row.id),
            )
        if given - {"status", "note"} or data.status == "cancelled":
            raise Forbidden(
                _("As the owner you may change the status and the note; the drill team changes the rest."),
                refusal=Refusal(actor, "corrective_action.denied", "corrective_action", row.id),
            )
    before = _snapshot(session, row)
    if data.title is not None:
        row.title = data.title
    if data.description is not None:
        row.description = data.description
    if data.due_date is not None and data.due_date != row.due_date:
        _check_due(data.due_date, today)
        row.due_date = data.due_date
        row.escalated_at = None  # a new due date: it escalates again if missed again
    if data.asset is not None:
        row.asset_id = _asset(session, session.get(Drill, row.drill_id), data.asset)
    if data.owner is not None:
        owner = _user(session, data.owner, actor, "owner")
        if owner.id != row.owner_id:
            row.owner_id = owner.id
            row.department_id = owner.department_id
            responsibility.assign(session, SUBJECT, row.id, OWNER, owner, actor, department_id=row.department_id)
    if data.note is not None:
        row.note = data.note
    if data.status is not None and data.status != row.status:
        row.status = data.status
        row.closed_at = _now() if data.status in ("closed", "cancelled") else None
    row.updated_at = _now()
    row.version += 1
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "corrective_action.updated", object_type="corrective_action", object_id=row.id,
        department_id=row.department_id, before=before, after=_snapshot(session, row),
    )  # fmt: skip
    return row


def delete(session: Session, actor: Actor, action_id: int) -> None:
    """Remove an action added in error (not one promoted to a risk)."""
    row = get_action(session, actor, action_id)
    if not path_in_scope(session.get(Department, row.department_id).path, actor):
        raise NotFound(_("Not found."))
    if row.risk_id is not None:
        raise Conflict(_("This action has become risk #%(id)d: close it instead.", id=row.risk_id))
    before = _snapshot(session, row)
    session.delete(row)
    session.flush()
    audit.record(
        session, actor, "corrective_action.deleted", object_type="corrective_action", object_id=action_id,
        department_id=row.department_id, before=before,
    )  # fmt: skip


# --- overdue actions ------------------------------------------------------------------------------


def escalate(session: Session, actor: Actor, today: date | None = None) -> list[CorrectiveAction]:
    """Escalate every action newly overdue (once per due date): it carries the moment it escalated,
    and the audit log names its owner and the owner's department head (if one is assigned)."""
    today = today or today_utc()
    rows = session.exec(
        select(CorrectiveAction).where(
            CorrectiveAction.status.in_(ACTION_OPEN),
            CorrectiveAction.due_date < today,
            CorrectiveAction.escalated_at.is_(None),
        )
    ).all()
    if not rows:
        return []
    owners = dict(session.exec(select(User.id, User.username).where(User.id.in_({r.owner_id for r in rows}))).all())
    heads = responsibility.holders(session, HEAD_SUBJECT, {r.department_id for r in rows}, HEAD)
    now = _now()
    events = []
    for row in rows:
        row.escalated_at = now
        session.add(row)
        head = heads.get(row.department_id)
        events.append(
            audit.Event(
                "corrective_action.escalated", "corrective_action", row.id, row.department_id, None, None,
                {"owner": owners.get(row.owner_id, ""), "head": head.username if head else "",
                 "due_date": row.due_date, "days_overdue": rule.days_overdue(row.due_date, today)},
            )
        )  # fmt: skip
    session.flush()
    audit.record_many(session, actor, events)
    return list(rows)


# --- reading ---------------------------------------------------------------------------------------


def _filtered(statement, actor: Actor, query: ActionQuery, today: date):
    statement = statement.where(_visible(actor))
    if query.status:
        statement = statement.where(CorrectiveAction.status == query.status)
    if query.overdue is True:
        statement = statement.where(CorrectiveAction.status.in_(ACTION_OPEN), CorrectiveAction.due_date < today)
    elif query.overdue is False:
        statement = statement.where(
            or_(CorrectiveAction.status.not_in(ACTION_OPEN), CorrectiveAction.due_date >= today)
        )
    if query.owner:
        owner_id = select(User.id).where(func.lower(User.username) == query.owner.lower()).scalar_subquery()
        statement = statement.where(CorrectiveAction.owner_id == owner_id)
    if query.drill_id:
        statement = statement.where(CorrectiveAction.drill_id == query.drill_id)
    if query.department:
        statement = statement.where(CorrectiveAction.department_id.in_(subtree(query.department)))
    return statement


def list_actions(
    session: Session, actor: Actor, query: ActionQuery, today: date | None = None
) -> tuple[list[ActionRead], int]:
    """A page of actions the actor sees, the earliest due first, and how many in all."""
    today = today or today_utc()
    total = session.exec(_filtered(select(func.count()).select_from(CorrectiveAction), actor, query, today)).one()
    rows = session.exec(
        _filtered(select(CorrectiveAction), actor, query, today)
        .order_by(CorrectiveAction.due_date, CorrectiveAction.id)
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return read_many(session, list(rows), today), total


def read_many(session: Session, rows: list[CorrectiveAction], today: date | None = None) -> list[ActionRead]:
    """Actions as read: a fixed number of statements whatever their number."""
    if not rows:
        return []
    today = today or today_utc()
    owners = dict(session.exec(select(User.id, User.username).where(User.id.in_({r.owner_id for r in rows}))).all())
    titles = dict(session.exec(select(Drill.id, Drill.title).where(Drill.id.in_({r.drill_id for r in rows}))).all())
    asset_ids = {r.asset_id for r in rows if r.asset_id}
    assets = dict(session.exec(select(Asset.id, Asset.code).where(Asset.id.in_(asset_ids))).all()) if asset_ids else {}
    codes = directory.code_map(session)
    return [
        ActionRead(
            id=r.id,
            drill_id=r.drill_id,
            drill_title=titles.get(r.drill_id, ""),
            title=r.title,
            description=r.description,
            owner=owners.get(r.owner_id, ""),
            department=codes.get(r.department_id, ""),
            due_date=r.due_date,
            status=r.status,
            overdue=rule.overdue(r.due_date, r.status, today),
            days_overdue=rule.days_overdue(r.due_date, today) if rule.overdue(r.due_date, r.status, today) else 0,
            escalated_at=r.escalated_at,
            note=r.note,
            asset=assets.get(r.asset_id, "") if r.asset_id else "",
            objective_id=r.objective_id,
            risk_id=r.risk_id,
            closed_at=r.closed_at,
            created_by=r.created_by,
            created_at=r.created_at,
            updated_at=r.updated_at,
            version=r.version,
        )
        for r in rows
    ]


def read(session: Session, row: CorrectiveAction, today: date | None = None) -> ActionRead:
    return read_many(session, [row], today)[0]


# --- promotion to the risk register ----------------------------------------------------------------


def _draft(session: Session, action_id: int, actor: Actor) -> risks.Draft:
    row = session.get(CorrectiveAction, action_id)
    drill = session.get(Drill, row.drill_id) if row else None
    if row is None or drill is None:
        raise Invalid(_("Unknown corrective action."), field="source_id")
    department = session.get(Department, drill.department_id)
    if not path_in_scope(department.path, actor):
        raise Invalid(_("Unknown corrective action."), field="source_id")
    asset_id = row.asset_id
    if asset_id is None:
        drill_assets = session.exec(select(DrillAsset.asset_id).where(DrillAsset.drill_id == drill.id)).all()
        if len(drill_assets) != 1:
            raise Invalid(_("Name the system this action concerns first: a risk belongs to one system."), field="asset")
        asset_id = drill_assets[0]
    if row.status == "cancelled":
        raise Conflict(_("A cancelled action is not promoted."))
    return risks.Draft(
        asset_id=asset_id,
        title=row.title,
        likelihood=3,
        impact=3,
        vulnerability=f"drill #{drill.id}: {drill.title} / action #{row.id}: {row.title}",
    )


def _link(session: Session, action_id: int, risk) -> None:
    row = session.get(CorrectiveAction, action_id)
    row.risk_id = risk.id
    row.version += 1
    session.add(row)
    session.flush()


risks.register_source("drill_action", "drill", _draft, _link)

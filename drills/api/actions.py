"""Corrective actions over the API: what the caller sees (their scope, and the actions they own
wherever they are), changes (the drill team changes anything in its scope; the owner the status
and the note), removal, and promotion to the risk register; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from assessments import risks, rule
from assessments.schemas import Promotion, RiskRead
from drills import actions
from drills.schemas import ActionPromotion, ActionQuery, ActionRead, ActionUpdate
from drills.services import WRITERS
from secgov.authz import ALL_ROLES, roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session, require_user, service_config

bp = Blueprint("drill_actions_api", __name__, url_prefix="/api/v1")
TAGS = ["corrective-actions"]
# Those who promote records to the risk register, and the drill team whose actions these are.
PROMOTERS = actions.PROMOTERS


@bp.get("/corrective-actions")
@roles(*ALL_ROLES)
@operation(query=ActionQuery, ok=page_model(ActionRead), tags=TAGS)
def actions_list(query: ActionQuery):
    """Corrective actions in the caller's scope and those the caller owns, the earliest due first;
    filtered (status, overdue, owner, drill, the owner's department and its subtree) and paged."""
    rows, total = actions.list_actions(get_session(), actor(), query)
    return page(rows, total, query)


@bp.get("/corrective-actions/<int:action_id>")
@roles(*ALL_ROLES)
@operation(ok=ActionRead, tags=TAGS)
def actions_get(action_id: int):
    """One corrective action (in your scope, or yours)."""
    db = get_session()
    return actions.read(db, actions.get_action(db, actor(), action_id))


@bp.patch("/corrective-actions/<int:action_id>")
@roles(*ALL_ROLES)
@operation(body=ActionUpdate, ok=ActionRead, tags=TAGS)
def actions_update(action_id: int, body: ActionUpdate):
    """Change a corrective action (send the version you read): the drill team changes anything in
    its scope; the owner, wherever their department is, the status (not to cancelled) and the
    note; anyone else is refused (403)."""
    db = get_session()
    manager = bool(require_user().roles & set(WRITERS))
    return actions.read(db, actions.update(db, actor(), action_id, body, manager=manager))


@bp.delete("/corrective-actions/<int:action_id>")
@roles(*WRITERS)
@operation(status=204, tags=TAGS)
def actions_delete(action_id: int):
    """Remove an action added in error (one promoted to a risk is closed instead: 409)."""
    actions.delete(get_session(), actor(), action_id)


@bp.post("/corrective-actions/<int:action_id>/promote")
@roles(*PROMOTERS)
@operation(body=ActionPromotion, body_optional=True, ok=RiskRead, status=201, tags=TAGS + ["risks"])
def actions_promote(action_id: int, body: ActionPromotion):
    """Register the action as a risk on the system it concerns (once: a second promotion is a
    conflict naming the risk)."""
    db = get_session()
    row = actions.get_action(db, actor(), action_id)
    method = rule.method(db, service_config())
    promotion = Promotion(
        source="drill_action", source_id=row.id, owner=body.owner, due_date=body.due_date, treatment=body.treatment
    )
    return risks.read_one(db, risks.promote(db, promotion, actor(), method), method)

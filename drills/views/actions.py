"""Web pages of corrective actions: the register (the user's scope and their own actions wherever
they are), and one action with the owner's update (status and note), the drill team's full edit
and its promotion to the risk register."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from assessments import risks
from assessments import rule as risk_rule
from assessments.schemas import Promotion
from assets import services as asset_services
from drills import actions, services
from drills.models import CorrectiveAction, Drill
from drills.schemas import ACTION_FILTERS, ActionPromotion, ActionQuery, ActionUpdate
from drills.services import WRITERS
from drills.views.pages import args_of, bp, prefixed
from secgov import directory
from secgov.authz import authenticated, path_in_scope, roles
from secgov.errors import Forbidden, ServiceError, field_errors
from secgov.models import Department
from secgov.pages import Done, Form, act, list_query
from secgov.web import actor, get_session, require_user, service_config, settle

# Who may promote an action to the risk register: the drill team and admins, and officers (who
# keep the register); the promotion service checks the drill is in their scope.
PROMOTERS = actions.PROMOTERS
OWNER_UPDATE = Form(ActionUpdate, empty_is_none=("status",))
TEAM_UPDATE = Form(ActionUpdate, empty_is_none=("owner", "due_date", "asset", "status"))
PROMOTION = Form(ActionPromotion, empty_is_none=("owner", "due_date"))
OWNED = ("version", "status", "note")


@bp.get("/actions", endpoint="actions")
@authenticated
def actions_index():
    """Corrective actions the user sees (their scope, and their own wherever they are), the
    earliest due first; overdue ones marked with the days they are late and whether they have
    escalated."""
    query, problems = list_query(ActionQuery, (*ACTION_FILTERS, "page"))
    for problem in problems:
        flash(problem, "warning")
    db = get_session()
    rows, total = actions.list_actions(db, actor(), query)
    return render_template(
        "drills/actions.html",
        rows=rows,
        total=total,
        query=query,
        args=args_of(query),
        departments=directory.departments_in_scope(db, actor()),
    )


def _action(action_id: int) -> CorrectiveAction:
    return actions.get_action(get_session(), actor(), action_id)


def _manager(row: CorrectiveAction) -> bool:
    """Whether the user manages this action: a drill-team role, the action in their scope."""
    if not set(require_user().roles) & set(WRITERS):
        return False
    return path_in_scope(get_session().get(Department, row.department_id).path, actor())


def _page(row: CorrectiveAction, errors: dict[str, str] | None = None, posted: dict | None = None):
    db = get_session()
    record = actions.read(db, row)
    manager = _manager(row)
    drill = db.get(Drill, row.drill_id)
    user = require_user()
    # The drill itself may lie outside the scope of an owner from another department.
    drill_visible = path_in_scope(db.get(Department, drill.department_id).path, actor())
    return render_template(
        "drills/action.html",
        record=record,
        drill=drill,
        drill_visible=drill_visible,
        manager=manager,
        owner=user.id == row.owner_id,
        promoter=drill_visible and bool(set(user.roles) & set(PROMOTERS)),
        drill_assets=services.read(db, drill).assets if manager else [],
        people=asset_services.eligible_owners(db, actor()) if manager else [],
        errors=errors or {},
        posted=posted or {},
    )


@bp.get("/actions/<int:action_id>")
@authenticated
def action(action_id: int):
    """One corrective action: its drill, owner, due date, status, note, escalation and risk."""
    return _page(_action(action_id))


def _saved(row: CorrectiveAction) -> Done:
    return Done(url_for("drills.action", action_id=row.id), _("Corrective action #%(id)d was saved.", id=row.id))


@bp.post("/actions/<int:action_id>/update")
@authenticated
def action_update(action_id: int):
    """The owner's update (or the drill team's): the status and a note. Someone who may not
    change the action is told so on its page."""
    row = _action(action_id)
    data, errors = OWNER_UPDATE.parse({k: None for k in ActionUpdate.model_fields if k not in OWNED})
    if data is None:
        return _page(row, prefixed("update", errors), dict(request.form)), 422
    try:
        writer = bool(set(require_user().roles) & set(WRITERS))
        saved = actions.update(get_session(), actor(), row.id, data, manager=writer)
    except Forbidden as exc:
        settle(exc)
        flash(exc.message, "danger")
        return redirect(url_for("drills.action", action_id=row.id))
    except ServiceError as exc:
        settle(exc)
        return _page(_action(action_id), prefixed("update", field_errors(exc)), dict(request.form)), 422
    get_session().commit()
    done = _saved(saved)
    flash(done.message, done.category)
    return redirect(done.url)


@bp.post("/actions/<int:action_id>/edit")
@roles(*WRITERS)
def action_edit(action_id: int):
    """The drill team's edit: title, description, owner, due date, asset, status and note."""
    row = _action(action_id)
    return act(
        lambda data: actions.update(get_session(), actor(), row.id, data, manager=True),
        form=TEAM_UPDATE,
        done=_saved,
        again=lambda errors: _page(_action(action_id), prefixed("edit", errors), dict(request.form)),
    )


@bp.post("/actions/<int:action_id>/promote")
@roles(*PROMOTERS)
def action_promote(action_id: int):
    """Promote the action to the risk register (one risk per action)."""
    row = _action(action_id)
    data, errors = PROMOTION.parse()
    if data is None:
        return _page(row, prefixed("promote", errors), dict(request.form)), 422
    db = get_session()
    promotion = Promotion(
        source="drill_action", source_id=row.id, owner=data.owner, due_date=data.due_date, treatment=data.treatment
    )
    return act(
        lambda: risks.promote(db, promotion, actor(), risk_rule.method(db, service_config())),
        done=lambda risk: Done(
            url_for("risks.detail", risk_id=risk.id), _("The corrective action is now risk #%(id)d.", id=risk.id)
        ),
        again=lambda errors: _page(_action(action_id), prefixed("promote", errors), dict(request.form)),
    )

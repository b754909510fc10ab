"""Web pages of scan authorizations: the list, the request form, and one authorization with its
decision (a leader other than the requester approves or rejects) and its revocation."""

from __future__ import annotations

from datetime import date, timedelta

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _

from scans import authorizations
from scans.models import ScanAuthorization
from scans.schemas import AuthorizationCreate, AuthorizationQuery, Decision, Rejection
from scans.services import APPROVERS, WRITERS
from scans.views.scans import args_of, bp, prefixed
from secgov import directory
from secgov.authz import ALL_ROLES, roles
from secgov.localtime import day_start
from secgov.pages import Done, Form, act, list_query
from secgov.snapshots import local_today
from secgov.web import actor, get_session, require_user, service_config

CREATE = Form(AuthorizationCreate, empty_is_none=("department",))
DECISION = Form(Decision)
REJECTION = Form(Rejection)
# Who may ask to revoke: admins and leaders, and the writers (the service lets only the requester).
REVOKING = tuple(dict.fromkeys((*authorizations.REVOKERS, *WRITERS)))


@bp.get("/authorizations")
@roles(*ALL_ROLES)
def authorizations_index():
    """Authorizations in the user's scope, newest first, by status and zone."""
    query, problems = list_query(AuthorizationQuery, ("status", "zone", "live", "page"))
    for problem in problems:
        flash(problem, "warning")
    rows, total = authorizations.list_authorizations(get_session(), actor(), query)
    return render_template(
        "scans/authorizations.html",
        rows=rows,
        total=total,
        query=query,
        args=args_of(query),
    )


def _validity() -> dict:
    """The form's validity days as moments of the city: from the start of the first day to the
    end of the last. A value that is not a date is left for the schema to refuse."""
    timezone, found = service_config().timezone, {}
    for name, extra in (("valid_from", 0), ("valid_until", 1)):
        try:
            day = date.fromisoformat(request.form.get(name, "").strip())
        except ValueError:
            continue
        found[name] = day_start(day + timedelta(days=extra), timezone)
    return found


def _form_page(form: dict, errors: dict[str, str]):
    db = get_session()
    return render_template(
        "scans/authorization_form.html",
        form=form,
        errors=errors,
        departments=directory.departments_in_scope(db, actor()),
        max_days=authorizations.MAX_DAYS,
    )


@bp.route("/authorizations/new", methods=["GET", "POST"])
@roles(*WRITERS)
def authorization_new():
    """Ask for an authorization to scan targets (pending until a leader decides)."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        today = local_today(service_config().timezone)
        form = {
            "zone": "local",
            "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=30)).isoformat(),
            "max_profile": "standard",
            "fragile_profile": "discovery",
            "scope": request.args.get("scope", "")[:2000],
        }
        return _form_page(form, {})
    data, errors = CREATE.parse(_validity())
    if data is None:
        return _form_page(dict(request.form), errors), 422
    return act(
        lambda: authorizations.request(get_session(), actor(), data, service_config()),
        done=lambda row: Done(
            url_for("scans.authorization", authorization_id=row.id),
            _("Authorization #%(id)d was asked for: a leader other than you approves it.", id=row.id),
        ),
        again=lambda errors: _form_page(dict(request.form), errors),
    )


def _authorization(authorization_id: int) -> ScanAuthorization:
    return authorizations.get(get_session(), actor(), authorization_id)


def _detail_page(row: ScanAuthorization, errors: dict[str, str] | None = None, posted: dict | None = None):
    user = require_user()
    return render_template(
        "scans/authorization.html",
        row=row,
        may_revoke=authorizations.may_revoke(row, user.username, user.roles),
        errors=errors or {},
        posted=posted or {},
    )


@bp.get("/authorizations/<int:authorization_id>")
@roles(*ALL_ROLES)
def authorization(authorization_id: int):
    """One authorization: its scope, purpose, zone, validity, profiles, and who asked and decided."""
    return _detail_page(_authorization(authorization_id))


def _decided(row: ScanAuthorization, message: str) -> Done:
    return Done(url_for("scans.authorization", authorization_id=row.id), message)


@bp.post("/authorizations/<int:authorization_id>/approve")
@roles(*APPROVERS)
def approve(authorization_id: int):
    """Approve the authorization (a leader, never its requester)."""
    row = _authorization(authorization_id)
    return act(
        lambda data: authorizations.approve(get_session(), actor(), row.id, data, service_config()),
        form=DECISION,
        done=lambda saved: _decided(saved, _("Authorization #%(id)d was approved.", id=saved.id)),
        back=url_for("scans.authorization", authorization_id=row.id),
    )


@bp.post("/authorizations/<int:authorization_id>/reject")
@roles(*APPROVERS)
def reject(authorization_id: int):
    """Reject the authorization, saying why (a leader, never its requester)."""
    row = _authorization(authorization_id)
    return act(
        lambda data: authorizations.reject(get_session(), actor(), row.id, data),
        form=REJECTION,
        done=lambda saved: _decided(saved, _("Authorization #%(id)d was rejected.", id=saved.id)),
        again=lambda errors: _detail_page(row, prefixed("reject", errors), dict(request.form)),
    )


@bp.post("/authorizations/<int:authorization_id>/revoke")
@roles(*REVOKING)
def revoke(authorization_id: int):
    """End a pending or approved authorization now, saying why."""
    row = _authorization(authorization_id)
    return act(
        lambda data: authorizations.revoke(get_session(), actor(), row.id, data, roles=require_user().roles),
        form=REJECTION,
        done=lambda saved: _decided(saved, _("Authorization #%(id)d was revoked.", id=saved.id)),
        again=lambda errors: _detail_page(row, prefixed("revoke", errors), dict(request.form)),
    )

"""Web pages of what drills must cover: the coverage page (what is required, what a completed drill
covered within the period, the gaps with their last and next drill), and leaders' requests for a
drill (the leaders' form, the list, the drill team's answer: plan it, or decline with a reason)."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _

from drills import coverage, requests
from drills.schemas import RequestCreate, RequestDecline, RequestQuery
from drills.services import APPROVERS, READERS, WRITERS
from drills.views.pages import args_of, bp, prefixed, words
from secgov import directory
from secgov.authz import roles
from secgov.pages import Done, Form, act, list_query
from secgov.snapshots import local_today
from secgov.web import actor, get_session, service_config

ASK = Form(RequestCreate, empty_is_none=("department",))
DECLINE = Form(RequestDecline, empty_is_none=("version",))


@bp.get("/coverage", endpoint="coverage")
@roles(*READERS)
def coverage_page():
    """Every CII asset and every department holding an operational system must have had a
    completed drill within the period: how many did, and the gaps with their next planned drill."""
    db = get_session()
    return render_template("drills/coverage.html", coverage=coverage.coverage(db, actor(), service_config()))


def _requests_page(form: dict | None = None, errors: dict[str, str] | None = None, posted: dict | None = None):
    query, problems = list_query(RequestQuery, ("status", "page"))
    for problem in problems:
        flash(problem, "warning")
    db = get_session()
    rows, total = requests.list_requests(db, actor(), query)
    today = local_today(service_config().timezone)
    return render_template(
        "drills/requests.html",
        rows=rows,
        total=total,
        query=query,
        args=args_of(query),
        departments=directory.departments_in_scope(db, actor()),
        form=form or {"due_by": (today + timedelta(days=60)).isoformat()},
        errors=errors or {},
        posted=posted or {},
    )


@bp.get("/requests", endpoint="requests")
@roles(*READERS)
def requests_page():
    """Leaders' requests for a drill, open ones first; the leaders' form to ask for one."""
    return _requests_page()


@bp.post("/requests")
@roles(*APPROVERS)
def request_ask():
    """A leader asks the drill team for a drill: what, covering which systems, by when, why."""
    assets = [w for value in request.form.getlist("assets") for w in words(value)]
    data, errors = ASK.parse({"assets": assets})
    if data is None:
        return _requests_page(dict(request.form), prefixed("ask", errors)), 422
    return act(
        lambda: requests.ask(get_session(), actor(), data),
        done=lambda row: Done(
            url_for("drills.requests"), _("Your request #%(id)d was sent to the drill team.", id=row.id)
        ),
        again=lambda errors: _requests_page(dict(request.form), prefixed("ask", errors)),
    )


@bp.post("/requests/<int:request_id>/decline")
@roles(*WRITERS)
def request_decline(request_id: int):
    """The drill team declines a request, saying why."""
    row = requests.get(get_session(), actor(), request_id)
    return act(
        lambda data: requests.decline(get_session(), actor(), row.id, data),
        form=DECLINE,
        done=lambda saved: Done(url_for("drills.requests"), _("Request #%(id)d was declined.", id=saved.id)),
        again=lambda errors: _requests_page(None, prefixed(f"decline{row.id}", errors), dict(request.form)),
    )

"""Accountability over the API (SPEC §5): the terms of the declared duties (read in scope, and
assigned through the one service that states who may assign which duty), the duties, the gaps
and the caller's own duties. The duties come from the registry only."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, current_app

from secgov.accountability import assignments, reading
from secgov.accountability.assignments import AssignmentIn
from secgov.accountability.duties import Duty
from secgov.accountability.reading import DutyRead, GapRead, PageOnly, TermQuery, TermRead
from secgov.authz import ALL_ROLES, authenticated, roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session, require_user

bp = Blueprint("api_accountability", __name__, url_prefix="/api/v1/accountability")
TAGS = ["accountability"]
# Who may ask to assign: every role that assigns some duty today or may with a later domain's
# duty (drill leads); the service refuses a duty the caller's roles may not assign (403, audited).
ASSIGNERS = ("admin", "leader", "officer", "drill_team")


def _duties() -> Mapping[str, Duty]:
    return current_app.extensions["secgov_registry"].duties


@bp.get("/assignments")
@roles(*ALL_ROLES)
@operation(query=TermQuery, ok=page_model(TermRead), tags=TAGS)
def assignments_list(query: TermQuery):
    """The terms of every duty (current and past) whose subjects are in your scope, and your own,
    newest first; filtered by duty, holder and current only, and paged."""
    rows, total = reading.list_terms(get_session(), actor(), _duties(), query)
    return page(rows, total, query)


@bp.post("/assignments")
@roles(*ASSIGNERS)
@operation(body=AssignmentIn, ok=TermRead, status=201, tags=TAGS)
def assignments_create(body: AssignmentIn):
    """Give a duty to a user from now (or a later moment) until an end or open-ended; the term in
    force then ends (a reassignment). Never backdated: a wrong record is put right by a
    correction (`correction`: true), a new term from now naming the one it corrects. Admins and
    leaders assign the chief and department heads, the duty's assigners its sub-item owners."""
    db = get_session()
    term = assignments.assign(db, actor(), require_user().roles, body, _duties())
    return reading.term_read(db, _duties(), term)


@bp.get("/duties")
@roles(*ALL_ROLES)
@operation(ok=page_model(DutyRead), query=PageOnly, tags=TAGS)
def duties_list(query: PageOnly):
    """The declared duties: the chief, department heads and each domain's sub-item duties."""
    items = reading.duty_list(_duties())
    start = (query.page - 1) * query.page_size
    return page(items[start : start + query.page_size], len(items), query)


@bp.get("/gaps")
@roles(*ALL_ROLES)
@operation(query=PageOnly, ok=page_model(GapRead), tags=TAGS)
def gaps_list(query: PageOnly):
    """Subjects in your scope that need a holder of a duty and have none now, or whose holder has
    been disabled (a leaving user's duties are gaps until reassigned)."""
    items = reading.gap_list(get_session(), actor(), _duties())
    start = (query.page - 1) * query.page_size
    return page(items[start : start + query.page_size], len(items), query)


@bp.get("/mine")
@authenticated
@operation(query=PageOnly, ok=page_model(TermRead), tags=TAGS)
def mine_list(query: PageOnly):
    """The duties you hold now, wherever their subjects are."""
    items = reading.my_terms(get_session(), require_user(), _duties())
    start = (query.page - 1) * query.page_size
    return page(items[start : start + query.page_size], len(items), query)

"""Leaders' requests for a drill over the API: asking (leaders), reading, and declining (the drill
team; it schedules a request by planning a drill that names it)."""

from __future__ import annotations

from flask import Blueprint

from drills import requests
from drills.schemas import RequestCreate, RequestDecline, RequestQuery, RequestRead
from drills.services import APPROVERS, READERS, WRITERS
from secgov.authz import roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session

bp = Blueprint("drill_requests_api", __name__, url_prefix="/api/v1")
TAGS = ["drill-requests"]


@bp.get("/drill-requests")
@roles(*READERS)
@operation(query=RequestQuery, ok=page_model(RequestRead), tags=TAGS)
def requests_list(query: RequestQuery):
    """Requests for a drill in the caller's scope, open ones first (the earliest wanted first)."""
    rows, total = requests.list_requests(get_session(), actor(), query)
    return page(rows, total, query)


@bp.post("/drill-requests")
@roles(*APPROVERS)
@operation(body=RequestCreate, ok=RequestRead, status=201, tags=TAGS)
def requests_create(body: RequestCreate):
    """A leader asks for a drill: what it should cover, by when and why."""
    db = get_session()
    return requests.read(db, requests.ask(db, actor(), body))


@bp.get("/drill-requests/<int:request_id>")
@roles(*READERS)
@operation(ok=RequestRead, tags=TAGS)
def requests_get(request_id: int):
    """One request for a drill, with the drill that answers it once planned."""
    db = get_session()
    return requests.read(db, requests.get(db, actor(), request_id))


@bp.post("/drill-requests/<int:request_id>/decline")
@roles(*WRITERS)
@operation(body=RequestDecline, ok=RequestRead, tags=TAGS)
def requests_decline(request_id: int, body: RequestDecline):
    """The drill team declines an open request, saying why."""
    db = get_session()
    return requests.read(db, requests.decline(db, actor(), request_id, body))

"""Scan authorizations over the API: asking, deciding, revoking, reading; the same services as
the pages."""

from __future__ import annotations

from flask import Blueprint

from scans import authorizations
from scans.models import ScanAuthorization
from scans.schemas import AuthorizationCreate, AuthorizationQuery, AuthorizationRead, Decision, Rejection
from scans.services import APPROVERS, READERS, WRITERS
from secgov.authz import roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, current_user, get_session, service_config

bp = Blueprint("scan_authorizations_api", __name__, url_prefix="/api/v1")

# The requester (an officer or an admin), an admin or a leader revokes (the service checks who).
REVOKING = tuple(dict.fromkeys((*authorizations.REVOKERS, *WRITERS)))
TAGS = ["scan-authorizations"]


def _read(row: ScanAuthorization) -> AuthorizationRead:
    codes = authorizations.department_codes(get_session(), [row])
    return authorizations.read(row, codes.get(row.department_id, ""))


@bp.get("/scan-authorizations")
@roles(*READERS)
@operation(query=AuthorizationQuery, ok=page_model(AuthorizationRead), tags=TAGS)
def authorizations_list(query: AuthorizationQuery):
    """Scan authorizations of the caller's scope, newest first; `live=true`: approved ones valid now."""
    db = get_session()
    rows, total = authorizations.list_authorizations(db, actor(), query)
    codes = authorizations.department_codes(db, rows)
    return page([authorizations.read(row, codes.get(row.department_id, "")) for row in rows], total, query)


@bp.post("/scan-authorizations")
@roles(*WRITERS)
@operation(body=AuthorizationCreate, ok=AuthorizationRead, status=201, tags=TAGS)
def authorizations_create(body: AuthorizationCreate):
    """Ask for permission to scan targets (inside the networks scans may reach) for a purpose, in
    a zone, for at most a year; pending until a leader other than you decides."""
    return _read(authorizations.request(get_session(), actor(), body, service_config()))


@bp.get("/scan-authorizations/<int:authorization_id>")
@roles(*READERS)
@operation(ok=AuthorizationRead, tags=TAGS)
def authorizations_get(authorization_id: int):
    """One scan authorization."""
    return _read(authorizations.get(get_session(), actor(), authorization_id))


@bp.post("/scan-authorizations/<int:authorization_id>/approve")
@roles(*APPROVERS)
@operation(body=Decision, ok=AuthorizationRead, tags=TAGS)
def authorizations_approve(authorization_id: int, body: Decision):
    """Approve a pending authorization (never one you asked for: 403, audited); send the version you read."""
    return _read(authorizations.approve(get_session(), actor(), authorization_id, body, service_config()))


@bp.post("/scan-authorizations/<int:authorization_id>/reject")
@roles(*APPROVERS)
@operation(body=Rejection, ok=AuthorizationRead, tags=TAGS)
def authorizations_reject(authorization_id: int, body: Rejection):
    """Reject a pending authorization (never one you asked for), saying why in `reason`."""
    return _read(authorizations.reject(get_session(), actor(), authorization_id, body))


@bp.post("/scan-authorizations/<int:authorization_id>/revoke")
@roles(*REVOKING)
@operation(body=Rejection, ok=AuthorizationRead, tags=TAGS)
def authorizations_revoke(authorization_id: int, body: Rejection):
    """End a pending or approved authorization now, saying why: its requester, an admin or a
    leader; scans queued under it fail when they would start."""
    row = authorizations.revoke(get_session(), actor(), authorization_id, body, roles=current_user().roles)
    return _read(row)

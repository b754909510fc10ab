"""The audit log over the API, for auditors and admins."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint
from pydantic import BaseModel
from spectree import Response

from secgov import audit
from secgov.api.base import ErrorResponse, PageQuery, page_of, query_args, spec
from secgov.audit import AuditFilter, list_entries
from secgov.authz import require_user, roles
from secgov.db import get_session

bp = Blueprint("api_audit", __name__, url_prefix="/api/v1")

ERRORS = {f"HTTP_{code}": ErrorResponse for code in (400, 401, 403, 422)}


class AuditQuery(AuditFilter, PageQuery):
    pass


class AuditRead(BaseModel):
    seq: int
    created_at: str
    actor: str
    channel: str
    ip: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRead]
    total: int
    page: int
    page_size: int


class VerifyRead(BaseModel):
    ok: bool
    checked: int
    bad_seq: int | None
    reason: str
    head_seq: int | None
    head_hash: str | None


@bp.get("/audit")
@roles("auditor", "admin")
@spec.validate(query=AuditQuery, resp=Response(HTTP_200=AuditPage, **ERRORS), tags=["audit"], skip_validation=True)
def audit_list():
    """Audit entries in the caller's scope, newest first."""
    args = query_args(AuditQuery)
    filters = AuditFilter(**args.model_dump(include=set(AuditFilter.model_fields)))
    rows, total = list_entries(get_session(), require_user(), filters, page=args.page, page_size=args.page_size)
    items = [
        AuditRead(
            **{k: getattr(e, k) for k in AuditRead.model_fields if k != "detail"}, detail=json.loads(e.detail or "{}")
        ).model_dump(mode="json")
        for e in rows
    ]
    return page_of(items, total, args.page, args.page_size)


@bp.get("/audit/verify")
@roles("auditor", "admin")
@spec.validate(resp=Response(HTTP_200=VerifyRead, **ERRORS), tags=["audit"], skip_validation=True)
def audit_verify():
    """Check the whole chain; names the first bad entry."""
    result = audit.verify(get_session())
    head = result.head or (None, None)
    return VerifyRead(
        ok=result.ok,
        checked=result.checked,
        bad_seq=result.bad_seq,
        reason=result.reason,
        head_seq=head[0],
        head_hash=head[1],
    ).model_dump()

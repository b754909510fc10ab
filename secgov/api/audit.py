"""The audit log over the API, for auditors and admins."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app
from pydantic import BaseModel, Field

from secgov import checkpoints
from secgov.audit import AuditFilter, list_entries
from secgov.authz import roles
from secgov.rest import PageQuery, operation, page, page_model
from secgov.web import actor, get_session, service_config

bp = Blueprint("api_audit", __name__, url_prefix="/api/v1")

ERRORS = (400, 401, 403, 422)


class AuditQuery(AuditFilter, PageQuery):
    pass


class AuditRead(BaseModel):
    seq: int
    # The text the chain hashes, exactly as stored: ISO 8601 in UTC with its offset.
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    actor: str
    channel: str
    ip: str
    action: str
    action_label: str = Field(description="What the action is called, in the caller's language.")
    object_type: str
    object_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class VerifyRead(BaseModel):
    ok: bool
    checked: int
    bad_seq: int | None
    reason: str
    head_seq: int | None
    head_hash: str | None
    checkpoints_checked: int = Field(description="Signed checkpoints found and matching the chain.")
    checkpoint_problem: str = Field(description="What is wrong with the checkpoint log ('' when nothing).")


@bp.get("/audit")
@roles("auditor", "admin")
@operation(query=AuditQuery, ok=page_model(AuditRead), tags=["audit"], errors=ERRORS)
def audit_list(query: AuditQuery):
    """Audit entries in the caller's scope, newest first."""
    filters = AuditFilter(**query.model_dump(include=set(AuditFilter.model_fields)))
    rows, total = list_entries(
        get_session(), actor(), filters, service_config(), page=query.page, page_size=query.page_size
    )
    words = current_app.extensions["secgov_registry"].audit_vocabulary
    stored = set(AuditRead.model_fields) - {"detail", "action_label"}
    items = [
        AuditRead(
            **{k: getattr(e, k) for k in stored},
            action_label=words.action_label(e.action),
            detail=json.loads(e.detail or "{}"),
        )
        for e in rows
    ]
    return page(items, total, query)


@bp.get("/audit/verify")
@roles("auditor", "admin")
@operation(ok=VerifyRead, tags=["audit"], errors=ERRORS)
def audit_verify():
    """Check the whole chain and every signed checkpoint; names the first bad entry."""
    checked = checkpoints.verify_checkpoints(
        get_session(), checkpoints.CheckpointFiles.from_mapping(current_app.config)
    )
    result = checked.chain
    head = result.head or (None, None)
    return VerifyRead(
        ok=checked.ok,
        checked=result.checked,
        bad_seq=result.bad_seq,
        reason=result.reason or checked.reason,
        head_seq=head[0],
        head_hash=head[1],
        checkpoints_checked=checked.checked,
        checkpoint_problem=checked.problem,
    )

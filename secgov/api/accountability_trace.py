"""The accountability trace over the API (`GET /api/v1/accountability/trace?kind=…&id=…`): for a
record that went wrong, the people responsible at that moment (secgov.accountability.trace). Every
role reads it, in scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from flask import Blueprint, current_app
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field

from secgov import localtime
from secgov.accountability import trace
from secgov.authz import roles
from secgov.codes import ROLES
from secgov.localtime import Instant
from secgov.rest import operation
from secgov.web import actor, get_session, service_config

bp = Blueprint("api_accountability_trace", __name__, url_prefix="/api/v1")


class TraceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field(
        min_length=1,
        max_length=40,
        description="The kind of lapse: risk_overdue (id: the risk's), assessment_missed (id 'ASSET_ID:KIND'), "
        "action_overdue (the corrective action's), objective_failed ('DRILL_ID/OBJECTIVE_ID'), scan_refused "
        "('ASSET_ID/SEQ', the sequence number of the audit entry scan.refused).",
    )
    id: str = Field(min_length=1, max_length=80, description="The record's id.")


class CorrectionRead(BaseModel):
    user: str
    at: Instant
    by: str
    reason: str


class LinkRead(BaseModel):
    level: Literal["sub_item", "head", "chief"]
    duty: str = Field(description="The duty, in the caller's language.")
    held_for: str = Field(description="What the duty was held for (a record, a department, the city).")
    user: str | None = Field(description="Who held it at the moment of the lapse; null: nobody (a gap).")
    valid_from: Instant | None
    valid_to: Instant | None
    assigned_by: str | None
    reason: str | None
    corrected: CorrectionRead | None = Field(description="A later correction naming who should have held it.")


class TraceRead(BaseModel):
    kind: str
    kind_label: str
    record_type: str
    record_id: int
    title: str
    at: Instant = Field(description="The moment it went wrong.")
    department: str
    chain: list[LinkRead]


def _link(link: trace.Link) -> LinkRead:
    term, corrected = link.term, None
    if link.corrected_by is not None:
        corrected = CorrectionRead(
            user=link.corrected_to.username,
            at=link.corrected_by.valid_from,
            by=link.corrected_by.assigned_by,
            reason=link.corrected_by.reason,
        )
    return LinkRead(
        level=link.level,
        duty=_(link.duty_label),
        held_for=link.held_for,
        user=link.holder.username if link.holder else None,
        valid_from=term.valid_from if term else None,
        valid_to=term.valid_to if term else None,
        assigned_by=term.assigned_by if term else None,
        reason=term.reason if term else None,
        corrected=corrected,
    )


@bp.get("/accountability/trace")
@roles(*ROLES)
@operation(query=TraceQuery, ok=TraceRead, tags=["accountability"])
def accountability_trace(query: TraceQuery):
    """Who was responsible when a record went wrong: the sub-item owner, the department head
    (the nearest department above that had one) and the city's chief, each with their term."""
    config = service_config()
    today = localtime.local(datetime.now(UTC), config.timezone).date()
    sources = current_app.extensions["secgov_registry"].trace_sources
    found = trace.trace(get_session(), actor(), sources, query.kind, query.id, config, today)
    return TraceRead(
        kind=found.lapse.kind,
        kind_label=_(found.label),
        record_type=found.lapse.record_type,
        record_id=found.lapse.record_id,
        title=found.lapse.title,
        at=found.lapse.at,
        department=found.department.code,
        chain=[_link(link) for link in found.chain],
    )

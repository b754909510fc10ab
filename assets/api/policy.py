"""The vendor-origin compliance and its exemptions over the API; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from assets import policy
from assets.policy import APPROVERS
from assets.schemas import ComplianceRead, ExemptionCreate, ExemptionDecision, ExemptionQuery, ExemptionRead
from assets.services import WRITERS
from secgov.authz import ALL_ROLES, roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session, service_config

bp = Blueprint("policy_api", __name__, url_prefix="/api/v1")


@bp.get("/compliance/vendor-origin")
@roles(*ALL_ROLES)
@operation(ok=ComplianceRead, tags=["compliance"])
def compliance():
    """Violations, warnings, exempted engagements, pending and expiring exemptions, counts per department and sector."""
    return policy.compliance(get_session(), actor(), service_config())


@bp.get("/vendor-exemptions")
@roles(*ALL_ROLES)
@operation(query=ExemptionQuery, ok=page_model(ExemptionRead), tags=["compliance"])
def exemptions_list(query: ExemptionQuery):
    """Exemptions on assets in the caller's scope, newest request first; filter by status."""
    rows, total = policy.list_exemptions(get_session(), actor(), query)
    return page(rows, total, query)


@bp.post("/vendor-exemptions")
@roles(*WRITERS)
@operation(body=ExemptionCreate, ok=ExemptionRead, status=201, tags=["compliance"])
def exemptions_create(body: ExemptionCreate):
    """Request an exemption for an engagement the policy warns about; a leader decides."""
    db = get_session()
    return policy.read_exemption(db, policy.request_exemption(db, body, actor(), service_config()))


def _decide(exemption_id: int, approve: bool, body: ExemptionDecision) -> ExemptionRead:
    db = get_session()
    exemption = policy.get_exemption(db, exemption_id, actor())
    return policy.read_exemption(db, policy.decide_exemption(db, exemption, approve, body, actor()))


# An approval needs no note: an empty body will do.
DECISION = dict(body=ExemptionDecision, body_optional=True, ok=ExemptionRead, tags=["compliance"])


@bp.post("/vendor-exemptions/<int:exemption_id>/approve")
@roles(*APPROVERS)
@operation(**DECISION)
def exemptions_approve(exemption_id: int, body: ExemptionDecision):
    """Approve a pending request (not your own); it clears the warning until it expires."""
    return _decide(exemption_id, True, body)


@bp.post("/vendor-exemptions/<int:exemption_id>/reject")
@roles(*APPROVERS)
@operation(**DECISION)
def exemptions_reject(exemption_id: int, body: ExemptionDecision):
    """Reject a pending request (not your own), saying why in `note`."""
    return _decide(exemption_id, False, body)

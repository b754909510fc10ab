"""Assessments over the API: drafting, submitting, deciding, findings and their promotion, due
dates; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from assessments import risks, rule, schedule, services
from assessments.models import Assessment
from assessments.rule import Method
from assessments.schemas import (
    AssessmentCreate,
    AssessmentDecision,
    AssessmentQuery,
    AssessmentRead,
    AssessmentSubmit,
    AssessmentSummary,
    AssessmentUpdate,
    DueQuery,
    DueRead,
    FindingCreate,
    FindingPromotion,
    FindingRead,
    Promotion,
    RiskRead,
)
from assessments.services import APPROVERS, WRITERS
from secgov.authz import ALL_ROLES, roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session, service_config

bp = Blueprint("assessments_api", __name__, url_prefix="/api/v1")


def _method() -> Method:
    return rule.method(get_session(), service_config())


def _assessment(assessment_id: int) -> Assessment:
    return services.get_assessment(get_session(), assessment_id, actor())


def _read(a: Assessment) -> AssessmentRead:
    return services.read_one(get_session(), a, _method())


@bp.get("/assessments")
@roles(*ALL_ROLES)
@operation(query=AssessmentQuery, ok=page_model(AssessmentSummary), tags=["assessments"])
def assessments_list(query: AssessmentQuery):
    """Assessments of the assets in the caller's scope, newest first; filtered and paged on the server."""
    rows, total = services.list_assessments(get_session(), actor(), query)
    return page(rows, total, query)


@bp.post("/assessments")
@roles(*WRITERS)
@operation(body=AssessmentCreate, ok=AssessmentRead, status=201, tags=["assessments"])
def assessments_create(body: AssessmentCreate):
    """Start a draft assessment of an asset in your scope, with its area ratings and reviewed controls."""
    return _read(services.create_assessment(get_session(), body, actor()))


@bp.get("/assessments/due")
@roles(*ALL_ROLES)
@operation(query=DueQuery, ok=page_model(DueRead), tags=["assessments"])
def assessments_due(query: DueQuery):
    """The assessments each asset in scope requires next (from its MLPS level and CII status),
    earliest first; `state=attention` lists those overdue or due soon."""
    db = get_session()
    rows, total = schedule.due_list(db, actor(), query, _method(), services.today_utc())
    return page(rows, total, query)


@bp.get("/assessments/<int:assessment_id>")
@roles(*ALL_ROLES)
@operation(ok=AssessmentRead, tags=["assessments"])
def assessments_get(assessment_id: int):
    """One assessment with its areas, reviewed controls, findings, score and conclusion."""
    return _read(_assessment(assessment_id))


@bp.patch("/assessments/<int:assessment_id>")
@roles(*WRITERS)
@operation(body=AssessmentUpdate, ok=AssessmentRead, tags=["assessments"])
def assessments_update(assessment_id: int, body: AssessmentUpdate):
    """Edit a draft or returned assessment (send the version you read); approved ones are frozen (409)."""
    return _read(services.update_assessment(get_session(), _assessment(assessment_id), body, actor()))


@bp.delete("/assessments/<int:assessment_id>")
@roles(*WRITERS)
@operation(status=204, tags=["assessments"])
def assessments_delete(assessment_id: int):
    """Remove a draft that was never submitted (409 otherwise)."""
    services.delete_draft(get_session(), _assessment(assessment_id), actor())


@bp.post("/assessments/<int:assessment_id>/submit")
@roles(*WRITERS)
@operation(body=AssessmentSubmit, body_optional=True, ok=AssessmentRead, tags=["assessments"])
def assessments_submit(assessment_id: int, body: AssessmentSubmit):
    """Hand a finished draft or returned assessment to a leader."""
    a = _assessment(assessment_id)
    method = _method()
    return services.read_one(get_session(), services.submit(get_session(), a, actor(), method, body.version), method)


# An approval needs no reason: an empty body will do.
DECISION = dict(body=AssessmentDecision, body_optional=True, ok=AssessmentRead, tags=["assessments"])


@bp.post("/assessments/<int:assessment_id>/approve")
@roles(*APPROVERS)
@operation(**DECISION)
def assessments_approve(assessment_id: int, body: AssessmentDecision):
    """Approve a submitted assessment (not one you wrote or carried out): its score and conclusion
    are fixed, the control statuses it found are written to the asset, and it is frozen."""
    a = _assessment(assessment_id)
    method = _method()
    return services.read_one(get_session(), services.approve(get_session(), a, body, actor(), method), method)


@bp.post("/assessments/<int:assessment_id>/return")
@roles(*APPROVERS)
@operation(**DECISION)
def assessments_return(assessment_id: int, body: AssessmentDecision):
    """Return a submitted assessment (not one you wrote or carried out), saying why in `reason`."""
    return _read(services.return_assessment(get_session(), _assessment(assessment_id), body, actor()))


# --- findings ------------------------------------------------------------------------------------


@bp.post("/assessments/<int:assessment_id>/findings")
@roles(*WRITERS)
@operation(body=FindingCreate, ok=FindingRead, status=201, tags=["assessments"])
def findings_create(assessment_id: int, body: FindingCreate):
    """Record a weakness found by a draft or returned assessment."""
    db = get_session()
    a = _assessment(assessment_id)
    finding = services.add_finding(db, a, body, actor())
    return next(f for f in services.finding_reads(db, a, _method()) if f.id == finding.id)


@bp.delete("/assessments/<int:assessment_id>/findings/<int:finding_id>")
@roles(*WRITERS)
@operation(status=204, tags=["assessments"])
def findings_delete(assessment_id: int, finding_id: int):
    """Remove a finding of a draft or returned assessment that is not yet a risk."""
    db = get_session()
    a, finding = services.get_scoped_finding(db, assessment_id, finding_id, actor())
    services.remove_finding(db, a, finding, actor())


@bp.post("/assessments/<int:assessment_id>/findings/<int:finding_id>/promote")
@roles(*WRITERS)
@operation(body=FindingPromotion, body_optional=True, ok=RiskRead, status=201, tags=["assessments", "risks"])
def findings_promote(assessment_id: int, finding_id: int, body: FindingPromotion):
    """Register the finding as a risk (once: a second promotion is a conflict naming the risk);
    the asset's owner owns it unless you name another."""
    db = get_session()
    _a, finding = services.get_scoped_finding(db, assessment_id, finding_id, actor())
    method = _method()
    data = Promotion(source="assessment_finding", source_id=finding.id, **body.model_dump())
    return risks.read_one(db, risks.promote(db, data, actor(), method), method)

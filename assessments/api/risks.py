"""The risk register over the API: risks, their acceptances and reviews, promotion of other
records, the heat map and the counts; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from assessments import risks, rule
from assessments.models import Risk
from assessments.risks import ACCEPTORS
from assessments.rule import Method
from assessments.schemas import (
    AcceptanceCreate,
    AcceptanceRead,
    HeatMap,
    Promotion,
    ReviewCreate,
    ReviewRead,
    RiskCounts,
    RiskCreate,
    RiskQuery,
    RiskRead,
    RiskScopeQuery,
    RiskUpdate,
)
from assessments.services import WRITERS
from secgov.authz import ALL_ROLES, roles
from secgov.directory import department_by_code
from secgov.rest import PageQuery, operation, page, page_model
from secgov.web import actor, current_user, get_session, service_config

bp = Blueprint("risks_api", __name__, url_prefix="/api/v1")

# Writers accept low and moderate risks; leaders accept any (the service refuses the rest).
ACCEPTING = tuple(dict.fromkeys((*WRITERS, *ACCEPTORS)))


def _method() -> Method:
    return rule.method(get_session(), service_config())


def _risk(risk_id: int) -> Risk:
    return risks.get_risk(get_session(), risk_id, actor())


def _read(risk: Risk, method: Method | None = None) -> RiskRead:
    return risks.read_one(get_session(), risk, method or _method())


def _department_path(query: RiskScopeQuery) -> str | None:
    if not query.department:
        return None
    return department_by_code(get_session(), query.department, actor()).path


@bp.get("/risks")
@roles(*ALL_ROLES)
@operation(query=RiskQuery, ok=page_model(RiskRead), tags=["risks"])
def risks_list(query: RiskQuery):
    """Risks of the assets in the caller's scope: filtered, sorted (highest level first by default) and paged."""
    db, method = get_session(), _method()
    rows, total = risks.list_risks(db, actor(), query, method)
    return page(risks.read_many(db, rows, method), total, query)


@bp.post("/risks")
@roles(*WRITERS)
@operation(body=RiskCreate, ok=RiskRead, status=201, tags=["risks"])
def risks_create(body: RiskCreate):
    """Register a risk by hand on an asset in your scope; its level follows from the matrix in force."""
    method = _method()
    return _read(risks.create_risk(get_session(), body, actor(), method), method)


@bp.post("/risks/promote")
@roles(*WRITERS)
@operation(body=Promotion, ok=RiskRead, status=201, tags=["risks"])
def risks_promote(body: Promotion):
    """Promote a record of another part of SecGov (an assessment finding; scan findings and drill
    actions once they exist) to a risk: once per record, a second time is a conflict."""
    method = _method()
    return _read(risks.promote(get_session(), body, actor(), method), method)


@bp.get("/risks/heatmap")
@roles(*ALL_ROLES)
@operation(query=RiskScopeQuery, ok=HeatMap, tags=["risks"])
def risks_heatmap(query: RiskScopeQuery):
    """Live risks in scope by likelihood × impact, inherent and residual, each cell with its level."""
    return risks.heat_map(get_session(), actor(), _method(), _department_path(query))


@bp.get("/risks/counts")
@roles(*ALL_ROLES)
@operation(query=RiskScopeQuery, ok=RiskCounts, tags=["risks"])
def risks_counts(query: RiskScopeQuery):
    """Open risks by level, overdue treatments and reviews, acceptances in force and expiring."""
    return risks.counts(get_session(), actor(), _method(), department_path=_department_path(query))


@bp.get("/risks/<int:risk_id>")
@roles(*ALL_ROLES)
@operation(ok=RiskRead, tags=["risks"])
def risks_get(risk_id: int):
    """One risk with its acceptance in force and its review dates."""
    return _read(_risk(risk_id))


@bp.patch("/risks/<int:risk_id>")
@roles(*WRITERS)
@operation(body=RiskUpdate, ok=RiskRead, tags=["risks"])
def risks_update(risk_id: int, body: RiskUpdate):
    """Edit a risk (send the version you read): a new likelihood or impact relevels it; closing it
    ends its acceptance."""
    method = _method()
    return _read(risks.update_risk(get_session(), _risk(risk_id), body, actor(), method), method)


@bp.post("/risks/<int:risk_id>/accept")
@roles(*ACCEPTING)
@operation(body=AcceptanceCreate, ok=AcceptanceRead, status=201, tags=["risks"])
def risks_accept(risk_id: int, body: AcceptanceCreate):
    """Accept a risk as it is until `expires_on`, saying why; a high or very-high risk only by a
    leader (403 otherwise). It reopens when the acceptance expires."""
    db = get_session()
    risk = _risk(risk_id)
    row = risks.accept(db, risk, body, actor(), current_user().roles)
    return next(r for r in risks.acceptances(db, risk) if r.id == row.id)


@bp.get("/risks/<int:risk_id>/acceptances")
@roles(*ALL_ROLES)
@operation(query=PageQuery, ok=page_model(AcceptanceRead), tags=["risks"])
def risks_acceptances(risk_id: int, query: PageQuery):
    """The risk's acceptances, newest first: in force, expired and revoked."""
    rows = risks.acceptances(get_session(), _risk(risk_id))
    start = (query.page - 1) * query.page_size
    return page(rows[start : start + query.page_size], len(rows), query)


@bp.post("/risks/<int:risk_id>/reviews")
@roles(*WRITERS)
@operation(body=ReviewCreate, ok=ReviewRead, status=201, tags=["risks"])
def risks_review(risk_id: int, body: ReviewCreate):
    """Record a periodic review: the likelihood and impact as reviewed (a change relevels the risk) and a note."""
    db = get_session()
    row = risks.review(db, _risk(risk_id), body, actor(), _method())
    return next(r for r in risks.reviews(db, db.get(Risk, row.risk_id)) if r.id == row.id)


@bp.get("/risks/<int:risk_id>/reviews")
@roles(*ALL_ROLES)
@operation(query=PageQuery, ok=page_model(ReviewRead), tags=["risks"])
def risks_reviews(risk_id: int, query: PageQuery):
    """The risk's reviews, newest first."""
    rows = risks.reviews(get_session(), _risk(risk_id))
    start = (query.page - 1) * query.page_size
    return page(rows[start : start + query.page_size], len(rows), query)

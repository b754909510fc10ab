"""Web pages of the risk register: the list, one risk with its acceptances and reviews, the forms
that register, edit, accept and review a risk, and the heat map."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request, url_for
from flask_babel import gettext as _

from assessments import risks, rule
from assessments.models import Risk
from assessments.schemas import RISK_FILTERS, AcceptanceCreate, ReviewCreate, RiskCreate, RiskQuery, RiskUpdate
from assessments.services import WRITERS
from assets import services as asset_services
from assets.schemas import AssetQuery
from secgov import directory, responsibility
from secgov.authz import ALL_ROLES, roles
from secgov.errors import ServiceError
from secgov.pages import Done, Form, act, list_query
from secgov.web import actor, get_session, require_user, service_config

bp = Blueprint("risks", __name__, url_prefix="/risks")

# Who accepts and reviews risks: the writers, and leaders (the only ones who accept high and
# very-high risks: the service refuses the others).
DECIDERS = (*WRITERS, *risks.ACCEPTORS)
SCALED = ("residual_likelihood", "residual_impact")
CREATE = Form(RiskCreate, empty_is_none=("owner", "due_date", *SCALED))
UPDATE = Form(RiskUpdate, empty_is_none=("owner", "due_date", "status", *SCALED))
ACCEPT = Form(AcceptanceCreate)
REVIEW = Form(ReviewCreate, empty_is_none=("likelihood", "impact", *SCALED))


def _prefixed(form: str, errors: dict[str, str]) -> dict[str, str]:
    """The errors of one of the page's several forms, keyed `<form>_<field>` (the page's own: "_")."""
    return {("_" if key == "_" else f"{form}_{key}"): message for key, message in errors.items()}


def _method() -> rule.Method:
    return rule.method(get_session(), service_config())


def _risk(risk_id: int) -> Risk:
    return risks.get_risk(get_session(), risk_id, actor())


def _args(query) -> dict:
    return {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}


@bp.get("")
@roles(*ALL_ROLES)
def index():
    """The register in the user's scope, filtered and sorted on the server."""
    query, problems = list_query(RiskQuery, (*RISK_FILTERS, "page"))
    db = get_session()
    method = _method()
    try:
        rows, total = risks.list_risks(db, actor(), query, method)
    except ServiceError as exc:
        problems.append(exc.message)
        query = query.model_copy(update={"department": None})
        rows, total = risks.list_risks(db, actor(), query, method)
    for problem in problems:
        flash(problem, "warning")
    return render_template(
        "assessments/risks/index.html",
        items=risks.read_many(db, rows, method),
        total=total,
        query=query,
        args=_args(query),
        departments=directory.departments_in_scope(db, actor()),
        people=asset_services.eligible_owners(db, actor()),
    )


@bp.get("/heatmap")
@roles(*ALL_ROLES)
def heatmap():
    """Live risks by likelihood × impact, inherent and residual, under the matrix in force."""
    db = get_session()
    method = _method()
    department = request.args.get("department", "").strip()[:40]
    path = None
    if department:
        try:
            path = directory.department_by_code(db, department, actor()).path
        except ServiceError as exc:
            flash(exc.message, "warning")
            department = ""
    return render_template(
        "assessments/risks/heatmap.html",
        heat=risks.heat_map(db, actor(), method, path),
        counts=risks.counts(db, actor(), method, department_path=path),
        department=department,
        expiring_days=risks.EXPIRING_DAYS,
        departments=directory.departments_in_scope(db, actor()),
    )


def _detail_page(risk: Risk, errors: dict[str, str] | None = None, posted: dict | None = None):
    db = get_session()
    method = _method()
    return render_template(
        "assessments/risks/detail.html",
        risk=risk,
        record=risks.read_one(db, risk, method),
        reviews=risks.reviews(db, risk),
        acceptances=risks.acceptances(db, risk),
        owners=responsibility.history(db, risks.SUBJECT, risk.id, risks.OWNER),
        review_months=method.review_months,
        errors=errors or {},
        posted=posted or {},
    )


@bp.get("/<int:risk_id>")
@roles(*ALL_ROLES)
def detail(risk_id: int):
    """Everything about one risk: its levels, owner, treatment, acceptance in force, reviews."""
    return _detail_page(_risk(risk_id))


def _form_page(risk: Risk | None, form: dict, errors: dict[str, str]) -> str:
    db = get_session()
    assets, _total = asset_services.list_assets(db, actor(), AssetQuery(page_size=200))
    return render_template(
        "assessments/risks/form.html",
        risk=risk,
        form=form,
        errors=errors,
        assets=assets,
        people=asset_services.eligible_owners(db, actor()),
        matrix=_method().matrix,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(*WRITERS)
def create():
    """Register a risk by hand."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        form = {"asset_id": request.args.get("asset_id", ""), "likelihood": "3", "impact": "3"}
        return _form_page(None, form, {})
    return act(
        lambda data: risks.create_risk(get_session(), data, actor(), _method()),
        form=CREATE,
        done=lambda risk: Done(url_for("risks.detail", risk_id=risk.id), _("Risk #%(id)d was registered.", id=risk.id)),
        again=lambda errors: _form_page(None, CREATE.echo(), errors),
    )


@bp.route("/<int:risk_id>/edit", methods=["GET", "POST"])
@roles(*WRITERS)
def edit(risk_id: int):
    """Edit a risk at the version read; new figures relevel it."""
    risk = _risk(risk_id)
    if request.method != "POST":  # GET, and HEAD
        record = risks.read_one(get_session(), risk, _method())
        form = {k: ("" if v is None else str(v)) for k, v in record.model_dump().items() if not isinstance(v, dict)}
        form["owner"] = record.owner or require_user().username
        return _form_page(risk, form, {})
    return act(
        lambda data: risks.update_risk(get_session(), risk, data, actor(), _method()),
        form=UPDATE,
        done=lambda saved: Done(url_for("risks.detail", risk_id=saved.id), _("Risk #%(id)d was saved.", id=saved.id)),
        again=lambda errors: _form_page(risk, UPDATE.echo(), errors),
    )


@bp.post("/<int:risk_id>/accept")
@roles(*DECIDERS)
def accept(risk_id: int):
    """Accept the risk as it is until a date, saying why (high and very-high: leaders only)."""
    risk = _risk(risk_id)
    return act(
        lambda data: risks.accept(get_session(), risk, data, actor(), require_user().roles),
        form=ACCEPT,
        done=lambda _row: Done(url_for("risks.detail", risk_id=risk.id), _("The risk was accepted.")),
        again=lambda errors: _detail_page(risk, _prefixed("accept", errors), dict(request.form)),
    )


@bp.post("/<int:risk_id>/review")
@roles(*DECIDERS)
def review(risk_id: int):
    """Record a periodic review of the risk."""
    risk = _risk(risk_id)
    return act(
        lambda data: risks.review(get_session(), risk, data, actor(), _method()),
        form=REVIEW,
        done=lambda _row: Done(url_for("risks.detail", risk_id=risk.id), _("The review was recorded.")),
        again=lambda errors: _detail_page(risk, _prefixed("review", errors), dict(request.form)),
    )

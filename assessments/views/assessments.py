"""Web pages of assessments: the list, one assessment with its workflow and findings, and the
form that drafts or edits one (areas' ratings with reasons, the controls reviewed by area)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from assessments import rule, schedule, services
from assessments.codes import AGENCY_KINDS, CONCLUSION
from assessments.models import Assessment
from assessments.schemas import (
    ASSESSMENT_FILTERS,
    AssessmentCreate,
    AssessmentDecision,
    AssessmentQuery,
    AssessmentRead,
    AssessmentUpdate,
    DueQuery,
    FindingCreate,
    Promotion,
)
from assessments.services import APPROVERS, EDITABLE, WRITERS
from assets import controls as asset_controls
from assets import services as asset_services
from assets.models import Asset
from assets.schemas import AssetQuery
from secgov import directory
from secgov.authz import ALL_ROLES, roles
from secgov.codes import AREA, current_language
from secgov.errors import NotFound, ServiceError, validation_details
from secgov.pages import Done, Form, act, list_query
from secgov.web import actor, get_session, service_config

bp = Blueprint("assessments", __name__, url_prefix="/assessments")

FINDING = Form(FindingCreate)
PROMOTION = Form(Promotion, empty_is_none=("owner", "due_date"))
DECISION = Form(AssessmentDecision, empty_is_none=("version",))
# Plain fields of the assessment form, beside the areas (`rating:<area>`, `reason:<area>`,
# `notes:<area>`) and the controls reviewed (`control:<id>`, `note:<id>`).
EMPTY_IS_NONE = ("finished_on", "agency_score")


def _prefixed(form: str, errors: dict[str, str]) -> dict[str, str]:
    """The errors of one of the page's several forms, keyed `<form>_<field>` (the page's own: "_")."""
    return {("_" if key == "_" else f"{form}_{key}"): message for key, message in errors.items()}


def _method() -> rule.Method:
    return rule.method(get_session(), service_config())


def _assessment(assessment_id: int) -> Assessment:
    return services.get_assessment(get_session(), assessment_id, actor())


def _to_detail(a: Assessment, message: str, anchor: str | None = None) -> Done:
    return Done(url_for("assessments.detail", assessment_id=a.id, _anchor=anchor), message)


# --- the list ------------------------------------------------------------------------------------


@bp.get("")
@roles(*ALL_ROLES)
def index():
    """Assessments in the user's scope, filtered by kind, status, conclusion, department and year."""
    query, problems = list_query(AssessmentQuery, (*ASSESSMENT_FILTERS, "page"))
    db = get_session()
    try:
        rows, total = services.list_assessments(db, actor(), query)
    except ServiceError as exc:
        problems.append(exc.message)
        query = query.model_copy(update={"department": None})
        rows, total = services.list_assessments(db, actor(), query)
    for problem in problems:
        flash(problem, "warning")
    args = {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}
    this_year = date.today().year
    return render_template(
        "assessments/index.html",
        items=rows,
        total=total,
        query=query,
        args=args,
        years=range(this_year, this_year - 8, -1),
        departments=directory.departments_in_scope(db, actor()),
    )


# --- the due list --------------------------------------------------------------------------------

DUE_FILTERS = ("state", "kind", "department", "asset_id")


@bp.get("/due")
@roles(*ALL_ROLES)
def due():
    """Required assessments (overdue, due soon, on time, or all), by kind and department."""
    query, problems = list_query(DueQuery, (*DUE_FILTERS, "page"))
    db = get_session()
    method = rule.method(db, service_config())
    today = services.today_utc()
    try:
        rows, total = schedule.due_list(db, actor(), query, method, today)
        counts = schedule.state_counts(db, actor(), method, today, query.department)
    except ServiceError as exc:
        problems.append(exc.message)
        query = query.model_copy(update={"department": None})
        rows, total = schedule.due_list(db, actor(), query, method, today)
        counts = schedule.state_counts(db, actor(), method, today)
    for problem in problems:
        flash(problem, "warning")
    args = {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}
    return render_template(
        "assessments/due.html",
        items=rows,
        total=total,
        query=query,
        args=args,
        counts=counts,
        today=today,
        soon_days=method.soon_days,
        departments=directory.departments_in_scope(db, actor()),
    )


# --- one assessment ------------------------------------------------------------------------------


def why(record: AssessmentRead, method: rule.Method) -> list[str]:
    """How the score and the conclusion came about, in sentences for the page."""
    lines = []
    if record.kind in AGENCY_KINDS and record.agency and record.agency_score is not None:
        lines.append(_("The score is the one reported by %(agency)s, as entered.", agency=record.agency))
    elif record.score is not None:
        lines.append(_("The score is the weighted mean of the rated areas."))
    if record.score is None:
        lines.append(_("Poor: no area could be rated."))
        return lines
    fair = method.thresholds.get("fair", 70)
    if record.conclusion == "poor" and record.score >= fair:
        lines.append(
            _("Poor although the score reaches %(fair)s: a high or very-high risk of the asset was open.", fair=fair)
            if record.frozen
            else _(
                "Poor although the score reaches %(fair)s: a high or very-high risk of the asset is open.", fair=fair
            )
        )
    elif record.conclusion == "poor":
        lines.append(_("Poor: the score is below %(fair)s.", fair=fair))
    else:
        lines.append(
            _(
                "%(conclusion)s: the score is at least %(threshold)s and no high or very-high risk of the asset is open.",
                conclusion=CONCLUSION.label(record.conclusion),
                threshold=method.thresholds.get(record.conclusion),
            )
        )
    if record.frozen:
        lines.append(_("Score and conclusion were fixed when the assessment was approved."))
    elif record.severe_risk_open and record.conclusion != "poor":
        lines.append(_("A high or very-high risk of the asset is open."))
    return lines


def _detail_page(a: Assessment, errors: dict[str, str] | None = None, posted: dict | None = None):
    db = get_session()
    method = _method()
    record = services.read_one(db, a, method)
    titles = {}
    if record.controls:
        asset = db.get(Asset, a.asset_id)
        overview = asset_controls.control_overview(db, asset, current_language())
        titles = {item.control_id: (item.code, item.title) for group in overview.areas for item in group.items}
    return render_template(
        "assessments/detail.html",
        titles=titles,
        a=a,
        record=record,
        why=why(record, method),
        editable=a.status in EDITABLE,
        people=asset_services.eligible_owners(db, actor()),
        errors=errors or {},
        posted=posted or {},
        method=method,
    )


@bp.get("/<int:assessment_id>")
@roles(*ALL_ROLES)
def detail(assessment_id: int):
    """One assessment: its asset, areas, score and conclusion with the reasons, reviewed controls,
    findings, and the workflow's buttons for who may use them."""
    return _detail_page(_assessment(assessment_id))


# --- the form ------------------------------------------------------------------------------------


def _read_form(schema: type[BaseModel]) -> tuple[dict, list[str], list[str]]:
    """The posted assessment form as the schema's input; with the areas' and the controls' order
    (to name the field of a validation error)."""
    form = request.form
    data: dict = {}
    for name in schema.model_fields:
        if name in ("areas", "controls"):
            continue
        if name == "assessors":
            data[name] = [line.strip() for line in form.get(name, "").replace(",", "\n").splitlines() if line.strip()]
        elif name in form:
            value = form[name]
            data[name] = None if name in EMPTY_IS_NONE and not value.strip() else value
    areas = [code for code in AREA.codes if f"rating:{code}" in form]
    data["areas"] = [
        {
            "area": code,
            "rating": form[f"rating:{code}"].strip() or None,
            "reason": form.get(f"reason:{code}", ""),
            "notes": form.get(f"notes:{code}", ""),
        }
        for code in areas
    ]
    controls = [key.partition(":")[2] for key in form if key.startswith("control:") and form[key]]
    data["controls"] = [
        {"control_id": cid, "status": form[f"control:{cid}"], "note": form.get(f"note:{cid}", "")} for cid in controls
    ]
    return data, areas, controls


@dataclass(frozen=True)
class AssessmentForm:
    """The assessment form read into AssessmentCreate or AssessmentUpdate (for `act`), errors
    keyed as the template shows them: `rating:<area>`, `control:<id>`, or the field's name."""

    schema: type[BaseModel]

    def parse(self):
        data, areas, controls = _read_form(self.schema)
        try:
            return self.schema.model_validate(data), {}
        except ValidationError as exc:
            errors: dict[str, str] = {}
            for detail in validation_details(exc):
                parts = detail["field"].split(".")
                key = parts[0] or "_"
                if key in ("areas", "controls") and len(parts) > 1 and parts[1].isdigit():
                    index = int(parts[1])
                    if key == "areas" and index < len(areas):
                        key = f"{parts[2] if len(parts) > 2 else 'rating'}:{areas[index]}"
                    elif key == "controls" and index < len(controls):
                        key = f"control:{controls[index]}"
                errors.setdefault(key, detail["message"])
            return None, errors


CREATE = AssessmentForm(AssessmentCreate)
UPDATE = AssessmentForm(AssessmentUpdate)


def _errors_by_form_key(errors: dict[str, str]) -> dict[str, str]:
    """A service's field (`reason_<area>`) as the form names it (`reason:<area>`)."""
    result = {}
    for key, message in errors.items():
        for prefix in ("reason_", "rating_"):
            if key.startswith(prefix):
                key = prefix[:-1] + ":" + key[len(prefix) :]
        result[key] = message
    return result


def _asset_in_scope(asset_id) -> Asset | None:
    """The asset the form is about, or None when the id names none in scope (not audited: the
    form then asks for an asset again)."""
    try:
        return asset_services.get_asset(get_session(), int(asset_id), actor())
    except (NotFound, TypeError, ValueError):
        get_session().rollback()
        return None


def _chooser(form: dict, errors: dict[str, str]) -> str:
    """The first step of a new assessment: which asset, which kind."""
    db = get_session()
    q = request.args.get("q", "").strip()[:100]
    assets, total = asset_services.list_assets(db, actor(), AssetQuery(q=q, page_size=200))
    return render_template("assessments/choose.html", assets=assets, total=total, q=q, form=form, errors=errors)


def _form_page(a: Assessment | None, asset: Asset, form: dict, errors: dict[str, str]) -> str:
    db = get_session()
    reviewed = {k.partition(":")[2]: v for k, v in form.items() if k.startswith("control:") and v}
    computed = services.computed_ratings(db, asset.id, reviewed)
    overview = asset_controls.control_overview(db, asset, current_language())
    return render_template(
        "assessments/form.html",
        a=a,
        asset=asset,
        form=form,
        errors=_errors_by_form_key(errors),
        computed=computed,
        overview=overview,
        method=_method(),
        agency_kinds=AGENCY_KINDS,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(*WRITERS)
def create():
    """Draft an assessment: first the asset and kind, then the whole form."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        form = {"kind": request.args.get("kind", "self_inspection"), "started_on": date.today().isoformat()}
        asset = _asset_in_scope(request.args["asset_id"]) if request.args.get("asset_id") else None
        if asset is None:
            return _chooser(form, {})
        return _form_page(None, asset, form, {})

    def again(errors: dict[str, str]) -> str:
        asset = None if "asset_id" in errors else _asset_in_scope(request.form.get("asset_id"))
        if asset is None:
            return _chooser(dict(request.form), {"asset_id": errors.get("asset_id") or _("Choose an asset.")})
        return _form_page(None, asset, dict(request.form), errors)

    return act(
        lambda data: services.create_assessment(get_session(), data, actor()),
        form=CREATE,
        done=lambda a: _to_detail(a, _("The assessment was drafted.")),
        again=again,
    )


def _edit_form(record: AssessmentRead) -> dict:
    form = {
        "version": str(record.version),
        "title": record.title,
        "assessors": "\n".join(record.assessors),
        "started_on": record.started_on.isoformat(),
        "finished_on": record.finished_on.isoformat() if record.finished_on else "",
        "agency": record.agency,
        "report_number": record.report_number,
        "agency_score": "" if record.agency_score is None else f"{record.agency_score:g}",
        "summary": record.summary,
    }
    for area in record.areas:
        form[f"rating:{area.area}"] = f"{area.rating:g}" if area.adjusted and area.rating is not None else ""
        form[f"reason:{area.area}"] = area.reason
        form[f"notes:{area.area}"] = area.notes
    for control in record.controls:
        form[f"control:{control.control_id}"] = control.status
        form[f"note:{control.control_id}"] = control.note
    return form


@bp.route("/<int:assessment_id>/edit", methods=["GET", "POST"])
@roles(*WRITERS)
def edit(assessment_id: int):
    """Edit a draft or returned assessment (a submitted or approved one is shown, not edited)."""
    a = _assessment(assessment_id)
    db = get_session()
    asset = db.get(Asset, a.asset_id)
    if request.method != "POST":  # GET, and HEAD
        if a.status not in EDITABLE:
            flash(_("Only a draft or returned assessment can be edited."), "warning")
            return redirect(url_for("assessments.detail", assessment_id=a.id))
        return _form_page(a, asset, _edit_form(services.read_one(db, a, _method())), {})
    return act(
        lambda data: services.update_assessment(db, a, data, actor()),
        form=UPDATE,
        done=lambda saved: _to_detail(saved, _("The assessment was saved.")),
        again=lambda errors: _form_page(a, asset, dict(request.form), errors),
    )


# --- the workflow --------------------------------------------------------------------------------


def _version() -> int | None:
    value = request.form.get("version", "")
    return int(value) if value.isdigit() else None


@bp.post("/<int:assessment_id>/submit")
@roles(*WRITERS)
def submit(assessment_id: int):
    """Hand the assessment to a leader."""
    a = _assessment(assessment_id)
    back = url_for("assessments.detail", assessment_id=a.id)
    return act(
        lambda: services.submit(get_session(), a, actor(), _method(), _version()),
        done=lambda done: _to_detail(done, _("The assessment was submitted for approval.")),
        back=back,
    )


@bp.post("/<int:assessment_id>/approve")
@roles(*APPROVERS)
def approve(assessment_id: int):
    """Approve a submitted assessment (never one's own): its score and conclusion are fixed."""
    a = _assessment(assessment_id)
    return act(
        lambda data: services.approve(get_session(), a, data, actor(), _method()),
        form=DECISION,
        done=lambda done: _to_detail(done, _("The assessment was approved.")),
        back=url_for("assessments.detail", assessment_id=a.id),
    )


@bp.post("/<int:assessment_id>/return")
@roles(*APPROVERS)
def return_(assessment_id: int):
    """Return a submitted assessment to its authors, saying why."""
    a = _assessment(assessment_id)
    return act(
        lambda data: services.return_assessment(get_session(), a, data, actor()),
        form=DECISION,
        done=lambda done: _to_detail(done, _("The assessment was returned.")),
        again=lambda errors: _detail_page(a, _prefixed("return", errors), dict(request.form)),
    )


@bp.post("/<int:assessment_id>/delete")
@roles(*WRITERS)
def delete(assessment_id: int):
    """Remove a draft that was never submitted."""
    a = _assessment(assessment_id)
    return act(
        lambda: services.delete_draft(get_session(), a, actor()),
        done=lambda _none: Done(url_for("assessments.index"), _("The draft assessment was removed.")),
        back=url_for("assessments.detail", assessment_id=a.id),
    )


# --- findings ------------------------------------------------------------------------------------


@bp.post("/<int:assessment_id>/findings")
@roles(*WRITERS)
def finding_add(assessment_id: int):
    """Record a finding of a draft or returned assessment."""
    a = _assessment(assessment_id)
    return act(
        lambda data: services.add_finding(get_session(), a, data, actor()),
        form=FINDING,
        done=lambda f: _to_detail(a, _("The finding was recorded."), "findings"),
        again=lambda errors: _detail_page(a, _prefixed("finding", errors), dict(request.form)),
    )


@bp.post("/<int:assessment_id>/findings/<int:finding_id>/delete")
@roles(*WRITERS)
def finding_remove(assessment_id: int, finding_id: int):
    """Remove a finding not yet promoted to a risk."""
    a, finding = services.get_scoped_finding(get_session(), assessment_id, finding_id, actor())
    return act(
        lambda: services.remove_finding(get_session(), a, finding, actor()),
        done=lambda _none: _to_detail(a, _("The finding was removed."), "findings"),
        back=url_for("assessments.detail", assessment_id=a.id, _anchor="findings"),
    )


@bp.post("/<int:assessment_id>/findings/<int:finding_id>/promote")
@roles(*WRITERS)
def finding_promote(assessment_id: int, finding_id: int):
    """Promote a finding to the risk register (one risk per finding)."""
    a, finding = services.get_scoped_finding(get_session(), assessment_id, finding_id, actor())

    back = url_for("assessments.detail", assessment_id=a.id, _anchor="findings")
    data, errors = PROMOTION.parse({"source": "assessment_finding", "source_id": finding.id})
    if data is None:
        for message in dict.fromkeys(errors.values()):
            flash(message, "danger")
        return redirect(back)
    return act(
        lambda: services.risks.promote(get_session(), data, actor(), _method()),
        done=lambda risk: Done(
            url_for("risks.detail", risk_id=risk.id), _("The finding is now risk #%(id)d.", id=risk.id)
        ),
        back=back,
    )

"""Web pages of the vendor-origin policy: the compliance view and exemptions (the policy itself is a
city-wide setting, changed on the settings page)."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request, url_for
from flask_babel import gettext as _

from assets import policy
from assets.policy import APPROVERS
from assets.schemas import ExemptionCreate, ExemptionDecision, ExemptionQuery
from assets.services import WRITERS
from secgov import settings
from secgov.authz import ALL_ROLES, roles
from secgov.pages import Done, Form, act, list_query
from secgov.web import actor, can, get_session, service_config

bp = Blueprint("policy", __name__)

PAGE_SIZE = 50
REQUEST = Form(ExemptionCreate)
DECISION = Form(ExemptionDecision)


@bp.get("/compliance/vendor-origin")
@roles(*ALL_ROLES)
def compliance():
    """Violations, warnings, exemptions and counts per department and sector, within scope."""
    report = policy.compliance(get_session(), actor(), service_config())
    may_change = can("admin.settings_page") and settings.may_change(actor())
    return render_template("policy/compliance.html", report=report, may_change_policy=may_change)


def _exemptions_page(form, errors) -> str:
    db = get_session()
    query, problems = list_query(ExemptionQuery, ("status", "page"), page_size=PAGE_SIZE)
    for problem in problems:
        flash(problem, "warning")
    rows, total = policy.list_exemptions(db, actor(), query)
    candidates = policy.exemption_candidates(db, actor(), service_config()) if can("policy.exemption_create") else []
    return render_template(
        "policy/exemptions.html",
        exemptions=rows,
        total=total,
        query=query,
        candidates=candidates,
        form=form,
        errors=errors,
    )


@bp.get("/vendor-exemptions")
@roles(*ALL_ROLES)
def exemptions():
    """Exemption requests and decisions in scope; officers request, leaders decide."""
    return _exemptions_page({"engagement_id": request.args.get("engagement", "")}, {})


@bp.post("/vendor-exemptions/new")
@roles(*WRITERS)
def exemption_create():
    """Ask a leader to exempt an engagement the policy warns about."""
    return act(
        lambda data: policy.request_exemption(get_session(), data, actor(), service_config()),
        form=REQUEST,
        done=lambda _x: Done(url_for("policy.exemptions"), _("The exemption was requested; a leader will decide.")),
        again=lambda errors: _exemptions_page(request.form, errors),
    )


def _decide(exemption_id: int, approve: bool):
    exemption = policy.get_exemption(get_session(), exemption_id, actor())
    message = _("The exemption was approved.") if approve else _("The exemption was rejected.")
    return act(
        lambda data: policy.decide_exemption(get_session(), exemption, approve, data, actor()),
        form=DECISION,
        done=lambda _x: Done(url_for("policy.exemptions"), message),
        back=url_for("policy.exemptions"),
    )


@bp.post("/vendor-exemptions/<int:exemption_id>/approve")
@roles(*APPROVERS)
def exemption_approve(exemption_id: int):
    """Approve a pending exemption (not one's own)."""
    return _decide(exemption_id, approve=True)


@bp.post("/vendor-exemptions/<int:exemption_id>/reject")
@roles(*APPROVERS)
def exemption_reject(exemption_id: int):
    """Reject a pending exemption, saying why."""
    return _decide(exemption_id, approve=False)

"""Web pages of scan findings: the register (filters, triage from the list), one finding, and its
promotion to the risk register."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _

from assessments import rule
from assets import services as asset_services
from assets.models import Asset
from scans import findings, services
from scans.models import ScanFinding
from scans.schemas import FindingPromotion, FindingQuery, Triage
from scans.views.scans import args_of, asset_filter, bp, prefixed
from secgov import directory
from secgov.authz import ALL_ROLES, roles
from secgov.errors import ServiceError
from secgov.pages import Done, Form, act, safe_next
from secgov.web import actor, get_session, service_config

TRIAGE = Form(Triage)
PROMOTION = Form(FindingPromotion, empty_is_none=("owner", "due_date"))
FINDING_FILTERS = ("department", "kind", "severity", "status", "scan_id", "page")


@bp.get("/findings")
@roles(*ALL_ROLES)
def findings_index():
    """The findings in the user's scope, filtered by department, asset, kind, severity and status."""
    query, problems, code, unknown = asset_filter(FindingQuery, FINDING_FILTERS)
    db, who, timezone = get_session(), actor(), service_config().timezone
    rows, total = [], 0
    if not unknown:
        try:
            rows, total = findings.list_findings(db, who, query, timezone)
        except ServiceError as exc:
            problems.append(exc.message)
            query = query.model_copy(update={"department": None})
            rows, total = findings.list_findings(db, who, query, timezone)
    for problem in problems:
        flash(problem, "warning")
    return render_template(
        "scans/findings.html",
        rows=rows,
        total=total,
        query=query,
        asset_code=code,
        args=args_of(query, code),
        departments=directory.departments_in_scope(db, who),
        moves=findings.MOVES,
    )


def _finding(finding_id: int) -> tuple[ScanFinding, Asset]:
    db = get_session()
    finding = findings.get_finding(db, actor(), finding_id)
    return finding, db.get(Asset, finding.asset_id)


def _finding_page(finding: ScanFinding, asset: Asset, errors: dict[str, str] | None = None, posted=None):
    db = get_session()
    return render_template(
        "scans/finding.html",
        finding=finding,
        record=findings.read(finding, asset.code),
        asset=asset,
        title=findings.title_of(finding),
        moves=findings.MOVES,
        people=asset_services.eligible_owners(db, actor()),
        errors=errors or {},
        posted=posted or {},
    )


@bp.get("/findings/<int:finding_id>")
@roles(*ALL_ROLES)
def finding(finding_id: int):
    """One finding: what changed, on which host and port, found by which scan, its triage."""
    return _finding_page(*_finding(finding_id))


@bp.post("/findings/<int:finding_id>/triage")
@roles(*services.WRITERS)
def triage(finding_id: int):
    """Acknowledge a finding, call it a false positive, resolve it, or open it again, with a note;
    back to the page it was done from (the register or the finding)."""
    found, _asset = _finding(finding_id)
    back = safe_next(request.form.get("next"), url_for("scans.finding", finding_id=found.id))
    labels = {
        "acknowledge": _("Finding #%(id)d was acknowledged.", id=found.id),
        "false_positive": _("Finding #%(id)d was closed as a false positive.", id=found.id),
        "resolve": _("Finding #%(id)d was resolved.", id=found.id),
        "reopen": _("Finding #%(id)d was opened again.", id=found.id),
    }
    return act(
        lambda data: findings.triage(get_session(), actor(), found.id, data),
        form=TRIAGE,
        done=lambda row: Done(back, labels.get(request.form.get("action", ""), "")),
        back=back,
    )


@bp.post("/findings/<int:finding_id>/promote")
@roles(*services.WRITERS)
def promote(finding_id: int):
    """Promote a finding to the risk register with its owner, due date and treatment."""
    found, asset = _finding(finding_id)
    data, errors = PROMOTION.parse()
    if data is None:
        return _finding_page(found, asset, prefixed("promote", errors), dict(request.form)), 422
    db = get_session()
    return act(
        lambda: findings.promote(db, actor(), found.id, data, rule.method(db, service_config())),
        done=lambda risk: Done(
            url_for("risks.detail", risk_id=risk.id), _("The finding is now risk #%(id)d.", id=risk.id)
        ),
        back=url_for("scans.finding", finding_id=found.id),
    )

"""Scan findings over the API: the register with its filters, triage, and promotion to the risk
register; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from assessments import risks, rule
from assessments.schemas import RiskRead
from assets.models import Asset
from scans import findings
from scans.schemas import FindingPromotion, FindingQuery, FindingRead, Triage
from scans.services import READERS, WRITERS
from secgov.authz import roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session, service_config

bp = Blueprint("scan_findings_api", __name__, url_prefix="/api/v1")
TAGS = ["findings"]


def _read(finding_id: int) -> FindingRead:
    db = get_session()
    finding = findings.get_finding(db, actor(), finding_id)
    return findings.read(finding, db.get(Asset, finding.asset_id).code)


@bp.get("/findings")
@roles(*READERS)
@operation(query=FindingQuery, ok=page_model(FindingRead), tags=TAGS)
def findings_list(query: FindingQuery):
    """Findings of the scans of the assets in the caller's scope, newest first; filtered (asset,
    scan, department and its subtree, kind, severity, status, since a day) and paged."""
    rows, total = findings.list_findings(get_session(), actor(), query, service_config().timezone)
    return page([findings.read(finding, code) for finding, code in rows], total, query)


@bp.get("/findings/<int:finding_id>")
@roles(*READERS)
@operation(ok=FindingRead, tags=TAGS)
def findings_get(finding_id: int):
    """One finding, with what changed (`detail`), its triage and its risk once promoted."""
    return _read(finding_id)


@bp.post("/findings/<int:finding_id>/triage")
@roles(*WRITERS)
@operation(body=Triage, ok=FindingRead, tags=TAGS)
def findings_triage(finding_id: int, body: Triage):
    """Acknowledge the finding, call it a false positive, resolve it, or open it again (send the
    version you read); a promoted finding is treated in the risk register (409)."""
    findings.triage(get_session(), actor(), finding_id, body)
    return _read(finding_id)


@bp.post("/findings/<int:finding_id>/promote")
@roles(*WRITERS)
@operation(body=FindingPromotion, body_optional=True, ok=RiskRead, status=201, tags=TAGS + ["risks"])
def findings_promote(finding_id: int, body: FindingPromotion):
    """Register the finding as a risk (once: a second promotion is a conflict naming the risk);
    the asset's owner owns it unless you name another."""
    db = get_session()
    method = rule.method(db, service_config())
    return risks.read_one(db, findings.promote(db, actor(), finding_id, body, method), method)

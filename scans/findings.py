"""Scan findings: the register (filters, scope), triage (acknowledge, false positive, resolve,
open again) and promotion to the risk register through its promotion service, where a finding
is a source (`scan_finding`): one risk per finding, linked both ways."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, select

from assessments import risks
from assessments.models import Risk
from assessments.rule import Method
from assessments.schemas import Promotion
from assessments.scope import get_by_asset
from assets.models import Asset
from scans.codes import FINDING_KIND
from scans.models import ScanFinding
from scans.schemas import FindingPromotion, FindingQuery, FindingRead, Triage
from secgov import audit
from secgov.authz import Actor, in_scope, path_in_scope
from secgov.db import chunks
from secgov.errors import Conflict, Invalid, check_version
from secgov.localtime import day_start, instant
from secgov.models import AuditEntry, Department

# Which triage moves a finding from which statuses to which.
MOVES = {
    "acknowledge": (("open",), "acknowledged"),
    "false_positive": (("open", "acknowledged"), "false_positive"),
    "resolve": (("open", "acknowledged"), "resolved"),
    "reopen": (("acknowledged", "false_positive", "resolved"), "open"),
}
# A promoted finding's risk starts at these likelihood and impact (the risk's owner refines them).
SCALE = {"high": (4, 4), "medium": (3, 3), "low": (2, 2)}


def get_finding(session: Session, actor: Actor, finding_id: int) -> ScanFinding:
    return get_by_asset(session, ScanFinding, finding_id, actor, "scan_finding")


def _where(session: Session, actor: Actor, query: FindingQuery, timezone: str) -> list:
    where = [in_scope(Asset.department_id, actor)]
    if query.asset_id:
        where.append(ScanFinding.asset_id == query.asset_id)
    if query.scan_id:
        where.append(ScanFinding.scan_id == query.scan_id)
    if query.kind:
        where.append(ScanFinding.kind == query.kind)
    if query.severity:
        where.append(ScanFinding.severity == query.severity)
    if query.status:
        where.append(ScanFinding.status == query.status)
    if query.since:
        where.append(ScanFinding.created_at >= day_start(query.since, timezone))
    if query.department:
        path = session.exec(select(Department.path).where(Department.code == query.department)).first()
        if path is None or not path_in_scope(path, actor):
            raise Invalid(_("Unknown department."), field="department")
        subtree = select(Department.id).where(Department.path.startswith(path))
        where.append(Asset.department_id.in_(subtree))
    return where


def list_findings(
    session: Session, actor: Actor, query: FindingQuery, timezone: str = "Asia/Shanghai"
) -> tuple[list[tuple[ScanFinding, str]], int]:
    """Findings in scope with their asset's code: untriaged and most severe first, then newest."""
    where = _where(session, actor, query, timezone)
    total = session.exec(
        select(func.count()).select_from(ScanFinding).join(Asset, Asset.id == ScanFinding.asset_id).where(*where)
    ).one()
    rows = session.exec(
        select(ScanFinding, Asset.code)
        .join(Asset, Asset.id == ScanFinding.asset_id)
        .where(*where)
        .order_by(ScanFinding.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return [(f, code) for f, code in rows], total


def read(finding: ScanFinding, asset_code: str) -> FindingRead:
    return FindingRead(
        id=finding.id,
        asset_id=finding.asset_id,
        asset=asset_code,
        scan_id=finding.scan_id,
        kind=finding.kind,
        host=finding.host,
        port=finding.port,
        protocol=finding.protocol,
        severity=finding.severity,
        status=finding.status,
        detail=dict(finding.detail or {}),
        note=finding.note,
        triaged_by=finding.triaged_by,
        triaged_at=finding.triaged_at,
        risk_id=finding.risk_id,
        created_at=finding.created_at,
        version=finding.version,
    )


def triage(session: Session, actor: Actor, finding_id: int, data: Triage) -> ScanFinding:
    finding = get_finding(session, actor, finding_id)
    check_version(finding, data.version)
    sources, target = MOVES[data.action]
    if finding.status not in sources:
        if finding.status == "promoted":
            raise Conflict(_("This finding is risk #%(id)d: treat it in the risk register.", id=finding.risk_id or 0))
        raise Conflict(_("This finding cannot be triaged so from its present status."))
    asset = session.get(Asset, finding.asset_id)
    before = finding.status
    finding.status = target
    finding.note = data.note
    finding.triaged_by = actor.username
    finding.triaged_at = datetime.now(UTC)
    finding.version += 1
    session.add(finding)
    session.flush()
    audit.record(
        session, actor, "scan_finding.triaged", object_type="scan_finding", object_id=finding.id,
        department_id=asset.department_id, asset=asset.code, triage=data.action, note=data.note,
        before={"status": before}, after={"status": target},
    )  # fmt: skip
    return finding


def first_triaged(session: Session, findings: Sequence[ScanFinding]) -> dict[int, datetime]:
    """When each of these findings first left "open", for those that did: its first triage in the
    audit trail (`triaged_at` keeps only the latest, and a finding acknowledged, then resolved, was
    triaged at the first), or its promotion (its risk's creation). One statement per 500 findings,
    and one per 500 promoted ones."""
    first: dict[int, datetime] = {}
    found_at = {finding.id: finding.created_at for finding in findings}

    def seen(finding_id: int, at: datetime | None) -> None:
        # A moment before the finding was found is about an earlier one of the same id (deleted).
        if at is not None and at >= found_at[finding_id] and (finding_id not in first or at < first[finding_id]):
            first[finding_id] = at

    for finding in findings:
        seen(finding.id, finding.triaged_at)
    for chunk in chunks([str(f.id) for f in findings]):
        rows = session.exec(
            select(AuditEntry.object_id, AuditEntry.created_at).where(
                AuditEntry.action == "scan_finding.triaged",
                AuditEntry.object_type == "scan_finding",
                AuditEntry.object_id.in_(chunk),
            )
        ).all()
        for object_id, created_at in rows:
            seen(int(object_id), instant(created_at))
    by_risk = {f.risk_id: f.id for f in findings if f.risk_id is not None}
    for chunk in chunks(sorted(by_risk)):
        for risk_id, created_at in session.exec(select(Risk.id, Risk.created_at).where(Risk.id.in_(chunk))).all():
            seen(by_risk[risk_id], created_at)
    return first


def promote(session: Session, actor: Actor, finding_id: int, data: FindingPromotion, method: Method) -> risks.Risk:
    """Promote a finding to the risk register (through its promotion service)."""
    get_finding(session, actor, finding_id)
    return risks.promote(
        session,
        Promotion(
            source="scan_finding",
            source_id=finding_id,
            owner=data.owner,
            due_date=data.due_date,
            treatment=data.treatment,
        ),  # fmt: skip
        actor,
        method,
    )


def title_of(finding: ScanFinding) -> str:
    """A finding in words, in the language of the moment (a risk's title is stored as written)."""
    where = finding.host if finding.port is None else f"{finding.host}:{finding.port}/{finding.protocol}"
    detail = finding.detail or {}
    # A closed port or a host gone down has no "after": the service is the one seen before.
    service = detail.get("service") or (detail.get("after") or detail.get("before") or {}).get("service", "")
    label = FINDING_KIND.labels().get(finding.kind, finding.kind)
    return f"{label}: {where}" + (f" ({service})" if service else "")


def evidence_of(finding: ScanFinding) -> str:
    """What nmap saw, in nmap's own terms (stored with the risk, so in no reader's language)."""
    detail = finding.detail or {}
    seen = detail.get("after") or detail.get("before") or {}
    words = [str(seen.get(key) or "") for key in ("service", "product", "version")] if isinstance(seen, dict) else []
    where = finding.host if finding.port is None else f"{finding.host}:{finding.port}/{finding.protocol}"
    return " ".join(["nmap", f"scan #{finding.scan_id}:", finding.kind, where, *[w for w in words if w]])


def _draft(session: Session, finding_id: int, actor: Actor) -> risks.Draft:
    finding = session.get(ScanFinding, finding_id)
    if finding is None:
        raise Invalid(_("Unknown finding."), field="source_id")
    asset = session.get(Asset, finding.asset_id)
    department = session.get(Department, asset.department_id)
    if not path_in_scope(department.path, actor):
        raise Invalid(_("Unknown finding."), field="source_id")
    if finding.status in ("false_positive", "resolved"):
        raise Conflict(_("A finding closed as a false positive or resolved is not promoted; open it again first."))
    likelihood, impact = SCALE.get(finding.severity, (3, 3))
    return risks.Draft(
        asset_id=asset.id,
        title=title_of(finding),
        likelihood=likelihood,
        impact=impact,
        area="system_protection",
        vulnerability=evidence_of(finding),
    )


def _link(session: Session, finding_id: int, risk) -> None:
    finding = session.get(ScanFinding, finding_id)
    finding.risk_id = risk.id
    finding.status = "promoted"
    finding.version += 1
    session.add(finding)
    session.flush()


risks.register_source("scan_finding", "scan_finding", _draft, _link)

"""Scan findings and scans as register exports (CSV, XLSX) through the core's engine
(secgov.exchange): their columns, the rows they write, with the lists' filters and scope.

Both are read by the roles that read scans (`services.READERS`) and are export-only (`importers=()`): findings come from comparing what nmap saw, so
a spreadsheet of findings or of scans is not read back. What is imported is nmap's own XML, as a
scan of an asset (`services.import_xml`, behind POST /api/v1/scans/import and the asset's scan
page), checked by `xmlparse.parse` before the write; the findings follow from it."""

from __future__ import annotations

from collections.abc import Iterator

from flask_babel import gettext as _
from pydantic import BaseModel
from sqlmodel import Session, select

from assets.models import Asset
from scans import findings, services
from scans.codes import FINDING_KIND, FINDING_SEVERITY, FINDING_STATUS, SCAN_PROFILE, SCAN_SOURCE, SCAN_STATUS
from scans.models import Scan, ScanFinding, ScanResult
from scans.schemas import FindingQuery, ScanQuery
from secgov import exchange
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.exchange import Column, ExportOnly, Register
from secgov.localtime import Instant
from secgov.models import Department


class FindingLine(BaseModel):
    """A finding as its export writes it."""

    id: int
    asset: str
    department: str
    scan: int
    kind: str
    host: str
    port: int | None
    protocol: str
    severity: str
    status: str
    service: str
    product: str
    version: str
    before: str
    note: str
    triaged_by: str
    triaged_at: Instant | None
    risk: int | None
    found_at: Instant


def _service_text(state: dict | None) -> str:
    if not isinstance(state, dict):
        return ""
    return " ".join(str(state.get(k) or "") for k in ("service", "product", "version")).strip()


def _departments(session: Session, asset_ids: set[int]) -> dict[int, str]:
    if not asset_ids:
        return {}
    return dict(
        session.exec(
            select(Asset.id, Department.code)
            .join(Department, Department.id == Asset.department_id)
            .where(Asset.id.in_(asset_ids))
        ).all()
    )


def finding_records(session: Session, actor: Actor, query: FindingQuery) -> Iterator[FindingLine]:
    """Every finding in scope that the list's filters select, as the file's rows."""
    timezone = ServiceConfig().timezone
    for page in exchange.pages(lambda q: findings.list_findings(session, actor, q, timezone), query):
        departments = _departments(session, {f.asset_id for f, _code in page})
        for f, code in page:
            detail = f.detail or {}
            after = detail.get("after") if isinstance(detail.get("after"), dict) else detail
            yield FindingLine(
                id=f.id,
                asset=code,
                department=departments.get(f.asset_id, ""),
                scan=f.scan_id,
                kind=f.kind,
                host=f.host,
                port=f.port,
                protocol=f.protocol,
                severity=f.severity,
                status=f.status,
                service=str(after.get("service") or ""),
                product=str(after.get("product") or ""),
                version=str(after.get("version") or ""),
                before=_service_text(detail.get("before")),
                note=f.note,
                triaged_by=f.triaged_by,
                triaged_at=f.triaged_at,
                risk=f.risk_id,
                found_at=f.created_at,
            )
        for f, _code in page:
            session.expunge(f)


class ScanLine(BaseModel):
    """A scan as its export writes it."""

    id: int
    asset: str
    department: str
    source: str
    profile: str
    zone: str
    status: str
    error: str
    targets: list[str]
    command_line: str
    nmap_version: str
    requested_by: str
    authorization: int | None
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    elapsed: float | None
    hosts_up: int | None
    hosts_total: int | None
    open_ports: int | None
    findings: int | None
    sha256: str


def scan_records(session: Session, actor: Actor, query: ScanQuery) -> Iterator[ScanLine]:
    """Every scan in scope that the list's filters select, as the file's rows."""
    for page in exchange.pages(lambda q: services.list_scans(session, actor, q), query):
        departments = _departments(session, {s.asset_id for s, _code in page})
        ids = [s.id for s, _code in page]
        digests = (
            dict(session.exec(select(ScanResult.scan_id, ScanResult.sha256).where(ScanResult.scan_id.in_(ids))).all())
            if ids
            else {}
        )
        for s, code in page:
            yield ScanLine(
                id=s.id,
                asset=code,
                department=departments.get(s.asset_id, ""),
                source=s.source,
                profile=s.profile,
                zone=s.zone,
                status=s.status,
                error=s.error,
                targets=list(s.targets or []),
                command_line=s.command_line,
                nmap_version=s.nmap_version,
                requested_by=s.requested_by,
                authorization=s.authorization_id,
                created_at=s.created_at,
                started_at=s.started_at,
                finished_at=s.finished_at,
                elapsed=s.elapsed,
                hosts_up=s.hosts_up,
                hosts_total=s.hosts_total,
                open_ports=s.open_ports,
                findings=s.findings,
                sha256=digests.get(s.id, ""),
            )
        for s, _code in page:
            session.expunge(s)


# --- no import: the engine's import services refuse (no route offers them) -------------------------


# Made in the application, never imported from a spreadsheet.
_EXPORT_ONLY = ExportOnly(
    lambda: _("Findings and scans are not imported from a spreadsheet: import nmap's XML output as a scan.")
)


FINDINGS = Register(
    name="scan_findings",
    object_type="scan_finding",
    title=N_("Scan findings"),
    columns=(
        Column("id"),
        Column("asset"),
        Column("department"),
        Column("scan"),
        Column("kind", choices=FINDING_KIND.codes),
        Column("host"),
        Column("port"),
        Column("protocol"),
        Column("severity", choices=FINDING_SEVERITY.codes),
        Column("status", choices=FINDING_STATUS.codes),
        Column("service"),
        Column("product"),
        Column("version"),
        Column("before"),
        Column("note"),
        Column("triaged_by"),
        Column("triaged_at"),
        Column("risk"),
        Column("found_at"),
    ),
    schema=FindingLine,
    key="",
    check=_EXPORT_ONLY.check,
    create=_EXPORT_ONLY.create,
    undo=_EXPORT_ONLY.undo,
    filters=FindingQuery,
    records=finding_records,
    importers=(),
    exporters=services.READERS,
    release=(ScanFinding,),
)

SCANS = Register(
    name="scans",
    object_type="scan",
    title=N_("Scans"),
    columns=(
        Column("id"),
        Column("asset"),
        Column("department"),
        Column("source", choices=SCAN_SOURCE.codes),
        Column("profile", choices=SCAN_PROFILE.codes),
        Column("zone"),
        Column("status", choices=SCAN_STATUS.codes),
        Column("error"),
        Column("targets"),
        Column("command_line"),
        Column("nmap_version"),
        Column("requested_by"),
        Column("authorization"),
        Column("created_at"),
        Column("started_at"),
        Column("finished_at"),
        Column("elapsed"),
        Column("hosts_up"),
        Column("hosts_total"),
        Column("open_ports"),
        Column("findings"),
        Column("sha256"),
    ),
    schema=ScanLine,
    key="",
    check=_EXPORT_ONLY.check,
    create=_EXPORT_ONLY.create,
    undo=_EXPORT_ONLY.undo,
    filters=ScanQuery,
    records=scan_records,
    importers=(),
    exporters=services.READERS,
    release=(Scan,),
)

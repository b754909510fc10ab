"""The scans domain's chapters: "network exposure" in the compliance report (unexpected services
still open, new open ports found in the report's period, untriaged findings by bureau, systems
with network targets never scanned, scan authorizations ending soon), and the asset dossier's
section on the asset's scans (its scan policy, last scans and findings not closed).

Each builder reads the scans of the report's scope (its actor's subtree) as they are when the
report is generated, with the clauses the dashboard and the daily figures count with
(`scans.exposure`); moments are shown as days of the city's time zone; lists are cut at
`LIST_LIMIT` rows, the number left out beside them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from assets.chapters import _listed as listed
from assets.dossier import KIND as DOSSIER
from assets.dossier import asset_in_scope
from assets.models import Asset
from scans import exposure, policy
from scans.codes import FINDING_SEVERITY, SEVERITY_RANK
from scans.models import Scan, ScanAuthorization, ScanFinding
from secgov.authz import in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.localtime import day_start, local
from secgov.models import Department
from secgov.reports.chapters import Chapter, Period, Scope, share

SCANS_SHOWN = 10  # the dossier's last scans


def _day(moment: datetime | None, tz: str) -> str | None:
    return local(moment, tz).date().isoformat() if moment else None


def _where(finding: ScanFinding) -> str:
    return finding.host if finding.port is None else f"{finding.host}:{finding.port}/{finding.protocol}"


def _service(finding: ScanFinding) -> str:
    """What runs there, as nmap named it (the state after a change)."""
    detail = finding.detail or {}
    after = detail.get("after") if isinstance(detail.get("after"), dict) else {}
    parts = [detail.get("service") or after.get("service") or "", detail.get("product") or after.get("product") or ""]
    return " ".join(p for p in parts if p)


def _finding_row(finding: ScanFinding, code: str, name: str, department: str, tz: str) -> dict[str, Any]:
    return {
        "id": finding.id,
        "asset": code,
        "name": name,
        "department": department,
        "kind": finding.kind,
        "where": _where(finding),
        "service": _service(finding),
        "severity": finding.severity,
        "status": finding.status,
        "found_on": _day(finding.created_at, tz),
        "risk_id": finding.risk_id,
    }


def _findings(session: Session, *where) -> list[tuple[ScanFinding, str, str, str]]:
    return list(
        session.exec(
            select(ScanFinding, Asset.code, Asset.name, Department.code)
            .join(Asset, Asset.id == ScanFinding.asset_id)
            .join(Department, Department.id == Asset.department_id)
            .where(*where)
            .order_by(ScanFinding.created_at.desc(), ScanFinding.id.desc())
        ).all()
    )


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (-SEVERITY_RANK.get(row["severity"], 0), row["asset"], row["where"]))


def _by_bureau(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Untriaged findings by severity for the scope's own systems and each department one level
    below it (its whole subtree)."""
    counts = session.exec(
        select(Asset.department_id, ScanFinding.severity, func.count())
        .join(Asset, Asset.id == ScanFinding.asset_id)
        .where(in_scope(Asset.department_id, scope.actor), exposure.untriaged())
        .group_by(Asset.department_id, ScanFinding.severity)
    ).all()
    top = session.get(Department, scope.department_id)
    departments = session.exec(select(Department).where(Department.path.startswith(top.path))).all()
    paths = {d.id: d.path for d in departments}
    bureaus = sorted((d for d in departments if d.parent_id == top.id), key=lambda d: d.code)
    rows = [{"department": top.code, "name": top.name, "name_en": top.name_en, "own": True}]
    rows += [{"department": d.code, "name": d.name, "name_en": d.name_en, "own": False} for d in bureaus]
    for row in rows:
        row.update({s: 0 for s in FINDING_SEVERITY.codes}, total=0)
    for department_id, severity, n in counts:
        path = paths.get(department_id, "")
        bureau = next((b for b in bureaus if path.startswith(b.path)), None)
        row = rows[0] if bureau is None else rows[1 + bureaus.index(bureau)]
        row[severity] = row.get(severity, 0) + n
        row["total"] += n
    return rows


def network_exposure(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The compliance report's chapter on what the scans found (see the module docstring)."""
    tz = ServiceConfig.from_mapping(config).timezone
    actor = scope.actor
    where = in_scope(Asset.department_id, actor)
    moment = min(datetime.now(UTC), day_start(period.end + timedelta(days=1), tz))
    unexpected = [_finding_row(*row, tz) for row in _findings(session, where, exposure.unexpected_open())]
    new_ports = [
        _finding_row(*row, tz)
        for row in _findings(
            session,
            where,
            ScanFinding.kind == "new_open_port",
            ScanFinding.created_at >= day_start(period.start, tz),
            ScanFinding.created_at < day_start(period.end + timedelta(days=1), tz),
        )
    ]
    bureaus = _by_bureau(session, scope)
    untriaged = sum(row["total"] for row in bureaus)
    high = sum(row["high"] for row in bureaus)
    never = session.exec(
        select(Asset.code, Asset.name, Department.code, Asset.network_targets)
        .join(Department, Department.id == Asset.department_id)
        .where(where, exposure.never_scanned())
        .order_by(Asset.code)
    ).all()
    with_targets = session.exec(select(func.count()).select_from(Asset).where(where, exposure.has_targets())).one()
    expiring = session.exec(
        select(ScanAuthorization, Department.code)
        .join(Department, Department.id == ScanAuthorization.department_id)
        .where(in_scope(ScanAuthorization.department_id, actor), exposure.expiring(moment))
        .order_by(ScanAuthorization.valid_until, ScanAuthorization.id)
    ).all()
    return {
        "untriaged": untriaged,
        "untriaged_high": high,
        "unexpected_open": len(unexpected),
        "new_open_ports": len(new_ports),
        "with_targets": with_targets,
        "never_scanned": len(never),
        "expiring_days": exposure.EXPIRING_DAYS,
        "by_bureau": bureaus,
        "unexpected": listed(_ranked(unexpected)),
        "new_ports": listed(new_ports),
        "never": listed(
            [
                {"asset": code, "name": name, "department": dept, "targets": ", ".join(targets or [])}
                for code, name, dept, targets in never
            ]
        ),
        "expiring": listed(
            [
                {
                    "id": row.id,
                    "department": dept,
                    "scope": ", ".join(row.scope),
                    "zone": row.zone,
                    "max_profile": row.max_profile,
                    "valid_until": _day(row.valid_until, tz),
                    "days_left": (local(row.valid_until, tz).date() - local(moment, tz).date()).days,
                    "approved_by": row.approved_by,
                }
                for row, dept in expiring
            ]
        ),
        "headline": [
            {"label": N_("Untriaged scan findings"), "value": untriaged},
            {"label": N_("Unexpected services open"), "value": len(unexpected)},
            {"label": N_("Systems never scanned"), "value": len(never)},
        ],
        "scanned_share": share(with_targets - len(never), with_targets),
    }


def asset_scans(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """The dossier's section: the asset's scan policy as it applies, its last scans and its
    findings not closed (the most severe first)."""
    asset = asset_in_scope(session, scope.actor, scope.subject)
    tz = ServiceConfig.from_mapping(config).timezone
    applied = policy.effective(session, asset)
    scans = session.exec(
        select(Scan).where(Scan.asset_id == asset.id).order_by(Scan.id.desc()).limit(SCANS_SHOWN)
    ).all()
    total = session.exec(select(func.count()).select_from(Scan).where(Scan.asset_id == asset.id)).one()
    last = session.exec(
        select(func.max(Scan.finished_at)).where(Scan.asset_id == asset.id, Scan.status == "succeeded")
    ).one()
    findings = session.exec(
        select(ScanFinding)
        .where(ScanFinding.asset_id == asset.id, ScanFinding.status.in_(("open", "acknowledged", "promoted")))
        .order_by(ScanFinding.id.desc())
    ).all()
    rows = _ranked([_finding_row(f, asset.code, asset.name, "", tz) for f in findings])
    return {
        "targets": list(asset.network_targets or []),
        "expected_ports": list(asset.expected_ports or []),
        "policy": {
            "zone": applied.zone,
            "fragile": applied.fragile,
            "fragile_marked": applied.fragile_marked,
            "windows": applied.windows,
            "max_rate": applied.rate,
        },
        "last_scanned_on": _day(last, tz),
        "scans_total": total,
        "scans": [
            {
                "id": s.id,
                "source": s.source,
                "profile": s.profile,
                "status": s.status,
                "error": s.error,
                "on": _day(s.finished_at or s.created_at, tz),
                "open_ports": s.open_ports,
                "findings": s.findings,
            }
            for s in scans
        ],
        "open_findings": sum(1 for f in findings if f.status == "open"),
        "findings": listed(rows),
    }


METHOD_EXPOSURE = (
    N_(
        "Network exposure: what the authorized nmap scans (and imported nmap files) found, compared with each"
        " system's previous scan and its declared expected ports. Untriaged: findings nobody has acknowledged,"
        " dismissed, resolved or promoted to a risk. An unexpected service counts as open until it is resolved"
        " or dismissed as a false positive. New open ports: those found during the report's period. Never"
        " scanned: systems with network targets and no successful scan. Authorizations ending: approved ones"
        " whose validity ends within 30 days of the report's last day."
    ),
)

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "network_exposure",
        N_("Network exposure from scans"),
        "reports/chapters/network_exposure.html",
        network_exposure,
        order=55,
        method=METHOD_EXPOSURE,
    ),
    Chapter(
        "scans",
        N_("Network scans"),
        "reports/dossier/scans.html",
        asset_scans,
        order=70,
        report=DOSSIER,
        method=(
            N_(
                "Network scans: the asset's scan policy as it applies (zone, fragility, maintenance windows, rate),"
                " its last scans, and its findings not closed (open, acknowledged or promoted to a risk), the most"
                " severe first."
            ),
        ),
    ),
)

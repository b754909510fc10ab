"""The scans domain's dashboard tile (`secgov.dashboard.Tile`), "scan exposure": untriaged findings
by severity, unexpected services still open, systems with network targets never scanned,
authorizations ending within 30 days and scans failed in the last 7 days, in the reader's scope.
A few grouped queries on the clauses of `scans.exposure`, which the daily figures and the report
count with too."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from assessments.dashboard import href
from assets.models import Asset
from scans import exposure
from scans.codes import FINDING_SEVERITY
from scans.models import Scan, ScanAuthorization, ScanFinding
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.dashboard import Tile


def scan_exposure(
    session: Session, actor: Actor, _config: ServiceConfig, _today: date, now: datetime | None = None
) -> dict[str, Any]:
    """The tile's figures for the actor (see the module docstring)."""
    now = now or datetime.now(UTC)
    scope = in_scope(Asset.department_id, actor)
    by_severity = dict(
        session.exec(
            select(ScanFinding.severity, func.count())
            .join(Asset, Asset.id == ScanFinding.asset_id)
            .where(scope, exposure.untriaged())
            .group_by(ScanFinding.severity)
        ).all()
    )
    unexpected = session.exec(
        select(func.count())
        .select_from(ScanFinding)
        .join(Asset, Asset.id == ScanFinding.asset_id)
        .where(scope, exposure.unexpected_open())
    ).one()
    never = session.exec(select(func.count()).select_from(Asset).where(scope, exposure.never_scanned())).one()
    expiring = session.exec(
        select(func.count())
        .select_from(ScanAuthorization)
        .where(in_scope(ScanAuthorization.department_id, actor), exposure.expiring(now))
    ).one()
    failed = session.exec(
        select(func.count())
        .select_from(Scan)
        .join(Asset, Asset.id == Scan.asset_id)
        .where(scope, exposure.failed_since(now))
    ).one()
    severities = list(reversed(FINDING_SEVERITY.codes))  # high first
    return {
        "untriaged": sum(by_severity.values()),
        "by_severity": [{"severity": s, "findings": by_severity.get(s, 0)} for s in severities],
        "unexpected_open": unexpected,
        "never_scanned": never,
        "authorizations_expiring": expiring,
        "expiring_days": exposure.EXPIRING_DAYS,
        "failed": failed,
        "failed_days": exposure.FAILED_DAYS,
        "links": {
            "untriaged": href("scans.findings", status="open"),
            **{s: href("scans.findings", status="open", severity=s) for s in severities},
            "unexpected_open": href("scans.findings", kind="unexpected_service"),
            "authorizations": href("scans.authorizations", status="approved"),
            "failed": href("scans.index", status="failed"),
        },
    }


TILES: tuple[Tile, ...] = (
    Tile(
        "scan_exposure",
        N_("Scan exposure"),
        scan_exposure,
        "scans/tiles/scan_exposure.html",
        ("scans.untriaged", "scans.never_scanned"),
    ),
)

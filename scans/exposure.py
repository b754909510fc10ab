"""What the scans say about the city's exposure, as clauses that the dashboard tile, the daily
figures and the report's chapter share (so that the three count alike): untriaged findings,
unexpected services still open, systems with network targets never scanned, authorizations
ending soon, scans that failed recently."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, exists, select

from assets.models import Asset
from scans.codes import UNTRIAGED
from scans.models import Scan, ScanAuthorization, ScanFinding

# An unexpected service counts as open until a scan no longer sees it (resolved) or it is called
# a false positive; acknowledged and promoted ones are still open on the network.
LIVE_UNEXPECTED = ("open", "acknowledged", "promoted")
EXPIRING_DAYS = 30  # authorizations ending within this many days
FAILED_DAYS = 7  # scans failed within this many days


def untriaged() -> ColumnElement:
    """Findings nobody has looked at yet."""
    return ScanFinding.status.in_(UNTRIAGED)


def unexpected_open() -> ColumnElement:
    """Findings of an unexpected service still open on the network."""
    return and_(ScanFinding.kind == "unexpected_service", ScanFinding.status.in_(LIVE_UNEXPECTED))


def has_targets() -> ColumnElement:
    """Assets with at least one network target (an empty JSON list is stored as "[]")."""
    text = sa.cast(Asset.network_targets, sa.Text)
    return and_(Asset.network_targets.is_not(None), text.not_in(("[]", "null")))


def never_scanned() -> ColumnElement:
    """Assets with network targets and no successful scan (run here, by an agent or imported)."""
    scanned = exists(select(Scan.id).where(Scan.asset_id == Asset.id, Scan.status == "succeeded"))
    return and_(has_targets(), ~scanned)


def expiring(now: datetime, days: int = EXPIRING_DAYS) -> ColumnElement:
    """Approved authorizations still valid at `now` whose validity ends within `days` days."""
    return and_(
        ScanAuthorization.status == "approved",
        ScanAuthorization.valid_until > now,
        ScanAuthorization.valid_until <= now + timedelta(days=days),
    )


def failed_since(now: datetime, days: int = FAILED_DAYS) -> ColumnElement:
    """Scans that failed within the last `days` days (by when they ended)."""
    return and_(Scan.status == "failed", Scan.finished_at >= now - timedelta(days=days))

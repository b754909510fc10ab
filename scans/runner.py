"""Running one scan (the job "scan.run"), on a worker of the local zone: the checks again (the
authorization may have been revoked, a fragile asset's window closed, the targets changed since
the scan was queued), nmap with the stored argument vector under a hard wall-clock limit, then
the XML parsed and stored with its observations and findings (`scans.ingest`).

Every failure ends the scan as failed with its reason (`codes.SCAN_ERROR`) and the run with the
same reason; nothing here lets an exception reach the worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from assets.models import Asset
from scans import authorizations, ingest, nmap, policy, profiles, xmlparse
from scans.models import Scan
from secgov import audit
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import write_session
from secgov.models import Department
from secgov.runs import JobContext, JobFailed

# The wall-clock limit keeps this far inside the run's own deadline, so that the scan ends with
# its reason rather than the reaper's.
MARGIN_SECONDS = 20


class ScanParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scan_id: int = Field(ge=1)


def fail_scan(session: Session, scan: Scan, reason: str, detail: str = "") -> None:
    """End a scan as failed (the caller's transaction), audited."""
    scan.status = "failed"
    scan.error = reason
    scan.detail = detail[:1000]
    scan.finished_at = datetime.now(UTC)
    session.add(scan)
    session.flush()
    asset = session.get(Asset, scan.asset_id)
    audit.record(
        session, Actor.system("job"), "scan.failed", object_type="scan", object_id=scan.id,
        department_id=asset.department_id if asset else None, reason=reason,
    )  # fmt: skip


def _failed(ctx: JobContext, scan_id: int, reason: str, detail: str = "") -> JobFailed:
    with write_session(ctx.engine) as session:
        scan = session.get(Scan, scan_id)
        if scan is not None and scan.status not in ("succeeded", "failed"):
            fail_scan(session, scan, reason, detail)
    return JobFailed(reason, detail)


def check_again(session: Session, actor: Actor, scan: Scan, config: ServiceConfig, now: datetime) -> None:
    """The checks of the request once more, as the scan is about to start: raises JobFailed."""
    asset = session.get(Asset, scan.asset_id)
    if asset is None or not asset.network_targets:
        raise JobFailed("asset_gone")
    if sorted(asset.network_targets) != sorted(scan.targets):
        raise JobFailed("asset_gone", "the asset's network targets changed after the scan was asked for")
    applied = policy.effective(session, asset)
    if not policy.may_start_now(applied, now, config.timezone):
        raise JobFailed("outside_window")
    path = session.get(Department, asset.department_id).path
    try:
        authorizations.covering(
            session, actor, asset, path, list(asset.network_targets), scan.profile,
            zone=applied.zone, fragile=applied.fragile, config=config, now=now,
        )  # fmt: skip
    except authorizations.NotCovered as exc:
        refusal = exc.refusal
        audit.record(
            session, actor, "scan.refused", object_type="asset", object_id=asset.id,
            department_id=asset.department_id, scan=scan.id, **(refusal.detail if refusal else {}),
        )  # fmt: skip
        raise JobFailed("not_authorized", exc.message) from None
    try:
        profiles.check_argv(scan.argv)
    except ValueError as exc:
        raise JobFailed("refused", str(exc)[:300]) from None


def execute(ctx: JobContext) -> dict[str, Any]:
    scan_id = ctx.params.scan_id
    config = ServiceConfig.from_mapping(ctx.config)
    now = datetime.now(UTC)
    with write_session(ctx.engine) as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            raise JobFailed("asset_gone")
        if scan.status not in ("queued", "waiting"):
            return {"scan_id": scan_id, "status": scan.status}
        try:
            check_again(session, ctx.actor, scan, config, now)
        except JobFailed as exc:
            fail_scan(session, scan, exc.reason, exc.detail)
            session.commit()
            raise
        scan.status, scan.started_at = "running", now
        session.add(scan)
        argv, profile = list(scan.argv), scan.profile
    ctx.progress(0, 3)
    remaining = (ctx.deadline - datetime.now(UTC)).total_seconds() - MARGIN_SECONDS
    limit = max(1.0, min(float(profiles.PROFILES[profile].max_seconds), remaining))
    try:
        outcome = nmap.run(argv, timeout=limit)
    except nmap.NmapError as exc:
        raise _failed(ctx, scan_id, exc.reason, exc.detail) from None
    ctx.progress(1, 3)
    try:
        parsed = xmlparse.parse(outcome.xml)
        line = nmap.command_line(outcome.xml)
    except xmlparse.XmlError as exc:
        raise _failed(ctx, scan_id, "xml_invalid", str(exc)) from None
    ctx.progress(2, 3)
    with write_session(ctx.engine) as session:
        scan = session.get(Scan, scan_id)
        asset = session.get(Asset, scan.asset_id)
        if asset is None:
            raise JobFailed("asset_gone")
        found = ingest.store(session, scan, asset, outcome.xml, parsed, command_line=line)
        audit.record(
            session, Actor.system("job"), "scan.completed", object_type="scan", object_id=scan.id,
            department_id=asset.department_id, asset=asset.code, open_ports=scan.open_ports,
            findings=len(found), elapsed=round(outcome.elapsed, 2),
        )  # fmt: skip
        result = {"scan_id": scan_id, "open_ports": scan.open_ports, "findings": len(found)}
    ctx.progress(3, 3)
    return result

"""Storing what nmap saw: the raw XML (gzip, with the SHA-256 of the XML itself), the normalised
observations, and the findings drawn from comparing them with the asset's previous scan and its
expected ports. One path for scans run here, scans run by a zone's agent and imported files."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlmodel import Session, select

from assets.models import Asset
from scans import diff
from scans.codes import HOLDING
from scans.models import Scan, ScanFinding, ScanObservation, ScanResult
from scans.xmlparse import Observation, Parsed


def pack(xml: bytes) -> ScanResult:
    return ScanResult(xml_gz=gzip.compress(xml, compresslevel=6), sha256=hashlib.sha256(xml).hexdigest(), size=len(xml))


def unpack(row: ScanResult) -> bytes:
    return gzip.decompress(row.xml_gz)


def previous_observations(session: Session, scan: Scan) -> list[Observation] | None:
    """What the asset's last successful scan of the same profile (imports: the last import) saw
    before this one; None when there is none. Runs of other profiles scan other ports: a port
    they did not look at would read as closed."""
    last = session.exec(
        select(Scan.id)
        .where(
            Scan.asset_id == scan.asset_id,
            Scan.status == "succeeded",
            Scan.id != scan.id,
            Scan.source == scan.source,
            Scan.profile == scan.profile,
        )
        .order_by(Scan.finished_at.desc(), Scan.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    rows = session.exec(select(ScanObservation).where(ScanObservation.scan_id == last)).all()
    return [
        Observation(
            host=r.host,
            hostname=r.hostname,
            host_state=r.host_state,
            port=r.port,
            protocol=r.protocol,
            state=r.state,
            service=r.service,
            product=r.product,
            version=r.version,
            cpe=r.cpe,
        )  # fmt: skip
        for r in rows
    ]


def _key(kind: str, host: str, port: int | None, protocol: str) -> tuple:
    return (kind, host, port if port is not None else -1, protocol or "")


def store(
    session: Session, scan: Scan, asset: Asset, xml: bytes, parsed: Parsed, *, command_line: str, agent: str = ""
) -> list[ScanFinding]:
    """Record a finished scan's XML, observations and new findings; the scan succeeds. A change
    already held by a finding of the asset that is open, acknowledged, a false positive or
    promoted is not found again."""
    previous = previous_observations(session, scan)
    result = pack(xml)
    result.scan_id = scan.id
    session.add(result)
    if parsed.observations:
        session.execute(
            insert(ScanObservation),
            [
                {
                    "scan_id": scan.id,
                    "host": o.host,
                    "hostname": o.hostname,
                    "host_state": o.host_state,
                    "port": o.port,
                    "protocol": o.protocol,
                    "state": o.state,
                    "service": o.service,
                    "product": o.product,
                    "version": o.version,
                    "cpe": o.cpe,
                }  # fmt: skip
                for o in parsed.observations
            ],
        )
    changes = diff.compare(previous, parsed.observations, list(asset.expected_ports))
    held = {
        _key(*row)
        for row in session.exec(
            select(ScanFinding.kind, ScanFinding.host, ScanFinding.port, ScanFinding.protocol).where(
                ScanFinding.asset_id == asset.id, ScanFinding.status.in_(HOLDING)
            )
        ).all()
    }
    found = []
    for change in changes:
        key = _key(change.kind, change.host, change.port, change.protocol)
        if key in held:
            continue
        held.add(key)
        finding = ScanFinding(
            asset_id=asset.id, scan_id=scan.id, kind=change.kind, host=change.host, port=change.port,
            protocol=change.protocol, severity=change.severity, detail=dict(change.detail),
        )  # fmt: skip
        session.add(finding)
        found.append(finding)
    now = datetime.now(UTC)
    scan.status = "succeeded"
    scan.error = ""
    scan.command_line = command_line[:4000]
    scan.nmap_version = (parsed.nmap_version or "")[:40]
    scan.started_at = scan.started_at or parsed.started_at or now
    scan.finished_at = parsed.finished_at or now
    scan.elapsed = parsed.elapsed
    scan.hosts_up = parsed.hosts_up
    scan.hosts_total = parsed.hosts_total
    scan.open_ports = sum(1 for o in parsed.observations if o.port is not None and o.state == "open")
    scan.findings = len(found)
    if agent:
        scan.agent = agent[:120]
    session.add(scan)
    session.flush()
    return found

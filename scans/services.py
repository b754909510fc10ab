"""Scans: asking for a scan of an asset (checked against its policy and the authorizations, then
queued to its network zone), importing nmap XML produced elsewhere, and reading scans.

A scan is asked for by an officer or an admin on an asset in their scope, by the command line
(as a user, or as the system within the authorizations) or by a scan schedule. Nothing here runs
nmap: a worker of the asset's zone does (`scans.runner`), as a background run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, select

from assessments.scope import get_by_asset
from assets.models import Asset
from scans import authorizations, ingest, policy, profiles, rule, scope
from scans.codes import SCAN_LIVE
from scans.models import Scan, ScanAgent, ScanObservation, ScanResult
from scans.schemas import ObservationRead, ScanQuery, ScanRead, ScanRequest
from scans.xmlparse import Parsed, XmlError
from secgov import audit, runs
from secgov.authz import Actor, in_scope, path_in_scope
from secgov.config import ServiceConfig
from secgov.errors import Forbidden, Invalid, Refusal
from secgov.exchange.report import size_text
from secgov.models import Department, Run

WRITERS = ("admin", "officer")
APPROVERS = ("leader",)
# Who reads scans, authorizations, findings and scan policies; who downloads a scan's raw XML.
READERS = ("admin", "officer", "leader", "auditor")
XML_READERS = ("admin", "officer", "auditor")


def asset_with_path(session: Session, asset_id: int, actor: Actor) -> tuple[Asset, str]:
    """The asset a request names, in the actor's scope, with its department's path; a missing asset
    and one out of scope read the same."""
    found = session.exec(
        select(Asset, Department.path)
        .join(Department, Department.id == Asset.department_id)
        .where(Asset.id == asset_id)
    ).first()
    if found is None or not path_in_scope(found[1], actor):
        raise Invalid(_("Unknown asset."), field="asset_id")
    return found[0], found[1]


def nmap_targets(targets: Sequence[str]) -> list[str]:
    """What nmap is given for an asset's targets: host names resolved here, once, to the addresses
    the authorization check saw (nmap never resolves a name itself)."""
    result: dict[str, None] = {}
    for target in targets:
        for address in scope.resolve(target):
            result.setdefault(address)
    return list(result)


def request_scan(
    session: Session,
    actor: Actor,
    data: ScanRequest,
    config: ServiceConfig,
    *,
    kind: runs.JobKind,
    now: datetime | None = None,
    scan_schedule_id: int | None = None,
    planned_at: datetime | None = None,
) -> Scan:
    """Queue a scan of an asset's network targets with a profile. Refused, with the refusal audited
    and nothing queued, when the asset has no targets, when a fragile asset is outside its
    maintenance windows, or when no authorization covers every target with this profile."""
    now = now or datetime.now(UTC)
    asset, path = asset_with_path(session, data.asset_id, actor)
    if not asset.network_targets:
        raise Invalid(_("This asset has no network targets to scan."), field="asset_id")
    applied = policy.effective(session, asset)
    if not policy.may_start_now(applied, now, config.timezone):
        raise Forbidden(
            policy.window_message(),
            field="asset_id",
            refusal=Refusal(
                actor, "scan.refused", "asset", asset.id,
                {"asset": asset.code, "profile": data.profile, "reason": "outside_window"},
            ),
        )  # fmt: skip
    grant = authorizations.covering(
        session, actor, asset, path, asset.network_targets, data.profile,
        zone=applied.zone, fragile=applied.fragile, config=config, now=now,
    )  # fmt: skip
    try:
        addresses = nmap_targets(asset.network_targets)
        argv = profiles.build_argv(data.profile, addresses, ports=asset.expected_ports, max_rate=applied.rate)
    except ValueError as exc:
        raise Forbidden(
            _("The scan was refused: %(reason)s", reason=str(exc)[:200]),
            field="asset_id",
            refusal=Refusal(actor, "scan.refused", "asset", asset.id, {"asset": asset.code, "reason": "argv"}),
        ) from None
    scan = Scan(
        asset_id=asset.id,
        profile=data.profile,
        zone=applied.zone,
        status="queued",
        authorization_id=grant.id,
        scan_schedule_id=scan_schedule_id,
        planned_at=planned_at,
        targets=list(asset.network_targets),
        argv=argv,
        requested_by=actor.username,
    )
    session.add(scan)
    session.flush()
    run = runs.enqueue(session, actor, kind, {"scan_id": scan.id}, queue=rule.queue_of(applied.zone))
    run.department_id = asset.department_id
    scan.run_id = run.id
    if applied.zone != rule.LOCAL_ZONE and not zone_live(session, applied.zone, now):
        scan.status = "waiting"
    session.add(scan)
    session.flush()
    audit.record(
        session, actor, "scan.requested", object_type="scan", object_id=scan.id, department_id=asset.department_id,
        asset=asset.code, profile=scan.profile, zone=scan.zone, authorization=grant.id, argv=" ".join(argv),
        **({"scan_schedule": scan_schedule_id} if scan_schedule_id else {}),
    )  # fmt: skip
    return scan


# --- zones and their agents ------------------------------------------------------------------------


def zone_live(session: Session, zone: str, now: datetime | None = None) -> bool:
    """Has an agent of the zone been heard of recently? The local zone is served by the workers."""
    if zone == rule.LOCAL_ZONE:
        return True
    since = (now or datetime.now(UTC)) - timedelta(seconds=rule.AGENT_LIVE_SECONDS)
    return bool(
        session.exec(
            select(func.count()).select_from(ScanAgent).where(ScanAgent.zone == zone, ScanAgent.last_seen >= since)
        ).one()
    )


def waiting_reason(zone: str, live: bool) -> str:
    if live:
        return ""
    return _(
        "No agent of the network zone %(zone)s has reported in the last %(num)d minutes: the scan waits until one "
        "does (python -m secgov worker --zone %(zone)s on a host in that network).",
        zone=zone,
        num=rule.AGENT_LIVE_SECONDS // 60,
    )


# --- imports ------------------------------------------------------------------------------------


def import_error(exc: XmlError, max_bytes: int) -> str:
    """Why an uploaded file is not imported, in the reader's language (XmlError's reason)."""
    messages = {
        "too_large": _("The file is too large: files up to %(size)s are accepted.", size=size_text(max_bytes)),
        "malformed": _("The file is not well-formed XML."),
        "not_nmap": _("The file is not nmap XML output (nmap -oX)."),
        "truncated": _("The nmap XML ends before the scan does: the file was cut short."),
        "forbidden": _("The file declares a DTD or entities, which are refused."),
    }
    return messages.get(exc.reason, _("The file cannot be read as nmap XML."))


def import_xml(session: Session, actor: Actor, asset_id: int, raw: bytes, parsed: Parsed, *, name: str = "") -> Scan:
    """Record nmap XML produced elsewhere (parsed and checked by the caller before the write
    transaction) as a scan of the asset, with its observations and findings."""
    asset, _path = asset_with_path(session, asset_id, actor)
    scan = Scan(
        asset_id=asset.id,
        source="import",
        profile="",
        zone="",
        status="running",
        targets=sorted({o.host for o in parsed.observations}),
        requested_by=actor.username,
        started_at=parsed.started_at,
    )
    session.add(scan)
    session.flush()
    found = ingest.store(session, scan, asset, raw, parsed, command_line=parsed.args)
    audit.record(
        session, actor, "scan.imported", object_type="scan", object_id=scan.id, department_id=asset.department_id,
        asset=asset.code, file=name[:200], sha256=scan_sha(session, scan.id), hosts=scan.hosts_total,
        findings=len(found),
    )  # fmt: skip
    return scan


# --- reading ------------------------------------------------------------------------------------


def get_scan(session: Session, actor: Actor, scan_id: int) -> Scan:
    return get_by_asset(session, Scan, scan_id, actor, "scan")


def scan_sha(session: Session, scan_id: int) -> str:
    return session.exec(select(ScanResult.sha256).where(ScanResult.scan_id == scan_id)).first() or ""


def list_scans(session: Session, actor: Actor, query: ScanQuery) -> tuple[list[tuple[Scan, str]], int]:
    """Scans in scope with their asset's code, newest first."""
    where = [in_scope(Asset.department_id, actor)]
    if query.asset_id:
        where.append(Scan.asset_id == query.asset_id)
    if query.status:
        where.append(Scan.status == query.status)
    if query.profile:
        where.append(Scan.profile == query.profile)
    if query.source:
        where.append(Scan.source == query.source)
    base = select(Scan, Asset.code).join(Asset, Asset.id == Scan.asset_id).where(*where)
    total = session.exec(
        select(func.count()).select_from(Scan).join(Asset, Asset.id == Scan.asset_id).where(*where)
    ).one()
    rows = session.exec(
        base.order_by(Scan.id.desc()).offset((query.page - 1) * query.page_size).limit(query.page_size)
    ).all()
    return [(scan, code) for scan, code in rows], total


def read(session: Session, scan: Scan, asset_code: str, *, now: datetime | None = None) -> ScanRead:
    """A scan as the API shows it: with the reason it waits and the progress of its run."""
    return read_many(session, [(scan, asset_code)], now=now)[0]


def read_many(session: Session, rows: Sequence[tuple[Scan, str]], *, now: datetime | None = None) -> list[ScanRead]:
    """A page of scans as the API shows them, in at most three statements whatever its length:
    the SHA-256 of their XML, which of their zones have a live agent, the progress of the running."""
    ids = [scan.id for scan, _code in rows]
    shas = dict(session.exec(select(ScanResult.scan_id, ScanResult.sha256).where(ScanResult.scan_id.in_(ids))).all())
    waiting_zones = {s.zone for s, _c in rows if s.status in SCAN_LIVE and s.status != "running"}
    live = {zone for zone in waiting_zones if zone == rule.LOCAL_ZONE}
    remote = waiting_zones - live
    if remote:
        since = (now or datetime.now(UTC)) - timedelta(seconds=rule.AGENT_LIVE_SECONDS)
        live |= set(
            session.exec(
                select(ScanAgent.zone).where(ScanAgent.zone.in_(remote), ScanAgent.last_seen >= since).distinct()
            ).all()
        )
    running = [s.run_id for s, _c in rows if s.run_id and s.status == "running"]
    progress: dict[int, int] = {}
    if running:
        for run_id, done, total in session.exec(
            select(Run.id, Run.progress_done, Run.progress_total).where(Run.id.in_(running))
        ).all():
            if done is not None and total:
                progress[run_id] = round(100 * done / total)
    return [
        ScanRead(
            id=scan.id,
            asset_id=scan.asset_id,
            asset=code,
            profile=scan.profile,
            source=scan.source,
            zone=scan.zone,
            status=scan.status,
            waiting_reason=waiting_reason(scan.zone, scan.zone in live)
            if scan.zone in waiting_zones and scan.status in SCAN_LIVE and scan.status != "running"
            else "",
            authorization_id=scan.authorization_id,
            run_id=scan.run_id,
            targets=list(scan.targets),
            argv=list(scan.argv),
            command_line=scan.command_line,
            nmap_version=scan.nmap_version,
            requested_by=scan.requested_by,
            created_at=scan.created_at,
            started_at=scan.started_at,
            finished_at=scan.finished_at,
            elapsed=scan.elapsed,
            hosts_up=scan.hosts_up,
            hosts_total=scan.hosts_total,
            open_ports=scan.open_ports,
            findings=scan.findings,
            progress=progress.get(scan.run_id) if scan.status == "running" else None,
            error=scan.error,
            detail=scan.detail,
            sha256=shas.get(scan.id, ""),
        )  # fmt: skip
        for scan, code in rows
    ]


def observations(session: Session, scan_id: int) -> list[ObservationRead]:
    rows = session.exec(
        select(ScanObservation)
        .where(ScanObservation.scan_id == scan_id)
        .order_by(ScanObservation.host, ScanObservation.protocol, ScanObservation.port)
    ).all()
    return [ObservationRead.model_validate(row, from_attributes=True) for row in rows]


def xml_of(session: Session, scan_id: int) -> bytes | None:
    """The raw XML of a scan, uncompressed."""
    row = session.get(ScanResult, scan_id)
    return ingest.unpack(row) if row else None


def history(session: Session, asset_id: int, limit: int = 20) -> list[Scan]:
    """An asset's scans, newest first."""
    return list(session.exec(select(Scan).where(Scan.asset_id == asset_id).order_by(Scan.id.desc()).limit(limit)).all())

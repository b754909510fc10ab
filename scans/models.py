"""Tables of the scans domain: how each asset may be scanned (its zone, whether it is fragile,
its maintenance windows), scan authorizations, scan schedules, the runs of nmap with their raw
XML and normalised observations, the findings drawn from them, and the zones' agents.

No `from __future__ import annotations` here: SQLModel resolves relationships from real types.
A scan, an observation's scan and a finding belong to an asset; their scope is the asset's
department. An authorization and a schedule belong to a department (who asked for them)."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import ngettext
from sqlmodel import Field, SQLModel

from secgov.models import department_holding, ts_field, utcnow


class ScanPolicy(SQLModel, table=True):
    """How one asset may be scanned. An asset without a row is in the zone `local`, fragile by
    the default rule (CII in the utilities and energy sectors) and scanned at any time."""

    __tablename__ = "scan_policy"

    asset_id: int = Field(foreign_key="asset.id", primary_key=True, ondelete="CASCADE")
    zone: str = Field(default="local", max_length=40, index=True)
    # None: the default rule decides; True/False: set by an officer.
    fragile: bool | None = None
    # When scans of the asset may start, in the city's time zone: [{"days": [0..6], "start": "01:00",
    # "end": "05:00"}] (Monday is 0; an end before the start runs past midnight). Empty: any time.
    windows: list[dict] = Field(default_factory=list, sa_type=sa.JSON)
    # Packets per second at most (nmap --max-rate); None: the profile's own pace. Fragile assets
    # are held to the configured rate when this is None.
    max_rate: int | None = None
    version: int = Field(default=1)
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class ScanAuthorization(SQLModel, table=True):
    """Permission to scan: the targets it covers (`scope`: addresses, CIDR blocks, host names),
    the purpose, a validity window, the network zone, and the strongest profiles it allows (for
    ordinary and for fragile assets). Asked for by an officer or an admin, approved by a leader
    other than the requester; it covers the assets of its department's subtree only."""

    __tablename__ = "scan_authorization"
    __table_args__ = (
        sa.Index("ix_scan_authorization_live", "status", "zone", "valid_until"),
        department_holding(lambda n: ngettext("%(num)d scan authorization", "%(num)d scan authorizations", n)),
    )

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    scope: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    purpose: str = Field(max_length=2000)
    zone: str = Field(default="local", max_length=40)
    valid_from: datetime = ts_field(nullable=False)
    valid_until: datetime = ts_field(nullable=False)
    max_profile: str = Field(default="standard", max_length=20)
    fragile_profile: str = Field(default="discovery", max_length=20)
    status: str = Field(default="pending", max_length=20, index=True)
    requested_by: str = Field(max_length=64)
    requested_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    approved_by: str = Field(default="", max_length=64)
    decided_at: datetime | None = ts_field()
    decision_reason: str = Field(default="", max_length=2000)
    version: int = Field(default=1)


class ScanSchedule(SQLModel, table=True):
    """Scans on a schedule: one asset, or a group (a saved selection of the asset register:
    department subtree, sector, MLPS level, CII flag), with a profile, a cron expression or an
    interval. Its timing is a row of the core's schedule table (`schedule_id`), which the one
    scheduler process reads; each planned time gives one scan per asset."""

    __tablename__ = "scan_schedule"
    __table_args__ = (department_holding(lambda n: ngettext("%(num)d scan schedule", "%(num)d scan schedules", n)),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    department_id: int = Field(foreign_key="department.id", index=True)
    asset_id: int | None = Field(default=None, foreign_key="asset.id", index=True, ondelete="CASCADE")
    # The group: {"department": CODE, "sector": ..., "mlps_level": N, "is_cii": bool}, all optional.
    selection: dict = Field(default_factory=dict, sa_type=sa.JSON)
    profile: str = Field(default="standard", max_length=20)
    schedule_id: int | None = Field(default=None, foreign_key="schedule.id", index=True, ondelete="SET NULL")
    created_by: str = Field(max_length=64)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    version: int = Field(default=1)


class Scan(SQLModel, table=True):
    """One nmap run on one asset (or one imported nmap XML file): what was asked, the exact
    argument vector, how it went, and its figures. Scheduled scans are unique per schedule,
    asset and planned time."""

    __table_args__ = (
        sa.UniqueConstraint("scan_schedule_id", "asset_id", "planned_at", name="uq_scan_schedule_planned"),
        sa.Index("ix_scan_asset_finished", "asset_id", "status", "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, ondelete="CASCADE")
    source: str = Field(default="scan", max_length=10)  # scan | import
    profile: str = Field(default="", max_length=20)
    zone: str = Field(default="local", max_length=40)
    status: str = Field(default="queued", max_length=20, index=True)
    authorization_id: int | None = Field(
        default=None, foreign_key="scan_authorization.id", index=True, ondelete="SET NULL"
    )
    run_id: int | None = Field(default=None, foreign_key="run.id", index=True, ondelete="SET NULL")
    scan_schedule_id: int | None = Field(default=None, foreign_key="scan_schedule.id", ondelete="SET NULL")
    planned_at: datetime | None = ts_field()
    targets: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    argv: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    command_line: str = Field(default="", sa_type=sa.Text)
    nmap_version: str = Field(default="", max_length=40)
    requested_by: str = Field(default="", max_length=64)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    started_at: datetime | None = ts_field()
    finished_at: datetime | None = ts_field()
    elapsed: float | None = None
    hosts_up: int | None = None
    hosts_total: int | None = None
    open_ports: int | None = None
    findings: int | None = None
    error: str = Field(default="", max_length=40)  # a reason code (codes.SCAN_ERROR)
    detail: str = Field(default="", max_length=1000)
    agent: str = Field(default="", max_length=120)


class ScanResult(SQLModel, table=True):
    """The raw nmap XML of a scan, compressed (gzip), with the SHA-256 of the uncompressed XML."""

    __tablename__ = "scan_result"

    scan_id: int = Field(foreign_key="scan.id", primary_key=True, ondelete="CASCADE")
    xml_gz: bytes = Field(sa_type=sa.LargeBinary)
    sha256: str = Field(max_length=64)
    size: int


class ScanObservation(SQLModel, table=True):
    """What a scan saw: one row per host and port (a host without ports: one row, port None)."""

    __tablename__ = "scan_observation"

    id: int | None = Field(default=None, primary_key=True)
    scan_id: int = Field(foreign_key="scan.id", index=True, ondelete="CASCADE")
    host: str = Field(max_length=64)
    hostname: str = Field(default="", max_length=255)
    host_state: str = Field(default="up", max_length=10)
    port: int | None = None
    protocol: str = Field(default="", max_length=10)
    state: str = Field(default="", max_length=20)
    service: str = Field(default="", max_length=64)
    product: str = Field(default="", max_length=200)
    version: str = Field(default="", max_length=100)
    cpe: str = Field(default="", max_length=255)


class ScanFinding(SQLModel, table=True):
    """A change a scan found (against the asset's previous scan or its expected ports), with its
    severity, and its triage: open → acknowledged, false_positive, resolved, or promoted to the
    risk register (`risk_id`)."""

    __tablename__ = "scan_finding"
    __table_args__ = (
        sa.Index("ix_scan_finding_asset_key", "asset_id", "kind", "host", "port", "protocol"),
        sa.Index("ix_scan_finding_status_severity", "status", "severity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, ondelete="CASCADE")
    scan_id: int = Field(foreign_key="scan.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=30)
    host: str = Field(max_length=64)
    port: int | None = None
    protocol: str = Field(default="", max_length=10)
    severity: str = Field(max_length=10)
    detail: dict = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default="open", max_length=20)
    note: str = Field(default="", max_length=2000)
    triaged_by: str = Field(default="", max_length=64)
    triaged_at: datetime | None = ts_field()
    risk_id: int | None = Field(default=None, foreign_key="risk.id", index=True, ondelete="SET NULL")
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    version: int = Field(default=1)


class ScanAgent(SQLModel, table=True):
    """A zone's scan agent as last heard of (it reports through the queue: it holds no database
    credentials). A zone whose agents were not heard of recently has no live agent."""

    __tablename__ = "scan_agent"

    zone: str = Field(primary_key=True, max_length=40)
    name: str = Field(primary_key=True, max_length=120)
    last_seen: datetime = ts_field(nullable=False)
    nmap_version: str = Field(default="", max_length=40)

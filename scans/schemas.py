"""Input and output schemas of the scans domain: an asset's scan policy, scan authorizations,
scan requests, scans, observations, findings and their triage. The pages, the API and the
command line read input into the same schemas; the services take them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from flask_babel import gettext as _
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from assessments.schemas import Treatment, Username
from assets.schemas import Query, RowId, target_message
from assets.targets import TargetError, parse_targets
from scans import rule
from scans.codes import (
    AUTHORIZATION_STATUS,
    FINDING_KIND,
    FINDING_SEVERITY,
    FINDING_STATUS,
    SCAN_PROFILE,
    SCAN_SOURCE,
    SCAN_STATUS,
)
from secgov.codes import SECTOR
from secgov.directory import Input, Version
from secgov.errors import BadValue
from secgov.localtime import Instant

Profile = SCAN_PROFILE.literal
ScanStatus = SCAN_STATUS.literal
ScanSource = SCAN_SOURCE.literal
AuthorizationStatus = AUTHORIZATION_STATUS.literal
FindingKind = FINDING_KIND.literal
Severity = FINDING_SEVERITY.literal
FindingStatus = FINDING_STATUS.literal
Purpose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
DepartmentCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
# An authorization lists at most this many targets.
MAX_SCOPE = 200


def _zone(value: str) -> str:
    value = value.strip().lower()
    if not rule.ZONE.fullmatch(value):
        raise BadValue(_("A network zone is 1 to 40 lower-case letters, digits, '-' or '_', such as local or dmz."))
    return value


Zone = Annotated[
    str, AfterValidator(_zone), Field(description="A network zone: 'local' unless the asset sits elsewhere.")
]


def _scope(value: Any) -> list[str]:
    try:
        targets = parse_targets(value, 2**128)
    except TargetError as exc:
        raise BadValue(target_message(exc)) from None
    if not targets:
        raise BadValue(_("Name at least one target: an address, a CIDR block or a host name."))
    if len(targets) > MAX_SCOPE:
        raise BadValue(_("An authorization lists at most %(num)d targets.", num=MAX_SCOPE))
    return targets


Scope = Annotated[Any, AfterValidator(_scope), Field(json_schema_extra={"type": "array", "items": {"type": "string"}})]


# --- an asset's scan policy ----------------------------------------------------------------------

_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class Window(Input):
    """A maintenance window: days of the week (0 is Monday), start and end in the city's time."""

    days: list[int] = Field(min_length=1, max_length=7)
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)

    @model_validator(mode="after")
    def _check(self) -> Window:
        if any(not 0 <= d <= 6 for d in self.days):
            raise BadValue(_("Days run from 0 (Monday) to 6 (Sunday)."))
        if self.start == self.end:
            raise BadValue(_("A window must not start and end at the same time."))
        self.days = sorted(set(self.days))
        return self


class PolicyUpdate(Input):
    """How an asset may be scanned."""

    zone: Zone = rule.LOCAL_ZONE
    fragile: bool | None = Field(
        default=None, description="True or false to decide; null: CII in the utilities and energy sectors is fragile."
    )
    windows: list[Window] = Field(default_factory=list, max_length=14)
    max_rate: int | None = Field(default=None, ge=1, le=100_000, description="Packets per second at most.")
    version: Version | None = None


class PolicyRead(BaseModel):
    asset_id: int
    zone: str
    fragile: bool
    fragile_marked: bool | None
    windows: list[dict]
    max_rate: int | None
    version: int


# --- authorizations ------------------------------------------------------------------------------


class AuthorizationCreate(Input):
    """Ask for permission to scan targets for a purpose, in a zone, for a time."""

    scope: Scope
    purpose: Purpose
    zone: Zone = rule.LOCAL_ZONE
    valid_from: Instant
    valid_until: Instant
    max_profile: Profile = "standard"
    fragile_profile: Profile = "discovery"
    department: DepartmentCode | None = Field(default=None, description="Default: your own department.")

    @model_validator(mode="after")
    def _check(self) -> AuthorizationCreate:
        if self.valid_until <= self.valid_from:
            raise BadValue(_("The end of the validity must come after its start."))
        if rule.PROFILE_RANK[self.fragile_profile] > rule.PROFILE_RANK[self.max_profile]:
            raise BadValue(_("The profile for fragile assets cannot be stronger than the profile for the others."))
        return self


class Decision(Input):
    version: Version
    reason: Note = ""


class Rejection(Input):
    version: Version
    reason: Reason


class AuthorizationRead(BaseModel):
    id: int
    department: str
    scope: list[str]
    purpose: str
    zone: str
    valid_from: Instant
    valid_until: Instant
    max_profile: str
    fragile_profile: str
    status: AuthorizationStatus
    requested_by: str
    requested_at: Instant
    approved_by: str
    decided_at: Instant | None
    decision_reason: str
    version: int


class AuthorizationQuery(Query):
    status: AuthorizationStatus | None = None
    zone: str | None = Field(default=None, max_length=40)
    live: bool | None = Field(default=None, description="Only approved ones valid now.")


# --- scans ---------------------------------------------------------------------------------------


class ScanRequest(Input):
    """Scan an asset's network targets now, with a profile."""

    asset_id: RowId
    profile: Profile = "standard"


class ScanRead(BaseModel):
    id: int
    asset_id: int
    asset: str
    profile: str
    source: ScanSource
    zone: str
    status: ScanStatus
    waiting_reason: str = ""
    authorization_id: int | None
    run_id: int | None
    targets: list[str]
    argv: list[str]
    command_line: str
    nmap_version: str
    requested_by: str
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    elapsed: float | None
    hosts_up: int | None
    hosts_total: int | None
    open_ports: int | None
    findings: int | None
    progress: int | None = None
    error: str
    detail: str
    sha256: str = ""


class ScanQuery(Query):
    asset_id: RowId | None = None
    status: ScanStatus | None = None
    profile: Profile | None = None
    source: ScanSource | None = None


class ObservationRead(BaseModel):
    host: str
    hostname: str
    host_state: str
    port: int | None
    protocol: str
    state: str
    service: str
    product: str
    version: str
    cpe: str


class ScanDetail(ScanRead):
    """A scan with what it saw, host by host and port by port."""

    observations: list[ObservationRead]


# --- findings ------------------------------------------------------------------------------------


class FindingRead(BaseModel):
    id: int
    asset_id: int
    asset: str
    scan_id: int
    kind: FindingKind
    host: str
    port: int | None
    protocol: str
    severity: Severity
    status: FindingStatus
    detail: dict
    note: str
    triaged_by: str
    triaged_at: Instant | None
    risk_id: int | None
    created_at: Instant
    version: int


class FindingQuery(Query):
    asset_id: RowId | None = None
    scan_id: RowId | None = None
    department: DepartmentCode | None = None
    kind: FindingKind | None = None
    severity: Severity | None = None
    status: FindingStatus | None = None
    since: date | None = None


class Triage(Input):
    """Triage a finding: acknowledge it, call it a false positive, resolve it, or open it again."""

    action: Literal["acknowledge", "false_positive", "resolve", "reopen"]
    note: Note = ""
    version: Version


class FindingPromotion(Input):
    """Promote a finding to the risk register (the asset's owner owns it unless named)."""

    owner: Username | None = None
    due_date: date | None = None
    treatment: Treatment = "reduce"


class ImportRequest(Input):
    asset_id: RowId


# --- scan schedules ------------------------------------------------------------------------------


class Selection(Input):
    """A group of assets: those of a department's subtree (its code; none: the schedule's own
    department), narrowed by sector, MLPS level and CII flag. Only assets with network targets
    are scanned."""

    department: DepartmentCode | None = None
    sector: SECTOR.literal | None = None
    mlps_level: Annotated[int, Field(ge=1, le=5)] | None = None
    is_cii: bool | None = None


class ScanScheduleCreate(Input):
    """Scans on a schedule: one asset (`asset_id`) or a group (`selection`), a profile, and a cron
    expression (five fields, the city's time zone) or an interval in seconds."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    asset_id: RowId | None = None
    selection: Selection | None = None
    profile: Profile = "standard"
    cron: str = Field(default="", max_length=100, description="Five fields, the city's time zone: '0 2 * * 6'.")
    interval_seconds: int | None = Field(default=None, ge=1, le=366 * 86400)
    enabled: bool = True

    @model_validator(mode="after")
    def _one_target(self) -> ScanScheduleCreate:
        if (self.asset_id is None) == (self.selection is None):
            raise BadValue(_("Give either an asset or a selection of assets, not both and not neither."))
        return self


class ScanScheduleUpdate(ScanScheduleCreate):
    version: Version


class ScanScheduleRead(BaseModel):
    id: int
    name: str
    department_id: int
    department: str
    asset_id: int | None
    asset: str = ""
    selection: dict[str, Any] | None
    profile: str
    cron: str
    interval_seconds: int | None
    enabled: bool
    schedule_id: int | None
    last_planned_at: Instant | None = None
    created_by: str
    created_at: Instant
    version: int


class ScanScheduleQuery(Query):
    asset_id: RowId | None = None

"""Input and output schemas of the asset domain: XCreate, XUpdate, XRead, XQuery for assets,
controls, vendors, engagements, exemptions and the vendor-origin compliance. The pages, the API
and the register exchange read input into the same schemas; the services take them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from assets.codes import (
    CONTROL_STATUS,
    COUNTRY,
    DATA_LEVEL,
    EXEMPTION_STATUS,
    LIFECYCLE,
    MLPS_EXTENSION,
    POLICY_OUTCOME,
    RESTRICTABLE_VENDOR_ROLE,
    VENDOR_ORIGIN,
    VENDOR_ROLE,
)
from assets.targets import TargetError, parse_ports, parse_targets
from secgov.codes import SECTOR
from secgov.directory import Code, Input, Name, Version
from secgov.errors import BadValue
from secgov.localtime import Instant

DataLevel = DATA_LEVEL.literal
Lifecycle = LIFECYCLE.literal
Extension = MLPS_EXTENSION.literal
Status = CONTROL_STATUS.literal
Origin = VENDOR_ORIGIN.literal
Role = VENDOR_ROLE.literal
Outcome = POLICY_OUTCOME.literal
ExemptionStatus = EXEMPTION_STATUS.literal
Level = Annotated[int, Field(ge=1, le=5)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Owner = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Filing = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Description = Annotated[str, StringConstraints(max_length=4000)]
# A row id in a body: past the databases' INTEGER columns it names no row (and PostgreSQL would refuse it).
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
# Targets are checked for their form here; how many addresses a block may cover is the
# configured limit, checked by the services (assets.services.check_targets).
_ANY_SIZE = 2**128


def target_message(exc: TargetError) -> str:
    """A TargetError in the user's language, naming the offending value."""
    value = str(exc.value)[:80]
    return {
        "empty": _("An empty network target or port."),
        "option": _("%(value)s starts with '-': not allowed.", value=value),
        "port": _("%(value)s is not a port such as 443/tcp.", value=value),
        "protocol": _("%(value)s: the protocol must be tcp, udp or sctp.", value=value),
    }.get(exc.reason, _("%(value)s is not an IP address, CIDR block or host name.", value=value))


def _targets(value):
    if value is None:
        return value
    try:
        return parse_targets(value, _ANY_SIZE)
    except TargetError as exc:
        raise ValueError(target_message(exc)) from None


def _ports(value):
    if value is None:
        return value
    try:
        return parse_ports(value)
    except TargetError as exc:
        raise ValueError(target_message(exc)) from None


def _sector(value: str | None) -> str | None:
    if value is not None and value not in SECTOR:
        raise ValueError(_("Unknown sector: %(code)s", code=value))
    return value


def _country(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the str type check reports it
    code = value.strip().upper()
    if not code:
        raise BadValue(_("This field is required."))
    if code not in COUNTRY:
        raise BadValue(_("Unknown country code: %(code)s", code=value.strip()[:10]))
    return code


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


# --- assets --------------------------------------------------------------------------------------


class AssetCreate(Input):
    code: Code
    name: Name
    description: Description = ""
    sector: str
    department: Code
    owner: Owner
    mlps_level: Level | None = None
    mlps_filing_number: Filing = ""
    mlps_extensions: list[Extension] = Field(default_factory=list, max_length=4)
    is_cii: bool = False
    classified: bool = False
    data_level: DataLevel = "general"
    lifecycle: Lifecycle = "operational"
    network_targets: list[str] = Field(default_factory=list, max_length=64)
    expected_ports: list[str] = Field(default_factory=list, max_length=256)

    _check_sector = field_validator("sector")(_sector)
    _check_targets = field_validator("network_targets", mode="before")(_targets)
    _check_ports = field_validator("expected_ports", mode="before")(_ports)


class AssetUpdate(Input):
    name: Name | None = None
    description: Description | None = None
    sector: str | None = None
    department: Code | None = None
    owner: Owner | None = None
    mlps_level: Level | None = None
    mlps_filing_number: Filing | None = None
    mlps_extensions: list[Extension] | None = Field(default=None, max_length=4)
    is_cii: bool | None = None
    classified: bool | None = None
    data_level: DataLevel | None = None
    lifecycle: Lifecycle | None = None
    network_targets: list[str] | None = Field(default=None, max_length=64)
    expected_ports: list[str] | None = Field(default=None, max_length=256)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = Field(
        default="", description="Why: kept in the grade history and the owner history."
    )
    version: Version

    _check_sector = field_validator("sector")(_sector)
    _check_targets = field_validator("network_targets", mode="before")(_targets)
    _check_ports = field_validator("expected_ports", mode="before")(_ports)


class AssetRead(BaseModel):
    id: int
    code: str
    name: str
    description: str
    sector: str
    department: str
    owner: str | None
    mlps_level: int | None
    mlps_filing_number: str
    mlps_extensions: list[str]
    is_cii: bool
    classified: bool
    data_level: str
    lifecycle: str
    network_targets: list[str]
    expected_ports: list[str]
    filing_missing: bool = Field(description="Graded at level 2 or above without an MLPS filing number.")
    version: int
    updated_at: Instant


SortKey = Literal[
    "code",
    "-code",
    "name",
    "-name",
    "sector",
    "-sector",
    "mlps_level",
    "-mlps_level",
    "lifecycle",
    "-lifecycle",
    "updated_at",
    "-updated_at",
]


class AssetQuery(Query):
    """Filters, sort and page of the asset list (web page, API and exports)."""

    q: str = Field(default="", max_length=100, description="Part of the code, name or description.")
    sector: str | None = None
    department: str | None = Field(default=None, max_length=40, description="A department code: its whole subtree.")
    mlps_level: Literal["1", "2", "3", "4", "5", "none"] | None = None
    is_cii: bool | None = None
    classified: bool | None = None
    lifecycle: Lifecycle | None = None
    vendor_origin: Origin | None = Field(
        default=None, description="Assets with an ongoing engagement of a vendor of this origin."
    )
    filing_missing: bool | None = Field(
        default=None, description="Graded at a level that must be filed (MLPS 2 and above) without a filing number."
    )
    sort: SortKey = "code"


# The list's filters: every field of AssetQuery but the page (exports, links and forms use these).
FILTERS = tuple(name for name in AssetQuery.model_fields if name not in ("page", "page_size"))


# --- controls ------------------------------------------------------------------------------------


class AssetControlUpdate(BaseModel):
    """What a reviewer records on one control of an asset."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: Status
    evidence: str = Field(default="", max_length=4000)
    reviewed_on: date | None = None
    version: Version

    @field_validator("evidence")
    @classmethod
    def _one_kind_of_line_end(cls, value: str) -> str:
        # A browser posts a textarea's lines ending CRLF: the same evidence, not a change.
        return value.replace("\r\n", "\n").replace("\r", "\n")


# More than any asset has (the MLPS catalog holds 113 control points): a bound on one save.
MAX_CONTROL_CHANGES = 500


class AssetControlChange(AssetControlUpdate):
    """One control in a save of several: which control, and what the reviewer records on it."""

    control_id: str = Field(min_length=1, max_length=40)


class AssetControlsUpdate(BaseModel):
    """Several controls of one asset saved together, all or nothing (each with the version read).
    A control sent back as it was read (same status and evidence, no other review date) is left
    as it is: not reviewed again, not audited."""

    model_config = ConfigDict(extra="forbid")

    items: list[AssetControlChange] = Field(min_length=1, max_length=MAX_CONTROL_CHANGES)


class AssetControlRead(BaseModel):
    control_id: str
    catalog: str
    code: str
    family: str
    area: str
    title: str
    required: bool
    status: str
    evidence: str
    reviewer: str
    reviewed_on: date | None
    version: int


class ControlList(BaseModel):
    items: list[AssetControlRead]
    total: int


class Coverage(BaseModel):
    """Required controls of an asset or a department, and how far they are implemented. The five
    status counts add up to `required`; `applicable` leaves out the not-applicable ones."""

    required: int = 0
    applicable: int = 0
    implemented: int = 0
    partial: int = 0
    planned: int = 0
    not_implemented: int = 0
    not_applicable: int = 0

    @property
    def percent(self) -> float | None:
        """Implemented counts fully, partial half; not-applicable controls are left out."""
        if not self.applicable:
            return None
        return round(100 * (self.implemented + 0.5 * self.partial) / self.applicable, 1)

    def count(self, status: str) -> int:
        """How many controls have this status (a code of `assets.codes.CONTROL_STATUS`)."""
        return getattr(self, status)


class AreaControls(BaseModel):
    """The controls of one assessment area: the area's coverage (every control of the area) and
    the controls shown (those of the chosen statuses)."""

    area: str
    coverage: Coverage
    items: list[AssetControlRead]

    @property
    def needs_attention(self) -> bool:
        """A control of the area is not implemented, with no plan either."""
        return self.coverage.not_implemented > 0


class ControlOverview(BaseModel):
    """An asset's controls grouped by assessment area, in the areas' order, with the coverage of
    the whole asset; `statuses` is the filter (empty: every control shown)."""

    coverage: Coverage
    areas: list[AreaControls]
    statuses: list[str]

    @property
    def shown(self) -> int:
        return sum(len(area.items) for area in self.areas)


class DepartmentCoverage(BaseModel):
    department: str
    name: str
    depth: int
    assets: int
    own: Coverage
    total: Coverage

    @property
    def percent(self) -> float | None:
        return self.total.percent


class CoverageRow(BaseModel):
    department: str
    assets: int
    required: int
    applicable: int
    implemented: int
    partial: int
    percent: float | None


class CoverageList(BaseModel):
    items: list[CoverageRow]


# --- vendors and engagements ---------------------------------------------------------------------


class VendorCreate(Input):
    name: Name
    origin: Origin
    country: str = Field(description="ISO 3166 alpha-2 code, e.g. CN or DE.")
    confidentiality_agreement_on: date | None = Field(
        default=None, description="When the confidentiality agreement was signed (none on file: null)."
    )
    department: Code | None = Field(
        default=None,
        description="The department the vendor belongs to (in your scope); by default your own. "
        "Only that department's subtree and the city change the vendor.",
    )

    _check_country = field_validator("country", mode="before")(_country)


class VendorUpdate(Input):
    name: Name | None = None
    origin: Origin | None = None
    country: str | None = Field(default=None, description="ISO 3166 alpha-2 code.")
    confidentiality_agreement_on: date | None = None
    department: Code | None = Field(default=None, description="Hand the vendor to another department in your scope.")
    version: Version

    @field_validator("country", mode="before")
    @classmethod
    def _check_country(cls, value):
        return value if value is None else _country(value)


class VendorRead(BaseModel):
    id: int
    name: str
    origin: str
    country: str
    confidentiality_agreement_on: date | None
    department: str = Field(description="The department the vendor belongs to: its subtree and the city change it.")
    version: int


class VendorQuery(Query):
    """Filters and page of the vendor list (web page, API and exports), sorted by name."""

    q: str = Field(default="", max_length=100, description="Part of the name.")
    origin: Origin | None = None


class EngagementCreate(Input):
    vendor_id: RowId
    role: Role
    started_on: date
    ended_on: date | None = None
    note: Note = ""


class EngagementUpdate(Input):
    ended_on: date | None = Field(default=None, description="The last day of the engagement; null: ongoing.")
    note: Note | None = None


class EngagementRead(BaseModel):
    id: int
    asset_id: int
    vendor_id: int
    vendor_name: str
    origin: str
    role: str
    started_on: date | None
    ended_on: date | None
    note: str
    active: bool
    policy: Outcome | None = Field(default=None, description="The vendor-origin policy's outcome today, if any.")


# --- the vendor-origin policy, exemptions, compliance --------------------------------------------


class ExemptionCreate(Input):
    engagement_id: RowId
    reason: Reason
    expires_on: date = Field(description="After today and at most three years ahead; the exemption ends that day.")


class ExemptionDecision(Input):
    note: Note = Field(default="", description="Why; required to reject.")


class ExemptionRead(BaseModel):
    id: int
    engagement_id: int
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    vendor_id: int
    vendor_name: str
    origin: str
    role: str
    reason: str
    expires_on: date
    status: str
    requested_by: str
    requested_at: Instant
    decided_by: str
    decided_at: Instant | None
    decision_note: str
    expired: bool


class ExemptionQuery(Query):
    status: ExemptionStatus | None = None


class FindingRead(BaseModel):
    outcome: Outcome
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    sector: str
    classified: bool
    engagement_id: int
    vendor_id: int
    vendor_name: str
    origin: str
    country: str
    role: str
    started_on: date | None
    ended_on: date | None
    exemption_id: int | None = None
    exemption_expires_on: date | None = None


class DepartmentCount(BaseModel):
    code: str
    name: str
    name_en: str
    violations: int = 0
    warnings: int = 0
    exempted: int = 0


class SectorCount(BaseModel):
    sector: str
    violations: int = 0
    warnings: int = 0
    exempted: int = 0


class FindingCounts(BaseModel):
    violation: int = 0
    warning: int = 0
    exempted: int = 0


class OriginChangeRead(BaseModel):
    """A change of a vendor's origin or country that moved the findings of a department (from
    the audit log's `vendor.origin_changed` entries)."""

    at: Instant
    actor: str
    vendor_id: int
    vendor_name: str
    department: str
    department_name: str
    department_name_en: str
    origin_before: str
    origin_after: str
    country_before: str
    country_after: str
    findings_before: FindingCounts
    findings_after: FindingCounts


class PolicyRead(BaseModel):
    """The vendor-origin policy (the city-wide setting `vendor_origin_policy`)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool
    critical_sectors: list[SECTOR.literal] = Field(max_length=len(SECTOR.codes))
    restricted_roles: list[RESTRICTABLE_VENDOR_ROLE.literal] = Field(
        max_length=len(RESTRICTABLE_VENDOR_ROLE.codes),
        description="Only planning, building and operating can be restricted.",
    )
    restricted_origins: list[Origin] = Field(max_length=len(VENDOR_ORIGIN.codes))


EXPIRING_DAYS = 30
ORIGIN_CHANGE_DAYS = 90


class ComplianceRead(BaseModel):
    """The vendor-origin compliance of the caller's scope on one day."""

    today: date
    policy: PolicyRead
    violations: list[FindingRead]
    warnings: list[FindingRead]
    exempted: list[FindingRead]
    pending_exemptions: list[ExemptionRead]
    expiring_exemptions: list[ExemptionRead] = Field(
        description=f"Approved exemptions that end within {EXPIRING_DAYS} days."
    )
    by_department: list[DepartmentCount]
    by_sector: list[SectorCount]
    origin_changes: list[OriginChangeRead] = Field(
        description=f"Changes of a vendor's origin or country in the last {ORIGIN_CHANGE_DAYS} days that moved "
        "findings in your scope, newest first."
    )

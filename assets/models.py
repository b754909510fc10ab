"""Assets (critical city systems), vendors and their engagements, exemptions, security controls.

No `from __future__ import annotations` here: SQLModel resolves relationships from real types.
"""

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import ngettext
from sqlmodel import Field, SQLModel

from secgov.models import department_holding, ts_field, utcnow


class Asset(SQLModel, table=True):
    """A critical information system of the city. Its owner is a Responsibility (duty "owner")."""

    __table_args__ = (
        # Codes are unique regardless of case; the index also serves the code look-ups.
        sa.Index("uq_asset_code_lower", sa.func.lower(sa.text("code")), unique=True),
        # The register's usual filters ("level-3 transport systems", "CII in energy"): counted
        # from the index alone, and paged in code order without sorting.
        sa.Index("ix_asset_sector_level_code", "sector", "mlps_level", "code"),
        sa.Index("ix_asset_sector_cii_code", "sector", "is_cii", "code"),
        # What a department holds: no department is deleted while it still has assets.
        department_holding(lambda n: ngettext("%(num)d asset", "%(num)d assets", n)),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200, index=True)
    description: str = Field(default="", sa_type=sa.Text)
    sector: str = Field(max_length=40, index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    mlps_level: int | None = Field(default=None, index=True)
    mlps_filing_number: str = Field(default="", max_length=64)
    mlps_extensions: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    is_cii: bool = Field(default=False, index=True)
    # When it was designated critical information infrastructure (its first CII assessment is due
    # a year later); None when it is not CII.
    cii_designated_on: date | None = None
    classified: bool = Field(default=False, index=True)
    data_level: str = Field(default="general", max_length=20)
    lifecycle: str = Field(default="operational", max_length=20, index=True)
    network_targets: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    expected_ports: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    version: int = Field(default=1)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class AssetGrade(SQLModel, table=True):
    """One entry of an asset's MLPS grading history."""

    __tablename__ = "asset_grade"

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, ondelete="CASCADE")
    mlps_level: int | None = None
    mlps_filing_number: str = Field(default="", max_length=64)
    changed_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    changed_by: str = Field(max_length=64)
    reason: str = Field(default="", max_length=500)


class Vendor(SQLModel, table=True):
    """A company that plans, builds, runs or supplies city systems. Every department reads and
    engages it; it belongs to the department that registered it (`department_id`), whose subtree
    and the city's root department change it."""

    # A department that registered vendors is not deleted until they are handed to another.
    __table_args__ = department_holding(lambda n: ngettext("%(num)d vendor", "%(num)d vendors", n))

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    origin: str = Field(max_length=20, index=True)
    country: str = Field(max_length=2)
    department_id: int = Field(foreign_key="department.id", index=True)
    confidentiality_agreement_on: date | None = None
    version: int = Field(default=1)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class Engagement(SQLModel, table=True):
    """A vendor's role on an asset, for a period (ended_on NULL: ongoing)."""

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, ondelete="CASCADE")
    vendor_id: int = Field(foreign_key="vendor.id", index=True)
    role: str = Field(max_length=20)
    started_on: date | None = None
    ended_on: date | None = None
    note: str = Field(default="", max_length=500)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class VendorExemption(SQLModel, table=True):
    """A leader-approved exemption that clears a vendor-origin warning until it expires."""

    __tablename__ = "vendor_exemption"

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    reason: str = Field(sa_type=sa.Text)
    expires_on: date
    status: str = Field(default="pending", max_length=20, index=True)  # pending, approved, rejected
    requested_by: str = Field(max_length=64)
    requested_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    decided_by: str = Field(default="", max_length=64)
    decided_at: datetime | None = ts_field()
    decision_note: str = Field(default="", max_length=500)


class Control(SQLModel, table=True):
    """A catalog control: an MLPS 2.0 control point, an assessment area or a NIST CSF item."""

    id: str = Field(primary_key=True, max_length=40)  # e.g. mlps.general.PE.01, area.policies, csf.GV.OC-01
    catalog: str = Field(max_length=10, index=True)  # mlps, area, csf
    code: str = Field(max_length=30)
    family: str = Field(default="", max_length=20)
    extension: str = Field(default="", max_length=10)
    area: str = Field(default="", max_length=40)
    title_zh: str = Field(default="", sa_type=sa.Text)
    title_en: str = Field(default="", sa_type=sa.Text)
    levels: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    parent: str = Field(default="", max_length=40)
    position: int = Field(default=0)


class AssetCoverage(SQLModel, table=True):
    """How many of an asset's required controls of one assessment area are in each status: kept
    by `assets.controls.recount` whenever controls change, so that the coverage of a department or
    of the city sums a few rows per system instead of counting every control."""

    __tablename__ = "asset_coverage"

    asset_id: int = Field(foreign_key="asset.id", primary_key=True, ondelete="CASCADE")
    area: str = Field(primary_key=True, max_length=40)
    implemented: int = Field(default=0)
    partial: int = Field(default=0)
    planned: int = Field(default=0)
    not_implemented: int = Field(default=0)
    not_applicable: int = Field(default=0)


class AssetControl(SQLModel, table=True):
    """An asset's state on one control. Kept when the level changes (required says if it applies)."""

    __tablename__ = "asset_control"
    __table_args__ = (sa.UniqueConstraint("asset_id", "control_id"),)

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, ondelete="CASCADE")
    control_id: str = Field(foreign_key="control.id", max_length=40, index=True)
    required: bool = Field(default=True)
    status: str = Field(default="not_implemented", max_length=20)
    evidence: str = Field(default="", sa_type=sa.Text)
    reviewer: str = Field(default="", max_length=64)
    reviewed_on: date | None = None
    version: int = Field(default=1)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)

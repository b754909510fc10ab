"""Tables of the assessments domain: assessments (with their area ratings, reviewed controls and
findings) and the risk register (risks, their acceptances and reviews).

No `from __future__ import annotations` here: SQLModel resolves relationships from real types.
An assessment and a risk belong to an asset; their scope is the asset's department."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from secgov.models import ts_field, utcnow


class Assessment(SQLModel, table=True):
    """One assessment of one asset: a self-inspection, an MLPS evaluation (等级测评), a CII annual
    assessment or an ad-hoc one. Drafted and submitted by officers, approved or returned by a
    leader other than its author; frozen once approved."""

    __table_args__ = (sa.Index("ix_assessment_asset_kind_status", "asset_id", "kind", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=30, index=True)
    status: str = Field(default="draft", max_length=20, index=True)
    title: str = Field(default="", max_length=200)
    assessors: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    started_on: date
    finished_on: date | None = None
    # An outside agency's evaluation: its name, report number and score as entered (not computed).
    agency: str = Field(default="", max_length=200)
    report_number: str = Field(default="", max_length=100)
    agency_score: float | None = None
    summary: str = Field(default="", sa_type=sa.Text)
    # Fixed when it is approved (drafts show them as computed now).
    score: float | None = None
    conclusion: str = Field(default="", max_length=20)
    created_by: str = Field(max_length=64)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    submitted_by: str = Field(default="", max_length=64)
    submitted_at: datetime | None = ts_field()
    decided_by: str = Field(default="", max_length=64)
    decided_at: datetime | None = ts_field()
    return_reason: str = Field(default="", max_length=2000)
    version: int = Field(default=1)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class AssessmentArea(SQLModel, table=True):
    """An assessment's rating of one of the six areas: computed from the controls (`computed`),
    or the assessor's own (`rating`) with a written reason."""

    __tablename__ = "assessment_area"

    assessment_id: int = Field(foreign_key="assessment.id", primary_key=True, ondelete="CASCADE")
    area: str = Field(primary_key=True, max_length=40)
    computed: float | None = None
    rating: float | None = None  # the assessor's adjustment; None: the computed rating stands
    reason: str = Field(default="", max_length=2000)
    notes: str = Field(default="", sa_type=sa.Text)


class AssessmentControl(SQLModel, table=True):
    """A control's status as found during the assessment: it counts in the area's computed rating
    and is written to the asset's controls when the assessment is approved."""

    __tablename__ = "assessment_control"

    assessment_id: int = Field(foreign_key="assessment.id", primary_key=True, ondelete="CASCADE")
    control_id: str = Field(foreign_key="control.id", primary_key=True, max_length=40)
    status: str = Field(max_length=20)
    note: str = Field(default="", max_length=500)


class AssessmentFinding(SQLModel, table=True):
    """A weakness the assessment found; promoted to the risk register (`risk_id`)."""

    __tablename__ = "assessment_finding"

    id: int | None = Field(default=None, primary_key=True)
    assessment_id: int = Field(foreign_key="assessment.id", index=True, ondelete="CASCADE")
    area: str = Field(default="", max_length=40)
    control_id: str = Field(default="", max_length=40)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=sa.Text)
    likelihood: int = Field(default=3)
    impact: int = Field(default=3)
    risk_id: int | None = Field(default=None, foreign_key="risk.id", index=True, ondelete="SET NULL")


class Risk(SQLModel, table=True):
    """A risk of one asset. Its level is derived from likelihood and impact by the matrix in
    force (stored, and recomputed when the matrix changes); its owner is a Responsibility (duty
    "owner" on subject "risk"). `source` and `source_ref` say where it came from: one risk per
    promoted record."""

    __table_args__ = (
        sa.Index("ux_risk_source_ref", "source", "source_ref", unique=True, sqlite_where=sa.text("source_ref != ''"),
                 postgresql_where=sa.text("source_ref != ''")),
        sa.Index("ix_risk_asset_status_level", "asset_id", "status", "level"),
    )  # fmt: skip

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=200)
    area: str = Field(default="", max_length=40)
    control_id: str = Field(default="", max_length=40)
    source: str = Field(default="manual", max_length=20, index=True)
    source_ref: str = Field(default="", max_length=64)
    assessment_id: int | None = Field(default=None, foreign_key="assessment.id", index=True, ondelete="SET NULL")
    threat: str = Field(default="", sa_type=sa.Text)
    vulnerability: str = Field(default="", sa_type=sa.Text)
    likelihood: int
    impact: int
    level: str = Field(max_length=20, index=True)
    treatment: str = Field(default="reduce", max_length=20)
    treatment_plan: str = Field(default="", sa_type=sa.Text)
    due_date: date | None = None
    status: str = Field(default="open", max_length=20, index=True)
    residual_likelihood: int | None = None
    residual_impact: int | None = None
    residual_level: str = Field(default="", max_length=20)
    last_reviewed_on: date | None = None
    created_by: str = Field(max_length=64)
    created_on: date
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    closed_at: datetime | None = ts_field()
    version: int = Field(default=1)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class RiskAcceptance(SQLModel, table=True):
    """A decision to accept a risk as it is until `expires_on`, with its reason: a leader's for a
    high or very-high risk. It ends when it expires (the risk reopens), when it is revoked, or
    when the risk is closed."""

    __tablename__ = "risk_acceptance"

    id: int | None = Field(default=None, primary_key=True)
    risk_id: int = Field(foreign_key="risk.id", index=True, ondelete="CASCADE")
    level: str = Field(max_length=20)  # the risk's level when it was accepted
    reason: str = Field(sa_type=sa.Text)
    expires_on: date
    status: str = Field(default="active", max_length=20, index=True)  # active, expired, revoked
    accepted_by: str = Field(max_length=64)
    accepted_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    ended_by: str = Field(default="", max_length=64)
    ended_at: datetime | None = ts_field()


class RiskReview(SQLModel, table=True):
    """A periodic review of a risk: who looked, when, what they found (likelihood and impact as
    reviewed) and a note."""

    __tablename__ = "risk_review"

    id: int | None = Field(default=None, primary_key=True)
    risk_id: int = Field(foreign_key="risk.id", index=True, ondelete="CASCADE")
    reviewed_on: date
    reviewed_by: str = Field(max_length=64)
    likelihood: int
    impact: int
    level: str = Field(max_length=20)
    note: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)

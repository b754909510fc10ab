"""Input and output schemas of the assessments domain: assessments (areas, reviewed controls,
findings, decisions), risks (acceptances, reviews, promotions), due dates and the heat map. The
pages, the API and the register exchange read input into the same schemas; the services take
them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from flask_babel import gettext as _
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from assessments.codes import (
    ACCEPTANCE_STATUS,
    ASSESSMENT_KIND,
    ASSESSMENT_STATUS,
    CONCLUSION,
    DUE_STATE,
    RISK_LEVEL,
    RISK_SOURCE,
    RISK_STATUS,
    TREATMENT,
)
from assets.schemas import Query, RowId
from secgov.codes import AREA
from secgov.directory import Input, Version
from secgov.errors import BadValue
from secgov.localtime import Instant

Kind = ASSESSMENT_KIND.literal
AssessmentStatus = ASSESSMENT_STATUS.literal
Conclusion = CONCLUSION.literal
Area = AREA.literal
Level = RISK_LEVEL.literal
Source = RISK_SOURCE.literal
RiskStatus = RISK_STATUS.literal
Treatment = TREATMENT.literal
AcceptanceStatus = ACCEPTANCE_STATUS.literal
DueState = DUE_STATE.literal
ControlStatus = Literal["implemented", "partial", "planned", "not_implemented", "not_applicable"]


def _scale(value: int) -> int:
    if not 1 <= value <= 5:
        raise BadValue(_("Use a whole number from 1 (very low) to 5 (very high)."))
    return value


def _rating(value: float) -> float:
    if not 0 <= value <= 100:
        raise BadValue(_("A rating runs from 0 to 100."))
    return value


# Checked by a validator rather than ge/le, so that the answer says what the scale is; the
# document still states the bounds.
Scale = Annotated[
    int,
    AfterValidator(_scale),
    Field(description="1 very low … 5 very high.", json_schema_extra={"minimum": 1, "maximum": 5}),
]
Rating = Annotated[float, AfterValidator(_rating), Field(json_schema_extra={"minimum": 0, "maximum": 100})]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=8000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ControlId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
OptControlId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Number = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


# --- assessments ---------------------------------------------------------------------------------


class AreaInput(Input):
    """An area's rating as the assessor sets it (`rating` None: the computed rating stands) and
    notes; a rating other than the computed one needs a reason."""

    area: Area
    rating: Rating | None = None
    reason: Note = ""
    notes: Text = ""


class ControlReview(Input):
    control_id: ControlId
    status: ControlStatus
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class AssessmentCreate(Input):
    asset_id: RowId
    kind: Kind
    title: Short = ""
    assessors: list[Person] = Field(default_factory=list, max_length=20)
    started_on: date
    finished_on: date | None = None
    agency: Short = Field(default="", description="The outside agency that carried it out (MLPS or CII evaluations).")
    report_number: Number = ""
    agency_score: Rating | None = Field(default=None, description="The agency's score as it reported it.")
    summary: Text = ""
    areas: list[AreaInput] = Field(default_factory=list, max_length=6)
    controls: list[ControlReview] = Field(default_factory=list, max_length=500)


class AssessmentUpdate(Input):
    version: Version
    title: Short | None = None
    assessors: list[Person] | None = Field(default=None, max_length=20)
    started_on: date | None = None
    finished_on: date | None = None
    agency: Short | None = None
    report_number: Number | None = None
    agency_score: Rating | None = None
    summary: Text | None = None
    areas: list[AreaInput] | None = Field(default=None, max_length=6)
    controls: list[ControlReview] | None = Field(default=None, max_length=500)


class AssessmentDecision(Input):
    """An approval (no reason needed) or a return (a reason needed)."""

    version: Version | None = None
    reason: Note = ""


class AreaRead(BaseModel):
    area: Area
    computed: float | None = Field(description="The share of the area's required controls implemented.")
    rating: float | None = Field(description="The rating that counts: the assessor's, else the computed one.")
    adjusted: bool
    reason: str
    notes: str
    weight: float


class ControlReviewRead(BaseModel):
    control_id: str
    area: str
    status: ControlStatus
    note: str


class FindingCreate(Input):
    title: Title
    area: Area | Literal[""] = ""
    control_id: OptControlId = ""
    description: Text = ""
    likelihood: Scale = 3
    impact: Scale = 3


class FindingRead(BaseModel):
    id: int
    assessment_id: int
    area: str
    control_id: str
    title: str
    description: str
    likelihood: int
    impact: int
    level: Level
    risk_id: int | None


class AssessmentRead(BaseModel):
    id: int
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    kind: Kind
    status: AssessmentStatus
    title: str
    assessors: list[str]
    started_on: date
    finished_on: date | None
    agency: str
    report_number: str
    agency_score: float | None
    summary: str
    score: float | None = Field(description="The agency's score, else the weighted mean of the area ratings.")
    conclusion: Conclusion
    severe_risk_open: bool = Field(
        description="A high or very-high risk of the asset is open (the conclusion is poor)."
    )
    frozen: bool = Field(description="Approved: fixed, as it was decided.")
    areas: list[AreaRead]
    controls: list[ControlReviewRead]
    findings: list[FindingRead]
    created_by: str
    created_at: Instant
    submitted_by: str
    submitted_at: Instant | None
    decided_by: str
    decided_at: Instant | None
    return_reason: str
    version: int


class AssessmentSummary(BaseModel):
    """An assessment in a list."""

    id: int
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    kind: Kind
    status: AssessmentStatus
    title: str
    started_on: date
    finished_on: date | None
    agency: str
    score: float | None
    conclusion: Conclusion | Literal[""] = Field(description="Approved assessments only.")
    created_by: str
    decided_by: str
    updated_at: Instant


class AssessmentQuery(Query):
    q: str = Field(default="", max_length=100, description="Part of the asset's code or name, or of the title.")
    asset_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    department: str | None = Field(default=None, max_length=40, description="A department code: its whole subtree.")
    kind: Kind | None = None
    status: AssessmentStatus | None = None
    conclusion: Conclusion | None = None
    year: int | None = Field(default=None, ge=2000, le=2100, description="Finished (or started) in this year.")


ASSESSMENT_FILTERS = tuple(n for n in AssessmentQuery.model_fields if n not in ("page", "page_size"))


# --- due dates -----------------------------------------------------------------------------------


class DueRead(BaseModel):
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    owner: str | None
    mlps_level: int | None
    is_cii: bool
    kind: Kind
    interval_months: int
    due_on: date
    state: DueState
    last_on: date | None
    last_assessment_id: int | None
    open_assessment_id: int | None = Field(description="A draft or submitted assessment of this kind under way.")


class DueQuery(Query):
    state: Literal["overdue", "due_soon", "on_time", "attention"] | None = Field(
        default=None, description="attention: overdue or due soon."
    )
    kind: Kind | None = None
    department: str | None = Field(default=None, max_length=40)
    asset_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


# --- risks ---------------------------------------------------------------------------------------


class RiskCreate(Input):
    asset_id: RowId
    title: Title
    area: Area | Literal[""] = ""
    control_id: OptControlId = ""
    threat: Text = ""
    vulnerability: Text = ""
    likelihood: Scale
    impact: Scale
    treatment: Treatment = "reduce"
    treatment_plan: Text = ""
    owner: Username | None = Field(default=None, description="A username; the asset's owner when left out.")
    due_date: date | None = None
    status: Literal["open", "in_treatment"] = "open"
    residual_likelihood: Scale | None = None
    residual_impact: Scale | None = None


class RiskUpdate(Input):
    version: Version
    title: Title | None = None
    area: Area | Literal[""] | None = None
    control_id: OptControlId | None = None
    threat: Text | None = None
    vulnerability: Text | None = None
    likelihood: Scale | None = None
    impact: Scale | None = None
    treatment: Treatment | None = None
    treatment_plan: Text | None = None
    owner: Username | None = None
    due_date: date | None = None
    status: Literal["open", "in_treatment", "closed"] | None = Field(
        default=None, description="Accepted only through /accept."
    )
    residual_likelihood: Scale | None = None
    residual_impact: Scale | None = None
    reason: Note = ""


class AcceptanceCreate(Input):
    reason: Reason
    expires_on: date


class AcceptanceRead(BaseModel):
    id: int
    risk_id: int
    level: Level
    reason: str
    expires_on: date
    status: AcceptanceStatus
    accepted_by: str
    accepted_at: Instant
    ended_by: str
    ended_at: Instant | None


class ReviewCreate(Input):
    likelihood: Scale | None = Field(default=None, description="As reviewed; unchanged when left out.")
    impact: Scale | None = None
    residual_likelihood: Scale | None = None
    residual_impact: Scale | None = None
    note: Note = ""


class ReviewRead(BaseModel):
    id: int
    risk_id: int
    reviewed_on: date
    reviewed_by: str
    likelihood: int
    impact: int
    level: Level
    note: str


class RiskRead(BaseModel):
    id: int
    title: str
    asset_id: int
    asset_code: str
    asset_name: str
    department: str
    area: str
    control_id: str
    source: Source
    source_ref: str
    assessment_id: int | None
    threat: str
    vulnerability: str
    likelihood: int
    impact: int
    level: Level
    treatment: Treatment
    treatment_plan: str
    owner: str | None
    due_date: date | None
    status: RiskStatus
    residual_likelihood: int | None
    residual_impact: int | None
    residual_level: Level | Literal[""]
    acceptance: AcceptanceRead | None = Field(description="The acceptance in force.")
    last_reviewed_on: date | None
    next_review_on: date | None
    treatment_overdue: bool
    review_overdue: bool
    created_by: str
    created_on: date
    closed_at: Instant | None
    version: int
    updated_at: Instant


class RiskQuery(Query):
    q: str = Field(default="", max_length=100, description="Part of the title, or of the asset's code or name.")
    asset_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    department: str | None = Field(default=None, max_length=40)
    level: Level | None = None
    status: RiskStatus | Literal["live"] | None = Field(
        default=None, description="live: open, in treatment or accepted."
    )
    treatment: Treatment | None = None
    source: Source | None = None
    area: Area | None = None
    owner: str | None = Field(default=None, max_length=64)
    overdue: Literal["treatment", "review", "any"] | None = None
    sort: Literal["level", "due_date", "updated_at", "id"] = "level"


RISK_FILTERS = tuple(n for n in RiskQuery.model_fields if n not in ("page", "page_size"))


class Promotion(Input):
    """Promote a record of another part of SecGov (an assessment finding now; scan findings and
    drill actions later) to the risk register: one risk per record."""

    source: Literal["assessment_finding", "scan_finding", "drill_action"]
    source_id: RowId
    owner: Username | None = None
    due_date: date | None = None
    treatment: Treatment = "reduce"


class FindingPromotion(Input):
    """Promote an assessment's finding to the risk register (all optional: the asset's owner owns
    the risk, to be reduced, with no due date)."""

    owner: Username | None = None
    due_date: date | None = None
    treatment: Treatment = "reduce"


class AssessmentSubmit(Input):
    """Hand an assessment to a leader (send the version you read, if you like)."""

    version: Version | None = None


class RiskScopeQuery(BaseModel):
    """The heat map's and the counts' filter: a department's subtree, or the whole scope."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    department: str | None = Field(default=None, max_length=40, description="A department code: its whole subtree.")


class HeatCell(BaseModel):
    likelihood: int
    impact: int
    level: Level
    count: int


class HeatMap(BaseModel):
    matrix: str
    inherent: list[HeatCell]
    residual: list[HeatCell]
    total: int = Field(description="Risks counted: open, in treatment or accepted.")


class RiskCounts(BaseModel):
    by_level: dict[str, int]
    treatment_overdue: int
    review_overdue: int
    accepted: int
    acceptances_expiring: int

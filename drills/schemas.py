"""Input and output schemas of the drills domain: drills (planning, conducting, recording, the
after-action report), timelines, objectives, comments, corrective actions, requests for a drill,
coverage and calendar feeds. The pages, the API and the register exchange read input into the
same schemas; the services take them. People are named by username, departments and assets by
code."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from flask_babel import gettext as _
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from assessments.codes import TREATMENT
from assets.schemas import Query, RowId
from drills.codes import ACTION_STATUS, DRILL_STATUS, EXERCISE_TYPE, INCIDENT_GRADE, MILESTONE, RATING, REQUEST_STATUS
from secgov.directory import Code, Input, Version
from secgov.errors import BadValue
from secgov.localtime import Instant

ExerciseType = EXERCISE_TYPE.literal
Grade = INCIDENT_GRADE.literal
DrillStatus = DRILL_STATUS.literal
ActionStatus = ACTION_STATUS.literal
RequestStatus = REQUEST_STATUS.literal
Milestone = MILESTONE.literal
Treatment = TREATMENT.literal
ReportingState = Literal["on_time", "late", "missing", "not_reportable", "pending"]

# A drill lasts at most a week; a recurring one comes back after 1 to 36 months.
MAX_MINUTES = 7 * 24 * 60


def _duration(value: int) -> int:
    if not 1 <= value <= MAX_MINUTES:
        raise BadValue(_("A duration is a whole number of minutes from 1 to %(max)d (a week).", max=MAX_MINUTES))
    return value


def _months(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 36:
        raise BadValue(_("A drill recurs every 1 to 36 months."))
    return value


def _rating(value: str) -> str:
    if value not in RATING.codes:
        raise BadValue(_("Rate an objective P, S, M or U."))
    return value


Minutes = Annotated[
    int,
    AfterValidator(_duration),
    Field(description="Minutes, 1 … 10080.", json_schema_extra={"minimum": 1, "maximum": MAX_MINUTES}),
]
Months = Annotated[
    int | None,
    AfterValidator(_months),
    Field(description="Months between occurrences (1 … 36); none: a single drill."),
]
Rating = Annotated[
    str,
    AfterValidator(_rating),
    Field(description="P, S, M or U (HSEEP).", json_schema_extra={"enum": list(RATING.codes)}),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=8000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Objective = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Entry = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


# --- drills --------------------------------------------------------------------------------------


class External(Input):
    """A participant from outside the city's users (a vendor's engineer, the police liaison)."""

    name: Title
    organisation: Short = ""
    role: Short = ""


class DrillCreate(Input):
    title: Title
    scenario: Text = ""
    exercise_type: ExerciseType
    incident_grade: Grade
    department: Code | None = Field(default=None, description="Whose drill it is; the planner's department by default.")
    lead: Username
    planned_start: Instant
    duration_minutes: Minutes
    recurrence_months: Months = None
    assets: list[Code] = Field(default_factory=list, max_length=200, description="Asset codes.")
    departments: list[Code] = Field(default_factory=list, max_length=100, description="Department codes.")
    participants: list[Username] = Field(default_factory=list, max_length=200)
    external_participants: list[External] = Field(default_factory=list, max_length=100)
    objectives: list[Objective] = Field(default_factory=list, max_length=50)
    request_id: RowId | None = Field(default=None, description="The leader's request this drill answers.")


class DrillUpdate(Input):
    """Change a planned drill (what is given changes; lists replace the old ones)."""

    version: Version
    title: Title | None = None
    scenario: Text | None = None
    exercise_type: ExerciseType | None = None
    incident_grade: Grade | None = None
    lead: Username | None = None
    planned_start: Instant | None = None
    duration_minutes: Minutes | None = None
    recurrence_months: Months = None
    assets: list[Code] | None = Field(default=None, max_length=200)
    departments: list[Code] | None = Field(default=None, max_length=100)
    participants: list[Username] | None = Field(default=None, max_length=200)
    external_participants: list[External] | None = Field(default=None, max_length=100)
    objectives: list[Objective] | None = Field(default=None, max_length=50)


class DrillStart(Input):
    version: Version | None = None
    started_at: Instant | None = Field(default=None, description="When it began; now by default.")


class ObjectiveRating(Input):
    id: RowId
    rating: Rating
    note: Note = ""


class DrillRecord(Input):
    """The record of a conducted drill: its actual times, the ratings of its objectives, strengths
    and areas for improvement. What is given changes."""

    version: Version | None = None
    started_at: Instant | None = None
    ended_at: Instant | None = None
    ratings: list[ObjectiveRating] = Field(default_factory=list, max_length=50)
    strengths: Text | None = None
    improvements: Text | None = None


class DrillComplete(Input):
    version: Version | None = None
    ended_at: Instant | None = Field(default=None, description="When it ended; now by default.")


class DrillCancel(Input):
    version: Version | None = None
    reason: Reason


class TimelineCreate(Input):
    at: Instant
    who: Short = ""
    text: Entry
    milestone: Milestone | Literal[""] = ""


class CommentCreate(Input):
    text: Comment


class AarApproval(Input):
    version: Version | None = None


class ParticipantRead(BaseModel):
    username: str = Field(description="Empty for an external participant.")
    name: str
    organisation: str
    role: str


class ObjectiveRead(BaseModel):
    id: int
    position: int
    text: str
    rating: Rating | Literal[""]
    note: str


class TimelineRead(BaseModel):
    id: int
    at: Instant
    who: str
    text: str
    milestone: Milestone | Literal[""]
    created_by: str


class CommentRead(BaseModel):
    id: int
    author: str
    text: str
    created_at: Instant


class MeasuredRead(BaseModel):
    detect_minutes: int | None
    report_minutes: int | None
    contain_minutes: int | None
    recover_minutes: int | None
    report_deadline_minutes: int | None = Field(description="None: the simulated grade is not reportable.")
    reporting: ReportingState


class DrillSummary(BaseModel):
    """A drill in a list (the SPEC's drill fields and a few more)."""

    id: int
    title: str
    scenario: str
    exercise_type: ExerciseType
    incident_grade: Grade
    planned_start: Instant
    duration_minutes: int
    lead: str
    status: DrillStatus
    department: str
    recurrence_months: int | None
    started_at: Instant | None
    ended_at: Instant | None
    report_minutes: int | None
    report_deadline_minutes: int | None
    reporting: ReportingState
    aar_status: Literal["draft", "approved"]
    open_actions: int
    version: int


class DrillRead(DrillSummary):
    assets: list[str]
    departments: list[str]
    participants: list[ParticipantRead]
    objectives: list[ObjectiveRead]
    timeline: list[TimelineRead]
    comments: list[CommentRead]
    measured: MeasuredRead
    strengths: str
    improvements: str
    aar_approved_by: str
    aar_approved_at: Instant | None
    cancel_reason: str
    previous_id: int | None
    next_id: int | None = Field(description="The next occurrence of a recurring drill, once planned.")
    request_id: int | None
    created_by: str
    created_at: Instant
    completed_at: Instant | None


class DrillQuery(Query):
    q: str = Field(default="", max_length=100, description="Part of the title or scenario.")
    status: DrillStatus | None = None
    exercise_type: ExerciseType | None = None
    department: str | None = Field(default=None, max_length=40, description="A department code: its whole subtree.")
    asset: str | None = Field(default=None, max_length=40, description="An asset code: drills covering it.")
    year: int | None = Field(default=None, ge=2000, le=2100, description="Planned to start in this year.")
    reporting: ReportingState | None = None


DRILL_FILTERS = tuple(n for n in DrillQuery.model_fields if n not in ("page", "page_size"))


# --- corrective actions --------------------------------------------------------------------------


class ActionCreate(Input):
    title: Title
    description: Text = ""
    owner: Username
    due_date: date
    objective_id: RowId | None = Field(default=None, description="The objective it answers, if any.")
    asset: Code | None = Field(default=None, description="The asset it concerns: one of the drill's assets.")


class ActionUpdate(Input):
    """The drill team changes anything; the owner changes the status and the note."""

    version: Version
    title: Title | None = None
    description: Text | None = None
    owner: Username | None = None
    due_date: date | None = None
    asset: Code | None = None
    status: ActionStatus | None = None
    note: Note | None = None


class ActionPromotion(Input):
    """Promote a corrective action to the risk register (all optional)."""

    owner: Username | None = None
    due_date: date | None = None
    treatment: Treatment = "reduce"


class ActionRead(BaseModel):
    id: int
    drill_id: int
    drill_title: str
    title: str
    description: str
    owner: str
    department: str
    due_date: date
    status: ActionStatus
    overdue: bool
    days_overdue: int
    escalated_at: Instant | None
    note: str
    asset: str
    objective_id: int | None
    risk_id: int | None
    closed_at: Instant | None
    created_by: str
    created_at: Instant
    updated_at: Instant
    version: int


class ActionQuery(Query):
    status: ActionStatus | None = None
    overdue: bool | None = None
    owner: str | None = Field(default=None, max_length=64, description="A username.")
    drill_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    department: str | None = Field(default=None, max_length=40, description="The owner's department: its subtree.")


ACTION_FILTERS = tuple(n for n in ActionQuery.model_fields if n not in ("page", "page_size"))


# --- requests for a drill ------------------------------------------------------------------------


class RequestCreate(Input):
    title: Title
    reason: Note = ""
    exercise_type: ExerciseType | Literal[""] = ""
    assets: list[Code] = Field(default_factory=list, max_length=200)
    department: Code | None = None
    due_by: date


class RequestDecline(Input):
    version: Version | None = None
    reason: Reason


class RequestRead(BaseModel):
    id: int
    title: str
    reason: str
    exercise_type: ExerciseType | Literal[""]
    assets: list[str]
    department: str
    due_by: date
    status: RequestStatus
    requested_by: str
    requested_at: Instant
    drill_id: int | None
    decided_by: str
    decided_at: Instant | None
    decision_reason: str
    version: int


class RequestQuery(Query):
    status: RequestStatus | None = None


# --- coverage ------------------------------------------------------------------------------------


class CoverageGap(BaseModel):
    """A CII asset or a department not covered by a completed drill within the period."""

    kind: Literal["asset", "department"]
    code: str
    name: str
    department: str
    last_drill_id: int | None
    last_drill_on: date | None
    next_drill_id: int | None
    next_drill_start: Instant | None


class CoverageRead(BaseModel):
    months: int
    since: date
    required: int = Field(description="CII assets and departments holding an operational system.")
    covered: int
    gaps: list[CoverageGap]


# --- calendar feeds ------------------------------------------------------------------------------


class FeedRead(BaseModel):
    prefix: str
    created_at: Instant
    last_used_at: Instant | None
    url: str = Field(default="", description="Given once, when the feed is created.")

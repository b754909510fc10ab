"""Tables of the drills domain: drills (planned, conducted, recorded), what they cover (assets and
departments), who takes part, their objectives with P/S/M/U ratings, their timelines, comments,
the corrective actions of their improvement plans, leaders' requests for a drill, the personal
calendar feeds and the reminders already sent.

No `from __future__ import annotations` here: SQLModel resolves relationships from real types.
A drill belongs to a department (its scope: the drill team that plans it sees the subtree); a
corrective action belongs to its owner's department, and its owner may update it wherever that is."""

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import ngettext
from sqlmodel import Field, SQLModel

from secgov.models import department_holding, ts_field, utcnow


class Drill(SQLModel, table=True):
    """One drill: planned (title, scenario, exercise type, simulated incident grade, lead, planned
    start and duration, recurrence), then conducted (actual start and end, the times measured from
    its timeline, the reporting deadline that applied) and reported (strengths, areas for
    improvement, the after-action report's approval by a leader)."""

    __table_args__ = (
        sa.Index("ix_drill_status_start", "status", "planned_start"),
        department_holding(lambda n: ngettext("%(num)d drill", "%(num)d drills", n)),
    )

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    title: str = Field(max_length=200)
    scenario: str = Field(default="", sa_type=sa.Text)
    exercise_type: str = Field(max_length=20)
    incident_grade: str = Field(max_length=4)
    lead_id: int = Field(foreign_key="user.id", index=True)
    planned_start: datetime = ts_field(nullable=False)
    duration_minutes: int
    # Months between occurrences (6, 12, ...); None: a single drill. When an occurrence is
    # completed or cancelled, the next one is planned (`previous_id` links it to this one).
    recurrence_months: int | None = None
    previous_id: int | None = Field(default=None, foreign_key="drill.id", index=True, ondelete="SET NULL")
    request_id: int | None = Field(default=None, foreign_key="drill_request.id", index=True, ondelete="SET NULL")
    status: str = Field(default="planned", max_length=20, index=True)
    started_at: datetime | None = ts_field()
    ended_at: datetime | None = ts_field()
    # Minutes from the start to each milestone of the timeline (its earliest entry), kept in step
    # with the timeline; None: not reached.
    detect_minutes: int | None = None
    report_minutes: int | None = None
    contain_minutes: int | None = None
    recover_minutes: int | None = None
    # The reporting deadline that applies (the strictest of its assets' and departments' operator
    # kinds), in minutes; None: the simulated grade is not reportable.
    report_deadline_minutes: int | None = None
    strengths: str = Field(default="", sa_type=sa.Text)
    improvements: str = Field(default="", sa_type=sa.Text)
    aar_status: str = Field(default="draft", max_length=20)
    aar_approved_by: str = Field(default="", max_length=64)
    aar_approved_at: datetime | None = ts_field()
    cancel_reason: str = Field(default="", max_length=1000)
    created_by: str = Field(max_length=64)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    completed_at: datetime | None = ts_field()
    version: int = Field(default=1)


class DrillAsset(SQLModel, table=True):
    """An asset a drill covers."""

    __tablename__ = "drill_asset"

    drill_id: int = Field(foreign_key="drill.id", primary_key=True, ondelete="CASCADE")
    asset_id: int = Field(foreign_key="asset.id", primary_key=True, index=True, ondelete="CASCADE")


class DrillDepartment(SQLModel, table=True):
    """A department a drill covers (it takes part as an organisation)."""

    __tablename__ = "drill_department"
    __table_args__ = (
        department_holding(lambda n: ngettext("%(num)d drill it takes part in", "%(num)d drills it takes part in", n)),
    )

    drill_id: int = Field(foreign_key="drill.id", primary_key=True, ondelete="CASCADE")
    department_id: int = Field(foreign_key="department.id", primary_key=True, index=True, ondelete="CASCADE")


class DrillParticipant(SQLModel, table=True):
    """Someone taking part: a user, or a named external participant (their organisation)."""

    __tablename__ = "drill_participant"

    id: int | None = Field(default=None, primary_key=True)
    drill_id: int = Field(foreign_key="drill.id", index=True, ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(default="", max_length=200)  # an external participant's name
    organisation: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=200)  # their part in the drill (free text)


class DrillObjective(SQLModel, table=True):
    """An objective of a drill and, once it is conducted, its P/S/M/U rating with a note."""

    __tablename__ = "drill_objective"

    id: int | None = Field(default=None, primary_key=True)
    drill_id: int = Field(foreign_key="drill.id", index=True, ondelete="CASCADE")
    position: int = Field(default=0)
    text: str = Field(max_length=1000)
    rating: str = Field(default="", max_length=1)  # "" until rated; codes.RATING
    note: str = Field(default="", max_length=2000)


class DrillTimelineEntry(SQLModel, table=True):
    """A timestamped entry of a drill's timeline: who did what, and the milestone it marks."""

    __tablename__ = "drill_timeline_entry"

    id: int | None = Field(default=None, primary_key=True)
    drill_id: int = Field(foreign_key="drill.id", index=True, ondelete="CASCADE")
    at: datetime = ts_field(nullable=False)
    who: str = Field(default="", max_length=200)
    text: str = Field(max_length=2000)
    milestone: str = Field(default="", max_length=20)  # "" or codes.MILESTONE
    created_by: str = Field(max_length=64)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class DrillComment(SQLModel, table=True):
    """A comment on a drill (officers and the drill team)."""

    __tablename__ = "drill_comment"

    id: int | None = Field(default=None, primary_key=True)
    drill_id: int = Field(foreign_key="drill.id", index=True, ondelete="CASCADE")
    author: str = Field(max_length=64)
    text: str = Field(max_length=4000)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class CorrectiveAction(SQLModel, table=True):
    """An item of a drill's improvement plan: what to do, its owner and due date, its status; it
    escalates when overdue (`escalated_at`) and may be promoted to the risk register (`risk_id`).
    Its department is its owner's, so that the owner's department head sees it."""

    __tablename__ = "corrective_action"
    __table_args__ = (
        sa.Index("ix_corrective_action_status_due", "status", "due_date"),
        department_holding(lambda n: ngettext("%(num)d corrective action", "%(num)d corrective actions", n)),
    )

    id: int | None = Field(default=None, primary_key=True)
    drill_id: int = Field(foreign_key="drill.id", index=True, ondelete="CASCADE")
    objective_id: int | None = Field(default=None, foreign_key="drill_objective.id", ondelete="SET NULL")
    asset_id: int | None = Field(default=None, foreign_key="asset.id", index=True, ondelete="SET NULL")
    department_id: int = Field(foreign_key="department.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    owner_id: int = Field(foreign_key="user.id", index=True)
    due_date: date
    status: str = Field(default="open", max_length=20)
    note: str = Field(default="", max_length=2000)  # the owner's latest update
    closed_at: datetime | None = ts_field()
    escalated_at: datetime | None = ts_field()
    risk_id: int | None = Field(default=None, foreign_key="risk.id", index=True, ondelete="SET NULL")
    created_by: str = Field(max_length=64)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    version: int = Field(default=1)


class DrillRequest(SQLModel, table=True):
    """A leader's request for a drill (what it should cover, by when, why), which the drill team
    schedules (the drill names it: `Drill.request_id`) or declines with a reason."""

    __tablename__ = "drill_request"
    __table_args__ = (department_holding(lambda n: ngettext("%(num)d drill request", "%(num)d drill requests", n)),)

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    title: str = Field(max_length=200)
    reason: str = Field(default="", max_length=2000)
    exercise_type: str = Field(default="", max_length=20)  # "" : the drill team chooses
    asset_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    due_by: date
    status: str = Field(default="open", max_length=20, index=True)
    requested_by: str = Field(max_length=64)
    requested_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    decided_by: str = Field(default="", max_length=64)
    decided_at: datetime | None = ts_field()
    decision_reason: str = Field(default="", max_length=2000)
    version: int = Field(default=1)


class CalendarFeed(SQLModel, table=True):
    """A user's personal iCalendar feed: its token is shown once and stored hashed; a revoked
    feed answers 404. A user has at most one live feed (a new one revokes the old)."""

    __tablename__ = "calendar_feed"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    last_used_at: datetime | None = ts_field()
    revoked_at: datetime | None = ts_field()


class DrillNotice(SQLModel, table=True):
    """A reminder already sent (kind, the drill's or action's id, the occasion: a planned start or
    the day an action fell overdue), so that each one goes out once."""

    __tablename__ = "drill_notice"

    kind: str = Field(primary_key=True, max_length=20)  # "drill" | "action"
    object_id: int = Field(primary_key=True)
    occasion: str = Field(primary_key=True, max_length=40)
    sent_at: datetime = ts_field(nullable=False, default_factory=utcnow)

"""Core tables: departments, users and their roles, API tokens, settings, the audit log.

No `from __future__ import annotations` here: SQLModel resolves relationships from real types.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_babel import ngettext
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Relationship, SQLModel

from secgov.datakeys import Sealed


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every database (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def ts_field(nullable: bool = True, **kwargs):
    """A UTC timestamp column."""
    return Field(sa_type=UTCDateTime, nullable=nullable, **kwargs)


# The `Table.info` key under which a table whose rows belong to a department (a foreign key to
# department.id) says how to count them when that department cannot be deleted ("3 assets").
DEPARTMENT_HOLDING = "secgov_department_holding"


def department_holding(count: Callable[[int], str]) -> dict:
    """The `__table_args__` entry of a table whose rows a department holds: `count(n)` names n of
    them in the user's language (an `ngettext` call, so that both forms reach the catalogue and
    the phrase is translated when the refusal is made). `directory.delete_department` finds
    every such table in the metadata, so a table added later is counted without more code."""
    return {"info": {DEPARTMENT_HOLDING: count}}


DEPARTMENT_KINDS = ("city", "bureau", "unit")


class Department(SQLModel, table=True):
    """A node of the city's department tree; `path` (/1/4/9/) makes subtree scope one query."""

    __table_args__ = department_holding(lambda n: ngettext("%(num)d sub-department", "%(num)d sub-departments", n))

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    kind: str = Field(max_length=10)
    # Which kind of network operator it is (codes.OPERATOR_KIND): it sets the deadline for
    # reporting an incident (a CII operator 1 h, a central or state organ 2 h, others 4 h).
    operator_kind: str = Field(
        default="other_operator", max_length=30, sa_column_kwargs={"server_default": "other_operator"}
    )
    parent_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    path: str = Field(default="", max_length=500, index=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"

    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(max_length=20, primary_key=True)


class User(SQLModel, table=True):
    """A person who signs in. Roles are rows of user_role; scope is the department subtree."""

    __tablename__ = "user"
    __table_args__ = department_holding(lambda n: ngettext("%(num)d user", "%(num)d users", n))

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    department_id: int = Field(foreign_key="department.id", index=True)
    password_hash: str = Field(max_length=255)
    disabled: bool = Field(default=False)
    # Bumped on logout, password change, MFA change, disable and "sign out everywhere":
    # every cookie carrying an older version stops working.
    session_version: int = Field(default=1)
    # Encrypted in the database with the data keys (secgov.datakeys); plain here.
    totp_secret: str | None = Field(default=None, sa_type=Sealed)
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    # The key an enrolment shows, kept here (never in the cookie) until it is confirmed or expires.
    totp_pending: str | None = Field(default=None, sa_type=Sealed)
    totp_pending_at: datetime | None = ts_field()
    language: str | None = Field(default=None, max_length=5)
    version: int = Field(default=1)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    password_changed_at: datetime | None = ts_field()
    last_login_at: datetime | None = ts_field()

    role_rows: list[UserRole] = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "cascade": "all, delete-orphan"}
    )
    department: Department = Relationship(sa_relationship_kwargs={"lazy": "joined"})

    @property
    def roles(self) -> set[str]:
        return {row.role for row in self.role_rows}

    # Flask-Login protocol. The id carries the session version, so a bumped version makes
    # every existing session cookie unusable.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.disabled

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def mfa_enabled(self) -> bool:
        return bool(self.totp_secret)


class ApiToken(SQLModel, table=True):
    """A bearer token for the API: only its SHA-256 is stored; it acts with its owner's roles."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    last_used_at: datetime | None = ts_field()
    revoked_at: datetime | None = ts_field()


class Setting(SQLModel, table=True):
    """An administrator's setting; values are JSON."""

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_type=sa.Text)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    updated_by: str = Field(default="", max_length=64)


THROTTLE_KEY_MAX = 128


class ThrottleCounter(SQLModel, table=True):
    """A failure counter of sign-in throttling (`secgov.throttle`): the failures counted under
    `key` in the window that ends at `expires_at`. Expired rows are pruned as failures are
    counted (index on `expires_at`)."""

    __tablename__ = "throttle_counter"

    key: str = Field(primary_key=True, max_length=THROTTLE_KEY_MAX)
    count: int
    expires_at: datetime = ts_field(nullable=False, index=True)


class AuditEntry(SQLModel, table=True):
    """One audit event. Append-only: database triggers refuse UPDATE and DELETE.

    `hash` is SHA-256 over `prev_hash` and the canonical JSON of the other columns.
    """

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    created_at: str = Field(max_length=40, index=True)
    actor: str = Field(max_length=64)
    actor_id: int | None = Field(default=None)
    channel: str = Field(max_length=10)
    ip: str = Field(default="", max_length=64)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(default="", max_length=64)
    object_id: str = Field(default="", max_length=64)
    department_id: int | None = Field(default=None, index=True)
    detail: str = Field(default="{}", sa_type=sa.Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Responsibility(SQLModel, table=True):
    """Who holds a duty for a subject, from when to when; history is never overwritten.

    subject_type/subject_id name any record (an asset, a risk, a drill, a department, the city);
    duty is e.g. "owner". A term runs from valid_from until valid_to (NULL: until the next
    holder's term begins); the term covering a moment names the holder then. `corrects_id`: the
    term this one corrects (its holder had been recorded wrongly), shown as such by the trace.
    """

    __tablename__ = "responsibility"
    __table_args__ = (sa.Index("ix_responsibility_subject", "subject_type", "subject_id", "duty", "valid_to"),)

    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=40)
    subject_id: int
    duty: str = Field(max_length=40)
    user_id: int = Field(foreign_key="user.id", index=True)
    valid_from: datetime = ts_field(nullable=False)
    valid_to: datetime | None = ts_field()
    assigned_by: str = Field(max_length=64)
    reason: str = Field(default="", max_length=500)
    corrects_id: int | None = Field(default=None, foreign_key="responsibility.id")


class AppraisalPeriod(SQLModel, table=True):
    """A closed appraisal period (secgov.accountability.appraisal): every outcome of its measures
    with the names and weights of the moment it was closed (`data`, canonical JSON), their SHA-256,
    who closed it and when. A closed period is read from here, never computed again."""

    __tablename__ = "appraisal_period"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=10, unique=True)
    starts_on: date
    ends_on: date
    closed_at: datetime = ts_field(nullable=False)
    closed_by: str = Field(max_length=64)
    data: str = Field(sa_type=sa.Text)
    sha256: str = Field(max_length=64)


# --- background work (secgov.runs, secgov.scheduler, secgov.tasks) ----------------------------

RUN_STATUSES = ("queued", "running", "succeeded", "failed")


class Schedule(SQLModel, table=True):
    """When the scheduler starts a kind of work: a cron expression (in the city's time zone) or an
    interval. City-wide: created and changed by root-department admins; `system` schedules are the
    application's own (kept by `db upgrade`: they can be changed or paused, not deleted)."""

    __tablename__ = "schedule"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=60, index=True)
    name: str = Field(default="", max_length=200)
    params: str = Field(default="{}", sa_type=sa.Text)
    cron: str = Field(default="", max_length=100)
    interval_seconds: int | None = Field(default=None)
    enabled: bool = Field(default=True)
    system: bool = Field(default=False)
    version: int = Field(default=1)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts_field(nullable=False, default_factory=utcnow)
    last_planned_at: datetime | None = ts_field()


class Run(SQLModel, table=True):
    """One piece of background work: what, with which parameters, for whom, and how it went.

    Runs of a schedule are unique per planned time (two schedulers, or one restarted, cannot start
    the same planned run twice). `department_id` is the scope: the requester's department, or none
    (the whole city's) for the system and for city-wide kinds."""

    __tablename__ = "run"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "planned_at", name="uq_run_schedule_planned"),
        sa.Index("ix_run_status_heartbeat", "status", "heartbeat_at"),
        department_holding(lambda n: ngettext("%(num)d background run", "%(num)d background runs", n)),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=60, index=True)
    status: str = Field(default="queued", max_length=12, index=True)
    queue: str = Field(default="default", max_length=60)
    params: str = Field(default="{}", sa_type=sa.Text)
    requested_by: str = Field(max_length=64)
    requested_by_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    channel: str = Field(default="web", max_length=10)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True, ondelete="SET NULL")
    schedule_id: int | None = Field(default=None, foreign_key="schedule.id", index=True, ondelete="SET NULL")
    planned_at: datetime | None = ts_field()
    attempt: int = Field(default=1)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow, index=True)
    handed_at: datetime | None = ts_field()
    started_at: datetime | None = ts_field()
    heartbeat_at: datetime | None = ts_field()
    deadline_at: datetime | None = ts_field()
    finished_at: datetime | None = ts_field()
    worker: str = Field(default="", max_length=120)
    progress_done: int | None = Field(default=None)
    progress_total: int | None = Field(default=None)
    result: str = Field(default="", sa_type=sa.Text)
    reason: str = Field(default="", max_length=60)
    detail: str = Field(default="", max_length=1000)


class RunFile(SQLModel, table=True):
    """A file a run works on (an uploaded register): kept in the database, so that a worker on
    another host reads it; deleted when the run ends."""

    __tablename__ = "run_file"

    run_id: int = Field(foreign_key="run.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(max_length=255)
    data: bytes = Field(sa_type=sa.LargeBinary)


class SchedulerLease(SQLModel, table=True):
    """Who runs the one scheduler: the holder renews the lease; another scheduler starting while it
    is current refuses to start."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=200)
    acquired_at: datetime = ts_field(nullable=False)
    expires_at: datetime = ts_field(nullable=False)


class FigureSnapshot(SQLModel, table=True):
    """A headline figure of one department (its own records, not its subtree's) on one day, taken
    by the daily snapshot job, for trends."""

    __tablename__ = "figure_snapshot"
    __table_args__ = (
        sa.UniqueConstraint("day", "department_id", "figure", name="uq_figure_snapshot"),
        department_holding(lambda n: ngettext("%(num)d daily figure", "%(num)d daily figures", n)),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    department_id: int = Field(foreign_key="department.id", index=True, ondelete="CASCADE")
    figure: str = Field(max_length=60)
    value: float


class Report(SQLModel, table=True):
    """A generated report in the archive: what was asked for (kind, language, scope, period), by
    whom, the run that renders it (its status mirrors the run's), and once rendered the SHA-256
    of the file, of its canonical input data, and the audit chain's head at generation. The file
    itself is a `ReportFile` (in the database: a worker on another host writes it)."""

    __tablename__ = "report"
    __table_args__ = (
        sa.Index("ix_report_request", "requested_by_id", "status"),
        # One report of the same kind, language, scope, subject and period per requester in flight:
        # two requests at once cannot both be queued (the second's insert fails: a 409).
        sa.Index(
            "ux_report_in_flight",
            "kind",
            "lang",
            "department_id",
            "subject",
            "period_from",
            "period_to",
            "requested_by",
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        ),
        department_holding(lambda n: ngettext("%(num)d report", "%(num)d reports", n)),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="compliance", max_length=40)
    lang: str = Field(default="zh", max_length=5)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True, ondelete="SET NULL")
    period_from: date
    period_to: date
    requested_by: str = Field(max_length=64)
    requested_by_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    run_id: int | None = Field(default=None, foreign_key="run.id", index=True, ondelete="SET NULL")
    # What a report of one record is about (a dossier: the asset's code); '' for a register report.
    subject: str = Field(default="", max_length=80)
    # The schedule that asked for it (scheduled reports), none when a user did.
    schedule_id: int | None = Field(default=None, foreign_key="schedule.id", index=True, ondelete="SET NULL")
    status: str = Field(default="queued", max_length=12, index=True)
    reason: str = Field(default="", max_length=60)
    sha256: str = Field(default="", max_length=64)
    input_sha256: str = Field(default="", max_length=64)
    audit_seq: int | None = Field(default=None)
    audit_hash: str = Field(default="", max_length=64)
    checkpoint: str = Field(default="", max_length=200)  # "seq:hash" signed, or the problem's code
    pages: int | None = Field(default=None)
    size: int | None = Field(default=None)
    created_at: datetime = ts_field(nullable=False, default_factory=utcnow, index=True)
    finished_at: datetime | None = ts_field()


class ReportFile(SQLModel, table=True):
    """The PDF of a report."""

    __tablename__ = "report_file"

    report_id: int = Field(foreign_key="report.id", primary_key=True, ondelete="CASCADE")
    data: bytes = Field(sa_type=sa.LargeBinary)


class ReportAttachment(SQLModel, table=True):
    """A file that goes with a report: the full registers behind its summarised tables (CSV or
    XLSX), with their SHA-256 (listed in the archive beside the PDF's)."""

    __tablename__ = "report_attachment"

    report_id: int = Field(foreign_key="report.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(primary_key=True, max_length=120)
    media_type: str = Field(max_length=120)
    sha256: str = Field(max_length=64)
    size: int
    rows: int | None = Field(default=None)
    data: bytes = Field(sa_type=sa.LargeBinary)

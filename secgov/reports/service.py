"""The leadership compliance report: asking for one, generating it, reading the archive.

`request_report` checks what was asked (language, period, a department in the actor's scope, the
same report not already being made for the same user) and records a queued `Report`. `generate`
does the work, in a worker (`secgov.reports.jobs`) or in the foreground (the command line): it
builds every chapter's data for the report's scope (an Actor whose scope is the department's
subtree), hashes that input (canonical JSON), notes the audit chain's head, renders the HTML with
autoescaping on, renders the PDF in a child process (`secgov.reports.render`, `secgov.reports.child`), stores the file and
its SHA-256, and signs an audit checkpoint (a checkpoint that fails is recorded in the report,
which is kept).

A report's status mirrors its run's: a run the reaper ended (timeout, worker lost) ends its report
too when it is read (`status_of`).
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, update
from sqlmodel import Session, select

from secgov import audit, checkpoints, runs, snapshots
from secgov.authz import CITY, Actor, deny_out_of_scope, in_scope, path_in_scope
from secgov.db import new_session, write_session
from secgov.errors import Conflict, Invalid, NotFound
from secgov.localtime import Instant
from secgov.models import Department, Report, ReportFile, Run, User
from secgov.reports.chapters import Chapter, Period, Scope
from secgov.reports.render import Limits, RenderFailed, render_pdf
from secgov.runs import ENDED, JobKind
from secgov.snapshots import Figure

KINDS = ("compliance",)
READERS = ("leader", "officer", "auditor")
MAKERS = ("leader", "officer")
MAX_SECONDS = 300  # SECGOV_REPORT_MAX_SECONDS: the render's wall-clock limit
MAX_MB = 2048  # SECGOV_REPORT_MAX_MB: the render's address-space limit
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReportCreate(BaseModel):
    """What a report is asked for with: language, department (code; none: the asker's own
    department) and period (a month YYYY-MM, or from and to; none: this month so far)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    lang: Literal["zh", "en"] = Field(default="zh", description="The report's language.")
    department: str | None = Field(default=None, max_length=40, description="A department code in your scope.")
    period: str | None = Field(default=None, max_length=7, description="A month, YYYY-MM.")
    start: date | None = Field(default=None, alias="from", description="The first day covered.")
    end: date | None = Field(default=None, alias="to", description="The last day covered.")


class ReportRead(BaseModel):
    id: int
    kind: str
    lang: str
    department: str | None
    period_from: date
    period_to: date
    requested_by: str
    run_id: int | None
    status: str
    reason: str = Field(description="Why it failed: a stable code ('' unless failed).")
    sha256: str = Field(description="SHA-256 of the PDF file.")
    input_sha256: str = Field(description="SHA-256 of the canonical JSON of the report's input data.")
    audit_seq: int | None
    audit_hash: str
    checkpoint: str
    pages: int | None
    size: int | None
    created_at: Instant
    finished_at: Instant | None


# --- asking --------------------------------------------------------------------------------------


def resolve_period(data: ReportCreate, today: date) -> Period:
    """The days asked for; Invalid for a malformed month, a mix of month and days, or an end
    before the start."""
    if data.period and (data.start or data.end):
        raise Invalid(_("Give either a month or a start and an end, not both."), field="period")
    if data.period:
        match = _MONTH.match(data.period)
        if not match or not 1 <= int(match[2]) <= 12:
            raise Invalid(_("The period must be a month written YYYY-MM."), field="period")
        year, month = int(match[1]), int(match[2])
        return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
    start = data.start or today.replace(day=1)
    end = data.end or (today if start <= today else start)
    if end < start:
        raise Invalid(_("The period ends before it starts."), field="to")
    return Period(start, end)


def resolve_department(session: Session, actor: Actor, code: str | None) -> Department:
    """The report's department: the code's, in the actor's scope (else NotFound), or the actor's
    own department (the city's root for the system)."""
    if code:
        department = session.exec(select(Department).where(Department.code == code)).first()
        if department is None:
            raise NotFound(_("No department with this code."), field="department")
        if not path_in_scope(department.path, actor):
            deny_out_of_scope(actor, "department", department.id)
        return department
    if actor.department_id is not None:
        return session.get(Department, actor.department_id)
    root = session.exec(select(Department).where(Department.parent_id.is_(None)).order_by(Department.id)).first()
    if root is None:
        raise NotFound(_("There is no department yet."))
    return root


def request_report(session: Session, actor: Actor, data: ReportCreate, today: date, kind: str = "compliance") -> Report:
    """A queued report in the caller's transaction (the caller asks for its run); Conflict when
    the same report is already queued or running for the same user."""
    period = resolve_period(data, today)
    department = resolve_department(session, actor, data.department)
    same = session.exec(
        select(Report.id).where(
            Report.kind == kind,
            Report.lang == data.lang,
            Report.department_id == department.id,
            Report.period_from == period.start,
            Report.period_to == period.end,
            Report.requested_by == actor.username,
            Report.status.in_(("queued", "running")),
        )
    ).first()
    if same is not None:
        raise Conflict(_("The same report is already being made (report %(id)s).", id=same), field="report")
    report = Report(
        kind=kind,
        lang=data.lang,
        department_id=department.id,
        period_from=period.start,
        period_to=period.end,
        requested_by=actor.username,
        requested_by_id=actor.user_id,
    )
    session.add(report)
    session.flush()
    audit.record(
        session,
        actor,
        "report.requested",
        object_type="report",
        object_id=report.id,
        department_id=department.id,
        lang=data.lang,
        period=f"{period.start}..{period.end}",
    )
    return report


# --- generating ----------------------------------------------------------------------------------


def queue_report(session: Session, actor: Actor, data: ReportCreate, today: date, job: JobKind) -> tuple[Report, Run]:
    """Ask for a report and the run that renders it, in the caller's transaction (pages, API and
    the demo alike); the frame hands the run to the queue once it commits."""
    report = request_report(session, actor, data, today)
    run = runs.enqueue(session, actor, job, {"report_id": report.id})
    report.run_id = run.id
    session.add(report)
    return report, run


def canonical(data: Any) -> bytes:
    """The canonical JSON of a report's input: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def scope_of(department: Department, requester: Actor) -> Scope:
    """The report's scope: the department's subtree, read as the requester."""
    path = CITY if department.parent_id is None else department.path
    narrowed = dataclasses.replace(requester, scope=path, department_id=department.id)
    return Scope(department.id, department.code, department.name, department.name_en, narrowed)


def trends(session: Session, scope: Scope, period: Period, figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """Each headline figure of the daily snapshots on the first and the last day of the period
    that has one (`secgov.snapshots`); none for a period longer than the snapshots' limit."""
    try:
        points = snapshots.series(session, scope.actor, figures, scope.department_id, period.start, period.end)
    except Invalid:
        return []
    by_figure: dict[str, list] = {}
    for point in points:
        by_figure.setdefault(point.figure, []).append(point)
    rows = []
    for figure in figures:
        seen = sorted(by_figure.get(figure.code, []), key=lambda point: point.day)
        if seen:
            first, last = seen[0], seen[-1]
            rows.append(
                {
                    "figure": figure.code,
                    "label": figure.label,
                    "first_day": first.day.isoformat(),
                    "first": first.value,
                    "last_day": last.day.isoformat(),
                    "last": last.value,
                }
            )
    return rows


def build_input(
    session: Session,
    report: Report,
    scope: Scope,
    chapters: Sequence[Chapter],
    config: Mapping[str, Any],
    figures: Sequence[Figure] = (),
) -> dict[str, Any]:
    """Every chapter's data, and what the report is: the input whose SHA-256 the footer prints."""
    period = Period(report.period_from, report.period_to)
    built = {chapter.code: dict(chapter.build(session, scope, period, config)) for chapter in chapters}
    headline = [item for data in built.values() for item in data.get("headline", ())]
    if "summary" in built:
        built["summary"] = {"figures": headline, "trends": trends(session, scope, period, figures)}
    return {
        "report": report.id,
        "kind": report.kind,
        "lang": report.lang,
        "department": scope.code,
        "period": period.as_dict(),
        "chapters": built,
    }


def limits_of(config: Mapping[str, Any]) -> Limits:
    seconds = float(config.get("SECGOV_REPORT_MAX_SECONDS") or MAX_SECONDS)
    megabytes = int(config.get("SECGOV_REPORT_MAX_MB") or MAX_MB)
    return Limits(max_seconds=seconds, max_bytes=megabytes * 1024 * 1024)


def render_html(
    report: Report,
    scope: Scope,
    data: Mapping[str, Any],
    chapters: Sequence[Chapter],
    reader: str,
    input_sha256: str,
    head: tuple[int, str],
) -> str:
    """The report's HTML in its language (Jinja autoescaping on: the templates end in .html).
    Rendered by the app's Jinja environment without the page frame's context processors (which
    read the request's user and session: a worker has neither, and a request must not open its
    database session again here)."""
    with force_locale(report.lang):
        return current_app.jinja_env.get_template("reports/compliance.html").render(
            report=report,
            scope=scope,
            data=data,
            chapters=[(number, chapter) for number, chapter in enumerate(chapters, start=1)],
            reader=reader,
            input_sha256=input_sha256,
            head=head,
            lang=report.lang,
        )


def _mark(engine: Engine, report_id: int, **values: Any) -> None:
    with write_session(engine) as session:
        session.execute(update(Report).where(Report.id == report_id).values(**values))


def _reader(session: Session, actor: Actor) -> str:
    if actor.user_id is None:
        return actor.username
    user = session.get(User, actor.user_id)
    return (user.display_name or user.username) if user else actor.username


def generate(
    engine: Engine,
    report_id: int,
    requester: Actor,
    chapters: Sequence[Chapter],
    config: Mapping[str, Any],
    figures: Sequence[Figure] = (),
) -> Report:
    """Generate report `report_id` as requester (see the module docstring); RenderFailed (the
    report marked failed with its reason) when the PDF cannot be rendered. Needs an app context
    (templates, translations)."""
    _mark(engine, report_id, status="running")
    with new_session(engine, write=False) as session:
        report = session.get(Report, report_id)
        department = session.get(Department, report.department_id) if report.department_id else None
        if department is None or not path_in_scope(department.path, requester):
            _fail(engine, report_id, requester, "report_forbidden")
            raise RenderFailed("report_forbidden", "the department is not in the requester's scope")
        scope = scope_of(department, requester)
        data = build_input(session, report, scope, chapters, config, figures)
        head = audit.head(session) or (0, audit.GENESIS)
        reader = _reader(session, requester)
        session.expunge(report)
    input_sha256 = hashlib.sha256(canonical(data)).hexdigest()
    html = render_html(report, scope, data, chapters, reader, input_sha256, head)
    try:
        rendered = render_pdf(html, limits_of(config))
    except RenderFailed as exc:
        _fail(engine, report_id, requester, exc.reason, input_sha256=input_sha256)
        raise
    digest = hashlib.sha256(rendered.pdf).hexdigest()
    with write_session(engine) as session:
        session.add(ReportFile(report_id=report_id, data=rendered.pdf))
        session.execute(
            update(Report)
            .where(Report.id == report_id)
            .values(
                status="succeeded",
                sha256=digest,
                input_sha256=input_sha256,
                audit_seq=head[0],
                audit_hash=head[1],
                pages=rendered.pages,
                size=len(rendered.pdf),
                finished_at=datetime.now(UTC),
            )
        )
        audit.record(
            session,
            requester,
            "report.generated",
            object_type="report",
            object_id=report_id,
            department_id=report.department_id,
            sha256=digest,
            input_sha256=input_sha256,
            audit_head=f"{head[0]}:{head[1]}",
        )
    _mark(engine, report_id, checkpoint=_checkpoint(engine, config, requester))
    with new_session(engine, write=False) as session:
        return session.get(Report, report_id)


def _checkpoint(engine: Engine, config: Mapping[str, Any], actor: Actor) -> str:
    """Sign the audit head after a report ("seq:hash"), or the problem's code when it fails."""
    try:
        made = checkpoints.write_checkpoint(engine, checkpoints.CheckpointFiles.from_mapping(config), actor)
    except checkpoints.CheckpointFailed as exc:
        return f"failed:{exc.problem}"
    return f"{made.seq}:{made.hash}"


def _fail(engine: Engine, report_id: int, actor: Actor, reason: str, **values: Any) -> None:
    with write_session(engine) as session:
        report = session.get(Report, report_id)
        session.execute(
            update(Report)
            .where(Report.id == report_id)
            .values(status="failed", reason=reason, finished_at=datetime.now(UTC), **values)
        )
        audit.record(
            session,
            actor,
            "report.failed",
            object_type="report",
            object_id=report_id,
            department_id=report.department_id,
            reason=reason,
        )


# --- reading -------------------------------------------------------------------------------------


def status_of(report: Report, run: Run | None) -> tuple[str, str]:
    """The report's status and reason, its run's when the run ended without the report knowing
    (the reaper failed it)."""
    if report.status not in ENDED and run is not None and run.status in ENDED:
        return run.status, run.reason or "error"
    return report.status, report.reason


def list_reports(session: Session, actor: Actor, *, page: int = 1, page_size: int = 50) -> tuple[list, int]:
    """Reports in the actor's scope, newest first, with their department's code and run."""
    where = in_scope(Report.department_id, actor)
    total = session.exec(select(func.count()).select_from(Report).where(where)).one()
    rows = session.exec(
        select(Report, Department.code, Run)
        .outerjoin(Department, Department.id == Report.department_id)
        .outerjoin(Run, Run.id == Report.run_id)
        .where(where)
        .order_by(Report.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return list(rows), total


def get_report(session: Session, actor: Actor, report_id: int) -> tuple[Report, str | None, Run | None]:
    """A report in the actor's scope (else NotFound, audited when it exists)."""
    row = session.exec(
        select(Report, Department.code, Department.path, Run)
        .outerjoin(Department, Department.id == Report.department_id)
        .outerjoin(Run, Run.id == Report.run_id)
        .where(Report.id == report_id)
    ).first()
    if row is None:
        raise NotFound(_("Not found."))
    report, code, path, run = row
    if not path_in_scope(path, actor):
        deny_out_of_scope(actor, "report", report_id)
    return report, code, run


def report_read(report: Report, code: str | None, run: Run | None) -> ReportRead:
    status, reason = status_of(report, run)
    return ReportRead(
        **{name: getattr(report, name) for name in ReportRead.model_fields if hasattr(report, name)}
        | {"department": code, "status": status, "reason": reason},
    )


def report_file(session: Session, actor: Actor, report_id: int) -> tuple[Report, bytes]:
    """A succeeded report's PDF, its download audited (NotFound when there is none)."""
    report, _code, _run = get_report(session, actor, report_id)
    stored = session.get(ReportFile, report_id)
    if stored is None:
        raise NotFound(_("This report has no file (yet)."))
    event = audit.Event(
        "report.downloaded",
        object_type="report",
        object_id=report_id,
        department_id=report.department_id,
        extra={"sha256": report.sha256},
    )
    audit.record_aside(session.get_bind(), actor, [event])  # a download is a read: its own transaction
    return report, stored.data


def file_name(report: Report) -> str:
    return f"secgov-{report.kind}-{report.id}-{report.period_from:%Y%m%d}-{report.period_to:%Y%m%d}-{report.lang}.pdf"

"""Reports: asking for one, generating it, reading the archive. The leadership compliance report
and every other kind (`secgov.reports.kinds`: the asset dossier) go the same way.

`request_report` checks what was asked (kind, language, period, a department or the subject record
in the actor's scope, the same report not already being made for the same user) and records a
queued `Report`. `generate`
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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, select

from secgov import audit, checkpoints, runs, snapshots
from secgov.accountability import appraisal, trace
from secgov.authz import CITY, Actor, deny_out_of_scope, in_scope, path_in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import new_session, write_session
from secgov.errors import Conflict, Invalid, NotFound
from secgov.exchange.exporting import CONTENT_TYPES, Export, export
from secgov.exchange.registers import Register
from secgov.localtime import Instant
from secgov.models import Department, Report, ReportAttachment, ReportFile, Run, User
from secgov.reports.chapters import Chapter, Period, Scope, overall_score
from secgov.reports.kinds import COMPLIANCE, CORE_KINDS, ReportKind
from secgov.reports.render import Limits, RenderFailed, render_pdf
from secgov.runs import ENDED, JobKind
from secgov.snapshots import Figure

READERS = ("leader", "officer", "auditor")
MAKERS = ("leader", "officer")
MAX_SECONDS = 300  # SECGOV_REPORT_MAX_SECONDS: the render's wall-clock limit
MAX_MB = 2048  # SECGOV_REPORT_MAX_MB: the render's address-space limit
REGISTER_FORMATS = "xlsx"  # SECGOV_REPORT_REGISTER_FORMATS
OVERDUE_LIMIT = 50  # rows of the overdue chapter (a PDF table holds no more; the count is given)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReportCreate(BaseModel):
    """What a report is asked for with: kind, language, department (code; none: the asker's own
    department) and period (a month YYYY-MM, or from and to; none: this month so far); a report
    about one record (a dossier) names the record instead, and is as of the day it is made."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    kind: str = Field(default="compliance", max_length=40, description="compliance, or dossier (one asset).")
    subject: str | None = Field(
        default=None, alias="asset", max_length=80, description="A dossier's asset: its code, in your scope."
    )
    lang: Literal["zh", "en"] = Field(default="zh", description="The report's language.")
    department: str | None = Field(default=None, max_length=40, description="A department code in your scope.")
    period: str | None = Field(default=None, max_length=7, description="A month, YYYY-MM.")
    start: date | None = Field(default=None, alias="from", description="The first day covered.")
    end: date | None = Field(default=None, alias="to", description="The last day covered.")


class AttachmentRead(BaseModel):
    """A file that goes with a report: a full register of its scope."""

    name: str
    media_type: str
    sha256: str
    size: int
    rows: int | None


class ReportRead(BaseModel):
    id: int
    kind: str
    subject: str = Field(description="What a report about one record is about (a dossier: the asset's code).")
    lang: str
    department: str | None
    period_from: date
    period_to: date
    requested_by: str
    schedule_id: int | None = Field(default=None, description="The schedule that asked for it (none: a user did).")
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
    attachments: list[AttachmentRead] = Field(
        default_factory=list, description="The full registers that go with the report (one report's read only)."
    )


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


def kind_of(code: str, kinds: Mapping[str, ReportKind] | None = None) -> ReportKind:
    """The kind of report of this code (Invalid when there is none); `kinds` is the registry's
    (`Registry.report_kinds`), the core's alone when not given."""
    kind = (CORE_KINDS if kinds is None else kinds).get(code)
    if kind is None:
        raise Invalid(_("No such kind of report."), field="kind")
    return kind


def resolve_subject(session: Session, actor: Actor, kind: ReportKind, data: ReportCreate) -> tuple[Department, str]:
    """The department of a report and the code of its subject record ('' for a report of a
    department); a report about one record covers that record's department and takes no period."""
    if kind.subject is None:
        if data.subject:
            raise Invalid(_("This kind of report is not about one record."), field="asset")
        return resolve_department(session, actor, data.department), ""
    if not data.subject:
        raise Invalid(
            _("%(subject)s: give the code of the record this report is about.", subject=_(kind.subject_label)),
            field="asset",
        )
    if data.department:
        raise Invalid(_("This report covers its record's department: give no department."), field="department")
    found = kind.subject(session, actor, data.subject)
    return session.get(Department, found.department_id), found.code


def request_report(
    session: Session, actor: Actor, data: ReportCreate, today: date, kinds: Mapping[str, ReportKind] | None = None
) -> Report:
    """A queued report in the caller's transaction (the caller asks for its run); Conflict when
    the same report is already queued or running for the same user."""
    kind = kind_of(data.kind, kinds)
    if kind.periodic:
        period = resolve_period(data, today)
    elif data.period or data.start or data.end:
        raise Invalid(_("This report is as of the day it is made: give no period."), field="period")
    else:
        period = Period(today, today)
    department, subject = resolve_subject(session, actor, kind, data)
    settle(session)
    same = in_flight(session, kind.code, data.lang, department.id, subject, period, actor.username)
    if same is not None:
        raise Conflict(_("The same report is already being made (report %(id)s).", id=same), field="report")
    report = Report(
        kind=kind.code,
        subject=subject,
        lang=data.lang,
        department_id=department.id,
        period_from=period.start,
        period_to=period.end,
        requested_by=actor.username,
        requested_by_id=actor.user_id,
    )
    session.add(report)
    try:
        session.flush()
    except IntegrityError:  # the same request, made at the same moment, was inserted first
        raise Conflict(_("The same report is already being made."), field="report") from None
    audit.record(
        session,
        actor,
        "report.requested",
        object_type="report",
        object_id=report.id,
        department_id=department.id,
        lang=data.lang,
        period=f"{period.start}..{period.end}",
        **({"report_kind": kind.code, "subject": subject} if subject else {}),
    )
    return report


def in_flight(
    session: Session, kind: str, lang: str, department_id: int, subject: str, period: Period, requested_by: str
) -> int | None:
    """The number of the same report queued or running for the same requester, if any (the
    unique index ux_report_in_flight backs this check against two requests at the same moment)."""
    return session.exec(
        select(Report.id).where(
            Report.kind == kind,
            Report.lang == lang,
            Report.department_id == department_id,
            Report.subject == subject,
            Report.period_from == period.start,
            Report.period_to == period.end,
            Report.requested_by == requested_by,
            Report.status.in_(("queued", "running")),
        )
    ).first()


def settle(session: Session) -> int:
    """End the reports whose run ended without them (the reaper failed a run whose worker was
    killed or ran out of time): they are failed with the run's reason, so the same report can be
    asked for again. Returns how many were settled."""
    ended = select(Run.id).where(Run.status.in_(ENDED))
    reason = (
        select(func.coalesce(func.nullif(Run.reason, ""), "error")).where(Run.id == Report.run_id).scalar_subquery()
    )
    result = session.execute(
        update(Report)
        .where(Report.status.in_(("queued", "running")), Report.run_id.in_(ended))
        .values(status="failed", reason=reason, finished_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# --- generating ----------------------------------------------------------------------------------


def queue_report(
    session: Session,
    actor: Actor,
    data: ReportCreate,
    today: date,
    job: JobKind,
    kinds: Mapping[str, ReportKind] | None = None,
) -> tuple[Report, Run]:
    """Ask for a report and the run that renders it, in the caller's transaction (pages, API and
    the demo alike); the frame hands the run to the queue once it commits."""
    report = request_report(session, actor, data, today, kinds)
    run = runs.enqueue(session, actor, job, {"report_id": report.id})
    report.run_id = run.id
    session.add(report)
    return report, run


def canonical(data: Any) -> bytes:
    """The canonical JSON of a report's input: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def scope_of(department: Department, requester: Actor, subject: str = "") -> Scope:
    """The report's scope: the department's subtree, read as the requester."""
    path = CITY if department.parent_id is None else department.path
    narrowed = dataclasses.replace(requester, scope=path, department_id=department.id)
    return Scope(department.id, department.code, department.name, department.name_en, narrowed, subject)


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
    components = [item for data in built.values() for item in data.get("score", ())]
    late = sorted(
        (item for data in built.values() for item in data.pop("overdue", ())),
        key=lambda item: (item["due"], item["asset"]),
    )
    if "overdue" in built:
        shown = late[:OVERDUE_LIMIT]
        # Who answered for each when it fell overdue (the accountability trace's chain), beside
        # who answers now (the item's owner).
        then = trace.when_overdue(session, shown, ServiceConfig.from_mapping(config).timezone)
        built["overdue"] = {
            "items": [dict(item, then=chain) for item, chain in zip(shown, then, strict=True)],
            "more": max(0, len(late) - OVERDUE_LIMIT),
            "total": len(late),
            "without_owner": sum(1 for item in late if not item["owner"]),
        }
        headline.append({"label": N_("Overdue items"), "value": len(late)})
    if "summary" in built:
        built["summary"] = {
            "score": overall_score(components),
            "components": components,
            "figures": headline,
            "trends": trends(session, scope, period, figures),
        }
    return {
        "report": report.id,
        "kind": report.kind,
        "subject": report.subject,
        "lang": report.lang,
        "department": scope.code,
        "period": period.as_dict(),
        "chapters": built,
    }


def limits_of(config: Mapping[str, Any]) -> Limits:
    seconds = float(config.get("SECGOV_REPORT_MAX_SECONDS") or MAX_SECONDS)
    megabytes = int(config.get("SECGOV_REPORT_MAX_MB") or MAX_MB)
    return Limits(max_seconds=seconds, max_bytes=megabytes * 1024 * 1024)


def _mark(engine: Engine, report_id: int, **values: Any) -> None:
    with write_session(engine) as session:
        session.execute(update(Report).where(Report.id == report_id).values(**values))


def _reader(session: Session, actor: Actor) -> str:
    if actor.user_id is None:
        return actor.username
    user = session.get(User, actor.user_id)
    return (user.display_name or user.username) if user else actor.username


# Renders a report's HTML (`secgov.reports.document.render_html`: the app's templates).
HtmlOf = Callable[[Report, Scope, Mapping[str, Any], Sequence[Chapter], str, str, tuple[int, str], ReportKind], str]
# Has the audit head signed once the report is stored; returns what the archive records: "seq:hash"
# (signed here), "run:N" (the checkpoint run asked for) or "failed:problem".
SignOf = Callable[[Engine, Mapping[str, Any], Actor], str]


def generate(
    engine: Engine,
    report_id: int,
    requester: Actor,
    chapters: Sequence[Chapter],
    config: Mapping[str, Any],
    figures: Sequence[Figure] = (),
    *,
    html_of: HtmlOf,
    sign: SignOf,
    kinds: Mapping[str, ReportKind] | None = None,
) -> Report:
    """Generate report `report_id` as requester (see the module docstring) with the chapters of
    its kind (`kinds`: the registry's; the core's alone when not given); RenderFailed (the report
    marked failed with its reason) when the PDF cannot be rendered. html_of renders the HTML (it
    needs an app context), sign has the audit head signed afterwards: a worker asks the
    scheduler's host for a checkpoint run (`secgov.reports.jobs`), the command line signs it itself
    when its host holds the key (`sign_here`)."""
    _mark(engine, report_id, status="running")
    with new_session(engine, write=False) as session:
        report = session.get(Report, report_id)
        department = session.get(Department, report.department_id) if report.department_id else None
        if department is None or not path_in_scope(department.path, requester):
            _fail(engine, report_id, requester, "report_forbidden")
            raise RenderFailed("report_forbidden", "the department is not in the requester's scope")
        kind, problem = _kind_and_subject(session, requester, report, kinds)
        if problem:
            _fail(engine, report_id, requester, problem)
            raise RenderFailed(problem, f"{report.kind} {report.subject}")
        chapters = [chapter for chapter in chapters if chapter.report == kind.code]
        scope = scope_of(department, requester, report.subject)
        data = build_input(session, report, scope, chapters, config, figures)
        head = audit.head(session) or (0, audit.GENESIS)
        reader = _reader(session, requester)
        session.expunge(report)
    input_sha256 = hashlib.sha256(canonical(data)).hexdigest()
    html = html_of(report, scope, data, chapters, reader, input_sha256, head, kind)
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
    _mark(engine, report_id, checkpoint=sign(engine, config, requester))
    with new_session(engine, write=False) as session:
        return session.get(Report, report_id)


def attach_registers(
    engine: Engine,
    report_id: int,
    requester: Actor,
    registers: Sequence[Register],
    config: Mapping[str, Any],
    kinds: Mapping[str, ReportKind] | None = None,
) -> list[ReportAttachment]:
    """Export the full registers of a generated report's scope and store them with it (audited
    with each file's SHA-256). Done after `generate`, by the same run or command: the PDF is
    readable at once, and exporting 20,000 systems to XLSX (seconds) does not hold it back. A
    kind of report without registers (a dossier) gets none."""
    with new_session(engine, write=False) as session:
        report = session.get(Report, report_id)
        kind = kind_of(report.kind, kinds)
        department = session.get(Department, report.department_id) if report.department_id else None
        if report.status != "succeeded" or department is None or not kind.registers:
            return []
        files = register_files(session, report, scope_of(department, requester), registers, config)
    if files:
        with write_session(engine) as session:
            session.add_all(files)
            audit.record(
                session,
                requester,
                "report.registers_attached",
                object_type="report",
                object_id=report_id,
                department_id=report.department_id,
                attachments={item.name: item.sha256 for item in files},
            )
    return files


def _kind_and_subject(
    session: Session, requester: Actor, report: Report, kinds: Mapping[str, ReportKind] | None
) -> tuple[ReportKind, str]:
    """The report's kind, and the reason it cannot be made ('' when it can): its kind is no
    longer declared, or its subject record is gone or out of the requester's scope now."""
    kind = (CORE_KINDS if kinds is None else kinds).get(report.kind)
    if kind is None:
        return COMPLIANCE, "report_kind_unknown"
    if kind.subject is not None:
        try:
            kind.subject(session, requester, report.subject)
        except NotFound:
            return kind, "report_subject_gone"
    return kind, ""


def register_formats(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The formats the full registers go with a report in (SECGOV_REPORT_REGISTER_FORMATS: "xlsx"
    by default, "csv,xlsx" for both, "" for none); unknown ones are left out."""
    raw = config.get("SECGOV_REPORT_REGISTER_FORMATS", REGISTER_FORMATS)
    wanted = raw.split(",") if isinstance(raw, str) else list(raw)
    return tuple(fmt for fmt in (item.strip().lower() for item in wanted) if fmt in CONTENT_TYPES)


def register_files(
    session: Session, report: Report, scope: Scope, registers: Sequence[Register], config: Mapping[str, Any]
) -> list[ReportAttachment]:
    """The full registers of the report's scope, exported as the register pages export them (the
    same columns, formulas neutralised), in each format of `register_formats`. Not audited one by
    one: the report's generation is, with each file's SHA-256."""
    service_config = ServiceConfig.from_mapping(config)
    files = []
    for register in registers:
        # A register read by period (the appraisal's) is read for the report's.
        period = {"period": appraisal.covering(report.period_from, report.period_to)}
        for fmt in register_formats(config):
            query = register.export_query(format=fmt, **(period if "period" in register.filter_names else {}))
            made = export(session, register, query, scope.actor, service_config, audited=False)
            name = f"{scope.code}-{register.name}-{report.period_to:%Y%m%d}.{fmt}"
            files.append(
                ReportAttachment(
                    report_id=report.id,
                    name=name,
                    media_type=made.content_type,
                    sha256=hashlib.sha256(made.data).hexdigest(),
                    size=len(made.data),
                    rows=made.rows,
                    data=made.data,
                )
            )
    return files


def sign_here(engine: Engine, config: Mapping[str, Any], actor: Actor) -> str:
    """Sign the audit head after a report in this process ("seq:hash"), or "failed:problem" when
    it cannot (no key on this host, for one)."""
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


@dataclasses.dataclass(frozen=True)
class Signature:
    """How the audit head after a report was signed: state signed (text "seq:hash"), queued or
    running (the checkpoint run asked of the scheduler's host), or failed (text: the problem)."""

    state: str
    text: str = ""
    run_id: int | None = None


def signature_of(session: Session, report: Report) -> Signature:
    """The report's checkpoint as recorded: signed here ("seq:hash"), a checkpoint run ("run:N",
    read from the run) or a problem ("failed:code")."""
    recorded = report.checkpoint or ""
    if recorded.startswith("failed:"):
        code = recorded.removeprefix("failed:")
        return Signature("failed", checkpoints.checkpoint_problem(code) if code in checkpoints.PROBLEMS else code)
    if recorded.startswith("run:") and recorded[4:].isdigit():
        run = session.get(Run, int(recorded[4:]))
        if run is None:
            return Signature("failed", _("The checkpoint run is no longer kept."), int(recorded[4:]))
        if run.status == "succeeded":
            result = json.loads(run.result or "{}")
            return Signature("signed", f"{result.get('seq')}:{result.get('hash')}", run.id)
        if run.status == "failed":
            return Signature("failed", run.reason, run.id)  # a reason code of the run's kind
        return Signature(run.status, "", run.id)
    return Signature("signed" if recorded else "queued", recorded)


def report_read(
    report: Report, code: str | None, run: Run | None, attachments: Sequence[ReportAttachment] = ()
) -> ReportRead:
    status, reason = status_of(report, run)
    return ReportRead(
        **{name: getattr(report, name) for name in ReportRead.model_fields if hasattr(report, name)}
        | {
            "department": code,
            "status": status,
            "reason": reason,
            "attachments": [AttachmentRead.model_validate(item, from_attributes=True) for item in attachments],
        },
    )


def _downloaded(session: Session, actor: Actor, report: Report, **extra: Any) -> None:
    """Audit a download of a report's file (a read: in a transaction of its own)."""
    event = audit.Event(
        "report.downloaded",
        object_type="report",
        object_id=report.id,
        department_id=report.department_id,
        extra=extra,
    )
    audit.record_aside(session.get_bind(), actor, [event])


def report_file(session: Session, actor: Actor, report_id: int) -> Export:
    """A succeeded report's PDF, its download audited (NotFound when there is none)."""
    report, _code, _run = get_report(session, actor, report_id)
    stored = session.get(ReportFile, report_id)
    if stored is None:
        raise NotFound(_("This report has no file (yet)."))
    _downloaded(session, actor, report, sha256=report.sha256)
    return Export(stored.data, file_name(report), "application/pdf", 0)


def attachments_of(session: Session, report_id: int) -> list[ReportAttachment]:
    """The files that go with a report (without their data), by name."""
    return list(
        session.exec(
            select(ReportAttachment)
            .where(ReportAttachment.report_id == report_id)
            .order_by(ReportAttachment.name)
            .options(defer(ReportAttachment.data))
        ).all()
    )


def attachment_file(session: Session, actor: Actor, report_id: int, name: str) -> Export:
    """One file that goes with a report in the actor's scope, its download audited."""
    report, _code, _run = get_report(session, actor, report_id)
    stored = session.get(ReportAttachment, (report_id, name))
    if stored is None:
        raise NotFound(_("This report has no such file."))
    _downloaded(session, actor, report, file=name, sha256=stored.sha256)
    return Export(stored.data, stored.name, stored.media_type, stored.rows or 0)


def file_name(report: Report) -> str:
    """The PDF's name: kind, number, the subject's code (a dossier's asset), period, language."""
    subject = f"-{re.sub(r'[^A-Za-z0-9._-]+', '_', report.subject)}" if report.subject else ""
    return f"secgov-{report.kind}-{report.id}{subject}-{report.period_from:%Y%m%d}-{report.period_to:%Y%m%d}-{report.lang}.pdf"

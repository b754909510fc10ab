"""The core's kinds of background work (`secgov.runs.JobKind`); the domains declare theirs in
their own packages (`Domain.jobs`)."""

from __future__ import annotations

import time
from datetime import date
from typing import Literal

from flask_babel import force_locale
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from secgov import checkpoints, mail, snapshots
from secgov.codes import N_
from secgov.db import new_session, write_session
from secgov.exchange.background import IMPORT as REGISTER_IMPORT
from secgov.models import Department, Run, User, UserRole
from secgov.reports import scheduled
from secgov.reports.jobs import REPORT
from secgov.runs import JobContext, JobFailed, JobKind, reason_text, worker_name


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hold_seconds: int = Field(default=0, ge=0, le=3600, description=N_("Seconds to keep a worker busy"))


def system_check(ctx: JobContext) -> dict:
    """A worker answers: it reads the database, holds for a while in one-second steps (reporting
    progress and obeying its deadline), and says who it is."""
    params: CheckParams = ctx.params  # type: ignore[assignment]
    total = params.hold_seconds
    ctx.progress(0, total)
    for second in range(total):
        time.sleep(1)
        ctx.progress(second + 1, total)
    return {"worker": worker_name(), "held_seconds": total}


SYSTEM_CHECK = JobKind(
    code="system.check",
    label=N_("Worker check"),
    run=system_check,
    params=CheckParams,
    max_seconds=3700,
    roles=frozenset({"admin"}),
    schedulable=True,
    result_labels={"worker": N_("Worker"), "held_seconds": N_("Seconds held")},
)

# --- signed audit checkpoints ----------------------------------------------------------------------


def audit_checkpoint(ctx: JobContext) -> dict:
    """Sign the audit chain's head with the scheduler host's key and append it to the log."""
    files = checkpoints.CheckpointFiles.from_mapping(ctx.config)
    try:
        made = checkpoints.write_checkpoint(ctx.engine, files, ctx.actor)
    except checkpoints.CheckpointFailed as exc:
        raise JobFailed(f"checkpoint_{exc.problem}", exc.message) from None
    return {"seq": made.seq, "hash": made.hash, "key_id": made.key_id, "log": str(files.log_path)}


# --- e-mail ----------------------------------------------------------------------------------------


def _send(ctx: JobContext, to: list[str], subject: str, body: str) -> None:
    try:
        mail.send(mail.MailSettings.from_mapping(ctx.config), to, subject, body)
    except mail.MailFailed as exc:
        raise JobFailed(f"mail_{exc.problem}", exc.detail) from None


class MailTestParams(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to: str = Field(min_length=3, max_length=254, description=N_("Recipient"))
    lang: Literal["zh", "en"] = Field(default="zh", description=N_("Language"))


def mail_test(ctx: JobContext) -> dict:
    """A test message to one address, in the language of the page it was asked from."""
    params: MailTestParams = ctx.params  # type: ignore[assignment]
    with force_locale(params.lang):
        subject = _("SecGov test message")
        body = _(
            "This message was sent by SecGov to check its e-mail settings. It was asked for by %(user)s."
            " Nothing needs to be done.",
            user=ctx.actor.username,
        )
    _send(ctx, [params.to], subject, body)
    return {"to": params.to}


class AlertParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: int = Field(ge=1, description=N_("Failed run"))


def _city_admins(ctx: JobContext) -> dict[str, list[str]]:
    """The e-mail addresses of the city's active administrators, by their language."""
    with new_session(ctx.engine, write=False) as session:
        rows = session.exec(
            select(User.email, User.language)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Department, Department.id == User.department_id)
            .where(UserRole.role == "admin", Department.parent_id.is_(None), User.disabled.is_(False), User.email != "")
        ).all()
    by_language: dict[str, list[str]] = {}
    for email, language in rows:
        by_language.setdefault(language if language in ("zh", "en") else "zh", []).append(email)
    return by_language


def mail_alert(ctx: JobContext) -> dict:
    """Tell the city's administrators that a run failed, and why."""
    params: AlertParams = ctx.params  # type: ignore[assignment]
    with new_session(ctx.engine, write=False) as session:
        failed = session.get(Run, params.run_id)
    if failed is None:
        raise JobFailed("bad_params", f"no run {params.run_id}")
    recipients = _city_admins(ctx)
    if not recipients:
        raise JobFailed("no_recipients")
    kinds = ctx.registry.jobs
    sent = 0
    for lang, addresses in recipients.items():
        with force_locale(lang):
            label = _(kinds[failed.kind].label) if failed.kind in kinds else failed.kind
            subject = _("SecGov: %(work)s failed", work=label)
            body = _(
                "Background run %(id)d (%(work)s) failed: %(reason)s\n\nSee the page of background work in SecGov.",
                id=failed.id,
                work=label,
                reason=reason_text(failed.reason, kinds, failed.kind),
            )
        _send(ctx, addresses, subject, body)
        sent += len(addresses)
    return {"run_id": failed.id, "recipients": sent}


MAIL_REASONS = {f"mail_{code}": message for code, message in mail.PROBLEMS.items()}

MAIL_TEST = JobKind(
    code="mail.test",
    label=N_("Test e-mail message"),
    run=mail_test,
    params=MailTestParams,
    max_seconds=120,
    roles=frozenset({"admin"}),
    city_wide=True,
    retries=0,
    reasons=MAIL_REASONS,
    result_labels={"to": N_("Recipient")},
)

MAIL_ALERT = JobKind(
    code="mail.alert",
    label=N_("Failure alert by e-mail"),
    run=mail_alert,
    params=AlertParams,
    max_seconds=120,
    city_wide=True,
    retries=0,
    reasons={**MAIL_REASONS, "no_recipients": N_("No administrator of the city has an e-mail address.")},
    result_labels={"run_id": N_("Failed run"), "recipients": N_("Recipients")},
)


def mail_report(ctx: JobContext) -> dict:
    """Tell each leader in a made report's scope, in their language, that it is ready: a link to
    its page, never the file (`secgov.reports.scheduled`). Who was written to is audited, also
    when the mail server stops answering halfway."""
    params: scheduled.ReportMailParams = ctx.params  # type: ignore[assignment]
    sent: list[str] = []
    try:
        for letter in scheduled.letters(ctx.engine, ctx.config, params.report_id):
            _send(ctx, [letter.email], letter.subject, letter.body)
            sent.append(letter.username)
    finally:
        scheduled.record_mailed(ctx.engine, params.report_id, sent)
    return {"report_id": params.report_id, "recipients": len(sent)}


MAIL_REPORT = JobKind(
    code=scheduled.MAIL_CODE,
    label=N_("A report's e-mail to its leaders"),
    run=mail_report,
    params=scheduled.ReportMailParams,
    max_seconds=600,
    city_wide=True,
    retries=0,
    on_failure=MAIL_ALERT.code,
    reasons=MAIL_REASONS,
    result_labels={"report_id": N_("Report"), "recipients": N_("Recipients")},
)

AUDIT_CHECKPOINT = JobKind(
    code="audit.checkpoint",
    label=N_("Signed audit checkpoint"),
    run=audit_checkpoint,
    queue="scheduler",  # the key lives on the scheduler's host only
    max_seconds=300,
    roles=frozenset({"admin"}),
    schedulable=True,
    city_wide=True,
    default_schedule=3600,
    on_failure=MAIL_ALERT.code,
    reasons={f"checkpoint_{code}": message for code, message in checkpoints.PROBLEMS.items()},
    result_labels={
        "seq": N_("Audit entry signed"),
        "hash": N_("Its hash"),
        "key_id": N_("Key fingerprint"),
        "log": N_("Checkpoint log"),
    },
)

# --- daily snapshots of the headline figures ------------------------------------------------------


class SnapshotParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(default=None, description=N_("Day (default: today)"))


def snapshot_daily(ctx: JobContext) -> dict:
    """Take every domain's headline figures for a day, in one transaction (secgov.snapshots)."""
    params: SnapshotParams = ctx.params  # type: ignore[assignment]
    today = snapshots.local_today(str(ctx.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai"))
    day = params.day or today
    if day > today:
        raise JobFailed("future_day", f"{day} is after today ({today})")
    with write_session(ctx.engine) as session:
        rows = snapshots.take(session, ctx.registry.figures, day)
    return {"day": day.isoformat(), "rows": rows}


SNAPSHOT_DAILY = JobKind(
    code="snapshot.daily",
    label=N_("Daily snapshot of the headline figures"),
    run=snapshot_daily,
    params=SnapshotParams,
    max_seconds=900,
    roles=frozenset({"admin"}),
    schedulable=True,
    city_wide=True,
    default_schedule="10 0 * * *",
    on_failure=MAIL_ALERT.code,
    reasons={"future_day": N_("A snapshot cannot be taken for a day that has not come yet.")},
    result_labels={"day": N_("Day"), "rows": N_("Figures stored")},
)

# REGISTER_IMPORT: the import of a large register file, started by its upload only
# (`secgov.exchange.background`); REPORT: a report's render, started by asking for the report
# (`secgov.reports`); REPORT_SCHEDULED: the monthly reports, with MAIL_REPORT after each
# (`secgov.reports.scheduled`).
CORE: tuple[JobKind, ...] = (
    AUDIT_CHECKPOINT,
    SYSTEM_CHECK,
    MAIL_TEST,
    MAIL_ALERT,
    SNAPSHOT_DAILY,
    REGISTER_IMPORT,
    REPORT,
    scheduled.REPORT_SCHEDULED,
    MAIL_REPORT,
)

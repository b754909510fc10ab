"""Report pages: the archive of the reader's scope with the form that asks for a compliance report
(leaders and officers; an asset's page asks for its dossier here too), and one report (its
progress through its run, then its download link and SHA-256)."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _

from secgov import runs
from secgov.authz import roles
from secgov.directory import departments_in_scope
from secgov.files import attachment as file_download
from secgov.pages import Done, Form, act, int_arg
from secgov.reports import scheduled, service
from secgov.reports.service import MAKERS, READERS, ReportCreate
from secgov.web import actor, current_user, get_session
from secgov.work import ask_for_report, kinds, report_kinds

bp = Blueprint("reports", __name__, url_prefix="/reports")

PAGE_SIZE = 50
REPORT_FORM = Form(ReportCreate, empty_is_none=("department", "period", "start", "end", "subject"))


@bp.get("")
@roles(*READERS)
def index():
    """The archive, newest first; leaders and officers ask for a report here."""
    page = int_arg("page", 1)
    rows, total = service.list_reports(get_session(), actor(), page=page, page_size=PAGE_SIZE)
    may_make = bool(current_user().roles & set(MAKERS))
    return render_template(
        "reports/index.html",
        rows=[(report, code, service.status_of(report, run)) for report, code, run in rows],
        schedule_names=scheduled.schedule_names(
            get_session(), [report.schedule_id for report, _c, _r in rows], kinds()
        ),
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        may_make=may_make,
        report_kinds=report_kinds(),
        departments=departments_in_scope(get_session(), actor()) if may_make else [],
    )


@bp.post("")
@roles(*MAKERS)
def create():
    """Ask for a report: queued, then rendered by a worker."""
    return act(
        ask_for_report,
        form=REPORT_FORM,
        done=lambda report: Done(url_for("reports.detail", report_id=report.id), _("The report is being prepared.")),
        back=url_for("reports.index"),
    )


@bp.get("/<int:report_id>")
@roles(*READERS)
def detail(report_id: int):
    """One report: its parameters, its progress, then its file, hashes and the audit head."""
    report, code, run = service.get_report(get_session(), actor(), report_id)
    status, reason = service.status_of(report, run)
    return render_template(
        "reports/detail.html",
        report=report,
        schedule_names=scheduled.schedule_names(get_session(), [report.schedule_id], kinds()),
        kind=report_kinds().get(report.kind),
        department=code,
        run=run,
        status=status,
        reason=runs.reason_text(reason, kinds(), run.kind if run else "") if reason else "",
        ended=status in runs.ENDED,
        signature=_signature(service.signature_of(get_session(), report)),
        attachments=service.attachments_of(get_session(), report.id),
    )


def _signature(signature: service.Signature) -> service.Signature:
    """A failed checkpoint run's reason in the reader's language."""
    if signature.state == "failed" and signature.run_id is not None:
        return dataclasses.replace(signature, text=runs.reason_text(signature.text, kinds(), "audit.checkpoint"))
    return signature


@bp.get("/<int:report_id>/file")
@roles(*READERS)
def download(report_id: int):
    """The report's PDF (audited)."""
    return file_download(service.report_file(get_session(), actor(), report_id))


@bp.get("/<int:report_id>/files/<name>")
@roles(*READERS)
def attachment(report_id: int, name: str):
    """A full register that goes with the report (audited)."""
    return file_download(service.attachment_file(get_session(), actor(), report_id, name))

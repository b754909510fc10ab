"""Leadership reports over the API: ask for one (202: a worker renders it), read the archive in
the caller's scope, one report with its hashes and the audit head, and its PDF (audited)."""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from pydantic import BaseModel, Field

from secgov.api.jobs import RunRead, run_read
from secgov.authz import roles
from secgov.files import attachment as file_download
from secgov.reports import service
from secgov.reports.service import MAKERS, READERS, ReportCreate, ReportRead
from secgov.rest import PageQuery, dump, operation, page, page_model
from secgov.web import actor, get_session
from secgov.work import ask_for_report

bp = Blueprint("api_reports", __name__, url_prefix="/api/v1")


class ReportQueued(BaseModel):
    report: ReportRead
    run: RunRead = Field(description="The background run rendering it: follow it at /api/v1/jobs/{id}.")


@bp.post("/reports")
@roles(*MAKERS)
@operation(body=ReportCreate, ok=ReportQueued, status=202, tags=["reports"])
def reports_create(body: ReportCreate):
    """Ask for a report in zh or en: a compliance report (kind "compliance", the default) of a
    department in your scope (default: your own) for a month or from/to (default: this month so
    far), or the dossier of an asset in your scope (kind "dossier", asset: its code; as of today).
    202: a worker renders it; 404: no such department or asset in your scope; 409: the same report
    is already being made for you; 422: an unknown kind or a bad value."""
    report = ask_for_report(body)
    session = get_session()
    session.flush()
    _report, code, run = service.get_report(session, actor(), report.id)
    response = jsonify(dump(ReportQueued(report=service.report_read(report, code, run), run=run_read(run))))
    response.status_code = 202
    response.headers["Location"] = url_for("api_reports.reports_get", report_id=report.id)
    return response


@bp.get("/reports")
@roles(*READERS)
@operation(query=PageQuery, ok=page_model(ReportRead), tags=["reports"])
def reports_list(query: PageQuery):
    """The archive: reports of departments in your scope, newest first."""
    rows, total = service.list_reports(get_session(), actor(), page=query.page, page_size=query.page_size)
    return page([service.report_read(r, code, run) for r, code, run in rows], total, query)


@bp.get("/reports/<int:report_id>")
@roles(*READERS)
@operation(ok=ReportRead, tags=["reports"])
def reports_get(report_id: int):
    """One report: its status (or why it failed), the SHA-256 of its file and of its input data,
    and the audit head at its generation."""
    session = get_session()
    report, code, run = service.get_report(session, actor(), report_id)
    return service.report_read(report, code, run, service.attachments_of(session, report_id))


@bp.get("/reports/<int:report_id>/file")
@roles(*READERS)
@operation(answer="The report's PDF (an attachment).", tags=["reports"])
def reports_file(report_id: int):
    """The report's PDF; every download is audited."""
    return file_download(service.report_file(get_session(), actor(), report_id))


@bp.get("/reports/<int:report_id>/files/<name>")
@roles(*READERS)
@operation(answer="A full register that goes with the report (an attachment).", tags=["reports"])
def reports_attachment(report_id: int, name: str):
    """A file that goes with the report (its name from the report's `attachments`); every download
    is audited."""
    return file_download(service.attachment_file(get_session(), actor(), report_id, name))

"""Import and export of every register over the API; the same engine as the pages. A large upload
becomes a background run (`secgov.exchange.background`): the answer is then 202 with the run."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, current_app, jsonify, url_for
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import RequestEntityTooLarge

from secgov import codes, exchange, tasks
from secgov.authz import ALL_ROLES, roles
from secgov.errors import Invalid
from secgov.exchange import ImportReport, Register, background
from secgov.files import UploadTooLarge, attachment, limit_uploads, read_upload
from secgov.rest import dump, operation
from secgov.web import actor, api_error, get_engine, get_session, service_config


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partial: bool = Field(
        default=False, description="true: write the valid rows and report the others; false: all or nothing."
    )


class ImportUpload(BaseModel):
    file: bytes = Field(description="The register as a .csv (UTF-8) or .xlsx file; its name gives the format.")


class ImportRowError(BaseModel):
    row: int = Field(description="The row as a spreadsheet numbers it: the header is row 1; 0 is the file as a whole.")
    column: str = Field(description="The column, or empty for the row or the file as a whole.")
    message: str


class ImportResult(BaseModel):
    """Answered with 200 when rows were written. When nothing was written the answer is a 422
    error whose details hold the same {row, column, message} entries."""

    created: int
    errors: list[ImportRowError] = Field(description="The first problems found (at most 200).")
    problems: int = Field(description="How many problems were found in all.")
    total_rows: int


class QueuedRun(BaseModel):
    id: int
    kind: str = Field(description='"register.import"')
    status: str = Field(description='"queued" when answered; GET the location for what it is now.')


class ImportQueued(BaseModel):
    """Answered with 202 when the file is larger than SECGOV_IMPORT_BACKGROUND_BYTES or has more
    data rows than SECGOV_IMPORT_BACKGROUND_ROWS: a worker imports it. The run (GET `location`,
    also the Location header) shows its progress; once it has ended, its result is the same
    report as the 200 answer's, and a run that wrote nothing fails with the reason
    "import_refused", its result naming the rows."""

    run: QueuedRun
    location: str = Field(description="The run's path: /api/v1/jobs/{id}.")


def _queued(register: Register, data: bytes, filename: str, partial: bool):
    session = get_session()
    run = background.enqueue(
        session, actor(), register, data, filename, partial=partial, language=codes.current_language()
    )
    tasks.hand_over(session, tasks.platform_of(current_app), [run.id])  # after the frame's commit
    session.flush()
    location = url_for("api_jobs.jobs_get", run_id=run.id)
    answer = ImportQueued(run=QueuedRun(id=run.id, kind=run.kind, status=run.status), location=location)
    return jsonify(dump(answer)), 202, {"Location": location}


def _rejected(report: ImportReport):
    if report.total_rows:
        message = _(
            "Nothing was written: %(rejected)d of %(total)d rows have problems.",
            rejected=report.rejected_rows,
            total=report.total_rows,
        )
    else:
        message = _("Nothing was written: the file cannot be imported.")
    return api_error(422, "invalid", message, report.as_dict()["errors"])


def blueprint(registers: Sequence[Register]) -> Blueprint:
    """The import and export endpoints of these registers (one blueprint per app)."""
    bp = Blueprint("registers_api", __name__, url_prefix="/api/v1")
    limit_uploads(bp, {f"registers_api.{r.name}_import" for r in registers if r.importers})

    @bp.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc):
        return api_error(413, "too_large", exchange.too_large_message(service_config()))

    for register in registers:
        if register.importers:  # none: an export-only register
            bp.add_url_rule(f"/{register.name}/import", f"{register.name}_import", _import(register), methods=["POST"])
        bp.add_url_rule(f"/{register.name}/export", f"{register.name}_export", _export(register))
    return bp


def _import(register: Register):
    def view(query: ImportQuery):
        config = service_config()
        try:
            upload = read_upload()
        except UploadTooLarge:
            return api_error(413, "too_large", exchange.too_large_message(config))
        if upload is None:
            raise Invalid(_("Send the file as the multipart/form-data field 'file'."), field="file")
        data, filename = upload
        if background.in_background(register, data, filename, config):
            return _queued(register, data, filename, query.partial)
        report = exchange.import_file(get_engine(), register, data, filename, actor(), config, partial=query.partial)
        if not report.written:
            return _rejected(report)
        return ImportResult.model_validate(report.as_dict())

    view.__name__ = f"{register.name}_import"
    view.__doc__ = (
        f'Import {register.name} from a CSV or XLSX file (multipart field "file"); all or nothing unless partial=true. '
        "A large file is imported in the background: 202 with the run."
    )
    declared = operation(
        query=ImportQuery, form=ImportUpload, ok=ImportResult, answers={202: ImportQueued}, tags=[register.name]
    )(view)
    return roles(*register.importers)(declared)


def _export(register: Register):
    def view(query):
        return attachment(exchange.export(get_session(), register, query, actor(), service_config()))

    view.__name__ = f"{register.name}_export"
    view.__doc__ = f"Every record of {register.name} in the caller's scope matching the filters, as CSV or XLSX."
    declared = operation(
        query=register.export_query,
        answer="The register as a CSV or XLSX file (an attachment).",
        tags=[register.name],
        errors=(400, 401, 403, 404, 413, 415, 422),
    )(view)
    return roles(*(register.exporters or ALL_ROLES))(declared)

"""Import and export of the asset and vendor registers over the API; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint, request
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response
from werkzeug.exceptions import RequestEntityTooLarge

from assets import exchange
from assets.io_views import FORM_OVERHEAD, UploadTooLarge, attachment, read_upload, too_large_message
from secgov.api.base import ErrorResponse, query_args, spec
from secgov.authz import ALL_ROLES, require_user, roles
from secgov.db import get_session
from secgov.errors import api_error
from secgov.web import actor

bp = Blueprint("exchange_api", __name__, url_prefix="/api/v1")

UPLOAD_ENDPOINTS = frozenset({"exchange_api.assets_import", "exchange_api.vendors_import"})
ERRORS = {f"HTTP_{code}": ErrorResponse for code in (400, 401, 403, 404, 413, 415, 422)}


def _file_response() -> Response:
    return Response(HTTP_200=(None, "The register as a CSV or XLSX file (an attachment)."), **ERRORS)


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
    errors: list[ImportRowError]
    total_rows: int


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, _values: dict | None) -> None:
    # Before every before_request hook: one of them reads the body (see assets.io_views).
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = exchange.max_upload_bytes() + FORM_OVERHEAD


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    return api_error(413, "too_large", too_large_message())


def _import(run):
    args = query_args(ImportQuery)
    try:
        upload = read_upload()
    except UploadTooLarge:
        return api_error(413, "too_large", too_large_message())
    if upload is None:
        message = _("Send the file as the multipart/form-data field 'file'.")
        return api_error(422, "invalid", message, [{"field": "file", "message": message}])
    data, filename = upload
    db = get_session()
    report = run(db, data, filename, actor(), require_user(), partial=args.partial)
    if not report.written:
        db.rollback()
        return _rejected(report)
    db.commit()
    return report.as_dict(), 200


def _rejected(report: exchange.ImportReport):
    if report.total_rows:
        message = _(
            "Nothing was written: %(rejected)d of %(total)d rows have problems.",
            rejected=report.rejected_rows,
            total=report.total_rows,
        )
    else:
        message = _("Nothing was written: the file cannot be imported.")
    return api_error(422, "invalid", message, report.as_dict()["errors"])


@bp.post("/assets/import")
@roles(*exchange.IMPORTERS)
@spec.validate(
    query=ImportQuery,
    form=ImportUpload,
    resp=Response(HTTP_200=ImportResult, **ERRORS),
    tags=["assets"],
    skip_validation=True,
)
def assets_import():
    """Import assets from a CSV or XLSX file (multipart field "file"); all or nothing unless partial=true."""
    return _import(exchange.import_assets)


@bp.post("/vendors/import")
@roles(*exchange.IMPORTERS)
@spec.validate(
    query=ImportQuery,
    form=ImportUpload,
    resp=Response(HTTP_200=ImportResult, **ERRORS),
    tags=["vendors"],
    skip_validation=True,
)
def vendors_import():
    """Import vendors from a CSV or XLSX file (multipart field "file"); all or nothing unless partial=true."""
    return _import(exchange.import_vendors)


@bp.get("/assets/export")
@roles(*ALL_ROLES)
@spec.validate(query=exchange.AssetExportQuery, resp=_file_response(), tags=["assets"], skip_validation=True)
def assets_export():
    """Every asset in the caller's scope matching the filters, as CSV or XLSX (the import's columns)."""
    export = query_args(exchange.AssetExportQuery)
    data = exchange.export_assets(
        get_session(), require_user(), exchange.asset_query(export), export.format, actor=actor()
    )
    return attachment(data, "assets", export.format)


@bp.get("/vendors/export")
@roles(*ALL_ROLES)
@spec.validate(query=exchange.VendorExportQuery, resp=_file_response(), tags=["vendors"], skip_validation=True)
def vendors_export():
    """The vendor register as CSV or XLSX (the import's columns)."""
    export = query_args(exchange.VendorExportQuery)
    data = exchange.export_vendors(get_session(), require_user(), export, actor=actor())
    return attachment(data, "vendors", export.format)

"""Import and export of the asset and vendor registers (CSV, XLSX): web pages, thin."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import RequestEntityTooLarge

from assets import exchange, services
from secgov.authz import ALL_ROLES, require_user, roles
from secgov.db import get_session
from secgov.forms import filled_args
from secgov.web import actor

bp = Blueprint("assets_io", __name__, url_prefix="/registers")

UPLOAD_ENDPOINTS = frozenset({"assets_io.import_assets", "assets_io.import_vendors"})
# Room for the multipart framing, the CSRF token and the checkbox around the file itself.
FORM_OVERHEAD = 64 * 1024
# A report longer than this is cut on the page (the API and the CLI give all of it).
REPORT_ROWS_SHOWN = 500


class UploadTooLarge(Exception):
    """The uploaded file is above the configured limit."""


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, _values: dict | None) -> None:
    # URL value preprocessors run before every before_request hook, and the CSRF check (one of
    # those) reads the body: the upload limit must be set before anything does.
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = exchange.max_upload_bytes() + FORM_OVERHEAD


def read_upload(name: str = "file") -> tuple[bytes, str] | None:
    """The uploaded file's bytes and name; None when none was sent; UploadTooLarge above the limit."""
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        return None
    limit = exchange.max_upload_bytes()
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge
    return data, upload.filename


def too_large_message() -> str:
    return _(
        "The file is too large: files up to %(size)s are accepted.",
        size=exchange.size_text(exchange.max_upload_bytes()),
    )


def _page(status: int = 200, *, register: str | None = None, report: exchange.ImportReport | None = None):
    return render_template(
        "registers/import.html",
        register=register,
        report=report,
        shown=report.errors[:REPORT_ROWS_SHOWN] if report else [],
        asset_columns=exchange.ASSET_COLUMNS,
        asset_required=exchange.ASSET_REQUIRED,
        vendor_columns=exchange.VENDOR_COLUMNS,
        vendor_required=exchange.VENDOR_REQUIRED,
        max_size=exchange.size_text(exchange.max_upload_bytes()),
    ), status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    # Raised while the body is read, possibly before the access check: the plain error page.
    return render_template("errors/error.html", status=413, message=too_large_message()), 413


@bp.get("/import")
@roles(*exchange.IMPORTERS)
def import_form():
    """The upload forms of the asset and vendor registers."""
    return _page()


def _import(register: str, run) -> object:
    try:
        upload = read_upload()
    except UploadTooLarge:
        flash(too_large_message(), "danger")
        return _page(413, register=register)
    if upload is None:
        report = exchange.ImportReport(errors=[exchange.RowError(0, "", _("Choose a .csv or .xlsx file to upload."))])
        return _page(422, register=register, report=report)
    data, filename = upload
    db = get_session()
    report = run(db, data, filename, actor(), require_user(), partial="partial" in request.form)
    if not report.written:
        db.rollback()
        return _page(422, register=register, report=report)
    db.commit()
    if report.errors:  # partial: the page lists the rows that were not written
        return _page(200, register=register, report=report)
    if register == "assets":
        flash(ngettext("%(num)d asset was imported.", "%(num)d assets were imported.", report.created), "success")
    else:
        flash(ngettext("%(num)d vendor was imported.", "%(num)d vendors were imported.", report.created), "success")
    return redirect(url_for("assets_io.import_form"))


@bp.post("/import/assets")
@roles(*exchange.IMPORTERS)
def import_assets():
    """Import assets from a CSV or XLSX file: all rows, or (checkbox) the valid ones."""
    return _import("assets", exchange.import_assets)


@bp.post("/import/vendors")
@roles(*exchange.IMPORTERS)
def import_vendors():
    """Import vendors from a CSV or XLSX file."""
    return _import("vendors", exchange.import_vendors)


def attachment(data: bytes, register: str, fmt: str) -> Response:
    """A file download with a safe, dated name."""
    name = exchange.export_filename(register, fmt)
    return Response(
        data,
        content_type=exchange.CONTENT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/export/assets")
@roles(*ALL_ROLES)
def export_assets():
    """Every asset in scope matching the list's filters, as CSV or XLSX."""
    # Empty filters (an untouched select of the list's form) mean "any"; other list arguments
    # such as page are not filters and are left out.
    args = filled_args(("format", *services.FILTERS))
    export = exchange.AssetExportQuery.model_validate(args)
    data = exchange.export_assets(
        get_session(), require_user(), exchange.asset_query(export), export.format, actor=actor()
    )
    return attachment(data, "assets", export.format)


@bp.get("/export/vendors")
@roles(*ALL_ROLES)
def export_vendors():
    """The vendor register as CSV or XLSX."""
    args = filled_args(("format", *exchange.VENDOR_FILTERS))
    export = exchange.VendorExportQuery.model_validate(args)
    data = exchange.export_vendors(get_session(), require_user(), export, actor=actor())
    return attachment(data, "vendors", export.format)

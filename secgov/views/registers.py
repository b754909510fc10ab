"""Import and export pages of every register the domains declare (CSV, XLSX): the upload forms,
the row-by-row report, the downloads. One page frame for all of them. A large upload becomes a
background run (`secgov.exchange.background`): the page then follows the run, whose page shows
its progress and the same report."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import RequestEntityTooLarge

from secgov import codes, exchange, tasks
from secgov.authz import ALL_ROLES, roles
from secgov.exchange import ImportReport, Register, RowError, background
from secgov.files import UploadTooLarge, attachment, limit_uploads, read_upload
from secgov.pages import filled_args
from secgov.web import actor, get_engine, get_session, require_user, service_config


def blueprint(registers: Sequence[Register]) -> Blueprint:
    """The import and export pages of these registers (one blueprint per app)."""
    bp = Blueprint("registers", __name__, url_prefix="/registers")
    limit_uploads(bp, {f"registers.import_{r.name}" for r in registers if r.importers})

    def page(status: int = 200, *, register: Register | None = None, report: ImportReport | None = None):
        user = require_user()
        importable = [r for r in registers if user.roles & set(r.importers)]
        size = exchange.size_text(service_config().max_upload_bytes)
        html = render_template(
            "registers/import.html",
            registers=registers,
            importable=importable,
            register=register,
            report=report,
            max_size=size,
        )
        return html, status

    @bp.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc):
        # Raised while the body is read, possibly before the access check: the plain error page.
        return render_template(
            "errors/error.html", status=413, message=exchange.too_large_message(service_config())
        ), 413

    importers = sorted({role for r in registers for role in r.importers})

    @bp.get("/import")
    @roles(*importers)
    def import_form():
        """The upload forms of the registers."""
        return page()

    for register in registers:
        if register.importers:  # none: an export-only register
            bp.add_url_rule(
                f"/import/{register.name}", f"import_{register.name}", _import_view(register, page), methods=["POST"]
            )
        bp.add_url_rule(f"/export/{register.name}", f"export_{register.name}", _export_view(register))
    return bp


def _import_view(register: Register, page):
    @roles(*register.importers)
    def view():
        config = service_config()
        try:
            upload = read_upload()
        except UploadTooLarge:
            flash(exchange.too_large_message(config), "danger")
            return page(413, register=register)
        if upload is None:
            report = ImportReport()
            report.add(RowError(0, "", _("Choose a .csv or .xlsx file to upload.")))
            return page(422, register=register, report=report)
        data, filename = upload
        partial = "partial" in request.form
        if background.in_background(register, data, filename, config):
            return _in_background(register, data, filename, partial)
        report = exchange.import_file(get_engine(), register, data, filename, actor(), config, partial=partial)
        if not report.written:
            return page(422, register=register, report=report)
        if report.problems:  # partial: the page lists the rows that were not written
            return page(200, register=register, report=report)
        flash(
            ngettext(
                "%(num)d row was imported into %(title)s.",
                "%(num)d rows were imported into %(title)s.",
                report.created,
                title=_(register.title),
            ),
            "success",
        )
        return redirect(url_for("registers.import_form"))

    view.__name__ = f"import_{register.name}"
    view.__doc__ = f"Import {register.name} from a CSV or XLSX file: all rows, or (checkbox) the valid ones."
    return view


def _in_background(register: Register, data: bytes, filename: str, partial: bool):
    """Hand a large upload to a worker and follow its run (303: the run's page is read with GET)."""
    session = get_session()
    run = background.enqueue(
        session, actor(), register, data, filename, partial=partial, language=codes.current_language()
    )
    tasks.hand_over(session, tasks.platform_of(current_app), [run.id])
    session.commit()
    flash(
        _("The file is large: it is imported in the background. This page shows how far it is, then the report."),
        "success",
    )
    return redirect(url_for("jobs.detail", run_id=run.id), 303)


def _export_view(register: Register):
    @roles(*(register.exporters or ALL_ROLES))
    def view():
        # Empty filters (an untouched select of the list's form) mean "any"; other list arguments
        # such as page are not filters and are left out.
        query = register.export_query.model_validate(filled_args(("format", *register.filter_names)))
        return attachment(exchange.export(get_session(), register, query, actor(), service_config()))

    view.__name__ = f"export_{register.name}"
    view.__doc__ = f"Every record of {register.name} in scope matching the list's filters, as CSV or XLSX."
    return view

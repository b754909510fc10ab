"""The accountability matrix's page: the assets in the reader's scope by department, a column per
declared duty, each cell the person who holds it and its state; filters and pages."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template, url_for
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from secgov import directory, snapshots
from secgov.accountability import matrix
from secgov.accountability.matrix import Filters
from secgov.authz import READERS, roles
from secgov.errors import ServiceError
from secgov.pages import list_query
from secgov.rest import PageQuery
from secgov.web import actor, can, get_session, service_config

bp = Blueprint("accountability_matrix", __name__, url_prefix="/accountability")


class MatrixQuery(Filters, PageQuery):
    pass


def _links(found: matrix.Matrix) -> dict[tuple[int, str], str]:
    """The page of each cell's records the reader may open, by (asset id, column code)."""
    links = {}
    for line in found.lines:
        for column, cell in zip(found.columns, line.cells, strict=True):
            target = column.link(line.row.id, cell) if column.link is not None and cell.state != "none" else None
            if target is None or not can(target[0]):
                continue
            try:
                links[(line.row.id, column.code)] = url_for(target[0], **target[1])
            except BuildError:
                continue
    return links


def _traces(found: matrix.Matrix) -> dict[tuple[int, str], str]:
    """The accountability trace of each cell whose record went wrong, as its column declares it,
    by (asset id, column code)."""
    if not can("accountability_trace.index"):
        return {}
    traces = {}
    for line in found.lines:
        for column, cell in zip(found.columns, line.cells, strict=True):
            target = column.trace(line.row.id, cell) if column.trace is not None else None
            if target is not None:
                traces[(line.row.id, column.code)] = url_for("accountability_trace.index", kind=target[0], id=target[1])
    return traces


@bp.get("/matrix")
@roles(*READERS)
def index():
    """Who answers for what on each asset in the reader's scope, and how it stands."""
    query, problems = list_query(MatrixQuery, ("department", "sector", "state", "page"))
    db = get_session()
    registry = current_app.extensions["secgov_registry"]
    config = service_config()
    today = snapshots.local_today(config.timezone)

    def build(filters: Filters) -> matrix.Matrix:
        return matrix.matrix(
            db, actor(), config, registry.matrix_rows, registry.matrix_columns, filters, today,
            page=query.page, page_size=query.page_size,
        )  # fmt: skip

    try:
        found = build(Filters(**query.model_dump(include=set(Filters.model_fields))))
    except ServiceError as exc:
        problems.append(exc.message)
        query = query.model_copy(update={"department": None})
        found = build(Filters(**query.model_dump(include=set(Filters.model_fields))))
    for problem in problems:
        flash(problem, "warning")
    args = {k: v for k, v in query.model_dump(include={"department", "sector", "state"}).items() if v}
    return render_template(
        "accountability/matrix.html",
        found=found,
        links=_links(found),
        traces=_traces(found),
        query=query,
        args=args,
        today=today,
        states=matrix.STATES,
        labels={state: _(label) for state, label in matrix.STATE_LABELS.items()},
        departments=directory.departments_in_scope(db, actor()),
    )

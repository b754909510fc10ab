"""The accountability matrix over the API: the same rows, cells and totals as its page."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app
from flask_babel import gettext as _
from pydantic import BaseModel, Field

from secgov import snapshots
from secgov.accountability import matrix
from secgov.accountability.matrix import Filters, State
from secgov.authz import READERS, roles
from secgov.rest import PageQuery, operation
from secgov.web import actor, get_session, service_config

bp = Blueprint("api_accountability_matrix", __name__, url_prefix="/api/v1")


class MatrixQuery(Filters, PageQuery):
    pass


class ColumnRead(BaseModel):
    code: str
    label: str = Field(description="The column's name in the caller's language.")


class CellRead(BaseModel):
    state: State
    user: str | None = Field(description="The user name of the person who holds the duty (None: nobody).")
    due_on: date | None = Field(description="When it is or was due.")
    count: int = Field(description="How many records are behind the cell.")
    kind: str = Field(description="The kind of those records (asset, assessment_due, scan_finding, risk, drill).")
    ids: list[int] = Field(description="Their ids.")


class MatrixRowRead(BaseModel):
    asset_id: int
    asset_code: str
    asset_name: str
    department: str = Field(description="The department's code.")
    department_name: str
    sector: str
    cells: dict[str, CellRead] = Field(description="The cells by column code.")


class MatrixRead(BaseModel):
    today: date = Field(description="The city's day the states are of.")
    columns: list[ColumnRead]
    items: list[MatrixRowRead]
    total: int = Field(description="Rows matching every filter.")
    page: int
    page_size: int
    totals: dict[str, int] = Field(description="Rows with at least one cell in each state (the state filter aside).")


def read(found: matrix.Matrix, today: date) -> MatrixRead:
    codes = [column.code for column in found.columns]
    return MatrixRead(
        today=today,
        columns=[ColumnRead(code=c.code, label=_(c.label)) for c in found.columns],
        items=[
            MatrixRowRead(
                asset_id=line.row.id,
                asset_code=line.row.code,
                asset_name=line.row.name,
                department=line.row.department_code,
                department_name=line.row.department_name,
                sector=line.row.sector,
                cells={
                    code: CellRead(
                        state=cell.state,
                        user=cell.username,
                        due_on=cell.due_on,
                        count=cell.count,
                        kind=cell.kind,
                        ids=list(cell.ids),
                    )
                    for code, cell in zip(codes, line.cells, strict=True)
                },
            )
            for line in found.lines
        ],
        total=found.total,
        page=found.page,
        page_size=found.page_size,
        totals=found.totals,
    )


@bp.get("/accountability/matrix")
@roles(*READERS)
@operation(query=MatrixQuery, ok=MatrixRead, tags=["accountability"])
def matrix_get(query: MatrixQuery):
    """Assets in the caller's scope by department, a cell per duty: who holds it and its state
    (overdue, gap, due soon, on time, none), derived from the records."""
    registry = current_app.extensions["secgov_registry"]
    config = service_config()
    today = snapshots.local_today(config.timezone)
    filters = Filters(**query.model_dump(include=set(Filters.model_fields)))
    found = matrix.matrix(
        get_session(),
        actor(),
        config,
        registry.matrix_rows,
        registry.matrix_columns,
        filters,
        today,
        page=query.page,
        page_size=query.page_size,
    )
    return read(found, today)

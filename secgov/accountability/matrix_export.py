"""The accountability matrix as a register of the core's exchange, exported only (CSV, XLSX): a
row per asset of the reader's scope, and for each column of the matrix its holder, state and due
date; the page's filters (department, sector, state)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

from flask_babel import gettext as _
from pydantic import BaseModel, create_model
from sqlmodel import Session

from secgov import exchange, snapshots
from secgov.accountability import matrix
from secgov.accountability.matrix import Column, Filters, Rows
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig

NAME = "accountability_matrix"

_EXPORT_ONLY = exchange.ExportOnly(
    lambda: _("The accountability matrix is derived from the records: it is exported, never imported.")
)


def register(rows: Rows, columns: Sequence[Column]) -> exchange.Register:
    """The export of the matrix these rows and columns make."""
    columns = matrix.ordered(columns)
    fields: dict = {"asset": (str, ...), "asset_name": (str, ...), "department": (str, ...), "sector": (str, ...)}
    names = ["asset", "asset_name", "department", "sector"]
    for column in columns:
        fields[f"{column.code}_holder"] = (str | None, None)
        fields[f"{column.code}_state"] = (str, ...)
        fields[f"{column.code}_due_on"] = (date | None, None)
        names += [f"{column.code}_holder", f"{column.code}_state", f"{column.code}_due_on"]
    line = create_model("MatrixLine", __base__=BaseModel, **fields)

    def records(session: Session, actor: Actor, filters: BaseModel) -> Iterator[BaseModel]:
        # The exchange gives an export no configuration: the settings the columns read are the
        # city's, the day is the default time zone's (as the other exports' methodology).
        config = ServiceConfig()
        found = matrix.matrix(
            session, actor, config, rows, columns, Filters(**filters.model_dump(include=set(Filters.model_fields))),
            snapshots.local_today(config.timezone), page=1, page_size=10**9,
        )  # fmt: skip
        for each in found.lines:
            values = {
                "asset": each.row.code,
                "asset_name": each.row.name,
                "department": each.row.department_code,
                "sector": each.row.sector,
            }
            for column, cell in zip(columns, each.cells, strict=True):
                values[f"{column.code}_holder"] = cell.username
                values[f"{column.code}_state"] = cell.state
                values[f"{column.code}_due_on"] = cell.due_on
            yield line(**values)

    return exchange.Register(
        name=NAME,
        object_type="asset",
        title=N_("Accountability matrix"),
        columns=tuple(
            exchange.Column(name, choices=matrix.STATES if name.endswith("_state") else ()) for name in names
        ),
        schema=line,
        key="",
        check=_EXPORT_ONLY.check,
        create=_EXPORT_ONLY.create,
        undo=_EXPORT_ONLY.undo,
        filters=Filters,
        records=records,
        importers=(),
    )

"""The accountability matrix (SPEC §5): rows are the assets in the reader's scope, grouped by
department; columns are duties; each cell names the person who answers for the duty on that asset
and its state, derived from the underlying records whenever it is read.

The core reads nothing of the domains here. The asset domain declares the rows (`Rows`: which
assets, filtered by department and sector, in department then code order); every domain declares
its columns (`Column`), each computing the cells of a whole batch of assets in a bounded number of
statements. The registry collects both (`Registry.matrix_rows`, `Registry.matrix_columns`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.models import User

# The states of a cell, worst first: the order of the totals and of the filter's choices.
STATES = ("overdue", "gap", "due_soon", "on_time", "none")
STATE_LABELS = {
    "overdue": N_("Overdue"),
    "gap": N_("No holder"),
    "due_soon": N_("Due soon"),
    "on_time": N_("On time"),
    "none": N_("Nothing due"),
}


@dataclass(frozen=True)
class Cell:
    """One duty on one asset. `state`: `overdue`, `due_soon`, `on_time` (from the records), `gap`
    (nobody holds the duty, or its holder is disabled) or `none` (nothing is due for this asset in
    this column). `due_on`: when it is or was due; `count`: how many records are behind it; `kind`
    and `ids`: those records (a kind of record its column knows how to link to); `detail`: what
    else its column needs to name the first of them (the kind of assessment due first)."""

    state: str
    user_id: int | None = None
    username: str | None = None
    due_on: date | None = None
    count: int = 0
    kind: str = ""
    ids: tuple[int, ...] = ()
    detail: str = ""


NOTHING = Cell("none")


def judged(state: str, holder: User | None, **fields) -> Cell:
    """A cell whose records are in `state` and whose duty `holder` holds: a `gap` when there is no
    holder or a disabled one (nobody can answer for it until someone is assigned), the person named
    all the same."""
    if holder is None or holder.disabled:
        state = "gap"
    return Cell(
        state,
        user_id=holder.id if holder is not None else None,
        username=holder.username if holder is not None else None,
        **fields,
    )


# cells(session, config, asset_ids, today) -> the cell of every asset among asset_ids (an asset
# missing from the answer has nothing due: `none`), in a number of statements that does not grow
# with the number of assets (beyond the chunks of secgov.db.chunks).
CellsOf = Callable[[Session, ServiceConfig, Sequence[int], date], Mapping[int, Cell]]
# link(asset id, cell) -> (endpoint, its arguments) of the page showing the cell's records, or None.
LinkOf = Callable[[int, Cell], tuple[str, dict] | None]
# trace(asset id, cell) -> (kind, ref) of the accountability trace (secgov.accountability.trace)
# of the cell's record that went wrong, or None when the cell has none to trace.
TraceOf = Callable[[int, Cell], tuple[str, str] | None]


@dataclass(frozen=True)
class Column:
    """A column of the matrix: its code, its label (an English message marked with N_), its place
    among the columns (`order`), how its cells are computed, where a cell's records are shown, and
    which lapse of a cell the accountability trace follows (`trace`)."""

    code: str
    label: str
    order: int
    cells: CellsOf
    link: LinkOf | None = None
    trace: TraceOf | None = None


@dataclass(frozen=True)
class Row:
    """An asset as the matrix shows it."""

    id: int
    code: str
    name: str
    department_code: str
    department_name: str
    department_path: str
    sector: str


# rows(session, actor, department code or None (its subtree), sector or None) -> the assets in the
# actor's scope, ordered by department path, then code; an unknown department is Invalid.
RowsOf = Callable[[Session, Actor, str | None, str | None], list[Row]]


@dataclass(frozen=True)
class Rows:
    """The rows of the matrix, declared by the asset domain."""

    select: RowsOf


State = Literal["overdue", "gap", "due_soon", "on_time", "none"]


class Filters(BaseModel):
    """The matrix's filters (the page's form, the API's query)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    department: str | None = Field(default=None, max_length=40, description="A department code: its whole subtree.")
    sector: str | None = Field(default=None, max_length=40)
    state: State | None = Field(default=None, description="Rows with at least one cell in this state.")


@dataclass(frozen=True)
class Line:
    """A row of the matrix with its cells, one per column, in the columns' order."""

    row: Row
    cells: tuple[Cell, ...]


@dataclass
class Matrix:
    columns: tuple[Column, ...]
    lines: list[Line]
    total: int  # rows matching every filter
    page: int
    page_size: int
    totals: dict[str, int] = field(default_factory=dict)  # rows with a cell in each state (state filter aside)


def ordered(columns: Sequence[Column]) -> tuple[Column, ...]:
    return tuple(sorted(columns, key=lambda c: (c.order, c.code)))


def lines(
    session: Session,
    actor: Actor,
    config: ServiceConfig,
    rows: Rows | None,
    columns: Sequence[Column],
    filters: Filters,
    today: date,
) -> list[Line]:
    """Every row the department and sector filters select in the actor's scope, with every
    column's cells (each column asked once, for all of them); the state filter aside."""
    columns = ordered(columns)
    found = rows.select(session, actor, filters.department, filters.sector) if rows is not None else []
    ids = [row.id for row in found]
    cells = [column.cells(session, config, ids, today) for column in columns]
    return [Line(row, tuple(by_id.get(row.id, NOTHING) for by_id in cells)) for row in found]


def matrix(
    session: Session,
    actor: Actor,
    config: ServiceConfig,
    rows: Rows | None,
    columns: Sequence[Column],
    filters: Filters,
    today: date,
    *,
    page: int = 1,
    page_size: int = 50,
) -> Matrix:
    """One page of the matrix in the actor's scope: the rows the department and sector filters
    select, every column's cells for them (`lines`: the state filter and the totals need every
    row's cells), the rows with a cell in `filters.state`."""
    columns = ordered(columns)
    found = lines(session, actor, config, rows, columns, filters, today)
    totals = dict.fromkeys(STATES, 0)
    for line in found:
        for state in {cell.state for cell in line.cells}:
            totals[state] += 1
    if filters.state:
        found = [line for line in found if any(cell.state == filters.state for cell in line.cells)]
    start = (page - 1) * page_size
    return Matrix(columns, found[start : start + page_size], len(found), page, page_size, totals)


@dataclass(frozen=True)
class Holder:
    """A person with overdue cells in the matrix: how many cells (a duty on an asset) are overdue."""

    user_id: int
    username: str
    overdue: int


def overdue_by_holder(found: Sequence[Line]) -> list[Holder]:
    """The people named by overdue cells, the most first (then by user name). A cell whose duty has
    no active holder is a gap, not overdue, so every overdue cell names someone."""
    counts: dict[tuple[int, str], int] = {}
    for line in found:
        for cell in line.cells:
            if cell.state == "overdue" and cell.user_id is not None:
                key = (cell.user_id, cell.username or "")
                counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0][1]))
    return [Holder(user_id, username, n) for (user_id, username), n in ranked]

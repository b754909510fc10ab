"""The rules of cell text shared by reading and writing: what could run as a formula, how a
value becomes text, how exported text is neutralised; the errors, limits and rows of a file."""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

FORMULA_CELL = "formula cells are not accepted"
FORMULA_TEXT = (
    "text starting with =, +, - or @ could run as a formula and is not accepted; put ' in front to keep it as text"
)
EXTRA_CELLS = "this row has values in columns without a header"
ROW = ""
"""Key of `Row.problems` for a problem of the row as a whole (values beyond the named columns)."""

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_TEXT = 32_767
TRUNCATED = "… [truncated]"

_TRIGGERS = frozenset("=+-@")
_CONTROL_TRIGGERS = frozenset("\t\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
# Characters XML 1.0 (hence XLSX) cannot hold; same set as openpyxl's ILLEGAL_CHARACTERS_RE.
XML_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")


class TabularError(Exception):
    """A problem with the file as a whole. `code` is one of "format", "header", "too_large",
    "too_many_rows", "encoding", "too_slow" - or "formula", which `read_table` never raises
    (formulas are reported per row) but a caller may use to refuse a whole file. `reason` tells
    the cases of a code apart by a stable word (see `read_table`), `detail` holds its figures (a
    line number, a count, a limit), `message` is short English; `columns` names the offending
    columns of a "header" error (empty otherwise)."""

    def __init__(
        self, code: str, message: str, *, columns: Sequence[str] = (), reason: str = "", detail: dict | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.columns = tuple(columns)
        self.reason = reason or code
        self.detail = dict(detail or {})

    def __repr__(self) -> str:
        return f"TabularError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class Limits:
    """What one file may hold, whatever it claims: its size in bytes, its data rows, the columns of
    its header, its cells (rows x header columns), the strings of an XLSX shared-string table and
    the characters of all its cells; and a time by which reading must be done (time.monotonic)."""

    max_bytes: int = 20 * 1024 * 1024
    max_rows: int = 50_000
    max_columns: int = 100
    max_cells: int = 2_000_000
    max_strings: int = 1_000_000
    max_characters: int = 64 * 1024 * 1024
    deadline: float | None = None


@dataclass
class Row:
    """One non-empty data row: `values` maps every accepted column to its text; `problems`
    maps a column (or `ROW`, for the row as a whole) to an English reason. A row with problems
    must not be imported as it is: the value of a formula cell is the formula's text, kept only
    so that the report can show it."""

    number: int
    values: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def formula_like(text: str) -> bool:
    """Could a spreadsheet program take this text for a formula? Plain numbers excepted."""
    if text[:1] in _CONTROL_TRIGGERS:
        return True
    head = text.lstrip()
    # A lone "-" (a common "none" placeholder) or "+" cannot do anything.
    return head[:1] in _TRIGGERS and len(head) > 1 and not _NUMBER.fullmatch(head)


def quoted_formula_like(text: str) -> bool:
    """Is this neutralised text: quote(s) followed by what would otherwise be a trigger?"""
    if not text.startswith("'"):
        return False
    rest = text.lstrip("'")
    return rest[:1] in _CONTROL_TRIGGERS or (rest.lstrip()[:1] in _TRIGGERS and rest.strip() != "")


def text_of(value: object) -> str:
    """The text of a value, the same way for exports and for XLSX cells read back."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")  # what a spreadsheet shows: 15 significant digits
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return text_of(value.value)
    return str(value)


def neutralise(value: object) -> str:
    """Text for an export cell. A text a spreadsheet program could run as a formula (starting
    with =, +, -, @, tab or carriage return, and not a plain number nor a lone character) gets a
    leading "'"; so does a text that already looks neutralised ("'=x" becomes "''=x"), so that
    `read_table` gives back the original text."""
    text = text_of(value)
    if formula_like(text) or quoted_formula_like(text):
        return "'" + text
    return text

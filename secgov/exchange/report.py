"""The import report: the problems found, row by row, in the user's language, bounded in size."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from flask_babel import gettext as _

from secgov import tabular
from secgov.config import ServiceConfig
from secgov.errors import Refusal, ServiceError
from secgov.exchange.registers import Register
from secgov.tabular import TabularError


@dataclass(frozen=True)
class RowError:
    """One problem: the row as a spreadsheet numbers it (header = 1; 0 = the whole file), the
    column ("" for the row or the file as a whole) and a message in the user's language."""

    row: int
    column: str
    message: str


@dataclass
class ImportReport:
    """What an import did: records created, the problems found (the first `limit` of them kept,
    all counted), the data rows read."""

    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0
    problems: int = 0
    limit: int = 200
    rejected: set[int] = field(default_factory=set)
    # What the rules refused that the audit trail must keep (recorded once the writes are done).
    refusals: list[Refusal] = field(default_factory=list)

    def refused(self, error: ServiceError) -> None:
        """Keep the refusal an error carries, if any, for the audit trail."""
        if error.refusal is not None:
            self.refusals.append(error.refusal)

    def add(self, error: RowError) -> None:
        self.problems += 1
        if error.row > 1:
            self.rejected.add(error.row)
        if len(self.errors) < self.limit:
            self.errors.append(error)

    @property
    def written(self) -> bool:
        return self.created > 0

    @property
    def rejected_rows(self) -> int:
        """How many data rows have at least one problem."""
        return len(self.rejected)

    @property
    def more(self) -> int:
        """Problems counted but not kept in `errors`."""
        return self.problems - len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "errors": [asdict(e) for e in self.errors],
            "problems": self.problems,
            "total_rows": self.total_rows,
        }


def size_text(n: int) -> str:
    """A byte count for people: 20 MiB, 512 KiB, 300 bytes."""
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MiB"
    return f"{n} bytes"


def too_large_message(config: ServiceConfig) -> str:
    return _("The file is too large: files up to %(size)s are accepted.", size=size_text(config.max_upload_bytes))


def file_errors(exc: TabularError, register: Register, config: ServiceConfig) -> list[RowError]:
    """A TabularError as report lines in the user's language."""
    reason, detail = exc.reason, exc.detail
    if reason == "unknown":
        accepted = ", ".join(register.column_names)
        message = _("Unknown column. Accepted columns: %(columns)s.", columns=accepted)
        return [RowError(1, c[:80], message) for c in exc.columns]
    header = {
        "duplicate": _("This column is named twice."),
        "missing": _("This required column is missing."),
    }
    if reason in header:
        return [RowError(1, c, header[reason]) for c in exc.columns]
    whole_file = {
        "empty": (1, _("The file is empty: its first row must name the columns.")),
        "unnamed": (1, _("The first row must name every column.")),
        "too_wide": (
            1,
            _(
                "The first row names %(n)d columns; a register file has at most %(limit)d.",
                n=detail.get("columns", 0),
                limit=detail.get("limit", 0),
            ),
        ),
        "expanded": (0, _("This XLSX file expands to too much data to be read.")),
        "strings": (
            0,
            _(
                "This XLSX file holds more than %(n)d different texts.",
                n=detail.get("limit", config.import_max_strings),
            ),
        ),
        "characters": (
            0,
            _("The file holds more than %(n)d characters.", n=detail.get("limit", config.import_max_characters)),
        ),
        "cells": (0, _("The file has more than %(n)d cells.", n=detail.get("limit", config.import_max_cells))),
        "file": (0, _("The file is larger than %(size)s.", size=size_text(config.max_upload_bytes))),
        "too_many_rows": (0, _("The file has more than %(n)d data rows.", n=config.import_max_rows)),
        "encoding": (0, _("The CSV file must be encoded in UTF-8 (or GB18030).")),
        "utf16": (0, _("The CSV file must be encoded in UTF-8 (or GB18030).")),
        "xls": (0, _("Old .xls files are not supported: save the file as .xlsx or .csv.")),
        "type": (0, _("Unsupported file type: use a .csv or .xlsx file.")),
        "malformed": (0, _("The CSV file is malformed near line %(line)s.", line=detail.get("line", "?"))),
        "not_xlsx": (0, _("This is not an XLSX file.")),
        "too_slow": (0, timeout_message(config)),
    }
    row, message = whole_file.get(reason, (0, _("This XLSX file is damaged or not a valid workbook.")))
    return [RowError(row, "", message)]


def timeout_message(config: ServiceConfig) -> str:
    return _(
        "The import took longer than %(n)d seconds and was stopped: nothing of the file was written.",
        n=config.import_max_seconds,
    )


def problem_message(problem: str) -> str:
    return {
        tabular.FORMULA_CELL: _("Formula cells are not accepted: enter the value itself."),
        tabular.FORMULA_TEXT: _(
            "Text starting with =, +, - or @ could run as a formula and is not accepted; put ' in front to keep it as text."
        ),
        tabular.EXTRA_CELLS: _("This row has values in columns without a header."),
    }.get(problem, problem)

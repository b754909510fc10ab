"""Writing tables as CSV or XLSX, every cell neutralised (see the package docstring)."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import enum
import io
import math
import re
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from secgov.tabular.text import EXCEL_MAX_TEXT, TRUNCATED, XML_ILLEGAL, neutralise


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file (UTF-8 with BOM, so that Excel reads Chinese text right; CRLF line ends):
    the header row, then one line per row, every cell through `neutralise`."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in columns])
    for row in rows:
        _check_width(columns, row)
        writer.writerow([neutralise(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def write_xlsx(columns: Sequence[str], rows: Iterable[Sequence[object]], sheet_title: str = "export") -> bytes:
    """An XLSX workbook with one sheet: a bold header row, then the rows.

    Numbers (below 10^15, beyond which Excel loses digits), booleans and dates are typed cells;
    everything else - datetimes included, as ISO text - is a text cell holding `neutralise`'s
    text, its type forced to text so that it can never be a formula or an error value.
    Characters XML cannot hold become U+FFFD; texts beyond Excel's 32,767 characters are cut
    with a visible mark."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(sheet_title))
    bold = Font(bold=True)

    def text_cell(value: object):
        text = XML_ILLEGAL.sub("\ufffd", neutralise(value))
        if len(text) > EXCEL_MAX_TEXT:
            text = text[: EXCEL_MAX_TEXT - len(TRUNCATED)] + TRUNCATED
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"  # openpyxl would make "=..." a formula and "#N/A" an error value
        return cell

    try:
        header = []
        for name in columns:
            cell = text_cell(name)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in rows:
            _check_width(columns, row)
            sheet.append([None if value is None else _typed_cell(sheet, value) or text_cell(value) for value in row])
        out = io.BytesIO()
        workbook.save(out)
    except BaseException:
        _discard(sheet)
        raise
    return out.getvalue()


def _discard(sheet) -> None:
    """Abandon a write-only sheet: openpyxl streams it into a temporary file that it removes
    only on save or at interpreter exit, and leaves a half-run generator behind."""
    rows = getattr(sheet, "_rows", None)
    writer = getattr(sheet, "_writer", None)
    with contextlib.suppress(Exception):
        if rows is not None:
            rows.close()
    with contextlib.suppress(Exception):
        if writer is not None:
            writer.close()
    with contextlib.suppress(Exception):
        if writer is not None:
            writer.cleanup()


def _typed_cell(sheet, value: object):
    """A number, boolean or date cell when the value is one Excel holds exactly, else None."""
    if isinstance(value, enum.Enum):
        return None
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) < 10**15):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, float) and math.isfinite(value):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return None


def _sheet_title(title: str) -> str:
    title = re.sub(r"[\\*?:/\[\]]", "_", XML_ILLEGAL.sub("", title or "")).strip().strip("'")[:31]
    return title or "export"


def _check_width(columns: Sequence[str], row: Sequence[object]) -> None:
    if len(row) != len(columns):
        raise ValueError(f"a row has {len(row)} values for {len(columns)} columns")

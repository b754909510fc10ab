"""Import and export of the asset and vendor registers as CSV or XLSX.

Imports check every row before writing anything and answer with a row-by-row report
(`ImportReport`). By default they are all-or-nothing: one bad row and nothing is written. With
``partial=True`` the good rows are written and the bad ones reported. Every record is created by
the register's own service (`create_assets`, `create_vendor`), so controls, owners and the audit
trail come out exactly as when a person registers it by hand; the import adds one audit entry of
its own ("assets.imported", "vendors.imported"). The caller commits when `ImportReport.written`,
and rolls back otherwise.

Exports write the same columns as the imports read, so an export can be imported again, through
`secgov.tabular`, which neutralises anything a spreadsheet program could run as a formula.

Row numbers are what a person sees in a spreadsheet: the header is row 1. Problems with the file
as a whole are reported on row 0 (or on row 1, naming the column, for a bad header).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from flask import current_app, has_app_context
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from assets.models import Asset, AssetControl, AssetGrade, Vendor
from assets.services import FILTERS, WRITERS, AssetCreate, AssetQuery, create_assets, list_assets, read_many
from assets.vendors import VendorCreate, VendorQuery, create_vendor, list_vendors
from secgov import audit, catalog, tabular
from secgov.audit import Actor
from secgov.authz import department_in_scope
from secgov.db import refresh_statistics, write_session
from secgov.errors import ServiceError, validation_details
from secgov.models import AuditEntry, Department, Responsibility, User
from secgov.tabular import Row, TabularError

ASSET_COLUMNS = (
    "code",
    "name",
    "description",
    "sector",
    "department",
    "owner",
    "mlps_level",
    "mlps_filing_number",
    "mlps_extensions",
    "is_cii",
    "classified",
    "data_level",
    "lifecycle",
    "network_targets",
    "expected_ports",
)
ASSET_REQUIRED = ("code", "name", "sector", "department", "owner")
VENDOR_COLUMNS = ("name", "origin", "country", "confidentiality_agreement_on")
VENDOR_REQUIRED = ("name", "origin", "country")

Format = Literal["csv", "xlsx"]
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
# List cells: values separated by spaces, commas, semicolons or line breaks.
_LIST_SEPARATORS = re.compile(r"[\s,;]+")
_TRUE = frozenset({"true", "yes", "y", "1", "是", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "f"})
# Imports hand the service this many rows at a time, and drop the created records
# from the session after each batch: an import of 20,000 graded assets creates over a million
# control rows, which must not all stay in memory.
_BATCH = 200
# Who may import: those who may change the registers.
IMPORTERS = WRITERS
# Imports that create at least this many assets refresh the planner's statistics.
_ANALYZE_AFTER = 500
_EXPORT_PAGE = 200


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem: the row as a spreadsheet numbers it (header = 1; 0 = the whole file), the
    column ("" for the row or the file as a whole) and a message in the user's language."""

    row: int
    column: str
    message: str


@dataclass
class ImportReport:
    """What an import did: records created, the problems found, the data rows read."""

    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0

    @property
    def written(self) -> bool:
        """Whether anything was written (the caller commits then, and rolls back otherwise)."""
        return self.created > 0

    @property
    def rejected_rows(self) -> int:
        """How many data rows have at least one problem."""
        return len({e.row for e in self.errors if e.row > 1})

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "errors": [asdict(e) for e in self.errors], "total_rows": self.total_rows}


def max_upload_bytes() -> int:
    """The size limit of an uploaded (or, for the CLI, read) register file."""
    if has_app_context():
        return int(current_app.config.get("SECGOV_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))
    return DEFAULT_MAX_UPLOAD_BYTES


def size_text(n: int) -> str:
    """A byte count for people: 20 MiB, 512 KiB, 300 bytes."""
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MiB"
    return f"{n} bytes"


# --- reading the file ------------------------------------------------------------------------


def _file_errors(exc: TabularError, columns: Sequence[str]) -> list[RowError]:
    """A TabularError as report lines in the user's language."""
    text = exc.message
    if exc.code == "header":
        if text.startswith("unknown columns"):
            accepted = ", ".join(columns)
            return [
                RowError(1, c, _("Unknown column. Accepted columns: %(columns)s.", columns=accepted))
                for c in exc.columns
            ]
        if text.startswith("duplicate columns"):
            return [RowError(1, c, _("This column is named twice.")) for c in exc.columns]
        if text.startswith("missing required columns"):
            return [RowError(1, c, _("This required column is missing.")) for c in exc.columns]
        if text.startswith("the file is empty"):
            return [RowError(1, "", _("The file is empty: its first row must name the columns."))]
        return [RowError(1, "", _("The first row must name every column."))]
    if exc.code == "too_large":
        if "expands" in text:
            return [RowError(0, "", _("This XLSX file expands to too much data to be read."))]
        return [RowError(0, "", _("The file is larger than %(size)s.", size=size_text(max_upload_bytes())))]
    if exc.code == "too_many_rows":
        return [RowError(0, "", _("The file has more than %(n)d data rows.", n=MAX_ROWS))]
    if exc.code == "encoding":
        return [RowError(0, "", _("The CSV file must be encoded in UTF-8 (or GB18030)."))]
    if "old .xls" in text:
        return [RowError(0, "", _("Old .xls files are not supported: save the file as .xlsx or .csv."))]
    if text.startswith("unsupported file type"):
        return [RowError(0, "", _("Unsupported file type: use a .csv or .xlsx file."))]
    line = re.search(r"near line (\d+)", text)
    if line:
        return [RowError(0, "", _("The CSV file is malformed near line %(line)s.", line=line.group(1)))]
    if text == "this is not an XLSX file":
        return [RowError(0, "", _("This is not an XLSX file."))]
    return [RowError(0, "", _("This XLSX file is damaged or not a valid workbook."))]


def _problem_message(problem: str) -> str:
    return {
        tabular.FORMULA_CELL: _("Formula cells are not accepted: enter the value itself."),
        tabular.FORMULA_TEXT: _(
            "Text starting with =, +, - or @ could run as a formula and is not accepted; put ' in front to keep it as text."
        ),
        tabular.EXTRA_CELLS: _("This row has values in columns without a header."),
    }.get(problem, problem)


def _read(
    data: bytes, filename: str, columns: Sequence[str], required: Sequence[str], report: ImportReport
) -> list[Row] | None:
    """The rows of the file, or None with the file's problems in the report."""
    try:
        rows = tabular.read_table(data, filename, columns, required, max_rows=MAX_ROWS, max_bytes=max_upload_bytes())
    except TabularError as exc:
        report.errors.extend(_file_errors(exc, columns))
        return None
    report.total_rows = len(rows)
    if not rows:
        report.errors.append(RowError(0, "", _("The file has no data rows.")))
        return None
    return rows


# --- checking rows ---------------------------------------------------------------------------


class _RowCheck:
    """The problems of one row, at most one per column (the first found wins)."""

    def __init__(self, row: Row):
        self.row = row
        self.problems: dict[str, str] = {}
        for column, problem in row.problems.items():
            self.problems[column] = _problem_message(problem)

    def value(self, column: str) -> str:
        """The cell's text; "" for a cell that already has a problem."""
        return "" if column in self.problems else self.row.values.get(column, "")

    def add(self, column: str, message: str) -> None:
        self.problems.setdefault(column, message)

    def validate(self, schema: type[BaseModel], payload: dict[str, Any], allowed: dict[str, Sequence[str]]):
        """The payload validated by schema, or None with each field's problem recorded."""
        try:
            return schema.model_validate(payload)
        except ValidationError as exc:
            for err, detail in zip(exc.errors(include_url=False), validation_details(exc), strict=True):
                column = detail["field"].split(".")[0]
                self.add(column, _message(err, detail["message"], allowed.get(column)))
            return None

    def errors(self, order: Sequence[str]) -> list[RowError]:
        rank = {name: i for i, name in enumerate(("", *order))}
        return [
            RowError(self.row.number, column, message)
            for column, message in sorted(self.problems.items(), key=lambda item: rank.get(item[0], len(rank)))
        ]


def _message(err: dict, default: str, allowed: Sequence[str] | None) -> str:
    """A pydantic error's message; the validators' own messages (already translated) and the
    allowed values of a choice are kept, which validation_details leaves out."""
    error = (err.get("ctx") or {}).get("error")
    if err["type"] == "value_error" and isinstance(error, ValueError) and not isinstance(error, ServiceError):
        return str(error) or default
    if err["type"] == "literal_error" and allowed:
        shown = str(err.get("input", ""))[:80]
        return _("%(value)s is not one of: %(allowed)s.", value=shown, allowed=", ".join(allowed))
    return default


def _split(text: str) -> list[str]:
    return [piece for piece in _LIST_SEPARATORS.split(text) if piece]


def _boolean(check: _RowCheck, column: str) -> bool | None:
    text = check.value(column).lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    check.add(column, _("Must be true or false (yes/no, 1/0 and 是/否 are read too)."))
    return None


def _duplicates(rows: Iterable[Row], column: str) -> dict[str, list[int]]:
    """Values (compared without case) that occur in more than one row, with their row numbers."""
    seen: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        key = row.values.get(column, "").strip().lower()
        if key and column not in row.problems:
            seen[key].append(row.number)
    return {key: numbers for key, numbers in seen.items() if len(numbers) > 1}


def _duplicate_message(value: str, row: int, numbers: list[int]) -> str:
    others = ", ".join(str(n) for n in numbers if n != row)
    return _("%(value)s is also in row %(rows)s of this file.", value=value, rows=others)


def _write(
    session: Session,
    report: ImportReport,
    good: list[tuple[int, Any]],
    partial: bool,
    create_many: Callable[[list[Any]], object],
    release: tuple[type, ...] = (),
) -> None:
    """Create the checked records unless all-or-nothing and something is wrong.

    The checks above mirror the services' own, so a refusal here means that the database
    changed meanwhile. Each batch is written under a savepoint; a refused batch is undone and
    written again row by row, each row under its own savepoint, to name the row. All or nothing,
    the import then stops (the caller rolls back); in partial mode it goes on with the next row,
    and the refused row leaves nothing behind."""
    if report.errors and not partial:
        return
    for start in range(0, len(good), _BATCH):
        batch = good[start : start + _BATCH]
        if _attempt(session, [data for _number, data in batch], create_many) is None:
            report.created += len(batch)
        else:
            for number, data in batch:
                problem = _attempt(session, [data], create_many)
                if problem is None:
                    report.created += 1
                    continue
                report.errors.append(RowError(number, *problem))
                if not partial:
                    report.created = 0
                    return
        if release:
            _release(session, release)
    report.errors.sort(key=lambda e: e.row)


def _attempt(session: Session, items: list[Any], create_many: Callable[[list[Any]], object]) -> tuple[str, str] | None:
    """Create items under a savepoint: None, or the (column, message) of the refusal."""
    try:
        with session.begin_nested():
            create_many(items)
    except ServiceError as exc:
        return exc.field or "", exc.message
    except IntegrityError:
        return "", _("This row conflicts with a change made meanwhile: import the file again.")
    return None


def _release(session: Session, types: tuple[type, ...]) -> None:
    """Forget records already written to the database (every service flushes what it adds)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, types):
            session.expunge(obj)


def _record_import(
    session: Session, actor: Actor, action: str, object_type: str, filename: str, report: ImportReport, partial: bool
) -> None:
    audit.record(
        session,
        actor,
        action,
        object_type=object_type,
        object_id=(filename or "")[:200],
        file=(filename or "")[:200],
        created=report.created,
        rejected_rows=report.rejected_rows,
        total_rows=report.total_rows,
        partial=partial,
    )


# --- assets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CityView:
    """The whole city's scope, for the CLI acting as the system where a service needs a viewer
    (listing): a viewer in the root department. Scope checks only read `department`."""

    department: Department
    id: None = None
    username: str = "system"


def city_view(session: Session) -> CityView:
    root = session.exec(select(Department).where(Department.parent_id.is_(None))).first()
    if root is None:
        raise ServiceError(_("The database has no departments yet."))
    return CityView(department=root)


class _AssetContext:
    """What the checks need, loaded once: existing codes, departments and people in scope."""

    def __init__(self, session: Session, viewer: User | None):
        self.codes = set(session.exec(select(func.lower(Asset.code))).all())
        departments = session.exec(select(Department)).all()
        self.by_id = {d.id: d for d in departments}
        self.departments = {d.code: d for d in departments if viewer is None or department_in_scope(d, viewer)}
        self.people: dict[str, bool] = {}  # lower-case user name -> active
        for username, disabled, department_id in session.exec(select(User.username, User.disabled, User.department_id)):
            dept = self.by_id.get(department_id)
            if dept is not None and (viewer is None or department_in_scope(dept, viewer)):
                self.people[username.lower()] = not disabled


def _asset_payload(check: _RowCheck) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for column in ("code", "name", "description", "sector", "department", "owner", "mlps_filing_number"):
        if check.value(column):
            payload[column] = check.value(column)
    for column in ("data_level", "lifecycle"):
        if check.value(column):
            payload[column] = check.value(column).lower()
    if check.value("mlps_level"):
        payload["mlps_level"] = check.value("mlps_level")
    if check.value("mlps_extensions"):
        payload["mlps_extensions"] = [item.lower() for item in _split(check.value("mlps_extensions"))]
    for column in ("network_targets", "expected_ports"):
        if check.value(column):
            payload[column] = check.value(column)  # the schema splits and checks them
    for column in ("is_cii", "classified"):
        value = _boolean(check, column)
        if value is not None:
            payload[column] = value
    return payload


ASSET_CHOICES: dict[str, Sequence[str]] = {
    "data_level": catalog.DATA_LEVELS,
    "lifecycle": catalog.LIFECYCLES,
    "mlps_extensions": catalog.MLPS_EXTENSIONS,
}


def import_assets(
    session: Session, data: bytes, filename: str, actor: Actor, viewer: User | None, *, partial: bool = False
) -> ImportReport:
    """Check every row of a CSV/XLSX asset register, then create the assets (see the module
    docstring). viewer None: the system, which sees every department and person."""
    report = ImportReport()
    rows = _read(data, filename, ASSET_COLUMNS, ASSET_REQUIRED, report)
    if rows is None:
        return report
    context = _AssetContext(session, viewer)
    duplicates = _duplicates(rows, "code")
    good: list[tuple[int, AssetCreate]] = []
    for row in rows:
        check = _RowCheck(row)
        payload = _asset_payload(check)
        asset = check.validate(AssetCreate, payload, ASSET_CHOICES)
        code = check.value("code")
        if code and code.lower() in duplicates:
            check.add("code", _duplicate_message(code, row.number, duplicates[code.lower()]))
        elif code and code.lower() in context.codes:
            check.add("code", _("The code %(code)s is already used.", code=code))
        department = check.value("department")
        if department and department not in context.departments:
            check.add("department", _("Unknown department: %(code)s", code=department))
        owner = check.value("owner")
        if owner and not context.people.get(owner.lower()):
            check.add("owner", _("Unknown or disabled user: %(name)s", name=owner))
        if check.problems:
            report.errors.extend(check.errors(ASSET_COLUMNS))
        elif asset is not None:
            good.append((row.number, asset))
    _write(
        session,
        report,
        good,
        partial,
        lambda items: create_assets(session, items, actor, viewer),
        release=(Asset, AssetControl, AssetGrade, Responsibility, AuditEntry),
    )
    if report.written:
        _record_import(session, actor, "assets.imported", "asset", filename, report, partial)
        if report.created >= _ANALYZE_AFTER:
            refresh_statistics(session, ("asset", "asset_control", "asset_grade", "responsibility"))
    return report


_FILTERS = {name: (AssetQuery.model_fields[name].annotation, AssetQuery.model_fields[name]) for name in FILTERS}

AssetExportQuery = create_model(
    "AssetExportQuery",
    __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
    __doc__="The file format and the filters of the asset list (every matching asset, not one page).",
    format=(Format, Field(default="csv", description="csv or xlsx")),
    **_FILTERS,
)


def asset_query(export: BaseModel) -> AssetQuery:
    """The asset list's query for an export's filters."""
    return AssetQuery.model_validate(export.model_dump(exclude={"format"}, exclude_defaults=True))


def _join(values: Iterable[object]) -> str:
    return " ".join(str(v) for v in values)


def _asset_rows(session: Session, viewer: User | CityView, query: AssetQuery) -> Iterator[list[object]]:
    page = 1
    while True:
        assets, total = list_assets(session, viewer, query.model_copy(update={"page": page, "page_size": _EXPORT_PAGE}))  # type: ignore[arg-type]
        for record in read_many(session, assets):
            yield [
                record.code,
                record.name,
                record.description,
                record.sector,
                record.department,
                record.owner or "",
                record.mlps_level,
                record.mlps_filing_number,
                _join(record.mlps_extensions),
                record.is_cii,
                record.classified,
                record.data_level,
                record.lifecycle,
                _join(record.network_targets),
                _join(record.expected_ports),
            ]
        for asset in assets:
            session.expunge(asset)
        if not assets or page * _EXPORT_PAGE >= total:
            return
        page += 1


def export_assets(
    session: Session,
    viewer: User | None,
    query: AssetQuery | None = None,
    fmt: str = "csv",
    actor: Actor | None = None,
) -> bytes:
    """Every asset in the viewer's scope that matches the filters, as CSV or XLSX, with the
    columns of the import. viewer None: the system, which sees the whole city. With an actor,
    the export is audited (see record_export)."""
    scope: User | CityView = viewer if viewer is not None else city_view(session)
    query = query or AssetQuery()
    rows = _Counted(_asset_rows(session, scope, query))
    data = _write_table(ASSET_COLUMNS, rows, fmt, "assets")
    if actor is not None:
        filters = query.model_dump(exclude={"page", "page_size"}, exclude_defaults=True)
        record_export(actor, "assets", fmt, rows.count, filters)
    return data


class _Counted:
    """An iterator of rows that counts what went through it."""

    def __init__(self, rows: Iterable[Sequence[object]]):
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[object]]:
        for row in self._rows:
            self.count += 1
            yield row


def record_export(actor: Actor, register: str, fmt: str, rows: int, filters: dict[str, Any]) -> None:
    """Audit an export: a register leaving the system is worth knowing about (who, which rows,
    which filters). Exports are reads (GET requests, CLI commands) with no write transaction
    of their own, so the entry is written in a transaction of its own."""
    with write_session() as side:
        audit.record(
            side,
            actor,
            f"{register}.exported",
            object_type="asset" if register == "assets" else "vendor",
            object_id=register,
            format=fmt,
            rows=rows,
            filters=filters,
        )


def _write_table(columns: Sequence[str], rows: Iterable[Sequence[object]], fmt: str, title: str) -> bytes:
    if fmt == "csv":
        return tabular.write_csv(columns, rows)
    if fmt == "xlsx":
        return tabular.write_xlsx(columns, rows, sheet_title=title)
    raise ServiceError(_("Unknown format: use csv or xlsx."), field="format")


def export_filename(register: str, fmt: str, now: datetime | None = None) -> str:
    """secgov-assets-20250101.csv: the register, the date in the city's time zone, the format."""
    moment = now or datetime.now(UTC)
    if has_app_context():
        from flask_babel import to_user_timezone

        moment = to_user_timezone(moment)
    return f"secgov-{register}-{moment:%Y%m%d}.{fmt}"


# --- vendors ---------------------------------------------------------------------------------

VENDOR_CHOICES: dict[str, Sequence[str]] = {"origin": catalog.VENDOR_ORIGINS}
VENDOR_FILTERS = ("q", "origin")


def _vendor_payload(check: _RowCheck) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for column in ("name", "country", "confidentiality_agreement_on"):
        if check.value(column):
            payload[column] = check.value(column)
    if check.value("origin"):
        payload["origin"] = check.value("origin").lower()
    return payload


def import_vendors(
    session: Session, data: bytes, filename: str, actor: Actor, viewer: User | None = None, *, partial: bool = False
) -> ImportReport:
    """Check every row of a CSV/XLSX vendor register, then create the vendors (see the module
    docstring). Vendors are city-wide: viewer is accepted for symmetry and not used."""
    report = ImportReport()
    rows = _read(data, filename, VENDOR_COLUMNS, VENDOR_REQUIRED, report)
    if rows is None:
        return report
    existing = set(session.exec(select(func.lower(Vendor.name))).all())
    duplicates = _duplicates(rows, "name")
    good: list[tuple[int, Any]] = []
    for row in rows:
        check = _RowCheck(row)
        vendor = check.validate(VendorCreate, _vendor_payload(check), VENDOR_CHOICES)
        name = check.value("name")
        if name and name.lower() in duplicates:
            check.add("name", _duplicate_message(name, row.number, duplicates[name.lower()]))
        elif name and name.lower() in existing:
            check.add("name", _("A vendor named %(name)s already exists.", name=name))
        if check.problems:
            report.errors.extend(check.errors(VENDOR_COLUMNS))
        elif vendor is not None:
            good.append((row.number, vendor))
    _write(session, report, good, partial, lambda items: [create_vendor(session, v, actor) for v in items])
    if report.written:
        _record_import(session, actor, "vendors.imported", "vendor", filename, report, partial)
    return report


def _vendor_export_query():
    filters = {
        name: (info.annotation, info) for name, info in VendorQuery.model_fields.items() if name in VENDOR_FILTERS
    }
    return create_model(
        "VendorExportQuery",
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
        __doc__="The file format and the filters of the vendor list (every matching vendor).",
        format=(Format, Field(default="csv", description="csv or xlsx")),
        **filters,
    )


VendorExportQuery = _vendor_export_query()


def _vendor_rows(session: Session, export: BaseModel) -> Iterator[list[object]]:
    query = VendorQuery.model_validate(export.model_dump(exclude={"format"}, exclude_defaults=True))
    page = 1
    while True:
        vendors, total = list_vendors(session, query.model_copy(update={"page": page, "page_size": _EXPORT_PAGE}))
        for vendor in vendors:
            yield [vendor.name, vendor.origin, vendor.country, vendor.confidentiality_agreement_on]
            session.expunge(vendor)
        if not vendors or page * _EXPORT_PAGE >= total:
            return
        page += 1


def export_vendors(
    session: Session, viewer: User | None = None, export: BaseModel | None = None, actor: Actor | None = None
) -> bytes:
    """The vendor register (city-wide: every role reads it) as CSV or XLSX, with the columns of the
    import; export holds the format and the list's filters (VendorExportQuery). With an actor,
    the export is audited."""
    export = export if export is not None else VendorExportQuery()
    rows = _Counted(_vendor_rows(session, export))
    data = _write_table(VENDOR_COLUMNS, rows, export.format, "vendors")
    if actor is not None:
        record_export(
            actor, "vendors", export.format, rows.count, export.model_dump(exclude={"format"}, exclude_defaults=True)
        )
    return data


__all__ = [
    "ASSET_COLUMNS",
    "ASSET_REQUIRED",
    "CONTENT_TYPES",
    "VENDOR_COLUMNS",
    "VENDOR_FILTERS",
    "VENDOR_REQUIRED",
    "AssetExportQuery",
    "CityView",
    "ImportReport",
    "RowError",
    "VendorExportQuery",
    "asset_query",
    "city_view",
    "export_assets",
    "export_filename",
    "export_vendors",
    "record_export",
    "import_assets",
    "import_vendors",
    "max_upload_bytes",
]

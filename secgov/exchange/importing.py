"""Importing a register file: the checks before any write, then the writes in short batches
(see the package docstring)."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from secgov import audit, tabular
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import new_session, refresh_statistics, write_session
from secgov.errors import ServiceError, validation_details
from secgov.exchange.registers import Column, Register
from secgov.exchange.report import ImportReport, RowError, file_errors, problem_message, timeout_message
from secgov.tabular import Row, TabularError

# Rows written per transaction: long enough to write fast, short enough (well under a second on
# SQLite for graded assets) that sign-ins and other writers never wait long.
BATCH = 200
# Rows checked per call of a register's check: its look-ups go by the call, not by the row.
CHECK_BATCH = 2_000
# Imports that create at least this many records refresh the planner's statistics.
ANALYZE_AFTER = 500
# List cells: values separated by spaces, commas, semicolons or line breaks.
_LIST_SEPARATORS = re.compile(r"[\s,;]+")
_TRUE = frozenset({"true", "yes", "y", "1", "是", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "f"})


class _RowCheck:
    """The problems of one row, at most one per column (the first found wins)."""

    def __init__(self, row: Row):
        self.row = row
        self.problems: dict[str, str] = {column: problem_message(p) for column, p in row.problems.items()}

    def value(self, column: str) -> str:
        """The cell's text; "" for a cell that already has a problem."""
        return "" if column in self.problems else self.row.values.get(column, "")

    def add(self, column: str, message: str) -> None:
        self.problems.setdefault(column, message)

    def payload(self, columns: Sequence[Column]) -> dict[str, Any]:
        """The row's cells as the schema's input: empty cells are left out (the defaults apply)."""
        payload: dict[str, Any] = {}
        for column in columns:
            text = self.value(column.name)
            if not text:
                continue
            if column.cell == "lower":
                payload[column.name] = text.lower()
            elif column.cell == "list":
                payload[column.name] = [piece.lower() for piece in _LIST_SEPARATORS.split(text) if piece]
            elif column.cell == "bool":
                if text.lower() in _TRUE:
                    payload[column.name] = True
                elif text.lower() in _FALSE:
                    payload[column.name] = False
                else:
                    self.add(column.name, _("Must be true or false (yes/no, 1/0 and 是/否 are read too)."))
            else:
                payload[column.name] = text
        return payload

    def validate(self, register: Register) -> BaseModel | None:
        """The row as the register's schema, or None with each field's problem recorded."""
        try:
            return register.schema.model_validate(self.payload(register.columns))
        except ValidationError as exc:
            choices = {column.name: column.choices for column in register.columns}
            for err, detail in zip(exc.errors(include_url=False), validation_details(exc), strict=True):
                column = detail["field"].split(".")[0]
                self.add(column, _message(err, detail["message"], choices.get(column)))
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


def _duplicates(rows: Iterable[Row], column: str) -> dict[str, list[int]]:
    """Values (compared without case) that occur in more than one row, with their row numbers."""
    seen: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        key = row.values.get(column, "").strip().lower()
        if key and column not in row.problems:
            seen[key].append(row.number)
    return {key: numbers for key, numbers in seen.items() if len(numbers) > 1}


@dataclass
class Checked:
    """The outcome of the checks: the report so far and the rows ready to write."""

    report: ImportReport
    good: list[tuple[int, BaseModel]] = field(default_factory=list)


def check_file(
    session: Session,
    register: Register,
    data: bytes,
    filename: str,
    actor: Actor,
    config: ServiceConfig,
    *,
    deadline: float | None = None,
) -> Checked:
    """Read the file within the limits and check every row: nothing is written."""
    report = ImportReport(limit=config.import_report_problems)
    limits = tabular.Limits(
        max_bytes=config.max_upload_bytes,
        max_rows=config.import_max_rows,
        max_columns=config.import_max_columns,
        max_cells=config.import_max_cells,
        max_strings=config.import_max_strings,
        max_characters=config.import_max_characters,
        deadline=deadline,
    )
    try:
        rows = tabular.read_table(data, filename, register.column_names, register.required, limits=limits)
    except TabularError as exc:
        for error in file_errors(exc, register, config):
            report.add(error)
        return Checked(report)
    report.total_rows = len(rows)
    if not rows:
        report.add(RowError(0, "", _("The file has no data rows.")))
        return Checked(report)
    duplicates = _duplicates(rows, register.key)
    checks: list[tuple[_RowCheck, BaseModel | None]] = []
    for row in rows:
        check = _RowCheck(row)
        item = check.validate(register)
        key = check.value(register.key)
        if key and key.lower() in duplicates:
            others = ", ".join(str(n) for n in duplicates[key.lower()] if n != row.number)
            check.add(register.key, _("%(value)s is also in row %(rows)s of this file.", value=key, rows=others))
        checks.append((check, item))
    valid = [(check, item) for check, item in checks if item is not None and not check.problems]
    for start in range(0, len(valid), CHECK_BATCH):
        if deadline is not None and time.monotonic() > deadline:
            report.add(RowError(0, "", timeout_message(config)))
            return Checked(report)
        batch = valid[start : start + CHECK_BATCH]
        for index, errors in register.check(session, [item for _check, item in batch], actor, config).items():
            for error in errors:
                batch[index][0].add(error.field or "", error.message)
    good = []
    for check, item in checks:
        if check.problems:
            for error in check.errors(register.column_names):
                report.add(error)
        elif item is not None:
            good.append((check.row.number, item))
    return Checked(report, good)


Unit = Callable[[], AbstractContextManager[Session]]


def _write(
    register: Register,
    checked: Checked,
    actor: Actor,
    config: ServiceConfig,
    unit: Unit,
    *,
    partial: bool,
    deadline: float | None,
) -> list[int]:
    """Create the checked rows batch by batch, each batch in its own `unit` (a transaction, or a
    savepoint of the caller's); the ids of the records written, in order."""
    report, written = checked.report, []
    for start in range(0, len(checked.good), BATCH):
        if deadline is not None and time.monotonic() > deadline:
            report.add(RowError(0, "", timeout_message(config) if not partial else _stopped_message(config)))
            return written if partial else _undo(register, written, actor, unit, report)
        batch = checked.good[start : start + BATCH]
        with unit() as session:
            created = _attempt(session, register, [item for _number, item in batch], actor, config)
            if isinstance(created, list):
                written += [record.id for record in created]
                report.created += len(batch)
            else:
                for number, item in batch:
                    one = _attempt(session, register, [item], actor, config)
                    if isinstance(one, list):
                        written += [record.id for record in one]
                        report.created += 1
                    else:
                        report.add(RowError(number, *one))
                        if not partial:
                            break
            _release(session, register.release)
        if report.problems and not partial:
            return _undo(register, written, actor, unit, report)
    report.errors.sort(key=lambda e: e.row)
    return written


def _attempt(session: Session, register: Register, items: list, actor: Actor, config: ServiceConfig):
    """Create items under a savepoint: the records, or the (column, message) of the refusal."""
    try:
        with session.begin_nested():
            return register.create(session, items, actor, config)
    except ServiceError as exc:
        return exc.field or "", exc.message
    except IntegrityError:
        return "", _("This row conflicts with a change made meanwhile: import the file again.")


def _undo(register: Register, written: list[int], actor: Actor, unit: Unit, report: ImportReport) -> list[int]:
    """All or nothing after a refusal: remove what the import wrote so far."""
    if written:
        with unit() as session:
            register.undo(session, written, actor)
            audit.record(
                session,
                actor,
                f"{register.name}.import_undone",
                object_type=register.object_type,
                object_id=register.name,
                removed=len(written),
            )
    report.created = 0
    report.errors.sort(key=lambda e: e.row)
    return []


def _stopped_message(config: ServiceConfig) -> str:
    return _(
        "The import took longer than %(n)d seconds and was stopped: the rows after the last one written were not imported.",
        n=config.import_max_seconds,
    )


def _release(session: Session, types: tuple[type, ...]) -> None:
    """Forget records already written to the database (every service flushes what it adds):
    an import of 20,000 graded assets creates over a million control rows."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, types):
            session.expunge(obj)


def _record_import(session: Session, register: Register, actor: Actor, filename: str, report, partial: bool) -> None:
    audit.record(
        session,
        actor,
        f"{register.name}.imported",
        object_type=register.object_type,
        object_id=(filename or "")[:200],
        file=(filename or "")[:200],
        created=report.created,
        rejected_rows=report.rejected_rows,
        total_rows=report.total_rows,
        partial=partial,
    )


def import_file(
    engine: Engine,
    register: Register,
    data: bytes,
    filename: str,
    actor: Actor,
    config: ServiceConfig,
    *,
    partial: bool = False,
) -> ImportReport:
    """Import a register file (see the module docstring): checks in a read transaction, then
    writes in short transactions of their own, committed. The web, the API and the command line
    call this; nothing of theirs may hold a write transaction meanwhile."""
    deadline = time.monotonic() + config.import_max_seconds
    with new_session(engine, write=False) as session:
        checked = check_file(session, register, data, filename, actor, config, deadline=deadline)
    report = checked.report
    if not checked.good or (report.problems and not partial):
        return report

    @contextmanager
    def transaction() -> Iterator[Session]:
        with write_session(engine) as session:
            yield session

    _write(register, checked, actor, config, transaction, partial=partial, deadline=deadline)
    if report.written:
        with write_session(engine) as session:
            _record_import(session, register, actor, filename, report, partial)
            if report.created >= ANALYZE_AFTER:
                refresh_statistics(session, register.statistics)
    return report


def import_in(
    session: Session, register: Register, data: bytes, filename: str, actor: Actor, config: ServiceConfig
) -> ImportReport:
    """Import a register file all or nothing inside the caller's transaction (savepoints), for
    loaders such as the demo city that are one transaction themselves; the caller commits."""
    checked = check_file(session, register, data, filename, actor, config)
    report = checked.report
    if checked.good and not report.problems:

        @contextmanager
        def savepoint() -> Iterator[Session]:
            with session.begin_nested():
                yield session

        _write(register, checked, actor, config, savepoint, partial=False, deadline=None)
        if report.written:
            _record_import(session, register, actor, filename, report, False)
    return report

"""Importing a register file: the checks before any write, then the writes in short batches
(see the package docstring)."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from secgov import audit, tabular
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import new_session, refresh_statistics, write_session, writers_turn
from secgov.errors import Conflict, ServiceError, validation_details
from secgov.exchange.registers import Column, Register
from secgov.exchange.report import ImportReport, RowError, file_errors, problem_message, timeout_message
from secgov.tabular import Row, TabularError

log = logging.getLogger(__name__)

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
# Other rows named in a duplicate-value message.
_ROWS_SHOWN = 5


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


def _duplicate_message(value: str, numbers: list[int], number: int) -> str:
    """Where else in the file the value occurs: the first few rows (a value repeated in thousands
    of rows would otherwise make every one of their messages list all the others)."""
    others = [n for n in numbers if n != number]
    shown = ", ".join(str(n) for n in others[:_ROWS_SHOWN])
    if len(others) > _ROWS_SHOWN:
        return _(
            "%(value)s is also in rows %(rows)s and %(more)d more rows of this file.",
            value=value,
            rows=shown,
            more=len(others) - _ROWS_SHOWN,
        )
    return _("%(value)s is also in row %(rows)s of this file.", value=value, rows=shown)


@dataclass
class Checked:
    """The outcome of the checks: the report so far and the rows ready to write."""

    report: ImportReport
    good: list[tuple[int, BaseModel]] = field(default_factory=list)


def read_rows(
    register: Register, data: bytes, filename: str, config: ServiceConfig, *, deadline: float | None = None
) -> list[Row]:
    """The file's data rows, read within the configured limits; TabularError for a file that
    cannot be read (nothing is checked)."""
    limits = tabular.Limits(
        max_bytes=config.max_upload_bytes,
        max_rows=config.import_max_rows,
        max_columns=config.import_max_columns,
        max_cells=config.import_max_cells,
        max_strings=config.import_max_strings,
        max_characters=config.import_max_characters,
        deadline=deadline,
    )
    return tabular.read_table(data, filename, register.column_names, register.required, limits=limits)


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
    try:
        rows = read_rows(register, data, filename, config, deadline=deadline)
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
            check.add(register.key, _duplicate_message(key, duplicates[key.lower()], row.number))
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
                report.refused(error)
    good = []
    for check, item in checks:
        if check.problems:
            for error in check.errors(register.column_names):
                report.add(error)
        elif item is not None:
            good.append((check.row.number, item))
    return Checked(report, good)


Unit = Callable[[], AbstractContextManager[Session]]
# Told how far an import is, between two batches: (rows settled, data rows of the file). It may
# raise to stop the import (a background run past its deadline): the writes stop there, and an
# all-or-nothing import is undone.
Progress = Callable[[int, int], None]


class _Refused(Exception):
    """Raised inside a batch's unit to roll the batch back: an all-or-nothing import is refused."""


def _write(
    register: Register,
    checked: Checked,
    actor: Actor,
    config: ServiceConfig,
    unit: Unit,
    written: list[int],
    *,
    partial: bool,
    deadline: float | None,
    progress: Progress | None = None,
) -> None:
    """Create the checked rows batch by batch, each batch in its own `unit` (a transaction, or a
    savepoint of the caller's), appending the ids of the records written to `written`. All or
    nothing: a refused row rolls its batch back and the batches before are undone. `progress`
    hears of every batch written."""
    report = checked.report
    settled = report.total_rows - len(checked.good)  # the rows with problems: never written
    try:
        for start in range(0, len(checked.good), BATCH):
            if deadline is not None and time.monotonic() > deadline:
                report.add(RowError(0, "", _stopped_message(config) if partial else timeout_message(config)))
                if partial:
                    break
                raise _Refused
            batch = checked.good[start : start + BATCH]
            ids: list[int] = []
            with unit() as session:
                created = _attempt(session, register, [item for _number, item in batch], actor, config)
                if isinstance(created, list):
                    ids += [record.id for record in created]
                else:  # the batch again row by row, to tell the refused rows
                    for number, item in batch:
                        one = _attempt(session, register, [item], actor, config)
                        if isinstance(one, list):
                            ids += [record.id for record in one]
                            continue
                        report.add(RowError(number, one.field or "", one.message))
                        report.refused(one)
                        if not partial:
                            raise _Refused
                _release(session, register.release)
            written += ids
            report.created += len(ids)
            if progress is not None:
                progress(settled + start + len(batch), report.total_rows)
    except _Refused:
        _undo(register, written, actor, unit, report)
    report.errors.sort(key=lambda e: e.row)


def _attempt(
    session: Session, register: Register, items: list, actor: Actor, config: ServiceConfig
) -> list | ServiceError:
    """Create items under a savepoint: the records, or what refused them."""
    try:
        with session.begin_nested():
            return register.create(session, items, actor, config)
    except ServiceError as exc:
        return exc
    except IntegrityError:
        return Conflict(_("This row conflicts with a change made meanwhile: import the file again."))


def _undo(register: Register, written: list[int], actor: Actor, unit: Unit, report: ImportReport) -> None:
    """All or nothing after a refusal: remove what the import wrote so far, batch by batch, each
    batch a unit of its own (no long write transaction), then record the undoing. A record the
    rules no longer let go (a vendor engaged meanwhile) is kept, and the report says so."""
    kept = 0
    for start in range(0, len(written), BATCH):
        chunk = written[start : start + BATCH]
        try:
            with unit() as session:
                register.undo(session, chunk, actor)
        except ServiceError:
            for record_id in chunk:  # one by one, to keep only what must be kept
                try:
                    with unit() as session:
                        register.undo(session, [record_id], actor)
                except ServiceError:
                    kept += 1
    if written:
        with unit() as session:
            audit.record(
                session,
                actor,
                f"{register.name}.import_undone",
                object_type=register.object_type,
                object_id=register.name,
                removed=len(written) - kept,
                kept=kept,
            )
    report.created = kept
    if kept:
        report.add(RowError(0, "", _kept_message(kept)))
    written.clear()


def _undo_after_failure(register: Register, written: list[int], actor: Actor, unit: Unit, report) -> None:
    """An all-or-nothing import failed on an unexpected error: undo what it committed, if the
    database lets us (the error itself is raised again by the caller)."""
    if not written:
        return
    try:
        _undo(register, written, actor, unit, report)
    except Exception:  # noqa: BLE001 - the original error matters more; this one is logged
        log.exception("undoing the %d %s written by a failed import failed", len(written), register.name)


def _kept_message(kept: int) -> str:
    return ngettext(
        "%(num)d record this import wrote was changed meanwhile and was kept: check it and remove it by hand.",
        "%(num)d records this import wrote were changed meanwhile and were kept: check them and remove them by hand.",
        kept,
    )


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
    progress: Progress | None = None,
) -> ImportReport:
    """Import a register file (see the module docstring): checks in a read transaction, then
    writes in short transactions of their own, committed. The web, the API, the command line
    and the background runs (`secgov.exchange.background`) call this; nothing of theirs may hold
    a write transaction meanwhile. `progress` hears how far it is once the checks are done and
    after every batch written (a background run records it, and stops there past its deadline)."""
    deadline = time.monotonic() + config.import_max_seconds
    with new_session(engine, write=False) as session:
        checked = check_file(session, register, data, filename, actor, config, deadline=deadline)
    report = checked.report
    try:
        if progress is not None:
            progress(
                report.total_rows - len(checked.good) if _writes(checked, partial) else report.total_rows,
                report.total_rows,
            )
        _import_checked(
            engine, register, checked, filename, actor, config, partial=partial, deadline=deadline, progress=progress
        )
    finally:
        audit.record_refusals(engine, report.refusals)
    return report


def _import_checked(
    engine: Engine,
    register: Register,
    checked: Checked,
    filename: str,
    actor: Actor,
    config: ServiceConfig,
    *,
    partial: bool,
    deadline: float,
    progress: Progress | None,
) -> None:
    report = checked.report
    if not _writes(checked, partial):
        return

    @contextmanager
    def transaction() -> Iterator[Session]:
        with write_session(engine) as session:
            yield session
        writers_turn(engine)  # a sign-in waiting for the lock gets it between two batches

    written: list[int] = []
    try:
        _write(
            register,
            checked,
            actor,
            config,
            transaction,
            written,
            partial=partial,
            deadline=deadline,
            progress=progress,
        )
    except BaseException:
        if not partial:
            _undo_after_failure(register, written, actor, transaction, report)
        raise
    if report.written:
        with write_session(engine) as session:
            _record_import(session, register, actor, filename, report, partial)
            if report.created >= ANALYZE_AFTER:
                refresh_statistics(session, register.statistics)


def _writes(checked: Checked, partial: bool) -> bool:
    """Whether the checked file is written at all: it has good rows, and all or nothing was not
    asked while some row has a problem."""
    return bool(checked.good) and (partial or not checked.report.problems)


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

        # On an unexpected error the caller's transaction is rolled back: nothing to undo.
        _write(register, checked, actor, config, savepoint, [], partial=False, deadline=None)
        if report.written:
            _record_import(session, register, actor, filename, report, False)
    audit.record_refused(session, report.refusals)  # in the caller's transaction: one unit of work
    return report

"""Exporting a register: every record in scope matching the filters, as CSV or XLSX, audited."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from secgov import audit, localtime, tabular
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.exchange.registers import Register

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXPORT_PAGE = 200


def _cell(value: Any, tz: str) -> Any:
    """A record's value as an export cell; a moment is ISO 8601 in the city's zone with its offset
    (a time without a zone is refused: it could be read in two zones)."""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return localtime.exported(value, tz)
    return "" if value is None else value


def _rows(register: Register, records: Iterable[BaseModel], counter: list[int], tz: str) -> Iterator[list[Any]]:
    for record in records:
        counter[0] += 1
        yield [_cell(getattr(record, name), tz) for name in register.column_names]


@dataclass(frozen=True)
class Export:
    """An export made: the file, its name and type, and how many records it holds."""

    data: bytes
    filename: str
    content_type: str
    rows: int


def export(
    session: Session, register: Register, query: BaseModel, actor: Actor, config: ServiceConfig, *, audited: bool = True
) -> Export:
    """Every record in the actor's scope matching the export query's filters, as CSV or XLSX with
    the import's columns (so an export can be imported again), formulas neutralised. Audited (who,
    which channel, format, filters, rows) in a transaction of its own, since exports are reads."""
    fmt = query.format
    filters = register.filters.model_validate(query.model_dump(exclude={"format"}, exclude_defaults=True))
    counter = [0]
    rows = _rows(register, register.records(session, actor, filters), counter, config.timezone)
    if fmt == "xlsx":
        data = tabular.write_xlsx(register.column_names, rows, sheet_title=register.name)
    else:
        data = tabular.write_csv(register.column_names, rows)
    if audited:
        event = audit.Event(
            f"{register.name}.exported",
            object_type=register.object_type,
            object_id=register.name,
            extra={"format": fmt, "rows": counter[0], "filters": filters.model_dump(exclude_defaults=True)},
        )
        audit.record_aside(session.get_bind(), actor, [event])
    return Export(data, export_filename(register.name, fmt, config), CONTENT_TYPES[fmt], counter[0])


def export_filename(register: str, fmt: str, config: ServiceConfig, now: datetime | None = None) -> str:
    """secgov-assets-20250101.csv: the register, the date in the city's time zone, the format."""
    moment = localtime.local(now or datetime.now(UTC), config.timezone)
    return f"secgov-{register}-{moment:%Y%m%d}.{fmt}"


def pages(list_page: Callable[[BaseModel], tuple[list, int]], filters: BaseModel) -> Iterator[list]:
    """Every page of a list service for an export (EXPORT_PAGE records at a time)."""
    page = 1
    while True:
        items, total = list_page(filters.model_copy(update={"page": page, "page_size": EXPORT_PAGE}))
        yield items
        if not items or page * EXPORT_PAGE >= total:
            return
        page += 1

"""Times, one rule for the whole application.

- **Pages** show the local time of the city's zone (`SECGOV_TIMEZONE`, the configuration's
  `BABEL_DEFAULT_TIMEZONE`, Asia/Shanghai by default) with the zone named: "2026-12-06 17:35 UTC+8"
  (`shown`; the templates' filter `localtime`, installed by `secgov.web`).
- **The API** gives ISO 8601 in UTC with its offset: "2026-12-06T09:35:00+00:00" (the schemas'
  type `Instant`; the audit log's `created_at` is stored in that form).
- **Exports** give ISO 8601 in the city's zone with its offset: "2026-12-06T17:35:00+08:00"
  (`exported`), which a spreadsheet reader compares with the pages at a glance.

A time without a zone is refused everywhere (`instant`): it could be read in two zones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema


@cache
def zone(name: str) -> ZoneInfo:
    """The time zone called name (an IANA name: "Asia/Shanghai")."""
    return ZoneInfo(name)


def instant(value: datetime | str) -> datetime:
    """A timezone-aware datetime of a datetime or an ISO 8601 text; a time without a zone is a
    ValueError (it could be read in two zones)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a time without a time zone: {value!r}")
    return moment


def local(value: datetime | str, tz: str) -> datetime:
    """The moment in the zone tz."""
    return instant(value).astimezone(zone(tz))


def offset_label(moment: datetime) -> str:
    """The zone of an aware datetime as its offset from UTC: "UTC+8", "UTC-3:30", "UTC"."""
    minutes = int(instant(moment).utcoffset().total_seconds()) // 60
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def shown(value: datetime | str, tz: str, *, seconds: bool = False) -> str:
    """The text a page shows for a moment: local date and time in tz, then the zone."""
    moment = local(value, tz)
    clock = f"{moment:%H:%M:%S}" if seconds else f"{moment:%H:%M}"
    return f"{moment:%Y-%m-%d} {clock} {offset_label(moment)}"


def utc_text(value: datetime | str) -> str:
    """ISO 8601 in UTC with its offset, as the API gives every time."""
    return instant(value).astimezone(UTC).isoformat()


def exported(value: datetime, tz: str) -> str:
    """ISO 8601 in the zone tz with its offset, to the second, as exports give every time."""
    return local(value, tz).isoformat(timespec="seconds")


def day_start(day: date, tz: str) -> datetime:
    """When a calendar day of the zone tz begins, in UTC (the date filters read days locally)."""
    return datetime.combine(day, time(), tzinfo=zone(tz)).astimezone(UTC)


# A moment in an API answer: refused without a zone, written in UTC with "+00:00".
Instant = Annotated[
    datetime,
    AfterValidator(instant),
    PlainSerializer(utc_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

"""Drills and corrective-action due dates as iCalendar (RFC 5545), built with the `icalendar` library.

Pure: the caller gives plain values (texts already translated, URLs already absolute) and gets the bytes
of a `text/calendar` body. One drill (`drill_ics`) or a personal feed (`feed_ics`).

The choices, and why:

- **Identity and updates.** UID is `drill-{id}@{host}` / `action-{id}@{host}`: stable, so a calendar that
  imports the file again or refreshes the feed replaces the item instead of duplicating it. SEQUENCE is
  the drill's version and LAST-MODIFIED its last change. DTSTAMP is that change too (in UTC), not the
  moment of the request: the object describes the drill as it was stored then, and the same data give
  the same bytes (HTTP caching, tests).
- **Times.** DTSTART and DTEND are written as local times of the city's zone with TZID, plus a VTIMEZONE
  generated from the IANA database for the years the calendar covers, so a client shows the drill at the
  same instant wherever it is. DTEND is computed on the absolute time line (start + minutes in UTC,
  then converted), so a drill across a DST change lasts its real duration. The zone "UTC" is written
  with the `Z` form and needs no VTIMEZONE.
- **Status.** cancelled -> STATUS:CANCELLED (the item stays, struck through, so nobody keeps the slot
  by mistake); planned, in_progress and completed -> CONFIRMED: a planned drill is scheduled, not
  tentative (TENTATIVE would read as "maybe" in Outlook and Thunderbird).
- **Corrective actions** are all-day VEVENTs (DTSTART;VALUE=DATE on the due date, DTEND the next day,
  TRANSP:TRANSPARENT so they never block free/busy time), not VTODOs: many calendar programs (and
  calendar subscriptions in phones) ignore VTODO, and a deadline you cannot see is no deadline.
- **People.** ORGANIZER (the lead) and ATTENDEE (participants) carry the name as CN and the address as a
  `mailto:` URI. RFC 5545 requires a URI there; someone without an address gets `invalid:nomail`, a
  valid URI that reaches nobody. ROLE=REQ-PARTICIPANT, RSVP=FALSE: METHOD:PUBLISH expects no replies.
- **Reminder.** An optional VALARM (ACTION:DISPLAY, TRIGGER before the start); none on a cancelled drill.
- **Calendar.** PRODID, VERSION:2.0, CALSCALE:GREGORIAN, METHOD:PUBLISH, NAME (RFC 7986) and X-WR-CALNAME
  (what Google, Apple and Outlook read), X-WR-TIMEZONE; the feed also suggests an hourly refresh
  (REFRESH-INTERVAL, X-PUBLISHED-TTL).
- **Text safety.** Every text goes through the library's TEXT escaping (`\\`, `;`, `,`, newlines: a
  title cannot start a new property), parameters through RFC 6868 quoting, and URIs (URL, mailto) are
  percent-encoded: no input can add a line. The library folds lines at 75 octets without splitting a
  UTF-8 character, and ends every line with CRLF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress, vDuration, vText

from secgov.localtime import zone

PRODID = "-//SecGov//Drills//EN"
NO_ADDRESS = "invalid:nomail"
_DRILL_STATUS = {"planned": "CONFIRMED", "in_progress": "CONFIRMED", "completed": "CONFIRMED", "cancelled": "CANCELLED"}
_ACTION_STATUS = {"open": "CONFIRMED", "in_progress": "CONFIRMED", "closed": "CONFIRMED", "cancelled": "CANCELLED"}
# Characters a URI may hold as they are (RFC 3986 reserved and unreserved, and "%" of existing escapes).
_URI_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


@dataclass(frozen=True)
class DrillEvent:
    """A drill as a calendar shows it."""

    id: int
    title: str
    description: str
    start: datetime
    minutes: int
    status: str
    url: str
    organizer: str
    organizer_email: str
    attendees: tuple[tuple[str, str], ...]
    categories: tuple[str, ...]
    sequence: int
    updated: datetime
    reminder_minutes: int | None = None


@dataclass(frozen=True)
class ActionDue:
    """A corrective action's due date as a calendar shows it."""

    id: int
    title: str
    description: str
    due: date
    status: str
    url: str
    sequence: int
    updated: datetime


def drill_ics(event: DrillEvent, *, tz: str, host: str, name: str) -> bytes:
    """One drill as an iCalendar file (the drill page's download)."""
    return _calendar([event], [], tz=tz, host=host, name=name, feed=False)


def feed_ics(drills: Sequence[DrillEvent], actions: Sequence[ActionDue], *, tz: str, host: str, name: str) -> bytes:
    """A person's feed: the drills they lead or take part in and their corrective actions' due dates."""
    return _calendar(drills, actions, tz=tz, host=host, name=name, feed=True)


def _calendar(
    drills: Sequence[DrillEvent], actions: Sequence[ActionDue], *, tz: str, host: str, name: str, feed: bool
) -> bytes:
    zoneinfo = zone(tz)
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", "PUBLISH")
    # The library types these as unknown (written as given): they are text, and escaped as text.
    cal.add("NAME", vText(name))
    cal.add("X-WR-CALNAME", vText(name))
    cal.add("X-WR-TIMEZONE", vText(tz))
    if feed:
        cal.add("REFRESH-INTERVAL", timedelta(hours=1), parameters={"VALUE": "DURATION"})
        cal.add("X-PUBLISHED-TTL", vDuration(timedelta(hours=1)))
    for drill in drills:
        cal.add_component(_drill_event(drill, zoneinfo, host))
    for action in actions:
        cal.add_component(_action_event(action, host))
    if drills:
        # Only the years the calendar covers: the whole 1970-2038 default takes longer and says no more.
        years = [d.start.astimezone(zoneinfo).year for d in drills]
        cal.add_missing_timezones(first_date=date(min(years) - 1, 1, 1), last_date=date(max(years) + 2, 1, 1))
    return cal.to_ical()


def _drill_event(drill: DrillEvent, zoneinfo: ZoneInfo, host: str) -> Event:
    if drill.minutes <= 0:
        raise ValueError(f"drill {drill.id}: the duration must be positive, not {drill.minutes} minutes")
    start = _aware(drill.start, "start")
    event = Event()
    event.add("UID", f"drill-{drill.id}@{_host(host)}")
    _stamp(event, drill.updated, drill.sequence)
    event.add("SUMMARY", drill.title)
    if drill.description:
        event.add("DESCRIPTION", drill.description)
    event.add("DTSTART", start.astimezone(zoneinfo))
    event.add("DTEND", (start.astimezone(UTC) + timedelta(minutes=drill.minutes)).astimezone(zoneinfo))
    event.add("STATUS", _status(_DRILL_STATUS, drill.status))
    event.add("TRANSP", "OPAQUE")
    if drill.url:
        event.add("URL", _uri(drill.url))
    event.add("ORGANIZER", _address(drill.organizer, drill.organizer_email))
    for person, email in drill.attendees:
        attendee = _address(person, email)
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["RSVP"] = "FALSE"
        event.add("ATTENDEE", attendee)
    categories = [c for c in drill.categories if c]
    if categories:
        event.add("CATEGORIES", categories)
    if drill.reminder_minutes is not None and drill.status != "cancelled":
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", drill.title)
        alarm.add("TRIGGER", timedelta(minutes=-drill.reminder_minutes))
        event.add_component(alarm)
    return event


def _action_event(action: ActionDue, host: str) -> Event:
    event = Event()
    event.add("UID", f"action-{action.id}@{_host(host)}")
    _stamp(event, action.updated, action.sequence)
    event.add("SUMMARY", action.title)
    if action.description:
        event.add("DESCRIPTION", action.description)
    event.add("DTSTART", action.due)
    event.add("DTEND", action.due + timedelta(days=1))
    event.add("STATUS", _status(_ACTION_STATUS, action.status))
    event.add("TRANSP", "TRANSPARENT")
    if action.url:
        event.add("URL", _uri(action.url))
    return event


def _stamp(event: Event, updated: datetime, sequence: int) -> None:
    changed = _aware(updated, "updated").astimezone(UTC)
    event.add("DTSTAMP", changed)
    event.add("LAST-MODIFIED", changed)
    event.add("SEQUENCE", max(sequence, 0))


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} has no time zone: {moment.isoformat()}")
    return moment


def _status(mapping: dict[str, str], status: str) -> str:
    try:
        return mapping[status]
    except KeyError:
        raise ValueError(f"unknown status {status!r}") from None


def _address(person: str, email: str) -> vCalAddress:
    """A CAL-ADDRESS: mailto: with the name as CN (controls become spaces: a parameter holds one line)."""
    address = vCalAddress(f"mailto:{_uri(email.strip())}" if email.strip() else NO_ADDRESS)
    cn = " ".join(_one_line(person).split())
    if cn:
        address.params["CN"] = cn
    return address


def _uri(value: str) -> str:
    """A URI as it may stand in a property value: controls, spaces and non-ASCII percent-encoded."""
    return quote(value.strip(), safe=_URI_SAFE)


def _one_line(text: str) -> str:
    return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)


def _host(host: str) -> str:
    if not host or any(c.isspace() or ord(c) < 32 or c in '@;,\\"' for c in host):
        raise ValueError(f"not a host name for a UID: {host!r}")
    return host

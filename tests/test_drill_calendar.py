"""The drills' iCalendar output: parsed back with icalendar, and imported into a real calendar program
(Debian's calcurse)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from drills.calendar import ActionDue, DrillEvent, drill_ics, feed_ics

pytestmark = pytest.mark.nodb

HOST = "secgov.test"
SHANGHAI = "Asia/Shanghai"
BERLIN = "Europe/Berlin"


def drill(**overrides) -> DrillEvent:
    values = {
        "id": 7,
        "title": "Tabletop: ransomware on the traffic signals",
        "description": "Scenario: the signal controllers are encrypted.",
        "start": datetime(2026, 5, 12, 1, 30, tzinfo=UTC),  # 09:30 in Shanghai
        "minutes": 150,
        "status": "planned",
        "url": "https://secgov.test/drills/7",
        "organizer": "Wang Fang",
        "organizer_email": "wang.fang@city.test",
        "attendees": (("Li Lei", "li.lei@city.test"), ("External observer", "")),
        "categories": ("Tabletop", "Grade II"),
        "sequence": 4,
        "updated": datetime(2026, 4, 30, 6, 15, 20, tzinfo=UTC),
        "reminder_minutes": 60,
    }
    values.update(overrides)
    return DrillEvent(**values)


def action(**overrides) -> ActionDue:
    values = {
        "id": 31,
        "title": "Action due: segment the signal network",
        "description": "From drill 7.",
        "due": date(2026, 6, 30),
        "status": "open",
        "url": "https://secgov.test/drills/actions/31",
        "sequence": 2,
        "updated": datetime(2026, 5, 20, 8, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return ActionDue(**values)


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def unknown_text(value) -> str:
    """A text property icalendar's parser leaves escaped (NAME, X-WR-CALNAME), unescaped (RFC 5545 3.3.11)."""
    raw = value.to_ical().decode("utf-8")
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), raw)


def lines(data: bytes) -> list[bytes]:
    """The content lines as written (folded), CRLF removed; fails on any bare LF or CR."""
    assert data.endswith(b"\r\n")
    body = data[: -len(b"\r\n")].split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in body), "a line ends without CRLF"
    return body


def test_one_drill_parses_back_with_every_property():
    data = drill_ics(drill(), tz=SHANGHAI, host=HOST, name="Drill 7")
    cal = parse(data)

    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == "-//SecGov//Drills//EN"
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    assert str(cal["METHOD"]) == "PUBLISH"
    assert unknown_text(cal["X-WR-CALNAME"]) == "Drill 7"
    assert unknown_text(cal["NAME"]) == "Drill 7"

    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == "drill-7@secgov.test"
    assert str(event["SUMMARY"]) == "Tabletop: ransomware on the traffic signals"
    assert str(event["DESCRIPTION"]) == "Scenario: the signal controllers are encrypted."
    assert str(event["URL"]) == "https://secgov.test/drills/7"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert int(event["SEQUENCE"]) == 4

    # Local time of the zone, with its TZID, and a VTIMEZONE that defines it.
    assert event["DTSTART"].params["TZID"] == SHANGHAI
    assert event["DTEND"].params["TZID"] == SHANGHAI
    assert b"DTSTART;TZID=Asia/Shanghai:20260512T093000" in lines(data)
    assert b"DTEND;TZID=Asia/Shanghai:20260512T120000" in lines(data)
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start == datetime(2026, 5, 12, 1, 30, tzinfo=UTC)
    assert end - start == timedelta(minutes=150)
    (vtimezone,) = cal.walk("VTIMEZONE")
    assert str(vtimezone["TZID"]) == SHANGHAI
    assert vtimezone.to_tz().utcoffset(datetime(2026, 5, 12, 9, 30)) == timedelta(hours=8)

    # DTSTAMP and LAST-MODIFIED: the drill's last change, in UTC.
    assert b"DTSTAMP:20260430T061520Z" in lines(data)
    assert event.decoded("LAST-MODIFIED") == datetime(2026, 4, 30, 6, 15, 20, tzinfo=UTC)

    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:wang.fang@city.test"
    assert organizer.params["CN"] == "Wang Fang"
    attendees = [(a.params["CN"], str(a), a.params["ROLE"]) for a in event["ATTENDEE"]]
    assert attendees == [
        ("Li Lei", "mailto:li.lei@city.test", "REQ-PARTICIPANT"),
        ("External observer", "invalid:nomail", "REQ-PARTICIPANT"),
    ]
    assert list(event["CATEGORIES"].cats) == ["Tabletop", "Grade II"]

    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm.decoded("TRIGGER") == timedelta(minutes=-60)
    assert str(alarm["DESCRIPTION"]) == "Tabletop: ransomware on the traffic signals"


def test_the_same_drill_gives_the_same_bytes():
    assert drill_ics(drill(), tz=SHANGHAI, host=HOST, name="x") == drill_ics(drill(), tz=SHANGHAI, host=HOST, name="x")


@pytest.mark.parametrize(
    ("status", "expected", "alarms"),
    [
        ("planned", "CONFIRMED", 1),
        ("in_progress", "CONFIRMED", 1),
        ("completed", "CONFIRMED", 1),
        ("cancelled", "CANCELLED", 0),
    ],
)
def test_drill_status_and_its_reminder(status, expected, alarms):
    (event,) = parse(drill_ics(drill(status=status), tz=SHANGHAI, host=HOST, name="x")).walk("VEVENT")
    assert str(event["STATUS"]) == expected
    assert len(event.walk("VALARM")) == alarms


def test_no_reminder_and_no_people_without_addresses():
    data = drill_ics(
        drill(reminder_minutes=None, organizer_email="", attendees=(), categories=()), tz=SHANGHAI, host=HOST, name="x"
    )
    (event,) = parse(data).walk("VEVENT")
    assert not event.walk("VALARM")
    assert "ATTENDEE" not in event
    assert "CATEGORIES" not in event
    assert str(event["ORGANIZER"]) == "invalid:nomail"
    assert event["ORGANIZER"].params["CN"] == "Wang Fang"


@pytest.mark.parametrize(
    "bad",
    [
        {"start": datetime(2026, 5, 12, 9, 30)},
        {"updated": datetime(2026, 5, 12, 9, 30)},
        {"minutes": 0},
        {"status": "postponed"},
    ],
)
def test_refused_inputs(bad):
    with pytest.raises(ValueError):
        drill_ics(drill(**bad), tz=SHANGHAI, host=HOST, name="x")


def test_a_host_cannot_break_the_uid():
    with pytest.raises(ValueError):
        drill_ics(drill(), tz=SHANGHAI, host="secgov.test\r\nATTENDEE:mailto:x@evil.test", name="x")


def test_chinese_and_special_characters_round_trip_and_lines_are_folded():
    title = "桌面推演：交通信号系统遭勒索软件攻击, phase 1; part A \\ backslash"
    description = "情景：信号控制器被加密。\n第二行, 含逗号; 含分号\n" + "很长的说明文字，" * 40
    organizer = "王芳 (演练负责人), 应急办"
    categories = ("桌面推演", "II级, 重大")
    name = "应急演练, 王芳; 个人日历"
    data = feed_ics(
        [drill(title=title, description=description, organizer=organizer, categories=categories)],
        [action(title="整改期限：隔离信号网络; 第一步", description="来自演练 7,\n负责人：李雷")],
        tz=SHANGHAI,
        host=HOST,
        name=name,
    )
    raw = lines(data)
    assert max(len(line) for line in raw) <= 75
    assert any(line.startswith(b" ") for line in raw), "the long description is folded"
    for line in raw:
        line.decode("utf-8")  # folding never splits a UTF-8 character

    cal = parse(data)
    assert unknown_text(cal["X-WR-CALNAME"]) == name
    assert unknown_text(cal["NAME"]) == name
    event, due = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == title
    assert str(event["DESCRIPTION"]) == description
    assert event["ORGANIZER"].params["CN"] == organizer
    assert list(event["CATEGORIES"].cats) == list(categories)
    assert str(due["SUMMARY"]) == "整改期限：隔离信号网络; 第一步"
    assert str(due["DESCRIPTION"]) == "来自演练 7,\n负责人：李雷"


def test_no_input_can_inject_a_property_or_a_component():
    evil = "\r\nATTENDEE:mailto:evil@attacker.test\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:forged"
    data = feed_ics(
        [
            drill(
                title="Drill" + evil,
                description="Scenario" + evil,
                organizer='Wang "Fang"' + evil,
                organizer_email="wang@city.test" + evil,
                attendees=(("Li" + evil, "li@city.test" + evil),),
                categories=("Tabletop" + evil,),
                url="https://secgov.test/drills/7" + evil,
            )
        ],
        [action(title="Action" + evil, description=evil, url="https://secgov.test/a/31" + evil)],
        tz=SHANGHAI,
        host=HOST,
        name="Feed" + evil,
    )
    raw = lines(data)
    assert not [line for line in raw if line.startswith((b"ATTENDEE:", b"UID:forged"))]
    assert raw.count(b"BEGIN:VEVENT") == 2
    assert raw.count(b"END:VEVENT") == 2

    cal = parse(data)
    event, due = cal.walk("VEVENT")
    assert [str(e["UID"]) for e in (event, due)] == ["drill-7@secgov.test", "action-31@secgov.test"]
    as_text = evil.replace("\r\n", "\n")
    assert str(event["SUMMARY"]) == "Drill" + as_text
    assert str(event["DESCRIPTION"]) == "Scenario" + as_text
    assert list(event["CATEGORIES"].cats) == ["Tabletop" + as_text]
    assert str(due["SUMMARY"]) == "Action" + as_text
    assert unknown_text(cal["X-WR-CALNAME"]) == "Feed" + as_text
    attendee = event["ATTENDEE"]  # one attendee: a single value, not a list
    assert str(attendee).startswith("mailto:li@city.test%0D%0AATTENDEE:")
    assert "\n" not in attendee.params["CN"]
    assert "\n" not in event["ORGANIZER"].params["CN"]
    assert str(event["ORGANIZER"]).startswith("mailto:wang@city.test%0D%0A")
    assert str(event["URL"]).startswith("https://secgov.test/drills/7%0D%0A")


def test_a_zone_with_summer_time_gives_the_right_offsets():
    spring = drill(id=1, start=datetime(2026, 3, 29, 0, 30, tzinfo=UTC), minutes=120)  # 01:30 CET, ends 04:30 CEST
    summer = drill(id=2, start=datetime(2026, 7, 1, 8, 0, tzinfo=UTC), minutes=60)
    winter = drill(id=3, start=datetime(2026, 12, 1, 8, 0, tzinfo=UTC), minutes=60)
    data = feed_ics([spring, summer, winter], [], tz=BERLIN, host=HOST, name="x")
    raw = lines(data)
    for written in (
        b"DTSTART;TZID=Europe/Berlin:20260329T013000",
        b"DTEND;TZID=Europe/Berlin:20260329T043000",
        b"DTSTART;TZID=Europe/Berlin:20260701T100000",
        b"DTSTART;TZID=Europe/Berlin:20261201T090000",
    ):
        assert written in raw

    cal = parse(data)
    (vtimezone,) = cal.walk("VTIMEZONE")  # one for all three
    assert str(vtimezone["TZID"]) == BERLIN
    assert {c.name for c in vtimezone.subcomponents} == {"STANDARD", "DAYLIGHT"}
    # The VTIMEZONE itself (not the local zone database) says what the local times mean.
    defined = vtimezone.to_tz()
    assert defined.utcoffset(datetime(2026, 3, 29, 1, 30)) == timedelta(hours=1)
    assert defined.utcoffset(datetime(2026, 3, 29, 4, 30)) == timedelta(hours=2)
    assert defined.utcoffset(datetime(2026, 7, 1, 10, 0)) == timedelta(hours=2)
    assert defined.utcoffset(datetime(2026, 12, 1, 9, 0)) == timedelta(hours=1)

    by_uid = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    for source in (spring, summer, winter):
        event = by_uid[f"drill-{source.id}@{HOST}"]
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert start == source.start
        # Real elapsed time, across the change too (aware datetimes of one zone subtract as wall clocks).
        assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(minutes=source.minutes)


def test_utc_is_written_with_z_and_needs_no_vtimezone():
    data = drill_ics(drill(), tz="UTC", host=HOST, name="x")
    assert b"DTSTART:20260512T013000Z" in lines(data)
    assert b"DTEND:20260512T040000Z" in lines(data)
    assert not parse(data).walk("VTIMEZONE")


def test_a_start_given_in_another_zone_is_written_in_the_calendar_zone():
    start = datetime(2026, 5, 12, 3, 30, tzinfo=ZoneInfo(BERLIN))  # 01:30 UTC, 09:30 in Shanghai
    assert b"DTSTART;TZID=Asia/Shanghai:20260512T093000" in lines(
        drill_ics(drill(start=start), tz=SHANGHAI, host=HOST, name="x")
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [("open", "CONFIRMED"), ("in_progress", "CONFIRMED"), ("closed", "CONFIRMED"), ("cancelled", "CANCELLED")],
)
def test_actions_are_all_day_events(status, expected):
    data = feed_ics([], [action(status=status)], tz=SHANGHAI, host=HOST, name="x")
    raw = lines(data)
    assert b"DTSTART;VALUE=DATE:20260630" in raw
    assert b"DTEND;VALUE=DATE:20260701" in raw
    (event,) = parse(data).walk("VEVENT")
    assert str(event["UID"]) == "action-31@secgov.test"
    assert event.decoded("DTSTART") == date(2026, 6, 30)
    assert not isinstance(event.decoded("DTSTART"), datetime)
    assert event.decoded("DTEND") == date(2026, 7, 1)
    assert str(event["SUMMARY"]) == "Action due: segment the signal network"
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert str(event["STATUS"]) == expected
    assert int(event["SEQUENCE"]) == 2
    assert str(event["URL"]) == "https://secgov.test/drills/actions/31"
    assert b"DTSTAMP:20260520T080000Z" in raw
    assert not parse(data).walk("VTIMEZONE")  # dates need no zone


def test_a_feed_holds_drills_and_actions_once_each():
    drills = [drill(id=i, start=datetime(2025 + i, 5, 1, tzinfo=UTC)) for i in (1, 2, 3)]
    actions = [action(id=i, due=date(2026, 1, i)) for i in (1, 2)]
    cal = parse(feed_ics(drills, actions, tz=SHANGHAI, host=HOST, name="Mine"))
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert uids == [f"drill-{i}@{HOST}" for i in (1, 2, 3)] + [f"action-{i}@{HOST}" for i in (1, 2)]
    assert len(cal.walk("VTIMEZONE")) == 1
    assert unknown_text(cal["X-WR-CALNAME"]) == "Mine"


def test_an_empty_feed_is_still_a_valid_calendar():
    data = feed_ics([], [], tz=SHANGHAI, host=HOST, name="Nothing planned")
    raw = lines(data)
    assert raw[0] == b"BEGIN:VCALENDAR"
    assert raw[-1] == b"END:VCALENDAR"
    cal = parse(data)
    assert cal.name == "VCALENDAR"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == "-//SecGov//Drills//EN"
    assert unknown_text(cal["X-WR-CALNAME"]) == "Nothing planned"
    assert not cal.subcomponents


# --- a real calendar program -------------------------------------------------------------------


def calcurse(tmp_path: Path, *args: str, tz: str) -> str:
    """Run calcurse on its own data and configuration directories under tmp_path (never the real home)."""
    program = shutil.which("calcurse")
    if program is None:
        pytest.fail("calcurse is not installed: `make setup` installs it (scripts/system-deps, Debian's calcurse)")
    data, config = tmp_path / "calcurse-data", tmp_path / "calcurse-config"
    data.mkdir(exist_ok=True)
    config.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TZ": tz,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    result = subprocess.run(
        [program, "-D", str(data), "-C", str(config), *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=60,
        check=False,
    )
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, (
        f"calcurse {args}: {result.returncode}\n{out}\n{result.stderr.decode('utf-8', 'replace')}"
    )
    return out


def agenda(tmp_path: Path, first: str, days: int, *, tz: str) -> dict[str, list[str]]:
    """calcurse's agenda: day (YYYY-MM-DD) -> its items, appointments as "HH:MM HH:MM title"."""
    out = calcurse(
        tmp_path,
        "--input-datefmt", "4",
        "--output-datefmt", "%Y-%m-%d",
        "--format-apt", "APT %S %E %m\n",
        "--format-event", "DAY %m\n",
        "-Q", "--filter-type", "cal", "--from", first, "--days", str(days),
        tz=tz,
    )  # fmt: skip
    days_seen: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}:", line):
            current = line[:-1]
            days_seen[current] = []
        elif line.strip():
            assert current is not None, out
            days_seen[current].append(line)
    return days_seen


def test_calcurse_imports_the_feed_at_the_right_local_times(tmp_path):
    drills = [
        # Written in Berlin's zone, read by calcurse in Shanghai's: 01:30 CET = 00:30 UTC = 08:30 in Shanghai.
        drill(id=1, title="Ransomware tabletop", start=datetime(2026, 3, 29, 0, 30, tzinfo=UTC), minutes=120),
        drill(id=2, title="DDoS 功能演练, portal", start=datetime(2026, 7, 1, 6, 0, tzinfo=UTC), minutes=90),
    ]
    actions = [action(id=5, title="Action due: patch the VPN", due=date(2026, 4, 10))]
    ics = tmp_path / "feed.ics"
    ics.write_bytes(feed_ics(drills, actions, tz=BERLIN, host=HOST, name="Drills"))

    report = calcurse(tmp_path, "-i", str(ics), tz=SHANGHAI)
    assert "2 apps / 1 event / 0 todos / 0 skipped" in " ".join(report.split()), report

    seen = agenda(tmp_path, "2026-03-01", 153, tz=SHANGHAI)
    assert seen == {
        "2026-03-29": ["APT 08:30 10:30 Ransomware tabletop"],
        "2026-04-10": ["DAY Action due: patch the VPN"],
        "2026-07-01": ["APT 14:00 15:30 DDoS 功能演练, portal"],
    }


def test_calcurse_in_the_zone_of_the_file_sees_the_change_to_summer_time(tmp_path):
    """calcurse stores wall-clock times of the zone it imports in: in Berlin, the spring drill starts in
    winter time and ends in summer time."""
    drills = [
        drill(id=1, title="Ransomware tabletop", start=datetime(2026, 3, 29, 0, 30, tzinfo=UTC), minutes=120),
        drill(id=2, title="Water SCADA full-scale", start=datetime(2026, 7, 1, 6, 0, tzinfo=UTC), minutes=90),
    ]
    ics = tmp_path / "feed.ics"
    ics.write_bytes(feed_ics(drills, [], tz=BERLIN, host=HOST, name="Drills"))
    calcurse(tmp_path, "-i", str(ics), tz=BERLIN)
    assert agenda(tmp_path, "2026-03-01", 153, tz=BERLIN) == {
        "2026-03-29": ["APT 01:30 04:30 Ransomware tabletop"],
        "2026-07-01": ["APT 08:00 09:30 Water SCADA full-scale"],
    }


def test_calcurse_imports_a_single_drill_and_an_empty_feed(tmp_path):
    one = tmp_path / "drill.ics"
    one.write_bytes(drill_ics(drill(), tz=SHANGHAI, host=HOST, name="Drill 7"))
    calcurse(tmp_path, "-i", str(one), tz=SHANGHAI)
    assert agenda(tmp_path, "2026-05-12", 1, tz=SHANGHAI) == {
        "2026-05-12": ["APT 09:30 12:00 Tabletop: ransomware on the traffic signals"]
    }

    empty = tmp_path / "empty.ics"
    empty.write_bytes(feed_ics([], [], tz=SHANGHAI, host=HOST, name="Nothing"))
    report = calcurse(tmp_path, "-i", str(empty), tz=SHANGHAI)
    assert "0 apps / 0 events / 0 todos / 0 skipped" in " ".join(report.split()), report


def test_shifting_a_drill_by_a_day_moves_it_in_calcurse(tmp_path):
    """Guards the agenda reader itself: a wrong date must be seen as wrong."""
    moved = replace(drill(), start=drill().start + timedelta(days=1))
    ics = tmp_path / "moved.ics"
    ics.write_bytes(drill_ics(moved, tz=SHANGHAI, host=HOST, name="x"))
    calcurse(tmp_path, "-i", str(ics), tz=SHANGHAI)
    assert agenda(tmp_path, "2026-05-12", 2, tz=SHANGHAI) == {
        "2026-05-13": ["APT 09:30 12:00 Tabletop: ransomware on the traffic signals"]
    }

"""The drills domain's appraisal measures: drills held as required and corrective actions closed
on time. The records, the owners' terms and the period are written with explicit moments (time
stands still for the test); each figure is computed here from the test's own description of the
records, never with the domain's functions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from factories import config_of
from sqlalchemy import event
from sqlmodel import select

from assets.models import Asset
from drills.models import CorrectiveAction, Drill, DrillAsset, DrillDepartment
from secgov import domains, responsibility
from secgov.accountability.measures import period_of
from secgov.authz import Actor
from secgov.models import Department, User

SYSTEM = Actor.system("cli")
MEASURES = {m.code: m for m in domains.registry().measures}
TZ = "Asia/Shanghai"
CITY = ZoneInfo(TZ)
# The second quarter of 2026, appraised after it ended: as_of is the period's end.
PERIOD = period_of("2026-Q2", date(2026, 4, 1), date(2026, 6, 30), TZ)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A moment of the city's calendar, in UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=CITY).astimezone(UTC)


def holder(terms: list[tuple[datetime, str]], moment: datetime) -> str | None:
    """Who held a duty at a moment: the latest term begun by then (the test's own reading)."""
    begun = [who for start, who in sorted(terms) if start <= moment]
    return begun[-1] if begun else None


def tally(items) -> Counter:
    """(person, good) → how many: from (person, good) pairs."""
    return Counter(items)


def collected(app, session, code: str, period=PERIOD, as_of=None):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        return list(MEASURES[code].collect(session, period, as_of or period.end, config_of(app)))


@pytest.fixture
def people(app, session, city, make_user):
    for name, dept, roles in (
        ("o1", "a1", ("officer",)), ("o2", "a1", ("officer",)), ("o3", "b", ("officer",)),
        ("h.a1", "a1", ("leader",)), ("h.a", "a", ("leader",)), ("h.a2", "a", ("leader",)),
        ("h.b", "b", ("leader",)), ("h.b2", "b", ("leader",)), ("lead", "a1", ("drill_team",)),
    ):  # fmt: skip
        make_user(name, roles=roles, department=dept)
    users = {u.username: u for u in session.exec(select(User)).all()}
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    return {"users": users, "depts": depts}


def _terms(app, session, people, subject_type, subject_id, duty, terms):
    """Write the terms of a duty in order (each ends the one before at its start)."""
    users = people["users"]
    with app.test_request_context():
        for start, who in sorted(terms):
            responsibility.assign(session, subject_type, subject_id, duty, users[who], SYSTEM, at=start)
        session.commit()


def _drill(session, people, dept: str, ended: datetime, *, assets=(), departments=(), status="completed"):
    lead = people["users"]["lead"]
    drill = Drill(
        title=f"Drill ended {ended:%Y-%m-%d %H:%M}", department_id=people["depts"][dept].id, exercise_type="tabletop",
        incident_grade="II", lead_id=lead.id, planned_start=ended - timedelta(hours=2), duration_minutes=60,
        status=status, started_at=ended - timedelta(hours=1), ended_at=ended if status == "completed" else None,
        completed_at=ended if status == "completed" else None, created_by="test",
    )  # fmt: skip
    session.add(drill)
    session.flush()
    for asset in assets:
        session.add(DrillAsset(drill_id=drill.id, asset_id=asset.id))
    for code in departments:
        session.add(DrillDepartment(drill_id=drill.id, department_id=people["depts"][code].id))
    session.commit()
    return drill


# --- drills held as required ----------------------------------------------------------------------

# Each asset: its department, whether it is CII, when it was registered, the ends of the completed
# drills naming it (city moments), and its owners' terms.
ASSETS = {
    # Covered by a drill that ended on the period's last evening (the city's day).
    "X1": dict(dept="a1", cii=True, drills=[at(date(2026, 6, 30), 23, 30)], owners=[(LONG_AGO, "o1")]),
    # Its only drill ended the day before the coverage period began; its owner changed mid-period.
    "X2": dict(
        dept="a1",
        cii=True,
        drills=[at(date(2025, 6, 29))],
        owners=[(LONG_AGO, "o1"), (at(date(2026, 5, 15)), "o2")],
    ),  # fmt: skip
    # Its drill ended half an hour after the period (the city's next day): not yet.
    "X3": dict(dept="b", cii=True, drills=[at(date(2026, 7, 1), 0, 30)], owners=[(LONG_AGO, "o3")]),
    # No drill; reassigned after the period: its owner of the period's end answers.
    "X4": dict(dept="b", cii=True, drills=[], owners=[(LONG_AGO, "o3"), (at(date(2026, 7, 10)), "o1")]),
    # Registered after the period: not required then.
    "X5": dict(dept="a1", cii=True, drills=[], owners=[(LONG_AGO, "o1")], created=at(date(2026, 7, 15))),
    # A drill on the first day of the coverage period covers it; nobody owns it: a gap.
    "X6": dict(dept="a1", cii=True, drills=[at(date(2025, 6, 30), 10)], owners=[]),
    # Not CII: needs no drill, but its department holds a system in operation.
    "N1": dict(dept="a", cii=False, drills=[], owners=[(LONG_AGO, "o2")]),
}
# Drills naming a department, and the departments' heads.
DEPARTMENT_DRILLS = {"b": [at(date(2025, 5, 1))]}
HEADS = {
    "a1": [(LONG_AGO, "h.a1")],
    "a": [(LONG_AGO, "h.a"), (at(date(2026, 6, 1)), "h.a2")],
    "b": [(LONG_AGO, "h.b"), (at(date(2026, 8, 1)), "h.b2")],
}
PARENTS = {"a1": "a", "a": "city", "b": "city", "city": None}


@pytest.fixture
def coverage_world(app, session, people):
    made = {}
    for code, spec in ASSETS.items():
        made[code] = Asset(
            code=code, name=f"System {code}", sector="transport", department_id=people["depts"][spec["dept"]].id,
            is_cii=spec["cii"], created_at=spec.get("created", LONG_AGO),
            cii_designated_on=date(2024, 1, 1) if spec["cii"] else None,
        )  # fmt: skip
        session.add(made[code])
        session.commit()
        for ended in spec["drills"]:
            _drill(session, people, spec["dept"], ended, assets=[made[code]])
        _terms(app, session, people, "asset", made[code].id, "owner", spec["owners"])
    for dept, ends in DEPARTMENT_DRILLS.items():
        for ended in ends:
            _drill(session, people, dept, ended, departments=[dept])
    # A drill still planned, and one cancelled, cover nothing.
    _drill(session, people, "b", at(date(2026, 6, 1)), assets=[made["X4"]], status="planned")
    _drill(session, people, "b", at(date(2026, 6, 2)), assets=[made["X4"]], status="cancelled")
    for dept, terms in HEADS.items():
        _terms(app, session, people, "department", people["depts"][dept].id, "head", terms)
    return made


def _expected_coverage(as_of: datetime, last_day: date):
    """What the test expects: (record type, code, holder, good) for every required item."""
    since = date(last_day.year - 1, last_day.month, last_day.day)  # 12 months before (no 29 February here)

    def counts(moment: datetime) -> bool:
        day = moment.astimezone(CITY).date()
        return since <= day <= last_day

    items = []
    created_by_then = {
        c: s for c, s in ASSETS.items() if s.get("created", LONG_AGO).astimezone(CITY).date() <= last_day
    }
    for code, spec in created_by_then.items():
        if spec["cii"]:
            good = any(counts(end) for end in spec["drills"])
            items.append(("asset", code, holder(spec["owners"], as_of), good))
    # Departments holding a system in operation (every asset here is in operation); covered by a
    # drill naming them, one of their systems, or one of their sub-departments.
    holding = {s["dept"] for s in created_by_then.values()}

    def below(dept: str, top: str) -> bool:
        while dept is not None:
            if dept == top:
                return True
            dept = PARENTS[dept]
        return False

    for dept in sorted(holding):
        ends = [e for s in ASSETS.values() for e in s["drills"] if below(s["dept"], dept)]
        ends += [e for d, es in DEPARTMENT_DRILLS.items() for e in es if below(d, dept)]
        items.append(("department", dept, holder(HEADS.get(dept, []), as_of), any(counts(e) for e in ends)))
    return items


def _names(session, people, outcomes):
    users = {u.id: u.username for u in people["users"].values()}
    return [(o.record_type, o.record_id, users.get(o.user_id), o.good) for o in outcomes]


def test_drills_held_counts_what_coverage_required_at_the_period_end(app, session, people, coverage_world):
    outcomes = collected(app, session, "drills_held")
    expected = _expected_coverage(PERIOD.end, PERIOD.ends_on)
    ids = {("asset", c): a.id for c, a in coverage_world.items()}
    ids.update({("department", c): d.id for c, d in people["depts"].items()})
    assert sorted(_names(session, people, outcomes)) == sorted(
        (kind, ids[(kind, code)], who, good) for kind, code, who, good in expected
    )
    assert tally((who, good) for _k, _c, who, good in expected) == tally(
        (who, good) for _k, _i, who, good in _names(session, people, outcomes)
    )
    # The figures the test reads from its own description, spelled out.
    assert tally((who, good) for _k, _c, who, good in expected) == Counter(
        {("o1", True): 1, ("o2", False): 1, ("o3", False): 2, (None, True): 1, ("h.a1", True): 1,
         ("h.a2", True): 1, ("h.b", False): 1}
    )  # fmt: skip
    by_record = {(o.record_type, o.record_id): o for o in outcomes}
    x2 = by_record[("asset", coverage_world["X2"].id)]
    assert x2.department_id == people["depts"]["a1"].id and x2.at == PERIOD.end
    assert "2025-06-29" in x2.note
    b = by_record[("department", people["depts"]["b"].id)]
    assert b.department_id == people["depts"]["b"].id and not b.good
    assert {o.measure for o in outcomes} == {"drills_held"}


def test_drills_held_while_the_period_runs_counts_as_of_now(app, session, people, coverage_world):
    """As of a moment in the period (1 July's morning of a third quarter): X3's drill, ended half
    an hour into the day, counts; X5 registered later does not yet; a reassignment after the
    moment is not seen."""
    q3 = period_of("2026-Q3", date(2026, 7, 1), date(2026, 9, 30), TZ)
    as_of = at(date(2026, 7, 1), 9)
    outcomes = collected(app, session, "drills_held", period=q3, as_of=as_of)
    expected = _expected_coverage(as_of, date(2026, 7, 1))
    assert tally((who, good) for _k, _c, who, good in expected) == tally(
        (who, good) for _k, _i, who, good in _names(session, people, outcomes)
    )
    x3 = next(o for o in outcomes if o.record_id == coverage_world["X3"].id and o.record_type == "asset")
    assert x3.good and x3.user_id == people["users"]["o3"].id
    # Before the period begins nothing counts.
    assert collected(app, session, "drills_held", period=q3, as_of=q3.start - timedelta(days=1)) == []


# --- corrective actions closed on time ------------------------------------------------------------

# Each action: its due date, status, when it was closed (city moments) and its owners' terms.
ACTIONS = {
    "closed on its due day's evening": dict(
        due=date(2026, 5, 10), status="closed", closed=at(date(2026, 5, 10), 23), owners=[(LONG_AGO, "o1")]
    ),
    "closed just after midnight": dict(
        due=date(2026, 5, 10),
        status="closed",
        closed=at(date(2026, 5, 11), 0, 30),
        owners=[(LONG_AGO, "o1"), (at(date(2026, 5, 10), 12), "o2")],
    ),  # fmt: skip
    "open at the end": dict(
        due=date(2026, 6, 30), status="open", closed=None, owners=[(LONG_AGO, "o2"), (at(date(2026, 7, 5)), "o3")]
    ),
    "in progress": dict(due=date(2026, 4, 1), status="in_progress", closed=None, owners=[(LONG_AGO, "o3")]),
    "cancelled": dict(
        due=date(2026, 6, 15), status="cancelled", closed=at(date(2026, 6, 1)), owners=[(LONG_AGO, "o1")]
    ),
    "due before the period": dict(due=date(2026, 3, 31), status="open", closed=None, owners=[(LONG_AGO, "o1")]),
    "due after the period": dict(due=date(2026, 7, 1), status="open", closed=None, owners=[(LONG_AGO, "o1")]),
    "closed after the period, late": dict(
        due=date(2026, 6, 30), status="closed", closed=at(date(2026, 8, 1)), owners=[(LONG_AGO, "o3")]
    ),
    "closed early, owner changed before its due day": dict(
        due=date(2026, 4, 20),
        status="closed",
        closed=at(date(2026, 4, 1)),
        owners=[(LONG_AGO, "o1"), (at(date(2026, 4, 10)), "o3")],
    ),  # fmt: skip
}


@pytest.fixture
def action_world(app, session, people):
    drill = _drill(session, people, "a1", at(date(2026, 3, 1)))
    made = {}
    for title, spec in ACTIONS.items():
        first = spec["owners"][0][1]
        row = CorrectiveAction(
            drill_id=drill.id, department_id=people["users"][first].department_id, title=title,
            owner_id=people["users"][first].id, due_date=spec["due"], status=spec["status"], closed_at=spec["closed"],
            created_by="test",
        )  # fmt: skip
        session.add(row)
        session.commit()
        _terms(app, session, people, "corrective_action", row.id, "owner", spec["owners"])
        made[title] = row
    return made


def _expected_actions(first_day: date, last_day: date, as_of: datetime):
    """(title, holder, good): due in [first_day, last_day], due day over by as_of, not cancelled;
    good when closed on or before the due day; the owner at the end of the due day."""
    items = []
    for title, spec in ACTIONS.items():
        due_over = datetime.combine(spec["due"] + timedelta(days=1), time(), tzinfo=CITY)
        if spec["status"] == "cancelled" or not first_day <= spec["due"] <= last_day or due_over > as_of:
            continue
        closed = spec["closed"]
        good = closed is not None and closed.astimezone(CITY).date() <= spec["due"]
        items.append((title, holder(spec["owners"], due_over.astimezone(UTC)), good))
    return items


def test_actions_closed_on_time_in_the_period(app, session, people, action_world):
    outcomes = collected(app, session, "actions_on_time")
    users = {u.id: u.username for u in people["users"].values()}
    got = [(o.title, users.get(o.user_id), o.good) for o in outcomes]
    expected = _expected_actions(PERIOD.starts_on, PERIOD.ends_on, PERIOD.end)
    assert sorted(got) == sorted(expected)
    assert tally((who, good) for _t, who, good in got) == tally((who, good) for _t, who, good in expected)
    assert tally((who, good) for _t, who, good in expected) == Counter(
        {("o1", True): 1, ("o2", False): 2, ("o3", False): 2, ("o3", True): 1}
    )
    by_title = {o.title: o for o in outcomes}
    late = by_title["closed just after midnight"]
    assert late.note == "closed 1 day late" and late.record_type == "corrective_action"
    assert late.at == datetime.combine(date(2026, 5, 11), time(), tzinfo=CITY).astimezone(UTC)
    assert late.department_id == action_world["closed just after midnight"].department_id
    assert by_title["open at the end"].note == "not closed"


def test_actions_due_after_as_of_wait_for_their_due_day_to_end(app, session, people, action_world):
    """While the period runs: an action due the day before counts, one due that very day not yet."""
    as_of = at(date(2026, 5, 10), 20)  # the evening of the due day of the first two
    outcomes = collected(app, session, "actions_on_time", as_of=as_of)
    expected = _expected_actions(PERIOD.starts_on, PERIOD.ends_on, as_of)
    users = {u.id: u.username for u in people["users"].values()}
    assert sorted((o.title, users.get(o.user_id), o.good) for o in outcomes) == sorted(expected)
    assert {o.title for o in outcomes} == {"in progress", "closed early, owner changed before its due day"}
    # Once the due day is over, both count.
    later = collected(app, session, "actions_on_time", as_of=at(date(2026, 5, 11), 0, 0))
    assert {o.title for o in later} >= {"closed on its due day's evening", "closed just after midnight"}


def test_the_statements_do_not_grow_with_the_records(app, session, people, coverage_world, action_world):
    engine = app.extensions["secgov_engine"]
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    def count(code: str) -> int:
        session.expire_all()
        seen.clear()
        event.listen(engine, "before_cursor_execute", note)
        try:
            assert collected(app, session, code)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        return len(seen)

    small = {code: count(code) for code in ("drills_held", "actions_on_time")}
    drill = _drill(session, people, "b", at(date(2026, 3, 1)))
    for i in range(40):
        session.add(
            CorrectiveAction(
                drill_id=drill.id,
                department_id=people["depts"]["b"].id,
                title=f"more {i}",
                owner_id=people["users"]["o3"].id,
                due_date=date(2026, 5, 1) + timedelta(days=i),
                created_by="test",
            )  # fmt: skip
        )
    session.commit()
    for i in range(30):
        session.add(
            Asset(code=f"MORE-{i}", name=f"More {i}", sector="transport", department_id=people["depts"]["b"].id,
                  is_cii=True, created_at=LONG_AGO)
        )  # fmt: skip
    session.commit()
    assert {code: count(code) for code in small} == small
    assert max(small.values()) <= 12

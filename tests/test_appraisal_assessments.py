"""The assessments domain's appraisal measures (assessments/appraisal.py): assessments on time,
risks treated on time and remediation time. Time is frozen by giving every record its own moments
in 2025 and asking about the period 2025 as of a fixed moment; the figures expected are worked out
here from the same table of records, with the owners' terms, not read back from the database."""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from factories import config_of
from sqlalchemy import event
from sqlmodel import select

from assessments import appraisal
from assessments.models import Assessment, Risk, RiskAcceptance
from assets.models import Asset, AssetGrade
from secgov import domains, responsibility, settings
from secgov.accountability.measures import period_of
from secgov.authz import Actor
from secgov.localtime import zone
from secgov.models import Department, User

SYSTEM = Actor.system("cli")
MEASURES = {m.code: m for m in domains.registry().measures}
# Only the MLPS evaluation of level 3, every 12 months: one required assessment per asset.
INTERVALS = {"mlps_evaluation": {"3": 12}, "cii_annual": 0, "self_inspection": 0, "due_soon_days": 30}
CUT = date(2025, 6, 15)  # the day the owners change hands (at noon)

# Assets: code, department, lifecycle, the day it was graded at level 3, and its approved
# evaluations (finished on, decided on).
ASSETS = {
    "A": ("a1", "operational", date(2024, 3, 10), [(date(2025, 3, 1), date(2025, 3, 5))]),  # due 2025-03-10: on time
    "B": ("a1", "operational", date(2024, 8, 20), [(date(2025, 8, 25), date(2025, 8, 30))]),  # due 08-20: late
    "C": ("a1", "operational", date(2023, 5, 5), [(date(2024, 5, 1), date(2024, 5, 2))]),  # due 2025-05-01: not done
    "D": ("b", "operational", date(2024, 11, 2), [(date(2025, 10, 30), date(2025, 11, 5))]),  # finished, approved late
    "E": ("a1", "building", date(2025, 2, 1), []),  # due 2026-02-01: after the period
    "F": ("a1", "operational", date(2024, 12, 15), [(date(2025, 12, 10), date(2026, 1, 10))]),  # approved after as_of
    "G": ("a1", "retired", date(2024, 4, 1), []),  # retired: nothing is required
    "H": (
        "b",
        "operational",
        date(2024, 1, 15),
        [(date(2025, 1, 10), date(2025, 1, 12)), (date(2025, 12, 20), date(2025, 12, 21))],
    ),  # fmt: skip
}
# Owners of the assets: before CUT and from CUT on (the b assets keep theirs).
ASSET_OWNERS = {"a1": ("owner.one", "owner.two"), "b": ("owner.b", "owner.b")}

# Risks: on asset, created on, due date, status, treatment, closed on, acceptance (from, expires,
# ended on) or None.
RISKS = {
    "R1": ("A", date(2025, 1, 5), date(2025, 3, 31), "closed", "reduce", date(2025, 3, 20), None),
    "R2": ("A", date(2025, 1, 5), date(2025, 9, 30), "closed", "reduce", date(2025, 10, 5), None),
    "R3": ("B", date(2025, 2, 1), date(2025, 5, 15), "open", "reduce", None, None),
    "R4": (
        "B",
        date(2025, 2, 1),
        date(2025, 4, 10),
        "accepted",
        "accept",
        None,
        (date(2025, 4, 1), date(2025, 12, 31), None),
    ),  # fmt: skip
    "R5": ("A", date(2025, 2, 1), date(2025, 6, 1), "closed", "accept", date(2025, 5, 20), None),
    "R6": ("C", date(2024, 10, 1), date(2024, 12, 20), "closed", "reduce", date(2025, 1, 10), None),
    "R7": ("C", date(2025, 3, 1), date(2026, 1, 15), "closed", "transfer", date(2025, 12, 1), None),
    "R8": ("A", date(2025, 2, 1), None, "closed", "reduce", date(2025, 4, 1), None),
    "R9": ("B", date(2024, 11, 1), None, "closed", "avoid", date(2025, 3, 1), None),
    "R10": ("C", date(2025, 4, 1), date(2025, 11, 30), "closed", "reduce", date(2026, 1, 5), None),
    "R11": (
        "A",
        date(2025, 1, 2),
        date(2025, 2, 15),
        "open",
        "reduce",
        None,
        (date(2025, 1, 5), date(2025, 2, 1), date(2025, 2, 1)),
    ),  # fmt: skip
    "R12": ("D", date(2025, 6, 1), date(2025, 7, 20), "closed", "reduce", date(2025, 7, 10), None),
    "R13": ("H", date(2023, 1, 1), date(2025, 12, 31), "in_treatment", "reduce", None, None),
}
RISK_OWNERS = {"a1": ("risk.one", "risk.two"), "b": ("risk.b", "risk.b")}


def _at(day: date, hour: int, tz: str) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone(tz)).astimezone(UTC)


def _year_later(day: date) -> date:
    """Twelve months later (the test's own arithmetic; the tables use no 29th to 31st)."""
    assert day.day <= 28 or calendar.monthrange(day.year + 1, day.month)[1] >= day.day
    return day.replace(year=day.year + 1)


def _approved(asset_id: int, finished: date, decided: date, tz: str, kind: str = "mlps_evaluation") -> Assessment:
    return Assessment(
        asset_id=asset_id, kind=kind, status="approved", title=f"Evaluation {finished}", created_by="t",
        started_on=finished - timedelta(days=20), finished_on=finished, decided_by="leader",
        decided_at=_at(decided, 16, tz),
    )  # fmt: skip


def _risk_row(asset_id: int, code: str, created: date, due: date | None, status: str, treatment: str,
              closed: date | None, tz: str) -> Risk:  # fmt: skip
    return Risk(
        asset_id=asset_id, title=f"Risk {code}", likelihood=3, impact=3, level="moderate", treatment=treatment,
        due_date=due, status=status, created_by="t", created_on=created,
        closed_at=_at(closed, 15, tz) if closed else None,
    )  # fmt: skip


def _acceptance(risk_id: int, since: date, expires: date, ended: date | None, tz: str) -> RiskAcceptance:
    return RiskAcceptance(
        risk_id=risk_id, level="moderate", reason="r", expires_on=expires, accepted_by="leader",
        accepted_at=_at(since, 10, tz), status="expired" if ended else "active",
        ended_at=_at(ended, 1, tz) if ended else None,
    )  # fmt: skip


def _owners(session, subject_type: str, subject_id: int, before: User, after: User, tz: str) -> None:
    """`before` holds the duty from 2023 until CUT at noon, `after` since."""
    responsibility.assign(session, subject_type, subject_id, "owner", before, SYSTEM, at=_at(date(2023, 1, 1), 9, tz))
    responsibility.assign(session, subject_type, subject_id, "owner", after, SYSTEM, at=_at(CUT, 12, tz))


def _asset(session, code: str, department: Department, lifecycle: str, graded: date, tz: str) -> Asset:
    asset = Asset(
        code=code, name=f"System {code}", sector="transport", department_id=department.id, mlps_level=3,
        lifecycle=lifecycle, created_at=_at(date(2023, 1, 1), 9, tz),
    )  # fmt: skip
    session.add(asset)
    session.flush()
    session.add(AssetGrade(asset_id=asset.id, mlps_level=3, changed_at=_at(graded, 9, tz), changed_by="t"))
    return asset


@pytest.fixture
def world(app, session, city, make_user):
    tz = config_of(app).timezone
    for name, dept in (("owner.one", "a1"), ("owner.two", "a1"), ("owner.b", "b"), ("risk.one", "a1"),
                       ("risk.two", "a1"), ("risk.b", "b")):  # fmt: skip
        make_user(name, roles=("officer",), department=dept)
    users = {u.username: u for u in session.exec(select(User)).all()}
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    with app.test_request_context():
        intervals = {"assessment_intervals": INTERVALS}
        settings.update(session, domains.registry().settings, intervals, SYSTEM, config_of(app))
        assets = {}
        for code, (dept, lifecycle, graded, done) in ASSETS.items():
            asset = assets[code] = _asset(session, code, depts[dept], lifecycle, graded, tz)
            session.add_all([_approved(asset.id, finished, decided, tz) for finished, decided in done])
            # A draft never counts, nor an ad-hoc assessment.
            session.add(Assessment(asset_id=asset.id, kind="mlps_evaluation", started_on=CUT, created_by="t"))
            session.add(_approved(asset.id, date(2025, 2, 2), date(2025, 2, 3), tz, kind="ad_hoc"))
            before, after = ASSET_OWNERS[dept]
            _owners(session, "asset", asset.id, users[before], users[after], tz)
        risks = {}
        for code, (on, created, due, status, treatment, closed, acceptance) in RISKS.items():
            risk = risks[code] = _risk_row(assets[on].id, code, created, due, status, treatment, closed, tz)
            session.add(risk)
            session.flush()
            if acceptance:
                session.add(_acceptance(risk.id, *acceptance, tz))
            before, after = RISK_OWNERS[ASSETS[on][0]]
            _owners(session, "risk", risk.id, users[before], users[after], tz)
        session.commit()
    return {"assets": assets, "risks": risks, "users": users, "depts": depts, "tz": tz}


def _collect(app, session, code, as_of, period):
    return MEASURES[code].collect(session, period, as_of, config_of(app))


def _period(app):
    return period_of("2025", date(2025, 1, 1), date(2025, 12, 31), config_of(app).timezone)


def _owner_at(owners: tuple[str, str], moment: datetime, tz: str) -> str:
    return owners[0] if moment < _at(CUT, 12, tz) else owners[1]


def _tally(outcomes, users) -> Counter:
    names = {u.id: u.username for u in users.values()}
    return Counter((names.get(o.user_id), o.good) for o in outcomes)


def _expected_assessments(world, last_day: date, as_of: datetime, leads=None) -> list[tuple]:
    """(asset, record type, good, owner, due) of every required evaluation due in 2025 by last_day;
    the one who answers is the asset's assessment lead on the day after the due date (`leads`:
    asset code -> (from, until, who)), else its owner then."""
    tz = world["tz"]
    leads = leads or {}
    found = []
    for code, (dept, lifecycle, graded, done) in ASSETS.items():
        if lifecycle == "retired":
            continue
        base, approved = graded, [(f, d) for f, d in done if _at(d, 16, tz) <= as_of]
        for finished, decided in [*approved, (None, None)]:
            due = _year_later(base)
            if date(2025, 1, 1) <= due <= last_day:
                moment = _at(due + timedelta(days=1), 0, tz)
                start, end, lead = leads.get(code, (None, None, None))
                owner = lead if lead and start <= moment < end else _owner_at(ASSET_OWNERS[dept], moment, tz)
                if finished is None:
                    found.append((code, "asset", False, owner, due))
                else:
                    found.append((code, "assessment", max(finished, decided) <= due, owner, due))
            if finished is not None:
                base = finished
    return found


@pytest.mark.parametrize("as_of_day", [date(2026, 1, 1), date(2025, 7, 1)])
def test_assessments_on_time_count_each_due_date_for_its_owner_then(app, session, world, as_of_day):
    tz, period = world["tz"], _period(app)
    as_of = min(period.end, _at(as_of_day, 0, tz))
    found = _collect(app, session, "assessments_on_time", as_of, period)
    expected = _expected_assessments(world, as_of_day - timedelta(days=1), as_of)
    assert _tally(found, world["users"]) == Counter((owner, good) for _c, _t, good, owner, _d in expected)
    ids = {code: a.id for code, a in world["assets"].items()}
    by_code = {a.id: code for code, a in world["assets"].items()}
    assessments = {a.id: a.asset_id for a in session.exec(select(Assessment)).all()}
    shown = sorted(
        (by_code[o.record_id if o.record_type == "asset" else assessments[o.record_id]], o.record_type, o.good)
        for o in found
    )
    assert shown == sorted((code, kind, good) for code, kind, good, _o, _d in expected)
    for o in found:
        code = by_code[o.record_id if o.record_type == "asset" else assessments[o.record_id]]
        assert o.department_id == world["depts"][ASSETS[code][0]].id
        assert o.record_type in MEASURES["assessments_on_time"].links
    if as_of_day == date(2026, 1, 1):
        # The figures of the closed year, spelled out: the reassignment in June splits unit a1.
        assert _tally(found, world["users"]) == Counter(
            {("owner.one", True): 1, ("owner.one", False): 1, ("owner.two", False): 2, ("owner.b", True): 1,
             ("owner.b", False): 1}
        )  # fmt: skip
        late = next(o for o in found if o.record_type == "assessment" and assessments[o.record_id] == ids["B"])
        assert late.at == _at(date(2025, 8, 21), 0, tz)
    else:
        assert _tally(found, world["users"]) == Counter({("owner.one", True): 1, ("owner.one", False): 1,
                                                         ("owner.b", True): 1})  # fmt: skip


def test_the_assessment_lead_named_on_the_due_date_answers_for_it(app, session, world, make_user):
    """A's lead from January to April (A fell due on 10 March: theirs); B's lead's term ended on
    20 August at noon, before B's due date was over (the owner's); D's lead is open-ended from
    July (D fell due on 2 November: theirs)."""
    tz, period = world["tz"], _period(app)
    make_user("lead.one", roles=("officer",), department="a1")
    lead = session.exec(select(User).where(User.username == "lead.one")).one()
    leads = {
        "A": (_at(date(2025, 1, 1), 9, tz), _at(date(2025, 4, 1), 9, tz), "lead.one"),
        "B": (_at(date(2025, 8, 1), 9, tz), _at(date(2025, 8, 20), 12, tz), "lead.one"),
        "D": (_at(date(2025, 7, 1), 9, tz), datetime.max.replace(tzinfo=UTC), "lead.one"),
    }
    with app.test_request_context():
        for code, (start, end, _who) in leads.items():
            until = None if end.year == datetime.max.year else end
            asset_id = world["assets"][code].id
            responsibility.assign(session, "asset", asset_id, "assessment_lead", lead, SYSTEM, at=start, until=until)
        session.commit()
    users = {**world["users"], "lead.one": lead}
    as_of = period.end
    found = _collect(app, session, "assessments_on_time", as_of, period)
    want = _expected_assessments(world, date(2025, 12, 31), as_of, leads)
    assert _tally(found, users) == Counter((owner, good) for _c, _t, good, owner, _d in want)
    assert want != _expected_assessments(world, date(2025, 12, 31), as_of)
    assert sorted(code for code, _t, _g, owner, _d in want if owner == "lead.one") == ["A", "D"]


def _expected_treatment(world, last_day: date, as_of: datetime) -> list[tuple]:
    tz = world["tz"]
    found = []
    for code, (on, _created, due, _status, treatment, closed, acceptance) in RISKS.items():
        if due is None or not date(2025, 1, 1) <= due <= last_day:
            continue
        if acceptance and acceptance[0] <= due < acceptance[1] and (acceptance[2] is None or acceptance[2] > due):
            continue  # accepted on its due day
        if closed is not None and closed <= due and treatment == "accept":
            continue  # closed without treatment
        done = closed is not None and _at(closed, 15, tz) <= as_of
        owner = _owner_at(RISK_OWNERS[ASSETS[on][0]], _at(due + timedelta(days=1), 0, tz), tz)
        found.append((code, done and closed <= due, owner))
    return found


@pytest.mark.parametrize("as_of_day", [date(2026, 1, 1), date(2025, 7, 1)])
def test_risks_treated_on_time_count_each_due_date_for_its_remediation_owner(app, session, world, as_of_day):
    tz, period = world["tz"], _period(app)
    as_of = min(period.end, _at(as_of_day, 0, tz))
    found = _collect(app, session, "risks_treated_on_time", as_of, period)
    expected = _expected_treatment(world, as_of_day - timedelta(days=1), as_of)
    codes = {r.id: code for code, r in world["risks"].items()}
    assert sorted((codes[o.record_id], o.good) for o in found) == sorted((c, g) for c, g, _o in expected)
    assert _tally(found, world["users"]) == Counter((owner, good) for _c, good, owner in expected)
    for o in found:
        risk = world["risks"][codes[o.record_id]]
        assert o.at == _at(risk.due_date + timedelta(days=1), 0, tz)
        assert o.department_id == world["assets"][RISKS[codes[o.record_id]][0]].department_id
        assert o.record_type == "risk"
    if as_of_day == date(2026, 1, 1):
        # R1 on time, R3 and R11 not (risk.one, before June); R2 and R10 late (risk.two); R12 and
        # R13 in b. R4 was accepted and R5 closed without treatment.
        assert sorted((codes[o.record_id], o.good) for o in found) == [
            ("R1", True), ("R10", False), ("R11", False), ("R12", True), ("R13", False), ("R2", False), ("R3", False),
        ]  # fmt: skip
    else:
        assert sorted(codes[o.record_id] for o in found) == ["R1", "R11", "R3"]


def _expected_remediation(world, as_of: datetime) -> list[tuple]:
    tz = world["tz"]
    found = []
    for code, (on, created, due, status, treatment, closed, _acceptance) in RISKS.items():
        if status != "closed" or treatment == "accept" or not date(2025, 1, 1) <= closed <= date(2025, 12, 31):
            continue
        if _at(closed, 15, tz) > as_of:
            continue
        days = (closed - created).days
        good = closed <= due if due else days <= appraisal.UNDATED_TARGET_DAYS
        found.append((code, float(days), good, _owner_at(RISK_OWNERS[ASSETS[on][0]], _at(closed, 15, tz), tz)))
    return found


@pytest.mark.parametrize("as_of_day", [date(2026, 1, 1), date(2025, 7, 1)])
def test_remediation_time_counts_the_days_to_closing(app, session, world, as_of_day):
    tz, period = world["tz"], _period(app)
    as_of = min(period.end, _at(as_of_day, 0, tz))
    found = _collect(app, session, "remediation_time", as_of, period)
    expected = _expected_remediation(world, as_of)
    codes = {r.id: code for code, r in world["risks"].items()}
    assert sorted((codes[o.record_id], o.value, o.good) for o in found) == sorted((c, v, g) for c, v, g, _o in expected)
    assert _tally(found, world["users"]) == Counter((owner, good) for _c, _v, good, owner in expected)
    if as_of_day == date(2026, 1, 1):
        assert sorted((codes[o.record_id], o.value, o.good) for o in found) == [
            ("R1", 74.0, True), ("R12", 39.0, True), ("R2", 273.0, False), ("R6", 101.0, False), ("R7", 275.0, True),
            ("R8", 59.0, True), ("R9", 120.0, False),
        ]  # fmt: skip
    assert str(appraisal.UNDATED_TARGET_DAYS) in MEASURES["remediation_time"].help


def test_the_measures_are_declared_with_their_weights():
    declared = [(m.code, m.kind, m.weight, m.order) for m in MEASURES.values() if m.code in (
        "assessments_on_time", "risks_treated_on_time", "remediation_time")]  # fmt: skip
    assert declared == [
        ("assessments_on_time", "rate", 20, 10),
        ("risks_treated_on_time", "rate", 20, 20),
        ("remediation_time", "average", 10, 30),
    ]
    assert MEASURES["remediation_time"].unit == "days"


def test_the_statements_do_not_grow_with_the_records(app, session, world):
    engine = app.extensions["secgov_engine"]
    period, tz = _period(app), world["tz"]
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    def count() -> int:
        session.expire_all()
        seen.clear()
        event.listen(engine, "before_cursor_execute", note)
        try:
            for code in ("assessments_on_time", "risks_treated_on_time", "remediation_time"):
                assert _collect(app, session, code, period.end, period)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        return len(seen)

    small = count()
    owner, a1 = world["users"]["owner.one"], world["depts"]["a1"]
    with app.test_request_context():
        for i in range(40):
            asset = _asset(session, f"X{i}", a1, "operational", date(2024, 3, 1 + i % 20), tz)
            session.add(_approved(asset.id, date(2025, 2, 20), date(2025, 3, 1), tz))
            risk = _risk_row(
                asset.id, f"X{i}", date(2025, 1, 1), date(2025, 5, 1), "closed", "reduce", date(2025, 4, 1), tz
            )
            session.add(risk)
            session.flush()
            _owners(session, "asset", asset.id, owner, owner, tz)
            _owners(session, "risk", risk.id, owner, owner, tz)
        session.commit()
    assert count() == small, "the appraisal's statements grew with the number of records"
    assert small <= 12

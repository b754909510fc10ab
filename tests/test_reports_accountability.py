"""The compliance report's chapter "Accountability and appraisal", and the overdue chapter's people
responsible when each item fell overdue: the chief and heads in force at the period's end (a head
replaced after it is not the one named), the gaps as the gaps API counts them, the appraisal as
`appraisal.appraise` and `GET /api/v1/appraisal?period=…` give it (a measure of the test's own:
one outcome per system, good at MLPS level 3 or above, held by its owner), and one rendered PDF."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import config_of
from sqlmodel import Session, select
from test_reports import actor_of, make_report, pdf_text, stored_file

from assets.models import Asset, AssetGrade
from secgov import domains, localtime, responsibility
from secgov.accountability import appraisal
from secgov.accountability.measures import Measure, Outcome
from secgov.authz import Actor
from secgov.models import Department, Responsibility, User
from secgov.registry import Domain, Registry
from secgov.reports import service
from secgov.reports.chapters import Period

SYSTEM = Actor.system("cli")
EN = {"Accept-Language": "en"}


def _levels(session, span, as_of, config):
    assets = session.exec(select(Asset).order_by(Asset.id)).all()
    held = responsibility.holders_at(session, "asset", "owner", [(a.id, as_of) for a in assets])
    for a in assets:
        good = (a.mlps_level or 0) >= 3
        yield Outcome("level", "asset", a.id, a.code, as_of, a.department_id, held.get((a.id, as_of)), good)


MEASURES = (Measure("level", "Graded high", "", "rate", 100, _levels, {"asset": ("assets.detail", "asset_id")}),)


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (date(2026, 9, 1), date(2026, 9, 30), "2026-09"),
        (date(2026, 9, 1), date(2026, 9, 12), "2026-09"),
        (date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"),
        (date(2026, 8, 20), date(2026, 9, 3), "2026-Q3"),
        (date(2026, 5, 20), date(2026, 6, 3), "2026-Q2"),
        (date(2026, 3, 20), date(2026, 4, 3), "2026-H1"),
        (date(2026, 6, 20), date(2026, 7, 3), "2026"),
        (date(2025, 12, 20), date(2026, 1, 3), "2026"),
    ],
)
def test_a_reports_days_are_appraised_as_the_smallest_period_holding_them(start, end, code):
    assert appraisal.covering(start, end) == code


def _set(session, subject_type: str, subject_id: int, duty: str, user: User, at: datetime) -> None:
    responsibility.assign(session, subject_type, subject_id, duty, user, SYSTEM, at=at)


@pytest.fixture
def world(app, session, city, make_user, make_asset, monkeypatch):
    """The conftest city. The chief (the leader) and a's head (head.a) since 90 days ago; a's
    head replaced by head.a2 early this month; a1 and b without heads. L-1 in a, graded at level 3
    40 days ago and never filed (its filing fell overdue 10 days ago), owned by officer.a from 60
    days ago and by p.a2 from 5 days ago; systems of a, a1 and b for the appraisal; the measure."""
    for name, dept in (("head.a", "a"), ("head.a2", "a"), ("p.a2", "a"), ("p.a1", "a1")):
        make_user(name, roles=("officer",), department=dept)
    make_asset("A-2", "a", owner="p.a2", mlps_level=2)
    make_asset("A1-1", "a1", owner="p.a1", mlps_level=3)
    make_asset("A1-2", "a1", owner="p.a1", mlps_level=2)
    make_asset("B-1", "b", owner="officer.b", mlps_level=3)
    make_asset("B-2", "b", mlps_level=2)  # nobody owns it: a gap
    late = make_asset("L-1", "a", owner="officer.a", name="Late filer", mlps_level=3)
    users = {u.username: u for u in session.exec(select(User)).all()}
    departments = {d.code: d for d in session.exec(select(Department)).all()}
    now = datetime.now(UTC)
    tz = config_of(app).timezone
    today = localtime.local(now, tz).date()
    since = now - timedelta(days=90)
    _set(session, "city", departments["city"].id, "chief", users["leader"], since)
    _set(session, "department", departments["a"].id, "head", users["head.a"], since)
    replaced = min(now - timedelta(minutes=1), localtime.day_start(today.replace(day=1), tz) + timedelta(hours=1))
    _set(session, "department", departments["a"].id, "head", users["head.a2"], replaced)
    for term in session.exec(select(Responsibility).where(Responsibility.subject_type == "asset")).all():
        if term.subject_id == late.id:  # officer.a's term began 60 days ago
            term.valid_from = now - timedelta(days=60)
            session.add(term)
    _set(session, "asset", late.id, "owner", users["p.a2"], now - timedelta(days=5))
    for grade in session.exec(select(AssetGrade).where(AssetGrade.asset_id == late.id)).all():
        grade.changed_at = now - timedelta(days=40)
        session.add(grade)
    session.commit()
    # The domains' own measures give way to the test's (their records are tested on their own).
    others = [dataclasses.replace(domain, measures=()) for domain in domains.registry().domains]
    registry = Registry((*others, Domain("appraised", measures=MEASURES)))
    monkeypatch.setitem(app.extensions, "secgov_registry", registry)
    return {"users": users, "departments": departments, "today": today, "registry": registry, "late": late}


def _build(app, session, world, code: str, period: Period) -> dict:
    department = world["departments"][code]
    scope = service.scope_of(department, actor_of(app, world["users"]["leader"]))
    with app.test_request_context(headers=EN):
        return world["registry"].accountability_chapter.build(session, scope, period, app.config), scope


def _month(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1))


def test_the_heads_are_those_in_force_at_the_periods_end(app, session, world):
    last_month = _month(world["today"].replace(day=1) - timedelta(days=1))
    before, _scope = _build(app, session, world, "city", last_month)
    heads = {row["department"]: (row["head"] or {}).get("user") for row in before["heads"]}
    assert heads == {"city": None, "a": "head.a", "a1": None, "b": None}
    assert before["chief"]["user"] == "leader"
    this_month, _scope = _build(app, session, world, "city", _month(world["today"]))
    assert {row["department"]: (row["head"] or {}).get("user") for row in this_month["heads"]}["a"] == "head.a2"
    bureau, _scope = _build(app, session, world, "a", _month(world["today"]))
    assert [row["department"] for row in bureau["heads"]] == ["a", "a1"]
    assert bureau["chief"]["user"] == "leader"  # the city's chief, named in a bureau's report too


@pytest.mark.parametrize(("code", "reader"), [("city", "leader"), ("a", "officer.a")])
def test_the_gaps_and_the_appraisal_are_the_apis(app, client, session, world, api_token, code, reader):
    period = _month(world["today"])
    data, scope = _build(app, session, world, code, period)
    headers = {"Authorization": f"Bearer {api_token(world['users'][reader])}", **EN}
    gaps = client.get("/api/v1/accountability/gaps?page_size=200", headers=headers).get_json()
    assert data["gaps"] == gaps["total"] == sum(row["gaps"] for row in data["gaps_by_duty"])
    # city: no heads of city, a1 and b, B-2 without an owner (the chief is there); a: a1's head
    assert gaps["total"] == {"city": 4, "a": 1}[code]
    month = period.start.strftime("%Y-%m")
    api = client.get(f"/api/v1/appraisal?period={month}", headers=headers).get_json()
    found = appraisal.appraise(
        session, scope.actor, appraisal.READERS, MEASURES, month, config_of(app), datetime.now(UTC)
    )
    ap = data["appraisal"]
    assert ap["period"] == api["period"]["code"] == found.period.code == month
    assert ap["score"] == api["score"] == found.score
    people = [(p["code"], p["rank"], p["score"], p["records"]) for p in ap["people"]["rows"]]
    assert people == [(p["code"], p["rank"], p["score"], p["records"]) for p in api["people"]]
    assert people == [(p.code, p.rank, p.score, p.records) for p in found.people]
    depts = [(d["code"], d["rank"], d["score"]) for d in ap["departments"]["rows"]]
    assert depts == [(d["code"], d["rank"], d["score"]) for d in api["departments"]]
    # and what the systems give: each owner's share of level-3 systems
    expected = {
        "city": {"p.a2": 50.0, "p.a1": 50.0, "officer.b": 100.0},
        "a": {"p.a2": 50.0, "p.a1": 50.0},
    }[code]  # p.a2 owns L-1 (level 3) and A-2 (level 2) now
    assert {p[0]: p[2] for p in people} == expected
    assert ap["measures"][0]["total"] == {"city": 6, "a": 4}[code]


def test_the_pdf_names_who_answered_when_an_item_fell_overdue(app, world):
    report = make_report(app, actor_of(app, world["users"]["leader"]), lang="en")
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    with Session(app.extensions["secgov_engine"]) as session:
        names = {u.username: (u.display_name or u.username) for u in session.exec(select(User)).all()}
    overdue = text[text.rindex("Overdue items and the people responsible") : text.rindex("Methodology")]
    row = overdue[overdue.index("L-1 Late filer") :]
    squeezed = re.sub(r"\s+", " ", row)
    # when it fell overdue, 10 days ago: officer.a owned it, head.a headed a (head.a2 came this
    # month, which may be after); the chief; now p.a2 answers for it
    now, _sep, then = squeezed.partition("Responsible when it fell overdue:")
    then = then[: then.index(f"Chief {names['leader']}") + len(names["leader"]) + 6]
    assert names["p.a2"] in now and names["officer.a"] not in now
    assert f"Owner {names['officer.a']} ·" in then and names["p.a2"] not in then
    assert f"Head {names['head.a']} ·" in then or f"Head {names['head.a2']} ·" in then
    accountability = text[text.rindex("Accountability and appraisal") : text.rindex("Overdue items and the people")]
    flat = re.sub(r"\s+", " ", accountability)
    assert names["head.a2"] in flat and names["leader"] in flat
    assert re.search(r"(\d+) ?Accountability gaps", flat)[1] == "4"
    with Session(app.extensions["secgov_engine"]) as session:
        found = appraisal.appraise(
            session, Actor.system(), appraisal.READERS, MEASURES, world["today"].strftime("%Y-%m"), config_of(app)
        )
    assert found.score is not None
    assert float(re.search(r"([\d.]+) ?Appraisal score", flat)[1]) == found.score
    for line in found.people:
        assert f"{line.name} ({line.code})" in flat

"""The dashboard's accountability tile: its gaps are the gaps API's and the ones the test made, its
overdue items per person are the overdue cells the matrix API names, its appraisal is the
appraisal API's and what the records give (a measure of the test's own: one outcome per system,
good at MLPS level 3 or above, held by the system's owner); a bureau's officer sees only the
bureau; the home page shows the tile."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from factories import config_of
from helpers import login
from sqlmodel import select

from assessments.models import Risk
from assets.models import Asset
from secgov import domains, responsibility, snapshots
from secgov.accountability import dashboard as accountability_dashboard
from secgov.accountability.measures import Measure, Outcome
from secgov.authz import Actor
from secgov.models import Department, User
from secgov.registry import Domain, Registry

SYSTEM = Actor.system("cli")
EN = {"Accept-Language": "en"}


def _levels(session, span, as_of, config):
    assets = session.exec(select(Asset).order_by(Asset.id)).all()
    at = as_of  # the owners now: those the test set
    held = responsibility.holders_at(session, "asset", "owner", [(a.id, at) for a in assets])
    for a in assets:
        yield Outcome(
            "level", "asset", a.id, a.code, at, a.department_id, held.get((a.id, at)), (a.mlps_level or 0) >= 3
        )


MEASURES = (Measure("level", "Graded high", "", "rate", 100, _levels, {"asset": ("assets.detail", "asset_id")}),)

# (code, department, owner, MLPS level): each owner's share of level-3 systems differs
SYSTEMS = (
    ("A-1", "a", "officer.a", 3),
    ("A-2", "a", "officer.a", 2),
    ("A-3", "a", "p.a2", 3),
    ("A1-1", "a1", "p.a1", 2),
    ("A1-2", "a1", "p.a1", 2),
    ("B-1", "b", "officer.b", 3),
    ("B-2", "b", "officer.b", 3),
    ("B-3", "b", "officer.b", 2),
    ("B-4", "b", "p.b1", 3),
    ("B-5", "b", "p.b1", 2),
    ("B-6", "b", "p.b1", 2),
    ("B-7", "b", "p.b2", 3),
    ("B-8", "b", "p.b2", 3),
    ("B-9", "b", "p.b2", 2),
    ("B-GONE", "b", "gone.b", 2),
)


def _risk(session, asset_id: int, owner: User, due: date) -> Risk:
    risk = Risk(
        asset_id=asset_id, title="Late patching", likelihood=3, impact=3, level="moderate", due_date=due,
        status="open", created_by="t", created_on=date(2025, 1, 1),
    )  # fmt: skip
    session.add(risk)
    session.flush()
    responsibility.assign(session, "risk", risk.id, "owner", owner, SYSTEM)
    return risk


@pytest.fixture
def world(app, session, city, make_user, make_asset, api_token, monkeypatch):
    """The conftest city (a > a1, b) with systems owned by seven people (one since disabled), one
    without an owner, a head for a only, no chief; two overdue risks; the test's measure."""
    for name, dept in (("p.a1", "a1"), ("p.a2", "a"), ("p.b1", "b"), ("p.b2", "b"), ("gone.b", "b")):
        make_user(name, roles=("officer",), department=dept)
    for code, dept, owner, level in SYSTEMS:
        make_asset(code, dept, owner=owner, mlps_level=level)
    make_asset("A-NOBODY", "a", mlps_level=3)  # no owner: a gap, its record held by nobody
    users = {u.username: u for u in session.exec(select(User)).all()}
    assets = {a.code: a for a in session.exec(select(Asset)).all()}
    departments = {d.code: d for d in session.exec(select(Department)).all()}
    responsibility.assign(session, "department", departments["a"].id, "head", users["officer.a"], SYSTEM)
    today = snapshots.local_today(config_of(app).timezone)
    _risk(session, assets["A-3"].id, users["p.a2"], today - timedelta(days=3))
    _risk(session, assets["B-4"].id, users["p.b1"], today - timedelta(days=1))
    _risk(session, assets["B-7"].id, users["p.b2"], today + timedelta(days=200))  # not overdue
    users["gone.b"].disabled = True
    session.add(users["gone.b"])
    session.commit()
    # The domains' own measures give way to the test's (their records are tested on their own).
    others = [dataclasses.replace(domain, measures=()) for domain in domains.registry().domains]
    registry = Registry((*others, Domain("appraised", measures=MEASURES)))
    monkeypatch.setitem(app.extensions, "secgov_registry", registry)
    auditor = make_user("city.auditor", roles=("auditor",), department="city")
    return {
        "city": {"Authorization": f"Bearer {api_token(auditor)}", **EN},
        "a": {"Authorization": f"Bearer {api_token(users['officer.a'])}", **EN},
        "departments": departments,
        "assets": assets,
        "users": users,
    }


def tile(client, headers) -> dict:
    body = client.get("/api/v1/dashboard", headers=headers).get_json()
    found = [t for t in body["tiles"] if t["code"] == "accountability"]
    assert len(found) == 1, [t["code"] for t in body["tiles"]]
    assert "accountability.gaps" in found[0]["trends"]
    return found[0]["data"]


def every(client, path: str, headers) -> list[dict]:
    items, page = [], 1
    while True:
        body = client.get(f"{path}{'&' if '?' in path else '?'}page={page}&page_size=200", headers=headers).get_json()
        items += body["items"]
        if len(items) >= body["total"]:
            return items
        page += 1


def overdue_by_person(client, headers) -> dict[str, int]:
    """The matrix API's overdue cells, counted per person named in them."""
    counts: dict[str, int] = {}
    for row in every(client, "/api/v1/accountability/matrix", headers):
        for cell in row["cells"].values():
            if cell["state"] == "overdue":
                counts[cell["user"]] = counts.get(cell["user"], 0) + 1
    return counts


EXPECTED_GAPS = {
    "city": {
        ("city.chief", "city"),
        ("department.head", "city"),
        ("department.head", "a1"),
        ("department.head", "b"),
        ("asset.owner", "A-NOBODY"),
        ("asset.owner", "B-GONE"),
    },
    "a": {("department.head", "a1"), ("asset.owner", "A-NOBODY")},
}


@pytest.mark.parametrize("who", ["city", "a"])
def test_the_gaps_are_the_gaps_apis_and_the_ones_made(client, world, who):
    got = tile(client, world[who])
    gaps = every(client, "/api/v1/accountability/gaps", world[who])
    named = {(g["duty"], g["subject"].split()[0]) for g in gaps}
    assert named == EXPECTED_GAPS[who]
    assert got["gaps"] == len(gaps) == len(EXPECTED_GAPS[who])
    assert sum(row["gaps"] for row in got["gaps_by_duty"]) == got["gaps"]


@pytest.mark.parametrize("who", ["city", "a"])
def test_overdue_items_per_person_are_the_matrix_apis(client, world, who):
    got = tile(client, world[who])
    counted = overdue_by_person(client, world[who])
    # the overdue risks' owners are among them, each with the risk's remediation cell at least
    expected_people = {"city": {"p.a2", "p.b1"}, "a": {"p.a2"}}[who]
    assert expected_people <= set(counted)
    assert not ({"p.b1", "p.b2", "officer.b"} & set(counted)) or who == "city"
    assert got["overdue"] == sum(counted.values())
    assert got["people_overdue"] == len(counted)
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[: accountability_dashboard.PEOPLE_SHOWN]
    assert [(p["user"], p["overdue"]) for p in got["people"]] == ranked


def _expected_scores(departments: set[str] | None) -> dict[str, float]:
    by_owner: dict[str, list[bool]] = {}
    for _code, dept, owner, level in SYSTEMS:
        if departments is None or dept in departments:
            by_owner.setdefault(owner, []).append(level >= 3)
    return {owner: round(100 * sum(goods) / len(goods), 1) for owner, goods in by_owner.items()}


@pytest.mark.parametrize(("who", "departments"), [("city", None), ("a", {"a", "a1"})])
def test_the_appraisal_is_the_appraisal_apis_and_the_records(client, world, who, departments):
    got = tile(client, world[who])["appraisal"]
    api = client.get("/api/v1/appraisal", headers=world[who]).get_json()
    assert got["period"] == api["period"]["code"]
    assert got["score"] == api["score"]
    scores = _expected_scores(departments)
    assert {p["code"]: p["score"] for p in api["people"]} == scores
    # every system of the scope counts for the scope's score, the one nobody owns too
    systems = [level for _c, dept, _o, level in SYSTEMS if departments is None or dept in departments] + [3]
    assert got["score"] == round(100 * sum(level >= 3 for level in systems) / len(systems), 1)
    ranked = [p for p in api["people"] if p["rank"] is not None]
    assert got["people"] == len(api["people"])
    assert [(p["user"], p["rank"], p["score"]) for p in got["top"]] == [
        (p["code"], p["rank"], p["score"]) for p in ranked[:3]
    ]
    assert [(p["user"], p["rank"], p["score"]) for p in got["bottom"]] == [
        (p["code"], p["rank"], p["score"]) for p in ranked[max(3, len(ranked) - 3) :]
    ]
    best = max(scores.values())
    assert got["top"][0]["score"] == best
    if who == "city":
        assert len(got["bottom"]) == 3 and got["bottom"][-1]["score"] == min(scores.values())
    else:  # three people in a: the top three, no bottom beside them
        assert len(got["top"]) == 3 and got["bottom"] == []


def test_the_home_page_shows_the_tile_in_the_readers_scope(client, world):
    login(client, world["users"]["officer.a"])
    html = client.get("/", headers=EN).get_data(as_text=True)
    section = html[html.index('id="tile-accountability"') :]
    section = section[: section.index("</section>")]
    assert "gaps: duties without an active holder" in section
    assert "p.a2" in section and "p.b1" not in section  # b's overdue owner is out of a's scope
    assert "/accountability/matrix?state=overdue" in section


def test_the_daily_figure_counts_the_gaps_of_each_department(app, session, world):
    figure = accountability_dashboard.gaps_figure(tuple(app.extensions["secgov_registry"].duties.values()))
    counts = figure.count(session)
    by_code = {d.code: counts.get(d.id, 0) for d in world["departments"].values()}
    # city: its chief and its head; a: A-NOBODY; a1: its head; b: its head and B-GONE
    assert by_code == {"city": 2, "a": 1, "a1": 1, "b": 2}
    snapshots.take(session, [figure], date.today() - timedelta(days=1))
    session.commit()
    points = snapshots.series(
        session, Actor.of(world["users"]["officer.a"]), [figure], None, date.today() - timedelta(days=2), date.today()
    )
    assert [p.value for p in points] == [2.0]  # a and a1: the gaps the tile counts for a's officer

"""The dashboard: its figures equal counts made independently from the records, for the city and
for a bureau (which sees nothing of the others), on the page and in GET /api/v1/dashboard; its
statements do not grow with the number of systems; trends come from the daily snapshots."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from helpers import login
from sqlalchemy import event
from sqlmodel import Session, select

from assets import controls
from assets.models import Asset, AssetControl
from secgov import snapshots
from secgov.db import write_session

EN = {"Accept-Language": "en"}


@pytest.fixture
def world(app, city, make_asset, api_token, make_user):
    """Systems in bureau a (and its unit) and in bureau b; an auditor of the city."""
    owner = city["officer_a"].username
    make_asset("A-1", "a", "transport", owner=owner, mlps_level=3, mlps_filing_number="F-1", is_cii=True)
    make_asset("A-2", "a1", "energy", owner=owner, mlps_level=2)  # filing missing
    make_asset("A-3", "a", "transport")  # not graded
    make_asset(
        "B-1", "b", "finance", owner=city["officer_b"].username, mlps_level=4, mlps_filing_number="F-2", is_cii=True
    )
    with write_session(app.extensions["secgov_engine"]) as session:  # some controls done, some half
        rows = session.exec(select(AssetControl).order_by(AssetControl.asset_id, AssetControl.control_id)).all()
        for n, row in enumerate(rows):
            row.status = ("implemented", "partial", "not_applicable", "planned")[n % 4]
        controls.recount(session, {row.asset_id for row in rows})  # written directly: recount
    auditor = make_user("city.auditor", roles=("auditor",), department="city")
    return {
        "city": {"Authorization": f"Bearer {api_token(auditor)}", **EN},
        "a": {"Authorization": f"Bearer {api_token(city['officer_a'])}", **EN},
        "officer_a": city["officer_a"],
        "auditor": auditor,
    }


def tiles(client, headers) -> dict:
    body = client.get("/api/v1/dashboard", headers=headers).get_json()
    return {tile["code"]: tile["data"] for tile in body["tiles"]} | {"_department": body["department"]}


def independent(session: Session, departments: set[str] | None) -> dict:
    """The same figures counted one asset at a time."""
    from secgov.models import Department

    rows = session.exec(select(Asset, Department.code).join(Department, Department.id == Asset.department_id)).all()
    mine = [a for a, code in rows if departments is None or code in departments]
    return {
        "systems": len(mine),
        "cii": sum(a.is_cii for a in mine),
        "ungraded": sum(a.mlps_level is None for a in mine),
        "unfiled": sum(a.mlps_level is not None and a.mlps_level >= 2 and not a.mlps_filing_number for a in mine),
        "sectors": {a.sector for a in mine},
    }


@pytest.mark.parametrize(("who", "departments"), [("city", None), ("a", {"a", "a1"})])
def test_the_figures_equal_the_records(client, session, world, who, departments):
    got = tiles(client, world[who])
    expected = independent(session, departments)
    assert got["_department"] == ("city" if who == "city" else "a")
    assert got["inventory"]["systems"] == expected["systems"]
    assert got["inventory"]["cii"] == expected["cii"]
    assert {r["sector"] for r in got["inventory"]["by_sector"]} == expected["sectors"]
    assert sum(r["systems"] for r in got["inventory"]["by_level"]) == expected["systems"]
    assert got["grading"]["ungraded"] == expected["ungraded"]
    assert got["grading"]["unfiled"] == expected["unfiled"]


def test_a_bureau_sees_nothing_of_the_others(client, world):
    got = tiles(client, world["a"])
    assert "finance" not in {r["sector"] for r in got["inventory"]["by_sector"]}
    assert all(r["department"] != "b" for r in got["coverage"]["by_department"])


def test_coverage_rolls_up_from_the_controls(client, session, world):
    rows = session.exec(select(AssetControl.status).where(AssetControl.required.is_(True))).all()
    applicable = [s for s in rows if s != "not_applicable"]
    done = sum(1 for s in applicable if s == "implemented") + 0.5 * sum(1 for s in applicable if s == "partial")
    got = tiles(client, world["city"])["coverage"]
    assert got["applicable"] == len(applicable) > 0
    assert got["percent"] == (round(100 * done / len(applicable), 1) if applicable else None)
    assert {r["department"] for r in got["by_department"]} <= {"a", "b"}


def test_the_page_shows_the_same_figures_with_links(client, world):
    login(client, world["officer_a"])
    page = client.get("/", headers=EN).get_data(as_text=True)
    assert "Critical systems" in page and "Grading and filing" in page and "Vendor origin" in page
    assert '<svg class="chart bars"' in page and "<script" not in page.split("<main", 1)[-1]
    assert "/assets?mlps_level=none" in page and "/assets?filing_missing=true" in page
    assert ">3</a> systems" in page  # in bureau a's subtree


def test_the_filing_filter_lists_what_the_tile_counts(client, world):
    headers = world["city"]
    listed = client.get("/api/v1/assets?filing_missing=true", headers=headers).get_json()
    assert [a["code"] for a in listed["items"]] == ["A-2"]
    assert tiles(client, headers)["grading"]["unfiled"] == 1


def test_trends_come_from_the_daily_snapshots(app, client, world):
    registry = app.extensions["secgov_registry"]
    today = snapshots.local_today(app.config["BABEL_DEFAULT_TIMEZONE"])
    with write_session(app.extensions["secgov_engine"]) as session:
        snapshots.take(session, registry.figures, today - timedelta(days=1))
        snapshots.take(session, registry.figures, today)
    body = client.get("/api/v1/dashboard", headers=world["city"]).get_json()
    trend = {t["code"]: t["trends"] for t in body["tiles"]}
    assert [p["value"] for p in trend["inventory"]["assets.registered"]] == [4, 4]
    assert [date.fromisoformat(p["day"]) for p in trend["inventory"]["assets.registered"]] == [
        today - timedelta(days=1),
        today,
    ]
    assert len(trend["coverage"]["coverage"]) == 2


def test_the_statements_do_not_grow_with_the_city(app, client, world, make_asset):
    engine = app.extensions["secgov_engine"]
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        client.get("/api/v1/dashboard", headers=world["city"])  # the token's first use is recorded once
        seen.clear()
        client.get("/api/v1/dashboard", headers=world["city"])
        small = len(seen)
        for n in range(12):
            make_asset(f"C-{n}", "b", "telecom" if n % 2 else "healthcare", mlps_level=1 + n % 4)
        seen.clear()
        client.get("/api/v1/dashboard", headers=world["city"])
        assert len(seen) == small, "the dashboard's statements grew with the number of systems"
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_overdue_items_and_what_waits_for_their_owner(app, client, world):
    """A-2 (level 2, no filing number) graded 40 days ago is overdue; its owner (officer a) sees it
    as theirs on the page; the city's auditor counts it, a bureau b reader would not."""
    from datetime import UTC, datetime

    from assets.models import AssetGrade

    with write_session(app.extensions["secgov_engine"]) as session:
        a2 = session.exec(select(Asset).where(Asset.code == "A-2")).one()
        for grade in session.exec(select(AssetGrade).where(AssetGrade.asset_id == a2.id)).all():
            grade.changed_at = datetime.now(UTC) - timedelta(days=40)
    city, bureau = tiles(client, world["city"]), tiles(client, world["a"])
    for seen in (city, bureau):
        assert seen["overdue"]["total"] == seen["overdue"]["filing"] == 1
        assert [item["asset"] for item in seen["overdue"]["oldest"]] == ["A-2"]
        assert seen["overdue"]["without_owner"] == 0
    assert city["overdue"]["yours"] == 0 and bureau["overdue"]["yours"] == 1
    login(client, world["officer_a"])
    page = client.get("/", headers=EN).get_data(as_text=True)
    assert "1 overdue item is yours to resolve." in page and f"/assets/{a2.id}" in page

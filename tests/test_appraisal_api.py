"""The appraisal over the API and its pages: the same figures as the service, the records behind
a figure, closing a period (the city's leadership; bad input changes nothing), the exports. The
app's registry gets a domain of the test's own whose measures read the assets (test_appraisal)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from factories import config_of
from helpers import login
from sqlmodel import select
from test_appraisal import MEASURES

from secgov import domains
from secgov.accountability import appraisal
from secgov.authz import Actor
from secgov.models import AppraisalPeriod, AuditEntry, Responsibility, User
from secgov.registry import Domain, Registry

PAST = "2025-Q4"  # ended: closable


@pytest.fixture
def world(app, city, make_asset, make_user, session):
    make_user("drill.a", roles=("drill_team",), department="a")
    make_user("leader.a", roles=("leader",), department="a")
    make_asset("A1-ONE", "a1", owner="officer.a", mlps_level=3, is_cii=True)
    make_asset("A1-TWO", "a1", owner="officer.a", mlps_level=2, is_cii=False)
    make_asset("B-ONE", "b", owner="officer.b", mlps_level=3, is_cii=True)
    for term in session.exec(select(Responsibility)).all():
        term.valid_from = datetime(2025, 1, 1, tzinfo=UTC)
        session.add(term)
    session.commit()
    registry = domains.registry()
    # The domains' own measures give way to the test's (their records are tested on their own).
    others = [dataclasses.replace(domain, measures=()) for domain in registry.domains]
    app.extensions["secgov_registry"] = Registry((*others, Domain("test", measures=MEASURES)))
    return {u.username: u for u in session.exec(select(User)).all()}


@pytest.fixture
def api(client, api_token, world, session):
    tokens = {}

    def as_user(name: str):
        if name not in tokens:
            session.rollback()
            tokens[name] = api_token(world[name])
        headers = {"Authorization": f"Bearer {tokens[name]}", "Accept-Language": "en"}
        return lambda method, path, **kw: client.open(path, method=method, headers=headers, **kw)

    return as_user


def test_the_api_gives_the_services_figures(app, session, api, world):
    answer = api("leader")("GET", f"/api/v1/appraisal?period={PAST.lower()}")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    found = appraisal.appraise(session, Actor.of(world["leader"]), {"leader"}, MEASURES, PAST, config_of(app))
    assert body["period"]["code"] == PAST and body["period"]["closed"] is False
    assert body["score"] == found.score
    assert [(p["rank"], p["code"], p["score"]) for p in body["people"]] == [
        (line.rank, line.code, line.score) for line in found.people
    ]
    assert body["people"][1]["figures"]["cii"] == {"good": 1, "total": 2, "score": 50.0, "average": None}
    assert body["people"][1]["figures"]["graded"]["average"] == 2.5
    assert [d["code"] for d in body["departments"]] == ["b", "a1"]
    assert [m["weight"] for m in body["measures"]] == [60, 40]


def test_the_records_behind_a_figure(api, world):
    answer = api("leader")("GET", f"/api/v1/appraisal/records?period={PAST}&measure=cii&user=officer.a&good=false")
    body = answer.get_json()
    assert answer.status_code == 200 and body["total"] == 1
    (row,) = body["items"]
    assert (row["title"], row["user"], row["good"], row["department"]) == ("A1-TWO", "officer.a", False, "a1")
    assert row["url"] == f"/assets/{row['record_id']}"
    mine = api("drill.a")("GET", f"/api/v1/appraisal/records?period={PAST}").get_json()
    assert mine["total"] == 0  # a drill-team member sees their own records: none


def test_a_bad_period_is_refused_clearly(api, world):
    for bad in ("2026-Q5", "last year", "1999"):
        answer = api("leader")("GET", f"/api/v1/appraisal?period={bad}")
        assert answer.status_code == 422
        assert "2026-Q3" in json.dumps(answer.get_json()["error"])


def test_closing_through_the_api(session, api, world):
    refused = api("leader.a")("POST", "/api/v1/appraisal/close", json={"period": PAST})
    assert refused.status_code == 403
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "appraisal.denied")).first() is not None
    assert api("officer.a")("POST", "/api/v1/appraisal/close", json={"period": PAST}).status_code == 403
    for body in ({"period": "2099-Q1"}, {"period": "Q4"}, {"period": PAST, "extra": 1}, {}):
        answer = api("leader")("POST", "/api/v1/appraisal/close", json=body)
        assert answer.status_code == 422, body
    session.rollback()
    assert session.exec(select(AppraisalPeriod)).all() == []
    done = api("leader")("POST", "/api/v1/appraisal/close", json={"period": PAST.lower()})
    assert done.status_code == 201, done.get_json()
    closed = done.get_json()
    assert closed["code"] == PAST and closed["closed_by"] == "leader" and len(closed["sha256"]) == 64
    again = api("leader")("POST", "/api/v1/appraisal/close", json={"period": PAST})
    assert again.status_code == 409
    listed = api("officer.a")("GET", "/api/v1/appraisal/periods").get_json()
    assert [p["code"] for p in listed["items"]] == [PAST]
    read = api("leader")("GET", f"/api/v1/appraisal?period={PAST}").get_json()
    assert read["period"]["closed"] is True and read["period"]["sha256"] == closed["sha256"]
    session.rollback()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "appraisal.closed")).one()
    assert json.loads(entry.detail)["stored_sha256"] == closed["sha256"]


def test_the_pages_show_the_apis_figures(client, app, world, api):
    body = api("leader")("GET", f"/api/v1/appraisal?period={PAST}").get_json()
    login(client, world["leader"])
    page = client.get(f"/accountability/appraisal?period={PAST}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for line in body["people"] + body["departments"]:
        assert f"{line['score']:.1f}" in html
    assert "1/2" in html and "Close 2025-Q4" in html
    records = client.get(f"/accountability/appraisal/records?period={PAST}&measure=cii&good=false")
    assert records.status_code == 200 and "A1-TWO" in records.get_data(as_text=True)
    bad = client.get("/accountability/appraisal?period=nonsense")
    assert bad.status_code == 200  # this quarter instead, with the problem said

"""The appraisal's core: periods, the weights setting, adding up outcomes per person and per
department into scores and ranks, who sees which lines, and closing a period as an audited
snapshot that later edits do not change. The domains' measures have their own tests
(test_appraisal_assessments, _drills, _scans); here a measure of the test's own reads the assets:
one outcome per asset, good when it is a CII system, held by the asset's owner at the period's start."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import config_of
from sqlmodel import select

from assets.models import Asset
from secgov import responsibility, settings
from secgov.accountability import appraisal
from secgov.accountability.measures import Measure, Outcome
from secgov.authz import Actor
from secgov.errors import Conflict, Forbidden, Invalid
from secgov.models import AppraisalPeriod, AuditEntry, Department, Responsibility, User

NOW = datetime(2026, 10, 5, 8, tzinfo=UTC)  # in 2026-Q4: 2026-Q3 has ended
TZ = "Asia/Shanghai"


def _cii(session, span, as_of, config):
    assets = session.exec(select(Asset).order_by(Asset.id)).all()
    at = span.start
    held = responsibility.holders_at(session, "asset", "owner", [(a.id, at) for a in assets])
    for a in assets:
        yield Outcome("cii", "asset", a.id, a.code, at, a.department_id, held.get((a.id, at)), bool(a.is_cii))


def _graded(session, span, as_of, config):
    for a in session.exec(select(Asset).order_by(Asset.id)).all():
        held = responsibility.holders_at(session, "asset", "owner", [(a.id, span.start)])
        yield Outcome(
            "graded", "asset", a.id, a.code, span.start, a.department_id, held.get((a.id, span.start)),
            a.mlps_level >= 3, value=float(a.mlps_level),
        )  # fmt: skip


MEASURES = (
    Measure("cii", "CII", "", "rate", 60, _cii, {"asset": ("assets.detail", "asset_id")}, order=1),
    Measure("graded", "Graded", "", "average", 40, _graded, {}, unit="days", order=2),
)
READER = frozenset({"leader"})


@pytest.fixture
def world(city, make_asset, make_user, session, app):
    """Three assets: two of officer.a's in a1 (one CII), one of officer.b's in b (CII); a
    drill-team member of a; owners set before the period."""
    make_user("drill.a", roles=("drill_team",), department="a")
    a1 = make_asset("A1-ONE", "a1", owner="officer.a", mlps_level=3, is_cii=True)
    a2 = make_asset("A1-TWO", "a1", owner="officer.a", mlps_level=2, is_cii=False)
    b1 = make_asset("B-ONE", "b", owner="officer.b", mlps_level=3, is_cii=True)
    # the owners' terms began when the assets were registered (now); move them before the period
    for term in session.exec(select(Responsibility)).all():
        term.valid_from = datetime(2026, 1, 1, tzinfo=UTC)
        session.add(term)
    session.commit()
    users = {u.username: u for u in session.exec(select(User)).all()}
    return {"assets": (a1, a2, b1), "users": users, **city}


def _config(app):
    return config_of(app)


def _actor(user):
    return Actor.of(user, "api")


def test_period_codes_name_years_halves_quarters_and_months():
    q = appraisal.period("2026-q3", TZ)
    assert (q.code, q.starts_on, q.ends_on) == ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30))
    assert q.start == datetime(2026, 6, 30, 16, tzinfo=UTC) and q.end == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert (appraisal.period("2026", TZ).starts_on, appraisal.period("2026", TZ).ends_on) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert appraisal.period("2026-H2", TZ).starts_on == date(2026, 7, 1)
    assert appraisal.period("2024-02", TZ).ends_on == date(2024, 2, 29)
    for bad in ("", "26", "2026-13", "2026-Q5", "2026-H3", "1999", "2026-Q3; drop table", "2026-00"):
        with pytest.raises(Invalid):
            appraisal.period(bad, TZ)


def test_the_weights_must_be_whole_numbers_for_every_measure_adding_up_to_100(app, session, world):
    setting = appraisal.weights_setting(MEASURES)
    config = _config(app)
    admin = Actor.of(world["admin"], "api")
    assert settings.get(session, setting, config) == {"cii": 60, "graded": 40}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for bad, words in (
            ({"cii": 60, "graded": 30}, "add up to 100; these add up to 90"),
            ({"cii": 100}, "each measure"),
            ({"cii": 60, "graded": 40, "other": 0}, "each measure"),
            ({"cii": 60.5, "graded": 39.5}, "whole number"),
            ({"cii": 120, "graded": -20}, "whole number"),
            ([60, 40], "each measure"),
        ):
            with pytest.raises(Invalid) as refused:
                settings.update(session, [setting], {setting.key: bad}, admin, config)
            assert words in refused.value.message
            session.rollback()
        assert settings.get(session, setting, config) == {"cii": 60, "graded": 40}  # nothing changed
        settings.update(session, [setting], {setting.key: {"cii": 25, "graded": 75}}, admin, config)
        session.commit()
    assert appraisal.weights_now(session, MEASURES, config) == {"cii": 25, "graded": 75}


def _expected(rows, weights):
    """Each person's score computed here from the records: per measure good/total, weighed."""
    scores = {}
    for who in {r[0] for r in rows}:
        parts = []
        for code, w in weights.items():
            mine = [good for person, measure, good in rows if person == who and measure == code]
            if mine:
                parts.append((w, 100 * sum(mine) / len(mine)))
        scores[who] = round(sum(w * s for w, s in parts) / sum(w for w, _s in parts), 1)
    return scores


def test_figures_scores_and_ranks_equal_what_the_records_give(app, session, world):
    config = _config(app)
    a1, a2, b1 = world["assets"]
    found = appraisal.appraise(session, _actor(world["leader"]), READER, MEASURES, "2026-Q3", config, NOW)
    records = [
        ("officer.a", "cii", True), ("officer.a", "cii", False), ("officer.b", "cii", True),
        ("officer.a", "graded", True), ("officer.a", "graded", False), ("officer.b", "graded", True),
    ]  # fmt: skip
    expected = _expected(records, {"cii": 60, "graded": 40})
    assert {line.code: line.score for line in found.people} == expected == {"officer.a": 50.0, "officer.b": 100.0}
    assert [(line.rank, line.code) for line in found.people] == [(1, "officer.b"), (2, "officer.a")]
    mine = next(line for line in found.people if line.code == "officer.a")
    assert (mine.figures["cii"].good, mine.figures["cii"].total, mine.figures["cii"].score) == (1, 2, 50.0)
    assert mine.figures["graded"].average == 2.5  # mlps 3 and 2
    assert mine.department == "a"  # officer.a's own department
    assert {line.code: (line.score, line.records) for line in found.departments} == {
        "a1": (50.0, 4),
        "b": (100.0, 2),
    }
    assert found.score == round((60 * 200 / 3 + 40 * 200 / 3) / 100, 1)
    # every figure's records: the outcomes behind officer.a's CII figure are its two assets
    behind = [r["record_id"] for r in found.outcomes if r["username"] == "officer.a" and r["measure"] == "cii"]
    assert sorted(behind) == sorted([a1.id, a2.id])


def test_a_measure_without_records_for_someone_leaves_the_weights_to_the_others(app, session, world):
    only = (MEASURES[0], Measure("none", "None", "", "rate", 50, lambda *a: [], {}))
    found = appraisal.appraise(session, _actor(world["leader"]), READER, only, "2026-Q3", _config(app), NOW)
    assert {line.code: line.score for line in found.people} == {"officer.a": 50.0, "officer.b": 100.0}


def test_records_nobody_held_count_for_the_department_only(app, session, world):
    config = _config(app)
    a1, _a2, b1 = world["assets"]
    for term in session.exec(select(Responsibility).where(Responsibility.subject_id == b1.id)).all():
        term.valid_from = NOW  # B-ONE had no owner during Q3
        session.add(term)
    session.commit()
    found = appraisal.appraise(session, _actor(world["leader"]), READER, MEASURES, "2026-Q3", config, NOW)
    assert [line.code for line in found.people] == ["officer.a"]
    assert found.unheld.records == 2 and found.unheld.figures["cii"].good == 1
    assert {line.code: line.records for line in found.departments} == {"a1": 4, "b": 2}


def test_each_reader_sees_the_lines_of_their_scope_or_their_own(app, session, world):
    config = _config(app)
    a_officer = appraisal.appraise(session, _actor(world["officer_a"]), {"officer"}, MEASURES, "2026-Q3", config, NOW)
    assert [line.code for line in a_officer.people] == ["officer.a"]
    assert [line.code for line in a_officer.departments] == ["a1"]
    assert not a_officer.own_only
    drill = world["users"]["drill.a"]
    own = appraisal.appraise(session, _actor(drill), {"drill_team"}, MEASURES, "2026-Q3", config, NOW)
    assert own.own_only and own.people == [] and own.departments == [] and own.outcomes == []
    b_own = appraisal.appraise(session, _actor(world["officer_b"]), {"drill_team"}, MEASURES, "2026-Q3", config, NOW)
    assert [line.code for line in b_own.people] == ["officer.b"] and b_own.departments == []


def test_a_closed_period_is_stored_audited_and_does_not_change(app, session, world):
    config = _config(app)
    leader = _actor(world["leader"])
    a1, a2, _b1 = world["assets"]
    before = appraisal.appraise(session, leader, READER, MEASURES, "2026-Q3", config, NOW)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        row = appraisal.close(session, leader, READER, MEASURES, "2026-Q3", config, NOW)
        session.commit()
    assert row.sha256 == hashlib.sha256(row.data.encode()).hexdigest()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "appraisal.closed")).one()
    detail = json.loads(entry.detail)
    assert entry.object_id == "2026-Q3" and entry.actor == "leader"
    assert detail["stored_sha256"] == row.sha256 and detail["records"] == 6 and detail["overall_score"] == before.score
    # later edits: A1-TWO becomes CII, its owner changes, the weights change, a user is renamed
    a2.is_cii = True
    session.add(a2)
    user = world["officer_a"]
    user.display_name = "Renamed"
    session.add(user)
    session.commit()
    settings.update(
        session,
        [appraisal.weights_setting(MEASURES)],
        {"appraisal_weights": {"cii": 10, "graded": 90}},
        Actor.system(),
        config,
    )
    session.commit()
    live = appraisal.appraise(session, leader, READER, MEASURES, "2026-Q4", config, NOW + timedelta(days=120))
    assert next(line for line in live.people if line.code == "officer.a").figures["cii"].good == 2
    closed = appraisal.appraise(session, leader, READER, MEASURES, "2026-Q3", config, NOW + timedelta(days=120))
    assert closed.closed is not None and closed.closed.sha256 == row.sha256
    assert {line.code: line.score for line in closed.people} == {line.code: line.score for line in before.people}
    assert [m.weight for m in closed.measures] == [60, 40]
    assert next(line for line in closed.people if line.code == "officer.a").name == "officer.a"
    session.refresh(row)
    assert hashlib.sha256(row.data.encode()).hexdigest() == row.sha256


def test_closing_is_for_the_citys_leadership_once_after_the_period_ends(app, session, world):
    config = _config(app)
    leader = _actor(world["leader"])
    with app.test_request_context(headers={"Accept-Language": "en"}):
        with pytest.raises(Forbidden):
            appraisal.close(session, _actor(world["admin"]), {"admin"}, MEASURES, "2026-Q3", config, NOW)
        with pytest.raises(Forbidden):  # a bureau's leader: a period is the city's
            a_leader = Actor(username="leader.a", user_id=999, department_id=None, scope="/city/a/")
            appraisal.close(session, a_leader, READER, MEASURES, "2026-Q3", config, NOW)
        with pytest.raises(Invalid) as early:
            appraisal.close(session, leader, READER, MEASURES, "2026-Q4", config, NOW)
        assert "has not ended yet" in early.value.message and "2027-01-01" in early.value.message
        with pytest.raises(Invalid):
            appraisal.close(session, leader, READER, MEASURES, "2026-Q9", config, NOW)
        appraisal.close(session, leader, READER, MEASURES, "2026-Q3", config, NOW)
        session.commit()
        with pytest.raises(Conflict):
            appraisal.close(session, leader, READER, MEASURES, "2026-q3", config, NOW)
    session.rollback()
    assert session.exec(select(AppraisalPeriod.code)).all() == ["2026-Q3"]


def test_a_period_that_has_not_begun_has_no_records(app, session, world):
    found = appraisal.appraise(session, _actor(world["leader"]), READER, MEASURES, "2027-Q1", _config(app), NOW)
    assert found.outcomes == [] and found.people == [] and found.score is None
    assert session.exec(select(Department)).first() is not None

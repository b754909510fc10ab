"""Daily snapshots of the headline figures: what `take` stores, what `series` sums over a subtree
and refuses outside the scope, the daily job, and the API."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, func
from sqlmodel import Session, select

from assets.models import Asset, AssetControl
from secgov import domains, runs, schedules, snapshots, tasks
from secgov.authz import Actor
from secgov.errors import Invalid, NotFound
from secgov.models import Department, FigureSnapshot, Run, Schedule
from secgov.snapshots import Figure

DAY = date(2026, 3, 1)
FIGURES = domains.registry().figures


def by_code(codes) -> list[Figure]:
    return [figure for figure in FIGURES if figure.code in codes]


@pytest.fixture
def world(app, city, make_asset, make_vendor, engage):
    """city > a > a1, city > b: two systems in a (one CII and graded without a filing number), one
    ungraded in a1, one in b; a foreign builder on a classified transport system of a."""
    make_asset("A-1", "a", owner="officer.a", mlps_level=2, is_cii=True)
    classified = make_asset("A-2", "a", owner="officer.a", mlps_level=3, mlps_filing_number="F-2", classified=True)
    make_asset("A1-1", "a1", owner="officer.a")
    make_asset("B-1", "b", owner="officer.b", mlps_level=2, mlps_filing_number="F-3")
    engage(classified, make_vendor("Overseas Systems Ltd", "foreign", "US"), "builder")
    return city


def take(app, day: date = DAY, figures=FIGURES) -> int:
    with Session(app.extensions["secgov_engine"]) as own, own.begin(), app.app_context():
        return snapshots.take(own, figures, day)


def dept_ids(session: Session) -> dict[str, int]:
    return dict(session.exec(select(Department.code, Department.id)).all())


def stored(session: Session, day: date = DAY) -> dict[tuple[str, str], float]:
    """(department code, figure) -> value of the rows of day."""
    session.rollback()
    rows = session.exec(
        select(Department.code, FigureSnapshot.figure, FigureSnapshot.value)
        .join(Department, Department.id == FigureSnapshot.department_id)
        .where(FigureSnapshot.day == day)
    ).all()
    return {(code, figure): value for code, figure, value in rows}


def test_take_stores_each_departments_own_values(app, session, world):
    written = take(app)
    rows = stored(session)
    assert written == len(rows)
    assert rows[("a", "assets.registered")] == 2
    assert rows[("a1", "assets.registered")] == 1
    assert rows[("b", "assets.registered")] == 1
    assert rows[("a", "assets.cii")] == 1 and ("b", "assets.cii") not in rows
    assert rows[("a", "assets.graded")] == 2 and rows[("a1", "assets.ungraded")] == 1
    assert rows[("a", "assets.unfiled")] == 1 and ("b", "assets.unfiled") not in rows
    assert rows[("a", "policy.violations")] == 1 and ("b", "policy.violations") not in rows
    # Controls: what the asset service instantiated for each department's graded systems.
    ids = dept_ids(session)
    for code in ("a", "b"):
        required = session.exec(
            select(func.count())
            .select_from(AssetControl)
            .join(Asset, Asset.id == AssetControl.asset_id)
            .where(Asset.department_id == ids[code], AssetControl.required.is_(True))
        ).one()
        assert required > 0
        assert rows[(code, "controls.required")] == required
    # The root department holds no system: its rows are there, at 0, for every figure of systems;
    # its own accountability gaps are the city's chief and its head (nobody holds either).
    assert all(rows[("city", figure.code)] == 0 for figure in FIGURES if figure.code != "accountability.gaps")
    assert rows[("city", "accountability.gaps")] == 2
    assert rows[("a", "accountability.gaps")] == 1 and rows[("b", "accountability.gaps")] == 1  # their heads
    # Other zero values are not stored.
    assert 0 not in {value for (code, _f), value in rows.items() if code != "city"}


def test_a_subtree_sums_its_departments_rows(app, session, world):
    take(app)
    rows = stored(session)
    ids = dept_ids(session)
    paths = dict(session.exec(select(Department.code, Department.path)).all())
    for top in ("city", "a", "a1", "b"):
        points = snapshots.series(session, Actor.system(), FIGURES, ids[top], DAY, DAY)
        assert [p.figure for p in points] == sorted(f.code for f in FIGURES)
        for point in points:
            expected = sum(
                value
                for (code, figure), value in rows.items()
                if figure == point.figure and paths[code].startswith(paths[top])
            )
            assert point.value == expected, (top, point.figure)
    [registered] = snapshots.series(session, Actor.system(), by_code({"assets.registered"}), ids["a"], DAY, DAY)
    assert registered.value == 3


def test_series_keeps_to_the_readers_scope(app, session, world):
    take(app)
    officer = Actor.of(world["officer_a"])
    ids = dept_ids(session)
    registered = by_code({"assets.registered"})
    # By default: the top of the reader's scope (bureau a for its officer, the city for the admin).
    [own] = snapshots.series(session, officer, registered, None, DAY, DAY)
    assert own.value == 3
    [everything] = snapshots.series(session, Actor.of(world["admin"]), registered, None, DAY, DAY)
    assert everything.value == 4
    [unit] = snapshots.series(session, officer, registered, ids["a1"], DAY, DAY)
    assert unit.value == 1
    for outside in (ids["b"], ids["city"], 999_999):
        with pytest.raises(NotFound):
            snapshots.series(session, officer, registered, outside, DAY, DAY)


def test_series_answers_the_days_taken_and_zero_where_a_subtree_has_nothing(app, session, world):
    take(app, DAY)
    take(app, DAY + timedelta(days=2))
    ids = dept_ids(session)
    points = snapshots.series(
        session, Actor.system(), by_code({"assets.cii"}), ids["b"], DAY - timedelta(days=5), DAY + timedelta(days=5)
    )
    # Two days taken (the day between was not: no point), b has no CII system: 0 on both.
    assert [(p.day, p.value) for p in points] == [(DAY, 0.0), (DAY + timedelta(days=2), 0.0)]


def test_series_refuses_a_bad_period(app, session, world):
    with pytest.raises(Invalid):
        snapshots.series(session, Actor.system(), FIGURES, None, DAY, DAY - timedelta(days=1))
    with pytest.raises(Invalid):
        snapshots.series(session, Actor.system(), FIGURES, None, DAY - timedelta(days=400), DAY)
    assert snapshots.series(session, Actor.system(), FIGURES, None, DAY - timedelta(days=399), DAY) == []


def test_series_runs_a_bounded_number_of_statements(app, session, world, make_department):
    for n in range(8):
        make_department(f"u{n}", parent="a", kind="unit")
    for offset in range(10):
        take(app, DAY + timedelta(days=offset))
    engine = app.extensions["secgov_engine"]
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    ids = dept_ids(session)
    session.rollback()
    event.listen(engine, "before_cursor_execute", note)
    try:
        points = snapshots.series(session, Actor.system(), FIGURES, ids["a"], DAY, DAY + timedelta(days=20))
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert len(points) == 10 * len(FIGURES)
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) <= 4


def test_taking_a_day_again_replaces_it(app, session, world, make_asset):
    take(app)
    take(app, DAY - timedelta(days=1))
    make_asset("B-2", "b", owner="officer.b")
    before = stored(session)
    written = take(app)
    after = stored(session)
    assert written == len(after)
    assert after[("b", "assets.registered")] == before[("b", "assets.registered")] + 1 == 2
    session.rollback()
    duplicates = session.exec(
        select(func.count())
        .select_from(FigureSnapshot)
        .where(FigureSnapshot.day == DAY)
        .group_by(FigureSnapshot.department_id, FigureSnapshot.figure)
        .having(func.count() > 1)
    ).all()
    assert duplicates == []
    # The other day is left as it was.
    assert stored(session, DAY - timedelta(days=1))[("b", "assets.registered")] == 1


def test_take_refuses_a_figure_declared_twice(app, world):
    with pytest.raises(ValueError, match="declared twice"):
        take(app, DAY, [FIGURES[0], FIGURES[0]])


# --- the daily job ---------------------------------------------------------------------------


def run_job(app, session, actor: Actor, params: dict) -> Run:
    kind = app.extensions["secgov_registry"].jobs["snapshot.daily"]
    with app.test_request_context():
        run = runs.enqueue(session, actor, kind, params)
        tasks.hand_over(session, tasks.platform_of(app), [run.id])
        session.commit()
    session.rollback()
    return session.get(Run, run.id, populate_existing=True)


def test_the_daily_job_takes_the_registrys_figures(app, session, world):
    run = run_job(app, session, Actor.of(world["admin"]), {"day": DAY.isoformat()})
    assert run.status == "succeeded", (run.reason, run.detail)
    result = runs.loads(run.result)
    rows = stored(session)
    assert result == {"day": DAY.isoformat(), "rows": len(rows)}
    assert rows[("a", "assets.registered")] == 2
    assert {figure for _code, figure in rows} == {f.code for f in FIGURES}


def test_the_daily_job_takes_today_by_default_and_never_a_future_day(app, session, world):
    today = snapshots.local_today(app.config["BABEL_DEFAULT_TIMEZONE"])
    run = run_job(app, session, Actor.system("job"), {})
    assert run.status == "succeeded"
    assert runs.loads(run.result)["day"] == today.isoformat()
    assert stored(session, today)[("b", "assets.registered")] == 1
    later = run_job(app, session, Actor.system("job"), {"day": (today + timedelta(days=2)).isoformat()})
    assert (later.status, later.reason) == ("failed", "future_day")


def test_the_daily_job_is_the_city_admins_and_scheduled(app, session, world):
    kind = app.extensions["secgov_registry"].jobs["snapshot.daily"]
    with app.test_request_context(headers={"Accept-Language": "en"}), pytest.raises(Exception, match="whole city"):
        runs.may_start(Actor.of(world["officer_a"]), kind, {"admin"})
    with app.test_request_context():
        runs.may_start(Actor.of(world["admin"]), kind, {"admin"})
        schedules.sync_system(session, app.extensions["secgov_registry"].jobs)
        session.commit()
    schedule = session.exec(select(Schedule).where(Schedule.kind == "snapshot.daily")).one()
    assert (schedule.cron, schedule.system) == ("10 0 * * *", True)


# --- the API -----------------------------------------------------------------------------------


def get(client, token: str, **params):
    return client.get(
        "/api/v1/snapshots", query_string=params, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    )


def test_the_api_answers_the_numbers_of_series(app, client, session, world, api_token):
    take(app, DAY)
    take(app, DAY + timedelta(days=1))
    token = api_token(world["officer_a"])
    response = get(client, token, since=DAY.isoformat(), until=(DAY + timedelta(days=3)).isoformat())
    assert response.status_code == 200, response.json
    body = response.json
    assert body["department"] == "a"
    expected = snapshots.series(session, Actor.of(world["officer_a"]), FIGURES, None, DAY, DAY + timedelta(days=3))
    assert body["items"] == [{"day": p.day.isoformat(), "figure": p.figure, "value": p.value} for p in expected]
    assert {f["code"]: f["label"] for f in body["figures"]}["assets.registered"] == "Systems registered"

    one = get(
        client,
        token,
        department="a1",
        figure="assets.registered,assets.ungraded",
        since=DAY.isoformat(),
        until=DAY.isoformat(),
    )
    assert one.json["items"] == [
        {"day": DAY.isoformat(), "figure": "assets.registered", "value": 1.0},
        {"day": DAY.isoformat(), "figure": "assets.ungraded", "value": 1.0},
    ]
    assert [f["code"] for f in one.json["figures"]] == ["assets.registered", "assets.ungraded"]
    repeated = client.get(
        f"/api/v1/snapshots?figure=assets.registered&figure=assets.ungraded&department=a1&since={DAY}&until={DAY}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert repeated.json["items"] == one.json["items"]


def test_the_api_reads_the_last_ninety_days_by_default(app, client, session, world, api_token):
    today = snapshots.local_today(app.config["BABEL_DEFAULT_TIMEZONE"])
    take(app, today)
    take(app, today - timedelta(days=89))
    take(app, today - timedelta(days=90))
    body = get(client, api_token(world["admin"]), figure="assets.registered").json
    assert body["department"] == "city"
    assert [(item["day"], item["value"]) for item in body["items"]] == [
        ((today - timedelta(days=89)).isoformat(), 4.0),
        (today.isoformat(), 4.0),
    ]


def test_the_api_refuses_what_it_cannot_answer(app, client, world, api_token):
    take(app)
    token = api_token(world["officer_a"])
    assert get(client, token, department="b").status_code == 404
    assert get(client, token, department="no-such-dept").status_code == 404
    unknown = get(client, token, figure="assets.registered,no.such.figure")
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "invalid"
    assert get(client, token, since="2026-03-02", until="2026-03-01").status_code == 422
    assert get(client, token, since="2024-01-01", until="2026-03-01").status_code == 422
    assert get(client, token, since="yesterday").status_code == 422
    assert get(client, token, colour="blue").status_code == 422

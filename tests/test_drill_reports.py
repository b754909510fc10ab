"""The drills domain on the dashboard, in the daily figures, in the compliance report, in a drill's
after-action report and in the register exports. Drills are arranged through the services (the
helpers of drill_world): every tile's and chapter's figure equals a count this test makes itself
from the rows, the API's tiles equal the services', the PDFs hold the chapters in both languages
and are archived with their SHA-256, exports write the drills and actions in scope."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from drill_world import add_action, conduct, plan
from factories import config_of
from openpyxl import load_workbook
from sqlmodel import Session, select
from test_reports import actor_of, make_report, pdf_text, stored_file, tr

from drills import aar, actions, chapters, coverage, dashboard, exchange, figures, rule, services
from drills.models import CorrectiveAction, Drill, DrillObjective
from drills.schemas import DrillRecord, ObjectiveRating
from secgov.authz import Actor
from secgov.db import write_session
from secgov.models import AuditEntry, Department, Report, ReportFile
from secgov.reports import service
from secgov.reports.chapters import Period
from secgov.reports.document import render_html
from secgov.reports.render import RenderFailed

EN = {"Accept-Language": "en"}
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


def engine_of(app):
    return app.extensions["secgov_engine"]


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def world(app, city, make_user, make_asset):
    """Drills of a (on time, rated and approved), of b (late; and one never reported), of a1 (grade
    IV); one planned for an uncovered CII system of b; a CII system of a with nothing planned;
    corrective actions overdue (one escalated), open and closed, owned in a and b."""
    team = Actor.of(make_user("drill.city", roles=("drill_team",), department="city"), "api")
    officer_a, officer_b = city["officer_a"], city["officer_b"]
    make_asset("A-CII", "a", is_cii=True, name="Alpha signals")
    make_asset("A-CII2", "a", is_cii=True, name="Alpha tunnels")
    make_asset("A1-OPS", "a1", name="Alpha meters")
    make_asset("B-CII", "b", is_cii=True, name="Bravo water")
    make_asset("B-CII2", "b", is_cii=True, name="Bravo pumps")
    on_time = plan(app, team, department="a", assets=["A-CII"], participants=["officer.a"],
                   external_participants=[{"name": "Li Wei", "organisation": "Vendor Co", "role": "engineer"}],
                   objectives=["Detect the encryption", "Report to the CAC in time"])  # fmt: skip
    conduct(app, team, on_time, started=ago(30), milestones={"detected": 10, "reported": 45, "contained": 90,
            "recovered": 150}, ended=ago(30) + timedelta(minutes=200))  # fmt: skip
    late = plan(app, team, department="b", assets=["B-CII"], title="Water SCADA full-scale", exercise_type="full_scale")
    conduct(
        app,
        team,
        late,
        started=ago(10),
        milestones={"detected": 20, "reported": 75},
        ended=ago(10) + timedelta(hours=3),
    )
    missing = plan(app, team, department="b", departments=["b"], title="DDoS functional", exercise_type="functional")
    conduct(app, team, missing, started=ago(5), milestones={"detected": 5}, ended=ago(5) + timedelta(hours=1))
    minor = plan(app, team, department="a1", departments=["a1"], title="Grade IV seminar", incident_grade="IV",
                 exercise_type="seminar")  # fmt: skip
    conduct(app, team, minor, started=ago(3), milestones={"reported": 300}, ended=ago(3) + timedelta(hours=6))
    planned = plan(app, team, department="b", assets=["B-CII2"], title="Pump failover",
                   planned_start=NOW + timedelta(days=20))  # fmt: skip
    with Session(engine_of(app), expire_on_commit=False) as own, app.test_request_context(headers=EN):
        ids = own.exec(
            select(DrillObjective.id).where(DrillObjective.drill_id == on_time).order_by(DrillObjective.position)
        ).all()
        services.save_record(own, team, on_time, DrillRecord(
            ratings=[ObjectiveRating(id=ids[0], rating="P", note="fast"), ObjectiveRating(id=ids[1], rating="M", note="slow form")],
            strengths="The SOC saw the encryption at once.", improvements="The report form took too long."))  # fmt: skip
        services.approve_report(own, Actor.of(own.merge(city["leader"]), "api"), on_time)
        own.commit()
    overdue = add_action(app, team, on_time, "officer.b", TODAY - timedelta(days=9), title="Shorten the report form")
    escalated = add_action(app, team, late, "officer.a", TODAY - timedelta(days=4), title="Second pump", asset="B-CII")
    waiting = add_action(app, team, on_time, "officer.a", TODAY + timedelta(days=30), title="Train the night shift")
    closed = add_action(app, team, late, "officer.b", TODAY - timedelta(days=2), title="Done already")
    with write_session(engine_of(app)) as own, app.test_request_context(headers=EN):
        row = own.get(CorrectiveAction, closed)
        row.status = "closed"
        own.add(row)
        own.flush()
        actions.escalate(own, team, TODAY)  # the overdue ones: the closed one is not
        own.get(CorrectiveAction, overdue).escalated_at = None  # only the water action stays escalated
    return {
        "team": team, "leader": city["leader"], "officer_a": officer_a, "officer_b": officer_b,
        "drills": {"on_time": on_time, "late": late, "missing": missing, "minor": minor, "planned": planned},
        "actions": {"overdue": overdue, "escalated": escalated, "waiting": waiting, "closed": closed},
    }  # fmt: skip


def subtree(session: Session, code: str) -> set[int]:
    path = session.exec(select(Department.path).where(Department.code == code)).one()
    return set(session.exec(select(Department.id).where(Department.path.startswith(path))).all())


def independent(session: Session, code: str, user_id: int | None = None) -> dict:
    """The tiles' figures counted row by row in Python (the coverage period: 12 months)."""
    depts = subtree(session, code)
    since = rule.add_months(TODAY, -12)
    drills = [d for d in session.exec(select(Drill)).all() if d.department_id in depts]
    held = [d for d in drills if d.status == "completed" and d.ended_at.date() >= since]
    reportable = [d for d in held if d.report_deadline_minutes is not None]

    def state(d: Drill) -> str:
        if d.report_minutes is None:
            return "missing"
        return "on_time" if d.report_minutes <= d.report_deadline_minutes else "late"

    rows = [
        a for a in session.exec(select(CorrectiveAction)).all() if a.department_id in depts or a.owner_id == user_id
    ]
    live = [a for a in rows if a.status in ("open", "in_progress")]
    late = [a for a in live if a.due_date < TODAY]
    minutes = [d.report_minutes for d in reportable if d.report_minutes is not None]
    return {
        "held": len(held),
        "on_time": sum(state(d) == "on_time" for d in reportable),
        "late": sum(state(d) == "late" for d in reportable),
        "missing": sum(state(d) == "missing" for d in reportable),
        "median_minutes": float(statistics.median(minutes)) if minutes else None,
        "open": len(live),
        "overdue": len(late),
        "escalated": sum(a.escalated_at is not None for a in late),
    }


# --- the dashboard and the daily figures ---------------------------------------------------------


@pytest.mark.parametrize("who, code", [("leader", "city"), ("officer_b", "b")])
def test_the_tiles_equal_the_api_and_counts_made_from_the_rows(app, client, api_token, world, who, code):
    user = world[who]
    body = client.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {api_token(user)}", **EN}).get_json()
    shown = {tile["code"]: tile["data"] for tile in body["tiles"]}
    actor = actor_of(app, user)
    with app.test_request_context(), Session(engine_of(app)) as session:
        built = {tile.code: tile.build(session, actor, config_of(app), TODAY) for tile in dashboard.TILES}
        expected = independent(session, code, user.id)
        found = coverage.coverage(session, actor, config_of(app), TODAY)
    for tile in dashboard.TILES:
        assert shown[tile.code] == built[tile.code], tile.code
    held, gaps, reporting, acts = (
        shown[c] for c in ("drills_held", "coverage_gaps", "drill_reporting", "corrective_actions")
    )
    assert held["held"] == expected["held"]
    assert (held["required"], held["covered"], gaps["gaps"]) == (found.required, found.covered, len(found.gaps))
    assert (reporting["on_time"], reporting["late"], reporting["missing"]) == (
        expected["on_time"], expected["late"], expected["missing"])  # fmt: skip
    assert reporting["median_minutes"] == expected["median_minutes"]
    assert (acts["open"], acts["overdue"], acts["escalated"]) == (
        expected["open"],
        expected["overdue"],
        expected["escalated"],
    )
    if code == "city":  # the comparisons mean something
        assert held["held"] == 4 and (reporting["on_time"], reporting["late"], reporting["missing"]) == (1, 1, 1)
        assert reporting["median_deadline"] == 60.0 and reporting["median_minutes"] == 60.0  # 45 and 75
        assert gaps["gaps"] == 2 and gaps["planned"] == 1
        assert {g["code"]: g["next_drill_id"] for g in gaps["first"]} == {
            "A-CII2": None, "B-CII2": world["drills"]["planned"]}  # fmt: skip
        assert (acts["open"], acts["overdue"], acts["escalated"]) == (3, 2, 1)
    else:  # b sees its own drills and actions, and the officer's own action in a
        assert held["held"] == 2 and (reporting["late"], reporting["missing"], reporting["on_time"]) == (1, 1, 0)
        assert acts["yours"] == 1 and acts["open"] == 1  # the overdue one of a's drill, owned by officer.b


def test_the_home_page_shows_the_tiles(client, app, world):
    from helpers import login

    login(client, world["leader"])
    page = client.get("/", headers=EN).get_data(as_text=True)
    for title in ("Drills held versus required", "Drill coverage gaps", "Corrective actions"):
        assert title in page
    assert "Median time to report: 60 min" in page


def test_the_daily_figures_equal_counts_made_from_the_rows(app, world):
    with app.test_request_context(), Session(engine_of(app)) as session:
        values = {figure.code: figure.count(session) for figure in figures.FIGURES}
        ids = dict(session.exec(select(Department.code, Department.id)).all())
        drills = session.exec(select(Drill)).all()
        rows = session.exec(select(CorrectiveAction)).all()
    for code, dept in ids.items():
        mine = [d for d in drills if d.department_id == dept and d.status == "completed"]
        assert values["drills.held"].get(dept, 0) == len(mine), code
        assert values["drills.reportable"].get(dept, 0) == sum(d.report_deadline_minutes is not None for d in mine)
        live = [a for a in rows if a.department_id == dept and a.status in ("open", "in_progress")]
        assert values["drills.actions_open"].get(dept, 0) == len(live), code
        assert values["drills.actions_overdue"].get(dept, 0) == sum(a.due_date < TODAY for a in live), code
    assert values["drills.reported_late"] == {ids["b"]: 2.0}  # late and missing
    assert values["drills.coverage_gaps"] == {ids["a"]: 1.0, ids["b"]: 1.0}


# --- the compliance report -----------------------------------------------------------------------


def build(app, user, code: str, chapter, period: Period) -> dict:
    with app.test_request_context(), Session(engine_of(app)) as session:
        department = session.exec(select(Department).where(Department.code == code)).one()
        return dict(chapter(session, service.scope_of(department, actor_of(app, user)), period, dict(app.config)))


def test_the_chapter_equals_counts_made_from_the_rows(app, world):
    data = build(app, world["leader"], "city", chapters.drill_readiness, Period(TODAY - timedelta(days=40), TODAY))
    with Session(engine_of(app)) as session:
        expected = independent(session, "city")
    assert data["held"] == expected["held"] == data["drills"]["total"] == 4
    assert (data["required"], data["covered"], data["gaps_total"]) == (7, 5, 2)  # 4 CII systems, a, a1, b
    rows = {row["department"]: row for row in data["by_bureau"]}
    assert (rows["a"]["required"], rows["a"]["covered"], rows["a"]["held"]) == (4, 3, 2)  # A-CII, A-CII2, a, a1
    assert (rows["b"]["required"], rows["b"]["covered"], rows["b"]["held"]) == (3, 2, 2)
    assert rows["city"]["required"] == 0 and sum(r["gaps"] for r in data["by_bureau"]) == data["gaps_total"]
    gaps = {row["code"]: row for row in data["gaps"]["rows"]}
    assert gaps["B-CII2"]["next_drill_title"] == "Pump failover" and gaps["A-CII2"]["next_drill_id"] is None
    assert {r["title"]: r["reporting"] for r in data["drills"]["rows"]} == {
        "Ransomware tabletop": "on_time", "Water SCADA full-scale": "late", "DDoS functional": "missing",
        "Grade IV seminar": "not_reportable"}  # fmt: skip
    assert data["actions_overdue"] == expected["overdue"] == len(data["overdue"]) == 2
    assert data["actions_escalated"] == 1 and data["actions_open"] == 3
    late = {row["title"]: row for row in data["late_actions"]["rows"]}
    assert late["Shorten the report form"]["owner"] == "officer.b" and late["Shorten the report form"]["days_late"] == 9
    assert {item["asset"] for item in data["overdue"]} == {"", "B-CII"}
    assert data["score"][0]["value"] == round(100 * 5 / 7, 1)
    # A period before every drill: none held in it, the coverage as of its last day.
    early = build(
        app,
        world["leader"],
        "city",
        chapters.drill_readiness,
        Period(TODAY - timedelta(days=90), TODAY - timedelta(days=60)),
    )
    assert early["held"] == 0 and early["covered"] == 0


def test_a_bureau_sees_its_own_drills_only(app, world):
    data = build(app, world["officer_b"], "b", chapters.drill_readiness, Period(TODAY - timedelta(days=40), TODAY))
    assert {row["title"] for row in data["drills"]["rows"]} == {"Water SCADA full-scale", "DDoS functional"}
    assert {row["department"] for row in data["late_actions"]["rows"]} == {"b"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_shows_the_drills_chapter(app, world, lang):
    report = make_report(app, actor_of(app, world["leader"]), lang=lang, period=TODAY.strftime("%Y-%m"))
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    for message in (
        "Drills held versus required, with open corrective actions",
        "Coverage gaps and the next planned drill",
        "Reporting against the deadlines",
        "Corrective action overdue",
    ):
        assert tr(app, lang, message) in text, message
    assert "A-CII2" in text and "Pump failover" in text and "Shorten the report form" in text
    assert tr(app, lang, chapters.METHOD_DRILLS[0])[:20] in text


# --- the after-action report ---------------------------------------------------------------------


def make_aar(app, actor: Actor, subject: str, lang: str) -> Report:
    engine = engine_of(app)
    registry = app.extensions["secgov_registry"]
    with app.test_request_context(headers=EN):
        with Session(engine) as session:
            data = service.ReportCreate(kind="after_action", subject=subject, lang=lang)
            report = service.request_report(session, actor, data, TODAY, registry.report_kinds)
            session.commit()
            report_id = report.id
        try:
            return service.generate(
                engine, report_id, actor, registry.chapters, app.config, registry.figures,
                html_of=render_html, sign=service.sign_here, kinds=registry.report_kinds,
            )  # fmt: skip
        except RenderFailed:
            with Session(engine) as session:
                return session.get(Report, report_id)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_after_action_report_is_generated_and_archived(app, world, lang):
    drill_id = world["drills"]["on_time"]
    report = make_aar(app, actor_of(app, world["leader"]), str(drill_id), lang)
    assert report.status == "succeeded", report.reason
    data = stored_file(app, report.id)
    assert data.startswith(b"%PDF") and report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.kind == "after_action" and report.subject == str(drill_id) and report.audit_hash
    text = pdf_text(data)
    for message in ("After-action report", "Objectives and capability ratings", "Strengths", "Areas for improvement",
                    "Improvement plan", "Measured times and the reporting deadline", "Approval"):  # fmt: skip
        assert tr(app, lang, message) in text, message
    assert "Detect the encryption" in text and "Report to the CAC in time" in text
    with app.test_request_context():
        from drills.codes import RATING

        assert f"P · {RATING.label('P', lang)}" in text and f"M · {RATING.label('M', lang)}" in text
    assert "Li Wei" in text and "Shorten the report form" in text and "Train the night shift" in text
    assert "The report form took too long." in text and "A-CII" in text
    assert report.input_sha256[:16] in text.replace(" ", "") or report.input_sha256[:8] in text
    with Session(engine_of(app)) as session:
        requested = session.exec(select(AuditEntry).where(AuditEntry.action == "report.requested")).all()
        assert json.loads(requested[-1].detail).get("report_kind") == "after_action"
        assert session.get(ReportFile, report.id) is not None


def test_the_chapters_read_the_drill(app, world):
    drill_id = world["drills"]["on_time"]
    with app.test_request_context(), Session(engine_of(app)) as session:
        drill = session.get(Drill, drill_id)
        scope = service.scope_of(
            session.get(Department, drill.department_id), actor_of(app, world["leader"]), str(drill_id)
        )
        period, config = Period(TODAY, TODAY), dict(app.config)
        objectives = aar.objectives(session, scope, period, config)
        times = aar.times(session, scope, period, config)
        plan_ = aar.plan(session, scope, period, config)
        approval = aar.approval(session, scope, period, config)
    assert [o["rating"] for o in objectives["objectives"]] == ["P", "M"] and objectives["ratings"]["P"] == 1
    assert {t["milestone"]: t["minutes"] for t in times["times"]} == {
        "detected": 10,
        "reported": 45,
        "contained": 90,
        "recovered": 150,
    }
    assert (times["deadline"], times["reporting"]) == (60, "on_time")
    assert [a["title"] for a in plan_["actions"]["rows"]] == ["Shorten the report form", "Train the night shift"]
    assert plan_["late"] == 1 and plan_["actions"]["rows"][0]["days_overdue"] == 9
    assert approval["status"] == "approved" and approval["approved_by"] == "leader"


def test_only_a_completed_drill_in_scope_has_one(app, world):
    from secgov.errors import Invalid, NotFound

    registry = app.extensions["secgov_registry"]
    with app.test_request_context(headers=EN), Session(engine_of(app)) as session:
        leader, officer_a = actor_of(app, world["leader"]), actor_of(app, world["officer_a"])

        def ask(actor, subject):
            data = service.ReportCreate(kind="after_action", subject=subject, lang="en")
            return service.request_report(session, actor, data, TODAY, registry.report_kinds)

        with pytest.raises(Invalid, match="Only a completed drill"):
            ask(leader, str(world["drills"]["planned"]))
        with pytest.raises(NotFound):
            ask(officer_a, str(world["drills"]["late"]))  # b's drill
        with pytest.raises(NotFound):
            ask(leader, "x1")
        assert ask(officer_a, f"#{world['drills']['on_time']}").subject == str(world["drills"]["on_time"])


def test_the_api_asks_for_an_after_action_report(app, client, api_token, world):
    headers = {"Authorization": f"Bearer {api_token(world['officer_a'])}", **EN}
    answer = client.post("/api/v1/reports", json={"kind": "after_action", "subject": str(world["drills"]["on_time"])},
                         headers=headers)  # fmt: skip
    assert answer.status_code == 202, answer.get_data(as_text=True)
    body = answer.get_json()["report"]
    assert body["kind"] == "after_action" and body["subject"] == str(world["drills"]["on_time"])
    refused = client.post("/api/v1/reports", json={"kind": "after_action", "subject": str(world["drills"]["late"])},
                          headers=headers)  # fmt: skip
    assert refused.status_code == 404


# --- the register exports ------------------------------------------------------------------------


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_exports_write_the_drills_and_actions_in_scope(app, client, api_token, world):
    headers = {"Authorization": f"Bearer {api_token(world['officer_b'])}", **EN}
    answer = client.get("/api/v1/drills/export?format=csv", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rows = read_csv(answer.data)
    assert tuple(rows[0].keys()) == exchange.DRILLS.column_names
    assert sorted(int(r["id"]) for r in rows) == sorted([world["drills"]["late"], world["drills"]["missing"],
                                                         world["drills"]["planned"]])  # fmt: skip
    late = next(r for r in rows if int(r["id"]) == world["drills"]["late"])
    assert (late["report_minutes"], late["report_deadline_minutes"], late["reporting"]) == ("75", "60", "late")
    assert late["assets"] == "B-CII" and late["status"] == "completed" and late["exercise_type"] == "full_scale"
    assert late["ended_at"].endswith("+08:00") and "T" in late["ended_at"]  # the city's zone, with its offset

    city = {"Authorization": f"Bearer {api_token(world['leader'])}", **EN}
    answer = client.get("/api/v1/corrective_actions/export?format=xlsx", headers=city)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    header, *lines = [[c.value for c in row] for row in load_workbook(io.BytesIO(answer.data)).active.iter_rows()]
    assert tuple(header) == exchange.ACTIONS.column_names
    by_title = {line[header.index("title")]: dict(zip(header, line, strict=True)) for line in lines}
    assert set(by_title) == {"Shorten the report form", "Second pump", "Train the night shift", "Done already"}
    assert by_title["Shorten the report form"]["owner"] == "officer.b"
    assert by_title["Shorten the report form"]["days_overdue"] == 9
    assert by_title["Second pump"]["escalated_at"] and by_title["Second pump"]["asset"] == "B-CII"
    assert by_title["Done already"]["status"] == "closed"
    filtered = client.get("/api/v1/corrective_actions/export?format=csv&overdue=true", headers=city)
    assert {r["title"] for r in read_csv(filtered.data)} == {"Shorten the report form", "Second pump"}
    # Export only: nothing is imported from a spreadsheet.
    assert client.post("/api/v1/drills/import", headers=city).status_code in (404, 405)
    with Session(engine_of(app)) as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "corrective_actions.exported")).first()


def test_the_demo_city_timezone_is_what_the_exports_show(app):
    assert config_of(app).timezone == "Asia/Shanghai"


__all__ = ["date"]


def test_the_drill_page_button_asks_for_the_report(app, client, world):
    """The partial the drill's page includes posts to the report routes, as the dossier's does."""
    from helpers import csrf_token, login

    from drills.schemas import DrillRead

    login(client, world["officer_a"])
    with app.test_request_context(headers=EN), Session(engine_of(app)) as session:
        drill = services.read(session, session.get(Drill, world["drills"]["on_time"]))
        assert isinstance(drill, DrillRead)
    answer = client.post(
        "/reports",
        data={
            "kind": "after_action",
            "subject": str(drill.id),
            "lang": "en",
            "csrf_token": csrf_token(client, "/reports"),
        },
        headers=EN,
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with Session(engine_of(app)) as session:
        made = session.exec(select(Report).where(Report.kind == "after_action")).all()
    assert [(r.subject, r.requested_by) for r in made] == [(str(drill.id), "officer.a")]

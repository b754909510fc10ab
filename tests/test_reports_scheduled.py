"""Scheduled reports (secgov.reports.scheduled): the built-in monthly schedule, the reports of the
city and its bureaus for the previous month, and the e-mail to the leaders in scope — a link to
the report's page, never the file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from helpers import DATA_KEY, csrf_token, login
from smtp_support import smtp_server  # noqa: F401 - a fixture
from sqlmodel import Session, select
from test_reports import pdf_text

from secgov import runs, schedules
from secgov.app import create_app
from secgov.authz import Actor
from secgov.db import upgrade, write_session
from secgov.models import AuditEntry, Department, Report, ReportFile, Run, Schedule, User
from secgov.reports.scheduled import CODE, MAIL_CODE, previous_month
from secgov.scheduler import Scheduler
from secgov.tasks import platform_of

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh"}
PUBLIC = "https://secgov.city.example/gov"
# 07:00 on 1 December 2026 in Shanghai is still November in UTC: the period is November, not October.
PLANNED = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def engine_of(app):
    return app.extensions["secgov_engine"]


def kinds(app):
    return app.extensions["secgov_registry"].jobs


@pytest.fixture
def town(app, session, make_department, make_user, api_token):
    """Metropolis > Waterworks, Transit > North depot; leaders at each level (the city's reads
    English), a disabled leader, a leader without e-mail, an officer; root and bureau admins."""
    make_department("metro", name="大都会")
    make_department("water", parent="metro", name="水务局")
    make_department("transit", parent="metro", name="交通局")
    make_department("depot", parent="transit", kind="unit", name="北车场")
    for code, english in (("metro", "Metropolis"), ("water", "Waterworks Bureau"), ("transit", "Transit Bureau")):
        department = session.exec(select(Department).where(Department.code == code)).one()
        department.name_en = english
        session.add(department)
    people = {
        "chief": make_user("chief", roles=("leader",), department="metro"),
        "water.head": make_user("water.head", roles=("leader",), department="water"),
        "transit.head": make_user("transit.head", roles=("leader", "officer"), department="transit"),
        "depot.head": make_user("depot.head", roles=("leader",), department="depot"),
        "water.former": make_user("water.former", roles=("leader",), department="water"),
        "water.nomail": make_user("water.nomail", roles=("leader",), department="water"),
        "water.officer": make_user("water.officer", roles=("officer",), department="water"),
        "root.admin": make_user("root.admin", roles=("admin",), department="metro", mfa=True),
        "water.admin": make_user("water.admin", roles=("admin",), department="water"),
    }
    for username, user in people.items():
        user.email = "" if username == "water.nomail" else f"{username}@city.example"
    people["chief"].language = "en"
    people["water.former"].disabled = True
    for user in people.values():
        session.add(user)
    session.commit()
    people["headers"] = {
        name: {"Authorization": f"Bearer {api_token(people[name])}", **EN}
        for name in ("root.admin", "water.admin", "water.head")
    }
    return people


def builtin_schedule(app) -> int:
    """The monthly schedule `db upgrade` makes (an upgrade with nothing to migrate syncs them)."""
    upgrade(app.config["DATABASE_URL"], catalogs=app.extensions["secgov_registry"].catalogs)
    with Session(engine_of(app)) as session:
        return session.exec(select(Schedule.id).where(Schedule.kind == CODE, Schedule.system)).one()


def reports_of(app) -> list[Report]:
    with Session(engine_of(app)) as session:
        return list(session.exec(select(Report).order_by(Report.id)).all())


def codes_of(app, reports: list[Report]) -> dict[str, Report]:
    with Session(engine_of(app)) as session:
        codes = dict(session.exec(select(Department.id, Department.code)).all())
    return {codes[report.department_id]: report for report in reports}


def file_of(app, report_id: int) -> bytes:
    with Session(engine_of(app)) as session:
        return session.get(ReportFile, report_id).data


def runs_of(app, kind: str) -> list[Run]:
    with Session(engine_of(app)) as session:
        return list(session.exec(select(Run).where(Run.kind == kind).order_by(Run.id)).all())


def mailed_entries(app) -> list[dict]:
    with Session(engine_of(app)) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "report.mailed")).all()
    return [{"report": int(row.object_id), **json.loads(row.detail)} for row in rows]


@pytest.mark.nodb
def test_the_period_is_the_month_before_the_planned_time_in_the_citys_zone():
    assert previous_month(PLANNED, "Asia/Shanghai") == "2026-11"
    assert previous_month(PLANNED, "UTC") == "2026-10"
    assert previous_month(datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "UTC") == "2026-12"


def test_the_planned_run_makes_the_city_and_bureau_reports_and_mails_each_leader_once(app, town, smtp_server):  # noqa: F811
    app.config.update(smtp_server.config(), SECGOV_PUBLIC_URL=PUBLIC)
    schedule_id = builtin_schedule(app)
    run_id = Scheduler(app).fire(schedule_id, PLANNED)
    run = runs.loads(runs_of(app, CODE)[0].result)
    assert runs_of(app, CODE)[0].status == "succeeded", runs_of(app, CODE)[0].detail
    assert run["period"] == "2026-11" and run["mail"] == "queued" and run["mail_runs"] == 3

    made = codes_of(app, reports_of(app))
    assert sorted(made) == ["metro", "transit", "water"]  # the city and its bureaus, not the depot
    for report in made.values():
        assert (report.status, report.requested_by, report.schedule_id, report.run_id) == (
            "succeeded",
            "system",
            schedule_id,
            run_id,
        )
        assert (report.period_from, report.period_to, report.lang) == (date(2026, 11, 1), date(2026, 11, 30), "zh")
    water, transit = pdf_text(file_of(app, made["water"].id)), pdf_text(file_of(app, made["transit"].id))
    assert "水务局" in water and "交通局" not in water
    assert "交通局" in transit and "水务局" not in transit

    # Each leader in scope once per report in their scope: the city's leader all three, a bureau's
    # head their bureau's; not the depot's head (below the bureau), the disabled leader, the leader
    # without an address, nor the officer.
    got: dict[str, list] = {}
    for received in smtp_server.messages:
        [address] = received.rcpt_tos
        got.setdefault(address, []).append(received.message)
    assert sorted((address, len(messages)) for address, messages in got.items()) == [
        ("chief@city.example", 3),
        ("transit.head@city.example", 1),
        ("water.head@city.example", 1),
    ]
    [to_water] = got["water.head@city.example"]
    assert "水务局" in to_water["Subject"]  # no language of their own: the report's (its department's name)
    assert not to_water.is_multipart() and list(to_water.iter_attachments()) == []
    assert to_water.get_content_type() == "text/plain"
    body = to_water.get_content()
    assert f"{PUBLIC}/reports/{made['water'].id}" in body
    assert "%PDF" not in body
    chief_subjects = sorted(message["Subject"] for message in got["chief@city.example"])
    assert any("Waterworks Bureau" in subject for subject in chief_subjects)  # in English, their language
    assert all(not message.is_multipart() for message in got["chief@city.example"])

    mailed = {entry["report"]: sorted(entry["recipients"]) for entry in mailed_entries(app)}
    assert mailed == {
        made["metro"].id: ["chief"],
        made["water"].id: ["chief", "water.head"],
        made["transit"].id: ["chief", "transit.head"],
    }
    assert all(row.status == "succeeded" for row in runs_of(app, MAIL_CODE))

    # The same planned time again: the scheduler asks for nothing; the run done again (the
    # reaper's retry) and a second firing in the same month make and send nothing more.
    assert Scheduler(app).fire(schedule_id, PLANNED) is None
    with write_session(engine_of(app)) as session:
        row = session.get(Run, run_id)
        row.status, row.attempt = "queued", row.attempt + 1
    platform_of(app).execute(run_id)
    assert runs_of(app, CODE)[0].status == "succeeded"
    later = Scheduler(app).fire(schedule_id, datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert later is not None
    again = runs.loads(runs_of(app, CODE)[-1].result)
    assert {entry["status"] for entry in again["reports"]} == {"skipped"} and again["mail_runs"] == 0
    assert len(reports_of(app)) == 3 and len(smtp_server.messages) == 5


def test_without_mail_settings_the_reports_are_made_and_the_result_says_so(app, town):
    app.config["SECGOV_SMTP_HOST"] = ""
    Scheduler(app).fire(builtin_schedule(app), PLANNED)
    [run] = runs_of(app, CODE)
    assert run.status == "succeeded", run.detail
    result = runs.loads(run.result)
    assert result["mail"] == "off" and result["mail_runs"] == 0
    assert len(reports_of(app)) == 3 and runs_of(app, MAIL_CODE) == []
    assert mailed_entries(app) == []


def test_a_schedule_naming_departments_makes_theirs_and_one_naming_unknown_ones_fails(app, town):
    app.config["SECGOV_SMTP_HOST"] = ""
    with write_session(engine_of(app)) as session:
        named = schedules.create(
            session,
            Actor.system("cli"),
            schedules.ScheduleIn(kind=CODE, cron="0 7 1 * *", params={"lang": "en", "departments": "depot, water"}),
            kinds(app),
            timezone="Asia/Shanghai",
            min_seconds=60,
        ).id
        unknown = schedules.create(
            session,
            Actor.system("cli"),
            schedules.ScheduleIn(kind=CODE, cron="0 8 1 * *", params={"departments": ["water", "nowhere"]}),
            kinds(app),
            timezone="Asia/Shanghai",
            min_seconds=60,
        ).id
    Scheduler(app).fire(named, PLANNED)
    made = codes_of(app, reports_of(app))
    assert sorted(made) == ["depot", "water"] and {r.lang for r in made.values()} == {"en"}
    assert "Waterworks Bureau" in pdf_text(file_of(app, made["water"].id))
    Scheduler(app).fire(unknown, PLANNED)
    failed = runs_of(app, CODE)[-1]
    assert (failed.status, failed.reason, failed.detail) == ("failed", "unknown_departments", "nowhere")
    assert len(reports_of(app)) == 2


# --- the schedule -------------------------------------------------------------------------------------


def test_the_built_in_schedule_comes_with_the_database_and_root_admins_change_it(client, app, town):
    schedule_id = builtin_schedule(app)
    headers = town["headers"]
    listed = {s["kind"]: s for s in client.get("/api/v1/schedules", headers=headers["root.admin"]).get_json()["items"]}
    assert (listed[CODE]["cron"], listed[CODE]["system"], listed[CODE]["enabled"]) == ("0 7 1 * *", True, True)
    body = {"kind": CODE, "cron": "30 6 2 * *", "params": {"lang": "en", "departments": "water, transit"}}
    refused = client.patch(
        f"/api/v1/schedules/{schedule_id}", json={**body, "version": 1}, headers=headers["water.admin"]
    )
    assert refused.status_code == 403
    bad = client.patch(
        f"/api/v1/schedules/{schedule_id}",
        json={**body, "params": {"lang": "fr"}, "version": 1},
        headers=headers["root.admin"],
    )
    assert bad.status_code == 422 and "lang" in bad.get_json()["error"]["message"], bad.get_json()
    bad_code = client.patch(
        f"/api/v1/schedules/{schedule_id}",
        json={**body, "params": {"departments": "water, <b>"}, "version": 1},
        headers=headers["root.admin"],
    )
    assert bad_code.status_code == 422
    changed = client.patch(
        f"/api/v1/schedules/{schedule_id}", json={**body, "enabled": False, "version": 1}, headers=headers["root.admin"]
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["params"] == {"lang": "en", "departments": ["water", "transit"]}
    assert client.delete(f"/api/v1/schedules/{schedule_id}", headers=headers["root.admin"]).status_code == 409
    copy = client.post("/api/v1/schedules", json={**body, "name": "Bureaus in English"}, headers=headers["root.admin"])
    assert copy.status_code == 201 and not copy.get_json()["system"]


@pytest.mark.parametrize(("headers", "words"), [(EN, "Departments (codes"), (ZH, "中文")])
def test_the_schedules_page_shows_and_takes_the_parameters(client, app, town, headers, words):
    builtin_schedule(app)
    login(client, town["root.admin"])
    page = client.get("/jobs/schedules", headers=headers).get_data(as_text=True)
    assert f'name="{CODE}:param.departments" type="text"' in page and words in page
    token = csrf_token(client, "/jobs/schedules")
    form = {
        "csrf_token": token,
        "kind": CODE,
        "name": "Water monthly",
        "when": "cron",
        "cron": "0 9 1 * *",
        "enabled": "on",
        f"{CODE}:param.lang": "en",
        f"{CODE}:param.departments": "water",
        "snapshot.daily:param.day": "2026-01-01",  # another kind's field: not read
    }
    response = client.post("/jobs/schedules", data=form, headers=headers)
    assert response.status_code == 302, response.get_data(as_text=True)
    with Session(engine_of(app)) as session:
        made = session.exec(select(Schedule).where(Schedule.name == "Water monthly")).one()
    assert json.loads(made.params) == {"departments": ["water"], "lang": "en"}
    refused = client.post(
        "/jobs/schedules", data={**form, "name": "Bad", f"{CODE}:param.departments": "a b <c>"}, headers=headers
    )
    assert refused.status_code == 422
    with Session(engine_of(app)) as session:
        assert session.exec(select(Schedule).where(Schedule.name == "Bad")).first() is None


def test_the_reports_pages_name_the_schedule_instead_of_a_user(client, app, town):
    app.config["SECGOV_SMTP_HOST"] = ""
    schedule_id = builtin_schedule(app)
    with write_session(engine_of(app)) as session:
        session.get(Schedule, schedule_id).name = "Monthly for the leadership"
    Scheduler(app).fire(schedule_id, PLANNED)
    with write_session(engine_of(app)) as session:
        chief = session.exec(select(User).where(User.username == "chief")).one()
        chief.totp_secret = None
    login(client, town["chief"])
    index = client.get("/reports", headers=EN).get_data(as_text=True)
    assert index.count("Monthly for the leadership") == 3 and ">system<" not in index
    report_id = reports_of(app)[0].id
    detail = client.get(f"/reports/{report_id}", headers=EN).get_data(as_text=True)
    assert "Scheduled" in detail and "Monthly for the leadership" in detail
    water = codes_of(app, reports_of(app))["water"]
    read = client.get(f"/api/v1/reports/{water.id}", headers=town["headers"]["water.head"]).get_json()
    assert (read["requested_by"], read["schedule_id"]) == ("system", schedule_id)

    admin = app.test_client()
    login(admin, town["root.admin"])
    [run] = runs_of(app, CODE)
    page = admin.get(f"/jobs/{run.id}", headers=EN).get_data(as_text=True)
    assert "Monthly compliance reports" in page and "Not sent: e-mail is not configured." in page
    assert f"#{water.id}" in page and "Waterworks Bureau" in page  # an admin reads no reports: no link
    assert "水务局" in admin.get(f"/jobs/{run.id}", headers=ZH).get_data(as_text=True)


def test_a_report_in_flight_for_the_same_schedule_and_month_is_skipped(app, town):
    app.config["SECGOV_SMTP_HOST"] = ""
    schedule_id = builtin_schedule(app)
    with write_session(engine_of(app)) as session:
        water = session.exec(select(Department).where(Department.code == "water")).one()
        session.add(
            Report(
                lang="zh",
                department_id=water.id,
                period_from=date(2026, 11, 1),
                period_to=date(2026, 11, 30),
                requested_by="system",
                schedule_id=schedule_id,
                status="running",
            )
        )
    Scheduler(app).fire(schedule_id, PLANNED)
    result = runs.loads(runs_of(app, CODE)[0].result)
    assert {entry["department"]: entry["status"] for entry in result["reports"]} == {
        "metro": "made",
        "water": "skipped",
        "transit": "made",
    }
    assert len(reports_of(app)) == 3


@pytest.mark.nodb
@pytest.mark.parametrize("url", ["ftp://secgov.example", "secgov.example", "https://", "https://secgov.example/?x=1"])
def test_a_public_url_that_is_no_web_address_stops_the_app(url):
    with pytest.raises(SystemExit, match="SECGOV_PUBLIC_URL"):
        create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "SECGOV_DATA_KEYS": DATA_KEY, "SECGOV_PUBLIC_URL": url})

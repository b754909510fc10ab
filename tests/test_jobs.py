"""Background work: runs (asked for, claimed, beating, ended, reaped), schedules (checked, fired
once per planned time, missed runs coalesced, reloaded on change), the scheduler's lease, signed
task payloads, a queue that cannot be reached, e-mail through a worker, the signed checkpoint job
and its alert, and the pages and API of all of it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from helpers import csrf_token, login
from smtp_support import free_port, smtp_server  # noqa: F401 - a fixture
from sqlmodel import Session, select

from secgov import runs, schedules, tasks
from secgov.authz import Actor
from secgov.db import write_session
from secgov.errors import Forbidden, Invalid
from secgov.jobs import SYSTEM_CHECK
from secgov.models import AuditEntry, Run, Schedule
from secgov.runs import JobKind
from secgov.scheduler import LeaseHeld, Scheduler

EN = {"Accept-Language": "en"}


@pytest.fixture
def people(city, make_user, api_token):
    """The city's admin, a bureau's admin, an officer and an auditor, with API headers."""
    bureau_admin = make_user("a.admin", roles=("admin",), department="a")
    auditor = make_user("auditor", roles=("auditor",), department="city")

    def headers(user):
        return {"Authorization": f"Bearer {api_token(user)}", **EN}

    return {
        "admin": headers(city["admin"]),
        "bureau_admin": headers(bureau_admin),
        "officer_a": headers(city["officer_a"]),
        "officer_b": headers(city["officer_b"]),
        "auditor": headers(auditor),
        "leader": headers(city["leader"]),
        "users": {**city, "bureau_admin": bureau_admin, "auditor": auditor},
    }


def engine_of(app):
    return app.extensions["secgov_engine"]


def run_row(app, run_id: int) -> Run:
    with Session(engine_of(app)) as session:
        return session.get(Run, run_id)


def actions(app, prefix: str = "") -> list[str]:
    with Session(engine_of(app)) as session:
        rows = session.exec(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    return [a for a in rows if a.startswith(prefix)]


def enqueue(app, actor: Actor, kind: JobKind, params=None, **extra) -> int:
    with write_session(engine_of(app)) as session:
        return runs.enqueue(session, actor, kind, params or {}, **extra).id


def kinds(app):
    return app.extensions["secgov_registry"].jobs


# --- asking for work through the API ----------------------------------------------------------


def test_an_admin_asks_for_work_and_a_worker_does_it(client, app, people):
    response = client.post(
        "/api/v1/jobs", json={"kind": "system.check", "params": {"hold_seconds": 1}}, headers=people["admin"]
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "queued" and body["kind"] == "system.check"
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{body['id']}")
    done = client.get(f"/api/v1/jobs/{body['id']}", headers=people["admin"]).get_json()
    assert done["status"] == "succeeded"
    assert done["result"]["held_seconds"] == 1
    assert done["progress_done"] == done["progress_total"] == 1
    assert done["requested_by"] == "root.admin" and done["reason"] == ""
    assert actions(app, "run.") == ["run.queued", "run.started", "run.succeeded"]


def test_bad_requests_for_work_are_refused_clearly(client, people):
    unknown = client.post("/api/v1/jobs", json={"kind": "no.such", "params": {}}, headers=people["admin"])
    assert unknown.status_code == 422
    assert "No such kind of work" in unknown.get_json()["error"]["message"]
    bad = client.post(
        "/api/v1/jobs", json={"kind": "system.check", "params": {"hold_seconds": -1}}, headers=people["admin"]
    )
    assert bad.status_code == 422
    nobody = client.post("/api/v1/jobs", json={"kind": "mail.alert", "params": {"run_id": 1}}, headers=people["admin"])
    assert nobody.status_code == 403  # only the application asks for alerts
    officer = client.post("/api/v1/jobs", json={"kind": "system.check"}, headers=people["officer_a"])
    assert officer.status_code == 403


def test_city_wide_work_is_for_the_root_department(client, app, people):
    response = client.post("/api/v1/jobs", json={"kind": "audit.checkpoint"}, headers=people["bureau_admin"])
    assert response.status_code == 403
    assert "whole city" in response.get_json()["error"]["message"]
    assert "run.denied" in actions(app)
    with Session(engine_of(app)) as session:
        assert session.exec(select(Run)).all() == []


def test_runs_are_read_in_scope(client, app, people):
    users = people["users"]
    with Session(engine_of(app)) as session:
        a = Actor.of(session.merge(users["officer_a"]), "api")
        b = Actor.of(session.merge(users["officer_b"]), "api")
    in_a = enqueue(app, a, SYSTEM_CHECK)
    in_b = enqueue(app, b, SYSTEM_CHECK)
    city_run = enqueue(app, Actor.system("cli"), SYSTEM_CHECK)
    seen = client.get("/api/v1/jobs", headers=people["officer_a"]).get_json()
    assert [item["id"] for item in seen["items"]] == [in_a] and seen["total"] == 1
    assert client.get(f"/api/v1/jobs/{in_b}", headers=people["officer_a"]).status_code == 404
    assert client.get(f"/api/v1/jobs/{city_run}", headers=people["officer_a"]).status_code == 404
    everything = client.get("/api/v1/jobs?status=queued", headers=people["auditor"]).get_json()
    assert {item["id"] for item in everything["items"]} == {in_a, in_b, city_run}
    assert client.get("/api/v1/jobs", headers=people["leader"]).status_code == 403


# --- the run's life -------------------------------------------------------------------------------


def test_a_run_is_claimed_once_and_a_late_worker_changes_nothing(app, people):
    run_id = enqueue(app, Actor.system("cli"), SYSTEM_CHECK)
    engine = engine_of(app)
    first = runs.claim(engine, run_id, SYSTEM_CHECK, "host:1")
    assert first is not None and first.status == "running"
    assert runs.claim(engine, run_id, SYSTEM_CHECK, "host:2") is None
    assert runs.fail(engine, run_id, "worker_lost", attempt=1) == []
    assert runs.finish(engine, run_id, 1, {"late": True}) is False
    assert runs.beat(engine, run_id, 1) is False
    row = run_row(app, run_id)
    assert row.status == "failed" and row.reason == "worker_lost" and row.result == ""


def test_the_reaper_requeues_a_lost_run_once_then_fails_it(app, people):
    engine = engine_of(app)
    run_id = enqueue(app, Actor.system("cli"), SYSTEM_CHECK)
    runs.claim(engine, run_id, SYSTEM_CHECK, "host:1")
    later = datetime.now(UTC) + timedelta(seconds=runs.STALE_SECONDS + 1)
    reaped = runs.reap(engine, kinds(app), now=later)
    assert reaped.requeued == [run_id] and reaped.failed == []
    row = run_row(app, run_id)
    assert row.status == "queued" and row.attempt == 2
    # The worker of the first attempt comes back: nothing it says counts any more.
    assert runs.finish(engine, run_id, 1, {}) is False
    runs.claim(engine, run_id, SYSTEM_CHECK, "host:2")
    again = runs.reap(engine, kinds(app), now=datetime.now(UTC) + timedelta(seconds=runs.STALE_SECONDS + 1))
    assert again.failed == [run_id]
    row = run_row(app, run_id)
    assert row.status == "failed" and row.reason == "worker_lost"
    assert actions(app, "run.") == ["run.queued", "run.started", "run.requeued", "run.started", "run.failed"]


def test_the_reaper_fails_a_run_past_its_time_limit(app, people):
    engine = engine_of(app)
    run_id = enqueue(app, Actor.system("cli"), SYSTEM_CHECK)
    runs.claim(engine, run_id, SYSTEM_CHECK, "host:1")
    past = datetime.now(UTC) + timedelta(seconds=SYSTEM_CHECK.max_seconds + runs.GRACE_SECONDS + 1)
    runs.beat(engine, run_id, 1)
    reaped = runs.reap(engine, kinds(app), now=past, stale_seconds=10**6)
    assert reaped.failed == [run_id]
    assert run_row(app, run_id).reason == "timeout"


def test_the_reaper_hands_an_unclaimed_run_over_again(app, people):
    run_id = enqueue(app, Actor.system("cli"), SYSTEM_CHECK)
    later = datetime.now(UTC) + timedelta(seconds=runs.UNCLAIMED_SECONDS + 1)
    assert runs.reap(engine_of(app), kinds(app), now=later).rehanded == [run_id]
    assert runs.reap(engine_of(app), kinds(app)).rehanded == []  # not again at once


def test_a_run_checks_its_deadline_between_steps(app, people, monkeypatch):
    short = JobKind(code="system.check", label="x", run=SYSTEM_CHECK.run, params=SYSTEM_CHECK.params, max_seconds=1)
    monkeypatch.setattr(tasks.Platform, "kinds", property(lambda self: {"system.check": short}))
    run_id = enqueue(app, Actor.system("cli"), short, {"hold_seconds": 3})
    tasks.platform_of(app).dispatch([run_id])
    row = run_row(app, run_id)
    assert row.status == "failed" and row.reason == "timeout"
    assert row.progress_done is not None and row.progress_done < 3


def test_a_stalled_worker_stops_once_its_run_was_given_up(app, people, monkeypatch):
    seen = []

    def slow(ctx):
        ctx.progress(0, 2)
        later = datetime.now(UTC) + timedelta(seconds=runs.STALE_SECONDS + 1)
        runs.reap(ctx.engine, {"system.check": SYSTEM_CHECK}, now=later)
        seen.append("reaped")
        ctx.progress(1, 2)  # given up meanwhile: this attempt stops here
        seen.append("went on")

    kind = JobKind(code="system.check", label="x", run=slow, retries=1)
    monkeypatch.setattr(tasks.Platform, "kinds", property(lambda self: {"system.check": kind}))
    run_id = enqueue(app, Actor.system("cli"), kind)
    monkeypatch.setattr(tasks.Platform, "dispatch", lambda self, ids: None)  # attempt 2 is not handed over here
    tasks.platform_of(app).execute(run_id)
    assert seen == ["reaped"]
    row = run_row(app, run_id)
    assert (row.status, row.attempt) == ("queued", 2)


def test_a_failing_job_fails_its_run_with_a_reason_and_the_worker_goes_on(app, people, monkeypatch):
    def broken(_ctx):
        raise RuntimeError("boom")

    bad = JobKind(code="system.check", label="x", run=broken)
    monkeypatch.setattr(tasks.Platform, "kinds", property(lambda self: {"system.check": bad}))
    run_id = enqueue(app, Actor.system("cli"), bad)
    tasks.platform_of(app).dispatch([run_id])
    row = run_row(app, run_id)
    assert (row.status, row.reason, row.detail) == ("failed", "error", "RuntimeError")


# --- the queue --------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_queue(app, tmp_path):
    """The app with a real queue (not run at once): SqliteHuey, or PostgresHuey on PostgreSQL."""
    app.config.update(SECGOV_TASKS_IMMEDIATE=False, SECGOV_TASKS_PATH=str(tmp_path / "tasks.sqlite3"))
    app.extensions.pop("secgov_platform", None)
    platform = tasks.platform_of(app)
    yield platform
    platform.close()


def test_tasks_are_signed_and_a_worker_refuses_unsigned_or_altered_ones(app, people, sqlite_queue):
    platform = sqlite_queue
    assert platform.backend == ("postgres" if app.config["DATABASE_URL"].startswith("postgresql") else "sqlite")
    run_id = enqueue(app, Actor.system("cli"), SYSTEM_CHECK)
    platform.dispatch([run_id])
    huey = platform.queue()
    signed = huey.storage.dequeue()
    assert signed is not None and signed.rsplit(b":", 1)[1]  # payload:signature
    altered = signed.replace(str(run_id).encode(), b"9", 1) if str(run_id).encode() in signed else signed[:-1] + b"0"
    for payload in (b"\x80\x04K\x01.", altered):
        huey.storage.enqueue(payload)
        with pytest.raises(ValueError):
            huey.dequeue()
    assert run_row(app, run_id).status == "queued"
    huey.storage.enqueue(signed)
    huey.execute(huey.dequeue())
    assert run_row(app, run_id).status == "succeeded"


def test_a_queue_that_cannot_be_reached_fails_the_run_and_the_web_goes_on(client, app, people):
    app.config.update(SECGOV_TASKS_IMMEDIATE=False, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    app.extensions.pop("secgov_platform", None)
    response = client.post("/api/v1/jobs", json={"kind": "system.check"}, headers=people["admin"])
    assert response.status_code == 202
    row = run_row(app, response.get_json()["id"])
    assert row.status == "failed" and row.reason == "queue_unavailable"
    read = client.get(f"/api/v1/jobs/{row.id}", headers=people["admin"]).get_json()
    assert "task queue could not be reached" in read["reason_text"]
    assert client.get("/healthz").status_code == 200


# --- schedules ------------------------------------------------------------------------------------


def schedule_body(**fields):
    return {"kind": "system.check", "cron": "10 0 * * *", "params": {"hold_seconds": 0}, **fields}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"cron": "61 * * * *"}, "cron", "not a valid cron"),
        ({"cron": "every day"}, "cron", "five fields"),
        ({"cron": "", "interval_seconds": 5}, "interval_seconds", "at least 60"),
        ({"cron": "10 0 * * *", "interval_seconds": 3600}, "cron", "not both"),
        ({"cron": ""}, "cron", "not both"),
        ({"kind": "mail.alert"}, "kind", "cannot be scheduled"),
        ({"params": {"hold_seconds": "x"}}, "params", "whole number"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(client, app, people, fields, field, words):
    response = client.post("/api/v1/schedules", json=schedule_body(**fields), headers=people["admin"])
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert words in error["message"]
    with Session(engine_of(app)) as session:
        assert session.exec(select(Schedule)).all() == []


def test_a_cron_expression_firing_too_often_is_refused(client, app, people):
    app.config["SECGOV_SCHEDULE_MIN_SECONDS"] = 300
    response = client.post("/api/v1/schedules", json=schedule_body(cron="*/2 * * * *"), headers=people["admin"])
    assert response.status_code == 422
    assert "more often than every 300 seconds" in response.get_json()["error"]["message"]
    assert (
        client.post("/api/v1/schedules", json=schedule_body(cron="*/5 * * * *"), headers=people["admin"]).status_code
        == 201
    )


def test_schedules_are_city_wide(client, app, people):
    created = client.post("/api/v1/schedules", json=schedule_body(name="nightly"), headers=people["admin"])
    assert created.status_code == 201
    body = created.get_json()
    assert body["cron"] == "10 0 * * *" and body["version"] == 1 and not body["system"]
    refused = client.post("/api/v1/schedules", json=schedule_body(), headers=people["bureau_admin"])
    assert refused.status_code == 403
    assert "schedule.denied" in actions(app)
    assert client.get("/api/v1/schedules", headers=people["auditor"]).get_json()["total"] == 1
    assert client.get("/api/v1/schedules", headers=people["officer_a"]).status_code == 403
    changed = client.patch(
        f"/api/v1/schedules/{body['id']}",
        json=schedule_body(cron="", interval_seconds=3600, enabled=False, version=1),
        headers=people["admin"],
    )
    assert changed.status_code == 200 and changed.get_json()["interval_seconds"] == 3600
    stale = client.patch(f"/api/v1/schedules/{body['id']}", json=schedule_body(version=1), headers=people["admin"])
    assert stale.status_code == 409
    assert client.delete(f"/api/v1/schedules/{body['id']}", headers=people["admin"]).status_code == 204
    assert actions(app, "schedule.") == ["schedule.created", "schedule.denied", "schedule.updated", "schedule.deleted"]


def test_the_applications_own_schedules_come_with_the_database_and_stay(client, app, people):
    with write_session(engine_of(app)) as session:
        assert schedules.sync_system(session, kinds(app)) == 5
        assert schedules.sync_system(session, kinds(app)) == 0
    listed = client.get("/api/v1/schedules", headers=people["admin"]).get_json()["items"]
    assert sorted((s["kind"], s["cron"], s["interval_seconds"], s["system"]) for s in listed) == [
        ("assessments.daily", "0 6 * * *", None, True),
        ("audit.checkpoint", "", 3600, True),
        ("drills.daily", "30 6 * * *", None, True),
        ("report.scheduled", "0 7 1 * *", None, True),
        ("snapshot.daily", "10 0 * * *", None, True),
    ]
    response = client.delete(f"/api/v1/schedules/{listed[0]['id']}", headers=people["admin"])
    assert response.status_code == 409


# --- the scheduler --------------------------------------------------------------------------------


def make_schedule(app, **fields) -> int:
    with write_session(engine_of(app)) as session:
        data = schedules.ScheduleIn(**schedule_body(**fields))
        return schedules.create(
            session, Actor.system("cli"), data, kinds(app), timezone="Asia/Shanghai", min_seconds=60
        ).id


def planned_runs(app, schedule_id: int) -> list[Run]:
    with Session(engine_of(app)) as session:
        return list(session.exec(select(Run).where(Run.schedule_id == schedule_id).order_by(Run.planned_at)).all())


def test_a_planned_run_is_asked_for_once(app, people):
    schedule_id = make_schedule(app)
    planned = datetime(2026, 12, 6, 16, 10, tzinfo=UTC)
    first, second = Scheduler(app), Scheduler(app)
    run_id = first.fire(schedule_id, planned)
    assert run_id is not None
    assert first.fire(schedule_id, planned) is None
    assert second.fire(schedule_id, planned) is None  # a second scheduler, or one restarted
    rows = planned_runs(app, schedule_id)
    assert [(r.planned_at, r.status) for r in rows] == [(planned, "succeeded")]
    assert rows[0].requested_by == "system" and rows[0].department_id is None


def test_missed_runs_coalesce_into_one(app, people):
    schedule_id = make_schedule(app, cron="", interval_seconds=60)
    with write_session(engine_of(app)) as session:
        row = session.get(Schedule, schedule_id)
        row.created_at = datetime.now(UTC) - timedelta(minutes=30)
        row.last_planned_at = row.created_at
        row.version += 1
    scheduler = Scheduler(app)
    scheduler.sync(force=True)
    job = scheduler.aps.get_job(f"schedule-{schedule_id}")
    missed = job.next_run_time
    assert missed < datetime.now(UTC) - timedelta(minutes=25)
    scheduler.aps.start()
    try:
        deadline = time.monotonic() + 10
        while not planned_runs(app, schedule_id) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.aps.shutdown(wait=True)
    rows = planned_runs(app, schedule_id)
    assert len(rows) == 1, [r.planned_at for r in rows]
    assert datetime.now(UTC) - rows[0].planned_at < timedelta(seconds=61)  # the latest missed time


def test_the_scheduler_reloads_when_schedules_change(app, people):
    scheduler = Scheduler(app)
    assert scheduler.sync() is True
    assert scheduler.sync() is False
    schedule_id = make_schedule(app)
    assert scheduler.sync() is True
    assert scheduler.aps.get_job(f"schedule-{schedule_id}") is not None
    with write_session(engine_of(app)) as session:
        data = schedules.ScheduleUpdate(**schedule_body(enabled=False, version=1))
        schedules.update(session, Actor.system("cli"), schedule_id, data, kinds(app), timezone="UTC", min_seconds=60)
    assert scheduler.sync() is True
    assert scheduler.aps.get_job(f"schedule-{schedule_id}") is None


def test_one_scheduler_holds_the_lease(app, people):
    first, second = Scheduler(app), Scheduler(app)
    first.acquire()
    with pytest.raises(LeaseHeld):
        second.acquire()
    assert first.renew() is True
    first.release()
    second.acquire()
    assert first.renew() is False  # taken over: the first must stop


def test_the_scheduler_does_its_own_queue(client, app, people, checkpoint_files):
    response = client.post("/api/v1/jobs", json={"kind": "audit.checkpoint"}, headers=people["admin"])
    assert response.status_code == 202
    run_id = response.get_json()["id"]
    assert run_row(app, run_id).status == "queued"  # no worker takes the scheduler's work
    scheduler = Scheduler(app)
    scheduler.pick_up_local()
    scheduler.local.shutdown(wait=True)
    row = run_row(app, run_id)
    assert row.status == "succeeded", row.detail
    result = json.loads(row.result)
    assert checkpoint_files.log_path.read_text().count("\n") == 1
    assert result["seq"] >= 1 and len(result["hash"]) == 64


# --- checkpoints and alerts -------------------------------------------------------------------------


def test_a_checkpoint_without_its_key_fails_and_alerts_the_admins(app, people, checkpoint_files, smtp_server):  # noqa: F811
    app.config.update(smtp_server.config())
    with Session(engine_of(app)) as session:
        admin = session.merge(people["users"]["admin"])
        admin.email = "chief@city.example"
        session.commit()
    scheduler = Scheduler(app)
    first = enqueue(app, Actor.system("job"), kinds(app)["audit.checkpoint"])
    scheduler.run_local(first)
    scheduler.local.shutdown(wait=True)
    assert run_row(app, first).status == "succeeded"
    checkpoint_files.key_path.unlink()
    scheduler = Scheduler(app)
    second = enqueue(app, Actor.system("job"), kinds(app)["audit.checkpoint"])
    scheduler.run_local(second)
    scheduler.local.shutdown(wait=True)
    row = run_row(app, second)
    assert (row.status, row.reason) == ("failed", "checkpoint_key_missing")
    with Session(engine_of(app)) as session:
        alert = session.exec(select(Run).where(Run.kind == "mail.alert")).one()
    assert alert.status == "succeeded", alert.detail
    assert json.loads(alert.params) == {"run_id": second}
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["chief@city.example"]
    assert "failed" in received.message["Subject"] or "失败" in received.message["Subject"]


# --- e-mail -------------------------------------------------------------------------------------------


def test_a_test_message_goes_through_a_worker(client, app, people, smtp_server):  # noqa: F811
    app.config.update(smtp_server.config())
    response = client.post(
        "/api/v1/jobs",
        json={"kind": "mail.test", "params": {"to": "officer@city.example", "lang": "en"}},
        headers=people["admin"],
    )
    run = client.get(f"/api/v1/jobs/{response.get_json()['id']}", headers=people["admin"]).get_json()
    assert run["status"] == "succeeded", run
    [received] = smtp_server.messages
    assert received.tls and received.message["Subject"] == "SecGov test message"


def test_an_unreachable_mail_server_fails_the_run_with_its_reason(client, app, people, smtp_server):  # noqa: F811
    app.config.update(smtp_server.config(SECGOV_SMTP_PORT=free_port()))
    response = client.post(
        "/api/v1/jobs", json={"kind": "mail.test", "params": {"to": "officer@city.example"}}, headers=people["admin"]
    )
    run = client.get(f"/api/v1/jobs/{response.get_json()['id']}", headers=people["admin"]).get_json()
    assert (run["status"], run["reason"]) == ("failed", "mail_unreachable")
    assert "could not be reached" in run["reason_text"]


# --- pages --------------------------------------------------------------------------------------------


def test_the_pages_show_runs_and_schedules(client, app, people, make_user):
    login(client, make_user("page.admin", roles=("admin",), department="city", mfa=True))
    token = csrf_token(client, "/jobs")
    started = client.post(
        "/jobs/start", data={"kind": "system.check", "param.hold_seconds": "1", "csrf_token": token}, headers=EN
    )
    assert started.status_code == 302 and "/jobs/" in started.headers["Location"]
    detail = client.get(started.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Worker check" in detail and "Succeeded" in detail and "Seconds held" in detail
    listing = client.get("/jobs", headers=EN).get_data(as_text=True)
    assert "Worker check" in listing and "Start work now" in listing
    created = client.post(
        "/jobs/schedules",
        data={
            "kind": "system.check",
            "when": "cron",
            "cron": "bad",
            "enabled": "on",
            "csrf_token": csrf_token(client, "/jobs/schedules"),
        },
        headers=EN,
    )
    assert created.status_code == 422 and "five fields" in created.get_data(as_text=True)
    created = client.post(
        "/jobs/schedules",
        data={
            "kind": "system.check",
            "when": "interval",
            "interval_seconds": "600",
            "enabled": "on",
            "csrf_token": csrf_token(client, "/jobs/schedules"),
        },
        headers=EN,
    )
    assert created.status_code == 302
    page = client.get("/jobs/schedules", headers=EN).get_data(as_text=True)
    assert "every 600 seconds" in page


def test_a_bureau_admin_cannot_start_city_wide_work_from_the_page(client, app, people, make_user):
    login(client, make_user("a.page.admin", roles=("admin",), department="a", mfa=True))
    page = client.get("/jobs", headers=EN).get_data(as_text=True)
    assert 'name="kind" value="audit.checkpoint"' not in page  # not offered
    assert 'name="kind" value="system.check"' in page
    response = client.post(
        "/jobs/start", data={"kind": "audit.checkpoint", "csrf_token": csrf_token(client, "/jobs")}, headers=EN
    )
    assert response.status_code == 302  # back to the list, with the reason flashed
    assert "whole city" in client.get("/jobs", headers=EN).get_data(as_text=True)
    with Session(engine_of(app)) as session:
        assert session.exec(select(Run)).all() == []


def test_service_refusals(app, people):
    with Session(engine_of(app)) as session:
        officer = Actor.of(session.merge(people["users"]["officer_a"]))
    with pytest.raises(Forbidden):
        runs.may_start(officer, SYSTEM_CHECK, {"officer"})
    with pytest.raises(Invalid):
        runs.check_params(SYSTEM_CHECK, {"hold_seconds": 99999})

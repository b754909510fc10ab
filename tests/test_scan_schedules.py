"""Scan schedules: made over the API by officers and admins in their scope, their timing a row of
the core's schedule table that only the scans service changes, and each planned time asking for
one scan per asset of the schedule (refused assets recorded, the others scanned), once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from scan_world import authorize, tcp_server
from sqlmodel import Session, select

from scans.models import Scan, ScanSchedule
from secgov import runs
from secgov.authz import Actor
from secgov.db import write_session
from secgov.models import AuditEntry, Run, Schedule
from secgov.scheduler import Scheduler
from secgov.tasks import platform_of

EN = {"Accept-Language": "en"}


@pytest.fixture
def people(city, api_token):
    def headers(user):
        return {"Authorization": f"Bearer {api_token(user)}", **EN}

    return {name: headers(city[name]) for name in ("admin", "officer_a", "officer_b", "leader")}


def body(**fields):
    return {"name": "weekly", "profile": "discovery", "cron": "0 2 * * 6", **fields}


def engine_of(app):
    return app.extensions["secgov_engine"]


def test_scan_schedules_are_made_and_read_in_scope(client, app, people, make_asset):
    asset = make_asset("A-1", "a", network_targets=["127.0.0.31"])
    made = client.post("/api/v1/scan-schedules", json=body(asset_id=asset.id), headers=people["officer_a"])
    assert made.status_code == 201, made.json
    row = made.json
    assert (row["asset"], row["department"], row["cron"], row["enabled"]) == ("A-1", "a", "0 2 * * 6", True)
    with Session(engine_of(app)) as session:
        core = session.get(Schedule, row["schedule_id"])
        assert (core.kind, json.loads(core.params), core.cron) == (
            "scan.scheduled",
            {"scan_schedule_id": row["id"]},
            "0 2 * * 6",
        )

    # In scope: the officer of a and the city's admin; not the officer of b.
    assert client.get(f"/api/v1/scan-schedules/{row['id']}", headers=people["admin"]).status_code == 200
    assert client.get(f"/api/v1/scan-schedules/{row['id']}", headers=people["officer_b"]).status_code == 404
    assert client.get("/api/v1/scan-schedules", headers=people["officer_b"]).json["total"] == 0
    assert client.get("/api/v1/scan-schedules", headers=people["officer_a"]).json["total"] == 1
    assert (
        client.post("/api/v1/scan-schedules", json=body(asset_id=asset.id), headers=people["leader"]).status_code == 403
    )
    changed = client.put(
        f"/api/v1/scan-schedules/{row['id']}",
        json=body(asset_id=asset.id, cron="", interval_seconds=7200, version=row["version"]),
        headers=people["officer_b"],
    )
    assert changed.status_code == 404

    # The timing is checked as any schedule's; the core's own API leaves the owned row alone.
    changed = client.put(
        f"/api/v1/scan-schedules/{row['id']}",
        json=body(asset_id=asset.id, cron="", interval_seconds=7200, enabled=False, version=row["version"]),
        headers=people["officer_a"],
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["cron"], changed.json["interval_seconds"], changed.json["enabled"]) == ("", 7200, False)
    core = client.get("/api/v1/schedules", headers=people["admin"]).json
    owned = next(s for s in core["items"] if s["id"] == row["schedule_id"])
    patched = client.patch(
        f"/api/v1/schedules/{owned['id']}",
        json={"kind": "system.check", "interval_seconds": 3600, "params": {}, "version": owned["version"]},
        headers=people["admin"],
    )
    assert patched.status_code == 409, patched.json
    assert client.delete(f"/api/v1/schedules/{owned['id']}", headers=people["admin"]).status_code == 409
    made_core = client.post(
        "/api/v1/schedules",
        json={"kind": "scan.scheduled", "interval_seconds": 3600, "params": {"scan_schedule_id": row["id"]}},
        headers=people["admin"],
    )
    assert made_core.status_code == 422 and made_core.json["error"]["details"][0]["field"] == "kind"

    assert client.delete(f"/api/v1/scan-schedules/{row['id']}", headers=people["officer_a"]).status_code == 204
    with Session(engine_of(app)) as session:
        assert session.get(Schedule, row["schedule_id"]) is None
        assert session.get(ScanSchedule, row["id"]) is None
        logged = list(
            session.exec(
                select(AuditEntry.action).where(AuditEntry.action.contains("schedule")).order_by(AuditEntry.seq)
            ).all()
        )
    assert logged == [
        "schedule.created",
        "scan_schedule.created",
        "schedule.updated",
        "scan_schedule.updated",
        "scan_schedule.deleted",
        "schedule.deleted",
    ], logged


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "* * *"}, "cron"),
        ({"cron": "", "interval_seconds": 10}, "interval_seconds"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"selection": {"department": "b"}}, "selection"),
    ],
)
def test_bad_scan_schedules_are_refused_naming_the_field(client, people, make_asset, fields, field):
    asset = make_asset("A-2", "a", network_targets=["127.0.0.31"])
    data = body(**({"asset_id": asset.id} if "selection" not in fields else {}), **fields)
    answer = client.post("/api/v1/scan-schedules", json=data, headers=people["officer_a"])
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["details"][0]["field"] == field


def test_asset_or_selection_not_both(client, people, make_asset):
    asset = make_asset("A-3", "a", network_targets=["127.0.0.31"])
    both = body(asset_id=asset.id, selection={"sector": "transport"})
    assert client.post("/api/v1/scan-schedules", json=both, headers=people["officer_a"]).status_code == 422
    assert client.post("/api/v1/scan-schedules", json=body(), headers=people["officer_a"]).status_code == 422


def test_a_planned_time_asks_for_one_scan_per_asset_once(client, app, people, make_asset):
    """A group schedule of department a's transport assets: the authorized one is scanned, the one
    no authorization covers is refused (recorded) without stopping the other; b's asset is not in
    the schedule's scope; a planned time fired twice, by two schedulers, gives one run and one
    scan per asset; a second run for the same planned time finds the scan asked for already."""
    with tcp_server("127.0.0.31") as port:
        scanned = make_asset("A-10", "a1", network_targets=["127.0.0.31"], expected_ports=[f"{port}/tcp"])
        refused = make_asset("A-11", "a", network_targets=["127.0.0.32"])
        make_asset("A-12", "a", sector="energy", network_targets=["127.0.0.31"])
        make_asset("B-10", "b", network_targets=["127.0.0.31"])
        authorize(app, ["127.0.0.31"])
        made = client.post(
            "/api/v1/scan-schedules",
            json=body(
                selection={"department": "a", "sector": "transport"}, interval_seconds=3600, cron="", profile="quick"
            ),
            headers=people["officer_a"],
        )
        assert made.status_code == 201, made.json
        schedule_id, core_id = made.json["id"], made.json["schedule_id"]
        planned = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
        first, second = Scheduler(app), Scheduler(app)
        run_id = first.fire(core_id, planned)
        assert run_id is not None
        assert first.fire(core_id, planned) is None and second.fire(core_id, planned) is None
        with Session(engine_of(app)) as session:
            run = session.get(Run, run_id)
            scans = session.exec(select(Scan).where(Scan.scan_schedule_id == schedule_id)).all()
        assert run.status == "succeeded", (run.reason, run.detail)
        result = json.loads(run.result)
        assert (result["assets"], result["queued"], result["refused"]) == (2, 1, 1), result
        outcomes = {o["asset"]: o for o in result["outcomes"]}
        assert outcomes["A-11"]["outcome"] == "refused" and outcomes["A-11"]["reason"], outcomes
        assert outcomes["A-10"]["outcome"] == "queued"
        assert [(s.asset_id, s.planned_at, s.status, s.requested_by) for s in scans] == [
            (scanned.id, planned, "succeeded", "system")
        ]
        assert scans[0].open_ports == 1

        # The same planned time once more (a run asked for again by hand): no second scan.
        with write_session(engine_of(app)) as session:
            kind = app.extensions["secgov_registry"].jobs["scan.scheduled"]
            again = runs.enqueue(
                session, Actor.system("job"), kind, {"scan_schedule_id": schedule_id}, planned_at=planned
            )
            again_id = again.id
        platform_of(app).dispatch([again_id])
    with Session(engine_of(app)) as session:
        again = session.get(Run, again_id)
        assert json.loads(again.result)["outcomes"][0]["outcome"] == "exists"
        count = len(session.exec(select(Scan.id).where(Scan.scan_schedule_id == schedule_id)).all())
        refusals = session.exec(
            select(AuditEntry).where(AuditEntry.action == "scan.refused", AuditEntry.object_id == str(refused.id))
        ).all()
    assert count == 1
    assert len(refusals) == 2  # once per run: the refusal is recorded each time

"""Scan schedules and a zone's agent in a multi-process deployment on PostgreSQL and Redis (the
processes of tests/test_deployment.py, on databases of this test's own): the web with two
workers, the scheduler, one central worker, and the agent of the zone "dmz" started without
DATABASE_URL. A scan schedule made through the API scans the local asset (by the worker) and the
dmz asset (by the agent) once per planned time.

Skipped, saying why, when PostgreSQL or Redis cannot be reached."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import factories
import pytest
from helpers import DATA_KEY, PASSWORD
from scan_world import authorize, set_zone, tcp_server
from server_support import free_port
from sqlmodel import Session
from test_deployment import PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT, Deployment, reachable, wait_for

from secgov import auth
from secgov.app import create_app
from secgov.authz import Actor
from secgov.directory import DepartmentCreate, UserCreate, create_department, create_user

SYSTEM = Actor.system("cli")

pytestmark = pytest.mark.nodb

REDIS_DB = 12  # used by nothing else in the suite; emptied before and after
INTERVAL_SECONDS = 2


@pytest.fixture
def deployment(tmp_path):
    missing = [
        f"{name} ({host}:{port})"
        for name, host, port in (("PostgreSQL", PG_HOST, PG_PORT), ("Redis", REDIS_HOST, REDIS_PORT))
        if not reachable(host, port)
    ]
    if missing:
        pytest.skip(f"the multi-process deployment needs {' and '.join(missing)}, which cannot be reached")
    import redis

    running = Deployment(tmp_path)
    running.database = f"secgov_scanzones_{os.getpid()}"
    running.redis = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)
    running.env["DATABASE_URL"] = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{running.database}"
    running.env["REDIS_URL"] = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    running.create_databases()
    try:
        yield running
    finally:
        running.stop_all()
        running.drop_databases()


def test_a_scan_schedule_runs_once_per_planned_time_on_the_worker_and_the_zones_agent(deployment):
    d = deployment
    try:
        with tcp_server("127.0.0.20") as local_port, tcp_server("127.0.0.21") as dmz_port:
            exercise(d, local_port, dmz_port)
    except BaseException:
        print(d.report())
        raise


def exercise(d: Deployment, local_port: int, dmz_port: int) -> None:
    began = time.monotonic()
    d.command("db", "upgrade")
    port = free_port()
    d.base = f"http://127.0.0.1:{port}"
    web = d.start(
        "web", "serve", "--no-scheduler", "--no-worker", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"
    )
    scheduler = d.start("scheduler", "scheduler")
    worker = d.start("worker", "worker", "--threads", "2")
    agent_env = {key: value for key, value in d.env.items() if key != "DATABASE_URL"}
    d.env, central_env = agent_env, d.env
    agent = d.start("agent", "worker", "--zone", "dmz", "--name", "agent-dmz", "--threads", "1")
    d.env = central_env

    # The people, assets, zones and authorizations, arranged through the services (in this
    # process while the others start: a command line costs seconds of imports each).
    app = create_app(
        {"DATABASE_URL": d.env["DATABASE_URL"], "SECGOV_DATA_KEYS": DATA_KEY, "SECRET_KEY": "x", "REDIS_URL": None}
    )
    try:
        with Session(app.extensions["secgov_engine"], expire_on_commit=False) as session, app.test_request_context():
            create_department(session, DepartmentCreate(code="city", name="City", kind="city"), SYSTEM)
            users = [
                create_user(session, UserCreate(username=n, department="city", roles=[r], password=PASSWORD), SYSTEM)
                for n, r in (("root.admin", "admin"), ("leader", "leader"))
            ]
            session.commit()
            d.token = auth.create_token(session, users[0], "test", SYSTEM)[1]
            session.commit()
        local = factories.make_asset(
            app, "LOCAL-1", "city", network_targets=["127.0.0.20"], expected_ports=[f"{local_port}/tcp"]
        )
        dmz = factories.make_asset(
            app, "DMZ-1", "city", network_targets=["127.0.0.21"], expected_ports=[f"{dmz_port}/tcp"]
        )
        set_zone(app, dmz.id, "dmz")
        authorize(app, ["127.0.0.20"], "local")
        authorize(app, ["127.0.0.21"], "dmz")
    finally:
        app.extensions["secgov_engine"].dispose()

    processes = (web, scheduler, worker, agent)

    def all_alive() -> None:
        dead = [p.name for p in processes if p.proc.poll() is not None]
        assert not dead, f"stopped early: {dead}"

    print(f"arranged after {time.monotonic() - began:.1f} s")
    wait_for("the web server", lambda: all_alive() or d.healthy(), timeout=30)
    wait_for("the dmz agent's heartbeat", lambda: d.query("SELECT name FROM scan_agent WHERE zone = 'dmz'"), 30)

    status, made = d.api(
        "POST",
        "/scan-schedules",
        {"name": "both", "selection": {}, "profile": "quick", "interval_seconds": INTERVAL_SECONDS},
    )
    assert status == 201, made
    time.sleep(2 * INTERVAL_SECONDS + 1)
    all_alive()
    status, paused = d.api(
        "PUT",
        f"/scan-schedules/{made['id']}",
        {
            "name": "both",
            "selection": {},
            "profile": "quick",
            "interval_seconds": INTERVAL_SECONDS,
            "enabled": False,
            "version": made["version"],
        },
    )
    assert status == 200 and paused["enabled"] is False, paused

    def ended() -> list[tuple]:
        rows = d.query(
            "SELECT s.id, s.asset_id, s.planned_at, s.status, s.agent, r.worker, r.queue FROM scan s"
            " JOIN run r ON r.id = s.run_id WHERE s.scan_schedule_id = %s ORDER BY s.planned_at, s.asset_id",
            made["id"],
        )
        return rows and all(r[3] in ("succeeded", "failed") for r in rows) and rows

    print(f"paused after {time.monotonic() - began:.1f} s")
    scans = wait_for("the scheduled scans to end", ended, timeout=60)
    print(f"{len(scans)} scans ended after {time.monotonic() - began:.1f} s")
    runs = d.query(
        "SELECT id, planned_at, status, result FROM run WHERE schedule_id = %s ORDER BY planned_at",
        made["schedule_id"],
    )
    planned = [r[1] for r in runs]
    assert len(runs) >= 2 and len(set(planned)) == len(planned), runs
    assert all(r[2] == "succeeded" for r in runs), runs
    for run in runs:
        result = json.loads(run[3])
        assert (result["assets"], result.get("refused", 0)) == (2, 0), result
    # One scan per asset and planned time, each on its zone's worker or agent.
    assert Counter((r[1], r[2]) for r in scans) == Counter({(a, p): 1 for p in planned for a in (local.id, dmz.id)})
    assert all(r[3] == "succeeded" for r in scans), scans
    for _id, asset_id, _planned, _status, agent_name, run_worker, queue in scans:
        if asset_id == dmz.id:
            assert (agent_name, run_worker, queue) == ("agent-dmz", "agent-dmz@dmz", "scan.dmz")
        else:
            assert (agent_name, queue) == ("", "default") and int(run_worker.rsplit(":", 1)[1]) == worker.pid
    opened = d.query(
        "SELECT DISTINCT host, port FROM scan_observation o JOIN scan s ON s.id = o.scan_id"
        " WHERE s.scan_schedule_id = %s AND o.state = 'open' ORDER BY host",
        made["id"],
    )
    assert opened == [("127.0.0.20", local_port), ("127.0.0.21", dmz_port)], opened
    assert "DATABASE_URL" not in agent.output()

"""Network zones and their agents: `python -m secgov worker --zone NAME` processes that hold no
database credentials (DATABASE_URL unset, or pointing nowhere) take only their zone's scans from
the queue, run nmap on the task built centrally, and reply through the queue; the central side
(here: the test draining the default queue as a central worker would) stores the results and
records the agents. A zone without an agent shows its scans waiting, with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from scan_world import authorize, set_zone, tcp_server
from sqlmodel import Session, select

from scans import jobs, services
from scans.models import Scan, ScanAgent, ScanObservation
from scans.schemas import ScanRequest
from secgov import runs, tasks
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.models import AuditEntry, Run
from secgov.tasks import hand_over

NOWHERE = "postgresql+psycopg://nobody:nothing@127.0.0.1:9/nowhere"  # nothing listens on port 9


@pytest.fixture
def queue(app, tmp_path):
    """The app with a real queue shared with the agents: SqliteHuey in a file (PostgresHuey in a
    queue database of its own on PostgreSQL: the app's database serves here)."""
    app.config.update(SECGOV_TASKS_IMMEDIATE=False, SECGOV_TASKS_PATH=str(tmp_path / "tasks.sqlite3"))
    if app.config["DATABASE_URL"].startswith("postgresql"):
        app.config["SECGOV_TASKS_DATABASE_URL"] = app.config["DATABASE_URL"]
    app.extensions.pop("secgov_platform", None)
    platform = tasks.platform_of(app)
    # On PostgreSQL the queue outlives a test: a reply an earlier test's agent sent after that test
    # had looked must not count here.
    platform.queue().flush()
    yield platform
    platform.close()


class Agents:
    """Agent processes, with their output in files."""

    def __init__(self, app, folder: Path) -> None:
        self.folder = folder
        self.processes: dict[str, subprocess.Popen] = {}
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH"}
        self.env = {key: value for key, value in os.environ.items() if key in keep}
        self.env.update(
            SECGOV_TASKS_KEY=app.config["SECGOV_TASKS_KEY"],
            SECGOV_TASKS_PATH=app.config["SECGOV_TASKS_PATH"],
            SECGOV_INSTANCE_PATH=str(folder / "agent-instance"),
            SECGOV_RUN_BEAT_SECONDS="0.5",
            SECGOV_LOG_LEVEL="INFO",
        )
        if app.config.get("SECGOV_TASKS_DATABASE_URL"):
            self.env["SECGOV_TASKS_DATABASE_URL"] = app.config["SECGOV_TASKS_DATABASE_URL"]

    def start(self, zone: str, name: str, **env: str) -> None:
        with (self.folder / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "secgov", "worker", "--zone", zone, "--name", name, "--threads", "1"],
                env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def output(self) -> str:
        return "\n".join(
            f"--- {name} (exit {p.poll()}) ---\n{(self.folder / f'{name}.log').read_text(errors='replace')}"
            for name, p in self.processes.items()
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def drain(platform, until, timeout: float, what: str, agents: Agents):
    """Be a central worker of the default queue (take the agents' replies) until `until()` is true."""
    huey = platform.queue()
    huey.storage.blocking = False  # PostgresHuey would wait for a notification: this loop polls
    deadline = time.monotonic() + timeout
    while True:
        task = huey.dequeue()
        if task is not None:
            huey.execute(task)
            continue
        answer = until()
        if answer:
            return answer
        dead = [name for name, p in agents.processes.items() if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} (stopped: {dead})\n{agents.output()}")
        time.sleep(0.05)


def ask_for_scan(app, platform, asset_id: int, profile: str = "quick") -> int:
    with Session(app.extensions["secgov_engine"]) as session, app.test_request_context():
        scan = services.request_scan(
            session, Actor.system("cli"), ScanRequest(asset_id=asset_id, profile=profile),
            ServiceConfig.from_mapping(app.config), kind=jobs.SCAN,
        )  # fmt: skip
        hand_over(session, platform, [scan.run_id])
        scan_id = scan.id
        session.commit()
    return scan_id


def scan_row(app, scan_id: int) -> Scan:
    with Session(app.extensions["secgov_engine"]) as session:
        return session.get(Scan, scan_id)


def test_each_zone_scan_runs_on_its_own_zones_agent(app, city, make_asset, queue, tmp_path):
    platform = queue
    with tcp_server("127.0.0.21") as dmz_port, tcp_server("127.0.0.22") as lab_port:
        assets = {
            "dmz": make_asset("DMZ-1", "a", network_targets=["127.0.0.21"], expected_ports=[f"{dmz_port}/tcp"]),
            "lab": make_asset("LAB-1", "b", network_targets=["127.0.0.22"], expected_ports=[f"{lab_port}/tcp"]),
            "void": make_asset("VOID-1", "b", network_targets=["127.0.0.23"]),
        }
        for zone, asset in assets.items():
            set_zone(app, asset.id, zone)
            authorize(app, ["127.0.0.0/24"], zone)
        agents = Agents(app, tmp_path)
        try:
            # Neither agent has the application's database: one has no DATABASE_URL at all, the
            # other one pointing where nothing answers.
            agents.start("dmz", "agent-dmz")
            agents.start("lab", "agent-lab", DATABASE_URL=NOWHERE)

            def agents_seen():
                with Session(app.extensions["secgov_engine"]) as session:
                    return {(a.zone, a.name) for a in session.exec(select(ScanAgent)).all()} >= {
                        ("dmz", "agent-dmz"),
                        ("lab", "agent-lab"),
                    }

            drain(platform, agents_seen, 30, "the agents' first heartbeats", agents)
            with Session(app.extensions["secgov_engine"]) as session:
                assert services.zone_live(session, "dmz") and services.zone_live(session, "lab")
                assert not services.zone_live(session, "void")
                versions = {a.nmap_version for a in session.exec(select(ScanAgent)).all()}
            assert all(versions), versions

            scans = {zone: ask_for_scan(app, platform, asset.id) for zone, asset in assets.items()}
            assert {zone: scan_row(app, i).status for zone, i in scans.items()} == {
                "dmz": "queued",
                "lab": "queued",
                "void": "waiting",
            }

            def both_done():
                rows = [scan_row(app, scans[zone]) for zone in ("dmz", "lab")]
                return all(row.status in ("succeeded", "failed") for row in rows) and rows

            dmz, lab = drain(platform, both_done, 60, "the two zone scans", agents)
        finally:
            agents.stop()
    log = agents.output()
    assert (dmz.status, lab.status) == ("succeeded", "succeeded"), (dmz.error, dmz.detail, lab.detail, log)
    assert (dmz.agent, lab.agent) == ("agent-dmz", "agent-lab")
    with Session(app.extensions["secgov_engine"]) as session:
        for scan, host, port in ((dmz, "127.0.0.21", dmz_port), (lab, "127.0.0.22", lab_port)):
            run = session.get(Run, scan.run_id)
            assert (run.status, run.worker, run.queue) == (
                "succeeded",
                f"{scan.agent}@{scan.zone}",
                f"scan.{scan.zone}",
            )
            seen = session.exec(select(ScanObservation).where(ScanObservation.scan_id == scan.id)).all()
            assert {(o.host, o.port, o.state) for o in seen if o.port == port} == {(host, port, "open")}
            assert {o.host for o in seen} == {host}  # each agent scanned its own zone's asset only
            entry = session.exec(
                select(AuditEntry).where(AuditEntry.action == "scan.completed", AuditEntry.object_id == str(scan.id))
            ).one()
            detail = json.loads(entry.detail) if isinstance(entry.detail, str) else entry.detail
            assert detail["agent"] == scan.agent and detail["zone"] == scan.zone
        # The zone without an agent: its scan waits, saying why; its task waits in the zone's queue.
        void = session.get(Scan, scans["void"])
        with app.test_request_context(headers={"Accept-Language": "en"}):
            read = services.read(session, void, "VOID-1")
    assert read.status == "waiting"
    assert "void" in read.waiting_reason and "worker --zone void" in read.waiting_reason
    assert platform.queue("scan.void").pending_count() == 1
    assert "DATABASE_URL" not in log and "OperationalError" not in log, log


def test_a_worker_without_a_zone_never_takes_a_zones_scan(app, city, make_asset, queue):
    """The default queue's workers never see a zone's task: it is on the zone's queue, and a
    remote task reaching a central worker anyway is dropped, not run."""
    platform = queue
    asset = make_asset("DMZ-2", "a", network_targets=["127.0.0.21"])
    set_zone(app, asset.id, "dmz")
    authorize(app, ["127.0.0.21"], "dmz")
    scan_id = ask_for_scan(app, platform, asset.id, "discovery")
    assert platform.queue().pending_count() == 0
    zone_queue = platform.queue("scan.dmz")
    assert zone_queue.pending_count() == 1
    task = zone_queue.dequeue()
    assert task.name == tasks.REMOTE_TASK
    assert task.args[0]["argv"] == scan_row(app, scan_id).argv and task.args[0]["zone"] == "dmz"
    zone_queue.execute(task)  # as if a central worker had consumed the zone's queue
    assert scan_row(app, scan_id).status == "waiting"
    with Session(app.extensions["secgov_engine"]) as session:
        assert session.get(Run, scan_row(app, scan_id).run_id).status == "queued"


def test_the_run_table_stays_the_truth_for_a_zones_runs(app, city, make_asset):
    """Replies drive the run: a heartbeat makes the zone live (its waiting scan queued), "started"
    claims the run for the agent, the reaper leaves it alone while heartbeats name it and gives it
    up when they stop (the scan then fails: its agent was lost), and a late "done" changes nothing."""
    platform = tasks.platform_of(app)
    engine = app.extensions["secgov_engine"]
    kinds = app.extensions["secgov_registry"].jobs
    asset = make_asset("DMZ-3", "a", network_targets=["127.0.0.21"])
    set_zone(app, asset.id, "dmz")
    authorize(app, ["127.0.0.21"], "dmz")
    scan_id = ask_for_scan(app, platform, asset.id, "discovery")
    run_id = scan_row(app, scan_id).run_id
    assert scan_row(app, scan_id).status == "waiting"
    reply = {"kind": "scan.run", "zone": "dmz", "agent": "agent-x", "run_id": run_id, "attempt": 1, "scan_id": scan_id}

    platform.receive({**reply, "type": "heartbeat", "runs": [], "nmap_version": "7.93"})
    assert scan_row(app, scan_id).status == "queued"
    platform.receive({**reply, "type": "started"})
    with Session(engine) as session:
        run = session.get(Run, run_id)
    assert (run.status, run.worker) == ("running", "agent-x@dmz")
    assert (scan_row(app, scan_id).status, scan_row(app, scan_id).agent) == ("running", "agent-x")

    soon = run.heartbeat_at + timedelta(seconds=30)
    reaped = runs.reap(engine, kinds, now=soon, stale_seconds=60, unclaimed_seconds=1)
    assert run_id not in reaped.rehanded + reaped.failed + reaped.requeued
    platform.receive({**reply, "type": "heartbeat", "runs": [[run_id, 1]]})
    with Session(engine) as session:
        beaten = session.get(Run, run_id).heartbeat_at
    assert beaten > run.heartbeat_at

    reaped = runs.reap(engine, kinds, now=beaten + timedelta(seconds=120), stale_seconds=60)
    assert reaped.failed == [run_id]
    platform.dispatch(reaped.to_dispatch)
    lost = scan_row(app, scan_id)
    assert (lost.status, lost.error) == ("failed", "agent_lost")

    xml = (Path(__file__).parent / "data" / "nmap" / "http_open.xml").read_bytes()
    platform.receive({**reply, "type": "done", "xml": xml, "elapsed": 1.0})
    assert (scan_row(app, scan_id).status, scan_row(app, scan_id).open_ports) == ("failed", None)
    with Session(engine) as session:
        assert (session.get(Run, run_id).status, session.get(Run, run_id).reason) == ("failed", "worker_lost")
        assert session.exec(select(ScanObservation).where(ScanObservation.scan_id == scan_id)).first() is None


def test_replies_that_match_no_attempt_or_are_malformed_are_dropped(app, city, make_asset):
    platform = tasks.platform_of(app)
    asset = make_asset("DMZ-4", "a", network_targets=["127.0.0.21"])
    set_zone(app, asset.id, "dmz")
    authorize(app, ["127.0.0.21"], "dmz")
    scan_id = ask_for_scan(app, platform, asset.id, "discovery")
    run_id = scan_row(app, scan_id).run_id
    reply = {"kind": "scan.run", "zone": "dmz", "agent": "agent-x", "run_id": run_id, "scan_id": scan_id}
    platform.receive({**reply, "type": "started", "attempt": 2})  # not the run's attempt
    platform.receive({**reply, "type": "started", "attempt": 1, "scan_id": scan_id + 1000})
    platform.receive({**reply, "type": "explode", "attempt": 1})
    platform.receive({"kind": "nothing.known", "type": "started"})
    with Session(app.extensions["secgov_engine"]) as session:
        assert session.get(Run, run_id).status == "queued"
    assert scan_row(app, scan_id).status in ("queued", "waiting")

"""The central side of the network zones' agents (the agents themselves: `secgov.agent` running
`scans.agent.work`, without database credentials).

A scan of an asset in a zone other than `local` is a "scan.run" run on the queue `scan.<zone>`.
When the run is handed to that queue, `hand_off` checks the scan again (authorization, window,
targets, argv: as `scans.runner` does before nmap) and builds the task the agent gets: the argv,
the time limit, the scan and the run with its attempt. The agent answers through the default
queue and a central worker takes each reply (`on_reply`):

- "heartbeat" (every few seconds): the agent is recorded (`ScanAgent`: zone, name, last seen,
  nmap version), the zone's waiting scans are queued again, and the runs it names are beaten;
- "started": the run is claimed (queued → running, its worker is the agent) and the scan runs;
- "done": the XML is parsed and stored (observations, findings) and the run finished, in one
  transaction, audited naming the agent; a late or second "done" of the same attempt changes
  nothing (the run's end is a conditional update);
- "failed": the scan and the run fail with nmap's reason.

The run table stays the truth: a zone run is claimed only when its agent says it started, so the
reaper's re-hand (of runs still queued) never touches a run an agent works on; a running zone
run is kept alive by its agent's heartbeats, and is given up (`worker_lost`) when they stop.
A copy of a task handed over again is dropped by the agent that took the first one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from assets.models import Asset
from scans import ingest, nmap, profiles, runner, xmlparse
from scans.codes import SCAN_ERRORS
from scans.models import Scan, ScanAgent
from scans.rule import LOCAL_ZONE
from secgov import audit, runs
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import new_session, write_session
from secgov.models import Run
from secgov.runs import JobFailed

log = logging.getLogger("scans.zones")


class Reply(BaseModel):
    """A reply of an agent, as the central side reads it (anything else is dropped)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["heartbeat", "started", "done", "failed"]
    zone: str = Field(min_length=1, max_length=40)
    agent: str = Field(min_length=1, max_length=80)
    run_id: int = 0
    attempt: int = 0
    scan_id: int = 0
    runs: list[tuple[int, int]] = Field(default_factory=list, max_length=1000)
    nmap_version: str = Field(default="", max_length=40)
    xml: bytes = Field(default=b"", max_length=xmlparse.MAX_XML_BYTES)
    elapsed: float | None = None
    reason: str = Field(default="", max_length=40)
    detail: str = Field(default="", max_length=1000)


def worker_of(reply: Reply) -> str:
    """The run's worker when an agent does it: "agent@zone"."""
    return f"{reply.agent}@{reply.zone}"[:120]


# --- handing a scan to its zone ---------------------------------------------------------------------


def hand_off(engine: Engine, config: Mapping[str, Any], run: Run) -> dict[str, Any] | None:
    """The task of a zone's agent for this run; None when the scan cannot start any more (the scan
    and the run are failed with the reason, as the local runner would)."""
    scan_id = int(runs.loads(run.params).get("scan_id") or 0)
    failure: JobFailed | None = None
    with write_session(engine) as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            failure = JobFailed("asset_gone")
        elif scan.status not in ("queued", "waiting"):
            return None
        else:
            try:
                actor = runs.actor_of(session, run)
                runner.check_again(session, actor, scan, ServiceConfig.from_mapping(config), datetime.now(UTC))
            except JobFailed as exc:
                runner.fail_scan(session, scan, exc.reason, exc.detail)
                failure = exc
            else:
                task = {
                    "kind": run.kind,
                    "run_id": run.id,
                    "attempt": run.attempt,
                    "scan_id": scan.id,
                    "zone": scan.zone,
                    "argv": list(scan.argv),
                    "timeout": profiles.PROFILES[scan.profile].max_seconds,
                }
    if failure is not None:
        runs.fail(engine, run.id, failure.reason, failure.detail, from_status=("queued",))
        return None
    return task


# --- the agents' replies ----------------------------------------------------------------------------


def on_reply(platform: Any, payload: Mapping[str, Any]) -> None:
    """Take a reply of a zone's agent (see the module's docstring)."""
    try:
        reply = Reply.model_validate(dict(payload))
    except ValidationError as exc:
        log.error("an agent's reply was dropped: %s", exc.errors(include_url=False)[:3])
        return
    engine = platform.engine
    seen(engine, reply)
    if reply.type == "heartbeat":
        for run_id, attempt in reply.runs:
            runs.beat(engine, run_id, attempt)
        return
    with new_session(engine, write=False) as session:
        run = session.get(Run, reply.run_id)
        scan = session.get(Scan, reply.scan_id)
    if run is None or scan is None or run.attempt != reply.attempt or scan.run_id != run.id:
        log.warning(
            "a %s reply for run %s (scan %s) matches no current attempt", reply.type, reply.run_id, reply.scan_id
        )
        return
    kind = platform.kinds.get(run.kind)
    if reply.type == "started":
        started(engine, kind, reply)
    elif reply.type == "done":
        done(platform, kind, reply)
    else:
        failed(platform, reply, reply.reason if reply.reason in SCAN_ERRORS else "nmap_failed", reply.detail)


def seen(engine: Engine, reply: Reply) -> None:
    """Record that the agent was heard of now; the zone's waiting scans are queued again."""
    now = datetime.now(UTC)
    for _attempt in range(2):  # two central workers may record a new agent at once
        try:
            with write_session(engine) as session:
                agent = session.get(ScanAgent, (reply.zone, reply.agent))
                if agent is None:
                    agent = ScanAgent(zone=reply.zone, name=reply.agent, last_seen=now)
                agent.last_seen = now
                if reply.nmap_version:
                    agent.nmap_version = reply.nmap_version
                session.add(agent)
                session.execute(
                    update(Scan).where(Scan.zone == reply.zone, Scan.status == "waiting").values(status="queued")
                )
            return
        except IntegrityError:
            continue


def started(engine: Engine, kind: runs.JobKind | None, reply: Reply) -> bool:
    """Claim the run for the agent and mark its scan running; False when it was not queued."""
    if runs.claim(engine, reply.run_id, kind, worker_of(reply)) is None:
        return False
    with write_session(engine) as session:
        session.execute(
            update(Scan)
            .where(Scan.id == reply.scan_id, Scan.status.in_(("queued", "waiting")))
            .values(status="running", started_at=datetime.now(UTC), agent=reply.agent[:120])
        )
    return True


def done(platform: Any, kind: runs.JobKind | None, reply: Reply) -> None:
    """Store the agent's XML and finish the run, in one transaction (the first "done" wins)."""
    engine = platform.engine
    started(engine, kind, reply)  # "done" may be taken before "started" by another central thread
    try:
        parsed = xmlparse.parse(reply.xml)
        line = nmap.command_line(reply.xml)
    except (xmlparse.XmlError, nmap.NmapError) as exc:
        failed(platform, reply, "xml_invalid", str(exc))
        return
    try:
        with write_session(engine) as session:
            scan = session.get(Scan, reply.scan_id)
            asset = session.get(Asset, scan.asset_id)
            if asset is None or scan.status != "running":
                return
            found = ingest.store(session, scan, asset, reply.xml, parsed, command_line=line, agent=reply.agent)
            result = {"scan_id": scan.id, "open_ports": scan.open_ports, "findings": len(found), "agent": reply.agent}
            if not runs.finish_in(session, reply.run_id, reply.attempt, result):
                raise _Late()  # given up meanwhile, or finished by an earlier reply: nothing stored
            _completed(session, scan, asset, reply, len(found))
    except _Late:
        log.info("a late done reply for run %s attempt %s changed nothing", reply.run_id, reply.attempt)


class _Late(Exception):
    """A reply for a run that is no longer this attempt's to end."""


def _completed(session: Session, scan: Scan, asset: Asset, reply: Reply, findings: int) -> None:
    audit.record(
        session, Actor.system("job"), "scan.completed", object_type="scan", object_id=scan.id,
        department_id=asset.department_id, asset=asset.code, open_ports=scan.open_ports, findings=findings,
        elapsed=round(reply.elapsed or 0.0, 2), agent=reply.agent, zone=reply.zone,
    )  # fmt: skip


def failed(platform: Any, reply: Reply, reason: str, detail: str) -> None:
    """Fail the run (queued or running, this attempt) and its scan with the agent's reason."""
    engine = platform.engine
    alerts = runs.fail(
        engine, reply.run_id, reason, detail, attempt=reply.attempt, from_status=("queued", "running"),
        kinds=platform.kinds,
    )  # fmt: skip
    if alerts is None:
        return
    with write_session(engine) as session:
        scan = session.get(Scan, reply.scan_id)
        if scan is not None and scan.status not in ("succeeded", "failed"):
            scan.agent = reply.agent[:120]
            runner.fail_scan(session, scan, reason, detail)
    if alerts:
        platform.dispatch(alerts)


# --- a scan whose run was given up ------------------------------------------------------------------


class SettleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: int = Field(ge=1)


def settle(ctx: runs.JobContext) -> dict[str, Any]:
    """After a scan's run failed (its kind's `on_failure`): a scan still live is failed with the
    run's reason, so that a scan whose agent (or worker) was lost, or that overstayed its time, does
    not show as running for ever. Scans the runner or a reply has ended already are left alone."""
    with write_session(ctx.engine) as session:
        run = session.get(Run, ctx.params.run_id)
        scan = session.exec(select(Scan).where(Scan.run_id == ctx.params.run_id)).first() if run else None
        if scan is None or scan.status not in ("queued", "waiting", "running"):
            return {"run_id": ctx.params.run_id, "settled": 0}
        if run.reason in SCAN_ERRORS:
            reason = run.reason
        elif run.reason == "worker_lost" and scan.zone != LOCAL_ZONE:
            reason = "agent_lost"
        else:
            reason = "nmap_failed"
        runner.fail_scan(session, scan, reason, f"run {run.id}: {run.reason} {run.detail}".strip()[:1000])
    return {"run_id": ctx.params.run_id, "scan_id": scan.id, "settled": 1}

"""The scans domain's background work: "scan.run" runs one scan, and "scan.scheduled" asks for the
scans of one planned time of a scan schedule (`scans.schedules`).

A scan's run goes to the queue of its asset's network zone (`rule.queue_of`): the local zone's
is the default queue, where a central worker runs it (`scans.runner`); another zone's is
`scan.<zone>`, where that zone's agent, without database credentials, runs nmap on a task built
centrally and replies with the XML (`scans.zones` centrally, `scans.agent` on the agent). Scans
are asked for by the services (a person, the command line or a scan schedule), never started by
hand from the jobs page; scan schedules are made on their own page and API."""

from __future__ import annotations

from scans import agent, runner, schedules, zones
from scans.codes import SCAN_ERRORS
from scans.profiles import PROFILES
from secgov.codes import N_
from secgov.runs import JobKind, Remote

# The longest profile's limit and a margin: the run's deadline, beyond which the reaper fails it.
SCAN = JobKind(
    code="scan.run",
    label=N_("Network scan"),
    run=runner.execute,
    params=runner.ScanParams,
    max_seconds=max(p.max_seconds for p in PROFILES.values()) + 2 * runner.MARGIN_SECONDS,
    retries=0,
    reasons=SCAN_ERRORS,
    remote=Remote(hand_off=zones.hand_off, work=agent.work, on_reply=zones.on_reply, describe=agent.describe),
    on_failure="scan.settle",
)

# After a scan's run failed: its scan, if still live, fails with the run's reason (an agent lost).
SETTLE = JobKind(
    code="scan.settle",
    label=N_("Scan ended after its run failed"),
    run=zones.settle,
    params=zones.SettleParams,
    max_seconds=60,
    result_labels={"run_id": N_("Failed run"), "scan_id": N_("Scan"), "settled": N_("Scans ended")},
)

SCHEDULED = JobKind(
    code=schedules.KIND,
    label=N_("Scheduled scans"),
    run=schedules.run_scheduled,
    params=schedules.ScheduledParams,
    max_seconds=600,
    schedulable=True,
    owned_schedules=True,
    retries=1,
    result_labels={
        "scan_schedule_id": N_("Scan schedule"),
        "planned_at": N_("Planned for"),
        "assets": N_("Assets"),
        "queued": N_("Scans queued"),
        "waiting": N_("Scans waiting for an agent"),
        "exists": N_("Scans asked for already"),
        "refused": N_("Assets refused"),
        "outcomes": N_("Per asset"),
    },
)

JOBS = (SCAN, SCHEDULED, SETTLE)

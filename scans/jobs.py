"""The scans domain's background work: "scan.run" runs one scan (`scans.runner`). Its runs go
to the queue of the asset's network zone (`rule.queue_of`); they are asked for by the services
(a person, the command line or a scan schedule), never started by hand from the jobs page."""

from __future__ import annotations

from scans import runner
from scans.codes import SCAN_ERRORS
from scans.profiles import PROFILES
from secgov.codes import N_
from secgov.runs import JobKind

# The longest profile's limit and a margin: the run's deadline, beyond which the reaper fails it.
SCAN = JobKind(
    code="scan.run",
    label=N_("Network scan"),
    run=runner.execute,
    params=runner.ScanParams,
    max_seconds=max(p.max_seconds for p in PROFILES.values()) + 2 * runner.MARGIN_SECONDS,
    retries=0,
    reasons=SCAN_ERRORS,
)

JOBS = (SCAN,)

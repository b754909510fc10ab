"""The core's kinds of background work (`secgov.runs.JobKind`); the domains declare theirs in
their own packages (`Domain.jobs`)."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from secgov.codes import N_
from secgov.runs import JobContext, JobKind, worker_name


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hold_seconds: int = Field(default=0, ge=0, le=3600, description="How long the check keeps a worker busy.")


def system_check(ctx: JobContext) -> dict:
    """A worker answers: it reads the database, holds for a while in one-second steps (reporting
    progress and obeying its deadline), and says who it is."""
    params: CheckParams = ctx.params  # type: ignore[assignment]
    total = params.hold_seconds
    ctx.progress(0, total)
    for second in range(total):
        time.sleep(1)
        ctx.progress(second + 1, total)
    return {"worker": worker_name(), "held_seconds": total}


SYSTEM_CHECK = JobKind(
    code="system.check",
    label=N_("Worker check"),
    run=system_check,
    params=CheckParams,
    max_seconds=3700,
    roles=frozenset({"admin"}),
    schedulable=True,
)

CORE: tuple[JobKind, ...] = (SYSTEM_CHECK,)

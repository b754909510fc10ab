"""The reports' kind of background work: "report.compliance" renders a requested report of any
kind (the compliance report, an asset dossier: `secgov.reports.kinds`; the code is kept from when
it was the only one).

It is started only by asking for a report (`secgov.reports.service.request_report`, through the
reports' pages, API or schedules), never from the runs' pages: its one parameter is the report's
number, and whoever asks for the report has been checked there. The worker acts as the requester
(their scope now: a report of a department that left their scope fails with report_forbidden).
Once the report is stored, the worker asks for an "audit.checkpoint" run: the signing key lives
on the scheduler's host only, so the report records that run ("run:N") and the run the signature.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from secgov.codes import N_
from secgov.db import new_session
from secgov.models import Report
from secgov.reports import service
from secgov.reports.document import render_html
from secgov.reports.render import REASONS, RenderFailed
from secgov.runs import JobContext, JobFailed, JobKind

CODE = "report.compliance"
CHECKPOINT = "audit.checkpoint"  # runs on the scheduler's host, which alone holds the signing key


class ReportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    report_id: int = Field(ge=1, description=N_("Report"))


def generate(ctx: JobContext, report_id: int) -> Report:
    """Generate a report in a worker, as the run's actor: the one way a run makes a report (this
    kind, and the monthly reports of `secgov.reports.scheduled`): the PDF, then the full registers
    that go with it. RenderFailed as `service.generate`."""
    made = service.generate(
        ctx.engine,
        report_id,
        ctx.actor,
        ctx.registry.chapters,
        ctx.config,
        ctx.registry.figures,
        html_of=render_html,
        sign=lambda engine, config, actor: f"run:{ctx.enqueue(ctx.registry.jobs[CHECKPOINT], {})}",
        kinds=ctx.registry.report_kinds,
    )
    service.attach_registers(
        ctx.engine, report_id, ctx.actor, ctx.registry.registers, ctx.config, ctx.registry.report_kinds
    )
    return made


def run_report(ctx: JobContext) -> dict:
    params: ReportParams = ctx.params  # type: ignore[assignment]
    with new_session(ctx.engine, write=False) as session:
        found = session.exec(select(Report.id).where(Report.id == params.report_id)).first()
    if found is None:
        raise JobFailed("bad_params", f"no report {params.report_id}")
    ctx.progress(0, 2)
    try:
        report = generate(ctx, params.report_id)
    except RenderFailed as exc:
        raise JobFailed(exc.reason, exc.detail) from None
    ctx.progress(2, 2)
    return {"report_id": report.id, "sha256": report.sha256, "pages": report.pages, "size": report.size}


REPORT = JobKind(
    code=CODE,
    label=N_("Report"),
    run=run_report,
    params=ReportParams,
    max_seconds=900,
    roles=frozenset(),  # asked for through the reports only
    retries=0,
    reasons={
        **REASONS,
        "report_forbidden": N_("The report's department is no longer in its requester's scope."),
        "report_subject_gone": N_("The record the report is about is gone or no longer in its requester's scope."),
        "report_kind_unknown": N_("This kind of report is no longer made."),
    },
    result_labels={
        "report_id": N_("Report"),
        "sha256": N_("SHA-256 of the file"),
        "pages": N_("Pages"),
        "size": N_("Size (bytes)"),
    },
)

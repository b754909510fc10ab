"""The drills domain's commands, added to `python -m secgov` through the registry.

`drill list` prints the drills (the same service as `GET /api/v1/drills`); `drill coverage`
prints the required coverage and its gaps, for a security office's cron job: with --fail-on-gaps
it exits with status 1 when there is a gap; `drill actions` lists the corrective actions (with
--overdue, the late ones); `drill escalate` escalates the newly overdue actions as the system (the
daily job's work). Exit status 2 for bad input or a refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import click

from drills import actions, coverage, services
from drills.codes import ACTION_STATUS, DRILL_STATUS
from drills.schemas import ActionQuery, DrillQuery
from secgov.authz import Actor
from secgov.commands import acting, app_of, config_of, fail, transaction
from secgov.db import new_session
from secgov.errors import ServiceError
from secgov.localtime import local

# Exit status of `drill coverage --fail-on-gaps` when something required is not covered.
GAPS_FOUND = 1
PAGE = 200

AS_USER = click.option("--as", "username", default=None, metavar="USERNAME", help="List what this user sees.")
DEPARTMENT = click.option("--department", default=None, metavar="CODE", help="A department and its sub-departments.")


@click.group("drill")
def drill_group() -> None:
    """Emergency drills, their corrective actions and the required coverage."""


def _all(fetch: Callable[[Any], tuple[list, int]], query: Any) -> Iterator:
    """Every row of a paged service, page after page."""
    while True:
        rows, _total = fetch(query)
        yield from rows
        if len(rows) < query.page_size:
            return
        query = query.model_copy(update={"page": query.page + 1})


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


@drill_group.command("list")
@click.option("--status", type=click.Choice(DRILL_STATUS.codes), default=None, help="Only drills in this status.")
@DEPARTMENT
@AS_USER
@click.pass_context
def list_(ctx: click.Context, status: str | None, department: str | None, username: str | None) -> None:
    """Print the drills, the latest planned first."""
    app = app_of(ctx)
    query = DrillQuery(status=status, department=department, page_size=PAGE)
    tz = config_of(app).timezone
    with app.app_context(), new_session(app.extensions["secgov_engine"], write=False) as session:
        try:
            who = acting(session, username)
            rows = list(_all(lambda q: services.list_drills(session, who, q), query))
        except ServiceError as exc:
            fail(exc.message, 2)
    for row in rows:
        start = local(row.planned_start, tz).strftime("%Y-%m-%d %H:%M")
        if row.report_deadline_minutes is None:
            reporting = "not reportable"
        else:
            reporting = f"{row.reporting} ({row.report_minutes if row.report_minutes is not None else '-'}"
            reporting += f"/{row.report_deadline_minutes} min)"
        click.echo(
            f"#{row.id:<6} {start}  {row.status:11}  {row.exercise_type:12}  {row.department:10}  "
            f"{row.lead or '-':16}  {reporting:24}  {row.title}"
        )
    click.echo(f"{_count(len(rows), 'drill')} listed")


@drill_group.command("coverage")
@AS_USER
@click.option("--fail-on-gaps", is_flag=True, help=f"Exit with status {GAPS_FOUND} if something is not covered.")
@click.pass_context
def coverage_(ctx: click.Context, username: str | None, fail_on_gaps: bool) -> None:
    """Print the required coverage (CII assets and departments holding an operational system,
    drilled within the period) and its gaps, each with its last and next drill."""
    app = app_of(ctx)
    config = config_of(app)
    with app.app_context(), new_session(app.extensions["secgov_engine"], write=False) as session:
        try:
            found = coverage.coverage(session, acting(session, username), config)
        except ServiceError as exc:
            fail(exc.message, 2)
    for gap in found.gaps:
        last = f"last #{gap.last_drill_id} on {gap.last_drill_on}" if gap.last_drill_id else "never drilled"
        if gap.next_drill_id:
            planned = local(gap.next_drill_start, config.timezone).strftime("%Y-%m-%d")
            following = f"next #{gap.next_drill_id} on {planned}"
        else:
            following = "none planned"
        click.echo(f"gap  {gap.kind:10}  {gap.code:12}  {gap.department:10}  {last}; {following}  {gap.name}")
    click.echo(
        f"since {found.since} ({found.months} months): {found.covered} of {found.required} covered, "
        f"{_count(len(found.gaps), 'gap')}"
    )
    if fail_on_gaps and found.gaps:
        ctx.exit(GAPS_FOUND)


@drill_group.command("actions")
@click.option("--overdue", is_flag=True, help="Only open actions past their due date.")
@click.option("--status", type=click.Choice(ACTION_STATUS.codes), default=None, help="Only actions in this status.")
@DEPARTMENT
@AS_USER
@click.pass_context
def actions_(
    ctx: click.Context, overdue: bool, status: str | None, department: str | None, username: str | None
) -> None:
    """Print the corrective actions, the earliest due first."""
    app = app_of(ctx)
    query = ActionQuery(overdue=True if overdue else None, status=status, department=department, page_size=PAGE)
    with app.app_context(), new_session(app.extensions["secgov_engine"], write=False) as session:
        try:
            who = acting(session, username)
            rows = list(_all(lambda q: actions.list_actions(session, who, q), query))
        except ServiceError as exc:
            fail(exc.message, 2)
    for row in rows:
        late = f"{row.days_overdue} days late" if row.overdue else ""
        escalated = " escalated" if row.escalated_at else ""
        click.echo(
            f"#{row.id:<6} {row.due_date}  {row.status:11}  {row.owner:16}  {row.department:10}  "
            f"drill #{row.drill_id:<6} {late + escalated:24}  {row.title}"
        )
    late = sum(row.overdue for row in rows)
    click.echo(f"{_count(len(rows), 'action')} listed, {late} overdue")


@drill_group.command("escalate")
@click.pass_context
def escalate(ctx: click.Context) -> None:
    """Escalate the corrective actions newly overdue (the daily job does this too): each is marked
    and the audit log names its owner and the owner's department head."""
    app = app_of(ctx)
    with app.app_context(), transaction(app) as session:
        rows = actions.escalate(session, Actor.system("cli"))
        ids = [row.id for row in rows]
    if ids:
        click.echo(f"{_count(len(ids), 'action')} escalated: {', '.join(f'#{i}' for i in ids)}")
    else:
        click.echo("no action newly overdue")


COMMANDS = (drill_group,)

"""The assessments domain's commands, added to `python -m secgov` through the registry.

`assessments due` prints the assessments that fall due (the same service as
`GET /api/v1/assessments/due`), for a security office's weekly cron job: exit status 0, or 3
with --fail-on-overdue when one is overdue; 2 for bad input. `risks overdue` lists the risks
whose treatment or review is late; `risks expire` ends lapsed acceptances now (the daily job's
work) and reopens their risks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import click
from sqlmodel import Session

from assessments import risks, rule, schedule, services
from assessments.codes import ASSESSMENT_KIND
from assessments.schemas import DueQuery, DueRead, RiskQuery, RiskRead
from secgov.authz import Actor
from secgov.commands import acting, app_of, config_of, fail, transaction
from secgov.db import new_session
from secgov.errors import ServiceError

# Exit status of `assessments due --fail-on-overdue` when an assessment is overdue.
OVERDUE_FOUND = 3


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--on must be a day as YYYY-MM-DD, not {text!r}", 2)


AS_USER = click.option("--as", "username", default=None, metavar="USERNAME", help="List what this user sees.")
ON_DAY = click.option("--on", "day", default=None, metavar="YYYY-MM-DD", help="As of this day (default: today).")
DEPARTMENT = click.option("--department", default=None, metavar="CODE", help="A department and its sub-departments.")


@click.group("assessments")
def assessments_group() -> None:
    """Periodic risk assessments."""


@assessments_group.command("due")
@click.option(
    "--state",
    type=click.Choice(["overdue", "due_soon", "attention", "on_time"]),
    default="attention",
    show_default=True,
    help="attention: overdue or due soon.",
)
@click.option("--kind", type=click.Choice(ASSESSMENT_KIND.codes), default=None, help="Only this kind.")
@DEPARTMENT
@AS_USER
@ON_DAY
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line, as the API gives them.")
@click.option("--fail-on-overdue", is_flag=True, help=f"Exit with status {OVERDUE_FOUND} if one is overdue.")
@click.pass_context
def due(
    ctx: click.Context,
    state: str,
    kind: str | None,
    department: str | None,
    username: str | None,
    day: str | None,
    as_json: bool,
    fail_on_overdue: bool,
) -> None:
    """Print the assessments that fall due, earliest first."""
    today = _day(day) or services.today_utc()
    app = app_of(ctx)
    query = DueQuery(state=state, kind=kind, department=department, page_size=200)
    with app.app_context(), new_session(app.extensions["secgov_engine"], write=False) as session:
        try:
            rows = list(_due_rows(session, acting(session, username), query, config_of(app), today))
        except ServiceError as exc:
            fail(exc.message, 2)
    if as_json:
        for row in rows:
            click.echo(row.model_dump_json())
    else:
        for row in rows:
            last = f"last {row.last_on}" if row.last_on else "never assessed"
            click.echo(
                f"{row.due_on}  {row.state:8}  {row.kind:15}  {row.asset_code:12}  {row.department:10}  "
                f"{row.owner or '-':16}  {row.asset_name} ({last})"
            )
        overdue = sum(row.state == "overdue" for row in rows)
        click.echo(f"{today}: {_count(len(rows), 'assessment')} listed, {overdue} overdue")
    if fail_on_overdue and any(row.state == "overdue" for row in rows):
        ctx.exit(OVERDUE_FOUND)


def _due_rows(session: Session, actor: Actor, query: DueQuery, config, today: date) -> Iterator[DueRead]:
    method = rule.method(session, config)
    while True:
        rows, _total = schedule.due_list(session, actor, query, method, today)
        yield from rows
        if len(rows) < query.page_size:
            return
        query = query.model_copy(update={"page": query.page + 1})


@click.group("risks")
def risks_group() -> None:
    """The risk register."""


@risks_group.command("overdue")
@click.option(
    "--what",
    type=click.Choice(["any", "treatment", "review"]),
    default="any",
    show_default=True,
    help="Late treatments, late reviews, or both.",
)
@DEPARTMENT
@AS_USER
@click.pass_context
def overdue(ctx: click.Context, what: str, department: str | None, username: str | None) -> None:
    """Print the risks whose treatment is past its due date or whose review is late."""
    app = app_of(ctx)
    query = RiskQuery(overdue=what, department=department, sort="due_date")
    with app.app_context(), new_session(app.extensions["secgov_engine"], write=False) as session:
        try:
            actor = acting(session, username)
            found = list(risks.export_records(session, actor, query, rule.method(session, config_of(app))))
        except ServiceError as exc:
            fail(exc.message, 2)
    for risk in found:
        click.echo(_risk_line(risk))
    click.echo(f"{_count(len(found), 'risk')} overdue")


def _risk_line(risk: RiskRead) -> str:
    late = []
    if risk.treatment_overdue:
        late.append(f"treatment due {risk.due_date}")
    if risk.review_overdue:
        late.append(f"review due {risk.next_review_on}")
    return (
        f"#{risk.id:<6} {risk.level:9}  {risk.asset_code:12}  {risk.owner or '-':16}  {', '.join(late):40}  "
        f"{risk.title}"
    )


@risks_group.command("expire")
@ON_DAY
@click.pass_context
def expire(ctx: click.Context, day: str | None) -> None:
    """End the acceptances that have expired and reopen their risks (the daily job does this too)."""
    on = _day(day)
    app = app_of(ctx)
    with app.app_context(), transaction(app) as session:
        reopened = risks.expire_acceptances(session, Actor.system("cli"), on)
    if reopened:
        click.echo(f"{_count(len(reopened), 'risk')} reopened: {', '.join(f'#{i}' for i in reopened)}")
    else:
        click.echo("no acceptance has expired")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


COMMANDS = (assessments_group, risks_group)

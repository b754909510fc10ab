"""The asset domain's commands, added to `python -m secgov` through the registry.

`policy check` prints the vendor-origin findings of the whole city (or of what --as USERNAME
sees) on one day: the same service as the compliance page and `GET /api/v1/policy/compliance`,
for a security office's daily cron job. Exit status 0, or 3 with --fail-on-violations when
there are violations; 2 for bad input.
"""

from __future__ import annotations

from datetime import date

import click
from sqlmodel import Session

from assets import policy
from assets.schemas import EXPIRING_DAYS, ComplianceRead, FindingRead
from secgov.commands import acting, app_of, config_of, fail
from secgov.db import new_session

# Exit status of `policy check --fail-on-violations` when the policy is violated somewhere.
VIOLATIONS_FOUND = 3


@click.group("policy")
def policy_group() -> None:
    """The vendor-origin policy."""


@policy_group.command("check")
@click.option("--as", "username", default=None, metavar="USERNAME", help="Check what this user sees.")
@click.option("--on", "day", default=None, metavar="YYYY-MM-DD", help="Check as of this day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as the API's JSON.")
@click.option("--fail-on-violations", is_flag=True, help=f"Exit with status {VIOLATIONS_FOUND} if any is found.")
@click.pass_context
def check(ctx: click.Context, username: str | None, day: str | None, as_json: bool, fail_on_violations: bool) -> None:
    """Print the vendor-origin violations, warnings and exemptions."""
    on = _day(day)
    app = app_of(ctx)
    with app.app_context(), new_session(app.extensions["secgov_engine"], write=False) as session:
        report = _report(session, username, app, on)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        _print(report)
    if fail_on_violations and report.violations:
        ctx.exit(VIOLATIONS_FOUND)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--on must be a day as YYYY-MM-DD, not {text!r}", 2)


def _report(session: Session, username: str | None, app, on: date | None) -> ComplianceRead:
    actor = acting(session, username)
    return policy.compliance(session, actor, config_of(app), today=on)


def _print(report: ComplianceRead) -> None:
    rules = report.policy
    if not rules.enabled:
        click.echo(f"{report.today}: the vendor-origin policy is off; nothing is checked.")
    else:
        click.echo(
            f"{report.today}: {', '.join(rules.restricted_origins)} vendors may not be "
            f"{', '.join(rules.restricted_roles)} of systems in {', '.join(rules.critical_sectors)}."
        )
    for title, findings in (("violation", report.violations), ("warning", report.warnings)):
        for finding in findings:
            click.echo(f"{title:9}  {_finding(finding)}")
    for finding in report.exempted:
        click.echo(f"{'exempted':9}  {_finding(finding)} (exemption until {finding.exemption_expires_on})")
    for exemption in report.expiring_exemptions:
        click.echo(
            f"{'expiring':9}  exemption {exemption.id} for {exemption.asset_code} / {exemption.vendor_name} "
            f"ends on {exemption.expires_on}"
        )
    counts = (
        _count(len(report.violations), "violation"),
        _count(len(report.warnings), "warning"),
        f"{len(report.exempted)} exempted",
        f"{_count(len(report.pending_exemptions), 'exemption request')} pending",
        f"{_count(len(report.expiring_exemptions), 'exemption')} ending within {EXPIRING_DAYS} days",
    )
    click.echo(", ".join(counts))


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _finding(finding: FindingRead) -> str:
    since = f" since {finding.started_on}" if finding.started_on else ""
    return (
        f"{finding.asset_code} {finding.asset_name} ({finding.department}, {finding.sector}): "
        f"{finding.vendor_name} ({finding.origin}, {finding.country}) as {finding.role}{since}"
    )


COMMANDS = (policy_group,)

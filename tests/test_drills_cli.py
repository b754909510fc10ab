"""Drills on the command line: `drill list`, `drill coverage` (exit 1 on gaps with
--fail-on-gaps), `drill actions [--overdue]` and `drill escalate`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from audit_support import run_cli
from drill_world import add_action, conduct, hours_ago, plan
from sqlmodel import select

from drills.models import CorrectiveAction
from secgov.authz import Actor
from secgov.models import AuditEntry

TODAY = datetime.now(UTC).date()


@pytest.fixture
def team(city, make_user):
    make_user("officer.a1", roles=("officer",), department="a1")
    return Actor.of(make_user("drill.city", roles=("drill_team",), department="city"), "cli")


def lines(result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_drill_list_filters_by_status_and_scope(app, database_url, team):
    planned = plan(app, team, department="a", title="Signals tabletop")
    held = plan(app, team, department="b", lead="officer.b", planned_start=hours_ago(8), title="Water exercise")
    conduct(app, team, held, started=hours_ago(6), milestones={"reported": 30}, ended=hours_ago(5))
    everything = lines(run_cli(database_url, "drill", "list"))
    assert everything[-1] == "2 drills listed"
    assert everything[0].startswith(f"#{planned}") and "Signals tabletop" in everything[0]
    assert (
        everything[1].startswith(f"#{held}")
        and "completed" in everything[1]
        and "on_time (30/240 min)" in everything[1]
    )
    only = lines(run_cli(database_url, "drill", "list", "--status", "completed"))
    assert len(only) == 2 and only[0].startswith(f"#{held}") and only[-1] == "1 drill listed"
    assert lines(run_cli(database_url, "drill", "list", "--as", "officer.a"))[-1] == "1 drill listed"
    bad = run_cli(database_url, "drill", "list", "--status", "done")
    assert bad.exit_code == 2 and "done" in bad.stderr
    nobody = run_cli(database_url, "drill", "list", "--as", "nobody")
    assert nobody.exit_code == 2 and "no active user named nobody" in nobody.stderr


def test_drill_coverage_lists_the_gaps_and_fails_on_them(app, database_url, team, make_asset):
    make_asset("SIG-A", "a1", owner="officer.a1", is_cii=True)
    plain = run_cli(database_url, "drill", "coverage")
    assert plain.exit_code == 0, plain.stderr
    gaps = [line for line in plain.stdout.splitlines() if line.startswith("gap")]
    assert any("SIG-A" in line and "never drilled" in line and "none planned" in line for line in gaps)
    assert plain.stdout.splitlines()[-1].endswith(f"0 of 2 covered, {len(gaps)} gaps")
    failing = run_cli(database_url, "drill", "coverage", "--fail-on-gaps")
    assert failing.exit_code == 1 and failing.stdout == plain.stdout
    # A completed drill of the system covers it and its department: no gap left.
    drill = plan(app, team, department="a1", lead="officer.a1", assets=["SIG-A"], planned_start=hours_ago(8))
    conduct(app, team, drill, started=hours_ago(6), milestones={}, ended=hours_ago(5))
    covered = run_cli(database_url, "drill", "coverage", "--fail-on-gaps")
    assert covered.exit_code == 0, covered.stdout
    assert covered.stdout.splitlines() == [covered.stdout.splitlines()[-1]]
    assert covered.stdout.rstrip().endswith("2 of 2 covered, 0 gaps")


def test_drill_actions_and_their_escalation(app, database_url, team, session):
    drill = plan(app, team, department="a", planned_start=hours_ago(8))
    conduct(app, team, drill, started=hours_ago(6), milestones={}, ended=hours_ago(5))
    late = add_action(app, team, drill, "officer.a", TODAY - timedelta(days=4), title="Patch the gateway")
    add_action(app, team, drill, "officer.b", TODAY + timedelta(days=4), title="Train the night shift")
    every = lines(run_cli(database_url, "drill", "actions"))
    assert every[-1] == "2 actions listed, 1 overdue"
    overdue = lines(run_cli(database_url, "drill", "actions", "--overdue"))
    assert len(overdue) == 2 and overdue[0].startswith(f"#{late}") and "4 days late" in overdue[0]
    assert "escalated" not in overdue[0] and overdue[-1] == "1 action listed, 1 overdue"
    assert lines(run_cli(database_url, "drill", "actions", "--as", "officer.b"))[-1] == "1 action listed, 0 overdue"

    first = lines(run_cli(database_url, "drill", "escalate"))
    assert first == [f"1 action escalated: #{late}"]
    assert lines(run_cli(database_url, "drill", "escalate")) == ["no action newly overdue"]  # once
    session.rollback()
    assert session.get(CorrectiveAction, late).escalated_at is not None
    [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "corrective_action.escalated")).all()
    assert (entry.actor, entry.channel, entry.object_id) == ("system", "cli", str(late))
    assert "4 days late escalated" in lines(run_cli(database_url, "drill", "actions", "--overdue"))[0]

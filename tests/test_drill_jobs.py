"""The drills' daily work (drills.jobs, kind "drills.daily") with a frozen clock: overdue actions
escalate once; reminders of drills about to start (lead and participants) and of overdue actions
(owner and department head) go out once each through a local SMTP server (aiosmtpd); a moved
drill is reminded again; without mail settings the escalation is done and nothing is sent; the
scheduler's default schedule comes with `db upgrade`'s catalog sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from drill_world import add_action, plan
from smtp_support import smtp_server  # noqa: F401 - a fixture
from sqlmodel import Session, select

from drills import jobs
from drills.models import CorrectiveAction, Drill, DrillNotice
from secgov import localtime, responsibility, runs
from secgov.authz import Actor
from secgov.db import write_session
from secgov.models import AuditEntry, Run, Schedule
from secgov.tasks import platform_of

PUBLIC = "https://secgov.city.example/gov"
# The frozen clock: a moment of the real today (the services check new drills and actions against
# the real clock), later moved forward.
FROZEN = datetime.now(UTC).replace(microsecond=0)


def engine_of(app):
    return app.extensions["secgov_engine"]


@pytest.fixture
def clock(monkeypatch):
    """The run's clock: set `clock.now`."""

    class Clock:
        now = FROZEN

    monkeypatch.setattr(jobs, "now_utc", lambda: Clock.now)
    return Clock


@pytest.fixture
def world(app, city, make_user, session):
    """A drill team in a, the head of a, a drill tomorrow (lead drill.a, officer.a and someone
    without an address taking part), one in three days, one tomorrow but cancelled; two overdue
    actions in a (one of officer.a, one of the person without an address) and one not yet due."""
    people = {
        "team": make_user("drill.a", roles=("drill_team",), department="a"),
        "head": make_user("head.a", roles=("leader",), department="a"),
        "nomail": make_user("no.mail", roles=("officer",), department="a"),
        "officer": city["officer_a"],
    }
    for key, user in people.items():
        user.email = "" if key == "nomail" else f"{user.username}@city.example"
        user.language = "en"
        session.add(user)
    session.commit()
    with app.test_request_context():
        a = people["officer"].department
        responsibility.assign(session, "department", a.id, "head", people["head"], Actor.system("cli"))
        session.commit()
    team = Actor.of(people["team"], "api")
    made = {
        "soon": plan(app, team, participants=["officer.a", "no.mail"], planned_start=FROZEN + timedelta(days=1),
                     title="Water SCADA exercise"),
        "later": plan(app, team, participants=["officer.a"], planned_start=FROZEN + timedelta(days=3)),
        "cancelled": plan(app, team, participants=["officer.a"], planned_start=FROZEN + timedelta(days=1)),
    }  # fmt: skip
    with Session(engine_of(app)) as own:
        row = own.get(Drill, made["cancelled"])
        row.status = "cancelled"
        own.add(row)
        own.commit()
    today = FROZEN.date()
    made["late"] = add_action(app, team, made["soon"], "officer.a", today - timedelta(days=5), title="Segment")
    made["late_nomail"] = add_action(app, team, made["soon"], "no.mail", today - timedelta(days=2), title="Patch")
    made["fine"] = add_action(app, team, made["soon"], "officer.a", today + timedelta(days=10), title="Train")
    return made


def run_daily(app) -> Run:
    kind = app.extensions["secgov_registry"].jobs[jobs.CODE]
    with write_session(engine_of(app)) as session:
        run_id = runs.enqueue(session, Actor.system("job"), kind, {}).id
    platform_of(app).execute(run_id)
    with Session(engine_of(app)) as session:
        return session.get(Run, run_id)


def succeeded(run: Run) -> dict:
    assert run.status == "succeeded", (run.reason, run.detail)
    return runs.loads(run.result)


def entries(app, action: str) -> list[tuple[str, dict]]:
    with Session(engine_of(app)) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all()
    return [(row.object_id, json.loads(row.detail)) for row in rows]


def notices(app) -> set[tuple[str, int, str]]:
    with Session(engine_of(app)) as session:
        return {(n.kind, n.object_id, n.occasion) for n in session.exec(select(DrillNotice)).all()}


def sent(server) -> list[tuple[str, str]]:
    return sorted((r.rcpt_tos[0], str(r.message["Subject"])) for r in server.messages)


def test_reminders_go_once_to_the_people_of_each_drill_and_overdue_action(app, world, clock, smtp_server):  # noqa: F811
    app.config.update(smtp_server.config(), SECGOV_PUBLIC_URL=PUBLIC)
    result = succeeded(run_daily(app))
    assert result["mail"] == "sent" and result["drills_reminded"] == 1 and result["actions_reminded"] == 2
    assert result["actions_escalated"] == 2 and result["no_address"] == 2  # no.mail: a drill and an action
    with Session(engine_of(app)) as session:
        start = session.get(Drill, world["soon"]).planned_start
    when = localtime.shown(start, app.config["BABEL_DEFAULT_TIMEZONE"])
    drill_subject = f"SecGov: drill “Water SCADA exercise” on {when}"
    assert sent(smtp_server) == sorted(
        [
            ("drill.a@city.example", drill_subject),
            ("officer.a@city.example", drill_subject),
            ("officer.a@city.example", "SecGov: corrective action “Segment” is overdue"),
            ("head.a@city.example", "SecGov: corrective action “Segment” is overdue"),
            ("head.a@city.example", "SecGov: corrective action “Patch” is overdue"),
        ]
    )
    bodies = {(r.rcpt_tos[0], str(r.message["Subject"])): r.message.get_content() for r in smtp_server.messages}
    assert "You lead it." in bodies[("drill.a@city.example", drill_subject)]
    assert "You take part in it." in bodies[("officer.a@city.example", drill_subject)]
    head_letter = bodies[("head.a@city.example", "SecGov: corrective action “Segment” is overdue")]
    assert "(5 days overdue)" in head_letter and "Its owner, officer.a, is in your department." in head_letter
    assert notices(app) == {
        ("drill", world["soon"], localtime.utc_text(start)),
        ("action", world["late"], (FROZEN.date() - timedelta(days=5)).isoformat()),
        ("action", world["late_nomail"], (FROZEN.date() - timedelta(days=2)).isoformat()),
    }
    [(object_id, detail)] = entries(app, "drill.reminded")
    assert object_id == str(world["soon"]) and sorted(detail["recipients"]) == ["drill.a", "officer.a"]
    assert {o for o, _d in entries(app, "corrective_action.reminded")} == {
        str(world["late"]),
        str(world["late_nomail"]),
    }

    # An hour later: nothing new is escalated or sent.
    clock.now = FROZEN + timedelta(hours=1)
    again = succeeded(run_daily(app))
    assert again["actions_escalated"] == 0 and again["messages"] == 0
    assert len(smtp_server.messages) == 5 and len(entries(app, "corrective_action.escalated")) == 2

    # The drill moves to another time within the window: reminded again, for its new start.
    with Session(engine_of(app)) as session:
        drill = session.get(Drill, world["soon"])
        drill.planned_start = drill.planned_start + timedelta(hours=6)
        session.add(drill)
        session.commit()
    moved = succeeded(run_daily(app))
    assert moved["drills_reminded"] == 1 and moved["messages"] == 2 and len(smtp_server.messages) == 7

    # Two days later the drill "later" is within the window; the actions are not reminded again.
    clock.now = FROZEN + timedelta(days=2)
    later = succeeded(run_daily(app))
    assert later["drills_reminded"] == 1 and later["actions_reminded"] == 0
    assert {("drill", world["later"])} <= {(k, i) for k, i, _o in notices(app)}


def test_a_new_due_date_missed_again_is_reminded_and_escalated_once_more(app, world, clock, smtp_server):  # noqa: F811
    app.config.update(smtp_server.config(), SECGOV_PUBLIC_URL=PUBLIC)
    succeeded(run_daily(app))
    before = len(smtp_server.messages)
    with Session(engine_of(app)) as session:
        row = session.get(CorrectiveAction, world["late"])
        row.due_date = FROZEN.date() + timedelta(days=1)
        row.escalated_at = None  # as the service leaves it when the due date changes
        session.add(row)
        session.commit()
    clock.now = FROZEN + timedelta(days=2)
    result = succeeded(run_daily(app))
    assert result["actions_escalated"] == 1 and result["actions_reminded"] == 1
    new = sent(smtp_server)
    assert len(smtp_server.messages) - before == 2 + 2  # the action (owner, head) and the drill "later"
    assert ("officer.a@city.example", "SecGov: corrective action “Segment” is overdue") in new


def test_without_mail_settings_escalation_is_done_and_nothing_is_sent(app, world, clock, smtp_server):  # noqa: F811
    app.config["SECGOV_SMTP_HOST"] = ""
    result = succeeded(run_daily(app))
    assert result["mail"] == "off" and result["messages"] == 0 and result["actions_escalated"] == 2
    assert smtp_server.messages == [] and notices(app) == set() and entries(app, "drill.reminded") == []
    with Session(engine_of(app)) as session:
        escalated = session.exec(select(CorrectiveAction.id).where(CorrectiveAction.escalated_at.is_not(None))).all()
    assert set(escalated) == {world["late"], world["late_nomail"]}
    # Once mail is configured, the reminders that still apply go out.
    app.config.update(smtp_server.config(), SECGOV_PUBLIC_URL=PUBLIC)
    assert succeeded(run_daily(app))["messages"] == 5


def test_the_default_schedule_comes_with_the_catalog_sync(app):
    registry = app.extensions["secgov_registry"]
    assert registry.jobs[jobs.CODE].default_schedule == "30 6 * * *"
    with write_session(engine_of(app)) as session:
        for sync in registry.catalogs:
            sync(session)
    with Session(engine_of(app)) as session:
        [row] = session.exec(select(Schedule).where(Schedule.kind == jobs.CODE)).all()
    assert row.system and row.cron == "30 6 * * *" and row.enabled

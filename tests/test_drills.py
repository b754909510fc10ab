"""Drills through their services: planning and its bad input, the reporting deadline for each
operator kind (and grade IV), the timeline and measured times, the record, completion with
recurrence, the after-action report, corrective actions (the owner anywhere, escalation with
frozen time, promotion to a risk), leaders' requests, coverage with frozen time, feed tokens."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from drill_world import add_action, conduct, hours_ago, plan
from factories import config_of
from pydantic import ValidationError
from sqlmodel import select

from assessments import risks
from assessments.models import Risk
from assessments.rule import method as risk_method
from assessments.schemas import Promotion
from drills import actions, coverage, feeds, requests, rule, services
from drills.models import CorrectiveAction, Drill, DrillObjective, DrillTimelineEntry
from drills.schemas import (
    ActionCreate,
    ActionQuery,
    ActionUpdate,
    DrillCancel,
    DrillCreate,
    DrillQuery,
    DrillRecord,
    DrillUpdate,
    ObjectiveRating,
    RequestCreate,
    RequestDecline,
    TimelineCreate,
)
from secgov.audit import AuditEntry
from secgov.authz import Actor
from secgov.errors import Conflict, Forbidden, Invalid, NotFound
from secgov.models import Department

TODAY = datetime.now(UTC).date()


@pytest.fixture
def ctx(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def people(city, make_user):
    return {
        **{k: Actor.of(v, "api") for k, v in city.items()},
        "team": Actor.of(make_user("drill.city", roles=("drill_team",), department="city"), "api"),
        "team_a": Actor.of(make_user("drill.a", roles=("drill_team",), department="a"), "api"),
        "owner_b": Actor.of(make_user("owner.b", roles=("officer",), department="b"), "api"),
    }


def kinds(session, **by_code):
    for code, kind in by_code.items():
        dept = session.exec(select(Department).where(Department.code == code)).one()
        dept.operator_kind = kind
        session.add(dept)
    session.commit()


def fresh(session, model, row_id):
    """The row as committed by the helpers' own sessions (end the test session's snapshot first)."""
    session.commit()
    session.expire_all()
    return session.get(model, row_id)


def entries(session, action):
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


# --- planning ------------------------------------------------------------------------------------


def test_a_planned_drill_reads_back_whole_and_is_audited(app, session, people, make_asset, ctx):
    make_asset("TRF-1", "a", owner="officer.a", is_cii=True)
    drill_id = plan(
        app, people["team_a"], assets=["TRF-1"], departments=["a1"], participants=["officer.a"],
        external_participants=[{"name": "Li Wei", "organisation": "Vendor Co", "role": "engineer"}],
        recurrence_months=6,
    )  # fmt: skip
    drill = services.read(session, services.get(session, people["team_a"], drill_id))
    assert drill.assets == ["TRF-1"] and drill.departments == ["a1"] and drill.department == "a"
    assert [p.username or p.name for p in drill.participants] == ["officer.a", "Li Wei"]
    assert [o.text for o in drill.objectives] == ["Detect the encryption", "Report to the CAC in time"]
    assert drill.status == "planned" and drill.lead == "drill.a" and drill.recurrence_months == 6
    assert drill.report_deadline_minutes == 60  # a CII system: its operator reports within an hour
    assert drill.measured.reporting == "pending"
    [entry] = entries(session, "drill.created")
    assert entry.object_id == str(drill_id)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("duration_minutes", -30, "whole number of minutes"),
        ("duration_minutes", 0, "whole number of minutes"),
        ("recurrence_months", 0, "every 1 to 36 months"),
        ("exercise_type", "picnic", "Input should be"),
        ("incident_grade", "V", "Input should be"),
        ("planned_start", "2027-01-01T09:00:00", "time zone"),
    ],
)
def test_bad_plans_are_refused_by_the_schema(field, value, message, ctx):
    data = dict(title="x", exercise_type="tabletop", incident_grade="II", lead="a", planned_start=datetime.now(UTC),
                duration_minutes=60)  # fmt: skip
    data[field] = value
    with pytest.raises(ValidationError) as caught:
        DrillCreate(**data)
    assert message in str(caught.value)


def test_people_and_systems_outside_the_scope_are_unknown_and_nothing_is_planned(app, session, people, make_asset, ctx):
    make_asset("WAT-B", "b", owner="officer.b")
    for fields, message in (
        ({"assets": ["WAT-B"]}, "Unknown asset: WAT-B"),
        ({"lead": "officer.b"}, "Unknown user: officer.b"),
        ({"participants": ["nobody"]}, "Unknown user: nobody"),
        ({"departments": ["b"]}, "Unknown department: b"),
    ):
        with pytest.raises(Invalid, match=message):
            plan(app, people["team_a"], **fields)
    assert session.exec(select(Drill)).all() == []


def test_only_a_planned_drill_changes_and_the_version_must_match(app, session, people, ctx):
    drill_id = plan(app, people["team"])
    drill = services.update(
        session, people["team"], drill_id, DrillUpdate(version=1, title="New title", duration_minutes=90)
    )
    session.commit()
    assert (drill.title, drill.duration_minutes, drill.version) == ("New title", 90, 2)
    with pytest.raises(Conflict):
        services.update(session, people["team"], drill_id, DrillUpdate(version=1, title="Stale"))
    session.rollback()
    conduct(app, people["team"], drill_id, started=hours_ago(1), milestones={}, ended=None)
    with pytest.raises(Conflict, match="Only a planned drill"):
        services.update(session, people["team"], drill_id, DrillUpdate(version=3, title="Too late"))


# --- the reporting deadline ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "operator_kind, cii, grade, deadline",
    [
        ("cii_operator", False, "I", 60),
        ("central_or_state_organ", False, "II", 120),
        ("other_operator", False, "III", 240),
        ("other_operator", True, "III", 60),  # a CII system makes its operator a CII operator
        ("central_or_state_organ", False, "IV", None),  # grade IV: not reportable
        ("cii_operator", True, "IV", None),
    ],
)
def test_the_deadline_follows_the_operator_kind_and_the_grade(
    app, session, people, make_asset, ctx, operator_kind, cii, grade, deadline
):
    kinds(session, a=operator_kind)
    make_asset("SYS-A", "a", owner="officer.a", is_cii=cii)
    drill_id = plan(app, people["team"], assets=["SYS-A"], incident_grade=grade)
    assert fresh(session, Drill, drill_id).report_deadline_minutes == deadline


def test_the_strictest_deadline_of_the_departments_and_systems_applies(app, session, people, make_asset, ctx):
    kinds(session, a="other_operator", b="central_or_state_organ")
    make_asset("SYS-A", "a", owner="officer.a")
    drill_id = plan(app, people["team"], assets=["SYS-A"])
    assert fresh(session, Drill, drill_id).report_deadline_minutes == 240
    drill_id = plan(app, people["team"], assets=["SYS-A"], departments=["b"])
    assert fresh(session, Drill, drill_id).report_deadline_minutes == 120


@pytest.mark.parametrize(
    "operator_kind, reported_after, expected",
    [
        ("cii_operator", 55, "on_time"),
        ("cii_operator", 61, "late"),
        ("central_or_state_organ", 119, "on_time"),
        ("central_or_state_organ", 125, "late"),
        ("other_operator", 240, "on_time"),
        ("other_operator", 241, "late"),
    ],
)
def test_reporting_is_compared_with_the_deadline_for_each_operator_kind(
    app, session, people, make_asset, ctx, operator_kind, reported_after, expected
):
    kinds(session, a=operator_kind)
    make_asset("SYS-A", "a", owner="officer.a")
    drill_id = plan(app, people["team"], assets=["SYS-A"], planned_start=hours_ago(8))
    conduct(app, people["team"], drill_id, started=hours_ago(6),
            milestones={"detected": 10, "reported": reported_after, "contained": 200}, ended=hours_ago(1))  # fmt: skip
    read = services.read(session, fresh(session, Drill, drill_id))
    assert read.measured.report_minutes == reported_after and read.measured.detect_minutes == 10
    assert read.reporting == expected
    items, total = services.list_drills(session, people["team"], DrillQuery(reporting=expected))
    assert total == 1 and items[0].id == drill_id


def test_a_completed_drill_that_never_reported_counts_as_missing(app, session, people, ctx):
    drill_id = plan(app, people["team"], planned_start=hours_ago(5))
    conduct(app, people["team"], drill_id, started=hours_ago(4), milestones={"detected": 5}, ended=hours_ago(2))
    assert services.read(session, fresh(session, Drill, drill_id)).reporting == "missing"
    grade_iv = plan(app, people["team"], planned_start=hours_ago(5), incident_grade="IV")
    conduct(app, people["team"], grade_iv, started=hours_ago(4), milestones={}, ended=hours_ago(2))
    assert services.read(session, fresh(session, Drill, grade_iv)).reporting == "not_reportable"


# --- conducting and recording --------------------------------------------------------------------


def test_timeline_entries_outside_the_drill_are_refused_and_nothing_changes(app, session, people, ctx):
    drill_id = plan(app, people["team"], planned_start=hours_ago(5))
    with pytest.raises(Conflict):  # not started yet
        services.add_entry(session, people["team"], drill_id, TimelineCreate(at=hours_ago(1), text="too early"))
    session.rollback()
    conduct(app, people["team"], drill_id, started=hours_ago(4), milestones={"detected": 30}, ended=hours_ago(2))
    for at in (hours_ago(4.5), hours_ago(1)):
        with pytest.raises(Invalid, match="between the drill's start and its end"):
            services.add_entry(session, people["team"], drill_id, TimelineCreate(at=at, text="outside"))
        session.rollback()
    assert len(session.exec(select(DrillTimelineEntry)).all()) == 1


def test_the_record_refuses_an_end_before_the_start_and_bad_ratings(app, session, people, ctx):
    drill_id = plan(app, people["team"], planned_start=hours_ago(5))
    conduct(app, people["team"], drill_id, started=hours_ago(4), milestones={"detected": 30}, ended=hours_ago(2))
    drill = fresh(session, Drill, drill_id)
    with pytest.raises(Invalid, match="The end must come after the start"):
        services.save_record(session, people["team"], drill_id, DrillRecord(ended_at=hours_ago(4.5)))
    session.rollback()
    with pytest.raises(Invalid, match="would lie outside"):  # the detection entry at -3.5 h
        services.save_record(session, people["team"], drill_id, DrillRecord(ended_at=hours_ago(3.75)))
    session.rollback()
    with pytest.raises(ValidationError, match="P, S, M or U"):
        ObjectiveRating(id=1, rating="X")
    other = plan(app, people["team"])
    foreign = session.exec(select(DrillObjective).where(DrillObjective.drill_id == other)).first()
    with pytest.raises(Invalid, match="not one of this drill's"):
        services.save_record(
            session, people["team"], drill_id, DrillRecord(ratings=[ObjectiveRating(id=foreign.id, rating="P")])
        )
    session.rollback()
    session.refresh(drill)
    assert drill.version == 4  # started, one entry, completed: nothing since
    objectives = session.exec(select(DrillObjective).where(DrillObjective.drill_id == drill_id)).all()
    recorded = services.save_record(
        session, people["team"], drill_id,
        DrillRecord(ratings=[ObjectiveRating(id=objectives[0].id, rating="S", note="slow")], strengths="Calm",
                    improvements="Runbooks"),
    )  # fmt: skip
    session.commit()
    read = services.read(session, recorded)
    assert [o.rating for o in read.objectives] == ["S", ""] and read.strengths == "Calm"


def test_completing_a_recurring_drill_plans_the_next_one_once_at_the_same_local_time(app, session, people, ctx):
    start = datetime(2026, 1, 31, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai, on the 31st
    drill_id = plan(app, people["team"], planned_start=start, recurrence_months=6)
    conduct(app, people["team"], drill_id, started=hours_ago(3), milestones={}, ended=hours_ago(1))
    [following] = session.exec(select(Drill).where(Drill.previous_id == drill_id)).all()
    assert following.status == "planned" and following.planned_start > datetime.now(UTC)
    local = following.planned_start.astimezone(rule.zone("Asia/Shanghai"))
    assert (local.hour, local.minute) == (9, 30)
    assert len(session.exec(select(DrillObjective).where(DrillObjective.drill_id == following.id)).all()) == 2
    again = services.plan_next(session, people["team"], fresh(session, Drill, drill_id), config_of(app))
    assert again is None
    # Cancelling the next occurrence plans the one after it.
    services.cancel(session, people["team"], following.id, DrillCancel(reason="Storm"), config_of(app))
    session.commit()
    [third] = session.exec(select(Drill).where(Drill.previous_id == following.id)).all()
    assert third.planned_start == rule.next_start(following.planned_start, 6, "Asia/Shanghai")


def test_rule_next_start_keeps_month_ends_and_the_local_clock():
    start = datetime(2026, 8, 31, 16, 0, tzinfo=UTC)  # 00:00 on 1 September in Shanghai
    assert rule.next_start(start, 6, "Asia/Shanghai") == datetime(2027, 2, 28, 16, 0, tzinfo=UTC)
    berlin = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert rule.next_start(berlin, 6, "Europe/Berlin") == datetime(2026, 7, 15, 7, 0, tzinfo=UTC)  # 09:00 CEST


def test_a_leader_approves_the_after_action_report_and_the_record_is_then_final(app, session, people, ctx):
    drill_id = plan(app, people["team"], planned_start=hours_ago(5))
    with pytest.raises(Conflict, match="completed"):
        services.approve_report(session, people["leader"], drill_id)
    session.rollback()
    conduct(app, people["team"], drill_id, started=hours_ago(4), milestones={}, ended=hours_ago(2))
    services.approve_report(session, people["leader"], drill_id)
    session.commit()
    with pytest.raises(Conflict, match="final"):
        services.save_record(session, people["team"], drill_id, DrillRecord(strengths="late edit"))
    assert fresh(session, Drill, drill_id).aar_approved_by == "leader"


def test_drills_outside_the_scope_do_not_exist(app, session, people, ctx):
    drill_id = plan(app, people["team"], department="b")
    with pytest.raises(NotFound):
        services.get(session, people["team_a"], drill_id)
    assert services.list_drills(session, people["team_a"], DrillQuery())[1] == 0
    assert services.list_drills(session, people["team"], DrillQuery())[1] == 1


# --- corrective actions --------------------------------------------------------------------------


def test_an_action_owner_outside_the_planners_scope_is_refused(app, session, people, ctx):
    drill_id = plan(app, people["team_a"])
    with pytest.raises(Invalid, match="Unknown user: owner.b"):
        actions.create(session, people["team_a"], drill_id, ActionCreate(title="x", owner="owner.b", due_date=TODAY))
    session.rollback()
    assert session.exec(select(CorrectiveAction)).all() == []


def test_the_owner_updates_and_closes_an_action_wherever_their_department_is(app, session, people, ctx):
    drill_id = plan(app, people["team"], department="a")
    action_id = add_action(app, people["team"], drill_id, "owner.b", TODAY + timedelta(days=10))
    owner = people["owner_b"]
    with pytest.raises(NotFound):  # the drill itself is outside the owner's scope
        services.get(session, owner, drill_id)
    with pytest.raises(Forbidden, match="status and the note"):
        actions.update(
            session, owner, action_id, ActionUpdate(version=1, due_date=TODAY + timedelta(days=90)), manager=False
        )
    session.rollback()
    row = actions.update(
        session, owner, action_id, ActionUpdate(version=1, status="closed", note="done"), manager=False
    )
    session.commit()
    assert row.status == "closed" and row.closed_at is not None
    mine, total = actions.list_actions(session, owner, ActionQuery())
    assert total == 1 and mine[0].department == "b"
    with pytest.raises(NotFound):  # a drill team of another branch neither sees nor changes it
        actions.update(session, people["team_a"], action_id, ActionUpdate(version=2, status="open"), manager=True)


def test_overdue_actions_escalate_once_with_frozen_time(app, session, people, ctx):
    drill_id = plan(app, people["team"])
    due = date(2026, 3, 10)
    late = add_action(app, people["team"], drill_id, "owner.b", due)
    closed = add_action(app, people["team"], drill_id, "owner.b", due, title="Closed in time")
    actions.update(session, people["team"], closed, ActionUpdate(version=1, status="closed"), manager=True, today=due)
    session.commit()
    assert actions.escalate(session, Actor.system("job"), today=due) == []  # due today: not yet overdue
    escalated = actions.escalate(session, Actor.system("job"), today=due + timedelta(days=1))
    session.commit()
    assert [row.id for row in escalated] == [late]
    assert actions.escalate(session, Actor.system("job"), today=due + timedelta(days=5)) == []
    [entry] = entries(session, "corrective_action.escalated")
    detail = json.loads(entry.detail)
    assert (detail["owner"], detail["days_overdue"]) == ("owner.b", 1)
    read = actions.read(session, fresh(session, CorrectiveAction, late), today=due + timedelta(days=5))
    assert read.overdue and read.days_overdue == 5 and read.escalated_at is not None
    overdue, total = actions.list_actions(
        session, people["team"], ActionQuery(overdue=True), today=due + timedelta(days=5)
    )
    assert total == 1 and overdue[0].id == late
    # A new due date: it escalates again only if missed again.
    actions.update(session, people["team"], late, ActionUpdate(version=1, due_date=due + timedelta(days=30)),
                   manager=True, today=due + timedelta(days=5))  # fmt: skip
    session.commit()
    assert fresh(session, CorrectiveAction, late).escalated_at is None


def test_an_action_is_promoted_to_a_risk_once(app, session, people, make_asset, ctx):
    make_asset("SIG-1", "a", owner="officer.a")
    drill_id = plan(app, people["team"], assets=["SIG-1"])
    action_id = add_action(app, people["team"], drill_id, "officer.a", TODAY + timedelta(days=30))
    method = risk_method(session, config_of(app))
    risk = risks.promote(session, Promotion(source="drill_action", source_id=action_id), people["admin"], method)
    session.commit()
    assert risk.source == "drill" and risk.asset_id is not None and "drill #" in risk.vulnerability
    assert fresh(session, CorrectiveAction, action_id).risk_id == risk.id
    with pytest.raises(Conflict, match="already risk"):
        risks.promote(session, Promotion(source="drill_action", source_id=action_id), people["admin"], method)
    session.rollback()
    assert len(session.exec(select(Risk)).all()) == 1


def test_an_action_of_a_drill_of_several_systems_names_its_system_before_promotion(
    app, session, people, make_asset, ctx
):
    make_asset("SIG-1", "a", owner="officer.a")
    make_asset("SIG-2", "a", owner="officer.a")
    drill_id = plan(app, people["team"], assets=["SIG-1", "SIG-2"])
    action_id = add_action(app, people["team"], drill_id, "officer.a", TODAY + timedelta(days=30))
    method = risk_method(session, config_of(app))
    with pytest.raises(Invalid, match="Name the system"):
        risks.promote(session, Promotion(source="drill_action", source_id=action_id), people["admin"], method)
    session.rollback()
    with pytest.raises(Invalid, match="not one of this drill's systems"):
        actions.update(session, people["team"], action_id, ActionUpdate(version=1, asset="NOPE"), manager=True)
    session.rollback()
    actions.update(session, people["team"], action_id, ActionUpdate(version=1, asset="SIG-2"), manager=True)
    risk = risks.promote(session, Promotion(source="drill_action", source_id=action_id), people["admin"], method)
    assert risk.asset_id == fresh(session, CorrectiveAction, action_id).asset_id


# --- requests ------------------------------------------------------------------------------------


def test_a_leaders_request_is_scheduled_by_a_drill_or_declined(app, session, people, make_asset, ctx):
    make_asset("SIG-1", "a", owner="officer.a")
    asked = requests.ask(session, people["leader"], RequestCreate(title="Test the signals", assets=["SIG-1"],
                                                                   due_by=TODAY + timedelta(days=60)))  # fmt: skip
    session.commit()
    with pytest.raises(Invalid, match="past"):
        requests.ask(session, people["leader"], RequestCreate(title="x", due_by=TODAY - timedelta(days=1)))
    session.rollback()
    drill_id = plan(app, people["team"], request_id=asked.id)
    session.expire_all()
    [read] = requests.list_requests(session, people["leader"], requests.RequestQuery())[0]
    assert read.status == "scheduled" and read.drill_id == drill_id and read.assets == ["SIG-1"]
    with pytest.raises(Conflict, match="answered already"):
        requests.decline(session, people["team"], asked.id, RequestDecline(reason="no"))
    session.rollback()
    other = requests.ask(session, people["leader"], RequestCreate(title="Another", due_by=TODAY + timedelta(days=9)))
    requests.decline(session, people["team"], other.id, RequestDecline(reason="Covered by the June drill"))
    session.commit()
    assert session.get(type(other), other.id).status == "declined"


# --- coverage ------------------------------------------------------------------------------------


def test_coverage_gaps_with_frozen_time(app, session, people, make_asset, ctx):
    make_asset("CII-A", "a", owner="officer.a", is_cii=True)
    make_asset("CII-B", "b", owner="officer.b", is_cii=True)
    make_asset("OPS-A1", "a1", owner="officer.a")
    drill_id = plan(app, people["team"], assets=["CII-A"], planned_start=hours_ago(30))
    conduct(app, people["team"], drill_id, started=hours_ago(26), milestones={}, ended=hours_ago(25))
    ahead = plan(app, people["team"], assets=["CII-B"], planned_start=datetime.now(UTC) + timedelta(days=20))
    config = config_of(app)
    now = coverage.coverage(session, people["admin"], config)
    by_code = {gap.code: gap for gap in now.gaps}
    # CII-A covered (and department a through it); CII-B planned but not held; a1 holds a system
    # in operation and no drill covered it (a drill of a covers a's system, not a1's); b likewise.
    assert set(by_code) == {"CII-B", "a1", "b"}
    assert by_code["CII-B"].next_drill_id == ahead and by_code["b"].next_drill_id == ahead
    assert (now.required, now.covered) == (2 + 3, 2)
    # Thirteen months later, the drill no longer counts.
    later = coverage.coverage(session, people["admin"], config, today=TODAY + timedelta(days=400))
    assert {gap.code for gap in later.gaps} == {"CII-A", "CII-B", "a", "a1", "b"}
    assert next(g for g in later.gaps if g.code == "CII-A").last_drill_id == drill_id
    # Scope: an officer of b sees b's required items only.
    mine = coverage.coverage(session, people["officer_b"], config)
    assert {gap.code for gap in mine.gaps} == {"CII-B", "b"} and mine.required == 2


# --- calendar feeds ------------------------------------------------------------------------------


def test_a_feed_token_opens_the_feed_until_it_is_revoked_or_replaced(app, session, people, city, ctx):
    user = city["officer_a"]
    row, token = feeds.create(session, people["officer_a"], user)
    session.commit()
    assert feeds.owner(session, token).id == user.id and row.token_hash != token
    _row2, token2 = feeds.create(session, people["officer_a"], user)
    session.commit()
    with pytest.raises(NotFound):
        feeds.owner(session, token)
    assert feeds.revoke(session, people["officer_a"], user)
    session.commit()
    for bad in (token2, "sgcal_nothing", "x" * 500, ""):
        with pytest.raises(NotFound):
            feeds.owner(session, bad)
    assert [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.action.like("calendar_feed.%")))] == [
        "calendar_feed.created", "calendar_feed.created", "calendar_feed.revoked",
    ]  # fmt: skip

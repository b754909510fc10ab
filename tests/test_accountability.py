"""Accountability: effective-dated assignments of the declared duties (the chief, department
heads, sub-item owners), their rules, corrections, and the gaps. Time is frozen by handing the
services the moment they act at (`now`) and asking the holders at given moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from secgov import domains, responsibility
from secgov.accountability import assignments
from secgov.accountability.assignments import AssignmentIn
from secgov.authz import Actor
from secgov.errors import Conflict, Forbidden, Invalid, NotFound
from secgov.models import AuditEntry, Department, Responsibility, User

# The moment the tests act at: a day after the records the fixtures make (at the real time).
T0 = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
DUTIES = domains.registry().duties


@pytest.fixture
def people(city, make_user, make_asset, session):
    """The city of conftest (a > a1, b) with an asset in a1 and one in b, and the people."""
    make_user("owner.a1", roles=("officer",), department="a1")
    make_user("leader.a", roles=("leader",), department="a")
    make_user("gone.a", roles=("officer",), department="a")
    assets = {
        "a1": make_asset("A1-SYS", "a1", owner="officer.a"),
        "b": make_asset("B-SYS", "b", owner="officer.b"),
    }
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    return {"assets": assets, "depts": depts, **city}


def _give(session, actor_user, roles, duty, subject_id, user, now, **fields):
    actor = Actor.system("cli") if actor_user is None else Actor.of(actor_user, "api")
    data = AssignmentIn(duty=duty, subject_id=subject_id, user=user, reason=fields.pop("reason", "handover"), **fields)
    term = assignments.assign(session, actor, roles, data, DUTIES, now=now)
    session.commit()
    return term


def _holder(session, subject_type, subject_id, duty, at):
    found = responsibility.holders(session, subject_type, [subject_id], duty, at=at).get(subject_id)
    return found.username if found else None


def test_every_duty_is_declared_once_with_a_label_and_assigners():
    codes = list(DUTIES)
    assert {"city.chief", "department.head", "asset.owner", "risk.owner"} <= set(codes)
    assert {"asset.assessment_lead", "asset.scan_owner"} <= set(codes)
    for duty in DUTIES.values():
        assert duty.level in ("chief", "head", "sub_item") and duty.assigners and duty.label


def test_a_reassignment_changes_who_is_accountable_from_that_moment_and_not_before(app, session, people):
    asset = people["assets"]["a1"]
    with _en(app):
        _give(session, people["admin"], {"admin"}, "asset.owner", asset.id, "owner.a1", T0)
        later = T0 + timedelta(days=30)
        _give(session, people["officer_a"], {"officer"}, "asset.owner", asset.id, "officer.a", later)
    assert _holder(session, "asset", asset.id, "owner", T0 - timedelta(seconds=1)) == "officer.a"  # at registration
    assert _holder(session, "asset", asset.id, "owner", T0) == "owner.a1"
    assert _holder(session, "asset", asset.id, "owner", later - timedelta(seconds=1)) == "owner.a1"
    assert _holder(session, "asset", asset.id, "owner", later) == "officer.a"
    terms = responsibility.history(session, "asset", asset.id, "owner")
    assert [(t.valid_to, u.username, t.assigned_by) for t, u in terms][:2] == [
        (None, "officer.a", "officer.a"),
        (later, "owner.a1", "root.admin"),
    ]


def test_the_chief_and_heads_are_assigned_by_leadership_only(app, session, people):
    city, a = people["depts"]["city"], people["depts"]["a"]
    with _en(app):
        _give(session, people["leader"], {"leader"}, "city.chief", city.id, "leader", T0)
        _give(session, people["admin"], {"admin"}, "department.head", a.id, "leader.a", T0)
        with pytest.raises(Forbidden) as refused:
            _give(session, people["officer_a"], {"officer"}, "department.head", a.id, "officer.a", T0)
        # The request frame records the refusal after the rollback.
        assert (refused.value.refusal.action, refused.value.refusal.object_id) == ("responsibility.denied", a.id)
        # A bureau's leader cannot see the city's own duty: it does not exist for them.
        with pytest.raises(NotFound):
            _give(session, _user(session, "leader.a"), {"leader"}, "city.chief", city.id, "leader.a", T0)
    assert _holder(session, "city", city.id, "chief", T0) == "leader"
    assert _holder(session, "department", a.id, "head", T0) == "leader.a"


def _en(app):
    return app.test_request_context(headers={"Accept-Language": "en"})


def _user(session, name):
    from secgov.models import User

    return session.exec(select(User).where(User.username == name)).one()


@pytest.mark.parametrize(
    ("fields", "user", "error", "message"),
    [
        ({"valid_from": T0 - timedelta(hours=1)}, "owner.a1", Invalid, "never in the past"),
        ({"valid_to": T0 - timedelta(minutes=5)}, "owner.a1", Invalid, "after the start"),
        (
            {"valid_from": T0 + timedelta(days=2), "valid_to": T0 + timedelta(days=1)},
            "owner.a1",
            Invalid,
            "after the start",
        ),
        ({"actor": "officer_a"}, "officer.b", Invalid, "no user officer.b in your scope"),
        ({}, "officer.b", Invalid, "officer.b works outside the department of A1-SYS"),
        ({}, "gone.a", Invalid, "disabled"),
        ({}, "no.such.user", Invalid, "no user no.such.user"),
        ({"duty": "asset.nothing"}, "owner.a1", Invalid, "no duty asset.nothing"),
        ({"correction": True, "valid_from": T0 + timedelta(days=1)}, "owner.a1", Invalid, "takes effect now"),
    ],
)
def test_bad_assignments_are_refused_clearly_and_change_nothing(app, session, people, fields, user, error, message):
    asset = people["assets"]["a1"]
    gone = _user(session, "gone.a")
    gone.disabled = True
    session.add(gone)
    session.commit()
    before = session.exec(select(Responsibility)).all()
    audit_before = len(session.exec(select(AuditEntry)).all())
    duty = fields.pop("duty", "asset.owner")
    actor = people[fields.pop("actor", "admin")]
    with _en(app), pytest.raises(error, match=message):
        _give(session, actor, {"admin", "officer"}, duty, asset.id, user, T0, **fields)
    session.rollback()
    assert session.exec(select(Responsibility)).all() == before
    assert len(session.exec(select(AuditEntry)).all()) == audit_before


def test_a_holder_must_be_able_to_see_the_subject(app, session, people):
    """An asset of bureau a cannot go to a user of its unit a1, who does not see bureau a's
    records; a unit's asset can go to the bureau's officer above it."""
    a_asset = people["assets"]["a1"]
    with _en(app):
        _give(session, people["admin"], {"admin"}, "asset.owner", a_asset.id, "leader.a", T0)  # bureau above
        a = people["depts"]["a"]
        with pytest.raises(Invalid, match="outside the department"):
            _give(session, people["admin"], {"admin"}, "department.head", a.id, "owner.a1", T0)


def test_out_of_scope_subjects_do_not_exist_for_the_assigner(app, session, people):
    with _en(app), pytest.raises(NotFound):
        _give(session, people["officer_a"], {"officer"}, "asset.owner", people["assets"]["b"].id, "officer.a", T0)
    with _en(app), pytest.raises(NotFound):
        _give(session, people["admin"], {"admin"}, "asset.owner", 999999, "officer.a", T0)


def test_a_planned_term_cannot_be_overlapped(app, session, people):
    """A handover planned for next month: a new term may end before it starts, not run into it."""
    a = people["depts"]["a"]
    start = T0 + timedelta(days=30)
    with _en(app):
        _give(session, people["admin"], {"admin"}, "department.head", a.id, "leader.a", T0)
        _give(session, people["admin"], {"admin"}, "department.head", a.id, "officer.a", T0, valid_from=start)
        with pytest.raises(Conflict, match="overlaps the term of officer.a"):
            _give(session, people["admin"], {"admin"}, "department.head", a.id, "gone.a", T0 + timedelta(days=1))
        acting = _give(
            session, people["admin"], {"admin"}, "department.head", a.id, "gone.a", T0 + timedelta(days=1),
            valid_to=start,
        )  # fmt: skip
    assert acting.valid_to == start
    assert _holder(session, "department", a.id, "head", T0 + timedelta(hours=1)) == "leader.a"
    assert _holder(session, "department", a.id, "head", T0 + timedelta(days=2)) == "gone.a"
    assert _holder(session, "department", a.id, "head", start) == "officer.a"


def test_a_correction_is_a_new_term_naming_the_one_it_corrects(app, session, people):
    risk_free = people["assets"]["a1"]
    with _en(app):
        wrong = _give(session, people["admin"], {"admin"}, "asset.owner", risk_free.id, "owner.a1", T0)
        fixed = _give(
            session, people["admin"], {"admin"}, "asset.owner", risk_free.id, "leader.a", T0 + timedelta(days=3),
            correction=True, reason="recorded the wrong person",
        )  # fmt: skip
    assert fixed.corrects_id == wrong.id
    # History is kept: who was recorded then stays, the correction applies from now on.
    assert _holder(session, "asset", risk_free.id, "owner", T0 + timedelta(days=1)) == "owner.a1"
    assert _holder(session, "asset", risk_free.id, "owner", T0 + timedelta(days=3)) == "leader.a"
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "responsibility.corrected")).one()
    assert entry.actor == "root.admin"


def test_the_current_holder_again_is_refused(app, session, people):
    asset = people["assets"]["a1"]
    with _en(app), pytest.raises(Conflict, match="already holds"):
        _give(session, people["admin"], {"admin"}, "asset.owner", asset.id, "officer.a", T0)


def test_gaps_are_subjects_without_a_holder_or_with_a_disabled_one(app, session, people):
    a, b = people["depts"]["a"], people["depts"]["b"]
    with _en(app):
        _give(session, people["admin"], {"admin"}, "department.head", a.id, "leader.a", T0)
    duties = [DUTIES["department.head"], DUTIES["asset.owner"], DUTIES["city.chief"]]
    city_wide = Actor.of(people["admin"])
    found = {(g.duty.code, g.subject.id) for g in assignments.gaps(session, city_wide, duties, at=T0)}
    depts = people["depts"]
    assert found == {
        ("department.head", depts["city"].id),
        ("department.head", depts["a1"].id),
        ("department.head", b.id),
        ("city.chief", depts["city"].id),
    }
    # The officer leaves: their asset's duty is a gap until someone takes it.
    officer = _user(session, "officer.a")
    officer.disabled = True
    session.add(officer)
    session.commit()
    gaps = assignments.gaps(session, city_wide, [DUTIES["asset.owner"]])
    assert [(g.subject.label, g.holder.username) for g in gaps] == [
        ("A1-SYS " + people["assets"]["a1"].name, "officer.a")
    ]
    # Bureau b's officer sees bureau b's gaps only.
    in_b = {
        (g.duty.code, g.subject.id) for g in assignments.gaps(session, Actor.of(people["officer_b"]), duties, at=T0)
    }
    assert in_b == {("department.head", b.id)}


def test_retired_assets_and_closed_risks_need_no_holder(app, session, people):
    asset = people["assets"]["a1"]
    asset.lifecycle = "retired"
    session.add(asset)
    session.commit()
    officer = _user(session, "officer.a")
    officer.disabled = True
    session.add(officer)
    session.commit()
    assert assignments.gaps(session, Actor.of(people["admin"]), [DUTIES["asset.owner"]]) == []


def _drill_with_action(session, people, status="planned"):
    from drills.models import CorrectiveAction, Drill

    a1 = people["depts"]["a1"]
    lead = _user(session, "owner.a1")
    drill = Drill(
        title="Signals tabletop", department_id=a1.id, exercise_type="tabletop", incident_grade="II",
        lead_id=lead.id, planned_start=T0 + timedelta(days=10), duration_minutes=60, status=status, created_by="test",
    )  # fmt: skip
    session.add(drill)
    session.flush()
    action = CorrectiveAction(
        drill_id=drill.id, department_id=a1.id, title="Offline backups", owner_id=lead.id,
        due_date=(T0 + timedelta(days=30)).date(), created_by="test",
    )  # fmt: skip
    session.add(action)
    session.commit()
    return drill, action


def test_drill_leads_and_action_owners_follow_on_their_records(app, session, people, make_user):
    make_user("team.a", roles=("drill_team",), department="a")
    team = _user(session, "team.a")
    drill, action = _drill_with_action(session, people)
    with _en(app):
        _give(session, team, {"drill_team"}, "drill.lead", drill.id, "officer.a", T0)
        _give(session, team, {"drill_team"}, "corrective_action.owner", action.id, "leader.a", T0)
        # Named on their records: they change hands now, never on a planned date.
        with pytest.raises(Invalid, match="changes hands now"):
            _give(
                session, team, {"drill_team"}, "drill.lead", drill.id, "gone.a", T0, valid_from=T0 + timedelta(days=1)
            )
        # An officer does not run drills.
        with pytest.raises(Forbidden):
            _give(session, people["officer_a"], {"officer"}, "drill.lead", drill.id, "gone.a", T0)
    session.expire_all()
    assert session.get(type(drill), drill.id).lead_id == _user(session, "officer.a").id
    moved = session.get(type(action), action.id)
    assert (moved.owner_id, moved.department_id) == (_user(session, "leader.a").id, people["depts"]["a"].id)
    assert _holder(session, "drill", drill.id, "lead", T0) == "officer.a"
    assert _holder(session, "corrective_action", action.id, "owner", T0) == "leader.a"


def test_a_drill_under_way_keeps_its_lead(app, session, people, make_user):
    make_user("team.a", roles=("drill_team",), department="a")
    drill, _action = _drill_with_action(session, people, status="in_progress")
    with _en(app), pytest.raises(Conflict, match="Only a planned drill"):
        _give(session, _user(session, "team.a"), {"drill_team"}, "drill.lead", drill.id, "officer.a", T0)
    session.rollback()
    assert session.get(type(drill), drill.id).lead_id == _user(session, "owner.a1").id


def test_open_drills_and_actions_need_a_holder(app, session, people):
    drill, action = _drill_with_action(session, people)
    duties = [DUTIES["drill.lead"], DUTIES["corrective_action.owner"]]
    found = {(g.duty.code, g.subject.id) for g in assignments.gaps(session, Actor.of(people["admin"]), duties)}
    # Written as plain rows, without terms: both lack a holder until one is assigned.
    assert found == {("drill.lead", drill.id), ("corrective_action.owner", action.id)}


# An asset's assessment lead and scan owner answer in its owner's place while named.
FALLBACKS = {"assessment_lead": ("assessment_lead", "owner"), "scan_owner": ("scan_owner", "owner")}


def test_a_named_lead_answers_in_the_owners_place_during_their_term_only(app, session, people):
    """officer.a owns the asset from its registration, gone.a from T0+30d. owner.a1 is its
    assessment lead from T0+10d until T0+20d; leader.a its scan owner from T0+5d, open-ended."""
    asset = people["assets"]["a1"]
    with _en(app):
        _give(
            session, people["officer_a"], {"officer"}, "asset.assessment_lead", asset.id, "owner.a1", T0,
            valid_from=T0 + timedelta(days=10), valid_to=T0 + timedelta(days=20),
        )  # fmt: skip
        _give(session, people["admin"], {"admin"}, "asset.scan_owner", asset.id, "owner.a1", T0 + timedelta(days=5))
        _give(session, people["admin"], {"admin"}, "asset.owner", asset.id, "gone.a", T0 + timedelta(days=30))
    # The test's own table of terms: (duty, from, until, holder).
    terms = [
        ("owner", None, T0 + timedelta(days=30), "officer.a"),
        ("owner", T0 + timedelta(days=30), None, "gone.a"),
        ("assessment_lead", T0 + timedelta(days=10), T0 + timedelta(days=20), "owner.a1"),
        ("scan_owner", T0 + timedelta(days=5), None, "owner.a1"),
    ]

    def expected(duty: str, at: datetime) -> tuple[str, str]:
        for held in (duty, "owner"):
            for name, start, end, who in terms:
                if name == held and (start is None or start <= at) and (end is None or at < end):
                    return held, who
        raise AssertionError("the asset always has an owner")

    moments = [T0 + timedelta(days=d) for d in (0, 5, 10, 15, 20, 25, 30, 31)]
    moments += [T0 + timedelta(days=20) - timedelta(seconds=1), T0 + timedelta(days=10) - timedelta(seconds=1)]
    for duty, order in FALLBACKS.items():
        pairs = [(asset.id, at) for at in moments]
        users = {u.id: u.username for u in session.exec(select(User)).all()}
        at_each = responsibility.holders_at(session, "asset", order, pairs)
        terms_at = responsibility.terms_at(session, "asset", order, pairs)
        for at in moments:
            held, who = expected(duty, at)
            assert _holder(session, "asset", asset.id, order, at) == who, (duty, at)
            assert users[at_each[(asset.id, at)]] == who, (duty, at)
            assert terms_at[(asset.id, at)].duty == held
            assert responsibility.duty_answering(session, "asset", asset.id, order, at) == held
    # Spelled out: the lead answers from the start of their term until its end, the owner around it.
    assert _holder(session, "asset", asset.id, FALLBACKS["assessment_lead"], T0 + timedelta(days=9)) == "officer.a"
    assert _holder(session, "asset", asset.id, FALLBACKS["assessment_lead"], T0 + timedelta(days=10)) == "owner.a1"
    assert _holder(session, "asset", asset.id, FALLBACKS["assessment_lead"], T0 + timedelta(days=20)) == "officer.a"
    assert _holder(session, "asset", asset.id, FALLBACKS["assessment_lead"], T0 + timedelta(days=31)) == "gone.a"
    assert _holder(session, "asset", asset.id, FALLBACKS["scan_owner"], T0 + timedelta(days=31)) == "owner.a1"
    # A single duty reads as before: the lead alone, nobody outside their term.
    assert _holder(session, "asset", asset.id, "assessment_lead", T0) is None
    # Nobody at all: the duty whose gap it is, the last one.
    before = asset.created_at - timedelta(days=1)
    assert responsibility.duty_answering(session, "asset", asset.id, FALLBACKS["scan_owner"], before) == "owner"


def test_leads_and_scan_owners_are_assigned_like_owners_and_are_gaps_only_when_named_and_gone(app, session, people):
    asset, other = people["assets"]["a1"], people["assets"]["b"]
    duties = [DUTIES["asset.assessment_lead"], DUTIES["asset.scan_owner"]]
    admin = Actor.of(people["admin"])
    # Nobody named: no gap, the owner answers.
    assert assignments.gaps(session, admin, duties) == []
    with _en(app):
        # A leader does not assign them; an officer of b does not see a1's asset.
        with pytest.raises(Forbidden):
            _give(session, _user(session, "leader.a"), {"leader"}, "asset.scan_owner", asset.id, "gone.a", T0)
        with pytest.raises(NotFound):
            _give(session, people["officer_b"], {"officer"}, "asset.assessment_lead", asset.id, "officer.b", T0)
        session.rollback()
        # The holder must see the asset, as an owner must.
        with pytest.raises(Invalid, match="outside the department"):
            _give(session, people["admin"], {"admin"}, "asset.scan_owner", other.id, "officer.a", T0)
        session.rollback()
        _give(session, people["officer_a"], {"officer"}, "asset.scan_owner", asset.id, "gone.a", None)
    assert assignments.gaps(session, admin, duties) == []
    gone = _user(session, "gone.a")
    gone.disabled = True
    session.add(gone)
    session.commit()
    # The named scan owner has left: a gap until the duty is given to someone else or ends.
    found = [(g.duty.code, g.subject.id, g.holder.username) for g in assignments.gaps(session, admin, duties)]
    assert found == [("asset.scan_owner", asset.id, "gone.a")]
    assert assignments.gaps(session, Actor.of(people["officer_b"]), duties) == []

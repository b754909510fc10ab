"""The accountability trace: for each kind of lapse, the people responsible at the moment it went
wrong (sub-item owner, department head, chief), never who holds the duty now. The history of
terms is written with explicit moments around the lapse (the system writing its own fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import factories
import pytest
from sqlmodel import select

from assessments.models import Risk
from assets.models import Asset, AssetGrade
from drills.models import CorrectiveAction, Drill, DrillObjective
from secgov import audit, domains, localtime, responsibility, settings
from secgov.accountability import trace
from secgov.authz import Actor
from secgov.errors import Invalid, NotFound
from secgov.models import AuditEntry, Department, User

SOURCES = domains.registry().trace_sources
SYSTEM = Actor.system("cli")
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


@pytest.fixture
def world(app, session, city, make_user, make_asset):
    """Bureau a (unit a1), bureau b; owners and heads whose terms change around 10 days ago."""
    for name, dept, roles in (
        ("old.owner", "a1", ("officer",)), ("new.owner", "a1", ("officer",)), ("head.one", "a", ("leader",)),
        ("head.two", "a", ("leader",)), ("chief.one", "city", ("leader",)), ("chief.two", "city", ("leader",)),
        ("lead.one", "a1", ("drill_team",)), ("auditor.a", "a", ("auditor",)),
    ):  # fmt: skip
        make_user(name, roles=roles, department=dept)
    asset = make_asset("A1-SYS", "a1", owner="old.owner")
    people = {u.username: u for u in session.exec(select(User)).all()}
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    return {"asset": asset, "people": people, "depts": depts}


def _term(app, session, subject_type, subject_id, duty, user, at, corrects=None):
    with app.test_request_context():
        row = responsibility.assign(session, subject_type, subject_id, duty, user, SYSTEM, at=at, corrects=corrects)
        session.commit()
    return row


def _history(app, session, world, subject_type, subject_id, duty, lapse_at):
    """Owner: old.owner until 2 days after the lapse, new.owner since. Head of a: head.one until 5
    days before it, head.two since. Chief: chief.one throughout until a day after, then chief.two."""
    p, d = world["people"], world["depts"]
    start = lapse_at - timedelta(days=60)
    _term(app, session, subject_type, subject_id, duty, p["old.owner"], start)
    _term(app, session, subject_type, subject_id, duty, p["new.owner"], lapse_at + timedelta(days=2))
    _term(app, session, "department", d["a"].id, "head", p["head.one"], start)
    _term(app, session, "department", d["a"].id, "head", p["head.two"], lapse_at - timedelta(days=5))
    _term(app, session, "city", d["city"].id, "chief", p["chief.one"], start)
    _term(app, session, "city", d["city"].id, "chief", p["chief.two"], lapse_at + timedelta(days=1))


def _risk(asset, title, due):
    return Risk(asset_id=asset.id, title=title, likelihood=3, impact=3, level="medium", due_date=due,
                created_by="test", created_on=due - timedelta(days=90))  # fmt: skip


def _names(result):
    return [(link.level, link.holder.username if link.holder else None) for link in result.chain]


def _trace(app, session, kind, ref, actor=SYSTEM):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        return trace.trace(session, actor, SOURCES, kind, str(ref), factories.config_of(app), TODAY)


def test_an_overdue_risk_names_the_people_of_the_day_after_its_due_date(app, session, world):
    due = TODAY - timedelta(days=10)
    risk = _risk(world["asset"], "No backups", due)
    session.add(risk)
    session.commit()
    lapse_at = localtime.day_start(due + timedelta(days=1), factories.config_of(app).timezone)
    _history(app, session, world, "risk", risk.id, "owner", lapse_at)
    result = _trace(app, session, "risk_overdue", risk.id)
    assert result.lapse.at == lapse_at
    assert _names(result) == [("sub_item", "old.owner"), ("head", "head.two"), ("chief", "chief.one")]
    assert result.chain[1].held_for == world["depts"]["a"].name  # unit a1 had no head: its bureau's


def test_an_overdue_action_and_a_failed_objective(app, session, world):
    p, a1 = world["people"], world["depts"]["a1"]
    ended = NOW - timedelta(days=20)
    drill = Drill(
        title="Ransomware", department_id=a1.id, exercise_type="tabletop", incident_grade="II",
        lead_id=p["lead.one"].id, planned_start=ended - timedelta(hours=2), duration_minutes=60, status="completed",
        started_at=ended - timedelta(hours=1), ended_at=ended, completed_at=ended, created_by="test",
    )  # fmt: skip
    session.add(drill)
    session.flush()
    objective = DrillObjective(drill_id=drill.id, text="Isolate the network", rating="U")
    passed = DrillObjective(drill_id=drill.id, text="Call the CERT", rating="P")
    action = CorrectiveAction(
        drill_id=drill.id, department_id=a1.id, title="Offline backups", owner_id=p["old.owner"].id,
        due_date=TODAY - timedelta(days=3), created_by="test",
    )  # fmt: skip
    session.add_all([objective, passed, action])
    session.commit()
    _history(app, session, world, "drill", drill.id, "lead", ended)
    assert _names(_trace(app, session, "objective_failed", f"{drill.id}/{objective.id}")) == [
        ("sub_item", "old.owner"), ("head", "head.two"), ("chief", "chief.one"),
    ]  # fmt: skip
    action_at = localtime.day_start(action.due_date + timedelta(days=1), factories.config_of(app).timezone)
    _history(app, session, world, "corrective_action", action.id, "owner", action_at)
    assert _names(_trace(app, session, "action_overdue", action.id))[0] == ("sub_item", "old.owner")
    # A passed objective and an action closed in time did not go wrong.
    with pytest.raises(Invalid, match="nothing to trace"):
        _trace(app, session, "objective_failed", f"{drill.id}/{passed.id}")
    action.status = "closed"
    session.add(action)
    session.commit()
    with pytest.raises(Invalid, match="nothing to trace"):
        _trace(app, session, "action_overdue", action.id)


def test_a_refused_scan_names_the_asset_owner_of_that_moment(app, session, world):
    with app.test_request_context():
        audit.record(session, SYSTEM, "scan.refused", object_type="asset", object_id=world["asset"].id,
                     department_id=world["asset"].department_id)  # fmt: skip
        session.commit()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "scan.refused")).one()
    result = _trace(app, session, "scan_refused", f"{world['asset'].id}/{entry.seq}")
    # Registered just now by old.owner's assignment at make_asset; nobody else held it since.
    assert _names(result)[0] == ("sub_item", "old.owner")


def _refused(app, session, asset) -> AuditEntry:
    with app.test_request_context():
        audit.record(session, SYSTEM, "scan.refused", object_type="asset", object_id=asset.id,
                     department_id=asset.department_id)  # fmt: skip
        session.commit()
    return session.exec(
        select(AuditEntry).where(AuditEntry.action == "scan.refused", AuditEntry.object_id == str(asset.id))
    ).one()


def test_a_refused_scan_names_the_scan_owner_named_then(app, session, world, make_asset):
    p = world["people"]
    asset, later = world["asset"], make_asset("A1-LATER", "a1", owner="old.owner")
    session.commit()  # the fixture's reads end before this session writes (SQLite)
    _term(app, session, "asset", asset.id, "scan_owner", p["lead.one"], NOW - timedelta(days=3))
    # A1-LATER's scan owner starts tomorrow: its owner answers for today's refusal.
    _term(app, session, "asset", later.id, "scan_owner", p["lead.one"], NOW + timedelta(days=1))
    named = _trace(app, session, "scan_refused", f"{asset.id}/{_refused(app, session, asset).seq}").chain[0]
    assert (named.holder.username, named.duty_label, named.term.duty) == ("lead.one", "Scan owner", "scan_owner")
    assert named.term.valid_from == NOW - timedelta(days=3)
    owner = _trace(app, session, "scan_refused", f"{later.id}/{_refused(app, session, later).seq}").chain[0]
    assert (owner.holder.username, owner.duty_label, owner.term.duty) == ("old.owner", "Asset owner", "owner")


# Only the MLPS evaluation of level 3, every 12 months.
INTERVALS = {"mlps_evaluation": {"3": 12}, "cii_annual": 0, "self_inspection": 0, "due_soon_days": 30}


def test_a_missed_assessment_names_the_assessment_lead_of_that_day_else_the_owner(app, session, world):
    p, a1 = world["people"], world["depts"]["a1"]
    config = factories.config_of(app)
    with app.test_request_context():
        settings.update(session, domains.registry().settings, {"assessment_intervals": INTERVALS}, SYSTEM, config)
        session.commit()
    graded = TODAY - timedelta(days=400)
    if (graded.month, graded.day) == (2, 29):
        graded -= timedelta(days=1)
    due = graded.replace(year=graded.year + 1)  # never evaluated: due a year after its grading
    lapse_at = localtime.day_start(due + timedelta(days=1), config.timezone)
    assets = {}
    for code in ("A1-LED", "A1-UNLED"):
        asset = assets[code] = Asset(code=code, name=code, sector="transport", department_id=a1.id, mlps_level=3)
        session.add(asset)
        session.flush()
        graded_at = datetime.combine(graded, time(4), UTC)  # noon in the city
        session.add(AssetGrade(asset_id=asset.id, mlps_level=3, changed_at=graded_at, changed_by="t"))
        session.commit()
        _term(app, session, "asset", asset.id, "owner", p["old.owner"], lapse_at - timedelta(days=60))
    # A1-LED's lead holds the duty across the lapse; A1-UNLED's lead's term ended the moment before.
    _term(app, session, "asset", assets["A1-LED"].id, "assessment_lead", p["new.owner"], lapse_at - timedelta(days=5))
    with app.test_request_context():
        responsibility.assign(
            session, "asset", assets["A1-UNLED"].id, "assessment_lead", p["new.owner"], SYSTEM,
            at=lapse_at - timedelta(days=5), until=lapse_at,
        )  # fmt: skip
        session.commit()
    led = _trace(app, session, "assessment_missed", f"{assets['A1-LED'].id}:mlps_evaluation")
    assert led.lapse.at == lapse_at
    lead = led.chain[0]
    assert (lead.holder.username, lead.duty_label, lead.term.duty) == (
        "new.owner",
        "Assessment lead",
        "assessment_lead",
    )
    assert lead.term.valid_from == lapse_at - timedelta(days=5)
    unled = _trace(app, session, "assessment_missed", f"{assets['A1-UNLED'].id}:mlps_evaluation").chain[0]
    assert (unled.holder.username, unled.duty_label, unled.term.duty) == ("old.owner", "Asset owner", "owner")


def test_a_gap_and_a_correction_are_shown(app, session, world):
    due = TODAY - timedelta(days=4)
    risk = _risk(world["asset"], "Weak passwords", due)
    session.add(risk)
    session.commit()
    # Nobody held the risk, the bureau or the city when it went wrong: three gaps.
    assert _names(_trace(app, session, "risk_overdue", risk.id)) == [
        ("sub_item", None),
        ("head", None),
        ("chief", None),
    ]
    lapse_at = localtime.day_start(due + timedelta(days=1), factories.config_of(app).timezone)
    wrong = _term(app, session, "risk", risk.id, "owner", world["people"]["old.owner"], lapse_at - timedelta(days=9))
    _term(app, session, "risk", risk.id, "owner", world["people"]["new.owner"], NOW, corrects=wrong)
    owner = _trace(app, session, "risk_overdue", risk.id).chain[0]
    assert (owner.holder.username, owner.corrected_to.username) == ("old.owner", "new.owner")


def test_scope_unknown_kinds_and_records(app, session, world, city):
    due = TODAY - timedelta(days=4)
    risk = _risk(world["asset"], "Old OS", due)
    session.add(risk)
    session.commit()
    with pytest.raises(NotFound) as out_of_scope:
        _trace(app, session, "risk_overdue", risk.id, actor=Actor.of(city["officer_b"]))
    assert out_of_scope.value.refusal.action == "authz.out_of_scope"
    with pytest.raises(NotFound):
        _trace(app, session, "risk_overdue", 999999)
    with pytest.raises(NotFound):
        _trace(app, session, "risk_overdue", "not-a-number")
    with pytest.raises(Invalid, match="no kind of lapse"):
        _trace(app, session, "nothing_here", risk.id)


def test_the_trace_over_the_api(app, session, world, city, api_token):
    due = TODAY - timedelta(days=10)
    risk = _risk(world["asset"], "No backups", due)
    session.add(risk)
    session.commit()
    lapse_at = localtime.day_start(due + timedelta(days=1), factories.config_of(app).timezone)
    _history(app, session, world, "risk", risk.id, "owner", lapse_at)
    client = app.test_client()
    auditor = factories_user(session, "auditor.a")
    headers = {"Authorization": f"Bearer {api_token(auditor)}", "Accept-Language": "en"}
    answer = client.get(f"/api/v1/accountability/trace?kind=risk_overdue&id={risk.id}", headers=headers)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["kind_label"], body["department"], body["title"]) == (
        "Risk treatment overdue",
        "a1",
        "A1-SYS: No backups",
    )
    assert [(link["level"], link["user"], link["duty"]) for link in body["chain"]] == [
        ("sub_item", "old.owner", "Remediation owner"),
        ("head", "head.two", "Department head"),
        ("chief", "chief.one", "Chief responsible person"),
    ]
    assert body["chain"][0]["valid_to"] is not None  # old.owner's term ended after the lapse
    bad = client.get("/api/v1/accountability/trace?kind=nothing&id=1", headers=headers)
    assert bad.status_code == 422 and "no kind of lapse" in bad.json["error"]["message"]
    other = {"Authorization": f"Bearer {api_token(city['officer_b'])}"}
    assert client.get(f"/api/v1/accountability/trace?kind=risk_overdue&id={risk.id}", headers=other).status_code == 404


def factories_user(session, name):
    return session.exec(select(User).where(User.username == name)).first()

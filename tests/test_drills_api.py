"""Drills over the API: planning and its bad input, conducting (start, timeline, record, complete,
cancel), the leader's approval, comments, corrective actions (the owner anywhere, the drill team,
promotion), leaders' requests, coverage; scope, versions, and the lists' filters and totals
against the services."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from drill_world import add_action, conduct, hours_ago, plan
from factories import config_of
from sqlmodel import func, select

from drills import actions, coverage, requests, services
from drills.models import CorrectiveAction, Drill, DrillComment, DrillRequest, DrillTimelineEntry
from drills.schemas import ActionQuery, DrillQuery, RequestQuery
from secgov.authz import Actor
from secgov.models import AuditEntry

TODAY = datetime.now(UTC).date()


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def people(city, make_user):
    """The city of conftest, drill teams of the city and of bureau a, an officer of b who owns
    actions, an auditor of a."""
    return {
        **city,
        "team": make_user("drill.city", roles=("drill_team",), department="city"),
        "team_a": make_user("drill.a", roles=("drill_team",), department="a"),
        "owner_b": make_user("owner.b", roles=("officer",), department="b"),
        "auditor_a": make_user("auditor.a", roles=("auditor",), department="a"),
    }


@pytest.fixture
def actors(people):
    return {key: Actor.of(user, "api") for key, user in people.items()}


@pytest.fixture
def api(client, api_token, people, session):
    """api(user_key) -> call(method, path, **kwargs) as that user, in English."""
    tokens = {}

    def for_user(key: str):
        if key not in tokens:
            session.rollback()  # a read snapshot older than the requests' writes could not write
            tokens[key] = api_token(people[key])
        headers = {"Authorization": f"Bearer {tokens[key]}", "Accept-Language": "en"}

        def call(method: str, path: str, **kwargs):
            return client.open(path, method=method, headers=headers, **kwargs)

        return call

    return for_user


@pytest.fixture
def systems(make_asset, people):
    return {
        "a": make_asset("SIG-A", "a1", owner="officer.a", is_cii=True),
        "b": make_asset("WAT-B", "b", owner="officer.b"),
    }


def count(session, model, *where) -> int:
    session.rollback()  # see what the requests committed
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def audited(session, action: str) -> list[AuditEntry]:
    session.rollback()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


def new_plan(**overrides) -> dict:
    body = {
        "title": "Signal ransomware tabletop",
        "scenario": "Ransomware on the signal controllers.",
        "exercise_type": "tabletop",
        "incident_grade": "II",
        "lead": "drill.a",
        "planned_start": iso(datetime.now(UTC) + timedelta(days=7)),
        "duration_minutes": 120,
        "assets": ["SIG-A"],
        "departments": ["a1"],
        "participants": ["officer.a"],
        "external_participants": [{"name": "Li Wei", "organisation": "Vendor Co", "role": "engineer"}],
        "objectives": ["Detect the encryption", "Report in time"],
    }
    body.update(overrides)
    return body


def error(response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.json)
    assert response.json["error"]["code"] == code
    return response.json["error"]["message"]


# --- planning ------------------------------------------------------------------------------------


def test_a_drill_is_planned_read_and_changed_with_its_version(api, people, systems, session):
    team = api("team_a")
    created = team("POST", "/api/v1/drills", json=new_plan(recurrence_months=6))
    assert created.status_code == 201, created.json
    drill = created.json
    assert (drill["status"], drill["department"], drill["lead"], drill["version"]) == ("planned", "a", "drill.a", 1)
    assert drill["assets"] == ["SIG-A"] and drill["departments"] == ["a1"]
    assert [p["username"] or p["name"] for p in drill["participants"]] == ["officer.a", "Li Wei"]
    assert drill["report_deadline_minutes"] == 60  # a CII system: within the hour
    assert drill["measured"]["reporting"] == "pending"
    assert api("auditor_a")("GET", f"/api/v1/drills/{drill['id']}").json == drill

    changed = team(
        "PATCH", f"/api/v1/drills/{drill['id']}", json={"version": 1, "title": "New", "incident_grade": "IV"}
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["title"], changed.json["version"], changed.json["report_deadline_minutes"]) == ("New", 2, None)
    # A stale version: a conflict, nothing changed; no version at all: invalid.
    message = error(
        team("PATCH", f"/api/v1/drills/{drill['id']}", json={"version": 1, "title": "Stale"}), 409, "conflict"
    )
    assert message
    error(team("PATCH", f"/api/v1/drills/{drill['id']}", json={"title": "No version"}), 422, "invalid")
    assert team("GET", f"/api/v1/drills/{drill['id']}").json["title"] == "New"
    assert len(audited(session, "drill.updated")) == 1


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"duration_minutes": -30}, "duration_minutes"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"recurrence_months": 40}, "recurrence_months"),
        ({"exercise_type": "picnic"}, "exercise_type"),
        ({"incident_grade": "V"}, "incident_grade"),
        ({"planned_start": "2027-01-01T09:00:00"}, "planned_start"),
        ({"assets": ["WAT-B"]}, "assets"),  # another bureau's system
        ({"lead": "officer.b"}, "lead"),  # a lead outside the scope
        ({"departments": ["b"]}, "departments"),
        ({"title": ""}, "title"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_plans_are_refused_and_nothing_is_planned(api, systems, session, overrides, field):
    response = api("team_a")("POST", "/api/v1/drills", json=new_plan(**overrides))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid"
    assert field in json.dumps(response.json["error"])
    assert count(session, Drill) == 0
    assert audited(session, "drill.created") == []


def test_roles_that_may_not_plan_are_refused(api, systems, session):
    for key in ("officer_a", "leader", "auditor_a"):
        error(api(key)("POST", "/api/v1/drills", json=new_plan()), 403, "forbidden")
    assert count(session, Drill) == 0


# --- conducting ----------------------------------------------------------------------------------


def test_a_drill_is_conducted_recorded_completed_and_approved(api, people, systems, session):
    team, leader = api("team_a"), api("leader")
    drill = team("POST", "/api/v1/drills", json=new_plan(planned_start=iso(hours_ago(5)))).json
    path = f"/api/v1/drills/{drill['id']}"
    # Nothing is recorded before the start.
    error(team("POST", f"{path}/timeline", json={"at": iso(hours_ago(1)), "text": "Too early"}), 409, "conflict")
    started = team("POST", f"{path}/start", json={"started_at": iso(hours_ago(4))})
    assert started.status_code == 200, started.json
    assert (started.json["status"], started.json["version"]) == ("in_progress", 2)
    error(team("POST", f"{path}/start"), 409, "conflict")  # once

    for minutes, milestone in ((10, "detected"), (50, "reported"), (90, "contained")):
        entry = team(
            "POST", f"{path}/timeline",
            json={"at": iso(hours_ago(4) + timedelta(minutes=minutes)), "who": "SOC", "text": milestone,
                  "milestone": milestone},
        )  # fmt: skip
        assert entry.status_code == 201, entry.json
        assert entry.json["milestone"] == milestone and entry.json["created_by"] == "drill.a"
    # Outside the drill (before its start, or ahead of the clock): refused, nothing written.
    before = count(session, DrillTimelineEntry)
    for at in (hours_ago(5), datetime.now(UTC) + timedelta(hours=2)):
        message = error(team("POST", f"{path}/timeline", json={"at": iso(at), "text": "x"}), 422, "invalid")
        assert "between the drill's start and its end" in message
    error(
        team("POST", f"{path}/timeline", json={"at": iso(hours_ago(3)), "text": "x", "milestone": "won"}),
        422,
        "invalid",
    )
    assert count(session, DrillTimelineEntry) == before

    read = team("GET", path).json
    assert (read["measured"]["detect_minutes"], read["measured"]["report_minutes"]) == (10, 50)
    assert read["reporting"] == "on_time" and [e["text"] for e in read["timeline"]] == [
        "detected",
        "reported",
        "contained",
    ]
    # A mistaken entry is removed: the measured time follows.
    reported = next(e for e in read["timeline"] if e["milestone"] == "reported")
    assert team("DELETE", f"{path}/timeline/{reported['id']}").status_code == 204
    assert team("GET", path).json["measured"]["report_minutes"] is None
    error(team("DELETE", f"{path}/timeline/{reported['id']}"), 404, "not_found")
    team("POST", f"{path}/timeline", json={"at": iso(hours_ago(2.5)), "text": "reported late", "milestone": "reported"})

    # The record: an end before the start, a rating X, an objective of another drill: refused.
    version = team("GET", path).json["version"]
    objective = read["objectives"][0]["id"]
    bad_records = [
        {"ended_at": iso(hours_ago(4.5))},
        {"started_at": iso(hours_ago(3.5))},  # the timeline's first entries would lie before it
        {"ratings": [{"id": objective, "rating": "X"}]},
        {"ratings": [{"id": 999999, "rating": "P"}]},
        {"version": version - 1, "strengths": "stale"},
    ]
    for body in bad_records:
        response = team("POST", f"{path}/record", json=body)
        assert response.status_code in (409, 422), (body, response.json)
    after_bad = team("GET", path).json
    assert after_bad["version"] == version and after_bad["strengths"] == ""
    assert [o["rating"] for o in after_bad["objectives"]] == ["", ""]
    recorded = team(
        "POST", f"{path}/record",
        json={"version": version, "ratings": [{"id": objective, "rating": "S", "note": "slow"}],
              "strengths": "Calm", "improvements": "Report sooner"},
    )  # fmt: skip
    assert recorded.status_code == 200, recorded.json
    assert recorded.json["objectives"][0]["rating"] == "S" and recorded.json["improvements"] == "Report sooner"

    # Completing: not before the last entry, not ahead of the clock.
    error(team("POST", f"{path}/complete", json={"ended_at": iso(hours_ago(3.5))}), 422, "invalid")
    error(
        team("POST", f"{path}/complete", json={"ended_at": iso(datetime.now(UTC) + timedelta(hours=1))}), 422, "invalid"
    )
    done = team("POST", f"{path}/complete", json={"ended_at": iso(hours_ago(1))})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "completed" and done.json["reporting"] == "late"  # 60 min: a CII system
    assert done.json["measured"]["report_minutes"] == 90

    # The after-action report: a leader approves (the drill team may not), once; the record is then final.
    error(team("POST", f"{path}/approve"), 403, "forbidden")
    approved = leader("POST", f"{path}/approve", json={"version": done.json["version"]})
    assert approved.status_code == 200, approved.json
    assert (approved.json["aar_status"], approved.json["aar_approved_by"]) == ("approved", "leader")
    error(leader("POST", f"{path}/approve"), 409, "conflict")
    error(team("POST", f"{path}/record", json={"strengths": "Changed"}), 409, "conflict")
    entry_id = approved.json["timeline"][0]["id"]
    error(team("DELETE", f"{path}/timeline/{entry_id}"), 409, "conflict")
    assert team("GET", path).json["strengths"] == "Calm"
    assert [e.object_id for e in audited(session, "drill.report_approved")] == [str(drill["id"])]


def test_an_approval_with_a_stale_version_is_a_conflict(app, api, actors, session):
    drill_id = plan(app, actors["team"], planned_start=hours_ago(5))
    conduct(app, actors["team"], drill_id, started=hours_ago(4), milestones={}, ended=hours_ago(3))
    error(api("leader")("POST", f"/api/v1/drills/{drill_id}/approve", json={"version": 1}), 409, "conflict")
    session.rollback()
    assert session.get(Drill, drill_id).aar_status == "draft"


def test_completing_a_recurring_drill_plans_the_next_and_cancelling_needs_a_reason(app, api, actors, session):
    team = api("team")
    recurring = plan(app, actors["team"], planned_start=hours_ago(5), recurrence_months=6)
    conduct(app, actors["team"], recurring, started=hours_ago(4), milestones={}, ended=None)
    done = team("POST", f"/api/v1/drills/{recurring}/complete").json
    assert done["status"] == "completed" and done["next_id"] is not None
    following = team("GET", f"/api/v1/drills/{done['next_id']}").json
    assert (following["status"], following["previous_id"]) == ("planned", recurring)

    single = plan(app, actors["team"])
    error(team("POST", f"/api/v1/drills/{single}/cancel", json={}), 422, "invalid")
    error(team("POST", f"/api/v1/drills/{single}/cancel", json={"reason": "  "}), 422, "invalid")
    assert team("GET", f"/api/v1/drills/{single}").json["status"] == "planned"
    cancelled = team("POST", f"/api/v1/drills/{single}/cancel", json={"reason": "Flooding", "version": 1})
    assert cancelled.status_code == 200, cancelled.json
    assert (cancelled.json["status"], cancelled.json["cancel_reason"]) == ("cancelled", "Flooding")
    error(team("POST", f"/api/v1/drills/{single}/cancel", json={"reason": "Again"}), 409, "conflict")
    error(team("POST", f"/api/v1/drills/{single}/start"), 409, "conflict")
    assert len(audited(session, "drill.cancelled")) == 1


def test_officers_comment_leaders_and_auditors_do_not(app, api, actors, session):
    drill_id = plan(app, actors["team"], department="a")
    made = api("officer_a")("POST", f"/api/v1/drills/{drill_id}/comments", json={"text": "Invite the police."})
    assert made.status_code == 201, made.json
    assert (made.json["author"], made.json["text"]) == ("officer.a", "Invite the police.")
    for key in ("leader", "auditor_a"):
        error(api(key)("POST", f"/api/v1/drills/{drill_id}/comments", json={"text": "x"}), 403, "forbidden")
    error(api("officer_a")("POST", f"/api/v1/drills/{drill_id}/comments", json={"text": ""}), 422, "invalid")
    assert count(session, DrillComment) == 1
    assert [c["text"] for c in api("leader")("GET", f"/api/v1/drills/{drill_id}").json["comments"]] == [
        "Invite the police."
    ]


def test_drills_outside_the_scope_answer_404_and_change_nothing(app, api, actors, session, systems):
    drill_id = plan(app, actors["team"], department="b", lead="officer.b", assets=["WAT-B"])
    request_id = api("leader")("POST", "/api/v1/drill-requests", json={"title": "x", "department": "b",
                                                                       "due_by": str(TODAY + timedelta(days=9))}).json["id"]  # fmt: skip
    team_a = api("team_a")
    before = count(session, AuditEntry, AuditEntry.action == "authz.out_of_scope")
    attempts = [
        ("GET", f"/api/v1/drills/{drill_id}", None),
        ("PATCH", f"/api/v1/drills/{drill_id}", {"version": 1, "title": "Mine"}),
        ("POST", f"/api/v1/drills/{drill_id}/start", {}),
        ("POST", f"/api/v1/drills/{drill_id}/cancel", {"reason": "x"}),
        ("POST", f"/api/v1/drills/{drill_id}/comments", {"text": "x"}),
        ("GET", f"/api/v1/drills/{drill_id}/actions", None),
        ("POST", f"/api/v1/drills/{drill_id}/actions", {"title": "x", "owner": "officer.a", "due_date": str(TODAY)}),
        ("POST", f"/api/v1/drill-requests/{request_id}/decline", {"reason": "x"}),
        ("GET", f"/api/v1/drill-requests/{request_id}", None),
    ]
    for method, path, body in attempts:
        error(team_a(method, path, json=body) if body is not None else team_a(method, path), 404, "not_found")
    assert count(session, AuditEntry, AuditEntry.action == "authz.out_of_scope") == before + len(attempts)
    session.rollback()
    drill = session.get(Drill, drill_id)
    assert (drill.title, drill.status, drill.version) == ("Ransomware tabletop", "planned", 1)
    assert count(session, CorrectiveAction) == 0 and count(session, DrillComment) == 0
    assert session.get(DrillRequest, request_id).status == "open"
    assert api("team_a")("GET", "/api/v1/drills").json["total"] == 0
    assert api("team")("GET", "/api/v1/drills").json["total"] == 1


# --- corrective actions --------------------------------------------------------------------------


def test_actions_are_added_to_a_drill_and_bad_ones_refused(app, api, actors, systems, session):
    drill_id = plan(app, actors["team_a"], assets=["SIG-A"])
    team = api("team_a")
    due = str(TODAY + timedelta(days=30))
    bad = [
        ({"title": "x", "owner": "owner.b", "due_date": due}, "owner"),  # an owner of another department's scope
        ({"title": "x", "owner": "nobody", "due_date": due}, "owner"),
        ({"title": "x", "owner": "officer.a", "due_date": str(TODAY - timedelta(days=1))}, "due_date"),
        ({"title": "x", "owner": "officer.a", "due_date": due, "asset": "WAT-B"}, "asset"),
        ({"title": "x", "owner": "officer.a", "due_date": due, "objective_id": 999999}, "objective_id"),
        ({"title": "", "owner": "officer.a", "due_date": due}, "title"),
    ]
    for body, field in bad:
        message = error(team("POST", f"/api/v1/drills/{drill_id}/actions", json=body), 422, "invalid")
        assert message and field in json.dumps(team("POST", f"/api/v1/drills/{drill_id}/actions", json=body).json)
    assert count(session, CorrectiveAction) == 0
    error(api("officer_a")("POST", f"/api/v1/drills/{drill_id}/actions", json=bad[1][0]), 403, "forbidden")
    made = team("POST", f"/api/v1/drills/{drill_id}/actions",
                json={"title": "Patch the gateway", "owner": "officer.a", "due_date": due, "asset": "SIG-A"})  # fmt: skip
    assert made.status_code == 201, made.json
    assert (made.json["owner"], made.json["department"], made.json["asset"]) == ("officer.a", "a", "SIG-A")
    listed = api("auditor_a")("GET", f"/api/v1/drills/{drill_id}/actions").json
    assert listed["total"] == 1 and listed["items"][0] == made.json
    assert api("leader")("GET", f"/api/v1/drills/{drill_id}").json["open_actions"] == 1


def test_the_owner_updates_an_action_from_another_department_and_no_more(app, api, actors, session):
    drill_id = plan(app, actors["team"], department="a")
    action_id = add_action(app, actors["team"], drill_id, "owner.b", TODAY + timedelta(days=10))
    path = f"/api/v1/corrective-actions/{action_id}"
    owner = api("owner_b")
    # The owner (officer of b) sees it although the drill is a's, in the list and alone.
    assert [a["id"] for a in owner("GET", "/api/v1/corrective-actions").json["items"]] == [action_id]
    assert owner("GET", path).json["department"] == "b"
    # The owner may not change the rest, nor cancel it; someone else in scope may not change it;
    # someone out of scope does not see it. Nothing changes.
    error(owner("PATCH", path, json={"version": 1, "title": "Mine now"}), 403, "forbidden")
    error(owner("PATCH", path, json={"version": 1, "status": "cancelled"}), 403, "forbidden")
    error(api("leader")("PATCH", path, json={"version": 1, "status": "closed"}), 403, "forbidden")
    error(api("officer_a")("PATCH", path, json={"version": 1, "status": "closed"}), 404, "not_found")
    error(api("officer_a")("GET", path), 404, "not_found")
    error(owner("PATCH", path, json={"version": 1, "status": "done"}), 422, "invalid")
    session.rollback()
    assert (session.get(CorrectiveAction, action_id).status, session.get(CorrectiveAction, action_id).version) == (
        "open",
        1,
    )
    updated = owner("PATCH", path, json={"version": 1, "status": "in_progress", "note": "Ordered the part"})
    assert updated.status_code == 200, updated.json
    assert (updated.json["status"], updated.json["note"], updated.json["version"]) == (
        "in_progress",
        "Ordered the part",
        2,
    )
    error(owner("PATCH", path, json={"version": 1, "status": "closed"}), 409, "conflict")
    closed = owner("PATCH", path, json={"version": 2, "status": "closed"})
    assert closed.status_code == 200 and closed.json["closed_at"] is not None
    # The drill team (in its scope) changes anything.
    reopened = api("team")(
        "PATCH", path, json={"version": 3, "status": "open", "due_date": str(TODAY + timedelta(days=20))}
    )
    assert reopened.status_code == 200, reopened.json
    assert reopened.json["due_date"] == str(TODAY + timedelta(days=20)) and reopened.json["closed_at"] is None
    assert len(audited(session, "corrective_action.updated")) == 3


def test_actions_are_removed_by_the_drill_team_in_scope_only(app, api, actors, session):
    drill_id = plan(app, actors["team"], department="a")
    mine = add_action(app, actors["team"], drill_id, "officer.a", TODAY + timedelta(days=10))
    theirs = add_action(app, actors["team"], drill_id, "owner.b", TODAY + timedelta(days=10))
    error(api("officer_a")("DELETE", f"/api/v1/corrective-actions/{mine}"), 403, "forbidden")
    error(api("team_a")("DELETE", f"/api/v1/corrective-actions/{theirs}"), 404, "not_found")
    assert api("team_a")("DELETE", f"/api/v1/corrective-actions/{mine}").status_code == 204
    error(api("team_a")("GET", f"/api/v1/corrective-actions/{mine}"), 404, "not_found")
    assert count(session, CorrectiveAction) == 1
    assert [e.object_id for e in audited(session, "corrective_action.deleted")] == [str(mine)]


def test_an_action_is_promoted_to_a_risk_once(app, api, actors, systems, session):
    drill_id = plan(app, actors["team"], department="a", assets=["SIG-A"])
    action_id = add_action(app, actors["team"], drill_id, "officer.a", TODAY + timedelta(days=30))
    path = f"/api/v1/corrective-actions/{action_id}/promote"
    error(api("leader")("POST", path), 403, "forbidden")
    error(api("officer_a")("POST", path, json={"treatment": "ignore"}), 422, "invalid")
    promoted = api("officer_a")("POST", path, json={"owner": "officer.a"})
    assert promoted.status_code == 201, promoted.json
    risk = promoted.json
    assert (risk["asset_code"], risk["source"], risk["owner"]) == ("SIG-A", "drill", "officer.a")
    assert api("officer_a")("GET", f"/api/v1/corrective-actions/{action_id}").json["risk_id"] == risk["id"]
    message = error(api("team")("POST", path), 409, "conflict")
    assert f"#{risk['id']}" in message
    error(api("team")("DELETE", f"/api/v1/corrective-actions/{action_id}"), 409, "conflict")


# --- requests ------------------------------------------------------------------------------------


def test_leaders_ask_for_drills_the_team_schedules_or_declines(app, api, systems, session):
    leader, team = api("leader"), api("team_a")
    body = {"title": "Drill the signals", "reason": "An audit asked", "assets": ["SIG-A"], "department": "a",
            "due_by": str(TODAY + timedelta(days=60)), "exercise_type": "functional"}  # fmt: skip
    error(team("POST", "/api/v1/drill-requests", json=body), 403, "forbidden")
    for bad in ({"due_by": str(TODAY - timedelta(days=1))}, {"assets": ["NOPE"]}, {"exercise_type": "picnic"}):
        error(leader("POST", "/api/v1/drill-requests", json={**body, **bad}), 422, "invalid")
    assert count(session, DrillRequest) == 0
    first = leader("POST", "/api/v1/drill-requests", json=body)
    assert first.status_code == 201, first.json
    assert (first.json["status"], first.json["requested_by"], first.json["assets"]) == ("open", "leader", ["SIG-A"])
    second = leader("POST", "/api/v1/drill-requests", json={**body, "title": "Another"}).json

    scheduled = team("POST", "/api/v1/drills", json=new_plan(request_id=first.json["id"]))
    assert scheduled.status_code == 201, scheduled.json
    read = team("GET", f"/api/v1/drill-requests/{first.json['id']}").json
    assert (read["status"], read["drill_id"]) == ("scheduled", scheduled.json["id"])
    error(team("POST", f"/api/v1/drill-requests/{first.json['id']}/decline", json={"reason": "x"}), 409, "conflict")

    error(team("POST", f"/api/v1/drill-requests/{second['id']}/decline", json={}), 422, "invalid")
    error(leader("POST", f"/api/v1/drill-requests/{second['id']}/decline", json={"reason": "x"}), 403, "forbidden")
    error(
        team("POST", f"/api/v1/drill-requests/{second['id']}/decline", json={"reason": "x", "version": 9}),
        409,
        "conflict",
    )
    declined = team("POST", f"/api/v1/drill-requests/{second['id']}/decline", json={"reason": "Done last month"})
    assert declined.status_code == 200, declined.json
    assert (declined.json["status"], declined.json["decision_reason"]) == ("declined", "Done last month")
    listed = api("auditor_a")("GET", "/api/v1/drill-requests?status=declined").json
    assert (listed["total"], [r["id"] for r in listed["items"]]) == (1, [second["id"]])


# --- lists and coverage against the services -----------------------------------------------------


@pytest.fixture
def many(app, actors, systems):
    """Drills in a and b in every status, actions open, closed and overdue."""
    team = actors["team"]
    ids = {
        "planned_a": plan(app, team, department="a", assets=["SIG-A"], title="Signals"),
        "planned_b": plan(app, team, department="b", lead="officer.b", assets=["WAT-B"], title="Water"),
        "done_a": plan(app, team, department="a1", planned_start=hours_ago(30), exercise_type="functional"),
        "running_b": plan(app, team, department="b", lead="officer.b", planned_start=hours_ago(30)),
    }
    conduct(app, team, ids["done_a"], started=hours_ago(29), milestones={"reported": 30}, ended=hours_ago(27))
    conduct(app, team, ids["running_b"], started=hours_ago(3), milestones={}, ended=None)
    late = add_action(app, team, ids["done_a"], "officer.a", TODAY - timedelta(days=3))
    add_action(app, team, ids["done_a"], "owner.b", TODAY - timedelta(days=1))
    add_action(app, team, ids["done_a"], "officer.a", TODAY + timedelta(days=9))
    add_action(app, team, ids["running_b"], "owner.b", TODAY + timedelta(days=9))
    return {**ids, "late": late}


DRILL_QUERIES = [
    "",
    "status=planned",
    "status=completed",
    "exercise_type=functional",
    "department=a",
    "department=b",
    "asset=SIG-A",
    f"year={TODAY.year}",
    "reporting=on_time",
    "reporting=pending",
    "q=water",
    "page=2&page_size=1",
]


@pytest.mark.parametrize("who", ["team", "officer_a", "owner_b"])
@pytest.mark.parametrize("query", DRILL_QUERIES)
def test_the_drill_list_equals_the_service(app, api, actors, many, session, who, query):
    response = api(who)("GET", f"/api/v1/drills?{query}")
    assert response.status_code == 200, response.json
    assert set(response.json) == {"items", "total", "page", "page_size"}
    args = dict(part.split("=") for part in query.split("&") if part)
    with app.test_request_context():
        rows, total = services.list_drills(session, actors[who], DrillQuery(**args))
    assert response.json["total"] == total
    assert [d["id"] for d in response.json["items"]] == [d.id for d in rows]


def test_the_drill_list_filters_really_filter(api, many):
    team = api("team")
    assert team("GET", "/api/v1/drills").json["total"] == 4
    assert team("GET", "/api/v1/drills?status=planned").json["total"] == 2
    assert [d["id"] for d in team("GET", "/api/v1/drills?department=a").json["items"]] == [
        many["planned_a"],
        many["done_a"],
    ]
    assert api("officer_a")("GET", "/api/v1/drills").json["total"] == 2
    error(team("GET", "/api/v1/drills?status=done"), 422, "invalid")
    error(team("GET", "/api/v1/drills?colour=red"), 422, "invalid")


ACTION_QUERIES = [
    "",
    "overdue=true",
    "overdue=false",
    "status=open",
    "owner=owner.b",
    "department=b",
    "page=2&page_size=2",
]


@pytest.mark.parametrize("who", ["team", "officer_a", "owner_b", "leader"])
@pytest.mark.parametrize("query", ACTION_QUERIES)
def test_the_action_list_equals_the_service(app, api, actors, many, session, who, query):
    response = api(who)("GET", f"/api/v1/corrective-actions?{query}")
    assert response.status_code == 200, response.json
    args = dict(part.split("=") for part in query.split("&") if part)
    with app.test_request_context():
        rows, total = actions.list_actions(session, actors[who], ActionQuery(**args))
    assert response.json["total"] == total
    assert [a["id"] for a in response.json["items"]] == [a.id for a in rows]


def test_the_action_list_shows_scope_and_own_and_overdue(api, many):
    assert api("team")("GET", "/api/v1/corrective-actions").json["total"] == 4
    assert api("team")("GET", "/api/v1/corrective-actions?overdue=true").json["total"] == 2
    # owner.b sees b's actions (its scope: its own and the one of b's drill).
    assert api("owner_b")("GET", "/api/v1/corrective-actions").json["total"] == 2
    overdue = api("officer_a")("GET", "/api/v1/corrective-actions?overdue=true").json["items"]
    assert [(a["id"], a["overdue"], a["days_overdue"]) for a in overdue] == [(many["late"], True, 3)]


def test_the_request_list_equals_the_service(app, api, actors, systems, session):
    leader = api("leader")
    for title, department in (("A", "a"), ("B", "b"), ("A1", "a1")):
        leader("POST", "/api/v1/drill-requests", json={"title": title, "department": department,
                                                      "due_by": str(TODAY + timedelta(days=5))})  # fmt: skip
    for who in ("team_a", "leader", "owner_b"):
        listed = api(who)("GET", "/api/v1/drill-requests").json
        with app.test_request_context():
            rows, total = requests.list_requests(session, actors[who], RequestQuery())
        assert (listed["total"], [r["id"] for r in listed["items"]]) == (total, [r.id for r in rows])
    assert api("team_a")("GET", "/api/v1/drill-requests").json["total"] == 2


def test_coverage_equals_the_service_and_lists_the_gaps(app, api, actors, many, session):
    answer = api("team")("GET", "/api/v1/drills/coverage")
    assert answer.status_code == 200, answer.json
    with app.test_request_context():
        expected = coverage.coverage(session, actors["team"], config_of(app))
    assert answer.json == json.loads(expected.model_dump_json())
    gaps = {(g["kind"], g["code"]) for g in answer.json["gaps"]}
    assert ("asset", "SIG-A") in gaps  # the completed drill of a1 did not name the CII system
    assert answer.json["required"] > answer.json["covered"]
    # Officers read it in their scope; the list of gaps is theirs only.
    officer = api("owner_b")("GET", "/api/v1/drills/coverage").json
    assert all(g["department"] == "b" for g in officer["gaps"])


def test_the_openapi_document_describes_the_drill_paths(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/drills",
        "/api/v1/drills/coverage",
        "/api/v1/drills/{drill_id}",
        "/api/v1/drills/{drill_id}/timeline/{entry_id}",
        "/api/v1/corrective-actions/{action_id}/promote",
        "/api/v1/drill-requests/{request_id}/decline",
    ):
        assert path in paths, path
    patch = paths["/api/v1/corrective-actions/{action_id}"]["patch"]
    assert "403" in patch["responses"] and "409" in patch["responses"]

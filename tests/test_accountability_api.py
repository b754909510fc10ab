"""Accountability over the API: the terms in the reader's scope (and their own), assigning
through the one service (a refused duty is 403 and audited), the duties, the gaps and one's own
duties; bad input answers 4xx with a clear message and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from secgov import responsibility
from secgov.authz import Actor
from secgov.models import AuditEntry, Department, Responsibility, User

BASE = "/api/v1/accountability"


@pytest.fixture
def people(city, make_user, make_asset, session):
    """The city of conftest (a > a1, b), an asset in a1 owned by officer.a and one in b owned by
    officer.b, a leader of a, an auditor of b and a drill team member of a."""
    make_user("leader.a", roles=("leader",), department="a")
    make_user("auditor.b", roles=("auditor",), department="b")
    make_user("drill.a", roles=("drill_team",), department="a")
    make_user("owner.a1", roles=("officer",), department="a1")
    assets = {"a1": make_asset("A1-SYS", "a1", owner="officer.a"), "b": make_asset("B-SYS", "b", owner="officer.b")}
    users = {u.username: u for u in session.exec(select(User)).all()}
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    return {"assets": assets, "users": users, "depts": depts}


@pytest.fixture
def api(client, api_token, people, session):
    """api(username) -> call(method, path, **kwargs) as that user, in English."""
    tokens = {}

    def for_user(name: str):
        if name not in tokens:
            session.rollback()
            tokens[name] = api_token(people["users"][name])
        headers = {"Authorization": f"Bearer {tokens[name]}", "Accept-Language": "en"}

        def call(method: str, path: str, **kwargs):
            return client.open(path, method=method, headers=headers, **kwargs)

        return call

    return for_user


def _terms(session) -> list[tuple]:
    session.rollback()
    return [
        (t.subject_type, t.subject_id, t.duty, t.user_id, t.valid_from, t.valid_to)
        for t in session.exec(select(Responsibility).order_by(Responsibility.id)).all()
    ]


def _audits(session, action: str) -> int:
    session.rollback()
    return session.exec(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)).one()


def test_a_leader_assigns_a_head_and_the_list_shows_it(api, people, session):
    a = people["depts"]["a"]
    answer = api("leader")(
        "POST",
        f"{BASE}/assignments",
        json={"duty": "department.head", "subject_id": a.id, "user": "leader.a", "reason": "Appointed"},
    )
    assert answer.status_code == 201, answer.json
    term = answer.json
    assert (term["duty"], term["subject_id"], term["user"], term["department"]) == (
        "department.head",
        a.id,
        "leader.a",
        "a",
    )
    assert term["duty_label"] == "Department head" and term["current"] and term["assigned_by"] == "leader"
    assert term["reason"] == "Appointed" and term["valid_to"] is None and term["corrects_id"] is None
    assert _audits(session, "responsibility.assigned") >= 1
    listed = api("leader")("GET", f"{BASE}/assignments", query_string={"duty": "department.head"}).json
    assert listed["total"] == 1 and listed["items"][0]["id"] == term["id"]
    assert set(listed) == {"items", "total", "page", "page_size"}


def test_the_list_is_scoped_and_everyone_sees_their_own_terms(api, people, session):
    b_asset = people["assets"]["b"]
    everyone = api("root.admin")("GET", f"{BASE}/assignments", query_string={"duty": "asset.owner"}).json
    assert {i["subject"].split()[0] for i in everyone["items"]} == {"A1-SYS", "B-SYS"}
    in_a = api("leader.a")("GET", f"{BASE}/assignments", query_string={"duty": "asset.owner"}).json
    assert [i["subject"].split()[0] for i in in_a["items"]] == ["A1-SYS"]
    in_b = api("auditor.b")("GET", f"{BASE}/assignments").json
    assert [(i["duty"], i["subject_id"]) for i in in_b["items"]] == [("asset.owner", b_asset.id)]
    # A unit's officer holds a duty of the bureau above: a1 cannot see bureau a's records, yet
    # sees its own term.
    a = people["depts"]["a"]
    session.rollback()
    responsibility.assign(session, "department", a.id, "head", people["users"]["owner.a1"], Actor.system("cli"))
    session.commit()
    own = api("owner.a1")("GET", f"{BASE}/assignments", query_string={"duty": "department.head"}).json
    assert [(i["subject_id"], i["user"]) for i in own["items"]] == [(a.id, "owner.a1")]
    assert api("officer.b")("GET", f"{BASE}/assignments", query_string={"duty": "department.head"}).json["total"] == 0


def test_filters_current_and_user_and_paging(api, people, session):
    asset = people["assets"]["a1"]
    answer = api("officer.a")(
        "POST",
        f"{BASE}/assignments",
        json={"duty": "asset.owner", "subject_id": asset.id, "user": "owner.a1", "reason": "Handover"},
    )
    assert answer.status_code == 201, answer.json
    call = api("officer.a")
    both = call("GET", f"{BASE}/assignments", query_string={"duty": "asset.owner"}).json
    assert [(i["user"], i["current"]) for i in both["items"]] == [("owner.a1", True), ("officer.a", False)]
    current = call("GET", f"{BASE}/assignments", query_string={"duty": "asset.owner", "current": "true"}).json
    assert [i["user"] for i in current["items"]] == ["owner.a1"]
    by_user = call("GET", f"{BASE}/assignments", query_string={"user": "OFFICER.A"}).json
    assert [i["user"] for i in by_user["items"]] == ["officer.a"]
    second = call("GET", f"{BASE}/assignments", query_string={"duty": "asset.owner", "page": 2, "page_size": 1}).json
    assert (second["total"], second["page"], [i["user"] for i in second["items"]]) == (2, 2, ["officer.a"])


def test_an_officer_assigning_a_head_is_refused_and_audited(api, people, session):
    a = people["depts"]["a"]
    before, denied = _terms(session), _audits(session, "responsibility.denied")
    answer = api("officer.a")(
        "POST",
        f"{BASE}/assignments",
        json={"duty": "department.head", "subject_id": a.id, "user": "officer.a", "reason": "Me"},
    )
    assert answer.status_code == 403
    assert answer.json["error"] == {"code": "forbidden", "message": "You may not assign this duty."}
    assert _terms(session) == before
    assert _audits(session, "responsibility.denied") == denied + 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"duty": "asset.nothing"}, 422, "There is no duty asset.nothing"),
        ({"user": "officer.b"}, 422, "There is no user officer.b in your scope"),
        ({"valid_from": "PAST"}, 422, "never in the past"),
        ({"valid_to": "PAST"}, 422, "The end must come after the start"),
        ({"reason": ""}, 422, "reason"),
        ({"subject_id": 999999}, 404, "Not found"),
        ({"user": "officer.a"}, 409, "officer.a already holds this duty"),
        ({"surprise": 1}, 422, "surprise"),
        ({"subject_id": 2**70}, 422, "subject_id"),
    ],
)
def test_bad_input_answers_clearly_and_changes_nothing(api, people, session, body, status, message):
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    data = {"duty": "asset.owner", "subject_id": people["assets"]["a1"].id, "user": "owner.a1", "reason": "Handover"}
    data.update({k: past if v == "PAST" else v for k, v in body.items()})
    before = _terms(session)
    answer = api("officer.a")("POST", f"{BASE}/assignments", json=data)
    assert answer.status_code == status, answer.json
    assert message in answer.json["error"]["message"] or message in str(answer.json["error"].get("details"))
    assert _terms(session) == before


def test_an_out_of_scope_subject_is_not_found_and_audited(api, people, session):
    before, refused = _terms(session), _audits(session, "authz.out_of_scope")
    answer = api("officer.a")(
        "POST",
        f"{BASE}/assignments",
        json={"duty": "asset.owner", "subject_id": people["assets"]["b"].id, "user": "officer.a", "reason": "x"},
    )
    assert answer.status_code == 404
    assert _terms(session) == before and _audits(session, "authz.out_of_scope") == refused + 1


def test_a_correction_is_marked(api, people, session):
    asset = people["assets"]["a1"]
    answer = api("officer.a")(
        "POST",
        f"{BASE}/assignments",
        json={
            "duty": "asset.owner",
            "subject_id": asset.id,
            "user": "owner.a1",
            "reason": "Wrong person",
            "correction": True,
        },
    )
    assert answer.status_code == 201, answer.json
    first = session.exec(select(Responsibility).where(Responsibility.subject_id == asset.id)).first()
    assert answer.json["corrects_id"] == first.id


def test_the_duties_in_the_readers_language(api):
    answer = api("auditor.b")("GET", f"{BASE}/duties")
    codes = {i["code"]: i for i in answer.json["items"]}
    assert {"city.chief", "department.head", "asset.owner", "risk.owner"} <= set(codes)
    assert (codes["asset.assessment_lead"]["label"], codes["asset.scan_owner"]["label"]) == (
        "Assessment lead",
        "Scan owner",
    )
    assert codes["asset.assessment_lead"]["assigners"] == codes["asset.owner"]["assigners"] == ["admin", "officer"]
    assert codes["city.chief"] == {
        "code": "city.chief",
        "label": "Chief responsible person",
        "level": "chief",
        "assigners": ["admin", "leader"],
    }
    assert answer.json["items"][0]["code"] == "city.chief"


def test_gaps_in_scope_with_the_disabled_holder(api, people, session):
    officer = people["users"]["officer.b"]
    officer.disabled = True
    session.add(officer)
    session.commit()
    found = api("root.admin")("GET", f"{BASE}/gaps", query_string={"page_size": 200}).json
    keys = {(i["duty"], i["subject_id"]) for i in found["items"]}
    depts = people["depts"]
    assert ("city.chief", depts["city"].id) in keys and ("department.head", depts["b"].id) in keys
    owner_gap = next(i for i in found["items"] if i["duty"] == "asset.owner")
    assert (owner_gap["subject_id"], owner_gap["holder"], owner_gap["department"]) == (
        people["assets"]["b"].id,
        "officer.b",
        "b",
    )
    in_a = api("leader.a")("GET", f"{BASE}/gaps").json
    assert {(i["duty"], i["department"]) for i in in_a["items"]} == {
        ("department.head", "a"),
        ("department.head", "a1"),
    }
    assert found["total"] == len(found["items"])


def test_mine_lists_the_callers_current_duties(api, people):
    mine = api("officer.a")("GET", f"{BASE}/mine").json
    assert [(i["duty"], i["subject_id"], i["user"]) for i in mine["items"]] == [
        ("asset.owner", people["assets"]["a1"].id, "officer.a")
    ]
    assert api("drill.a")("GET", f"{BASE}/mine").json["items"] == []


def test_the_openapi_document_lists_the_routes(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path, method in (
        ("/api/v1/accountability/assignments", "get"),
        ("/api/v1/accountability/assignments", "post"),
        ("/api/v1/accountability/duties", "get"),
        ("/api/v1/accountability/gaps", "get"),
        ("/api/v1/accountability/mine", "get"),
    ):
        assert method in paths[path], path

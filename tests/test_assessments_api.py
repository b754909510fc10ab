"""Assessments and the risk register over the API and the command line: every workflow
transition allowed and refused, bad input, promotion, scope, pages and the OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from audit_support import run_cli
from sqlmodel import func, select

from assessments.models import Assessment, AssessmentFinding, Risk, RiskAcceptance
from secgov.models import AuditEntry

TODAY = datetime.now(UTC).date()
STARTED = (TODAY - timedelta(days=30)).isoformat()
FINISHED = (TODAY - timedelta(days=5)).isoformat()
PAGE_KEYS = {"items", "total", "page", "page_size"}


@pytest.fixture
def world(city, make_user, make_asset):
    """The city of conftest, an officer who also leads in bureau a, an asset of unit a1 and one of bureau b."""
    users = dict(city)
    users["lead_a"] = make_user("lead.a", roles=("officer", "leader"), department="a")
    assets = {
        "a": make_asset("A-1", "a1", owner="officer.a", mlps_level=3, mlps_filing_number="F-1"),
        "b": make_asset("B-1", "b", owner="officer.b", mlps_level=2, mlps_filing_number="F-2"),
    }
    return {"users": users, "assets": assets}


@pytest.fixture
def api(client, api_token, world):
    """api(user_key) -> call(method, path, **kwargs) as that user, in English."""
    tokens = {}

    def for_user(key: str):
        if key not in tokens:
            tokens[key] = api_token(world["users"][key])
        headers = {"Authorization": f"Bearer {tokens[key]}", "Accept-Language": "en"}

        def call(method: str, path: str, **kwargs):
            return client.open(path, method=method, headers=headers, **kwargs)

        return call

    return for_user


def _count(session, model, *where) -> int:
    session.rollback()  # see what the requests committed
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def _audited(session, action: str) -> list[AuditEntry]:
    session.rollback()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def _draft(call, asset_id: int, **overrides) -> dict:
    body = {"asset_id": asset_id, "kind": "self_inspection", "started_on": STARTED, "finished_on": FINISHED}
    response = call("POST", "/api/v1/assessments", json={**body, **overrides})
    assert response.status_code == 201, response.json
    return response.json


def _risk(call, asset_id: int, **overrides) -> dict:
    body = {"asset_id": asset_id, "title": "Flooded server room", "likelihood": 2, "impact": 3}
    response = call("POST", "/api/v1/risks", json={**body, **overrides})
    assert response.status_code == 201, response.json
    return response.json


# --- the workflow --------------------------------------------------------------------------------


def test_draft_submitted_approved_then_frozen(api, world, session):
    officer, leader = api("officer_a"), api("leader")
    a = _draft(officer, world["assets"]["a"].id, title="Yearly self-inspection")
    assert a["status"] == "draft" and not a["frozen"] and len(a["areas"]) == 6
    submitted = officer("POST", f"/api/v1/assessments/{a['id']}/submit")
    assert submitted.status_code == 200, submitted.json
    assert submitted.json["status"] == "submitted" and submitted.json["submitted_by"] == "officer.a"
    # Submitted: not editable until returned, not submitted twice.
    assert officer("PATCH", f"/api/v1/assessments/{a['id']}", json={"title": "x", "version": 3}).status_code == 409
    assert officer("POST", f"/api/v1/assessments/{a['id']}/submit").status_code == 409
    approved = leader("POST", f"/api/v1/assessments/{a['id']}/approve")
    assert approved.status_code == 200, approved.json
    body = approved.json
    assert body["status"] == "approved" and body["frozen"] and body["decided_by"] == "leader"
    assert body["conclusion"] == "poor" and body["score"] == 0.0  # no control implemented yet
    # Approved: frozen against every change, and nothing changed by the attempts.
    version = body["version"]
    edit = officer("PATCH", f"/api/v1/assessments/{a['id']}", json={"title": "Changed", "version": version})
    assert edit.status_code == 409
    assert "frozen" in edit.json["error"]["message"]
    finding = officer("POST", f"/api/v1/assessments/{a['id']}/findings", json={"title": "Late"})
    assert finding.status_code == 409
    assert officer("POST", f"/api/v1/assessments/{a['id']}/submit").status_code == 409
    assert leader("POST", f"/api/v1/assessments/{a['id']}/approve").status_code == 409
    assert leader("POST", f"/api/v1/assessments/{a['id']}/return", json={"reason": "x"}).status_code == 409
    assert officer("DELETE", f"/api/v1/assessments/{a['id']}").status_code == 409
    after = officer("GET", f"/api/v1/assessments/{a['id']}").json
    assert after["title"] == "Yearly self-inspection" and after["version"] == version and after["findings"] == []
    assert [e.object_id for e in _audited(session, "assessment.approved")] == [str(a["id"])]


def test_submitted_returned_resubmitted(api, world):
    officer, leader = api("officer_a"), api("leader")
    a = _draft(officer, world["assets"]["a"].id)
    officer("POST", f"/api/v1/assessments/{a['id']}/submit")
    no_reason = leader("POST", f"/api/v1/assessments/{a['id']}/return", json={})
    assert no_reason.status_code == 422
    assert no_reason.json["error"]["message"] == "Say why the assessment is returned."
    returned = leader("POST", f"/api/v1/assessments/{a['id']}/return", json={"reason": "Rate the network area."})
    assert returned.status_code == 200, returned.json
    assert returned.json["status"] == "returned" and returned.json["return_reason"] == "Rate the network area."
    # Returned: editable again, then submitted again; and it can no longer be deleted.
    edited = officer(
        "PATCH", f"/api/v1/assessments/{a['id']}", json={"summary": "Rated.", "version": returned.json["version"]}
    )
    assert edited.status_code == 200, edited.json
    assert officer("DELETE", f"/api/v1/assessments/{a['id']}").status_code == 409
    again = officer("POST", f"/api/v1/assessments/{a['id']}/submit", json={"version": edited.json["version"]})
    assert again.status_code == 200 and again.json["status"] == "submitted"
    stale = leader("POST", f"/api/v1/assessments/{a['id']}/approve", json={"version": edited.json["version"]})
    assert stale.status_code == 409  # the version read before the submission


def test_a_draft_cannot_be_approved_nor_returned(api, world, session):
    officer, leader = api("officer_a"), api("leader")
    a = _draft(officer, world["assets"]["a"].id)
    approve = leader("POST", f"/api/v1/assessments/{a['id']}/approve")
    assert approve.status_code == 409
    assert approve.json["error"]["message"] == "Only a submitted assessment can be decided on."
    assert leader("POST", f"/api/v1/assessments/{a['id']}/return", json={"reason": "x"}).status_code == 409
    assert session.get(Assessment, a["id"]).status == "draft"


def test_submitting_needs_a_finish_date(api, world):
    officer = api("officer_a")
    a = _draft(officer, world["assets"]["a"].id, finished_on=None)
    response = officer("POST", f"/api/v1/assessments/{a['id']}/submit")
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "finished_on"


def test_the_author_cannot_approve_and_the_refusal_is_audited(api, world, session):
    lead = api("lead_a")  # an officer who is also a leader
    a = _draft(lead, world["assets"]["a"].id)
    lead("POST", f"/api/v1/assessments/{a['id']}/submit")
    for action in ("approve", "return"):
        response = lead("POST", f"/api/v1/assessments/{a['id']}/{action}", json={"reason": "mine"})
        assert response.status_code == 403, response.json
        assert response.json["error"]["code"] == "forbidden"
        assert response.json["error"]["message"] == "You cannot decide on an assessment you wrote or carried out."
    denied = [e for e in _audited(session, "authz.denied") if e.object_type == "assessment"]
    assert len(denied) == 2 and all(e.object_id == str(a["id"]) and e.actor == "lead.a" for e in denied)
    assert session.get(Assessment, a["id"]).status == "submitted"
    # An officer without the leader's role is refused by the route itself.
    officer = api("officer_a")
    assert officer("POST", f"/api/v1/assessments/{a['id']}/approve").status_code == 403


def test_a_never_submitted_draft_can_be_deleted(api, world, session):
    officer = api("officer_a")
    a = _draft(officer, world["assets"]["a"].id)
    assert officer("DELETE", f"/api/v1/assessments/{a['id']}").status_code == 204
    assert officer("GET", f"/api/v1/assessments/{a['id']}").status_code == 404
    assert _count(session, Assessment) == 0


def test_ratings_out_of_range_and_bad_dates_are_refused(api, world, session):
    officer = api("officer_a")
    asset = world["assets"]["a"].id
    base = {"asset_id": asset, "kind": "self_inspection", "started_on": STARTED}
    for bad in (
        {"areas": [{"area": "policies", "rating": 101, "reason": "x"}]},
        {"areas": [{"area": "policies", "rating": -1, "reason": "x"}]},
        {"started_on": (TODAY + timedelta(days=1)).isoformat()},
        {"finished_on": (TODAY - timedelta(days=60)).isoformat()},
        {"kind": "weekly"},
    ):
        response = officer("POST", "/api/v1/assessments", json={**base, **bad})
        assert response.status_code == 422, (bad, response.json)
        assert response.json["error"]["message"]
        if "areas" in bad:
            assert response.json["error"]["details"] == [
                {"field": "areas.0.rating", "message": "A rating runs from 0 to 100."}
            ]
    no_reason = officer("POST", "/api/v1/assessments", json={**base, "areas": [{"area": "policies", "rating": 55}]})
    assert no_reason.status_code == 422
    assert "Say why the rating of" in no_reason.json["error"]["message"]
    assert _count(session, Assessment) == 0


# --- findings and their promotion ----------------------------------------------------------------


def test_a_finding_is_promoted_once(api, world, session):
    officer = api("officer_a")
    a = _draft(officer, world["assets"]["a"].id)
    added = officer(
        "POST",
        f"/api/v1/assessments/{a['id']}/findings",
        json={"title": "Shared admin password", "likelihood": 4, "impact": 4},
    )
    assert added.status_code == 201, added.json
    finding = added.json
    assert finding["level"] == "high" and finding["risk_id"] is None
    path = f"/api/v1/assessments/{a['id']}/findings/{finding['id']}"
    due = (TODAY + timedelta(days=60)).isoformat()
    promoted = officer("POST", f"{path}/promote", json={"due_date": due, "treatment": "transfer"})
    assert promoted.status_code == 201, promoted.json
    risk = promoted.json
    assert risk["source"] == "assessment" and risk["assessment_id"] == a["id"]
    assert (risk["title"], risk["level"], risk["treatment"], risk["due_date"]) == (
        "Shared admin password",
        "high",
        "transfer",
        due,
    )
    assert risk["owner"] == "officer.a"  # the asset's owner
    again = officer("POST", f"{path}/promote")
    assert again.status_code == 409
    assert again.json["error"]["message"] == f"This record is already risk #{risk['id']}."
    generic = officer(
        "POST", "/api/v1/risks/promote", json={"source": "assessment_finding", "source_id": finding["id"]}
    )
    assert generic.status_code == 409
    assert _count(session, Risk) == 1
    assert session.get(AssessmentFinding, finding["id"]).risk_id == risk["id"]
    # A promoted finding stays; an unpromoted one can be removed.
    assert officer("DELETE", path).status_code == 409
    other = officer("POST", f"/api/v1/assessments/{a['id']}/findings", json={"title": "Old firmware"}).json
    assert officer("DELETE", f"/api/v1/assessments/{a['id']}/findings/{other['id']}").status_code == 204
    assert officer("DELETE", f"/api/v1/assessments/{a['id']}/findings/{other['id']}").status_code == 404
    # The generic promotion API does the same for another finding.
    third = officer("POST", f"/api/v1/assessments/{a['id']}/findings", json={"title": "No log review"}).json
    made = officer("POST", "/api/v1/risks/promote", json={"source": "assessment_finding", "source_id": third["id"]})
    assert made.status_code == 201 and made.json["source_ref"] == f"assessment_finding:{third['id']}"
    # A draft with a promoted finding stays.
    assert officer("DELETE", f"/api/v1/assessments/{a['id']}").status_code == 409


def test_promotion_of_unknown_or_foreign_records_is_refused(api, world, session):
    a_b = _draft(api("officer_b"), world["assets"]["b"].id)
    finding_b = api("officer_b")("POST", f"/api/v1/assessments/{a_b['id']}/findings", json={"title": "B's"}).json
    officer = api("officer_a")
    for source_id in (finding_b["id"], 999999):
        response = officer(
            "POST", "/api/v1/risks/promote", json={"source": "assessment_finding", "source_id": source_id}
        )
        assert response.status_code == 422
        assert response.json["error"]["message"] == "Unknown finding."
    later = officer("POST", "/api/v1/risks/promote", json={"source": "scan_finding", "source_id": 1})
    assert later.status_code == 422
    path = f"/api/v1/assessments/{a_b['id']}/findings/{finding_b['id']}/promote"
    assert officer("POST", path).status_code == 404
    assert _count(session, Risk) == 0


# --- risks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 6])
def test_likelihood_and_impact_run_from_one_to_five(api, world, session, value):
    officer = api("officer_a")
    body = {"asset_id": world["assets"]["a"].id, "title": "x", "likelihood": value, "impact": 3}
    response = officer("POST", "/api/v1/risks", json=body)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["message"] == "The input is not valid."
    [detail] = error["details"]
    assert detail["field"] == "likelihood"
    assert detail["message"] == "Use a whole number from 1 (very low) to 5 (very high)."
    response = officer("POST", "/api/v1/risks", json={**body, "likelihood": 3, "impact": value})
    assert response.status_code == 422 and response.json["error"]["details"][0]["field"] == "impact"
    assert _count(session, Risk) == 0


def test_a_due_date_before_the_creation_date_is_refused(api, world, session):
    officer = api("officer_a")
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    response = officer(
        "POST",
        "/api/v1/risks",
        json={"asset_id": world["assets"]["a"].id, "title": "x", "likelihood": 2, "impact": 2, "due_date": yesterday},
    )
    assert response.status_code == 422
    assert response.json["error"]["message"] == "The due date cannot be before the risk was registered."
    assert response.json["error"]["details"][0]["field"] == "due_date"
    assert _count(session, Risk) == 0
    risk = _risk(officer, world["assets"]["a"].id)
    edit = officer("PATCH", f"/api/v1/risks/{risk['id']}", json={"due_date": yesterday, "version": risk["version"]})
    assert edit.status_code == 422
    assert officer("GET", f"/api/v1/risks/{risk['id']}").json["due_date"] is None


def test_risks_and_assessments_on_assets_out_of_scope_are_refused(api, world, session):
    officer = api("officer_a")
    b = world["assets"]["b"].id
    response = officer("POST", "/api/v1/risks", json={"asset_id": b, "title": "x", "likelihood": 2, "impact": 2})
    assert response.status_code == 422 and response.json["error"]["message"] == "Unknown asset."
    response = officer("POST", "/api/v1/assessments", json={"asset_id": b, "kind": "ad_hoc", "started_on": STARTED})
    assert response.status_code == 422 and response.json["error"]["message"] == "Unknown asset."
    assert _count(session, Risk) == 0 and _count(session, Assessment) == 0


def test_an_officer_cannot_accept_a_very_high_risk(api, world, session):
    officer, leader = api("officer_a"), api("leader")
    risk = _risk(officer, world["assets"]["a"].id, likelihood=5, impact=5)
    assert risk["level"] == "very_high"
    expires = (TODAY + timedelta(days=90)).isoformat()
    refused = officer("POST", f"/api/v1/risks/{risk['id']}/accept", json={"reason": "cheap", "expires_on": expires})
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == "Only a leader may accept a high or very-high risk."
    assert _count(session, RiskAcceptance) == 0
    assert officer("GET", f"/api/v1/risks/{risk['id']}").json == risk  # nothing changed
    [denied] = [e for e in _audited(session, "authz.denied") if e.object_type == "risk"]
    assert denied.actor == "officer.a" and denied.object_id == str(risk["id"])
    accepted = leader(
        "POST", f"/api/v1/risks/{risk['id']}/accept", json={"reason": "Replaced in spring.", "expires_on": expires}
    )
    assert accepted.status_code == 201, accepted.json
    assert accepted.json["status"] == "active" and accepted.json["accepted_by"] == "leader"
    after = officer("GET", f"/api/v1/risks/{risk['id']}").json
    assert after["status"] == "accepted" and after["acceptance"]["id"] == accepted.json["id"]
    listed = officer("GET", f"/api/v1/risks/{risk['id']}/acceptances").json
    assert set(listed) == PAGE_KEYS and [x["id"] for x in listed["items"]] == [accepted.json["id"]]
    past = leader("POST", f"/api/v1/risks/{risk['id']}/accept", json={"reason": "x", "expires_on": TODAY.isoformat()})
    assert past.status_code == 422


def test_an_officer_accepts_a_low_risk_and_reviews_it(api, world):
    officer = api("officer_a")
    risk = _risk(officer, world["assets"]["a"].id, likelihood=1, impact=2)
    expires = (TODAY + timedelta(days=30)).isoformat()
    accepted = officer("POST", f"/api/v1/risks/{risk['id']}/accept", json={"reason": "Minor.", "expires_on": expires})
    assert accepted.status_code == 201, accepted.json
    reviewed = officer("POST", f"/api/v1/risks/{risk['id']}/reviews", json={"likelihood": 2, "note": "Checked."})
    assert reviewed.status_code == 201, reviewed.json
    assert reviewed.json["reviewed_by"] == "officer.a" and reviewed.json["likelihood"] == 2
    listed = officer("GET", f"/api/v1/risks/{risk['id']}/reviews").json
    assert listed["total"] == 1 and listed["items"][0]["id"] == reviewed.json["id"]
    assert officer("GET", f"/api/v1/risks/{risk['id']}").json["last_reviewed_on"] == TODAY.isoformat()
    # An auditor reads, but neither reviews nor accepts.
    # (the route declarations are checked in the role x route matrix)


def test_another_bureau_does_not_see_the_risk(api, world, session):
    risk = _risk(api("officer_a"), world["assets"]["a"].id)
    other = api("officer_b")
    for path in (f"/api/v1/risks/{risk['id']}", f"/api/v1/risks/{risk['id']}/reviews"):
        assert other("GET", path).status_code == 404
    expires = (TODAY + timedelta(days=30)).isoformat()
    assert (
        other("POST", f"/api/v1/risks/{risk['id']}/accept", json={"reason": "x", "expires_on": expires}).status_code
        == 404
    )
    assert other("GET", "/api/v1/risks").json["total"] == 0
    refusals = [e for e in _audited(session, "authz.out_of_scope") if e.object_type == "risk"]
    assert len(refusals) == 3 and {e.actor for e in refusals} == {"officer.b"}
    assert api("leader")("GET", "/api/v1/risks").json["total"] == 1  # the city's leader sees it


# --- lists, counts and the document --------------------------------------------------------------


def test_lists_are_pages(api, world):
    officer = api("officer_a")
    for _ in range(3):
        _draft(officer, world["assets"]["a"].id)
        _risk(officer, world["assets"]["a"].id)
    for path in ("/api/v1/assessments", "/api/v1/risks", "/api/v1/assessments/due"):
        body = officer("GET", f"{path}?page=1&page_size=2").json
        assert set(body) == PAGE_KEYS and body["page"] == 1 and body["page_size"] == 2
        assert len(body["items"]) <= 2
    assert officer("GET", "/api/v1/assessments?page_size=2").json["total"] == 3
    assert officer("GET", "/api/v1/risks?page=2&page_size=2").json["items"][0]["asset_code"] == "A-1"
    assert officer("GET", "/api/v1/risks?level=catastrophic").status_code == 422
    assert officer("GET", "/api/v1/assessments?colour=red").status_code == 422


def test_due_dates_heat_map_and_counts(api, world):
    officer = api("officer_a")
    due = officer("GET", "/api/v1/assessments/due").json
    assert {(row["asset_code"], row["kind"]) for row in due["items"]} >= {
        ("A-1", "self_inspection"),
        ("A-1", "mlps_evaluation"),
    }
    assert all(row["asset_code"] != "B-1" for row in due["items"])
    assert officer("GET", "/api/v1/assessments/due?state=late").status_code == 422
    _risk(officer, world["assets"]["a"].id, likelihood=5, impact=5)
    _risk(officer, world["assets"]["a"].id, likelihood=1, impact=1, residual_likelihood=1, residual_impact=1)
    heat = officer("GET", "/api/v1/risks/heatmap").json
    assert heat["total"] == 2 and len(heat["inherent"]) == 25 == len(heat["residual"])
    cell = next(c for c in heat["inherent"] if (c["likelihood"], c["impact"]) == (5, 5))
    assert cell == {"likelihood": 5, "impact": 5, "level": "very_high", "count": 1}
    counts = officer("GET", "/api/v1/risks/counts").json
    assert counts["by_level"]["very_high"] == 1 and counts["by_level"]["very_low"] == 1
    assert officer("GET", "/api/v1/risks/counts?department=a1").json["by_level"]["very_high"] == 1
    assert api("officer_b")("GET", "/api/v1/risks/heatmap").json["total"] == 0
    unknown = api("officer_b")("GET", "/api/v1/risks/heatmap?department=a1")
    assert unknown.status_code == 422  # a department out of scope is unknown


def test_the_openapi_document_describes_the_new_paths(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    expected = {
        "/api/v1/assessments": {"get", "post"},
        "/api/v1/assessments/due": {"get"},
        "/api/v1/assessments/{assessment_id}": {"get", "patch", "delete"},
        "/api/v1/assessments/{assessment_id}/submit": {"post"},
        "/api/v1/assessments/{assessment_id}/approve": {"post"},
        "/api/v1/assessments/{assessment_id}/return": {"post"},
        "/api/v1/assessments/{assessment_id}/findings": {"post"},
        "/api/v1/assessments/{assessment_id}/findings/{finding_id}": {"delete"},
        "/api/v1/assessments/{assessment_id}/findings/{finding_id}/promote": {"post"},
        "/api/v1/risks": {"get", "post"},
        "/api/v1/risks/promote": {"post"},
        "/api/v1/risks/heatmap": {"get"},
        "/api/v1/risks/counts": {"get"},
        "/api/v1/risks/{risk_id}": {"get", "patch"},
        "/api/v1/risks/{risk_id}/accept": {"post"},
        "/api/v1/risks/{risk_id}/acceptances": {"get"},
        "/api/v1/risks/{risk_id}/reviews": {"get", "post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert set(paths[path]) - {"parameters"} == methods, path


# --- the command line ----------------------------------------------------------------------------


def test_due_assessments_on_the_command_line(database_url, api, world):
    api("officer_a")  # the world and its assets exist
    result = run_cli(database_url, "assessments", "due", "--state", "on_time")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert {line.split()[3] for line in lines[:-1]} >= {"A-1", "B-1"}
    mine = run_cli(database_url, "assessments", "due", "--state", "on_time", "--department", "a", "--json")
    rows = [json.loads(line) for line in mine.stdout.splitlines()]
    api_rows = api("officer_a")("GET", "/api/v1/assessments/due?state=on_time&department=a").json["items"]
    assert rows == api_rows and rows
    later = (TODAY + timedelta(days=3 * 366)).isoformat()
    overdue = run_cli(database_url, "assessments", "due", "--on", later, "--state", "overdue", "--fail-on-overdue")
    assert overdue.exit_code == 3 and "overdue" in overdue.stdout
    bad = run_cli(database_url, "assessments", "due", "--department", "nowhere")
    assert bad.exit_code == 2 and bad.stderr.strip() == "error: Unknown department: nowhere"
    scoped = run_cli(database_url, "assessments", "due", "--state", "on_time", "--as", "officer.b")
    assert "A-1" not in scoped.stdout and "B-1" in scoped.stdout


def test_expired_acceptances_reopen_on_the_command_line(database_url, api, world, session):
    officer = api("officer_a")
    risk = _risk(officer, world["assets"]["a"].id, likelihood=1, impact=1)
    expires = TODAY + timedelta(days=10)
    officer("POST", f"/api/v1/risks/{risk['id']}/accept", json={"reason": "Minor.", "expires_on": expires.isoformat()})
    assert run_cli(database_url, "risks", "expire").stdout == "no acceptance has expired\n"
    result = run_cli(database_url, "risks", "expire", "--on", expires.isoformat())
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"1 risk reopened: #{risk['id']}\n"
    assert officer("GET", f"/api/v1/risks/{risk['id']}").json["status"] == "open"
    assert [e.object_id for e in _audited(session, "risk_acceptance.expired")] == [str(risk["id"])]


def test_overdue_risks_on_the_command_line(database_url, api, world, session):
    officer = api("officer_a")
    late = _risk(officer, world["assets"]["a"].id, title="Unpatched router", due_date=TODAY.isoformat())
    _risk(officer, world["assets"]["a"].id, title="On time")
    with session.begin():
        row = session.get(Risk, late["id"])
        row.due_date = row.created_on = TODAY - timedelta(days=10)
        session.add(row)
    result = run_cli(database_url, "risks", "overdue")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"#{late['id']}") and "Unpatched router" in lines[0]
    assert lines[-1] == "1 risk overdue"
    assert run_cli(database_url, "risks", "overdue", "--as", "officer.b").stdout == "0 risks overdue\n"

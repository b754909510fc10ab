"""Vendors, engagements, exemptions and vendor-origin compliance through the API and the pages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import config_of
from helpers import csrf_token, login
from sqlalchemy import event
from sqlmodel import select

from assets import policy as policy_service
from assets.models import Engagement, Vendor, VendorExemption
from secgov.authz import Actor
from secgov.models import AuditEntry, User


def today() -> date:
    """The services' today (UTC), read when a test runs: a suite may run across midnight."""
    return datetime.now(UTC).date()


def later() -> str:
    return (today() + timedelta(days=90)).isoformat()


@pytest.fixture
def client(app):
    """A browser that reads English (the pages' assertions are in English)."""
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def rows(session, model) -> list:
    """Every row of model as it is committed now."""
    session.rollback()
    result = sorted((tuple(sorted(r.model_dump().items())) for r in session.exec(select(model)).all()), key=repr)
    session.rollback()
    return result


def audit_actions(session) -> list[str]:
    session.rollback()
    result = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()]
    session.rollback()
    return result


def error_fields(response) -> dict:
    return {d["field"]: d["message"] for d in response.get_json()["error"].get("details") or []}


# --- vendors through the API -----------------------------------------------------------------


def test_vendor_crud_through_the_api(client, session, city, make_user, api_token):
    officer = bearer(api_token(make_user("olga", roles=("officer",), department="a")))
    auditor = bearer(api_token(make_user("audrey", roles=("auditor",), department="b")))

    created = client.post(
        "/api/v1/vendors",
        json={"name": " Rhein Automation ", "origin": "foreign", "country": "de", "confidentiality_agreement_on": None},
        headers=officer,
    )
    assert created.status_code == 201, created.get_json()
    vendor = created.get_json()
    assert vendor == {
        "id": vendor["id"],
        "name": "Rhein Automation",
        "origin": "foreign",
        "country": "DE",
        "confidentiality_agreement_on": None,
        "department": "a",
        "version": 1,
    }
    client.post("/api/v1/vendors", json={"name": "Huaxin", "origin": "domestic", "country": "CN"}, headers=officer)
    client.post(
        "/api/v1/vendors", json={"name": "Sino-Rhein", "origin": "joint_venture", "country": "CN"}, headers=officer
    )

    # Every role reads vendors, whatever its department: they are city-wide.
    listing = client.get("/api/v1/vendors", headers=auditor).get_json()
    assert [v["name"] for v in listing["items"]] == ["Huaxin", "Rhein Automation", "Sino-Rhein"]
    assert listing["total"] == 3
    assert [v["name"] for v in client.get("/api/v1/vendors?q=RHEIN", headers=auditor).get_json()["items"]] == [
        "Rhein Automation",
        "Sino-Rhein",
    ]
    by_origin = client.get("/api/v1/vendors?origin=joint_venture", headers=auditor).get_json()
    assert [v["name"] for v in by_origin["items"]] == ["Sino-Rhein"]
    paged = client.get("/api/v1/vendors?page=2&page_size=2", headers=auditor).get_json()
    assert [v["name"] for v in paged["items"]] == ["Sino-Rhein"] and paged["total"] == 3
    assert client.get("/api/v1/vendors?origin=martian", headers=auditor).status_code == 422
    assert client.get(f"/api/v1/vendors/{vendor['id']}", headers=auditor).get_json()["name"] == "Rhein Automation"

    path = f"/api/v1/vendors/{vendor['id']}"
    patched = client.patch(
        path, json={"country": "at", "confidentiality_agreement_on": "2024-05-02", "version": 1}, headers=officer
    )
    assert patched.status_code == 200
    assert patched.get_json()["country"] == "AT"
    assert patched.get_json()["confidentiality_agreement_on"] == "2024-05-02"
    assert patched.get_json()["version"] == 2
    stale = client.patch(path, json={"name": "Other", "version": 1}, headers=officer)
    assert stale.status_code == 409
    assert client.patch(path, json={"name": "Other"}, headers=officer).status_code == 422  # version required
    cleared = client.patch(path, json={"confidentiality_agreement_on": None, "version": 2}, headers=officer)
    assert cleared.get_json()["confidentiality_agreement_on"] is None

    assert client.delete(path, headers=auditor).status_code == 403
    assert client.delete(path, headers=officer).status_code == 204
    assert client.get(path, headers=officer).status_code == 404
    actions = audit_actions(session)
    assert actions.count("vendor.created") == 3
    assert actions.count("vendor.updated") == 2
    assert "vendor.deleted" in actions


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "ZZ"}, "country"),  # babel's "unknown region" is no country
        ({"country": "EU"}, "country"),
        ({"country": "USA"}, "country"),
        ({"country": ""}, "country"),
        ({"country": 49}, "country"),
        ({"origin": "offshore"}, "origin"),
        ({"origin": None}, "origin"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"confidentiality_agreement_on": "yesterday"}, "confidentiality_agreement_on"),
        ({"id": 5}, "id"),
    ],
)
def test_vendor_input_is_validated(client, session, city, make_user, api_token, body, field):
    officer = bearer(api_token(make_user("olga", roles=("officer",), department="a")))
    response = client.post(
        "/api/v1/vendors", json={"name": "Good Name", "origin": "foreign", "country": "US", **body}, headers=officer
    )
    assert response.status_code == 422
    assert field in error_fields(response)
    assert rows(session, Vendor) == []


def test_unknown_country_is_named_in_the_users_language(client, city, make_user, api_token):
    officer = bearer(api_token(make_user("olga", roles=("officer",), department="a")))
    body = {"name": "V", "origin": "foreign", "country": "QQ"}
    english = client.post("/api/v1/vendors", json=body, headers={**officer, "Accept-Language": "en"})
    assert error_fields(english)["country"] == "Unknown country code: QQ"
    chinese = client.post("/api/v1/vendors", json=body, headers={**officer, "Accept-Language": "zh-CN"})
    assert "QQ" in error_fields(chinese)["country"] and "Unknown" not in error_fields(chinese)["country"]


def test_vendor_names_are_unique_regardless_of_case(client, session, city, make_user, api_token, make_vendor):
    officer = bearer(api_token(make_user("olga", roles=("officer",), department="a")))
    make_vendor("Overseas Ltd")
    other = make_vendor("Other Ltd", department="a")
    response = client.post(
        "/api/v1/vendors", json={"name": "OVERSEAS LTD", "origin": "foreign", "country": "US"}, headers=officer
    )
    assert response.status_code == 409
    rename = client.patch(f"/api/v1/vendors/{other.id}", json={"name": "overseas ltd", "version": 1}, headers=officer)
    assert rename.status_code == 409
    assert len(rows(session, Vendor)) == 2


def test_delete_of_an_engaged_vendor_is_refused_and_nothing_changes(
    app, client, session, city, make_user, api_token, make_asset, make_vendor, engage
):
    officer_user = make_user("olga", roles=("officer",), department="a")
    officer = bearer(api_token(officer_user))
    vendor = make_vendor("Overseas Ltd", department="a")
    # An ended engagement, on an asset outside the officer's scope, still holds the vendor.
    engage(make_asset("B-1", "b"), vendor, ended_on=date(2021, 1, 1))
    before = (rows(session, Vendor), rows(session, Engagement))

    response = client.delete(f"/api/v1/vendors/{vendor.id}", headers=officer)
    assert response.status_code == 409
    assert "end and remove its engagements first" in response.get_json()["error"]["message"]
    assert (rows(session, Vendor), rows(session, Engagement)) == before

    login(client, officer_user)
    page = client.post(f"/vendors/{vendor.id}/delete", data={"csrf_token": csrf_token(client, "/vendors")})
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/vendors/{vendor.id}")
    assert "end and remove its engagements first" in client.get(page.headers["Location"]).get_data(as_text=True)
    assert (rows(session, Vendor), rows(session, Engagement)) == before
    assert "vendor.deleted" not in audit_actions(session)


# --- vendor pages ----------------------------------------------------------------------------


def test_vendor_pages(client, session, city, make_user, make_asset, make_vendor, engage):
    officer = make_user("olga", roles=("officer",), department="a")
    login(client, officer)
    assert client.get("/vendors/new").status_code == 200
    token = csrf_token(client, "/vendors/new")

    bad = client.post("/vendors/new", data={"name": "Rhein", "origin": "foreign", "country": "XX", "csrf_token": token})
    assert bad.status_code == 422
    assert "Unknown country code: XX" in bad.get_data(as_text=True)
    assert rows(session, Vendor) == []

    made = client.post(
        "/vendors/new",
        data={
            "name": "Rhein",
            "origin": "foreign",
            "country": "de",
            "confidentiality_agreement_on": "",
            "csrf_token": token,
        },
    )
    assert made.status_code == 302
    session.rollback()
    vendor = session.exec(select(Vendor)).one()
    assert (vendor.country, vendor.confidentiality_agreement_on) == ("DE", None)
    assert made.headers["Location"].endswith(f"/vendors/{vendor.id}")

    # The detail page lists engagements on assets in scope only.
    engage(make_asset("A-1", "a1"), vendor)
    engage(make_asset("B-1", "b"), vendor)
    detail = client.get(f"/vendors/{vendor.id}").get_data(as_text=True)
    assert "A-1" in detail and "B-1" not in detail

    edit = client.get(f"/vendors/{vendor.id}/edit").get_data(as_text=True)
    assert 'value="None"' not in edit
    saved = client.post(
        f"/vendors/{vendor.id}/edit",
        data={"name": "Rhein GmbH", "origin": "joint_venture", "country": "AT", "version": "1",
              "confidentiality_agreement_on": "2024-01-31", "csrf_token": token},
    )  # fmt: skip
    assert saved.status_code == 302
    session.rollback()
    vendor = session.get(Vendor, vendor.id)
    assert (vendor.name, vendor.origin, vendor.country, vendor.version) == ("Rhein GmbH", "joint_venture", "AT", 2)
    assert vendor.confidentiality_agreement_on == date(2024, 1, 31)
    stale = client.post(
        f"/vendors/{vendor.id}/edit",
        data={"name": "X", "origin": "foreign", "country": "AT", "version": "1", "csrf_token": token},
    )
    assert stale.status_code == 422
    assert "changed by someone else" in stale.get_data(as_text=True)

    listing = client.get("/vendors?q=gmbh&origin=joint_venture").get_data(as_text=True)
    assert "Rhein GmbH" in listing
    assert "Rhein GmbH" not in client.get("/vendors?origin=domestic").get_data(as_text=True)
    # An unreadable filter is dropped and named; the other filters still apply.
    odd = client.get("/vendors?origin=<script>&page=-3&q=gmbh", headers={"Accept-Language": "en"})
    assert odd.status_code == 200
    page = odd.get_data(as_text=True)
    assert "Rhein GmbH" in page and 'class="flash flash-warning"' in page

    other = make_vendor("Spare", "domestic", "CN", department="a")
    gone = client.post(f"/vendors/{other.id}/delete", data={"csrf_token": token})
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/vendors")
    session.rollback()
    assert session.exec(select(Vendor.name)).all() == ["Rhein GmbH"]


def test_readers_see_vendor_pages_without_write_controls(client, city, make_user, make_vendor):
    vendor = make_vendor("Overseas Ltd")
    login(client, make_user("drill", roles=("drill_team",), department="b"))
    page = client.get(f"/vendors/{vendor.id}").get_data(as_text=True)
    assert "Overseas Ltd" in page and "/delete" not in page and "/edit" not in page
    assert client.get("/vendors/new").status_code == 403
    assert client.get(f"/vendors/{vendor.id}/edit").status_code == 403


# --- engagements -----------------------------------------------------------------------------


def test_engagements_through_the_api_in_and_out_of_scope(
    client, session, city, make_user, api_token, make_asset, make_vendor
):
    officer = bearer(api_token(make_user("olga", roles=("officer",), department="a")))
    drill = bearer(api_token(make_user("dora", roles=("drill_team",), department="a")))
    inside, outside = make_asset("A-1", "a1"), make_asset("B-1", "b")
    foreign = make_vendor("Overseas Ltd")
    body = {"vendor_id": foreign.id, "role": "builder", "started_on": "2024-01-01"}

    added = client.post(f"/api/v1/assets/{inside.id}/vendors", json=body, headers=officer)
    assert added.status_code == 201, added.get_json()
    engagement = added.get_json()
    assert engagement == {
        "id": engagement["id"],
        "asset_id": inside.id,
        "vendor_id": foreign.id,
        "vendor_name": "Overseas Ltd",
        "origin": "foreign",
        "role": "builder",
        "started_on": "2024-01-01",
        "ended_on": None,
        "note": "",
        "active": True,
        "policy": "warning",
    }
    listing = client.get(f"/api/v1/assets/{inside.id}/vendors", headers=drill).get_json()
    assert [e["id"] for e in listing["items"]] == [engagement["id"]] and listing["total"] == 1

    # The same vendor in the same role twice at once: refused.
    assert client.post(f"/api/v1/assets/{inside.id}/vendors", json=body, headers=officer).status_code == 409
    # Out of scope: the asset does not exist for this officer, and the attempt is audited.
    before = rows(session, Engagement)
    assert client.post(f"/api/v1/assets/{outside.id}/vendors", json=body, headers=officer).status_code == 404
    assert client.get(f"/api/v1/assets/{outside.id}/vendors", headers=officer).status_code == 404
    assert rows(session, Engagement) == before
    assert audit_actions(session).count("authz.out_of_scope") == 2

    bad = client.post(
        f"/api/v1/assets/{inside.id}/vendors",
        json={**body, "role": "advisor", "ended_on": "2023-12-31"},
        headers=officer,
    )
    assert bad.status_code == 422 and "ended_on" in error_fields(bad)
    for vendor_id in (999, 0, 2**31, 10**30, "x"):
        unknown = client.post(
            f"/api/v1/assets/{inside.id}/vendors", json={**body, "vendor_id": vendor_id}, headers=officer
        )
        assert unknown.status_code == 422 and "vendor_id" in error_fields(unknown)
    assert (
        client.post(f"/api/v1/assets/{inside.id}/vendors", json={**body, "role": "boss"}, headers=officer).status_code
        == 422
    )

    path = f"/api/v1/assets/{inside.id}/vendors/{engagement['id']}"
    assert client.patch(path, json={"ended_on": "2023-01-01"}, headers=officer).status_code == 422
    ended = client.patch(path, json={"ended_on": today().isoformat(), "note": "handed over"}, headers=officer)
    assert ended.status_code == 200
    assert (ended.get_json()["active"], ended.get_json()["note"]) == (True, "handed over")  # its last day
    yesterday = (today() - timedelta(days=1)).isoformat()
    ended = client.patch(path, json={"ended_on": yesterday}, headers=officer).get_json()
    assert (ended["active"], ended["policy"]) == (False, None)
    # Once ended, the same role can be given again.
    again = client.post(
        f"/api/v1/assets/{inside.id}/vendors", json={**body, "started_on": today().isoformat()}, headers=officer
    )
    assert again.status_code == 201
    # ... but the old one cannot be reopened alongside it.
    assert client.patch(path, json={"ended_on": None}, headers=officer).status_code == 409

    # An engagement id under another asset's path is missing.
    other = make_asset("A-2", "a")
    assert (
        client.patch(
            f"/api/v1/assets/{other.id}/vendors/{engagement['id']}", json={"note": "x"}, headers=officer
        ).status_code
        == 404
    )
    assert client.delete(f"/api/v1/assets/{other.id}/vendors/{engagement['id']}", headers=officer).status_code == 404
    assert client.delete(path, headers=drill).status_code == 403
    assert client.delete(path, headers=officer).status_code == 204
    assert client.delete(path, headers=officer).status_code == 404
    actions = audit_actions(session)
    assert actions.count("engagement.created") == 2
    assert actions.count("engagement.updated") == 2
    assert actions.count("engagement.deleted") == 1


def test_removing_an_engagement_removes_its_exemptions(
    client, session, city, make_user, api_token, make_asset, make_vendor, engage, exempt
):
    officer = bearer(api_token(make_user("olga", roles=("officer",), department="a")))
    asset = make_asset("A-1", "a")
    engagement = engage(asset, make_vendor("Overseas Ltd"))
    exempt(engagement)
    assert client.delete(f"/api/v1/assets/{asset.id}/vendors/{engagement.id}", headers=officer).status_code == 204
    assert rows(session, Engagement) == [] and rows(session, VendorExemption) == []


def test_engagement_pages(client, session, city, make_user, make_asset, make_vendor):
    officer = make_user("olga", roles=("officer",), department="a")
    login(client, officer)
    token = csrf_token(client, "/vendors")
    inside, outside = make_asset("A-1", "a1"), make_asset("B-1", "b")
    vendor = make_vendor("Overseas Ltd")
    form = {"vendor_id": str(vendor.id), "role": "operator", "started_on": "2024-02-01", "ended_on": "", "note": ""}

    added = client.post(f"/assets/{inside.id}/engagements", data={**form, "csrf_token": token})
    assert added.status_code == 302
    assert added.headers["Location"].endswith(f"/assets/{inside.id}")
    session.rollback()
    engagement = session.exec(select(Engagement)).one()
    assert (engagement.role, engagement.ended_on) == ("operator", None)

    bad = client.post(
        f"/assets/{inside.id}/engagements",
        data={**form, "role": "planner", "ended_on": "2024-01-01", "csrf_token": token},
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "The end date cannot be before the start date." in html
    assert 'value="2024-02-01"' in html  # the form keeps what was typed
    assert client.post(f"/assets/{inside.id}/engagements", data={**form, "csrf_token": token}).status_code == 422

    assert client.post(f"/assets/{outside.id}/engagements", data={**form, "csrf_token": token}).status_code == 404
    assert (
        client.post(f"/assets/{outside.id}/engagements/{engagement.id}/end", data={"csrf_token": token}).status_code
        == 404
    )
    assert len(rows(session, Engagement)) == 1

    # "next" brings the user back to where the form was, on this host only.
    ended = client.post(
        f"/assets/{inside.id}/engagements/{engagement.id}/end",
        data={"csrf_token": token, "next": f"/vendors/{vendor.id}"},
    )
    assert ended.status_code == 302 and ended.headers["Location"].endswith(f"/vendors/{vendor.id}")
    session.rollback()
    assert session.get(Engagement, engagement.id).ended_on == today()
    again = client.post(
        f"/assets/{inside.id}/engagements/{engagement.id}/end",
        data={"csrf_token": token, "next": f"/vendors/{vendor.id}"},
    )
    assert again.status_code == 302
    assert "This engagement has already ended." in client.get(f"/vendors/{vendor.id}").get_data(as_text=True)

    gone = client.post(
        f"/assets/{inside.id}/engagements/{engagement.id}/delete",
        data={"csrf_token": token, "next": "https://evil.example/"},
    )
    assert gone.status_code == 302 and gone.headers["Location"].endswith(f"/assets/{inside.id}")
    assert rows(session, Engagement) == []


def test_engagements_panel_macro(app, session, city, make_user, make_asset, make_vendor, engage, exempt):
    from flask import g, render_template_string

    officer = make_user("olga", roles=("officer",), department="a")
    asset = make_asset("A-1", "a1")
    warned = engage(asset, make_vendor("Overseas Ltd"))
    engage(asset, make_vendor("Advisers Inc"), role="advisor")
    engage(asset, make_vendor("Old Builder", origin="joint_venture"), role="operator", ended_on=date(2021, 1, 1))
    template = '{% from "vendors/_engagements.html" import engagements_panel %}{{ engagements_panel(asset, **panel) }}'
    with app.test_request_context(f"/assets/{asset.id}", headers={"Accept-Language": "en"}):
        g.secgov_user = session.get(User, officer.id)
        panel = policy_service.engagement_panel(session, asset, config_of(app))
        html = render_template_string(template, asset=asset, panel=panel)
    assert set(panel) == {"engagements", "vendors", "findings"}
    assert list(panel["findings"]) == [warned.id]
    assert "Overseas Ltd" in html and "Advisers Inc" in html and "Old Builder" in html
    assert html.count('class="badge warn"') == 1
    assert f"/vendor-exemptions?engagement={warned.id}" in html
    assert f'action="/assets/{asset.id}/engagements"' in html  # the add form, for writers
    assert html.count("End today") == 2  # the ongoing ones

    exempt(warned, expires_on=today() + timedelta(days=10))
    session.rollback()
    with app.test_request_context(f"/assets/{asset.id}", headers={"Accept-Language": "en"}):
        g.secgov_user = session.get(User, officer.id)
        html = render_template_string(
            template, asset=asset, panel=policy_service.engagement_panel(session, asset, config_of(app))
        )
    assert 'class="badge ok"' in html and (today() + timedelta(days=10)).isoformat() in html


# --- exemptions ------------------------------------------------------------------------------


@pytest.fixture
def exemption_world(city, make_user, api_token, make_asset, make_vendor, engage):
    officer = make_user("olga", roles=("officer",), department="a")
    leader = make_user("leo", roles=("leader",), department="a")
    admin = make_user("root", roles=("admin",), department="city", mfa=True)
    foreign = make_vendor("Overseas Ltd")
    return {
        "officer": bearer(api_token(officer)),
        "leader": bearer(api_token(leader)),
        "admin": bearer(api_token(admin)),
        "outsider": bearer(api_token(make_user("bob", roles=("officer", "leader"), department="b"))),
        "warning": engage(make_asset("A-1", "a1"), foreign),
        "violation": engage(make_asset("A-2", "a1", classified=True), foreign),
        "advisor": engage(make_asset("A-3", "a1"), foreign, role="advisor"),
        "outside": engage(make_asset("B-1", "b"), foreign),
        "users": {"officer": officer, "leader": leader, "admin": admin},
    }


def test_exemption_request_and_approval(client, session, exemption_world):
    w = exemption_world
    body = {"engagement_id": w["warning"].id, "reason": "Migration to a domestic builder by Q4", "expires_on": later()}
    requested = client.post("/api/v1/vendor-exemptions", json=body, headers=w["officer"])
    assert requested.status_code == 201, requested.get_json()
    exemption = requested.get_json()
    assert (exemption["status"], exemption["requested_by"], exemption["asset_code"]) == ("pending", "olga", "A-1")
    assert (exemption["department"], exemption["role"], exemption["expired"]) == ("a1", "builder", False)
    approve = f"/api/v1/vendor-exemptions/{exemption['id']}/approve"

    assert client.post(approve, json={}, headers=w["officer"]).status_code == 403  # officers do not decide
    # Out of the leader's scope: missing.
    assert client.post(approve, json={}, headers=w["outsider"]).status_code == 404
    pending = client.get("/api/v1/compliance/vendor-origin", headers=w["leader"]).get_json()
    assert [x["id"] for x in pending["pending_exemptions"]] == [exemption["id"]]
    assert [f["engagement_id"] for f in pending["warnings"]] == [w["warning"].id]

    approved = client.post(approve, json={"note": "Plan seen"}, headers=w["leader"])
    assert approved.status_code == 200
    assert (approved.get_json()["status"], approved.get_json()["decided_by"]) == ("approved", "leo")
    assert approved.get_json()["decision_note"] == "Plan seen"
    assert client.post(approve, headers=w["leader"]).status_code == 409  # decided already

    report = client.get("/api/v1/compliance/vendor-origin", headers=w["officer"]).get_json()
    assert report["warnings"] == [] and report["pending_exemptions"] == []
    assert [(f["engagement_id"], f["exemption_id"]) for f in report["exempted"]] == [(w["warning"].id, exemption["id"])]
    assert [f["engagement_id"] for f in report["violations"]] == [w["violation"].id]

    session.rollback()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "vendor_exemption.approved")).one()
    assert (
        '"before":{' in entry.detail and '"status":"pending"' in entry.detail and '"status":"approved"' in entry.detail
    )
    assert "vendor_exemption.requested" in audit_actions(session)


def test_the_requester_cannot_decide(client, session, exemption_world):
    w = exemption_world
    body = {"engagement_id": w["warning"].id, "reason": "Interim", "expires_on": later()}
    exemption = client.post("/api/v1/vendor-exemptions", json=body, headers=w["admin"]).get_json()
    denied_before = audit_actions(session).count("authz.denied")
    for action in ("approve", "reject"):
        response = client.post(
            f"/api/v1/vendor-exemptions/{exemption['id']}/{action}", json={"note": "mine"}, headers=w["admin"]
        )
        assert response.status_code == 403
    assert audit_actions(session).count("authz.denied") == denied_before + 2
    session.rollback()
    assert session.get(VendorExemption, exemption["id"]).status == "pending"
    assert client.post(f"/api/v1/vendor-exemptions/{exemption['id']}/approve", headers=w["leader"]).status_code == 200


def test_rejection_needs_a_note(client, session, exemption_world):
    w = exemption_world
    body = {"engagement_id": w["warning"].id, "reason": "Interim", "expires_on": later()}
    exemption = client.post("/api/v1/vendor-exemptions", json=body, headers=w["officer"]).get_json()
    reject = f"/api/v1/vendor-exemptions/{exemption['id']}/reject"
    response = client.post(reject, json={"note": "  "}, headers=w["leader"])
    assert response.status_code == 422 and "note" in error_fields(response)
    rejected = client.post(reject, json={"note": "No plan"}, headers=w["leader"]).get_json()
    assert (rejected["status"], rejected["decision_note"]) == ("rejected", "No plan")
    report = client.get("/api/v1/compliance/vendor-origin", headers=w["leader"]).get_json()
    assert [f["engagement_id"] for f in report["warnings"]] == [w["warning"].id]
    listing = client.get("/api/v1/vendor-exemptions?status=rejected", headers=w["leader"]).get_json()
    assert [x["id"] for x in listing["items"]] == [exemption["id"]]
    assert client.get("/api/v1/vendor-exemptions?status=approved", headers=w["leader"]).get_json()["total"] == 0
    assert client.get("/api/v1/vendor-exemptions?status=maybe", headers=w["leader"]).status_code == 422


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expires_on": today().isoformat()}, "expires_on"),
        ({"expires_on": (today() - timedelta(days=3)).isoformat()}, "expires_on"),
        ({"expires_on": (today() + timedelta(days=3 * 366 + 1)).isoformat()}, "expires_on"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
        ({"engagement": "violation"}, "engagement_id"),  # a violation is never exempted
        ({"engagement": "advisor"}, "engagement_id"),  # nothing to exempt
        ({"engagement": "outside"}, "engagement_id"),  # out of scope: unknown
        ({"engagement_id": 999999}, "engagement_id"),
        ({"engagement_id": 2**31}, "engagement_id"),
        ({"engagement_id": 10**30}, "engagement_id"),
    ],
)
def test_bad_exemption_requests(client, session, exemption_world, change, field):
    w = exemption_world
    change = dict(change)
    target = w[change.pop("engagement", "warning")]
    body = {"engagement_id": target.id, "reason": "Interim", "expires_on": later(), **change}
    response = client.post("/api/v1/vendor-exemptions", json=body, headers=w["officer"])
    assert response.status_code == 422
    assert field in error_fields(response)
    assert rows(session, VendorExemption) == []


def test_three_years_is_the_longest_exemption(client, exemption_world):
    w = exemption_world
    longest = policy_service.years_later(today(), 3).isoformat()
    body = {"engagement_id": w["warning"].id, "reason": "Long migration", "expires_on": longest}
    assert client.post("/api/v1/vendor-exemptions", json=body, headers=w["officer"]).status_code == 201


def test_exemption_pages(client, session, exemption_world):
    w = exemption_world
    login(client, w["users"]["officer"])
    page = client.get(f"/vendor-exemptions?engagement={w['warning'].id}").get_data(as_text=True)
    assert f'<option value="{w["warning"].id}" selected>' in page
    assert f'value="{w["violation"].id}"' not in page  # violations cannot be exempted
    token = csrf_token(client, "/vendor-exemptions")
    bad = client.post(
        "/vendor-exemptions/new",
        data={"engagement_id": str(w["warning"].id), "reason": "", "expires_on": later(), "csrf_token": token},
    )
    assert bad.status_code == 422
    made = client.post(
        "/vendor-exemptions/new",
        data={"engagement_id": str(w["warning"].id), "reason": "Migration", "expires_on": later(), "csrf_token": token},
    )
    assert made.status_code == 302
    session.rollback()
    exemption = session.exec(select(VendorExemption)).one()
    assert client.post(f"/vendor-exemptions/{exemption.id}/approve", data={"csrf_token": token}).status_code == 403

    client.post("/logout", data={"csrf_token": token})
    login(client, w["users"]["leader"])
    token = csrf_token(client, "/vendor-exemptions")
    listing = client.get("/vendor-exemptions?status=pending").get_data(as_text=True)
    assert f"/vendor-exemptions/{exemption.id}/approve" in listing
    no_note = client.post(f"/vendor-exemptions/{exemption.id}/reject", data={"csrf_token": token, "note": ""})
    assert no_note.status_code == 302
    session.rollback()
    assert session.get(VendorExemption, exemption.id).status == "pending"
    done = client.post(f"/vendor-exemptions/{exemption.id}/approve", data={"csrf_token": token, "note": ""})
    assert done.status_code == 302
    session.rollback()
    assert session.get(VendorExemption, exemption.id).status == "approved"
    assert client.get("/vendor-exemptions?status=whatever&page=x").status_code == 200


# --- compliance ------------------------------------------------------------------------------


@pytest.fixture
def compliance_world(city, make_user, make_asset, make_vendor, engage, exempt):
    """Findings in bureau a (units a and a1) and in bureau b; b mirrors a's first warning."""
    foreign, jv, domestic = make_vendor("Overseas"), make_vendor("Sino-JV", "joint_venture", "CN"), make_vendor("Home", "domestic", "CN")  # fmt: skip
    e = {
        "violation": engage(make_asset("A-V", "a1", "transport", classified=True), foreign),
        "warning": engage(make_asset("A-W", "a1", "energy"), jv, role="operator"),
        "exempted": engage(make_asset("A-X", "a", "finance"), foreign, role="planner"),
        "expiring": engage(make_asset("A-E", "a", "transport"), foreign),
        "pending": engage(make_asset("A-P", "a", "telecom"), jv),
    }
    # Nothing to report: non-critical sector, adviser, domestic, ended, not started.
    engage(make_asset("A-H", "a1", "healthcare", classified=True), foreign)
    engage(make_asset("A-AD", "a1", "transport", classified=True), foreign, role="advisor")
    engage(make_asset("A-D", "a1", "transport", classified=True), domestic)
    engage(make_asset("A-END", "a1", "transport"), foreign, ended_on=today() - timedelta(days=1))
    engage(make_asset("A-FUT", "a1", "transport"), foreign, started_on=today() + timedelta(days=1))
    x = {
        "exempted": exempt(e["exempted"], expires_on=today() + timedelta(days=200)),
        "expiring": exempt(e["expiring"], expires_on=today() + timedelta(days=10)),
        "pending": exempt(e["pending"], status="pending"),
        "lapsed": exempt(engage(make_asset("A-L", "a", "government"), foreign), expires_on=today()),
    }
    e["lapsed"] = x["lapsed"].engagement_id
    outside = engage(make_asset("B-W", "b", "transport"), foreign)
    exempt(outside, status="pending")
    return {"engagements": e, "exemptions": x, "outside": outside}


def ids(findings) -> set[int]:
    return {f["engagement_id"] for f in findings}


def test_compliance_lists_and_counts(client, compliance_world, make_user, api_token):
    e, x = compliance_world["engagements"], compliance_world["exemptions"]
    officer = bearer(api_token(make_user("olga", roles=("officer",), department="a")))
    report = client.get("/api/v1/compliance/vendor-origin", headers=officer).get_json()

    assert report["today"] == today().isoformat()
    assert report["policy"]["enabled"] is True
    assert ids(report["violations"]) == {e["violation"].id}
    assert ids(report["warnings"]) == {e["warning"].id, e["pending"].id, e["lapsed"]}
    assert ids(report["exempted"]) == {e["exempted"].id, e["expiring"].id}
    assert {f["exemption_id"] for f in report["exempted"]} == {x["exempted"].id, x["expiring"].id}
    assert [r["id"] for r in report["pending_exemptions"]] == [x["pending"].id]
    assert [r["id"] for r in report["expiring_exemptions"]] == [x["expiring"].id]

    violation = report["violations"][0]
    assert (violation["asset_code"], violation["department"], violation["sector"]) == ("A-V", "a1", "transport")
    assert (violation["vendor_name"], violation["origin"], violation["role"]) == ("Overseas", "foreign", "builder")
    assert violation["classified"] is True

    by_department = {
        row["code"]: (row["violations"], row["warnings"], row["exempted"]) for row in report["by_department"]
    }
    assert by_department == {"a": (0, 2, 2), "a1": (1, 1, 0)}
    assert next(r for r in report["by_department"] if r["code"] == "a")["name"] == "A"
    by_sector = {row["sector"]: (row["violations"], row["warnings"], row["exempted"]) for row in report["by_sector"]}
    assert by_sector == {
        "government": (0, 1, 0),
        "finance": (0, 0, 1),
        "energy": (0, 1, 0),
        "transport": (1, 0, 1),
        "telecom": (0, 1, 0),
    }


def test_compliance_is_scoped(client, compliance_world, make_user, api_token):
    outside = compliance_world["outside"]
    unit = bearer(api_token(make_user("una", roles=("officer",), department="a1")))
    bureau_b = bearer(api_token(make_user("bob", roles=("officer",), department="b")))
    root = bearer(api_token(make_user("cio", roles=("auditor",), department="city")))

    a1 = client.get("/api/v1/compliance/vendor-origin", headers=unit).get_json()
    assert {f["department"] for f in a1["violations"] + a1["warnings"] + a1["exempted"]} == {"a1"}
    assert [r["code"] for r in a1["by_department"]] == ["a1"]
    assert a1["pending_exemptions"] == [] and a1["expiring_exemptions"] == []

    b = client.get("/api/v1/compliance/vendor-origin", headers=bureau_b).get_json()
    assert ids(b["warnings"]) == {outside.id} and b["violations"] == [] and b["exempted"] == []
    assert [r["code"] for r in b["by_department"]] == ["b"]
    assert b["by_sector"] == [{"sector": "transport", "violations": 0, "warnings": 1, "exempted": 0}]
    assert [r["asset_code"] for r in b["pending_exemptions"]] == ["B-W"]
    b_exemptions = client.get("/api/v1/vendor-exemptions", headers=bureau_b).get_json()
    assert [r["asset_code"] for r in b_exemptions["items"]] == ["B-W"] and b_exemptions["total"] == 1

    city = client.get("/api/v1/compliance/vendor-origin", headers=root).get_json()
    assert [r["code"] for r in city["by_department"]] == ["a", "a1", "b"]
    assert len(city["warnings"]) == 4 and len(city["pending_exemptions"]) == 2
    assert client.get("/api/v1/vendor-exemptions", headers=root).get_json()["total"] == 5


def test_compliance_page_is_scoped(app, client, compliance_world, make_user):
    login(client, make_user("bob", roles=("leader",), department="b"))
    html = client.get("/compliance/vendor-origin").get_data(as_text=True)
    assert "B-W" in html
    assert not re.search(r"A-(V|W|X|E|P|L)\b", html)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, make_user("olga", roles=("officer",), department="a"))
    html = client.get("/compliance/vendor-origin").get_data(as_text=True)
    assert "A-V" in html and "A-W" in html and "B-W" not in html
    assert "A-H" not in html and "A-AD" not in html and "A-END" not in html


def _save_policy(client, csrf: str, **value):
    """Post the policy's fieldset of the settings page."""
    return client.post("/admin/settings", data={"setting": "vendor_origin_policy", "csrf_token": csrf, **value})


def test_switching_the_policy_off_and_on(client, session, compliance_world, make_user, api_token):
    admin = make_user("root", roles=("admin",), department="city", mfa=True)
    token = bearer(api_token(admin))
    login(client, admin)
    csrf = csrf_token(client, "/admin/settings")
    assert 'href="/admin/settings#vendor_origin_policy"' in client.get("/compliance/vendor-origin").get_data(
        as_text=True
    )
    off = _save_policy(
        client, csrf, critical_sectors=["transport"], restricted_roles=["builder"], restricted_origins=["foreign"]
    )
    assert off.status_code == 302
    report = client.get("/api/v1/compliance/vendor-origin", headers=token).get_json()
    assert report["policy"] == {
        "enabled": False,
        "critical_sectors": ["transport"],
        "restricted_roles": ["builder"],
        "restricted_origins": ["foreign"],
    }
    assert report["violations"] == report["warnings"] == report["exempted"] == []
    assert len(report["pending_exemptions"]) == 2  # requests are still listed

    on = _save_policy(
        client, csrf, enabled="1", critical_sectors=["transport"], restricted_roles=["builder"],
        restricted_origins=["foreign"],
    )  # fmt: skip
    assert on.status_code == 302
    report = client.get("/api/v1/compliance/vendor-origin", headers=token).get_json()
    assert {f["asset_code"] for f in report["violations"] + report["warnings"] + report["exempted"]} == {
        "A-V", "A-E", "B-W",
    }  # fmt: skip

    refused = _save_policy(client, csrf, enabled="1", critical_sectors=["transport"], restricted_roles=["advisor"])
    assert refused.status_code == 422
    assert "Not allowed in the vendor-origin policy: advisor" in refused.get_data(as_text=True)
    assert client.get("/api/v1/compliance/vendor-origin", headers=token).get_json()["policy"]["restricted_roles"] == [
        "builder"
    ]
    assert audit_actions(session).count("setting.changed") == 2


def test_compliance_takes_the_same_few_queries_at_any_size(
    app, session, city, make_user, make_asset, make_vendor, engage, exempt
):
    viewer = make_user("cio", roles=("auditor",), department="city")
    foreign = make_vendor("Overseas")
    engine = app.extensions["secgov_engine"]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    def measure() -> tuple[int, int]:
        session.rollback()  # see the rows committed since
        user = session.get(User, viewer.id)
        assert user.department.code == "city"  # loaded before counting
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            with app.test_request_context():
                report = policy_service.compliance(session, Actor.of(user), config_of(app))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements), len(report.warnings) + len(report.exempted) + len(report.violations)

    for n in range(3):
        exempt(engage(make_asset(f"S-{n}", "a" if n % 2 else "b", classified=n == 0), foreign))
    small, found_small = measure()
    for n in range(3, 40):
        exempt(engage(make_asset(f"S-{n}", "a1" if n % 2 else "b"), foreign), status="pending" if n % 3 else "approved")
    large, found_large = measure()
    assert (found_small, found_large) == (3, 40)
    assert small == large == 5  # the policy, the findings, the exemptions, the departments, the origin changes


def test_the_asset_page_shows_the_engagements_panel(client, city, make_user, make_asset, make_vendor, engage):
    asset = make_asset("A-1", "a1")
    engage(asset, make_vendor("Overseas Ltd"))
    login(client, make_user("olga", roles=("officer",), department="a"))
    html = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert "Overseas Ltd" in html and 'class="badge warn"' in html
    assert f'action="/assets/{asset.id}/engagements"' in html


def test_the_vendor_origin_filter_counts_only_engagements_running_today(
    client, city, make_user, api_token, make_asset, make_vendor, engage
):
    """The same rule as the policy (rule.is_active): a planned engagement that has not begun
    and one that has ended do not make an asset "built by a foreign vendor" today."""
    reader = bearer(api_token(make_user("rita", roles=("leader",), department="city")))
    foreign = make_vendor("Overseas Ltd")
    day = today()
    running, planned, ended, _none = (make_asset(code, "a1") for code in ("RUN-1", "PLAN-1", "END-1", "NONE-1"))
    engage(running, foreign)
    engage(planned, foreign, started_on=day + timedelta(days=30))
    engage(ended, foreign, ended_on=day - timedelta(days=1))
    listing = client.get("/api/v1/assets?vendor_origin=foreign", headers=reader).get_json()
    assert [item["code"] for item in listing["items"]] == ["RUN-1"]

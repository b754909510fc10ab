"""Vendors are shared by the whole city but belong to the department that registered them: every
department reads and engages a vendor; only that department's subtree and the city's root
department change it; a change of origin or country is recorded for every department whose
vendor-origin findings it moves, and shown on their compliance pages."""

from __future__ import annotations

import json

import pytest
from helpers import csrf_token, login
from sqlmodel import Session, select

from assets.models import Engagement, Vendor
from secgov.models import AuditEntry, Department


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


@pytest.fixture
def bureaus(city, make_user, make_asset, make_vendor, engage, api_token):
    """Bureau a is transport (with unit a1), bureau b is water. Transport runs a classified
    system built by a foreign vendor that transport registered (a violation), and a system
    operated by a foreign vendor that water registered (a warning)."""
    people = {
        "transport": make_user("li.tong", roles=("officer",), department="a"),
        "transport_unit": make_user("metro.officer", roles=("officer",), department="a1"),
        "water": make_user("water.officer", roles=("officer",), department="b"),
        "city": make_user("wang.an", roles=("officer",), department="city"),
        "leader": make_user("chen.ming", roles=("leader",), department="a"),
    }
    tokens = {name: bearer(api_token(user)) for name, user in people.items()}
    signals = make_asset("TRF-SIG", "a", classified=True)
    metro = make_asset("MTR-SCADA", "a1")
    pumps = make_asset("WTR-PUMP", "b", sector="utilities")
    pacific = make_vendor("Pacific Signal Systems", "foreign", "US", department="a")
    nordlicht = make_vendor("Nordlicht Automation", "foreign", "DE", department="b")
    haigang = make_vendor("Haigang Cloud", "domestic", "CN")  # registered by the city itself
    engage(signals, pacific, "builder")
    engage(metro, nordlicht, "operator")
    return {
        "people": people,
        "tokens": tokens,
        "assets": {"signals": signals, "metro": metro, "pumps": pumps},
        "vendors": {"pacific": pacific, "nordlicht": nordlicht, "haigang": haigang},
    }


def vendor_row(session: Session, vendor_id: int) -> tuple:
    session.rollback()
    vendor = session.get(Vendor, vendor_id)
    return (vendor.name, vendor.origin, vendor.country, vendor.department_id, vendor.version)


def actions(session: Session, action: str) -> list[AuditEntry]:
    session.rollback()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def compliance(client, headers) -> dict:
    return client.get("/api/v1/compliance/vendor-origin", headers=headers).get_json()


def test_another_bureau_cannot_clear_a_violation_by_changing_the_vendor(client, session, bureaus):
    """The attack from outside: an officer of the water bureau changed a vendor's origin to
    domestic, and the transport bureau's violation disappeared from its compliance report."""
    tokens, pacific = bureaus["tokens"], bureaus["vendors"]["pacific"]
    assert len(compliance(client, tokens["transport"])["violations"]) == 1
    before = vendor_row(session, pacific.id)

    path = f"/api/v1/vendors/{pacific.id}"
    for body in ({"origin": "domestic", "version": 1}, {"country": "CN", "version": 1}, {"name": "X", "version": 1}):
        response = client.patch(path, json=body, headers=tokens["water"])
        assert response.status_code == 403
        assert "only that department and the city's administration may change it" in response.json["error"]["message"]
    assert client.delete(path, headers=tokens["water"]).status_code == 403

    assert vendor_row(session, pacific.id) == before
    assert len(compliance(client, tokens["transport"])["violations"]) == 1
    denied = actions(session, "vendor.denied")
    assert len(denied) == 4 and {e.actor for e in denied} == {"water.officer"}
    assert json.loads(denied[0].detail)["owner"] == "a"
    assert actions(session, "vendor.updated") == []


def test_the_pages_refuse_the_same(app, session, bureaus):
    pacific = bureaus["vendors"]["pacific"]
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, bureaus["people"]["water"])
    detail = client.get(f"/vendors/{pacific.id}").get_data(as_text=True)
    assert "Only this department and the city's administration can change this vendor" in detail
    assert f'href="/vendors/{pacific.id}/edit"' not in detail and "Delete vendor" not in detail
    edit = client.get(f"/vendors/{pacific.id}/edit")
    assert edit.status_code == 302 and edit.headers["Location"].endswith(f"/vendors/{pacific.id}")
    token = csrf_token(client, "/vendors")
    saved = client.post(
        f"/vendors/{pacific.id}/edit",
        data={"name": "Pacific", "origin": "domestic", "country": "CN", "version": "1", "csrf_token": token},
    )
    assert saved.status_code == 403
    gone = client.post(f"/vendors/{pacific.id}/delete", data={"csrf_token": token})
    assert gone.status_code == 302
    assert "only that department" in client.get(gone.headers["Location"]).get_data(as_text=True)
    assert vendor_row(session, pacific.id)[1] == "foreign"
    assert len(actions(session, "vendor.denied")) == 2


def test_everyone_reads_and_engages_a_vendor_of_another_bureau(client, session, bureaus):
    tokens, pacific, pumps = bureaus["tokens"], bureaus["vendors"]["pacific"], bureaus["assets"]["pumps"]
    read = client.get(f"/api/v1/vendors/{pacific.id}", headers=tokens["water"])
    assert read.status_code == 200 and read.json["department"] == "a"
    engaged = client.post(
        f"/api/v1/assets/{pumps.id}/vendors",
        json={"vendor_id": pacific.id, "role": "product_supplier", "started_on": "2024-01-01"},
        headers=tokens["water"],
    )
    assert engaged.status_code == 201
    session.rollback()
    assert session.exec(select(Engagement).where(Engagement.asset_id == pumps.id)).one().vendor_id == pacific.id


@pytest.mark.parametrize(
    ("who", "vendor", "allowed"),
    [
        ("transport", "pacific", True),  # the department that registered it
        ("city", "pacific", True),  # the city's root department
        ("city", "nordlicht", True),
        ("city", "haigang", True),
        ("water", "nordlicht", True),
        ("water", "pacific", False),  # another bureau
        ("transport", "nordlicht", False),
        ("transport_unit", "nordlicht", False),
        ("transport_unit", "pacific", False),  # a unit: its bureau's records are not in its scope
        ("transport", "haigang", False),  # a vendor of the city is the city's alone
        ("water", "haigang", False),
    ],
)
def test_who_may_change_a_vendor(client, session, bureaus, who, vendor, allowed):
    target = bureaus["vendors"][vendor]
    response = client.patch(
        f"/api/v1/vendors/{target.id}",
        json={"confidentiality_agreement_on": "2025-01-01", "version": 1},
        headers=bureaus["tokens"][who],
    )
    assert response.status_code == (200 if allowed else 403)


def test_a_leader_reads_but_never_changes_vendors(client, bureaus):
    pacific = bureaus["vendors"]["pacific"]
    response = client.patch(f"/api/v1/vendors/{pacific.id}", json={"version": 1}, headers=bureaus["tokens"]["leader"])
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_a_new_vendor_belongs_to_its_registrar_or_a_department_in_scope(client, session, bureaus):
    tokens = bureaus["tokens"]
    body = {"origin": "domestic", "country": "CN"}
    own = client.post("/api/v1/vendors", json={**body, "name": "Own Co"}, headers=tokens["transport"])
    assert own.status_code == 201 and own.json["department"] == "a"
    unit = client.post(
        "/api/v1/vendors", json={**body, "name": "Unit Co", "department": "a1"}, headers=tokens["transport"]
    )
    assert unit.status_code == 201 and unit.json["department"] == "a1"
    outside = client.post(
        "/api/v1/vendors", json={**body, "name": "Far Co", "department": "b"}, headers=tokens["transport"]
    )
    assert outside.status_code == 422
    assert outside.json["error"]["details"] == [{"field": "department", "message": "Unknown department: b"}]
    # Handing a vendor to another department in scope; the city may hand it anywhere.
    moved = client.patch(
        f"/api/v1/vendors/{own.json['id']}", json={"department": "b", "version": 1}, headers=tokens["transport"]
    )
    assert moved.status_code == 422
    moved = client.patch(
        f"/api/v1/vendors/{own.json['id']}", json={"department": "b", "version": 1}, headers=tokens["city"]
    )
    assert moved.status_code == 200 and moved.json["department"] == "b"
    created = actions(session, "vendor.created")
    assert [json.loads(e.detail)["after"]["department"] for e in created] == ["a", "a1"]


def test_a_change_of_origin_is_recorded_for_each_department_it_moves(client, session, bureaus):
    """Water registered Nordlicht, and may change it; its change moves transport's findings, so
    transport's audit log and compliance page say so, with the findings before and after."""
    tokens, nordlicht = bureaus["tokens"], bureaus["vendors"]["nordlicht"]
    assert [f["asset_code"] for f in compliance(client, tokens["transport"])["warnings"]] == ["MTR-SCADA"]

    changed = client.patch(
        f"/api/v1/vendors/{nordlicht.id}",
        json={"origin": "domestic", "country": "CN", "version": 1},
        headers=tokens["water"],
    )
    assert changed.status_code == 200

    [entry] = actions(session, "vendor.origin_changed")
    a1 = session.exec(select(Department).where(Department.code == "a1")).one()
    assert entry.department_id == a1.id and entry.actor == "water.officer"
    assert json.loads(entry.detail) == {
        "vendor": "Nordlicht Automation",
        "before": {"origin": "foreign", "country": "DE"},
        "after": {"origin": "domestic", "country": "CN"},
        "findings_before": {"warning": 1},
        "findings_after": {},
    }
    [updated] = actions(session, "vendor.updated")
    assert json.loads(updated.detail)["departments_affected"] == 1

    transport = compliance(client, tokens["transport"])
    assert transport["warnings"] == []
    [change] = transport["origin_changes"]
    assert (change["vendor_name"], change["department"], change["actor"]) == (
        "Nordlicht Automation",
        "a1",
        "water.officer",
    )
    assert (change["origin_before"], change["origin_after"]) == ("foreign", "domestic")
    assert change["findings_before"] == {"violation": 0, "warning": 1, "exempted": 0}
    assert change["findings_after"] == {"violation": 0, "warning": 0, "exempted": 0}
    # The water bureau's own findings did not move: its page lists no change.
    assert compliance(client, tokens["water"])["origin_changes"] == []
    # The transport bureau's audit log shows it (entries of its scope).
    log = client.get("/api/v1/audit?action=vendor.origin_changed", headers=bureaus["tokens"]["leader"])
    assert log.status_code == 403  # leaders read the compliance page; the audit log is for auditors and admins


def test_the_compliance_page_lists_recent_origin_changes(app, client, session, bureaus):
    tokens, pacific = bureaus["tokens"], bureaus["vendors"]["pacific"]
    changed = client.patch(
        f"/api/v1/vendors/{pacific.id}", json={"origin": "domestic", "version": 1}, headers=tokens["city"]
    )
    assert changed.status_code == 200
    reader = app.test_client()
    reader.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(reader, bureaus["people"]["leader"])
    page = reader.get("/compliance/vendor-origin").get_data(as_text=True)
    section = page[page.index('id="origin-changes"') :]
    assert "Pacific Signal Systems" in section and "wang.an" in section
    assert "Foreign → Domestic" in section
    assert "Violations: 1, warnings: 0, exempted: 0" in section
    assert "Violations: 0, warnings: 0, exempted: 0" in section


def test_a_change_that_moves_no_finding_records_only_the_update(client, session, bureaus):
    tokens, pacific = bureaus["tokens"], bureaus["vendors"]["pacific"]
    response = client.patch(
        f"/api/v1/vendors/{pacific.id}", json={"country": "CA", "version": 1}, headers=tokens["transport"]
    )
    assert response.status_code == 200
    assert actions(session, "vendor.origin_changed") == []
    [updated] = actions(session, "vendor.updated")
    assert json.loads(updated.detail) == {"before": {"country": "US"}, "after": {"country": "CA"}}

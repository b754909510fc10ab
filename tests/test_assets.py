"""The asset register: grading, history, owners, filters, scope, concurrency and bad input."""

from __future__ import annotations

import io

import pytest
from helpers import csrf_token, login
from sqlmodel import func, select

from assets import controls, services
from assets.models import Asset, AssetControl, AssetGrade, Control
from secgov import audit, catalog, responsibility
from secgov.models import AuditEntry, Department


@pytest.fixture
def api(client, api_token, city):
    """api(user_key) -> a function calling the API as that user."""

    def for_user(key: str):
        headers = {"Authorization": f"Bearer {api_token(city[key])}"}

        def call(method: str, path: str, **kwargs):
            return client.open(path, method=method, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)

        return call

    return for_user


def asset_body(code: str, /, **overrides) -> dict:
    body = {
        "code": code,
        "name": f"System {code}",
        "sector": "transport",
        "department": "a1",
        "owner": "officer.a",
        "mlps_level": 2,
        "mlps_filing_number": "11010099999-00001",
        "network_targets": ["127.0.0.10", "127.0.1.0/28", "signal-01.city.local"],
        "expected_ports": ["443/tcp", "161/udp"],
    }
    body.update(overrides)
    return body


def required_ids(session, level: int, extensions=()) -> set[str]:
    return controls.required_control_ids(session, level, list(extensions))


def test_catalog_is_loaded(session):
    counts = dict(session.exec(select(Control.catalog, func.count()).group_by(Control.catalog)).all())
    assert counts["mlps"] == len(catalog.mlps_control_points())
    assert counts["area"] == 6
    assert counts["csf"] == len(catalog.nist_csf())
    point = session.get(Control, "mlps.general.PE.01")
    assert point.title_zh == "物理位置选择"
    assert point.title_en


def test_level_five_takes_level_four_points(session):
    assert required_ids(session, 5) == required_ids(session, 4)
    assert required_ids(session, 1) < required_ids(session, 2) < required_ids(session, 3)
    assert required_ids(session, 3, ["cloud"]) > required_ids(session, 3)
    assert all(cid.startswith(("mlps.general.", "mlps.cloud.")) for cid in required_ids(session, 3, ["cloud"]))


def test_create_grades_assigns_owner_and_records_history(api, session):
    response = api("officer_a")("POST", "/api/v1/assets", json=asset_body("TRF-SIG-01"))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["owner"] == "officer.a"
    assert body["network_targets"] == ["127.0.0.10", "127.0.1.0/28", "signal-01.city.local"]
    assert body["expected_ports"] == ["443/tcp", "161/udp"]
    assert body["filing_missing"] is False
    session.rollback()
    asset = session.get(Asset, body["id"])
    rows = session.exec(select(AssetControl).where(AssetControl.asset_id == asset.id)).all()
    assert {r.control_id for r in rows} == required_ids(session, 2)
    assert all(r.status == "not_implemented" and r.required for r in rows)
    assert [g.mlps_level for g in session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)).all()] == [2]
    assert responsibility.holders(session, "asset", [asset.id], "owner")[asset.id].username == "officer.a"
    actions = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()]
    assert actions[-2:] == ["responsibility.assigned", "asset.created"]


def test_regrading_keeps_recorded_statuses(api, session):
    call = api("officer_a")
    asset = call("POST", "/api/v1/assets", json=asset_body("WTR-SCADA", mlps_level=3, mlps_extensions=["ics"])).json
    level3 = required_ids(session, 3, ["ics"])
    point = sorted(level3 & required_ids(session, 2, ["ics"]))[0]
    only3 = sorted(level3 - required_ids(session, 2, ["ics"]))[0]
    for control_id, status in ((point, "implemented"), (only3, "partial")):
        response = call(
            "PATCH",
            f"/api/v1/assets/{asset['id']}/controls/{control_id}",
            json={"status": status, "evidence": "audit report 2026", "version": 1},
        )
        assert response.status_code == 200, response.json
        assert response.json["reviewer"] == "officer.a"
    down = call(
        "PATCH",
        f"/api/v1/assets/{asset['id']}",
        json={"mlps_level": 2, "version": 1, "reason": "re-graded by the evaluator"},
    )
    assert down.status_code == 200
    listed = {c["control_id"]: c for c in call("GET", f"/api/v1/assets/{asset['id']}/controls").json["items"]}
    assert set(listed) == required_ids(session, 2, ["ics"])
    assert listed[point]["status"] == "implemented"
    assert only3 not in listed
    up = call("PATCH", f"/api/v1/assets/{asset['id']}", json={"mlps_level": 3, "version": 2})
    assert up.status_code == 200
    listed = {c["control_id"]: c for c in call("GET", f"/api/v1/assets/{asset['id']}/controls").json["items"]}
    assert listed[only3]["status"] == "partial"
    assert listed[only3]["evidence"] == "audit report 2026"
    session.rollback()
    history = session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset["id"]).order_by(AssetGrade.id)).all()
    assert [g.mlps_level for g in history] == [3, 2, 3]
    assert history[1].reason == "re-graded by the evaluator"


def test_filing_number_missing_is_a_warning(api):
    call = api("officer_a")
    created = call("POST", "/api/v1/assets", json=asset_body("EGOV-01", mlps_filing_number=""))
    assert created.status_code == 201
    assert created.json["filing_missing"] is True
    level1 = call("POST", "/api/v1/assets", json=asset_body("EGOV-02", mlps_level=1, mlps_filing_number=""))
    assert level1.json["filing_missing"] is False


def test_owner_reassignment_keeps_history(api, session, city):
    call = api("admin")
    asset = call("POST", "/api/v1/assets", json=asset_body("HIS-01")).json
    changed = call(
        "PATCH", f"/api/v1/assets/{asset['id']}", json={"owner": "root.admin", "version": 1, "reason": "handover"}
    )
    assert changed.status_code == 200
    assert changed.json["owner"] == "root.admin"
    session.rollback()
    terms = responsibility.history(session, "asset", asset["id"], "owner")
    assert [(person.username, term.valid_to is None) for term, person in terms] == [
        ("root.admin", True),
        ("officer.a", False),
    ]
    assert terms[0][0].reason == "handover"
    assert terms[1][0].valid_to == terms[0][0].valid_from
    before_handover = terms[1][0].valid_from
    assert (
        responsibility.holders(session, "asset", [asset["id"]], "owner", at=before_handover)[asset["id"]].username
        == "officer.a"
    )


def test_second_writer_gets_a_conflict(api):
    call = api("officer_a")
    asset = call("POST", "/api/v1/assets", json=asset_body("CONC-01")).json
    assert call("PATCH", f"/api/v1/assets/{asset['id']}", json={"name": "First", "version": 1}).status_code == 200
    second = call("PATCH", f"/api/v1/assets/{asset['id']}", json={"name": "Second", "version": 1})
    assert second.status_code == 409
    assert call("GET", f"/api/v1/assets/{asset['id']}").json["name"] == "First"
    control = sorted(c["control_id"] for c in call("GET", f"/api/v1/assets/{asset['id']}/controls").json["items"])[0]
    path = f"/api/v1/assets/{asset['id']}/controls/{control}"
    assert call("PATCH", path, json={"status": "planned", "version": 1}).status_code == 200
    assert call("PATCH", path, json={"status": "implemented", "version": 1}).status_code == 409


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sector": "space"}, "sector"),
        ({"department": "nowhere"}, "department"),
        ({"department": "b"}, "department"),
        ({"owner": "ghost"}, "owner"),
        ({"owner": "officer.b"}, "owner"),
        ({"network_targets": ["-iL /etc/passwd"]}, "network_targets"),
        ({"network_targets": ["--script=vuln"]}, "network_targets"),
        ({"network_targets": ["10.0.0.0/8"]}, "network_targets"),
        ({"network_targets": ["999.1.1.1"]}, "network_targets"),
        ({"network_targets": ["127.0.0.1; rm -rf /"]}, "network_targets"),
        ({"expected_ports": ["70000/tcp"]}, "expected_ports"),
        ({"expected_ports": ["443/icmp"]}, "expected_ports"),
        ({"mlps_level": 6}, "mlps_level"),
        ({"lifecycle": "dead"}, "lifecycle"),
        ({"code": "-bad"}, "code"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(api, session, overrides, field):
    before = session.exec(select(func.count()).select_from(Asset)).one()
    response = api("officer_a")("POST", "/api/v1/assets", json=asset_body("BAD-1", **overrides))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["message"]
    assert field in {d.get("field", "").split(".")[0] for d in error.get("details", [])} or field in error["message"]
    session.rollback()
    assert session.exec(select(func.count()).select_from(Asset)).one() == before


def test_duplicate_code_is_a_conflict(api):
    call = api("officer_a")
    assert call("POST", "/api/v1/assets", json=asset_body("DUP-1")).status_code == 201
    again = call("POST", "/api/v1/assets", json=asset_body("dup-1"))
    assert again.status_code == 409


def test_filters_sort_and_pages(api):
    admin = api("admin")
    specs = [
        ("F-1", {"sector": "transport", "mlps_level": 3, "is_cii": True, "lifecycle": "operational"}),
        ("F-2", {"sector": "government", "mlps_level": 2, "classified": True, "lifecycle": "building"}),
        (
            "F-3",
            {
                "sector": "healthcare",
                "mlps_level": None,
                "mlps_filing_number": "",
                "department": "b",
                "owner": "officer.b",
            },
        ),
        ("F-4", {"sector": "transport", "mlps_level": 1, "lifecycle": "retired", "name": "Tunnel ventilation"}),
    ]
    for code, extra in specs:
        assert admin("POST", "/api/v1/assets", json=asset_body(code, **extra)).status_code == 201

    def codes(query: str) -> list[str]:
        response = admin("GET", f"/api/v1/assets?{query}")
        assert response.status_code == 200, response.json
        return [a["code"] for a in response.json["items"]]

    assert codes("sector=transport") == ["F-1", "F-4"]
    assert codes("mlps_level=3") == ["F-1"]
    assert codes("mlps_level=none") == ["F-3"]
    assert codes("is_cii=true") == ["F-1"]
    assert codes("classified=true") == ["F-2"]
    assert codes("lifecycle=retired") == ["F-4"]
    assert codes("department=b") == ["F-3"]
    assert codes("department=a") == ["F-1", "F-2", "F-4"]
    assert codes("q=ventilation") == ["F-4"]
    assert codes("sort=-code") == ["F-4", "F-3", "F-2", "F-1"]
    assert codes("sort=mlps_level&mlps_level=2") == ["F-2"]
    page = admin("GET", "/api/v1/assets?page=2&page_size=3").json
    assert page["total"] == 4 and [a["code"] for a in page["items"]] == ["F-4"]
    for bad in ("sort=password", "mlps_level=9", "is_cii=maybe", "page_size=500", "department=nowhere"):
        assert admin("GET", f"/api/v1/assets?{bad}").status_code == 422, bad
    # A blank filter is no filter, as on the page (a form's untouched select sends one) ...
    assert codes("sector=&is_cii=&mlps_level=&q=") == ["F-1", "F-2", "F-3", "F-4"]
    # ... but an unknown parameter is refused, blank or not.
    assert admin("GET", "/api/v1/assets?colour=").status_code == 422


def test_scope_in_pages_api_and_counts(api, client, city):
    api("admin")("POST", "/api/v1/assets", json=asset_body("IN-A"))
    api("admin")("POST", "/api/v1/assets", json=asset_body("IN-B", department="b", owner="officer.b"))
    listed = api("officer_a")("GET", "/api/v1/assets").json
    assert [a["code"] for a in listed["items"]] == ["IN-A"]
    assert listed["total"] == 1
    other_id = api("admin")("GET", "/api/v1/assets?q=IN-B").json["items"][0]["id"]
    assert api("officer_a")("GET", f"/api/v1/assets/{other_id}").status_code == 404
    assert api("officer_a")("PATCH", f"/api/v1/assets/{other_id}", json={"name": "x", "version": 1}).status_code == 404
    assert api("officer_a")("GET", f"/api/v1/assets/{other_id}/controls").status_code == 404
    assert login(client, city["officer_a"]).status_code == 302
    page = client.get("/assets").get_data(as_text=True)
    assert "IN-A" in page and "IN-B" not in page
    assert client.get(f"/assets/{other_id}").status_code == 404


def test_coverage_per_asset_and_department(api, session):
    call = api("officer_a")
    asset = call("POST", "/api/v1/assets", json=asset_body("COV-1", mlps_level=1, mlps_filing_number="")).json
    items = call("GET", f"/api/v1/assets/{asset['id']}/controls").json["items"]
    statuses = ["implemented", "implemented", "partial", "not_applicable"]
    for item, status in zip(items, statuses, strict=False):
        assert (
            call(
                "PATCH",
                f"/api/v1/assets/{asset['id']}/controls/{item['control_id']}",
                json={"status": status, "version": 1},
            ).status_code
            == 200
        )
    session.rollback()
    cov = controls.coverage_by_asset(session, [asset["id"]])[asset["id"]]
    required = len(items)
    assert cov.required == required
    assert cov.applicable == required - 1
    assert cov.percent == round(100 * 2.5 / (required - 1), 1)
    dept = session.get(Asset, asset["id"]).department_id
    assert controls.coverage_by_department(session, [dept])[dept].percent == cov.percent


def test_pages_register_edit_and_record_a_control(client, city, session):
    assert login(client, city["officer_a"]).status_code == 302
    token = csrf_token(client, "/assets/new")
    form = {
        "code": "WEB-1",
        "name": "政务服务网",
        "sector": "government",
        "department": "a1",
        "owner": "officer.a",
        "mlps_level": "3",
        "mlps_filing_number": "",
        "network_targets": "127.0.0.20\n127.0.0.21",
        "expected_ports": "443/tcp 80/tcp",
        "is_cii": "1",
        "csrf_token": token,
    }
    bad = client.post("/assets/new", data={**form, "network_targets": "-oN /tmp/x"})
    assert bad.status_code == 422
    assert "-oN /tmp/x" in bad.get_data(as_text=True)
    created = client.post("/assets/new", data=form)
    assert created.status_code == 302
    session.rollback()
    asset = services.asset_by_code(session, "WEB-1")
    assert asset.is_cii and asset.network_targets == ["127.0.0.20", "127.0.0.21"]
    detail = client.get(f"/assets/{asset.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "no MLPS filing number" in detail
    control_id = sorted(required_ids(session, 3))[0]
    saved = client.post(
        f"/assets/{asset.id}/controls",
        data={
            f"status:{control_id}": "implemented",
            f"evidence:{control_id}": "ISO cert",
            f"version:{control_id}": "1",
            "csrf_token": token,
        },
    )
    assert saved.status_code == 302
    session.rollback()
    row = session.exec(
        select(AssetControl).where(AssetControl.asset_id == asset.id, AssetControl.control_id == control_id)
    ).one()
    assert (row.status, row.evidence, row.reviewer) == ("implemented", "ISO cert", "officer.a")
    edit = client.post(
        f"/assets/{asset.id}/edit",
        data={
            **form,
            "mlps_level": "2",
            "mlps_filing_number": "F-9",
            "version": "1",
            "reason": "downgraded",
            "code": None,
        },
    )
    assert edit.status_code == 302
    listing = client.get("/assets?sector=government").get_data(as_text=True)
    assert "WEB-1" in listing


def test_coverage_by_department_rolls_up_the_subtree(api, session, client, city):
    admin = api("admin")
    in_a1 = admin("POST", "/api/v1/assets", json=asset_body("ROLL-1", mlps_level=1, mlps_filing_number="")).json
    admin(
        "POST",
        "/api/v1/assets",
        json=asset_body("ROLL-2", mlps_level=1, mlps_filing_number="", department="b", owner="officer.b"),
    )
    first = admin("GET", f"/api/v1/assets/{in_a1['id']}/controls").json["items"][0]
    admin(
        "PATCH",
        f"/api/v1/assets/{in_a1['id']}/controls/{first['control_id']}",
        json={"status": "implemented", "version": 1},
    )
    rows = {r["department"]: r for r in admin("GET", "/api/v1/assets/coverage").json["items"]}
    assert rows["a1"]["assets"] == 1 and rows["a"]["assets"] == 1 and rows["b"]["assets"] == 1
    assert rows["city"]["assets"] == 2
    assert rows["a"]["implemented"] == 1 and rows["city"]["implemented"] == 1
    assert rows["city"]["required"] == rows["a"]["required"] + rows["b"]["required"]
    scoped = {r["department"] for r in api("officer_a")("GET", "/api/v1/assets/coverage").json["items"]}
    assert scoped == {"a", "a1"}


def test_a_code_used_by_another_bureau_is_refused_and_the_attempt_audited(api, client, city, make_asset, session):
    """Codes are unique city-wide, so the refusal tells an officer of bureau b that bureau a has
    such an asset: every such attempt (API, page, import; any case) leaves an audit entry naming
    who tried which code, and nothing else changes. A code taken in one's own scope tells
    nothing and is not recorded."""
    make_asset("A-SECRET", "a", owner="officer.a")
    make_asset("A-OTHER", "a1")
    session.rollback()
    kept = sorted(session.exec(select(Asset.code, Asset.name, Asset.department_id, Asset.version)).all())
    b = session.exec(select(Department.id).where(Department.code == "b")).one()

    def probes() -> list[tuple]:
        session.rollback()
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.action == "asset.code_taken").order_by(AuditEntry.seq)
        ).all()
        return [(e.actor, e.channel, e.object_type, e.object_id, e.department_id) for e in entries]

    by_api = api("officer_b")("POST", "/api/v1/assets", json=asset_body("a-secret", department="b", owner="officer.b"))
    assert by_api.status_code == 409
    assert by_api.json["error"]["code"] == "conflict"
    assert probes() == [("officer.b", "api", "asset", "a-secret", b)]

    assert login(client, city["officer_b"]).status_code == 302
    form = {"code": "A-Secret", "name": "Mine", "sector": "transport", "department": "b", "owner": "officer.b"}
    by_page = client.post("/assets/new", data={**form, "csrf_token": csrf_token(client, "/assets/new")})
    assert by_page.status_code == 422  # the form again, with the reason
    assert "A-Secret" in by_page.get_data(as_text=True)
    assert probes()[1:] == [("officer.b", "web", "asset", "A-Secret", b)]

    upload = (
        b"code,name,sector,department,owner\r\n"
        b"B-OWN,Own,transport,b,officer.b\r\n"
        b"a-SECRET,Mine,transport,b,officer.b\r\n"
        b"a-other,Mine too,transport,b,officer.b\r\n"
    )
    by_import = api("officer_b")(
        "POST",
        "/api/v1/assets/import",
        data={"file": (io.BytesIO(upload), "assets.csv")},
        content_type="multipart/form-data",
    )
    assert by_import.status_code == 422
    assert probes()[2:] == [("officer.b", "api", "asset", "a-SECRET", b), ("officer.b", "api", "asset", "a-other", b)]

    # In one's own scope the conflict stays, and there is nothing to record.
    assert api("officer_a")("POST", "/api/v1/assets", json=asset_body("a-secret", department="a")).status_code == 409
    assert len(probes()) == 4
    assert sorted(session.exec(select(Asset.code, Asset.name, Asset.department_id, Asset.version)).all()) == kept
    assert audit.verify(session).ok

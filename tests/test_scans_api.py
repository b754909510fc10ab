"""Scans over the API and the command line: authorizations asked for, decided and revoked; a real
scan of a server the test starts on 127.0.0.x; refusals (no authorization, fragile assets, outside
the maintenance windows); imports of nmap XML; findings filtered, triaged and promoted; scope.

Network rule: nothing here scans anything but the loopback addresses of this host."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import scan_world
from audit_support import run_cli
from sqlmodel import func, select

from assessments.models import Risk
from scans.models import Scan, ScanAuthorization, ScanFinding, ScanObservation
from secgov.models import AuditEntry, Run

NOW = datetime.now(UTC)
# A loopback address of its own for each test that scans, so that nothing else listens there.
HOST = "127.0.0.61"

XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap --unprivileged -sT -n -p 1-100 -oX - {host}" start="1796595523" version="7.93"
 xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="100" services="1-100"/>
<host starttime="1796595523" endtime="1796595523"><status state="up" reason="conn-refused" reason_ttl="0"/>
<address addr="{host}" addrtype="ipv4"/>
<hostnames></hostnames>
<ports>
<port protocol="tcp" portid="23"><state state="open" reason="syn-ack" reason_ttl="0"/>
<service name="telnet" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="0"/>
<service name="http" method="table" conf="3"/></port>
</ports>
</host>
<runstats><finished time="1796595524" timestr="x" elapsed="0.52" exit="success"/><hosts up="1" down="0" total="1"/>
</runstats>
</nmaprun>
"""


@pytest.fixture
def world(city, make_user, make_asset):
    """The city of conftest, an officer who also leads in bureau a, and two assets of unit a1 with a
    loopback target (one serving HTTP where the test says), one of bureau b."""
    users = dict(city)
    users["lead_a"] = make_user("lead.a", roles=("officer", "leader"), department="a")
    users["auditor"] = make_user("auditor.a", roles=("auditor",), department="a")
    assets = {
        "a": make_asset("A-1", "a1", owner="officer.a", network_targets=[HOST], expected_ports=["80/tcp"]),
        "b": make_asset("B-1", "b", owner="officer.b", network_targets=["127.0.0.62"], expected_ports=["80/tcp"]),
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


@pytest.fixture
def http_server():
    """An HTTP server on HOST (a loopback address), on a free port; yields the port."""
    with scan_world.http_server(HOST) as port:
        yield port


def _count(session, model, *where) -> int:
    session.rollback()  # see what the requests committed
    count = session.exec(select(func.count()).select_from(model).where(*where)).one()
    session.rollback()  # and hold no lock while the next request writes
    return count


def _audited(session, action: str) -> list[AuditEntry]:
    session.rollback()
    found = list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())
    session.rollback()
    return found


def _ask(call, scope=(HOST,), **overrides) -> dict:
    body = {
        "scope": list(scope),
        "purpose": "Quarterly check of the exposed services.",
        "valid_from": (NOW - timedelta(hours=1)).isoformat(),
        "valid_until": (NOW + timedelta(days=30)).isoformat(),
        **overrides,
    }
    return call("POST", "/api/v1/scan-authorizations", json=body)


def _authorized(api, scope=(HOST,), **overrides) -> dict:
    """An authorization asked for by officer.a and approved by the city's leader."""
    asked = _ask(api("officer_a"), scope, **overrides)
    assert asked.status_code == 201, asked.json
    approved = api("leader")("POST", f"/api/v1/scan-authorizations/{asked.json['id']}/approve", json={"version": 1})
    assert approved.status_code == 200, approved.json
    return approved.json


def _import(call, asset_id: int, xml: str | bytes, name: str = "scan.xml"):
    data = xml.encode() if isinstance(xml, str) else xml
    return call(
        "POST",
        "/api/v1/scans/import",
        data={"asset_id": str(asset_id), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


# --- authorizations ------------------------------------------------------------------------------


def test_authorization_requested_approved_by_another_leader(api, session):
    asked = _ask(api("lead_a"))
    assert asked.status_code == 201, asked.json
    row = asked.json
    assert {"id", "scope", "purpose", "valid_from", "valid_until", "status", "approved_by"} <= set(row)
    assert row["status"] == "pending" and row["scope"] == [HOST] and row["department"] == "a"
    # The requester, though a leader, cannot decide: refused and audited.
    own = api("lead_a")("POST", f"/api/v1/scan-authorizations/{row['id']}/approve", json={"version": 1})
    assert own.status_code == 403 and "another leader" in own.json["error"]["message"]
    assert len(_audited(session, "scan_authorization.denied")) == 1
    assert session.get(ScanAuthorization, row["id"]).status == "pending"
    # An officer is no approver at all.
    assert (
        api("officer_a")("POST", f"/api/v1/scan-authorizations/{row['id']}/approve", json={"version": 1}).status_code
        == 403
    )
    approved = api("leader")("POST", f"/api/v1/scan-authorizations/{row['id']}/approve", json={"version": 1})
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["approved_by"] == "leader"
    listed = api("auditor")("GET", "/api/v1/scan-authorizations?live=true")
    assert [a["id"] for a in listed.json["items"]] == [row["id"]]
    assert api("auditor")("GET", f"/api/v1/scan-authorizations/{row['id']}").json["status"] == "approved"
    again = api("leader")("POST", f"/api/v1/scan-authorizations/{row['id']}/approve", json={"version": 2})
    assert again.status_code == 409


def test_authorization_rejected_and_revoked(api, make_user, world, session):
    first = _ask(api("officer_a")).json
    no_reason = api("leader")("POST", f"/api/v1/scan-authorizations/{first['id']}/reject", json={"version": 1})
    assert no_reason.status_code == 422
    rejected = api("leader")(
        "POST", f"/api/v1/scan-authorizations/{first['id']}/reject", json={"version": 1, "reason": "Too wide."}
    )
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    second = _authorized(api)
    path = f"/api/v1/scan-authorizations/{second['id']}/revoke"
    # Another officer of the scope is neither the requester, nor an admin or a leader.
    world["users"]["officer_a2"] = make_user("officer.a2", roles=("officer",), department="a")
    other = api("officer_a2")("POST", path, json={"version": 2, "reason": "Not needed."})
    assert other.status_code == 403
    assert [json.loads(e.detail) for e in _audited(session, "scan_authorization.denied")] == [{"action": "revoke"}]
    assert api("auditor")("POST", path, json={"version": 2, "reason": "Not needed."}).status_code == 403
    revoked = api("officer_a")("POST", path, json={"version": 2, "reason": "The audit is over."})
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    assert api("admin")("POST", path, json={"version": 3, "reason": "Again."}).status_code == 409
    third = _authorized(api)
    by_admin = api("admin")(
        "POST", f"/api/v1/scan-authorizations/{third['id']}/revoke", json={"version": 2, "reason": "Stop."}
    )
    assert by_admin.status_code == 200 and by_admin.json["status"] == "revoked"
    assert len(_audited(session, "scan_authorization.revoked")) == 2


def test_authorization_scope_and_dates_refused(api):
    outside = _ask(api("officer_a"), scope=["127.0.0.0/24", "192.0.2.10"])
    assert outside.status_code == 422
    assert "192.0.2.10" in outside.json["error"]["message"]
    backwards = _ask(
        api("officer_a"),
        valid_from=(NOW + timedelta(days=2)).isoformat(),
        valid_until=(NOW + timedelta(days=1)).isoformat(),
    )
    assert backwards.status_code == 422
    assert "must come after its start" in str(backwards.json)
    assert _ask(api("auditor")).status_code == 403


# --- scans ---------------------------------------------------------------------------------------


def test_a_real_scan_through_the_api(api, world, session, http_server, monkeypatch):
    port = http_server
    asset = world["assets"]["a"]
    with session.begin():
        row = session.get(type(asset), asset.id)
        row.expected_ports = [f"{port}/tcp"]
        session.add(row)
    _authorized(api, scope=["127.0.0.0/24"], max_profile="quick")
    asked = api("officer_a")("POST", "/api/v1/scans", json={"asset_id": asset.id, "profile": "quick"})
    assert asked.status_code == 202, asked.json
    assert {"id", "asset_id", "profile", "status", "started_at", "finished_at", "error", "run_id"} <= set(asked.json)
    assert asked.json["status"] == "queued" and asked.json["run_id"]
    assert asked.headers["Location"].endswith(f"/api/v1/scans/{asked.json['id']}")
    scan = api("auditor")("GET", f"/api/v1/scans/{asked.json['id']}").json
    assert scan["status"] == "succeeded", scan
    assert "--unprivileged" in scan["argv"] and "-sT" in scan["argv"]
    assert scan["command_line"].startswith("nmap") and "--unprivileged" in scan["command_line"]
    opened = [o for o in scan["observations"] if o["port"] == port]
    assert opened and opened[0]["state"] == "open" and opened[0]["host"] == HOST
    xml = api("auditor")("GET", f"/api/v1/scans/{scan['id']}/xml")
    assert xml.status_code == 200 and xml.data.startswith(b"<?xml") and b"<nmaprun" in xml.data
    assert "attachment" in xml.headers["Content-Disposition"]
    assert api("leader")("GET", f"/api/v1/scans/{scan['id']}/xml").status_code == 403
    listed = api("leader")("GET", f"/api/v1/scans?asset_id={asset.id}&status=succeeded")
    assert [s["id"] for s in listed.json["items"]] == [scan["id"]]
    assert len(_audited(session, "scan.completed")) == 1


def test_no_authorization_refused_naming_the_target(api, world, session):
    asset = world["assets"]["a"]
    refused = api("officer_a")("POST", "/api/v1/scans", json={"asset_id": asset.id, "profile": "discovery"})
    assert refused.status_code == 403
    assert "No approved scan authorization" in refused.json["error"]["message"]
    _authorized(api, scope=["127.0.0.1"])
    uncovered = api("officer_a")("POST", "/api/v1/scans", json={"asset_id": asset.id, "profile": "discovery"})
    assert uncovered.status_code == 403
    assert HOST in uncovered.json["error"]["message"]
    assert [json.loads(e.detail)["reason"] for e in _audited(session, "scan.refused")] == [
        "no_authorization",
        "outside_scope",
    ]
    assert _count(session, Scan) == 0 and _count(session, Run, Run.kind == "scan.run") == 0
    stronger = _authorized(api, max_profile="discovery")
    assert stronger["max_profile"] == "discovery"
    too_strong = api("officer_a")("POST", "/api/v1/scans", json={"asset_id": asset.id, "profile": "full_tcp"})
    assert too_strong.status_code == 403 and "full_tcp" in too_strong.json["error"]["message"]
    assert api("auditor")("POST", "/api/v1/scans", json={"asset_id": asset.id}).status_code == 403


def test_fragile_assets_and_maintenance_windows(api, world, session):
    asset = world["assets"]["a"]
    policy = api("officer_a")("GET", f"/api/v1/assets/{asset.id}/scan-policy").json
    assert policy["fragile"] is False and policy["version"] == 0
    put = api("officer_a")("PUT", f"/api/v1/assets/{asset.id}/scan-policy", json={"fragile": True})
    assert put.status_code == 200 and put.json["fragile"] is True and put.json["version"] == 1
    assert api("leader")("PUT", f"/api/v1/assets/{asset.id}/scan-policy", json={"fragile": False}).status_code == 403
    _authorized(api, max_profile="standard")
    quick = api("officer_a")("POST", "/api/v1/scans", json={"asset_id": asset.id, "profile": "quick"})
    assert quick.status_code == 403 and "fragile" in quick.json["error"]["message"]
    # The authorization names the fragile profile: allowed (discovery, to stay quick).
    _authorized(api, max_profile="standard", fragile_profile="quick")
    allowed = api("officer_a")("POST", "/api/v1/scans", json={"asset_id": asset.id, "profile": "discovery"})
    assert allowed.status_code == 202, allowed.json
    assert "--max-rate" in api("officer_a")("GET", f"/api/v1/scans/{allowed.json['id']}").json["argv"]
    # A window on another day of the week: outside it, refused.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).weekday()
    window = {"days": [(today + 3) % 7], "start": "01:00", "end": "02:00"}
    body = {"fragile": True, "windows": [window], "version": 1}
    assert api("officer_a")("PUT", f"/api/v1/assets/{asset.id}/scan-policy", json=body).status_code == 200
    closed = api("officer_a")("POST", "/api/v1/scans", json={"asset_id": asset.id, "profile": "discovery"})
    assert closed.status_code == 403 and "maintenance windows" in closed.json["error"]["message"]
    assert json.loads(_audited(session, "scan.refused")[-1].detail)["reason"] == "outside_window"


# --- imports -------------------------------------------------------------------------------------


def test_import_of_nmap_xml(api, world, session):
    asset = world["assets"]["a"]
    imported = _import(api("officer_a"), asset.id, XML.format(host=HOST))
    assert imported.status_code == 201, imported.json
    scan = imported.json
    assert scan["source"] == "import" and scan["status"] == "succeeded" and scan["open_ports"] == 2
    assert _count(session, ScanObservation, ScanObservation.scan_id == scan["id"]) == 2
    findings = api("auditor")("GET", f"/api/v1/findings?scan_id={scan['id']}").json["items"]
    assert [(f["kind"], f["port"], f["severity"]) for f in findings] == [("unexpected_service", 23, "high")]
    assert len(_audited(session, "scan.imported")) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (XML.format(host=HOST)[:600], "cut short"),
        (b"\x00\xffnot xml at all", "not well-formed"),
        ("<?xml version='1.0'?><html><body/></html>", "not nmap XML"),
        (
            '<?xml version="1.0"?><!DOCTYPE nmaprun [<!ENTITY x "y">]><nmaprun>&x;</nmaprun>',
            "DTD or entities",
        ),
    ],
    ids=["truncated", "malformed", "not_nmap", "entities"],
)
def test_hostile_imports_refused(api, world, session, content, expected):
    refused = _import(api("officer_a"), world["assets"]["a"].id, content)
    assert refused.status_code == 400, refused.json
    assert expected in refused.json["error"]["message"]
    assert _count(session, Scan) == 0 and _count(session, ScanObservation) == 0


def test_import_limits_and_asset(api, world, app, session):
    app.config["SECGOV_MAX_UPLOAD_BYTES"] = 500
    too_large = _import(api("officer_a"), world["assets"]["a"].id, XML.format(host=HOST))
    assert too_large.status_code in (400, 413), too_large.json
    app.config["SECGOV_MAX_UPLOAD_BYTES"] = 20 * 1024 * 1024
    other = _import(api("officer_a"), world["assets"]["b"].id, XML.format(host=HOST))
    assert other.status_code == 422
    missing = api("officer_a")("POST", "/api/v1/scans/import", data={"asset_id": "1"})
    assert missing.status_code == 422
    assert _count(session, Scan) == 0


# --- findings ------------------------------------------------------------------------------------


def test_findings_filters_triage_and_promotion(api, world, session):
    asset = world["assets"]["a"]
    scan = _import(api("officer_a"), asset.id, XML.format(host=HOST)).json
    [finding] = api("officer_a")("GET", "/api/v1/findings?severity=high&status=open").json["items"]
    assert {"id", "asset_id", "scan_id", "kind", "host", "port", "protocol", "severity", "status"} <= set(finding)
    assert finding["scan_id"] == scan["id"] and finding["host"] == HOST and finding["protocol"] == "tcp"
    assert api("officer_a")("GET", "/api/v1/findings?severity=low").json["total"] == 0
    assert api("officer_a")("GET", "/api/v1/findings?department=a").json["total"] == 1
    assert api("officer_a")("GET", "/api/v1/findings?department=b").status_code == 422
    path = f"/api/v1/findings/{finding['id']}"
    acked = api("officer_a")("POST", f"{path}/triage", json={"action": "acknowledge", "note": "Known.", "version": 1})
    assert (
        acked.status_code == 200 and acked.json["status"] == "acknowledged" and acked.json["triaged_by"] == "officer.a"
    )
    stale = api("officer_a")("POST", f"{path}/triage", json={"action": "resolve", "version": 1})
    assert stale.status_code == 409
    assert api("leader")("POST", f"{path}/triage", json={"action": "resolve", "version": 2}).status_code == 403
    promoted = api("officer_a")("POST", f"{path}/promote")
    assert promoted.status_code == 201, promoted.json
    risk_id = promoted.json["id"]
    assert session.get(Risk, risk_id).asset_id == asset.id
    after = api("auditor")("GET", path).json
    assert after["status"] == "promoted" and after["risk_id"] == risk_id
    twice = api("officer_a")("POST", f"{path}/promote")
    assert twice.status_code == 409
    assert _count(session, Risk) == 1


def test_another_bureaus_scans_and_findings_are_not_found(api, world, session):
    scan = _import(api("officer_b"), world["assets"]["b"].id, XML.format(host="127.0.0.62")).json
    finding_id = session.exec(select(ScanFinding.id).where(ScanFinding.scan_id == scan["id"])).one()
    officer = api("officer_a")
    assert officer("GET", f"/api/v1/scans/{scan['id']}").status_code == 404
    assert officer("GET", f"/api/v1/scans/{scan['id']}/xml").status_code == 404
    assert officer("GET", f"/api/v1/findings/{finding_id}").status_code == 404
    assert officer("POST", f"/api/v1/findings/{finding_id}/promote").status_code == 404
    assert officer("GET", "/api/v1/scans").json["total"] == 0
    assert officer("GET", "/api/v1/findings").json["total"] == 0
    assert officer("GET", f"/api/v1/assets/{world['assets']['b'].id}/scan-policy").status_code == 404
    assert api("admin")("GET", f"/api/v1/scans/{scan['id']}").status_code == 200


def test_the_openapi_document_describes_the_scan_paths(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/scan-authorizations",
        "/api/v1/scan-authorizations/{authorization_id}/revoke",
        "/api/v1/scans",
        "/api/v1/scans/import",
        "/api/v1/scans/{scan_id}/xml",
        "/api/v1/findings/{finding_id}/promote",
        "/api/v1/assets/{asset_id}/scan-policy",
    ):
        assert path in paths, path
    assert "202" in paths["/api/v1/scans"]["post"]["responses"]


# --- the command line ----------------------------------------------------------------------------


def test_scan_run_on_the_command_line(database_url, api, world, session):
    _authorized(api, scope=["127.0.0.0/24"])
    as_user = run_cli(database_url, "scan", "run", "A-1", "--profile", "discovery", "--as", "officer.a")
    assert as_user.exit_code == 0, as_user.stderr
    assert as_user.stdout.startswith("scan #") and "succeeded" in as_user.stdout
    as_system = run_cli(database_url, "scan", "run", "a-1", "--profile", "discovery")
    assert as_system.exit_code == 0, as_system.stderr
    session.rollback()
    scans = session.exec(select(Scan).order_by(Scan.id)).all()
    assert [(s.requested_by, s.status) for s in scans] == [("officer.a", "succeeded"), ("system", "succeeded")]
    assert "-sn" in scans[0].argv and "--unprivileged" in scans[0].argv
    auditor = run_cli(database_url, "scan", "run", "A-1", "--as", "auditor.a")
    assert auditor.exit_code == 2 and "roles needed" in auditor.stderr
    too_strong = run_cli(database_url, "scan", "run", "A-1", "--profile", "full_tcp")
    assert too_strong.exit_code == 2 and "full_tcp" in too_strong.stderr
    out_of_scope = run_cli(database_url, "scan", "run", "B-1", "--profile", "discovery", "--as", "officer.a")
    assert out_of_scope.exit_code == 2 and "Unknown asset" in out_of_scope.stderr
    assert run_cli(database_url, "scan", "run", "NOPE").exit_code == 2
    assert _count(session, Scan) == 2


def test_scan_import_on_the_command_line(database_url, world, session, tmp_path):
    good = tmp_path / "good.xml"
    good.write_text(XML.format(host=HOST), encoding="utf-8")
    result = run_cli(database_url, "scan", "import", "A-1", str(good), "--as", "officer.a")
    assert result.exit_code == 0, result.stderr
    assert "succeeded" in result.stdout and "1 findings" in result.stdout
    bad = tmp_path / "bad.xml"
    bad.write_text(XML.format(host=HOST)[:500], encoding="utf-8")
    refused = run_cli(database_url, "scan", "import", "A-1", str(bad))
    assert refused.exit_code == 2 and "cut short" in refused.stderr
    assert _count(session, Scan) == 1

"""The pages of the scans domain: they render in both languages for the least privileged role that
sees them, "Scan now" queues and (tasks immediate) runs a real nmap scan of servers this test
starts on 127.0.0.x, refusals show their message and queue nothing, triage and promotion work, the
authorization workflow's forms do what the service allows, and another department's records are
not found."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import scan_world
from helpers import csrf_token, login
from sqlmodel import Session, select

from assessments.models import Risk
from scans import authorizations, policy
from scans.models import Scan, ScanAuthorization, ScanFinding, ScanPolicy
from scans.schemas import AuthorizationCreate, Decision
from scans.views.scans import windows_from_text
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import write_session
from secgov.models import Run
from secgov.snapshots import local_today

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
HOST = "127.0.0.61"  # this module's servers listen here (loopback only)


def _engine(app):
    return app.extensions["secgov_engine"]


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def post(client, path: str, data: dict, page: str, headers=EN):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)}, headers=headers)


def authorize(app, requester, approver, scope: list[str], **fields) -> int:
    """An authorization asked for by requester and approved by approver (None: left pending)."""
    config = ServiceConfig.from_mapping(app.config)
    now = datetime.now(UTC)
    data = AuthorizationCreate(
        scope=scope,
        purpose="Monthly check of the exposed services",
        valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(days=30),
        **fields,
    )
    with app.test_request_context(headers=EN), write_session(_engine(app)) as own:
        row = authorizations.request(own, Actor.of(requester, "cli"), data, config)
        if approver is not None:
            authorizations.approve(own, Actor.of(approver, "cli"), row.id, Decision(version=row.version), config)
        return row.id


def stored_scan(app, asset, severity="medium", status="open", **finding) -> tuple[int, int]:
    """A finished scan of the asset with one finding (plain rows)."""
    with Session(_engine(app)) as own:
        scan = Scan(
            asset_id=asset.id, profile="quick", status="succeeded", targets=[HOST], argv=["nmap", "-sT", HOST],
            command_line=f"nmap -sT {HOST}", nmap_version="7.93", requested_by="officer.a", hosts_up=1, hosts_total=1,
            open_ports=1, findings=1, started_at=datetime.now(UTC), finished_at=datetime.now(UTC), elapsed=1.5,
        )  # fmt: skip
        own.add(scan)
        own.flush()
        row = ScanFinding(
            asset_id=asset.id, scan_id=scan.id, host=HOST, port=23, protocol="tcp", severity=severity, status=status,
            **{"kind": "unexpected_service", "detail": {"service": "telnet"}, **finding},
        )  # fmt: skip
        own.add(row)
        own.commit()
        return scan.id, row.id


@pytest.fixture
def servers():
    """An HTTP server on a free port of HOST (the asset's expected port) and one on 8888 (a port
    of the quick profile the asset does not expect)."""
    with scan_world.http_server(HOST) as expected, scan_world.http_server(HOST, 8888) as unexpected:
        yield [expected, unexpected]


@pytest.fixture
def world(app, city, make_asset, make_user):
    """Bureau a's asset on HOST (officer.a owns it), one without targets, bureau b's asset; a
    drill team member and an auditor of bureau a (who only read); a second leader."""
    asset = make_asset("WEB-01", "a", owner="officer.a", network_targets=[HOST], expected_ports=["80/tcp"])
    bare = make_asset("DOC-01", "a", owner="officer.a")
    other = make_asset("PUMP-01", "b", "utilities", owner="officer.b", network_targets=["127.0.0.62"])
    return {
        **city,
        "asset": asset,
        "bare": bare,
        "other": other,
        "reader": make_user("drill.a", roles=("drill_team",), department="a"),
        "auditor": make_user("auditor.a", roles=("auditor",), department="a"),
        "leader2": make_user("leader.two", roles=("leader",), department="city"),
    }


def _count(app, model) -> int:
    with Session(_engine(app)) as own:
        return len(own.exec(select(model)).all())


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers,lang", [(EN, "en"), (ZH, "zh-CN")])
def test_every_page_renders_for_a_reader_in_both_languages(app, world, headers, lang):
    scan_id, finding_id = stored_scan(app, world["asset"])
    grant = authorize(app, world["officer_a"], world["leader"], [HOST])
    reader = signed_in(app, world["reader"])
    asset = world["asset"]
    paths = [
        "/scans",
        f"/scans?asset={asset.code}&status=succeeded&profile=quick&source=scan",
        f"/scans?asset_id={asset.id}",
        "/scans?asset=NO-SUCH",
        f"/scans/{scan_id}",
        "/scans/findings",
        "/scans/findings?department=a&asset=WEB-01&kind=unexpected_service&severity=medium&status=open",
        f"/scans/findings?scan_id={scan_id}",
        f"/scans/findings/{finding_id}",
        "/scans/authorizations",
        "/scans/authorizations?status=approved&zone=local&live=true",
        f"/scans/authorizations/{grant}",
        f"/assets/{asset.id}",
        f"/assets/{world['bare'].id}",
    ]
    for path in paths:
        response = reader.get(path, headers=headers)
        assert response.status_code == 200, path
        page = text(response)
        assert f'<html lang="{lang}"' in page, path
        assert "None" not in re.sub(r"<[^>]+>", " ", page), path
        # A reader sees no forms that change anything.
        assert 'action="/scans/' not in page, path
    asset_page = text(reader.get(f"/assets/{asset.id}", headers=headers))
    assert 'id="scans"' in asset_page and f"/scans/{scan_id}" in asset_page
    # The asset page's links filter by id: the filter shows the asset's code.
    for path in (f"/scans?asset_id={asset.id}", f"/scans/findings?asset_id={asset.id}"):
        assert f'name="asset" value="{asset.code}"' in text(reader.get(path, headers=headers)), path
    assert f"/scans/{scan_id}" not in text(reader.get(f"/scans?asset_id={world['other'].id}", headers=headers))


@pytest.mark.parametrize("headers", [EN, ZH])
def test_writer_pages_render(app, world, headers):
    officer = signed_in(app, world["officer_a"])
    for path in (f"/scans/assets/{world['asset'].id}/policy", "/scans/authorizations/new"):
        response = officer.get(path, headers=headers)
        assert response.status_code == 200, path
    page = text(officer.get(f"/assets/{world['asset'].id}", headers=headers))
    assert 'action="/scans/new"' in page and 'name="profile"' in page
    assert f"/scans/assets/{world['asset'].id}/policy" in page


def test_the_menu_names_scans(app, world):
    reader = signed_in(app, world["reader"])
    assert 'href="/scans"' in text(reader.get("/", headers=EN))


def test_the_running_scan_refreshes_itself(app, world):
    scan_id, _f = stored_scan(app, world["asset"])
    with Session(_engine(app)) as own:
        scan = own.get(Scan, scan_id)
        scan.status, scan.zone = "waiting", "dmz"
        own.add(scan)
        own.commit()
    page = text(signed_in(app, world["reader"]).get(f"/scans/{scan_id}", headers=EN))
    assert '<meta http-equiv="refresh" content="3">' in page
    assert "<progress" in page
    assert "No agent of the network zone dmz" in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []  # no inline script: the CSP forbids it
    assert " style=" not in page


# --- "Scan now" --------------------------------------------------------------------------------


def test_scan_now_queues_and_runs_a_real_scan(app, world, servers):
    expected, unexpected = servers
    asset = world["asset"]
    with Session(_engine(app)) as own:
        row = own.get(type(asset), asset.id)
        row.expected_ports = [f"{expected}/tcp"]
        own.add(row)
        own.commit()
    grant = authorize(app, world["officer_a"], world["leader"], ["127.0.0.0/24"])
    officer = signed_in(app, world["officer_a"])
    response = post(officer, "/scans/new", {"asset_id": asset.id, "profile": "quick"}, f"/assets/{asset.id}")
    assert response.status_code in (302, 303)
    match = re.fullmatch(r"/scans/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    scan_id = int(match[1])
    with Session(_engine(app)) as own:
        scan = own.get(Scan, scan_id)
        assert scan.authorization_id == grant
        assert scan.status == "succeeded", (scan.error, scan.detail)
        assert own.get(Run, scan.run_id).status == "succeeded"
    page = text(officer.get(f"/scans/{scan_id}", headers=EN))
    assert "Succeeded" in page and "http-equiv" not in page
    assert f"<code>{expected}</code>" not in page  # ports are numbers in their cells
    assert f">{expected}</td>" in page and f">{unexpected}</td>" in page
    assert '"--unprivileged", "-n"' in page  # the argument vector, exactly
    assert f"/scans/{scan_id}/xml" in page
    assert "Unexpected service" in page  # 8888 is open and not expected
    xml = officer.get(f"/scans/{scan_id}/xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert "attachment" in xml.headers["Content-Disposition"]
    assert xml.data.lstrip().startswith(b"<?xml") and b"<nmaprun" in xml.data
    asset_page = text(officer.get(f"/assets/{asset.id}", headers=EN))
    assert f"/scans/{scan_id}" in asset_page and "Unexpected service" in asset_page


@pytest.mark.parametrize(
    "scope,expected",
    [
        (None, "No approved scan authorization of the zone local is valid now for this asset."),
        (["127.0.0.99"], f"No valid authorization covers the target {HOST}."),
    ],
)
def test_a_refused_scan_shows_why_and_queues_nothing(app, world, scope, expected):
    if scope is not None:
        authorize(app, world["officer_a"], world["leader"], scope)
    asset = world["asset"]
    officer = signed_in(app, world["officer_a"])
    scans, jobs = _count(app, Scan), _count(app, Run)
    response = post(officer, "/scans/new", {"asset_id": asset.id, "profile": "quick"}, f"/assets/{asset.id}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/assets/{asset.id}")
    page = text(officer.get(f"/assets/{asset.id}", headers=EN))
    assert expected in page
    assert (_count(app, Scan), _count(app, Run)) == (scans, jobs)


def test_an_asset_without_targets_cannot_be_scanned(app, world):
    bare = world["bare"]
    officer = signed_in(app, world["officer_a"])
    page = text(officer.get(f"/assets/{bare.id}", headers=EN))
    assert 'action="/scans/new"' not in page and "no network targets" in page
    response = post(officer, "/scans/new", {"asset_id": bare.id, "profile": "discovery"}, f"/assets/{bare.id}")
    assert response.status_code == 302
    assert "This asset has no network targets to scan." in text(officer.get(f"/assets/{bare.id}", headers=EN))
    assert _count(app, Scan) == 0


def test_another_departments_asset_cannot_be_scanned(app, world):
    officer = signed_in(app, world["officer_a"])
    other = world["other"]
    response = post(officer, "/scans/new", {"asset_id": other.id, "profile": "discovery"}, "/scans")
    assert response.status_code == 302
    assert "Unknown asset." in text(officer.get("/scans", headers=EN))
    assert _count(app, Scan) == 0


# --- triage and promotion -------------------------------------------------------------------------


def test_triage_from_the_register_and_the_finding_page(app, world):
    _scan, finding_id = stored_scan(app, world["asset"])
    officer = signed_in(app, world["officer_a"])
    register = "/scans/findings?status=open"
    page = text(officer.get(register, headers=EN))
    assert f'action="/scans/findings/{finding_id}/triage"' in page
    response = post(
        officer, f"/scans/findings/{finding_id}/triage",
        {"action": "acknowledge", "note": "Known, a test box", "version": "1", "next": register}, register,
    )  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == register
    with Session(_engine(app)) as own:
        finding = own.get(ScanFinding, finding_id)
        assert (finding.status, finding.note, finding.triaged_by) == ("acknowledged", "Known, a test box", "officer.a")
    page = text(officer.get(f"/scans/findings/{finding_id}", headers=EN))
    assert "Acknowledged" in page and "Known, a test box" in page
    # A stale version is refused with its message; nothing changes.
    response = post(
        officer, f"/scans/findings/{finding_id}/triage", {"action": "resolve", "version": "1"},
        f"/scans/findings/{finding_id}",
    )  # fmt: skip
    assert response.status_code == 302
    assert "flash-danger" in text(officer.get(f"/scans/findings/{finding_id}", headers=EN))
    for action, status in (("resolve", "resolved"), ("reopen", "open"), ("false_positive", "false_positive")):
        with Session(_engine(app)) as own:
            version = own.get(ScanFinding, finding_id).version
        post(
            officer, f"/scans/findings/{finding_id}/triage", {"action": action, "version": version},
            f"/scans/findings/{finding_id}",
        )  # fmt: skip
        with Session(_engine(app)) as own:
            assert own.get(ScanFinding, finding_id).status == status


def test_promote_a_finding_to_a_risk(app, world):
    _scan, finding_id = stored_scan(app, world["asset"], severity="high")
    officer = signed_in(app, world["officer_a"])
    page = text(officer.get(f"/scans/findings/{finding_id}", headers=EN))
    assert 'id="promote"' in page
    due = (date.today() + timedelta(days=30)).isoformat()
    response = post(
        officer, f"/scans/findings/{finding_id}/promote",
        {"owner": "officer.a", "due_date": due, "treatment": "reduce"}, f"/scans/findings/{finding_id}",
    )  # fmt: skip
    assert response.status_code == 302
    match = re.fullmatch(r"/risks/(\d+)", response.headers["Location"])
    assert match
    with Session(_engine(app)) as own:
        risk = own.get(Risk, int(match[1]))
        assert (risk.due_date.isoformat(), risk.treatment) == (due, "reduce")
        assert own.get(ScanFinding, finding_id).status == "promoted"
    page = text(officer.get(f"/scans/findings/{finding_id}", headers=EN))
    assert f'href="/risks/{match[1]}"' in page and 'id="promote"' not in page
    assert f'href="/risks/{match[1]}"' in text(officer.get("/scans/findings", headers=EN))
    # A bad due date shows its message on the form.
    _s, second = stored_scan(app, world["asset"])
    response = post(
        officer, f"/scans/findings/{second}/promote", {"due_date": "tomorrow", "treatment": "reduce"},
        f"/scans/findings/{second}",
    )  # fmt: skip
    assert response.status_code == 422 and 'class="has-error"' in text(response)


def test_a_closed_port_is_shown_and_promoted(app, world):
    """A closed port's finding has no "after": its page and its risk name the service seen before."""
    detail = {"before": {"state": "open", "service": "http-alt"}, "after": None, "expected": True}
    _scan, finding_id = stored_scan(app, world["asset"], severity="high", kind="port_closed", detail=detail)
    officer = signed_in(app, world["officer_a"])
    page = text(officer.get(f"/scans/findings/{finding_id}", headers=EN))
    assert "Port closed" in page and "http-alt" in page
    response = post(
        officer, f"/scans/findings/{finding_id}/promote", {"treatment": "reduce"}, f"/scans/findings/{finding_id}"
    )
    risk_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with Session(_engine(app)) as own:
        assert own.get(Risk, risk_id).title == f"Port closed: {HOST}:23/tcp (http-alt)"


def test_readers_cannot_triage(app, world):
    _scan, finding_id = stored_scan(app, world["asset"])
    reader = signed_in(app, world["reader"])
    response = reader.post(
        f"/scans/findings/{finding_id}/triage",
        data={"action": "acknowledge", "version": "1", "csrf_token": csrf_token(reader, "/scans/findings")},
    )
    assert response.status_code == 403


# --- authorizations ----------------------------------------------------------------------------------


def test_ask_for_approve_and_revoke_an_authorization(app, world):
    officer = signed_in(app, world["officer_a"])
    today = local_today("Asia/Shanghai")
    form = {
        "scope": f"{HOST}\n127.0.0.0/28\n",
        "purpose": "Quarterly exposure check",
        "zone": "local",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=10)).isoformat(),
        "max_profile": "quick",
        "fragile_profile": "discovery",
        "department": "",
    }
    response = post(officer, "/scans/authorizations/new", form, "/scans/authorizations/new")
    assert response.status_code == 302
    authorization_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with Session(_engine(app)) as own:
        row = own.get(ScanAuthorization, authorization_id)
        assert (row.scope, row.status, row.max_profile) == ([HOST, "127.0.0.0/28"], "pending", "quick")
        assert (row.valid_until - row.valid_from).days == 11  # the last day included
    page = text(officer.get(f"/scans/authorizations/{authorization_id}", headers=EN))
    assert "/approve" not in page and "/revoke" in page
    leader = signed_in(app, world["leader"])
    page = text(leader.get(f"/scans/authorizations/{authorization_id}", headers=EN))
    assert f'action="/scans/authorizations/{authorization_id}/approve"' in page
    # Rejecting needs a reason: the form shows the message.
    response = post(
        leader, f"/scans/authorizations/{authorization_id}/reject", {"version": "1", "reason": " "},
        f"/scans/authorizations/{authorization_id}",
    )  # fmt: skip
    assert response.status_code == 422 and "has-error" in text(response)
    response = post(
        leader, f"/scans/authorizations/{authorization_id}/approve", {"version": "1"},
        f"/scans/authorizations/{authorization_id}",
    )  # fmt: skip
    assert response.status_code == 302
    page = text(leader.get(f"/scans/authorizations/{authorization_id}", headers=EN))
    assert "Approved" in page and "/approve" not in page
    response = post(
        officer, f"/scans/authorizations/{authorization_id}/revoke", {"version": "2", "reason": "Project ended"},
        f"/scans/authorizations/{authorization_id}",
    )  # fmt: skip
    assert response.status_code == 302
    with Session(_engine(app)) as own:
        assert own.get(ScanAuthorization, authorization_id).status == "revoked"


def test_a_leader_cannot_approve_their_own_request(app, world):
    grant = authorize(app, world["leader"], None, [HOST])
    leader = signed_in(app, world["leader"])
    page = text(leader.get(f"/scans/authorizations/{grant}", headers=EN))
    assert "/approve" not in page and "another leader decides" in page
    response = post(
        leader, f"/scans/authorizations/{grant}/approve", {"version": "1"}, f"/scans/authorizations/{grant}"
    )
    assert response.status_code == 302
    assert "You cannot decide on an authorization you asked for" in text(
        leader.get(f"/scans/authorizations/{grant}", headers=EN)
    )
    with Session(_engine(app)) as own:
        assert own.get(ScanAuthorization, grant).status == "pending"
    other = signed_in(app, world["leader2"])
    assert f"/scans/authorizations/{grant}/approve" in text(other.get(f"/scans/authorizations/{grant}", headers=EN))


def test_only_its_requester_an_admin_or_a_leader_revokes(app, world, make_user):
    grant = authorize(app, world["officer_a"], world["leader"], [HOST])
    colleague = signed_in(app, make_user("officer.a2", roles=("officer",), department="a"))
    path = f"/scans/authorizations/{grant}"
    assert f"{path}/revoke" not in text(colleague.get(path, headers=EN))
    response = post(colleague, f"{path}/revoke", {"version": "2", "reason": "Mine now"}, path)
    assert response.status_code == 403
    assert "Only the requester, an admin or a leader can revoke an authorization." in text(response)
    with Session(_engine(app)) as own:
        assert own.get(ScanAuthorization, grant).status == "approved"
    assert f"{path}/revoke" in text(signed_in(app, world["leader2"]).get(path, headers=EN))


def test_a_bad_authorization_shows_its_messages_and_saves_nothing(app, world):
    officer = signed_in(app, world["officer_a"])
    today = local_today("Asia/Shanghai").isoformat()
    form = {"scope": "10.0.0.1", "purpose": "x", "zone": "local", "valid_from": today, "valid_until": today}
    response = post(officer, "/scans/authorizations/new", form, "/scans/authorizations/new")
    assert response.status_code == 422
    assert "10.0.0.1 lies outside the networks that scans may reach" in text(response)
    response = post(officer, "/scans/authorizations/new", {**form, "scope": ""}, "/scans/authorizations/new")
    assert response.status_code == 422 and "has-error" in text(response)
    assert _count(app, ScanAuthorization) == 0


# --- the asset's scan policy -----------------------------------------------------------------------


def test_edit_the_scan_policy(app, world):
    asset = world["asset"]
    officer = signed_in(app, world["officer_a"])
    path = f"/scans/assets/{asset.id}/policy"
    form = {"zone": "local", "fragile": "true", "windows": "5,6 01:00-05:00\n0-4 23:00-02:00", "max_rate": "10"}
    response = post(officer, path, form, path)
    assert response.status_code == 302
    with Session(_engine(app)) as own:
        row = own.get(ScanPolicy, asset.id)
        assert row.fragile is True and row.max_rate == 10
        assert row.windows == [
            {"days": [5, 6], "start": "01:00", "end": "05:00"},
            {"days": [0, 1, 2, 3, 4], "start": "23:00", "end": "02:00"},
        ]
        assert policy.effective(own, own.get(type(asset), asset.id)).fragile
    page = text(officer.get(f"/assets/{asset.id}", headers=EN))
    assert "Marked fragile in its scan policy." in page and "at most 10 packets a second" in page
    assert "Sat, Sun 01:00–05:00" in page
    # The form shows what is stored; a bad line is refused with its message.
    assert "5,6 01:00-05:00" in text(officer.get(path, headers=EN))
    response = post(officer, path, {**form, "windows": "weekends at night", "version": "1"}, path)
    assert response.status_code == 422
    assert "such as 0-4 01:00-05:00" in text(response)
    response = post(officer, path, {**form, "zone": "Bad Zone!", "version": "1"}, path)
    assert response.status_code == 422 and "has-error" in text(response)


@pytest.mark.nodb
def test_windows_from_text():
    assert windows_from_text("") == []
    assert windows_from_text("0-2,6 1:00 – 5:30") == [{"days": [0, 1, 2, 6], "start": "01:00", "end": "05:30"}]
    assert windows_from_text("mon 01:00-02:00") is None
    assert windows_from_text("0 01:00") is None


# --- scope ------------------------------------------------------------------------------------------


def test_another_departments_records_are_not_found(app, world):
    scan_id, finding_id = stored_scan(app, world["asset"])
    grant = authorize(app, world["officer_a"], world["leader"], [HOST])
    outsider = signed_in(app, world["officer_b"])
    for path in (
        f"/scans/{scan_id}",
        f"/scans/{scan_id}/xml",
        f"/scans/findings/{finding_id}",
        f"/scans/authorizations/{grant}",
        f"/scans/assets/{world['asset'].id}/policy",
    ):
        assert outsider.get(path).status_code == 404, path
    response = post(
        outsider, f"/scans/findings/{finding_id}/triage", {"action": "acknowledge", "version": "1"}, "/scans/findings"
    )
    assert response.status_code == 404
    assert f"/scans/{scan_id}" not in text(outsider.get("/scans", headers=EN))
    assert f"/scans/findings/{finding_id}" not in text(outsider.get("/scans/findings", headers=EN))

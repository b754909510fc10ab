"""Scans through their services: authorizations (another leader approves; the allowed networks
bound every scope), the covering check before anything is queued (uncovered target named, zone,
department subtree, profile ceilings, fragile assets and their maintenance windows), real nmap
runs of servers the test starts on 127.0.0.x with findings appearing as ports open and close,
the dedupe of findings, triage and promotion to the risk register, and failures of nmap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import config_of
from scan_world import http_server
from sqlmodel import select

from assessments import rule as assessment_rule
from assessments.models import Risk
from scans import authorizations, findings, ingest, jobs, nmap, policy, services
from scans.models import Scan, ScanFinding, ScanObservation, ScanResult
from scans.schemas import (
    AuthorizationCreate,
    Decision,
    FindingPromotion,
    PolicyUpdate,
    Rejection,
    ScanRequest,
    Triage,
    Window,
)
from secgov import tasks
from secgov.authz import Actor
from secgov.errors import Conflict, Forbidden, Invalid
from secgov.models import Run

NOW = datetime.now(UTC)


@pytest.fixture
def ctx(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def people(city, make_user):
    return {
        **{k: Actor.of(v, "api") for k, v in city.items()},
        "leader2": Actor.of(make_user("leader.two", roles=("leader",), department="city"), "api"),
    }


def authorize(app, session, people, scope, *, zone="local", department=None, max_profile="standard",
              fragile_profile="discovery", start=None, end=None):  # fmt: skip
    data = AuthorizationCreate(
        scope=scope, purpose="Quarterly exposure check", zone=zone, department=department,
        valid_from=start or NOW - timedelta(hours=1), valid_until=end or NOW + timedelta(days=30),
        max_profile=max_profile, fragile_profile=fragile_profile,
    )  # fmt: skip
    row = authorizations.request(session, people["officer_a"], data, config_of(app))
    authorizations.approve(session, people["leader"], row.id, Decision(version=row.version), config_of(app))
    session.commit()
    return row


def ask(app, session, actor, asset_id, profile="quick"):
    scan = services.request_scan(session, actor, ScanRequest(asset_id=asset_id, profile=profile), config_of(app),
                                 kind=jobs.SCAN)  # fmt: skip
    session.commit()
    return scan


def run(app, session, scan) -> Scan:
    """Do the scan's run now (what a worker does), then read the scan again."""
    tasks.platform_of(app).dispatch([scan.run_id])
    session.expire_all()
    return session.get(Scan, scan.id)


# --- authorizations -----------------------------------------------------------------------------


def test_an_authorization_is_approved_by_a_leader_other_than_the_requester(app, session, people, ctx):
    data = AuthorizationCreate(
        scope=["127.0.0.0/24"], purpose="check", valid_from=NOW, valid_until=NOW + timedelta(days=2)
    )
    row = authorizations.request(session, people["leader"], data, config_of(app))
    with pytest.raises(Forbidden, match="another leader"):
        authorizations.approve(session, people["leader"], row.id, Decision(version=row.version), config_of(app))
    done = authorizations.approve(session, people["leader2"], row.id, Decision(version=row.version), config_of(app))
    assert (done.status, done.approved_by) == ("approved", "leader.two")
    with pytest.raises(Conflict):
        authorizations.reject(session, people["leader2"], row.id, Rejection(version=done.version, reason="no"))


@pytest.mark.parametrize("target", ["10.0.0.0/24", "192.168.1.10", "8.8.8.8", "::1", "172.16.0.0/12"])
def test_a_scope_outside_the_allowed_networks_is_refused_naming_the_target(app, session, people, ctx, target):
    data = AuthorizationCreate(scope=["127.0.0.1", target], purpose="x", valid_from=NOW, valid_until=NOW + timedelta(1))
    with pytest.raises(Invalid) as refused:
        authorizations.request(session, people["officer_a"], data, config_of(app))
    assert target.split("/")[0] in refused.value.message


def test_bad_authorizations_are_refused_before_anything_is_written(app, session, people, ctx):
    with pytest.raises(ValueError, match="after its start"):
        AuthorizationCreate(scope=["127.0.0.1"], purpose="x", valid_from=NOW, valid_until=NOW - timedelta(hours=1))
    with pytest.raises(ValueError, match="stronger"):
        AuthorizationCreate(scope=["127.0.0.1"], purpose="x", valid_from=NOW, valid_until=NOW + timedelta(1),
                            max_profile="quick", fragile_profile="full_tcp")  # fmt: skip
    for hostile in ["-iL /etc/passwd", "127.0.0.1;id", "127.0.0.1-5", "--script=x"]:
        with pytest.raises(ValueError):
            AuthorizationCreate(scope=[hostile], purpose="x", valid_from=NOW, valid_until=NOW + timedelta(1))


# --- the covering check ---------------------------------------------------------------------------


def test_without_an_authorization_nothing_is_queued_and_the_refusal_names_why(app, session, people, make_asset, ctx):
    asset = make_asset("NET-1", "a", owner="officer.a", network_targets=["127.0.0.61", "127.0.0.62"])
    with pytest.raises(Forbidden, match="zone local"):
        ask(app, session, people["officer_a"], asset.id)
    session.rollback()
    authorize(app, session, people, ["127.0.0.61"])
    with pytest.raises(Forbidden, match="127.0.0.62") as refused:
        ask(app, session, people["officer_a"], asset.id)
    session.rollback()
    assert refused.value.refusal.detail["target"] == "127.0.0.62"
    assert session.exec(select(Scan)).all() == [] and session.exec(select(Run)).all() == []


def test_an_authorization_covers_its_department_subtree_and_zone_only(app, session, people, make_asset, ctx):
    mine = make_asset("NET-A1", "a1", owner="officer.a", network_targets=["127.0.0.63"])
    other = make_asset("NET-B", "b", owner="officer.b", network_targets=["127.0.0.63"])
    authorize(app, session, people, ["127.0.0.0/24"], department="a")
    assert ask(app, session, people["officer_a"], mine.id).status == "queued"
    with pytest.raises(Forbidden):
        ask(app, session, people["admin"], other.id)
    session.rollback()
    policy.update(session, people["officer_a"], mine.id, PolicyUpdate(zone="dmz"))
    session.commit()
    with pytest.raises(Forbidden, match="zone dmz"):
        ask(app, session, people["officer_a"], mine.id)


def test_a_profile_stronger_than_the_authorization_allows_is_refused(app, session, people, make_asset, ctx):
    asset = make_asset("NET-2", "a", owner="officer.a", network_targets=["127.0.0.64"])
    authorize(app, session, people, ["127.0.0.64"], max_profile="quick")
    assert ask(app, session, people["officer_a"], asset.id, "quick").profile == "quick"
    with pytest.raises(Forbidden, match="full_tcp"):
        ask(app, session, people["officer_a"], asset.id, "full_tcp")


def test_fragile_assets_get_discovery_only_unless_a_leader_authorized_more(app, session, people, make_asset, ctx):
    scada = make_asset("WTR-1", "a", "utilities", owner="officer.a", is_cii=True, network_targets=["127.0.0.65"])
    assert policy.effective(session, scada).fragile  # CII in utilities: fragile by default
    authorize(app, session, people, ["127.0.0.65"])
    with pytest.raises(Forbidden, match="fragile"):
        ask(app, session, people["officer_a"], scada.id, "standard")
    session.rollback()
    scan = ask(app, session, people["officer_a"], scada.id, "discovery")
    assert "--max-rate" in scan.argv  # held to the fragile rate
    authorize(app, session, people, ["127.0.0.65"], fragile_profile="quick")
    assert ask(app, session, people["officer_a"], scada.id, "quick").profile == "quick"


def test_fragile_assets_start_only_inside_their_maintenance_windows(app, session, people, make_asset, ctx):
    scada = make_asset("WTR-2", "a", "energy", owner="officer.a", is_cii=True, network_targets=["127.0.0.66"])
    authorize(app, session, people, ["127.0.0.66"])
    local = NOW.astimezone(policy.ZoneInfo(config_of(app).timezone))
    closed = Window(days=[(local.weekday() + 3) % 7], start="01:00", end="02:00")
    policy.update(session, people["officer_a"], scada.id, PolicyUpdate(windows=[closed]))
    session.commit()
    with pytest.raises(Forbidden, match="maintenance windows") as refused:
        ask(app, session, people["officer_a"], scada.id, "discovery")
    session.rollback()
    assert refused.value.refusal.action == "scan.refused"
    assert refused.value.refusal.detail["reason"] == "outside_window"
    policy.update(session, people["officer_a"], scada.id, PolicyUpdate(windows=[Window(days=list(range(7)),
                  start="00:00", end="23:59")], version=1))  # fmt: skip
    session.commit()
    assert ask(app, session, people["officer_a"], scada.id, "discovery").status == "queued"


def test_a_revoked_authorization_stops_a_queued_scan_when_it_starts(app, session, people, make_asset, ctx):
    asset = make_asset("NET-3", "a", owner="officer.a", network_targets=["127.0.0.67"])
    grant = authorize(app, session, people, ["127.0.0.67"])
    scan = ask(app, session, people["officer_a"], asset.id)
    grant = session.get(type(grant), grant.id)
    authorizations.revoke(session, people["leader"], grant.id, Rejection(version=grant.version, reason="incident"))
    session.commit()
    done = run(app, session, scan)
    assert (done.status, done.error) == ("failed", "not_authorized")
    assert session.get(Run, scan.run_id).reason == "not_authorized"


# --- real scans -----------------------------------------------------------------------------------


def test_findings_appear_when_a_port_opens_and_when_it_closes(app, session, people, make_asset, ctx):
    host = "127.0.0.71"
    with http_server(host) as expected:
        asset = make_asset("WEB-1", "a", owner="officer.a", network_targets=[host], expected_ports=[f"{expected}/tcp"])
        authorize(app, session, people, [host], max_profile="full_tcp")
        first = run(app, session, ask(app, session, people["officer_a"], asset.id, "full_tcp"))
        assert first.status == "succeeded", first.detail
        assert "--unprivileged" in first.argv and "-sT" in first.argv
        assert first.command_line and first.nmap_version
        seen = {
            (o.port, o.state) for o in session.exec(select(ScanObservation).where(ScanObservation.scan_id == first.id))
        }
        assert (expected, "open") in seen
        ours = lambda scan_id: sorted(  # noqa: E731
            (f.kind, f.port)
            for f in session.exec(select(ScanFinding).where(ScanFinding.scan_id == scan_id))
            if f.port in ports
        )
        with http_server(host) as extra:
            ports = {expected, extra}
            second = run(app, session, ask(app, session, people["officer_a"], asset.id, "full_tcp"))
            assert second.status == "succeeded", second.detail
            assert ours(second.id) == [("new_open_port", extra), ("unexpected_service", extra)]
    third = run(app, session, ask(app, session, people["officer_a"], asset.id, "full_tcp"))
    assert ours(third.id) == sorted([("port_closed", expected), ("port_closed", extra)])
    severities = {f.port: f.severity for f in session.exec(select(ScanFinding).where(ScanFinding.scan_id == third.id))}
    assert severities[expected] == "high"  # an expected service went away
    stored = session.get(ScanResult, third.id)
    assert ingest.unpack(stored).rstrip().endswith(b"</nmaprun>") and len(stored.sha256) == 64


def test_a_finding_held_open_is_not_found_again_and_triage_moves_it(app, session, people, make_asset, ctx):
    host = "127.0.0.72"
    with http_server(host) as port:
        asset = make_asset("WEB-2", "a", owner="officer.a", network_targets=[host])
        authorize(app, session, people, [host], max_profile="full_tcp")
        one = run(app, session, ask(app, session, people["officer_a"], asset.id, "full_tcp"))
        two = run(app, session, ask(app, session, people["officer_a"], asset.id, "full_tcp"))
    found = session.exec(select(ScanFinding).where(ScanFinding.asset_id == asset.id, ScanFinding.port == port)).all()
    assert [(f.scan_id, f.kind) for f in found] == [(one.id, "unexpected_service")]
    assert two.findings is not None
    finding = found[0]
    done = findings.triage(session, people["officer_a"], finding.id, Triage(action="acknowledge", version=1))
    assert done.status == "acknowledged"
    with pytest.raises(Conflict):
        findings.triage(session, people["officer_a"], finding.id, Triage(action="acknowledge", version=done.version))
    method = assessment_rule.method(session, config_of(app))
    risk = findings.promote(session, people["officer_a"], finding.id, FindingPromotion(), method)
    session.commit()
    session.expire_all()
    assert session.get(ScanFinding, finding.id).risk_id == risk.id
    assert session.get(Risk, risk.id).source == "scan_finding"
    with pytest.raises(Conflict):
        findings.promote(session, people["officer_a"], finding.id, FindingPromotion(), method)


def test_nmap_failures_end_the_scan_with_their_reason(app, session, people, make_asset, ctx, monkeypatch):
    asset = make_asset("NET-4", "a", owner="officer.a", network_targets=["127.0.0.73"])
    authorize(app, session, people, ["127.0.0.73"])
    for reason in ("nmap_missing", "nmap_failed", "timeout"):

        def broken(argv, *, timeout, launcher=None, _reason=reason):
            raise nmap.NmapError(_reason, "test")

        monkeypatch.setattr(nmap, "run", broken)
        done = run(app, session, ask(app, session, people["officer_a"], asset.id))
        assert (done.status, done.error) == ("failed", reason)
        assert session.get(Run, done.run_id).status == "failed"


def test_truncated_output_fails_the_scan_as_unreadable(app, session, people, make_asset, ctx, monkeypatch):
    asset = make_asset("NET-5", "a", owner="officer.a", network_targets=["127.0.0.74"])
    authorize(app, session, people, ["127.0.0.74"])
    real = nmap.run

    def cut(argv, *, timeout, launcher=None):
        outcome = real(argv, timeout=timeout)
        return type(outcome)(**{**outcome.__dict__, "xml": outcome.xml[: len(outcome.xml) // 2]})

    monkeypatch.setattr(nmap, "run", cut)
    done = run(app, session, ask(app, session, people["officer_a"], asset.id, "discovery"))
    assert (done.status, done.error) == ("failed", "xml_invalid")


# Hostile strings as asset targets and authorization scopes: none of them reaches nmap.
HOSTILE_TEXT = [
    "-iL /etc/passwd", "-iL", "-oN /tmp/out", "--script=vuln", "--script", "--datadir=/tmp", "-iR 100",
    "--resume x", "-sS", "-O", "127.0.0.1 -p-", "127.0.0.1;id", "$(id)", "`id`", "127.0.0.1|nc -l 1",
    "127.0.0.1&&reboot", "127.0.0.1\n-iL x", "127.0.0.1\t-oX", "1\u200b27.0.0.1",
    "127.0.0.1-5", "127.0.0.*", "127.0.0.1,2", "fe80::1%eth0", "[::1]", "http://127.0.0.1/", "127.000.0.1",
    "0x7f.1", "127.1", "", " ", "\x00", "１２７.0.0.1",
]  # fmt: skip
OUT_OF_BOUNDS = ["8.8.8.8", "10.0.0.0/8", "192.168.1.1", "172.16.5.4", "0.0.0.0/0", "::/0", "100.64.0.1"]


def test_no_hostile_string_ever_reaches_nmap(app, session, people, make_asset, ctx, monkeypatch):
    import subprocess

    from assets.schemas import AssetCreate
    from scans.profiles import check_argv

    launched: list[list[str]] = []
    real = subprocess.Popen

    def recording(argv, **options):
        launched.append(list(argv))
        return real(argv, **options)

    monkeypatch.setattr(nmap.subprocess, "Popen", recording)
    for text in HOSTILE_TEXT:
        with pytest.raises(ValueError):
            AssetCreate(code="X-1", name="x", sector="transport", department="a", owner="officer.a",
                        network_targets=[text])  # fmt: skip
        with pytest.raises(ValueError):
            AuthorizationCreate(scope=[text], purpose="x", valid_from=NOW, valid_until=NOW + timedelta(1))
    authorize(app, session, people, ["127.0.0.0/24"], max_profile="full_tcp")
    for number, text in enumerate(OUT_OF_BOUNDS):
        data = AuthorizationCreate(scope=[text], purpose="x", valid_from=NOW, valid_until=NOW + timedelta(1))
        with pytest.raises(Invalid):
            authorizations.request(session, people["officer_a"], data, config_of(app))
        session.rollback()
        try:
            asset = make_asset(f"OUT-{number}", "a", owner="officer.a", network_targets=[text])
        except Invalid:
            continue  # the asset register refuses it already (a block larger than allowed)
        session.commit()
        for profile in ("discovery", "quick", "standard", "full_tcp"):
            with pytest.raises(Forbidden):
                ask(app, session, people["officer_a"], asset.id, profile)
            session.rollback()
    assert launched == [] and session.exec(select(Scan)).all() == []
    inside = make_asset("IN-1", "a", owner="officer.a", network_targets=["127.0.0.76"], expected_ports=["8123/tcp"])
    session.commit()
    for profile in ("discovery", "quick"):
        assert run(app, session, ask(app, session, people["officer_a"], inside.id, profile)).status == "succeeded"
    assert len(launched) == 2
    for argv in launched:
        check_argv(argv)
        assert argv[0] == "nmap" and "--unprivileged" in argv and ("-sT" in argv or "-sn" in argv)
        assert argv[argv.index("--") + 1 :] == ["127.0.0.76"]


def test_a_page_of_scans_is_read_in_the_same_statements_whatever_its_length(app, session, people, make_asset, ctx):
    from sqlalchemy import event

    from bench.scan_xml import synthetic_xml
    from scans import xmlparse
    from scans.schemas import ScanQuery

    asset = make_asset("IMP-1", "a", owner="officer.a", network_targets=["127.0.0.0/24"])
    session.commit()
    raw = synthetic_xml(2)
    engine = app.extensions["secgov_engine"]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def measure(n: int) -> int:
        while session.exec(select(Scan)).all().__len__() < n:
            services.import_xml(session, people["officer_a"], asset.id, raw, xmlparse.parse(raw))
        session.commit()
        rows, total = services.list_scans(session, people["officer_a"], ScanQuery(page_size=200))
        assert total == n
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            read = services.read_many(session, rows)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(read) == n and all(len(r.sha256) == 64 for r in read)
        return len(statements)

    assert measure(2) == measure(12) == 1  # the digests; no scan waits or runs

"""The scans domain on the dashboard, in the daily figures, in the compliance report, in the asset
dossier, in the register exports and in the demo city. The demo city's recorded scans (made
without nmap) are the records: every tile's and chapter's figure equals a count this test makes
itself from the rows, the API's tile equals the service's, the PDFs hold the chapters in both
languages, exports write the findings and scans in scope with formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import config_of, load_demo_city
from openpyxl import load_workbook
from sqlmodel import Session, select
from test_dossier import make_dossier
from test_reports import actor_of, make_report, pdf_text, stored_file, tr

from assessments.models import Risk
from assets.models import Asset
from scans import chapters, dashboard, exchange, figures, nmap
from scans.models import Scan, ScanAuthorization, ScanFinding, ScanPolicy
from secgov import audit, auth
from secgov.authz import Actor
from secgov.db import write_session
from secgov.models import AuditEntry, Department
from secgov.reports import service
from secgov.reports.chapters import Period

EN = {"Accept-Language": "en"}
LIVE_UNEXPECTED = ("open", "acknowledged", "promoted")


def engine_of(app):
    return app.extensions["secgov_engine"]


@pytest.fixture
def demo(app, monkeypatch):
    """The demo city, loaded twice; nmap must not run."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the demo ran nmap")

    monkeypatch.setattr(nmap, "run", refuse)
    load_demo_city(app)
    load_demo_city(app)
    with Session(engine_of(app)) as session:
        users = {name: auth.find_user(session, name) for name in ("leader", "officer", "officer.transport")}
    return users


def subtree(session: Session, code: str) -> set[int]:
    path = session.exec(select(Department.path).where(Department.code == code)).one()
    return set(session.exec(select(Department.id).where(Department.path.startswith(path))).all())


def independent(session: Session, code: str, now: datetime) -> dict:
    """The tile's figures counted row by row in Python."""
    depts = subtree(session, code)
    assets = {a.id: a for a in session.exec(select(Asset)).all() if a.department_id in depts}
    found = [f for f in session.exec(select(ScanFinding)).all() if f.asset_id in assets]
    scans = [s for s in session.exec(select(Scan)).all() if s.asset_id in assets]
    succeeded = {s.asset_id for s in scans if s.status == "succeeded"}
    grants = [g for g in session.exec(select(ScanAuthorization)).all() if g.department_id in depts]

    def aware(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    return {
        "by_severity": Counter(f.severity for f in found if f.status == "open"),
        "unexpected_open": sum(f.kind == "unexpected_service" and f.status in LIVE_UNEXPECTED for f in found),
        "never_scanned": sum(bool(a.network_targets) and a.id not in succeeded for a in assets.values()),
        "expiring": sum(
            g.status == "approved" and now < aware(g.valid_until) <= now + timedelta(days=30) for g in grants
        ),
        "failed": sum(
            s.status == "failed" and s.finished_at and aware(s.finished_at) >= now - timedelta(days=7) for s in scans
        ),
        "findings": found,
        "assets": assets,
    }


# --- the demo city -------------------------------------------------------------------------------


def test_the_demo_loads_authorizations_policies_scans_and_findings_once(app, demo):
    with Session(engine_of(app)) as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "demo.scans_loaded")).all().__len__() == 1
        grants = session.exec(select(ScanAuthorization)).all()
        found = session.exec(select(ScanFinding)).all()
        scans = session.exec(select(Scan)).all()
        scada = session.exec(select(Asset).where(Asset.code == "WTR-SCADA-01")).one()
        rule = session.get(ScanPolicy, scada.id)
        promoted = [f for f in found if f.status == "promoted"]
        risk = session.get(Risk, promoted[0].risk_id)
        assert audit.verify(session).ok
    assert len(grants) == 3 and {g.status for g in grants} == {"approved", "pending"}
    for grant in grants:
        if grant.status == "approved":
            assert grant.approved_by == "leader" != grant.requested_by
        for target in grant.scope:
            assert target.startswith("127.")
    assert {f.kind for f in found} >= {"new_open_port", "unexpected_service", "service_changed"}
    assert {f.status for f in found} >= {"open", "acknowledged", "false_positive", "promoted"}
    assert any(f.kind == "unexpected_service" and f.port == 23 and f.severity == "high" for f in found)
    assert len(promoted) == 1 and risk.source == "scan_finding" and risk.asset_id == promoted[0].asset_id
    # The finding in words of the city's language (Chinese once the catalogue is compiled).
    assert risk.title.startswith(tr(app, "zh", "Unexpected service")) and "3306/tcp" in risk.title
    assert {s.status for s in scans} == {"succeeded", "failed"}
    assert all(s.finished_at and s.finished_at < datetime.now(UTC) - timedelta(days=1) for s in scans)  # backdated
    assert rule.fragile is True and rule.windows and rule.max_rate == 10
    assert {s.profile for s in scans if s.asset_id == scada.id} == {"discovery"}


# --- the dashboard and the daily figures ---------------------------------------------------------


@pytest.mark.parametrize("who, code", [("leader", "city"), ("officer.transport", "transport")])
def test_the_tile_equals_the_api_and_counts_made_from_the_rows(app, client, api_token, demo, who, code):
    user = demo[who]
    headers = {"Authorization": f"Bearer {api_token(user)}", **EN}
    body = client.get("/api/v1/dashboard", headers=headers).get_json()
    shown = {tile["code"]: tile["data"] for tile in body["tiles"]}["scan_exposure"]
    now = datetime.now(UTC)
    with app.test_request_context(), Session(engine_of(app)) as session:
        built = dashboard.scan_exposure(session, actor_of(app, user), config_of(app), date.today(), now=now)
        expected = independent(session, code, now)
    for key in ("untriaged", "unexpected_open", "never_scanned", "authorizations_expiring", "failed"):
        assert shown[key] == built[key], key
    assert {r["severity"]: r["findings"] for r in shown["by_severity"]} == {
        s: expected["by_severity"].get(s, 0) for s in ("high", "medium", "low")
    }
    assert shown["untriaged"] == sum(expected["by_severity"].values())
    assert shown["unexpected_open"] == expected["unexpected_open"]
    assert shown["never_scanned"] == expected["never_scanned"]
    assert shown["authorizations_expiring"] == expected["expiring"]
    assert shown["failed"] == expected["failed"]
    if code == "city":  # the comparisons mean something
        assert shown["untriaged"] >= 4 and shown["unexpected_open"] >= 3 and shown["never_scanned"] > 10
        assert shown["authorizations_expiring"] == 1 and shown["failed"] == 1


def test_the_home_page_shows_the_tile(client, app, demo):
    from helpers import PASSWORD, login

    with write_session(engine_of(app)) as session:  # the demo's passwords are random
        leader = auth.find_user(session, "leader")
        auth.set_password(session, leader, PASSWORD, Actor.system("cli"))
    login(client, leader)
    page = client.get("/", headers=EN)
    assert page.status_code == 200
    assert "Scan exposure" in page.get_data(as_text=True)


def test_the_daily_figures_equal_counts_made_from_the_rows(app, demo):
    now = datetime.now(UTC)
    with app.test_request_context(), Session(engine_of(app)) as session:
        values = {figure.code: figure.count(session) for figure in figures.FIGURES}
        depts = dict(session.exec(select(Department.code, Department.id)).all())
        for code, dept in depts.items():
            own = independent(session, code, now)
            mine = [f for f in own["findings"] if own["assets"][f.asset_id].department_id == dept]
            assets = [a for a in own["assets"].values() if a.department_id == dept]
            scanned = {
                s.asset_id for s in session.exec(select(Scan).where(Scan.status == "succeeded")).all()
            }  # fmt: skip
            assert values["scans.untriaged"].get(dept, 0) == sum(f.status == "open" for f in mine), code
            assert values["scans.untriaged_high"].get(dept, 0) == sum(
                f.status == "open" and f.severity == "high" for f in mine
            ), code
            assert values["scans.unexpected_open"].get(dept, 0) == sum(
                f.kind == "unexpected_service" and f.status in LIVE_UNEXPECTED for f in mine
            ), code
            assert values["scans.never_scanned"].get(dept, 0) == sum(
                bool(a.network_targets) and a.id not in scanned for a in assets
            ), code
    assert sum(values["scans.untriaged"].values()) >= 4


# --- the compliance report -----------------------------------------------------------------------


def build(app, user, code: str, chapter, period: Period | None = None) -> dict:
    today = datetime.now(UTC).date()
    with app.test_request_context(), Session(engine_of(app)) as session:
        department = session.exec(select(Department).where(Department.code == code)).one()
        scope = service.scope_of(department, actor_of(app, user))
        return dict(chapter(session, scope, period or Period(today - timedelta(days=30), today), dict(app.config)))


@pytest.mark.parametrize("who, code", [("leader", "city"), ("officer.transport", "transport")])
def test_the_chapter_equals_counts_made_from_the_rows(app, demo, who, code):
    data = build(app, demo[who], code, chapters.network_exposure)
    with Session(engine_of(app)) as session:
        expected = independent(session, code, datetime.now(UTC))
        depts = {d.id: d for d in session.exec(select(Department)).all()}
    found = expected["findings"]
    assert data["untriaged"] == sum(expected["by_severity"].values())
    assert data["untriaged_high"] == expected["by_severity"].get("high", 0)
    assert data["unexpected_open"] == expected["unexpected_open"] == data["unexpected"]["total"]
    assert data["never_scanned"] == expected["never_scanned"] == data["never"]["total"]
    assert data["with_targets"] == sum(bool(a.network_targets) for a in expected["assets"].values())
    assert len(data["expiring"]["rows"]) == expected["expiring"]
    # Every new open port of the demo was found within the last 30 days.
    assert data["new_open_ports"] == sum(f.kind == "new_open_port" for f in found)
    # Untriaged by bureau: the rows add up, each bureau's subtree counted once.
    assert sum(row["total"] for row in data["by_bureau"]) == data["untriaged"]
    for row in data["by_bureau"]:
        if row["own"]:
            continue
        bureau = next(d for d in depts.values() if d.code == row["department"])
        mine = [
            f for f in found
            if f.status == "open" and depts[expected["assets"][f.asset_id].department_id].path.startswith(bureau.path)
        ]  # fmt: skip
        assert row["total"] == len(mine), row
    severities = [row["severity"] for row in data["unexpected"]["rows"]]
    assert severities == sorted(severities, key=["high", "medium", "low"].index)
    if code == "city":
        water = next(row for row in data["by_bureau"] if row["department"] == "water")
        assert water["high"] >= 1  # the telnet on the leak monitoring platform
        assert {row["where"] for row in data["unexpected"]["rows"]} >= {"127.0.0.23:23/tcp", "127.0.0.13:23/tcp"}
    assert data["headline"][0]["value"] == data["untriaged"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_shows_the_network_exposure(app, demo, lang):
    report = make_report(app, actor_of(app, demo["leader"]), lang=lang, period="2026-11")
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    for message in ("Network exposure from scans", "Untriaged findings by bureau", "Unexpected services open"):
        assert tr(app, lang, message) in text
    assert "127.0.0.23:23/tcp" in text and "WTR-LEAK-01" in text
    assert tr(app, lang, chapters.METHOD_EXPOSURE[0])[:20] in text


# --- the dossier ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_dossier_holds_the_assets_scans(app, demo, lang):
    officer = demo["officer"]
    with app.test_request_context(), Session(engine_of(app)) as session:
        asset = session.exec(select(Asset).where(Asset.code == "WTR-LEAK-01")).one()
        department = session.get(Department, asset.department_id)
        scope = service.scope_of(department, actor_of(app, officer), "WTR-LEAK-01")
        today = datetime.now(UTC).date()
        held = chapters.asset_scans(session, scope, Period(today, today), dict(app.config))
        rows = session.exec(select(ScanFinding).where(ScanFinding.asset_id == asset.id)).all()
        scans = session.exec(select(Scan).where(Scan.asset_id == asset.id)).all()
    assert held["scans_total"] == len(scans) == 2
    assert held["findings"]["total"] == sum(f.status in LIVE_UNEXPECTED for f in rows) >= 2
    assert held["findings"]["rows"][0]["severity"] == "high"
    assert held["policy"]["fragile"] is False and held["targets"] == ["127.0.0.23"]
    report = make_dossier(app, actor_of(app, officer), "WTR-SCADA-01", lang)
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    assert tr(app, lang, "Network scans") in text and tr(app, lang, "Maintenance windows") in text
    assert "01:00–05:00" in text and tr(app, lang, "Sun") in text
    report = make_dossier(app, actor_of(app, officer), "WTR-LEAK-01", lang)
    text = pdf_text(stored_file(app, report.id))
    assert "127.0.0.23:23/tcp" in text and tr(app, lang, "Findings not closed") in text


# --- the register exports ------------------------------------------------------------------------


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_exports_write_the_findings_and_scans_in_scope_formulas_neutralised(app, client, api_token, demo):
    with write_session(engine_of(app)) as session:
        finding = session.exec(select(ScanFinding).where(ScanFinding.status == "acknowledged")).first()
        finding.note = '=HYPERLINK("http://127.0.0.1/x","click")'
        session.add(finding)
    headers = {"Authorization": f"Bearer {api_token(demo['officer.transport'])}", **EN}
    answer = client.get("/api/v1/scan_findings/export?format=csv", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rows = read_csv(answer.data)
    with Session(engine_of(app)) as session:
        expected = independent(session, "transport", datetime.now(UTC))
    assert sorted(int(r["id"]) for r in rows) == sorted(f.id for f in expected["findings"]) and rows
    assert {r["department"] for r in rows} <= {"transport", "transport-signal", "transport-metro"}
    noted = next(r for r in rows if int(r["id"]) == finding.id)
    assert noted["note"].startswith("'=")  # written as text, not a formula
    assert noted["port"] == "23" and noted["service"] == "telnet" and noted["asset"] == "TRF-CAM-01"

    city = {"Authorization": f"Bearer {api_token(demo['leader'])}", **EN}
    answer = client.get("/api/v1/scans/export?format=xlsx&status=succeeded", headers=city)
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.data)).active
    header, *lines = [[c.value for c in row] for row in sheet.iter_rows()]
    assert tuple(header) == exchange.SCANS.column_names
    with Session(engine_of(app)) as session:
        succeeded = session.exec(select(Scan).where(Scan.status == "succeeded")).all()
    assert len(lines) == len(succeeded)
    sha = header.index("sha256")
    assert all(len(line[sha]) == 64 for line in lines)
    # Those who read scans export them; the drill team does neither.
    with Session(engine_of(app)) as session:
        drill = auth.find_user(session, "drill")
    refused = client.get("/api/v1/scan_findings/export", headers={"Authorization": f"Bearer {api_token(drill)}", **EN})
    assert refused.status_code == 403
    # Export only: there is no import of findings or scans from a spreadsheet.
    assert client.post("/api/v1/scan_findings/import", headers=city).status_code in (404, 405)

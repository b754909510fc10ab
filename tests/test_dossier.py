"""The per-asset dossier: a second kind of report, declared by the asset domain. Its PDF (read back
with pypdf) holds the asset's facts, grade history, control counts by area equal to counts made
from the records, and its vendors, in both languages; asking for it through the API, the asset's
page and the command line; refusals (another bureau's asset, an unknown asset or kind)."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from flask_babel import force_locale
from helpers import csrf_token, login
from sqlmodel import Session, func, select
from test_reports import EN, actor_of, pdf_text, stored_file, tr

from assets import controls
from assets.models import Asset, AssetControl, AssetGrade, Control
from secgov.codes import AREA
from secgov.models import AuditEntry, Department, Report, Run
from secgov.reports import service
from secgov.reports.document import render_html
from secgov.reports.render import RenderFailed

CONTROL_STATES = ("implemented", "partial", "planned", "not_applicable")  # the rest stay not implemented


@pytest.fixture
def asset(app, city, make_asset, make_vendor, engage, exempt):
    """A graded CII system of unit a1 owned by bureau a's officer, regraded once, with controls in
    every status and two foreign vendors (one with an approved exemption); another in bureau b."""
    made = make_asset(
        "D-1",
        "a1",
        "energy",
        owner="officer.a",
        name="Delta grid dispatch",
        mlps_level=3,
        mlps_filing_number="F-31",
        is_cii=True,
        lifecycle="operational",
    )
    make_asset("B-9", "b", "energy", owner="officer.b", name="Bravo substation", mlps_level=2)
    engine = app.extensions["secgov_engine"]
    with Session(engine) as session:
        rows = session.exec(
            select(AssetControl).where(AssetControl.asset_id == made.id).order_by(AssetControl.id)
        ).all()
        for n, row in enumerate(rows):  # every fifth control left not implemented
            if n % 5 < len(CONTROL_STATES):
                row.status = CONTROL_STATES[n % 5]
                row.reviewer = "officer.a"
                session.add(row)
        controls.recount(session, [made.id])  # written directly: the kept counts follow
        session.add(
            AssetGrade(
                asset_id=made.id,
                mlps_level=2,
                mlps_filing_number="F-20",
                changed_at=datetime(2024, 3, 1, tzinfo=UTC),
                changed_by="officer.a",
                reason="first assessment",
            )
        )
        session.commit()
    engage(made, make_vendor("Faraway Systems", origin="foreign", country="US"), "builder")
    exempt(engage(made, make_vendor("Overseas Operators", origin="foreign", country="DE"), "operator"))
    return made


def control_counts(app, asset_id: int) -> tuple[dict[str, Counter], Counter]:
    """The required controls' statuses by area and in all, straight from the rows."""
    with Session(app.extensions["secgov_engine"]) as session:
        rows = session.exec(
            select(Control.area, AssetControl.status)
            .join(Control, Control.id == AssetControl.control_id)
            .where(AssetControl.asset_id == asset_id, AssetControl.required.is_(True))
        ).all()
    by_area: dict[str, Counter] = {}
    for area, status in rows:
        by_area.setdefault(area, Counter())[status] += 1
    return by_area, Counter(status for _area, status in rows)


def make_dossier(app, actor, code: str, lang: str) -> Report:
    engine = app.extensions["secgov_engine"]
    registry = app.extensions["secgov_registry"]
    with app.test_request_context(headers=EN):
        with Session(engine) as session:
            data = service.ReportCreate(kind="dossier", asset=code, lang=lang)
            report = service.request_report(session, actor, data, date(2026, 12, 6), registry.report_kinds)
            session.commit()
            report_id = report.id
        try:
            return service.generate(
                engine,
                report_id,
                actor,
                registry.chapters,
                app.config,
                registry.figures,
                html_of=render_html,
                sign=service.sign_here,
                kinds=registry.report_kinds,
            )
        except RenderFailed:
            with Session(engine) as session:
                return session.get(Report, report_id)


def row_pattern(label: str, numbers: list[int]) -> re.Pattern:
    """A table row: its label (which may wrap anywhere in its cell) and then its numbers."""
    letters = r"\s*".join(re.escape(c) for c in label if not c.isspace())
    return re.compile(letters + r"\s+" + r"\s+".join(str(n) for n in numbers) + r"\b")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_dossier_holds_the_facts_grades_controls_and_vendors_of_the_records(app, city, asset, lang):
    report = make_dossier(app, actor_of(app, city["officer_a"]), "d-1", lang)  # codes are matched in any case
    assert report.status == "succeeded", report.reason
    assert (report.kind, report.subject, report.period_from, report.period_to) == (
        "dossier",
        "D-1",
        date(2026, 12, 6),
        date(2026, 12, 6),
    )
    with Session(app.extensions["secgov_engine"]) as session:
        assert session.get(Department, report.department_id).code == "a1"
    text = pdf_text(stored_file(app, report.id))
    # The cover and the footer of every report.
    assert tr(app, lang, "Asset dossier") in text and tr(app, lang, "Internal") in text
    squeezed = text.replace(" ", "")
    assert f"{report.audit_seq}:{report.audit_hash}" in squeezed and report.input_sha256 in squeezed
    # The facts.
    for fact in ("D-1", "Delta grid dispatch", "F-31", "(a1)", "officer.a", {"en": "Energy", "zh": "能源"}[lang]):
        assert fact in text, fact
    assert tr(app, lang, "In operation") in text
    # The grade history: the first grading and the one the registration recorded.
    assert "F-20" in text and "first assessment" in text
    # The controls by area: every count as the rows have it.
    by_area, total = control_counts(app, asset.id)
    assert total["implemented"] and total["partial"] and total["not_applicable"] and total["not_implemented"]
    with app.test_request_context(), force_locale(lang):
        labels = {area: AREA.label(area) for area in by_area}
    statuses = ("implemented", "partial", "planned", "not_implemented", "not_applicable")
    for area, counts in by_area.items():
        numbers = [sum(counts.values()), *(counts[s] for s in statuses)]
        assert row_pattern(labels[area], numbers).search(text), (area, numbers)
    numbers = [sum(total.values()), *(total[s] for s in statuses)]
    assert row_pattern(tr(app, lang, "All areas"), numbers).search(text), numbers
    # The vendors, their origin and the policy's outcome.
    assert "Faraway Systems" in text and "Overseas Operators" in text
    assert tr(app, lang, "Warning") in text and tr(app, lang, "Exempted") in text
    # Nothing of another bureau.
    assert "B-9" not in text and "Bravo" not in text


def test_a_long_list_of_controls_is_cut_with_the_number_left_out(app, city, asset):
    by_area, _total = control_counts(app, asset.id)
    longest = max(sum(c.values()) for c in by_area.values())
    report = make_dossier(app, actor_of(app, city["leader"]), "D-1", "en")
    text = pdf_text(stored_file(app, report.id))
    if longest > 50:
        assert f"{longest - 50} more rows are not shown" in text
    else:
        assert "more rows are not shown" not in text


@pytest.fixture
def tokens(city, make_user, api_token):
    auditor = make_user("auditor", roles=("auditor",), department="city")

    def headers(user):
        return {"Authorization": f"Bearer {api_token(user)}", **EN}

    return {name: headers(user) for name, user in {**city, "auditor": auditor}.items()}


def test_a_dossier_asked_for_over_the_api_is_rendered_and_named_after_its_asset(client, app, asset, tokens):
    response = client.post(
        "/api/v1/reports", json={"kind": "dossier", "asset": "D-1", "lang": "en"}, headers=tokens["officer_a"]
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["report"]["kind"] == "dossier" and body["report"]["subject"] == "D-1"
    assert body["report"]["department"] == "a1" and body["run"]["kind"] == "report.compliance"
    report_id = body["report"]["id"]
    done = client.get(f"/api/v1/reports/{report_id}", headers=tokens["auditor"]).get_json()
    assert done["status"] == "succeeded", done
    pdf = client.get(f"/api/v1/reports/{report_id}/file", headers=tokens["auditor"])
    assert hashlib.sha256(pdf.data).hexdigest() == done["sha256"]
    assert f"secgov-dossier-{report_id}-D-1-" in pdf.headers["Content-Disposition"]
    assert "Delta grid dispatch" in pdf_text(pdf.data)
    # Another bureau neither asks for it nor reads it.
    assert client.get(f"/api/v1/reports/{report_id}", headers=tokens["officer_b"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "words", "audited"),
    [
        ({"kind": "dossier", "asset": "D-1"}, 404, "Not found", [("asset", "D-1")]),  # bureau b asks: out of scope
        ({"kind": "dossier", "asset": "NOPE-1"}, 404, "No asset with this code", []),
        ({"kind": "dossier"}, 422, "Asset: give the code", []),
        ({"kind": "dossier", "asset": "B-9", "period": "2026-11"}, 422, "give no period", []),
        ({"kind": "dossier", "asset": "B-9", "department": "b"}, 422, "give no department", []),
        ({"kind": "compliance", "asset": "B-9"}, 422, "not about one record", []),
        ({"kind": "memoir"}, 422, "No such kind of report", []),
    ],
)
def test_bad_requests_for_dossiers_queue_nothing(client, app, asset, tokens, body, status, words, audited):
    response = client.post("/api/v1/reports", json={"lang": "en", **body}, headers=tokens["officer_b"])
    assert response.status_code == status, response.get_json()
    assert words in response.get_json()["error"]["message"]
    with Session(app.extensions["secgov_engine"]) as session:
        assert session.exec(select(func.count()).select_from(Report)).one() == 0
        assert session.exec(select(func.count()).select_from(Run)).one() == 0
        refused = session.exec(select(AuditEntry).where(AuditEntry.action == "authz.out_of_scope")).all()
    assert [(e.object_type, e.object_id) for e in refused] == audited


def test_the_asset_page_asks_for_its_dossier(client, app, city, asset):
    login(client, city["officer_a"])
    page = client.get(f"/assets/{asset.id}", headers=EN).get_data(as_text=True)
    assert "Dossier (PDF)" in page and 'name="subject" value="D-1"' in page
    token = csrf_token(client, f"/assets/{asset.id}")
    response = client.post(
        "/reports", data={"kind": "dossier", "subject": "D-1", "lang": "zh", "csrf_token": token}, headers=EN
    )
    assert response.status_code == 302
    with Session(app.extensions["secgov_engine"]) as session:
        report = session.exec(select(Report)).one()
    assert response.headers["Location"].endswith(f"/reports/{report.id}")
    assert report.status == "succeeded" and report.subject == "D-1" and report.lang == "zh"
    detail = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Asset dossier" in detail and "D-1" in detail and "As of" in detail
    archive = client.get("/reports", headers=EN).get_data(as_text=True)
    assert "Asset dossier" in archive and "<code>D-1</code>" in archive
    zh = client.get(f"/assets/{asset.id}", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert tr(app, "zh", "Dossier (PDF)") in zh


def test_readers_who_may_not_make_reports_see_no_dossier_button(client, app, city, asset, make_user):
    auditor = make_user("auditor", roles=("auditor",), department="city")
    login(client, auditor)
    assert "Dossier (PDF)" not in client.get(f"/assets/{asset.id}", headers=EN).get_data(as_text=True)


def test_the_command_line_renders_a_dossier_in_the_foreground(app, city, asset, database_url, tmp_path):
    from audit_support import run_cli

    out = tmp_path / "dossier.pdf"
    result = run_cli(database_url, "report", "dossier", "D-1", "--out", str(out), "--lang", "en", "--as", "officer.a")
    assert result.exit_code == 0, result.stderr
    with Session(app.extensions["secgov_engine"]) as session:
        report = session.exec(select(Report)).one()
    assert (report.kind, report.subject, report.requested_by, report.status) == (
        "dossier",
        "D-1",
        "officer.a",
        "succeeded",
    )
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report.sha256 and report.sha256 in result.stdout
    assert "Delta grid dispatch" in pdf_text(out.read_bytes())
    refused = run_cli(database_url, "report", "dossier", "D-1", "--out", str(out), "--as", "officer.b")
    assert refused.exit_code == 2 and "Not found" in refused.stderr
    unknown = run_cli(database_url, "report", "dossier", "NOPE", "--out", str(out))
    assert unknown.exit_code == 2 and "No asset with this code" in unknown.stderr


def test_a_dossier_whose_asset_left_the_scope_fails_with_its_reason(app, city, asset):
    engine = app.extensions["secgov_engine"]
    registry = app.extensions["secgov_registry"]
    actor = actor_of(app, city["officer_a"])
    with app.test_request_context(headers=EN):
        with Session(engine) as session:
            data = service.ReportCreate(kind="dossier", asset="D-1", lang="en")
            report_id = service.request_report(session, actor, data, date.today(), registry.report_kinds).id
            moved = session.exec(select(Asset).where(Asset.code == "D-1")).one()
            moved.department_id = session.exec(select(Department.id).where(Department.code == "b")).one()
            session.add(moved)
            session.commit()
        with pytest.raises(RenderFailed) as failed:
            service.generate(
                engine,
                report_id,
                actor,
                registry.chapters,
                app.config,
                html_of=render_html,
                sign=service.sign_here,
                kinds=registry.report_kinds,
            )
    assert failed.value.reason == "report_subject_gone"
    with Session(engine) as session:
        assert session.get(Report, report_id).status == "failed"

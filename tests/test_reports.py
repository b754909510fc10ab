"""Leadership compliance reports: the locked fetcher, the render's limits, the figures of the
generated PDFs (read back with pypdf and compared with counts made from the records, in both
languages, for the city and for a bureau), the archive's hashes and audit head, the API, the pages
and the command line, and bad requests."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date

import pytest
from flask_babel import force_locale, gettext
from helpers import csrf_token, login
from jinja2 import ChoiceLoader, DictLoader
from pypdf import PdfReader
from sqlmodel import Session, func, select
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError

from assets.models import Asset
from secgov.authz import Actor
from secgov.models import AuditEntry, Report, ReportFile, Run
from secgov.reports import service
from secgov.reports.chapters import Chapter
from secgov.reports.document import render_html
from secgov.reports.fetcher import STATIC_BASE, LockedFetcher
from secgov.reports.render import Limits, RenderFailed, render_pdf

EN = {"Accept-Language": "en"}


def pdf_text(data: bytes) -> str:
    """The text of every page, whitespace squeezed."""
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))


# --- the fetcher and the child process ------------------------------------------------------------

REFUSED = [
    "file:///etc/passwd",
    "http://127.0.0.1:9/x.png",
    "https://example.com/x.png",
    "../../../../etc/passwd",
    "/etc/hostname",
    "cid:attachment-1",
    "attachment:report.csv",
]


@pytest.mark.nodb
@pytest.mark.parametrize("reference", REFUSED)
def test_the_fetcher_refuses_everything_but_data_and_static_files(reference):
    fetcher = LockedFetcher()
    for html in (f'<img src="{reference}">', f'<link rel="stylesheet" href="{reference}">'):
        with pytest.raises(FatalURLFetchingError):
            HTML(string=html, base_url=STATIC_BASE, url_fetcher=fetcher).write_pdf()
    assert fetcher.refused


@pytest.mark.nodb
def test_the_fetcher_allows_data_urls_and_the_static_files():
    fetcher = LockedFetcher()
    svg = "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='4' height='4'/>"
    pdf = HTML(
        string=f'<link rel="stylesheet" href="report.css"><img src="favicon.svg"><img src="{svg}"><p>x</p>',
        base_url=STATIC_BASE,
        url_fetcher=fetcher,
    ).write_pdf()
    assert pdf.startswith(b"%PDF") and fetcher.refused == []


@pytest.mark.nodb
def test_a_refused_reference_fails_the_render_in_the_child():
    with pytest.raises(RenderFailed) as failed:
        render_pdf('<p>x</p><img src="file:///etc/passwd">')
    assert failed.value.reason == "fetch_refused"
    assert "file:///etc/passwd" in failed.value.detail


@pytest.mark.nodb
def test_a_render_past_its_time_is_killed():
    with pytest.raises(RenderFailed) as failed:
        render_pdf("<p>x</p>", Limits(max_seconds=0.05))
    assert failed.value.reason == "render_timeout"


@pytest.mark.nodb
def test_a_render_past_its_memory_fails():
    with pytest.raises(RenderFailed) as failed:
        render_pdf("<table>" + "<tr><td>x</td><td>y</td></tr>" * 3000 + "</table>", Limits(max_bytes=120 * 1024**2))
    assert failed.value.reason == "render_memory", failed.value.detail


@pytest.mark.nodb
def test_the_child_renders_chinese_with_page_count():
    rendered = render_pdf('<link rel="stylesheet" href="report.css"><p>网络安全 合规</p>')
    assert rendered.pages == 1
    assert "网络安全" in pdf_text(rendered.pdf)


# --- generating --------------------------------------------------------------------------------------


@pytest.fixture
def registers(app, city, make_asset, make_vendor, engage, exempt):
    """Systems in a, a1 and b; a violation in b (a classified system built by a foreign vendor), a
    warning in a (an unclassified one), an exempted engagement in a1."""
    a1 = make_asset("A-1", "a", "transport", name="Alpha traffic control", mlps_level=3, is_cii=True)
    make_asset("A-2", "a", "transport", name="Alpha ticketing", mlps_level=2, mlps_filing_number="F-2")
    a3 = make_asset("A1-1", "a1", "energy", name="Alpha grid meter")
    b1 = make_asset("B-1", "b", "energy", name="Bravo secret grid", mlps_level=3, is_cii=True, classified=True)
    make_asset("B-2", "b", "finance", name="Bravo payments", mlps_level=4)
    foreign = make_vendor("Faraway Systems", origin="foreign", country="US")
    engage(b1, foreign)
    engage(a1, foreign)
    exempt(engage(a3, foreign))
    return {"vendor": foreign}


def actor_of(app, user) -> Actor:
    with Session(app.extensions["secgov_engine"]) as session:
        return Actor.of(session.merge(user), "cli")


def counts(app, scope_codes: list[str]) -> dict[str, int]:
    """The figures counted straight from the asset rows of these departments."""
    from secgov.models import Department

    with Session(app.extensions["secgov_engine"]) as session:
        ids = session.exec(select(Department.id).where(Department.code.in_(scope_codes))).all()
        rows = session.exec(select(Asset).where(Asset.department_id.in_(ids))).all()
    return {
        "total": len(rows),
        "cii": sum(r.is_cii for r in rows),
        "ungraded": sum(r.mlps_level is None for r in rows),
        "unfiled": sum((r.mlps_level or 0) >= 2 and not r.mlps_filing_number for r in rows),
    }


def make_report(app, actor: Actor, chapters=None, **asked) -> Report:
    engine = app.extensions["secgov_engine"]
    with app.test_request_context(headers=EN):
        with Session(engine) as session:
            report = service.request_report(session, actor, service.ReportCreate(**asked), date.today())
            session.commit()
            report_id = report.id
        registry = app.extensions["secgov_registry"]
        try:
            return service.generate(
                engine,
                report_id,
                actor,
                chapters or registry.chapters,
                app.config,
                html_of=render_html,
                sign=service.sign_here,
            )
        except RenderFailed:
            with Session(engine) as session:
                return session.get(Report, report_id)


def stored_file(app, report_id: int) -> bytes:
    with Session(app.extensions["secgov_engine"]) as session:
        return session.get(ReportFile, report_id).data


def figure(text: str, label: str) -> int:
    """The number printed after a figure's label on the summary (value first, then label)."""
    squeezed, wanted = re.sub(r"\s+", "", text), re.sub(r"\s+", "", label)  # a label may wrap in its box
    match = re.search(r"(\d+)" + re.escape(wanted), squeezed)
    assert match, f"{label!r} not in the report"
    return int(match[1])


def tr(app, lang: str, message: str) -> str:
    """A message in lang, as the catalogue has it (English until it is translated)."""
    with app.test_request_context(), force_locale(lang):
        return gettext(message)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_city_report_holds_the_figures_of_the_records(app, city, registers, lang):
    report = make_report(app, actor_of(app, city["leader"]), lang=lang, period="2026-11")
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    expected = counts(app, ["city", "a", "a1", "b"])
    assert expected == {"total": 5, "cii": 2, "ungraded": 1, "unfiled": 3}  # the comparisons below mean something
    assert figure(text, tr(app, lang, "Systems registered")) == expected["total"]
    assert figure(text, tr(app, lang, "Critical information infrastructure systems")) == expected["cii"]
    assert figure(text, tr(app, lang, "Systems not yet graded")) == expected["ungraded"]
    assert figure(text, tr(app, lang, "Systems of level 2 or above without a filing number")) == expected["unfiled"]
    assert figure(text, tr(app, lang, "Vendor-origin violations")) == 1
    assert figure(text, tr(app, lang, "Vendor-origin warnings")) == 1
    assert tr(app, lang, "Internal") in text and tr(app, lang, "Contents") in text
    sector = {"en": "Transport", "zh": "交通"}[lang]  # the catalogue's sector names: CJK fonts at work
    assert sector in text
    for code in ("A-1", "B-1", "B-2"):  # the unfiled systems are listed
        assert code in text
    assert "Bravo secret grid" in text  # the violation
    squeezed = text.replace(" ", "")
    assert f"{report.audit_seq}:{report.audit_hash}" in squeezed
    assert report.input_sha256 in squeezed
    assert "2026-11-01" in text and "2026-11-30" in text


def test_a_bureau_report_holds_nothing_of_other_bureaus(app, city, registers):
    report = make_report(app, actor_of(app, city["officer_a"]), lang="en")
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    expected = counts(app, ["a", "a1"])
    assert figure(text, "Systems registered") == expected["total"] == 3
    assert figure(text, "Critical information infrastructure systems") == expected["cii"]
    assert figure(text, "Vendor-origin violations") == 0
    assert figure(text, "Vendor-origin warnings") == 1
    for other in ("B-1", "B-2", "Bravo"):
        assert other not in text


def test_the_archive_records_the_hashes_and_the_audit_head(app, city, registers, checkpoint_files):
    report = make_report(app, actor_of(app, city["leader"]), lang="en")
    data = stored_file(app, report.id)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size == len(data) and report.pages == len(PdfReader(io.BytesIO(data)).pages) >= 4
    assert re.fullmatch(r"[0-9a-f]{64}", report.input_sha256)
    with Session(app.extensions["secgov_engine"]) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.seq == report.audit_seq)).one()
        actions = session.exec(select(AuditEntry.action).where(AuditEntry.object_type == "report")).all()
    assert entry.hash == report.audit_hash
    assert actions == ["report.requested", "report.generated"]
    seq, _hash = report.checkpoint.split(":")
    assert int(seq) > report.audit_seq and checkpoint_files.log_path.read_text().count("\n") >= 1


def test_a_checkpoint_that_fails_keeps_the_report(app, city, registers, checkpoint_files):
    checkpoint_files.key_path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint_files.key_path.write_text("not a key")
    report = make_report(app, actor_of(app, city["leader"]), lang="en")
    assert report.status == "succeeded" and report.checkpoint == "failed:key_unreadable"


def test_markup_in_the_records_is_escaped(app, city, make_asset):
    make_asset("X-1", "a", name='<img src="file:///etc/passwd"> sneaky', mlps_level=3)  # listed: no filing
    report = make_report(app, actor_of(app, city["leader"]), lang="en")
    assert report.status == "succeeded", report.reason
    assert '<img src="file:///etc/passwd"> sneaky' in pdf_text(stored_file(app, report.id))


@pytest.mark.parametrize(
    "reference", ["file:///etc/passwd", "http://127.0.0.1:9/x.css", "https://example.com/x.png", "cid:a"]
)
def test_a_chapter_referencing_outside_files_fails_the_report(app, city, reference):
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"reports/chapters/evil.html": f'<img src="{reference}">'}), app.jinja_env.loader]
    )
    evil = Chapter("evil", "Evil", "reports/chapters/evil.html", lambda *args: {})
    report = make_report(app, actor_of(app, city["leader"]), chapters=[evil], lang="en")
    assert report.status == "failed" and report.reason == "fetch_refused"
    with Session(app.extensions["secgov_engine"]) as session:
        assert session.get(ReportFile, report.id) is None
        assert "report.failed" in session.exec(select(AuditEntry.action)).all()


def test_a_render_too_long_fails_the_report(app, city):
    app.config["SECGOV_REPORT_MAX_SECONDS"] = 0.05
    report = make_report(app, actor_of(app, city["leader"]), lang="en")
    assert report.status == "failed" and report.reason == "render_timeout"


# --- the API, the pages and the command line ------------------------------------------------------


@pytest.fixture
def people(city, make_user, api_token):
    auditor = make_user("auditor", roles=("auditor",), department="city")
    admin_a = make_user("a.admin", roles=("admin",), department="a")

    def headers(user):
        return {"Authorization": f"Bearer {api_token(user)}", **EN}

    return {
        "leader": headers(city["leader"]),
        "officer_a": headers(city["officer_a"]),
        "officer_b": headers(city["officer_b"]),
        "auditor": headers(auditor),
        "admin_a": headers(admin_a),
    }


def test_a_report_asked_for_over_the_api_is_rendered_and_downloaded(client, app, registers, people):
    response = client.post("/api/v1/reports", json={"lang": "en", "period": "2026-11"}, headers=people["officer_a"])
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    report_id = body["report"]["id"]
    assert body["report"]["status"] == "queued" and body["run"]["kind"] == "report.compliance"
    assert response.headers["Location"].endswith(f"/api/v1/reports/{report_id}")
    done = client.get(f"/api/v1/reports/{report_id}", headers=people["officer_a"]).get_json()
    assert done["status"] == "succeeded", done
    assert done["department"] == "a" and done["period_from"] == "2026-11-01" and done["period_to"] == "2026-11-30"
    run = client.get(f"/api/v1/jobs/{body['run']['id']}", headers=people["officer_a"]).get_json()
    assert run["status"] == "succeeded" and run["result"]["sha256"] == done["sha256"]
    pdf = client.get(f"/api/v1/reports/{report_id}/file", headers=people["officer_a"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == done["sha256"]
    assert "Bravo" not in pdf_text(pdf.data)
    # The archive: in scope for the bureau's readers, the city's, not another bureau's.
    assert [r["id"] for r in client.get("/api/v1/reports", headers=people["auditor"]).get_json()["items"]] == [
        report_id
    ]
    assert client.get("/api/v1/reports", headers=people["officer_b"]).get_json()["items"] == []
    assert client.get(f"/api/v1/reports/{report_id}", headers=people["officer_b"]).status_code == 404
    assert client.get(f"/api/v1/reports/{report_id}/file", headers=people["officer_b"]).status_code == 404
    with Session(app.extensions["secgov_engine"]) as session:
        actions = session.exec(
            select(AuditEntry.action).where(AuditEntry.object_type == "report").order_by(AuditEntry.seq)
        ).all()
    assert [a for a in actions if a.startswith("report.")] == [
        "report.requested",
        "report.generated",
        "report.registers_attached",
        "report.downloaded",
    ]
    assert actions.count("authz.out_of_scope") == 2  # bureau b's officer asked for it twice


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"lang": "fr"}, 422, "lang"),
        ({"period": "2026-13"}, 422, "YYYY-MM"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, 422, "ends before it starts"),
        ({"period": "2026-11", "from": "2026-11-01"}, 422, "not both"),
        ({"department": "b"}, 404, "Not found"),
        ({"department": "nope"}, 404, "No department"),
    ],
)
def test_bad_requests_for_reports_queue_nothing(client, app, people, body, status, words):
    response = client.post("/api/v1/reports", json=body, headers=people["officer_a"])
    assert response.status_code == status, response.get_json()
    assert words in response.get_data(as_text=True)
    with Session(app.extensions["secgov_engine"]) as session:
        assert session.exec(select(func.count()).select_from(Report)).one() == 0
        assert session.exec(select(func.count()).select_from(Run)).one() == 0


def test_the_same_report_asked_twice_at_once_is_refused(client, app, people, monkeypatch):
    from secgov.tasks import Platform

    monkeypatch.setattr(Platform, "dispatch", lambda self, ids: None)  # no worker takes it: it stays queued
    asked = {"lang": "zh", "period": "2026-10"}
    assert client.post("/api/v1/reports", json=asked, headers=people["leader"]).status_code == 202
    again = client.post("/api/v1/reports", json=asked, headers=people["leader"])
    assert again.status_code == 409
    assert "already being made" in again.get_json()["error"]["message"]
    other_language = client.post("/api/v1/reports", json={**asked, "lang": "en"}, headers=people["leader"])
    assert other_language.status_code == 202


def test_the_unique_index_refuses_a_request_that_raced_past_the_check(client, app, people, monkeypatch):
    """Two requests at the same moment both pass the check (neither sees the other's row): the
    unique index on reports in flight refuses the second insert, a 409 like the check's."""
    from secgov.tasks import Platform

    monkeypatch.setattr(Platform, "dispatch", lambda self, ids: None)
    asked = {"lang": "en", "period": "2026-09"}
    assert client.post("/api/v1/reports", json=asked, headers=people["leader"]).status_code == 202
    monkeypatch.setattr(service, "in_flight", lambda *args, **kwargs: None)  # the check saw nothing
    again = client.post("/api/v1/reports", json=asked, headers=people["leader"])
    assert again.status_code == 409, again.get_json()
    assert "already being made" in again.get_json()["error"]["message"]
    with Session(app.extensions["secgov_engine"]) as session:
        assert session.exec(select(func.count()).select_from(Report)).one() == 1
        assert session.exec(select(func.count()).select_from(Run)).one() == 1


def test_a_report_whose_run_was_given_up_can_be_asked_for_again(client, app, people, monkeypatch):
    """A worker killed mid-render: the reaper fails the run; the report, still "running" in its
    row, is settled with the run's reason when the same report is asked for again."""
    from secgov.tasks import Platform

    monkeypatch.setattr(Platform, "dispatch", lambda self, ids: None)
    asked = {"lang": "en", "period": "2026-08"}
    first = client.post("/api/v1/reports", json=asked, headers=people["leader"]).get_json()["report"]
    engine = app.extensions["secgov_engine"]
    with Session(engine) as session:
        report = session.get(Report, first["id"])
        report.status = "running"
        run = session.get(Run, report.run_id)
        run.status, run.reason = "failed", "worker_lost"
        session.add_all([report, run])
        session.commit()
    shown = client.get(f"/api/v1/reports/{first['id']}", headers=people["leader"]).get_json()
    assert (shown["status"], shown["reason"]) == ("failed", "worker_lost")
    again = client.post("/api/v1/reports", json=asked, headers=people["leader"])
    assert again.status_code == 202, again.get_json()
    with Session(engine) as session:
        settled = session.get(Report, first["id"])
        assert (settled.status, settled.reason) == ("failed", "worker_lost") and settled.finished_at


def test_a_worker_asks_the_scheduler_host_to_sign_the_audit_head(client, app, people):
    """The worker has no signing key: once the report is stored it asks for an audit.checkpoint
    run (the scheduler's queue) and the archive records that run."""
    made = client.post("/api/v1/reports", json={"lang": "en", "period": "2026-07"}, headers=people["leader"])
    assert made.status_code == 202, made.get_json()
    shown = client.get(f"/api/v1/reports/{made.get_json()['report']['id']}", headers=people["leader"]).get_json()
    assert shown["status"] == "succeeded", shown
    match = re.fullmatch(r"run:(\d+)", shown["checkpoint"])
    assert match, shown["checkpoint"]
    with Session(app.extensions["secgov_engine"]) as session:
        run = session.get(Run, int(match[1]))
    assert run.kind == "audit.checkpoint" and run.queue == "scheduler"


def test_who_may_ask_for_reports(client, people):
    assert client.post("/api/v1/reports", json={}, headers=people["auditor"]).status_code == 403
    assert client.post("/api/v1/reports", json={}, headers=people["admin_a"]).status_code == 403
    assert client.get("/api/v1/reports", headers=people["admin_a"]).status_code == 403
    # Nobody starts the kind directly from the runs (its report id would be unchecked).
    direct = client.post("/api/v1/jobs", json={"kind": "report.compliance", "params": {"report_id": 1}})
    assert direct.status_code in (401, 403)


def test_a_run_ended_by_the_reaper_ends_its_report(app, city, registers):
    engine = app.extensions["secgov_engine"]
    with Session(engine) as session:
        report = service.request_report(session, actor_of(app, city["leader"]), service.ReportCreate(), date.today())
        run = Run(kind="report.compliance", status="failed", reason="worker_lost", requested_by="leader")
        session.add(run)
        session.flush()
        report.run_id = run.id
        session.commit()
        status = service.status_of(report, run)
    assert status == ("failed", "worker_lost")


def test_the_pages_ask_for_a_report_and_show_its_hashes(client, app, city, registers):
    login(client, city["leader"])
    token = csrf_token(client, "/reports")
    response = client.post("/reports", data={"lang": "en", "period": "2026-11", "csrf_token": token}, headers=EN)
    assert response.status_code == 302
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    with Session(app.extensions["secgov_engine"]) as session:
        report = session.exec(select(Report)).one()
    assert report.status == "succeeded"
    assert report.sha256 in page and report.input_sha256 in page and report.audit_hash in page
    download = client.get(f"/reports/{report.id}/file")
    assert hashlib.sha256(download.data).hexdigest() == report.sha256
    archive = client.get("/reports", headers=EN).get_data(as_text=True)
    assert f'href="/reports/{report.id}"' in archive and 'name="period"' in archive


def test_the_command_line_renders_in_the_foreground(app, city, registers, database_url, tmp_path):
    from audit_support import run_cli

    out = tmp_path / "report.pdf"
    result = run_cli(
        database_url,
        "report",
        "compliance",
        "--out",
        str(out),
        "--lang",
        "en",
        "--department",
        "a",
        "--period",
        "2026-11",
    )
    assert result.exit_code == 0, result.stderr
    with Session(app.extensions["secgov_engine"]) as session:
        report = session.exec(select(Report)).one()
    assert report.status == "succeeded" and report.requested_by == "system"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report.sha256 and report.sha256 in result.stdout
    text = pdf_text(out.read_bytes())
    assert figure(text, "Systems registered") == counts(app, ["a", "a1"])["total"]
    assert "Bravo" not in text
    bad = run_cli(database_url, "report", "compliance", "--out", str(out), "--from", "2026-11-30", "--to", "2026-11-01")
    assert bad.exit_code == 2 and "ends before it starts" in bad.stderr
    refused = run_cli(database_url, "report", "compliance", "--out", str(out), "--as", "officer.a", "--department", "b")
    assert refused.exit_code == 2


def test_the_summary_shows_the_trends_of_the_daily_snapshots(app, city, registers, make_asset):
    from secgov import snapshots
    from secgov.db import write_session

    engine = app.extensions["secgov_engine"]
    figures = app.extensions["secgov_registry"].figures
    with write_session(engine) as session:
        snapshots.take(session, figures, date(2026, 11, 3))
    make_asset("A-9", "a", name="Alpha late addition")
    with write_session(engine) as session:
        snapshots.take(session, figures, date(2026, 11, 20))
    actor = actor_of(app, city["officer_a"])
    with app.test_request_context(headers=EN):
        with Session(engine) as session:
            report = service.request_report(
                session, actor, service.ReportCreate(lang="en", period="2026-11"), date.today()
            )
            session.commit()
            report_id = report.id
        done = service.generate(
            engine,
            report_id,
            actor,
            app.extensions["secgov_registry"].chapters,
            app.config,
            figures,
            html_of=render_html,
            sign=service.sign_here,
        )
    text = re.sub(r"\s+", " ", pdf_text(stored_file(app, done.id)))
    assert "Trends over the period" in text
    before, after = counts(app, ["a", "a1"])["total"] - 1, counts(app, ["a", "a1"])["total"]
    assert f"Systems registered 2026-11-03 {before} 2026-11-20 {after}" in text


# --- the overall score, coverage by area and the overdue items ----------------------------------------


def decimal_figure(text: str, label: str) -> float:
    squeezed, wanted = re.sub(r"\s+", "", text), re.sub(r"\s+", "", label)
    match = re.search(r"(\d+(?:\.\d+)?)" + re.escape(wanted), squeezed)
    assert match, f"{label!r} not in the report"
    return float(match[1])


def test_the_overall_score_is_the_mean_of_its_components(app, city, registers):
    """Counted from the rows: graded share, filed share, control coverage, systems without a
    vendor-origin violation, required assessments not overdue (no risk: that component has
    nothing to measure); the score printed is their mean."""
    from assets.models import AssetControl

    report = make_report(app, actor_of(app, city["leader"]), lang="en")
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    with Session(app.extensions["secgov_engine"]) as session:
        rows = session.exec(select(Asset)).all()
        statuses = session.exec(select(AssetControl.status).where(AssetControl.required.is_(True))).all()
    graded = [r for r in rows if r.mlps_level is not None]
    to_file = [r for r in graded if r.mlps_level >= 2]
    components = [
        100 * len(graded) / len(rows),
        100 * sum(bool(r.mlps_filing_number) for r in to_file) / len(to_file),
        100 * (1 - 1 / len(rows)),  # B-1 is the one violation
    ]
    if any(r.lifecycle == "operational" for r in graded):
        # Required assessments not overdue: every system was registered today, none is due yet.
        components.append(100.0)
    applicable = [s for s in statuses if s != "not_applicable"]
    if applicable:
        components.append(100 * (applicable.count("implemented") + applicable.count("partial") / 2) / len(applicable))
    # Required drill coverage: the CII systems and the departments holding an operational system;
    # there is no drill, so nothing is covered.
    if any(r.is_cii or r.lifecycle == "operational" for r in rows):
        components.append(0.0)
    expected = round(sum(round(c, 1) for c in components) / len(components), 1)
    assert decimal_figure(text, "Overall score (out of 100)") == pytest.approx(expected, abs=0.05)


def test_coverage_by_area_counts_the_required_controls_of_each_area(app, city, make_asset):
    from assets.models import AssetControl, Control

    make_asset("K-1", "a", owner="officer.a", mlps_level=3)
    report = make_report(app, actor_of(app, city["leader"]), lang="en")
    text = pdf_text(stored_file(app, report.id))
    with Session(app.extensions["secgov_engine"]) as session:
        areas = session.exec(
            select(Control.area, func.count())
            .join(AssetControl, AssetControl.control_id == Control.id)
            .where(AssetControl.required.is_(True))
            .group_by(Control.area)
        ).all()
    assert areas
    from secgov.codes import AREA

    for area, required in areas:
        label = AREA.label(area, "en")
        assert re.search(re.escape(label) + r"\s*" + str(required) + r"\b", text), (label, required)


def test_overdue_items_name_the_person_responsible_now(app, city, make_asset, make_vendor, engage, exempt):
    """A level-3 system graded 40 days ago without a filing number is overdue (30 days), one graded
    10 days ago is not; an exemption that expired while its engagement runs is overdue since its
    expiry. Each row names the system's owner now."""
    from datetime import UTC, datetime, timedelta

    from assets.models import AssetGrade

    late = make_asset("L-1", "a", owner="officer.a", name="Late filer", mlps_level=3)
    recent = make_asset("L-2", "a", owner="officer.a", name="Recent grading", mlps_level=3)
    lapsed = make_asset(
        "L-3",
        "b",
        owner="officer.b",
        name="Lapsed exemption",
        mlps_level=2,
        mlps_filing_number="F-9",
        classified=True,
        is_cii=True,
        sector="energy",
    )
    expired_on = date.today() - timedelta(days=5)
    exempt(engage(lapsed, make_vendor("Overseas Grid Ltd", origin="foreign", country="US")), expires_on=expired_on)
    engine = app.extensions["secgov_engine"]
    with Session(engine) as session:
        for asset, days in ((late, 40), (recent, 10)):
            for grade in session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)).all():
                grade.changed_at = datetime.now(UTC) - timedelta(days=days)
                session.add(grade)
        session.commit()
    report = make_report(app, actor_of(app, city["leader"]), lang="en")
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    chapter = text[text.rindex("Overdue items and the people responsible") : text.rindex("Methodology")]
    assert figure(text, "Overdue items") == 2
    assert "L-1 Late filer" in chapter and "L-2" not in chapter
    # 40 days after grading, 30 allowed: 10 days late (9 when the grading's day in the city's time
    # zone is already the next one)
    assert re.search(r"L-1 Late filer \S+ \d{4}-\d{2}-\d{2} (9|10)\b", chapter), chapter
    assert "Lapsed exemption" in chapter and "Overseas Grid Ltd" in chapter and expired_on.isoformat() in chapter
    with Session(engine) as session:
        from secgov.models import User

        owners = {u.username: (u.display_name or u.username) for u in session.exec(select(User)).all()}
    assert owners["officer.a"] in chapter and owners["officer.b"] in chapter
    # A bureau's report holds only its own overdue items.
    bureau = make_report(app, actor_of(app, city["officer_a"]), lang="en")
    bureau_text = pdf_text(stored_file(app, bureau.id))
    assert figure(bureau_text, "Overdue items") == 1 and "Lapsed exemption" not in bureau_text


def test_the_full_registers_go_with_the_report(client, app, city, registers, people):
    """The report's scope's registers as XLSX files (every row, not the PDF's 50), with their
    SHA-256 in the archive; a bureau's hold only the bureau; every download audited."""
    import openpyxl

    made = client.post("/api/v1/reports", json={"lang": "en", "period": "2026-06"}, headers=people["officer_a"])
    assert made.status_code == 202, made.get_json()
    report_id = made.get_json()["report"]["id"]
    shown = client.get(f"/api/v1/reports/{report_id}", headers=people["officer_a"]).get_json()
    assert shown["status"] == "succeeded", shown
    files = {item["name"]: item for item in shown["attachments"]}
    assert set(files) == {
        "a-assets-20260630.xlsx",
        "a-vendors-20260630.xlsx",
        "a-risks-20260630.xlsx",
        "a-assessments-20260630.xlsx",
        "a-scan_findings-20260630.xlsx",
        "a-scans-20260630.xlsx",
        "a-drills-20260630.xlsx",
        "a-corrective_actions-20260630.xlsx",
        "a-accountability_matrix-20260630.xlsx",
        "a-appraisal-20260630.xlsx",
        "a-appraisal_records-20260630.xlsx",
    }
    # The appraisal's ranking goes for the report's period, not for today's quarter.
    ranking = client.get(f"/api/v1/reports/{report_id}/files/a-appraisal-20260630.xlsx", headers=people["officer_a"])
    rows = list(openpyxl.load_workbook(io.BytesIO(ranking.data), read_only=True).active.iter_rows(values_only=True))
    assert rows[0][0] == "period" and {row[0] for row in rows[1:]} <= {"2026-06"}
    got = client.get(f"/api/v1/reports/{report_id}/files/a-assets-20260630.xlsx", headers=people["officer_a"])
    assert got.status_code == 200 and got.mimetype.endswith("spreadsheetml.sheet")
    assert hashlib.sha256(got.data).hexdigest() == files["a-assets-20260630.xlsx"]["sha256"]
    sheet = openpyxl.load_workbook(io.BytesIO(got.data), read_only=True).active
    codes = sorted(row[0] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert codes == ["A-1", "A-2", "A1-1"] == sorted(["A-1", "A-2", "A1-1"])
    assert files["a-assets-20260630.xlsx"]["rows"] == counts(app, ["a", "a1"])["total"]
    missing = client.get(f"/api/v1/reports/{report_id}/files/../../etc/passwd", headers=people["officer_a"])
    assert missing.status_code == 404
    other = client.get(f"/api/v1/reports/{report_id}/files/a-assets-20260630.xlsx", headers=people["officer_b"])
    assert other.status_code == 404  # bureau b reads nothing of bureau a's reports
    with Session(app.extensions["secgov_engine"]) as session:
        downloads = session.exec(
            select(AuditEntry).where(AuditEntry.action == "report.downloaded", AuditEntry.object_id == str(report_id))
        ).all()
    assert len(downloads) == 2  # the ranking and the assets
    login(client, city["officer_a"])
    page = client.get(f"/reports/{report_id}", headers=EN).get_data(as_text=True)
    assert "a-assets-20260630.xlsx" in page and files["a-assets-20260630.xlsx"]["sha256"] in page

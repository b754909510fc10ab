"""Large imports become background runs (kind "register.import"): the upload answers 202 with the
run (API) or follows it (pages); the run imports as its requester with the same engine, records
its progress between batches and keeps the row-by-row report as its result. The tests run the
queue immediately (SECGOV_TASKS_IMMEDIATE): the run has ended once the upload has answered.
"""

from __future__ import annotations

import csv
import io

import pytest
from factories import config_of
from helpers import csrf_token, login
from sqlmodel import func, select
from test_i18n import MO, PO
from test_i18n import _compile as compile_catalog

from assets.models import Asset
from secgov import domains, exchange, tasks
from secgov.authz import Actor
from secgov.exchange import background
from secgov.models import AuditEntry, Run, RunFile, User, UserRole
from secgov.runs import DeadlineExceeded, loads

EN = {"Accept-Language": "en"}
HEADER = ["code", "name", "sector", "department", "owner"]


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def row(code: str, **overrides) -> list[str]:
    values = {"code": code, "name": f"System {code}", "sector": "transport", "department": "a", "owner": "zhang.wei"}
    values.update(overrides)
    return [values[c] for c in HEADER]


def good_rows(n: int, prefix: str = "BG") -> list[list[str]]:
    return [row(f"{prefix}-{i}") for i in range(n)]


@pytest.fixture
def org(city, make_user, app):
    """The shared city with the owner of bureau a's systems; background imports above 4 rows."""
    app.config["SECGOV_IMPORT_BACKGROUND_ROWS"] = 4
    return {**city, "owner": make_user("zhang.wei", roles=("officer",), department="a1")}


def asset_codes(session) -> list[str]:
    session.rollback()
    session.expire_all()
    return sorted(session.exec(select(Asset.code)).all())


def the_runs(session) -> list[Run]:
    session.rollback()
    session.expire_all()
    return list(session.exec(select(Run).order_by(Run.id)).all())


def run_files(session) -> int:
    session.rollback()
    session.expire_all()
    return session.exec(select(func.count()).select_from(RunFile)).one()


def post_api(client, token: str, data: bytes, query: str = "", filename: str = "assets.csv", headers=EN):
    return client.post(
        f"/api/v1/assets/import{query}",
        data={"file": (io.BytesIO(data), filename)},
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def upload(client, data: bytes, partial: bool = False):
    form = {"file": (io.BytesIO(data), "assets.csv"), "csrf_token": csrf_token(client, "/registers/import")}
    if partial:
        form["partial"] = "1"
    return client.post("/registers/import/assets", data=form, content_type="multipart/form-data", headers=EN)


# --- the API -----------------------------------------------------------------------------------


def test_api_upload_above_the_rows_threshold_answers_202_and_the_run_imports(org, client, api_token, session):
    token = api_token(org["officer_a"])
    response = post_api(client, token, csv_bytes(good_rows(7)))
    assert response.status_code == 202
    (run,) = the_runs(session)
    assert response.json == {
        "run": {"id": run.id, "kind": "register.import", "status": "queued"},
        "location": f"/api/v1/jobs/{run.id}",
    }
    assert response.headers["Location"] == f"/api/v1/jobs/{run.id}"
    followed = client.get(response.headers["Location"], headers={"Authorization": f"Bearer {token}"})
    assert followed.status_code == 200 and followed.json["status"] == "succeeded"
    assert followed.json["result"]["created"] == 7
    assert run.status == "succeeded", (run.reason, run.detail)
    assert run.requested_by == "officer.a" and run.department_id == org["officer_a"].department_id
    assert loads(run.params) == {"register": "assets", "partial": False, "filename": "assets.csv", "language": "en"}
    assert asset_codes(session) == sorted(f"BG-{i}" for i in range(7))
    result = loads(run.result)
    assert result["created"] == 7 and result["total_rows"] == 7 and result["errors"] == []
    assert result["register"] == "assets" and result["written"] is True
    assert (run.progress_done, run.progress_total) == (7, 7)
    assert run_files(session) == 0  # the upload is not kept once the run has ended
    # The import is audited as the requester's, through the job.
    (entry,) = session.exec(select(AuditEntry).where(AuditEntry.action == "assets.imported")).all()
    assert entry.actor == "officer.a" and entry.channel == "job"


def test_api_upload_under_the_thresholds_is_imported_during_the_request(org, client, api_token, session):
    response = post_api(client, api_token(org["officer_a"]), csv_bytes(good_rows(4)))
    assert response.status_code == 200
    assert response.json == {"created": 4, "errors": [], "problems": 0, "total_rows": 4}
    assert the_runs(session) == []
    assert len(asset_codes(session)) == 4


def test_api_upload_above_the_size_threshold_goes_to_the_background(org, app, client, api_token, session):
    data = csv_bytes(good_rows(2))
    app.config["SECGOV_IMPORT_BACKGROUND_BYTES"] = len(data) - 1
    response = post_api(client, api_token(org["officer_a"]), data)
    assert response.status_code == 202
    (run,) = the_runs(session)
    assert run.status == "succeeded" and len(asset_codes(session)) == 2


def test_a_large_file_that_cannot_be_read_is_refused_at_once(org, app, client, api_token, session):
    """Its header, type or encoding are known from its first bytes: the answer says so at once."""
    app.config["SECGOV_IMPORT_BACKGROUND_BYTES"] = 100
    token = api_token(org["officer_a"])
    wrong_header = b"colour,size\r\n" + b"red,1\r\n" * 50
    response = post_api(client, token, wrong_header)
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["column"] == "colour"
    response = post_api(client, token, csv_bytes(good_rows(5)), filename="assets.xls")
    assert response.status_code == 422
    assert the_runs(session) == []
    # An XLSX file above the size threshold is not opened in the request.
    response = post_api(client, token, b"PK\x03\x04" + b"\0" * 200, filename="assets.xlsx")
    assert response.status_code == 202
    (run,) = the_runs(session)
    assert run.status == "failed" and run.reason == "import_refused"
    assert loads(run.result)["errors"][0]["message"] == "This is not an XLSX file."


def test_partial_background_import_keeps_the_report_of_the_bad_rows(org, client, api_token, session):
    rows = [*good_rows(3), row("BAD-1", sector="space"), row("BAD-2", owner="nobody"), row("BG-9")]
    response = post_api(client, api_token(org["officer_a"]), csv_bytes(rows), "?partial=true")
    assert response.status_code == 202
    (run,) = the_runs(session)
    assert run.status == "succeeded"
    result = loads(run.result)
    assert result["created"] == 4 and result["total_rows"] == 6 and result["problems"] == 2
    assert result["rejected_rows"] == 2 and result["partial"] is True
    assert [(e["row"], e["column"]) for e in result["errors"]] == [(5, "sector"), (6, "owner")]
    assert result["errors"][1]["message"] == "Unknown or disabled user: nobody"
    assert asset_codes(session) == ["BG-0", "BG-1", "BG-2", "BG-9"]
    assert (run.progress_done, run.progress_total) == (6, 6)


def test_all_or_nothing_background_import_with_a_bad_row_fails_and_writes_nothing(org, client, api_token, session):
    rows = [*good_rows(5), row("BAD-1", sector="space")]
    response = post_api(client, api_token(org["officer_a"]), csv_bytes(rows))
    assert response.status_code == 202
    (run,) = the_runs(session)
    assert run.status == "failed" and run.reason == "import_refused"
    result = loads(run.result)
    assert result["created"] == 0 and result["written"] is False and result["total_rows"] == 6
    assert [(e["row"], e["column"]) for e in result["errors"]] == [(7, "sector")]
    assert asset_codes(session) == []
    assert run_files(session) == 0
    assert run.progress_total == 6


def test_a_bureau_officer_imports_in_their_scope_in_the_background(org, client, api_token, session):
    rows = [*good_rows(4), row("OTHER-1", department="b")]
    token = api_token(org["officer_a"])
    assert post_api(client, token, csv_bytes(rows)).status_code == 202
    (run,) = the_runs(session)
    assert run.status == "failed" and run.reason == "import_refused"
    assert loads(run.result)["errors"] == [{"row": 6, "column": "department", "message": "Unknown department: b"}]
    assert asset_codes(session) == []
    # The same refusal as during a request; partial writes the rest.
    assert post_api(client, token, csv_bytes(rows), "?partial=true").status_code == 202
    run = the_runs(session)[-1]
    assert run.status == "succeeded" and loads(run.result)["created"] == 4
    assert "OTHER-1" not in asset_codes(session)


def test_the_report_is_in_the_requesters_language(org, client, api_token, session):
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        compile_catalog(PO, MO)  # git-ignored: built by the Makefile
    rows = [*good_rows(4), row("BAD-1", owner="nobody")]
    response = post_api(client, api_token(org["officer_a"]), csv_bytes(rows), headers={"Accept-Language": "zh"})
    assert response.status_code == 202
    (run,) = the_runs(session)
    assert loads(run.params)["language"] == "zh"
    message = loads(run.result)["errors"][0]["message"]
    assert message != "Unknown or disabled user: nobody" and "nobody" in message


def test_the_202_answer_is_in_the_openapi_document(app, client):
    document = client.get("/api/v1/openapi.json").json
    answers = document["paths"]["/api/v1/assets/import"]["post"]["responses"]
    assert "202" in answers and "200" in answers


# --- the pages ---------------------------------------------------------------------------------


def test_page_upload_above_the_threshold_follows_the_run(org, client, session):
    login(client, org["officer_a"])
    response = upload(client, csv_bytes(good_rows(6)))
    assert response.status_code == 303
    (run,) = the_runs(session)
    assert response.headers["Location"].endswith(f"/jobs/{run.id}")
    assert run.status == "succeeded" and run.channel == "web"
    assert len(asset_codes(session)) == 6
    # The run's page shows what was imported.
    page = client.get(response.headers["Location"], headers=EN)
    assert page.status_code == 200 and "6 rows were imported into" in page.get_data(as_text=True)


def test_the_runs_page_shows_the_report_row_by_row(org, client, session):
    login(client, org["officer_a"])
    rows = [*good_rows(4), row("BAD-1", sector="space"), row("BAD-2", department="b")]
    response = upload(client, csv_bytes(rows), partial=True)
    (run,) = the_runs(session)
    assert response.status_code == 303 and run.status == "succeeded"
    html = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "4 of 6 rows were written; the rows below were not." in html
    assert "<td>6</td>" in html and "Unknown department: b" in html and "<code>sector</code>" in html
    # All or nothing: the run failed, its page gives the reason and still the rows.
    response = upload(client, csv_bytes([*good_rows(4, "AON"), row("BAD-3", owner="nobody")]))
    run = the_runs(session)[-1]
    assert run.status == "failed" and run.reason == "import_refused"
    html = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Nothing was written. Correct the rows below" in html and "Unknown or disabled user: nobody" in html


def test_page_upload_under_the_threshold_answers_at_once(org, client, session):
    login(client, org["officer_a"])
    response = upload(client, csv_bytes(good_rows(2)))
    assert response.status_code == 302 and response.headers["Location"].endswith("/registers/import")
    bad = upload(client, csv_bytes([row("X-1", sector="space")]))
    assert bad.status_code == 422 and "<code>sector</code>" in bad.get_data(as_text=True)
    assert the_runs(session) == []


def test_the_result_template_shows_the_report_row_by_row(org, app, client, api_token, session):
    rows = [*good_rows(4), row("BAD-1", sector="space"), row("BAD-2", department="b")]
    post_api(client, api_token(org["officer_a"]), csv_bytes(rows), "?partial=true")
    (run,) = the_runs(session)
    kind = domains.registry().jobs["register.import"]
    with app.test_request_context(headers=EN):
        html = app.jinja_env.get_template(kind.result_template).render(run=run, result=loads(run.result))
    assert "4 of 6 rows were written; the rows below were not." in html
    assert "<td>6</td>" in html and "<code>sector</code>" in html and "Unknown department: b" in html
    # Everything written: the count; no report at all (a run stopped by its deadline): nothing.
    with app.test_request_context(headers=EN):
        done = app.jinja_env.get_template(kind.result_template).render(
            run=run, result={**loads(run.result), "errors": [], "created": 6}
        )
        empty = app.jinja_env.get_template(kind.result_template).render(run=run, result={})
    assert "6 rows were imported into" in done
    assert empty.strip() == ""


# --- the job -----------------------------------------------------------------------------------


def test_the_job_checks_the_importer_roles_again(org, app, session):
    """Roles taken away between the upload and the run: the run is refused, nothing written."""
    register = domains.registry().register("assets")
    with app.test_request_context():
        run = background.enqueue(
            session,
            Actor.of(org["officer_a"], "web"),
            register,
            csv_bytes(good_rows(5)),
            "assets.csv",
            partial=False,
            language="en",
        )
        session.commit()
    user = session.get(User, org["officer_a"].id)
    user.role_rows = [UserRole(role="leader")]
    session.add(user)
    session.commit()
    tasks.platform_of(app).dispatch([run.id])
    (run,) = the_runs(session)
    assert run.status == "failed" and run.reason == "import_forbidden"
    assert asset_codes(session) == [] and run_files(session) == 0
    denied = session.exec(select(AuditEntry).where(AuditEntry.action == "run.denied")).all()
    assert [entry.actor for entry in denied] == ["officer.a"]


def test_the_engine_reports_progress_between_batches(org, app, session):
    register = domains.registry().register("assets")
    calls: list[tuple[int, int]] = []
    rows = [*good_rows(450), row("BAD-1", sector="space")]
    with app.test_request_context():
        report = exchange.import_file(
            app.extensions["secgov_engine"],
            register,
            csv_bytes(rows),
            "assets.csv",
            Actor.system("cli"),
            config_of(app),
            partial=True,
            progress=lambda done, total: calls.append((done, total)),
        )
    assert report.created == 450
    assert calls == [(1, 451), (201, 451), (401, 451), (451, 451)]


def test_a_deadline_between_batches_undoes_an_all_or_nothing_import(org, app, session):
    register = domains.registry().register("assets")

    def progress(done: int, total: int) -> None:
        if done > 200:
            raise DeadlineExceeded()

    with app.test_request_context(), pytest.raises(DeadlineExceeded):
        exchange.import_file(
            app.extensions["secgov_engine"],
            register,
            csv_bytes(good_rows(450)),
            "assets.csv",
            Actor.system("cli"),
            config_of(app),
            progress=progress,
        )
    assert asset_codes(session) == []  # the first batch was written, then undone


def test_the_kind_is_declared_for_uploads_only(app):
    kind = domains.registry().jobs["register.import"]
    assert kind.roles == frozenset() and not kind.schedulable
    assert kind.max_seconds == background.MAX_SECONDS
    assert "import_refused" in kind.reasons

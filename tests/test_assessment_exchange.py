"""Import and export of the risk register and of the assessments (CSV, XLSX) through the core's
register exchange: round trips, bad rows named and nothing written, and scope."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import factories
import openpyxl
import pytest
from audit_support import run_cli
from factories import config_of
from sqlmodel import func, select

from assessments import exchange as files
from assessments import risks, rule
from assessments.models import Assessment, AssessmentArea, Risk
from secgov import domains, exchange
from secgov.authz import Actor
from secgov.models import AuditEntry

EN = {"Accept-Language": "en"}
SYSTEM = Actor.system("cli")
TODAY = date.today()
LATER = (TODAY + timedelta(days=60)).isoformat()

RISK_HEADER = list(files.RISKS.column_names)
ASSESSMENT_HEADER = list(files.ASSESSMENTS.column_names)


def csv_bytes(header: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[str(r.get(c, "")) for c in header] for r in rows])
    return out.getvalue().encode("utf-8")


def parse_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def risk_row(asset: str = "A-1", **values) -> dict:
    return {"asset": asset, "title": f"Risk of {asset}", "likelihood": "3", "impact": "4", **values}


@pytest.fixture
def org(city, make_user, app, session):
    """The shared city with the owner of bureau a's systems (unit a1), a leader of bureau a, and
    three graded systems: A-1 (bureau a), A-2 (unit a1), B-1 (bureau b)."""
    people = {
        **city,
        "owner": make_user("zhang.wei", roles=("officer",), department="a1"),
        "leader_a": make_user("leader.a", roles=("leader",), department="a"),
    }
    for code, dept, owner in (("A-1", "a", "zhang.wei"), ("A-2", "a1", "zhang.wei"), ("B-1", "b", "officer.b")):
        factories.make_asset(app, code, dept, "energy", owner=owner, mlps_level=3, mlps_filing_number=f"F-{code}")
    return people


@pytest.fixture
def run_import(app, session):
    def run(register: str, data: bytes, filename: str = "file.csv", viewer=None, *, partial: bool = False):
        chosen = domains.registry().register(register)
        session.rollback()
        with app.test_request_context(headers=EN):
            actor = Actor.of(viewer, "web") if viewer is not None else SYSTEM
            return exchange.import_file(
                app.extensions["secgov_engine"], chosen, data, filename, actor, config_of(app), partial=partial
            )

    return run


def export(app, session, register: str, viewer=None, **query) -> bytes:
    chosen = domains.registry().register(register)
    session.rollback()
    with app.test_request_context(headers=EN):
        actor = Actor.of(viewer) if viewer is not None else SYSTEM
        made = exchange.export(session, chosen, chosen.export_query(**query), actor, config_of(app), audited=False)
    return made.data


def count(session, model) -> int:
    session.rollback()
    return session.exec(select(func.count()).select_from(model)).one()


def audited(session, action: str) -> list[AuditEntry]:
    session.rollback()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


def risk_records(app, session) -> list[dict]:
    """Every risk as its export row, sorted: what a round trip must give back."""
    session.rollback()
    with app.test_request_context(headers=EN):
        rows = list(files.risk_records(session, SYSTEM, risks.RiskQuery(sort="id")))
    return sorted((r.model_dump() for r in rows), key=repr)


# --- risks ---------------------------------------------------------------------------------------


def test_risks_import_through_the_service_and_round_trip(org, app, session, run_import):
    data = csv_bytes(
        RISK_HEADER,
        [
            risk_row(
                "a-1",  # codes without case
                department="a",
                title="弱口令：运维账户仍用默认口令",
                area="System_Protection",
                control_id="L3-SPC-01",
                threat="外部攻击者",
                vulnerability="默认口令",
                likelihood="5",
                impact="5",
                treatment="reduce",
                treatment_plan="月底前更换全部口令",
                owner="Officer.A",
                due_date=LATER,
                status="in_treatment",
                residual_likelihood="2",
                residual_impact="3",
                level="very_low",  # read-only: derived again from the matrix
            ),
            risk_row("A-2", title="Backups untested", likelihood="2", impact="2", treatment="transfer"),
            risk_row("A-2", title="Backups untested"),  # the same title twice is no duplicate
        ],
    )
    report = run_import("risks", data, "风险登记.csv")
    assert report.errors == [] and (report.created, report.total_rows) == (3, 3)
    before = risk_records(app, session)
    weak = next(r for r in before if r["title"].startswith("弱口令"))
    assert weak == {
        "asset": "A-1",
        "department": "a",
        "title": "弱口令：运维账户仍用默认口令",
        "area": "system_protection",
        "control_id": "L3-SPC-01",
        "threat": "外部攻击者",
        "vulnerability": "默认口令",
        "likelihood": 5,
        "impact": 5,
        "level": "very_high",
        "treatment": "reduce",
        "treatment_plan": "月底前更换全部口令",
        "owner": "officer.a",
        "due_date": date.fromisoformat(LATER),
        "status": "in_treatment",
        "residual_likelihood": 2,
        "residual_impact": 3,
        "residual_level": rule.level_of(2, 3),
    }
    assert {r["owner"] for r in before if r["asset"] == "A-2"} == {"zhang.wei"}  # the asset's owner
    assert len(audited(session, "risk.created")) == 3
    assert len(audited(session, "risks.imported")) == 1

    exported = {fmt: export(app, session, "risks", format=fmt) for fmt in ("csv", "xlsx")}
    for fmt, data in exported.items():
        report = run_import("risks", data, f"risks.{fmt}")
        assert report.errors == [] and report.created == 3, fmt
    after = risk_records(app, session)
    assert after == sorted(before * 3, key=repr)


def test_risk_exports_use_the_lists_filters_and_scope(org, app, session, run_import):
    rows = [
        risk_row("A-1", title="High one", likelihood="5", impact="4"),
        risk_row("A-2", title="Low one", likelihood="1", impact="1"),
        risk_row("B-1", title="South", owner="officer.b"),
    ]
    assert run_import("risks", csv_bytes(RISK_HEADER, rows)).created == 3
    high = parse_csv(export(app, session, "risks", format="csv", level=rule.level_of(5, 4)))
    assert [r["title"] for r in high] == ["High one"]
    unit = parse_csv(export(app, session, "risks", format="csv", department="a1"))
    assert [r["title"] for r in unit] == ["Low one"]
    mine = parse_csv(export(app, session, "risks", org["officer_a"], format="csv"))
    assert sorted(r["title"] for r in mine) == ["High one", "Low one"]
    assert list(mine[0]) == RISK_HEADER
    sheet = openpyxl.load_workbook(io.BytesIO(export(app, session, "risks", format="xlsx")), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows(min_row=2)) == 3


@pytest.mark.parametrize(
    ("values", "column", "message"),
    [
        ({"likelihood": "0"}, "likelihood", "Use a whole number from 1 (very low) to 5 (very high)."),
        ({"impact": "6"}, "impact", "Use a whole number from 1 (very low) to 5 (very high)."),
        ({"asset": "NOPE-1"}, "asset", "Unknown asset: NOPE-1"),
        ({"owner": "nobody"}, "owner", "Unknown or disabled user: nobody"),
        ({"due_date": (TODAY - timedelta(days=1)).isoformat()}, "due_date", "cannot be before the risk was registered"),
        ({"status": "accepted"}, "status", "accepted is not one of: open, in_treatment"),
        ({"residual_likelihood": "2"}, "residual_impact", "Give both the residual likelihood"),
        ({"department": "b"}, "department", "A-1 belongs to department a, not b."),
        ({"area": "cooking"}, "area", "cooking is not one of:"),
        ({"treatment": "ignore"}, "treatment", "ignore is not one of: reduce"),
        ({"title": ""}, "title", ""),
    ],
)
def test_bad_risk_rows_are_named_and_nothing_is_written(org, session, run_import, values, column, message):
    data = csv_bytes(RISK_HEADER, [risk_row("A-2", title="Good"), risk_row(**{"asset": "A-1", **values})])
    report = run_import("risks", data)
    assert report.created == 0
    assert [(e.row, e.column) for e in report.errors] == [(3, column)], report.errors
    assert message in report.errors[0].message
    assert count(session, Risk) == 0
    assert audited(session, "risk.created") == [] and audited(session, "risks.imported") == []


def test_partial_risk_import_writes_the_good_rows(org, session, run_import):
    data = csv_bytes(RISK_HEADER, [risk_row("A-2"), risk_row("A-1", likelihood="9"), risk_row("A-1")])
    report = run_import("risks", data, partial=True)
    assert report.created == 2 and [e.row for e in report.errors] == [3]
    assert count(session, Risk) == 2


def test_an_officer_of_bureau_b_cannot_import_risks_onto_bureau_a(org, session, run_import):
    data = csv_bytes(RISK_HEADER, [risk_row("B-1", owner="officer.b"), risk_row("A-1", owner="officer.b")])
    report = run_import("risks", data, viewer=org["officer_b"])
    assert report.created == 0
    assert [(e.row, e.column, e.message) for e in report.errors] == [(3, "asset", "Unknown asset: A-1")]
    assert count(session, Risk) == 0
    refusals = audited(session, "authz.out_of_scope")
    assert [(r.actor, r.object_type) for r in refusals] == [("officer.b", "asset")]
    # Bureau a's officer reaches its unit's system, not bureau b's; nor bureau b's people.
    data = csv_bytes(RISK_HEADER, [risk_row("A-2"), risk_row("B-1"), risk_row("A-1", owner="officer.b")])
    report = run_import("risks", data, viewer=org["officer_a"])
    assert [(e.row, e.column) for e in report.errors] == [(3, "asset"), (4, "owner")]
    assert count(session, Risk) == 0
    report = run_import("risks", csv_bytes(RISK_HEADER, [risk_row("A-2")]), viewer=org["officer_a"])
    assert report.created == 1


def test_an_undone_risk_import_removes_its_risks_audited(org, app, session, run_import):
    assert run_import("risks", csv_bytes(RISK_HEADER, [risk_row("A-1"), risk_row("A-2")])).created == 2
    ids = [r.id for r in session.exec(select(Risk)).all()]
    with app.test_request_context(headers=EN):
        files.RISKS.undo(session, ids, SYSTEM)
        session.commit()
    assert count(session, Risk) == 0
    assert len(audited(session, "risk.deleted")) == 2


def test_risk_import_and_export_over_the_api_and_the_command_line(org, client, api_token, database_url, tmp_path):
    token = {"Authorization": f"Bearer {api_token(org['officer_a'])}", **EN}
    data = csv_bytes(RISK_HEADER, [risk_row("A-1"), risk_row("A-2", likelihood="1", impact="1")])
    response = client.post("/api/v1/risks/import", data={"file": (io.BytesIO(data), "r.csv")}, headers=token)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == 2
    bad = csv_bytes(RISK_HEADER, [risk_row("B-1")])
    response = client.post("/api/v1/risks/import", data={"file": (io.BytesIO(bad), "r.csv")}, headers=token)
    assert response.status_code == 422
    response = client.get("/api/v1/risks/export?format=csv&level=very_low", headers=token)
    assert response.status_code == 200
    assert [r["asset"] for r in parse_csv(response.data)] == ["A-2"]

    good = tmp_path / "risks.csv"
    good.write_bytes(csv_bytes(RISK_HEADER, [risk_row("B-1")]))
    result = run_cli(database_url, "import", "risks", str(good), "--as", "officer.a")
    assert result.exit_code == 2 and "row 2, asset: Unknown asset: B-1" in result.stderr
    result = run_cli(database_url, "import", "risks", str(good))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "all.xlsx"
    result = run_cli(database_url, "export", "risks", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    sheet = openpyxl.load_workbook(out).active
    assert sorted(line[0].value for line in sheet.iter_rows(min_row=2)) == ["A-1", "A-2", "B-1"]


# --- assessments ---------------------------------------------------------------------------------


def assessment_row(asset: str = "A-1", **values) -> dict:
    return {"asset": asset, "kind": "self_inspection", "started_on": (TODAY - timedelta(days=10)).isoformat(), **values}


def assessment_records(app, session) -> list[dict]:
    session.rollback()
    with app.test_request_context(headers=EN):
        rows = list(files.assessment_records(session, SYSTEM, files.AssessmentQuery()))
    return sorted((r.model_dump() for r in rows), key=repr)


def test_assessments_import_as_drafts_with_area_ratings_and_round_trip(org, app, session, run_import):
    started = (TODAY - timedelta(days=40)).isoformat()
    finished = (TODAY - timedelta(days=5)).isoformat()
    data = csv_bytes(
        ASSESSMENT_HEADER,
        [
            assessment_row(
                "A-1",
                department="a",
                kind="MLPS_Evaluation",
                title="2026年度等级测评",
                assessors="王安 Wang An; 李通",
                started_on=started,
                finished_on=finished,
                agency="海滨网络安全测评中心",
                report_number="HB-2026-031",
                agency_score="86.5",
                summary="总体良好",
                rating_policies="80",
                reason_policies="制度齐全，执行记录不全",
                rating_security_standards="95.5",
                reason_security_standards="按标准落实",
                status="approved",  # read-only: an import makes a draft
                score="86.5",
                conclusion="good",
            ),
            assessment_row("A-2", title="Self-inspection"),
        ],
    )
    report = run_import("assessments", data, "评估.csv")
    assert report.errors == [] and report.created == 2
    session.rollback()
    made = {a.title: a for a in session.exec(select(Assessment)).all()}
    mlps = made["2026年度等级测评"]
    assert (mlps.status, mlps.kind, mlps.assessors) == ("draft", "mlps_evaluation", ["王安 Wang An", "李通"])
    assert (mlps.agency_score, mlps.report_number, mlps.score, mlps.conclusion) == (86.5, "HB-2026-031", None, "")
    areas = {a.area: a for a in session.exec(select(AssessmentArea).where(AssessmentArea.assessment_id == mlps.id))}
    assert (areas["policies"].rating, areas["policies"].reason) == (80, "制度齐全，执行记录不全")
    assert areas["security_standards"].rating == 95.5
    assert len(audited(session, "assessment.created")) == 2

    before = assessment_records(app, session)
    line = next(r for r in before if r["asset"] == "A-1")
    assert line["assessors"] == "王安 Wang An; 李通" and line["status"] == "draft" and line["rating_policies"] == 80
    exported = {fmt: export(app, session, "assessments", format=fmt) for fmt in ("csv", "xlsx")}
    for fmt, data in exported.items():
        report = run_import("assessments", data, f"a.{fmt}")
        assert report.errors == [] and report.created == 2, fmt
    after = assessment_records(app, session)
    assert after == sorted(before * 3, key=repr)


@pytest.mark.parametrize(
    ("values", "column", "message"),
    [
        ({"started_on": (TODAY + timedelta(days=1)).isoformat()}, "started_on", "cannot start in the future"),
        ({"finished_on": "2000-01-01"}, "finished_on", "cannot finish before it started"),
        ({"agency": "Outside Co", "agency_score": "80"}, "agency", "Only MLPS evaluations and CII"),
        ({"kind": "mlps_evaluation", "agency_score": "80"}, "agency", "Name the agency"),
        ({"rating_policies": "55"}, "reason_policies", "differs from the controls"),
        ({"rating_policies": "101", "reason_policies": "x"}, "rating_policies", "A rating runs from 0 to 100."),
        ({"kind": "annual"}, "kind", "annual is not one of: self_inspection"),
        ({"asset": "B-1"}, "asset", "Unknown asset: B-1"),
        ({"assessors": ";".join(f"p{i}" for i in range(21))}, "assessors", "At most 20 assessors."),
    ],
)
def test_bad_assessment_rows_are_named_and_nothing_is_written(org, session, run_import, values, column, message):
    data = csv_bytes(ASSESSMENT_HEADER, [assessment_row("A-2"), assessment_row(**{"asset": "A-1", **values})])
    report = run_import("assessments", data, viewer=org["officer_a"])
    assert report.created == 0
    assert [(e.row, e.column) for e in report.errors] == [(3, column)], report.errors
    assert message in report.errors[0].message
    assert count(session, Assessment) == 0


def test_assessment_exports_follow_the_lists_filters(org, app, session, run_import):
    rows = [assessment_row("A-1"), assessment_row("A-2", kind="ad_hoc"), assessment_row("B-1")]
    assert run_import("assessments", csv_bytes(ASSESSMENT_HEADER, rows)).created == 3
    assert [r["asset"] for r in parse_csv(export(app, session, "assessments", format="csv", kind="ad_hoc"))] == ["A-2"]
    mine = parse_csv(export(app, session, "assessments", org["officer_b"], format="csv"))
    assert [r["asset"] for r in mine] == ["B-1"] and list(mine[0]) == ASSESSMENT_HEADER
    ids = [a.id for a in session.exec(select(Assessment)).all()]
    with app.test_request_context(headers=EN):
        files.ASSESSMENTS.undo(session, ids, SYSTEM)
        session.commit()
    assert count(session, Assessment) == 0 and len(audited(session, "assessment.deleted")) == 3

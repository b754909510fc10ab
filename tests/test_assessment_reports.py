"""The assessments domain on the dashboard, in the compliance report and in the asset dossier: each
tile's and chapter's figures equal counts this test makes itself from the rows it created (open
risks by level, overdue treatments and reviews, required assessments overdue, due soon and never
assessed, poor conclusions); the PDFs render in both languages with the heat maps' SVG in their
HTML, the top risks with their owners, and the overdue items in the core's overdue chapter."""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import date

import pytest
from flask_babel import force_locale
from sqlmodel import Session, select
from test_dossier import make_dossier
from test_reports import actor_of, make_report, pdf_text, stored_file, tr

from assessments import chapters, dashboard, dossier, figures, risks, rule, services
from assessments.models import Assessment, Risk, RiskAcceptance
from assessments.schemas import (
    AcceptanceCreate,
    AreaInput,
    AssessmentCreate,
    AssessmentDecision,
    ReviewCreate,
    RiskCreate,
)
from assets.models import Asset, AssetGrade
from secgov.codes import AREA
from secgov.config import ServiceConfig
from secgov.models import Department
from secgov.reports import service
from secgov.reports.chapters import Period
from secgov.reports.document import render_html
from secgov.snapshots import local_today

TODAY = date(2026, 11, 30)  # the report's last day (period 2026-11) and the dashboard's today
# The defaults of the methodology's settings, as the catalogue and the README state them.
MLPS_MONTHS = {2: 24, 3: 12, 4: 6, 5: 6}
SELF_MONTHS = CII_MONTHS = 12
REVIEW_MONTHS = {"very_high": 1, "high": 3, "moderate": 6, "low": 12, "very_low": 12}
SOON_DAYS = 30


def months_later(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def engine_of(app):
    return app.extensions["secgov_engine"]


def method_of(app, session):
    with app.test_request_context():
        return rule.method(session, ServiceConfig())


def assess(app, officer, leader, asset, kind: str, finished: date, score: float, **extra) -> int:
    """An approved assessment of this kind finished on that day: an agency's score for the MLPS
    and CII kinds, the assessor's rating of every area otherwise."""
    agency = kind in ("mlps_evaluation", "cii_annual")
    data = AssessmentCreate(
        asset_id=asset.id,
        kind=kind,
        title=f"{kind} {finished}",
        started_on=finished,
        finished_on=finished,
        agency="Provincial Evaluation Centre" if agency else "",
        report_number=f"EV-{asset.code}-{finished.year}" if agency else "",
        agency_score=score if agency else None,
        areas=[] if agency else [AreaInput(area=area, rating=score, reason="as found") for area in AREA.codes],
        **extra,
    )
    with app.test_request_context(), Session(engine_of(app)) as session:
        method = rule.method(session, ServiceConfig())
        made = services.create_assessment(session, data, actor_of(app, officer), today=finished)
        services.submit(session, made, actor_of(app, officer), method)
        services.approve(session, made, AssessmentDecision(), actor_of(app, leader), method, today=finished)
        session.commit()
        return made.id


def register_risk(app, officer, asset, title, likelihood, impact, *, on=date(2026, 1, 10), **fields) -> int:
    with app.test_request_context(), Session(engine_of(app)) as session:
        method = rule.method(session, ServiceConfig())
        data = RiskCreate(asset_id=asset.id, title=title, likelihood=likelihood, impact=impact, **fields)
        made = risks.create_risk(session, data, actor_of(app, officer), method, today=on)
        session.commit()
        return made.id


@pytest.fixture
def registers(app, city, make_asset):
    """Systems in a, a1 and b with approved assessments (some overdue, one poor within the year,
    one poor before it), a draft, risks at every level and in every state, acceptances in force
    and lapsed, and a recent review."""
    officer_a, officer_b, leader = city["officer_a"], city["officer_b"], city["leader"]
    a1 = make_asset("A-1", "a", owner="officer.a", name="Alpha traffic control", mlps_level=3, is_cii=True)
    a2 = make_asset("A-2", "a1", owner="officer.a", name="Alpha grid meter", mlps_level=2)
    b1 = make_asset("B-1", "b", owner="officer.b", name="Bravo payments", mlps_level=4)
    make_asset("A-9", "a", owner="officer.a", name="Alpha retired", mlps_level=3, lifecycle="retired")
    with Session(engine_of(app)) as session:
        row = session.get(Asset, a1.id)
        row.cii_designated_on = date(2025, 1, 15)
        session.add(row)
        session.commit()
    assess(app, officer_a, leader, a1, "mlps_evaluation", date(2025, 6, 1), 85)  # good; due 2026-06-01
    assess(app, officer_a, leader, a1, "self_inspection", date(2026, 3, 1), 60)  # poor, within the year
    assess(app, officer_a, leader, a2, "ad_hoc", date(2025, 10, 1), 40)  # poor, more than a year ago
    assess(app, officer_b, leader, b1, "mlps_evaluation", date(2026, 8, 1), 92)  # excellent; due 2027-02-01
    assess(app, officer_b, leader, b1, "self_inspection", date(2025, 12, 20), 75)  # fair; due 2026-12-20: soon
    with app.test_request_context(), Session(engine_of(app)) as session:  # a draft counts nowhere
        services.create_assessment(
            session,
            AssessmentCreate(asset_id=a2.id, kind="mlps_evaluation", started_on=date(2026, 11, 1)),
            actor_of(app, officer_a),
            today=TODAY,
        )
        session.commit()
    # Risks: registered on 2026-01-10 unless said otherwise.
    register_risk(app, officer_a, a1, "Unpatched signal controllers", 5, 5, due_date=date(2026, 6, 30))
    register_risk(app, officer_a, a1, "Shared operator passwords", 4, 4, due_date=date(2027, 1, 31))
    moderate = register_risk(
        app, officer_a, a1, "Backups untested", 3, 3, status="in_treatment", due_date=date(2026, 11, 29)
    )
    lapsed = register_risk(
        app, officer_a, a2, "Meter firmware unsigned", 4, 5, residual_likelihood=2, residual_impact=3
    )
    in_force = register_risk(app, officer_a, a2, "Old printer", 2, 2)
    register_risk(app, officer_b, b1, "Payment gateway exposed", 5, 4, owner="officer.b", on=date(2026, 11, 20))
    closed = register_risk(app, officer_b, b1, "Legacy FTP", 2, 3)
    with app.test_request_context(), Session(engine_of(app)) as session:
        method = rule.method(session, ServiceConfig())
        risks.accept(
            session,
            session.get(Risk, lapsed),
            AcceptanceCreate(reason="vendor fix pending", expires_on=date(2026, 10, 1)),
            actor_of(app, leader),
            ("leader",),
            today=date(2026, 2, 1),
        )
        risks.accept(
            session,
            session.get(Risk, in_force),
            AcceptanceCreate(reason="low value", expires_on=date(2027, 6, 1)),
            actor_of(app, officer_a),
            ("officer",),
            today=date(2026, 2, 1),
        )
        risks.review(
            session,
            session.get(Risk, moderate),
            ReviewCreate(note="on track"),
            actor_of(app, officer_a),
            method,
            today=date(2026, 11, 1),
        )
        row = session.get(Risk, closed)
        row.status = "closed"
        session.add(row)
        session.commit()
    return {"a1": a1, "a2": a2, "b1": b1}


# --- counting from the rows ----------------------------------------------------------------------


def scope_ids(session, codes: list[str]) -> set[int]:
    depts = session.exec(select(Department.id).where(Department.code.in_(codes))).all()
    return set(session.exec(select(Asset.id).where(Asset.department_id.in_(depts))).all())


def risk_counts(app, codes: list[str], today: date = TODAY) -> dict:
    """Open risks by level, overdue treatments and reviews, counted from the rows."""
    with Session(engine_of(app)) as session:
        ids = scope_ids(session, codes)
        rows = session.exec(select(Risk).where(Risk.asset_id.in_(ids))).all()
        in_force = {
            a.risk_id
            for a in session.exec(select(RiskAcceptance)).all()
            if a.status == "active" and a.expires_on > today
        }
    open_rows = [
        r for r in rows if r.status in ("open", "in_treatment") or (r.status == "accepted" and r.id not in in_force)
    ]
    return {
        "by_level": Counter(r.level for r in open_rows),
        "open": len(open_rows),
        "severe": sum(r.level in ("high", "very_high") for r in open_rows),
        "treatment": sum(
            r.status in ("open", "in_treatment") and r.due_date is not None and r.due_date < today for r in rows
        ),
        "review": sum(
            r.status != "closed" and months_later(r.last_reviewed_on or r.created_on, REVIEW_MONTHS[r.level]) < today
            for r in rows
        ),
        "live": [r for r in rows if r.status != "closed"],
    }


def due_counts(app, codes: list[str], today: date = TODAY) -> dict:
    """Each required assessment's state on today, from the assets, their grades and their
    approved assessments (the intervals of the catalogue)."""
    states: dict[str, Counter] = {}
    never: Counter = Counter()
    with Session(engine_of(app)) as session:
        ids = scope_ids(session, codes)
        assets = session.exec(select(Asset).where(Asset.id.in_(ids), Asset.lifecycle == "operational")).all()
        done = session.exec(select(Assessment).where(Assessment.status == "approved")).all()
        grades = session.exec(select(AssetGrade)).all()
    for asset in assets:
        graded = min(g.changed_at for g in grades if g.asset_id == asset.id).date()
        needed = {"self_inspection": (SELF_MONTHS, graded)}
        if MLPS_MONTHS.get(asset.mlps_level):
            needed["mlps_evaluation"] = (MLPS_MONTHS[asset.mlps_level], graded)
        if asset.is_cii:
            needed["cii_annual"] = (CII_MONTHS, asset.cii_designated_on or graded)
        for kind, (months, since) in needed.items():
            last = max((a.finished_on for a in done if a.asset_id == asset.id and a.kind == kind), default=None)
            due = months_later(last or since, months)
            state = "overdue" if due < today else "due_soon" if (due - today).days <= SOON_DAYS else "on_time"
            states.setdefault(kind, Counter())[state] += 1
            if last is None:
                never[kind] += 1
                if state != "overdue":
                    states[kind]["first_pending"] += 1
    return {"by_kind": states, "never": never}


def poor_counts(app, codes: list[str]) -> int:
    with Session(engine_of(app)) as session:
        ids = scope_ids(session, codes)
        rows = session.exec(select(Assessment).where(Assessment.asset_id.in_(ids))).all()
    since = date(2025, 11, 30)
    return sum(a.status == "approved" and a.conclusion == "poor" and since < a.finished_on <= TODAY for a in rows)


CITY = ["city", "a", "a1", "b"]


# --- the dashboard -------------------------------------------------------------------------------


@pytest.mark.parametrize("who, codes", [("leader", CITY), ("officer_a", ["a", "a1"])])
def test_the_tiles_equal_counts_made_from_the_rows(app, city, registers, who, codes):
    expected, due, poor = risk_counts(app, codes), due_counts(app, codes), poor_counts(app, codes)
    actor = actor_of(app, city[who])
    config = ServiceConfig()
    with app.test_request_context(), Session(engine_of(app)) as session:
        opened = dashboard.open_risks(session, actor, config, TODAY)
        late = dashboard.risk_overdue(session, actor, config, TODAY)
        assessed = dashboard.assessments_due(session, actor, config, TODAY)
        poorly = dashboard.poor_conclusions(session, actor, config, TODAY)
    assert opened["open"] == expected["open"] and opened["severe"] == expected["severe"]
    assert {row["level"]: row["risks"] for row in opened["by_level"] if row["risks"]} == dict(expected["by_level"])
    assert late["treatment_overdue"] == expected["treatment"] and late["review_overdue"] == expected["review"]
    overdue = sum(c["overdue"] for c in due["by_kind"].values())
    soon = sum(c["due_soon"] for c in due["by_kind"].values())
    assert (assessed["overdue"], assessed["due_soon"]) == (overdue, soon)
    assert poorly["poor"] == poor
    if who == "leader":  # the comparisons mean something
        assert expected["open"] == 5 and expected["treatment"] == 2 and overdue == 2 and soon == 1 and poor == 1
        assert expected["by_level"]["very_high"] == 2


def test_the_home_page_shows_the_tiles(client, app, city, registers):
    from helpers import login

    login(client, city["leader"])
    page = client.get("/", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for title in ("Open risks", "Risk treatments and reviews", "Assessments due", "Poor conclusions"):
        assert title in text


def test_the_daily_figures_equal_counts_made_from_the_rows(app, city, registers):
    """Each department's own value of every figure, as the snapshot stores it, on the city's today."""
    today = local_today(ServiceConfig().timezone)
    with app.test_request_context(), Session(engine_of(app)) as session:
        values = {figure.code: figure.count(session) for figure in figures.FIGURES}
        depts = dict(session.exec(select(Department.code, Department.id)).all())
    for code, dept in depts.items():
        expected, due = risk_counts(app, [code], today), due_counts(app, [code], today)
        got = {name: values[name].get(dept, 0) for name in values}
        assert got["risks.open"] == expected["open"], code
        assert got["risks.open_severe"] == expected["severe"], code
        assert got["risks.treatment_overdue"] == expected["treatment"], code
        assert got["risks.review_overdue"] == expected["review"], code
        assert got["assessments.overdue"] == sum(c["overdue"] for c in due["by_kind"].values()), code
        assert got["assessments.due_soon"] == sum(c["due_soon"] for c in due["by_kind"].values()), code
    assert sum(values["risks.open"].values()) == risk_counts(app, CITY, today)["open"] > 0


# --- the compliance report -----------------------------------------------------------------------


def build(app, actor, code: str, chapter) -> dict:
    with app.test_request_context(), Session(engine_of(app)) as session:
        department = session.exec(select(Department).where(Department.code == code)).one()
        scope = service.scope_of(department, actor)
        return dict(chapter(session, scope, Period(date(2026, 11, 1), TODAY), {}))


@pytest.mark.parametrize("who, top, codes", [("leader", "city", CITY), ("officer_a", "a", ["a", "a1"])])
def test_the_chapters_equal_counts_made_from_the_rows(app, city, registers, who, top, codes):
    actor = actor_of(app, city[who])
    expected, due = risk_counts(app, codes), due_counts(app, codes)
    heat = build(app, actor, top, chapters.heat_map)
    live = expected["live"]
    assert heat["total"] == len(live)
    inherent = Counter((r.likelihood, r.impact) for r in live)
    residual = Counter((r.residual_likelihood or r.likelihood, r.residual_impact or r.impact) for r in live)
    assert {(c["likelihood"], c["impact"]): c["count"] for c in heat["inherent"] if c["count"]} == dict(inherent)
    assert {(c["likelihood"], c["impact"]): c["count"] for c in heat["residual"] if c["count"]} == dict(residual)
    assert [(c["likelihood"], c["impact"]) for c in heat["inherent"][:6]] == [
        (5, 1),
        (5, 2),
        (5, 3),
        (5, 4),
        (5, 5),
        (4, 1),
    ]

    ranked = build(app, actor, top, chapters.top_risks)
    assert ranked["open"] == expected["open"] and ranked["severe"] == expected["severe"]
    assert ranked["treatment_overdue"] == expected["treatment"] and ranked["review_overdue"] == expected["review"]
    levels = [row["level"] for row in ranked["rows"]["rows"]]
    order = ["very_high", "high", "moderate", "low", "very_low"]
    assert levels == sorted(levels, key=order.index)
    assert all(row["owner"] for row in ranked["rows"]["rows"])
    kinds = Counter(item["kind"] for item in ranked["overdue"])
    assert (kinds["treatment"], kinds["review"]) == (expected["treatment"], expected["review"])

    assessed = build(app, actor, top, chapters.compliance)
    for row in assessed["kinds"]:
        counted = due["by_kind"].get(row["kind"], Counter())
        assert row["required"] == counted["overdue"] + counted["due_soon"] + counted["on_time"], row
        assert row["overdue"] == counted["overdue"], row
        assert row["first_pending"] == counted["first_pending"], row
        assert row["up_to_date"] == row["required"] - row["overdue"] - row["first_pending"], row
    late = sum(c["overdue"] for c in due["by_kind"].values())
    assert assessed["overdue_total"] == len(assessed["overdue"]) == late
    assert all(item["owner"] for item in assessed["overdue"])
    required = sum(row["required"] for row in assessed["kinds"])
    assert assessed["score"][0]["value"] == round(100 * (required - late) / required, 1)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_shows_the_heat_maps_top_risks_compliance_and_overdue_items(app, city, registers, lang):
    actor = actor_of(app, city["leader"])
    report = make_report(app, actor, lang=lang, period="2026-11")
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    for title in ("Risk heat map", "Top risks and their owners", "MLPS and CII assessment compliance"):
        assert tr(app, lang, title) in text
    # The top risks with their owners, and the overdue items in the core's chapter.
    assert "Unpatched signal controllers" in text and "Payment gateway exposed" in text
    assert tr(app, lang, "Risk treatment overdue") in text and tr(app, lang, "CII annual assessment overdue") in text
    # The methodology states the assessment method.
    assert tr(app, lang, chapters.METHOD_COMPLIANCE[3])[:12] in text and "NIST SP 800-30" in text
    # The heat maps are SVG in the report's HTML.
    registry = app.extensions["secgov_registry"]
    kind = registry.report_kinds["compliance"]
    wanted = [c for c in registry.chapters if c.report == "compliance"]
    with app.test_request_context(), Session(engine_of(app)) as session:
        department = session.exec(select(Department).where(Department.code == "city")).one()
        scope = service.scope_of(department, actor)
        data = service.build_input(session, report, scope, wanted, app.config)
        html = render_html(report, scope, data, wanted, "leader", "0" * 64, (1, "h"), kind)
    assert html.count('class="chart heatmap"') == 2
    with app.test_request_context(), force_locale(lang):
        from flask_babel import gettext

        assert gettext("Inherent risk") in html and gettext("Residual risk") in html
    top = [row["title"] for row in data["chapters"]["top_risks"]["rows"]["rows"]]
    assert "Unpatched signal controllers" in top and "Old printer" not in top  # accepted, in force
    gathered = Counter(item["what"] for item in data["chapters"]["overdue"]["items"])
    expected = risk_counts(app, CITY)
    assert gathered["Risk treatment overdue"] == expected["treatment"]
    assert gathered["Risk review overdue"] == expected["review"]
    assert gathered["CII annual assessment overdue"] == gathered["MLPS evaluation overdue"] == 1


# --- the dossier ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_dossier_holds_the_assets_assessments_and_risks(app, city, registers, lang):
    asset = registers["a1"]
    actor = actor_of(app, city["officer_a"])
    with app.test_request_context(), Session(engine_of(app)) as session:
        department = session.get(Department, asset.department_id)
        scope = service.scope_of(department, actor, "A-1")
        period = Period(date(2026, 12, 6), date(2026, 12, 6))
        held = dossier.assessments(session, scope, period, {})
        listed = dossier.asset_risks(session, scope, period, {})
        approved = session.exec(select(Assessment).where(Assessment.asset_id == asset.id)).all()
        rows = session.exec(select(Risk).where(Risk.asset_id == asset.id)).all()
    assert held["history"]["total"] == len(approved) == 2
    latest = max(approved, key=lambda a: a.finished_on)
    assert (held["latest"]["score"], held["latest"]["conclusion"]) == (latest.score, latest.conclusion) == (60, "poor")
    assert {row["kind"] for row in held["due"]} == {"mlps_evaluation", "self_inspection", "cii_annual"}
    assert listed["total"] == len(rows) and listed["open"] == sum(r.status != "closed" for r in rows)
    report = make_dossier(app, actor, "A-1", lang)
    assert report.status == "succeeded", report.reason
    text = pdf_text(stored_file(app, report.id))
    for title in ("Assessments", "Risks"):
        assert tr(app, lang, title) in text
    assert "Unpatched signal controllers" in text and "Shared operator passwords" in text
    assert "EV-A-1-2025" in text and "2026-06-01" in text  # the MLPS evaluation and its next due date
    assert "Meter firmware unsigned" not in text  # another asset's risk

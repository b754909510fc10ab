"""The pages of assessments, the due list and the risk register: they render in both languages,
their forms round-trip, bad input shows its message and changes nothing, the workflow's buttons
do what the services allow (and show their refusals), and the figures shown equal the services'."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from helpers import csrf_token, login
from sqlmodel import Session, select

from assessments import risks, rule, services
from assessments.codes import LEVELS
from assessments.models import Assessment, AssessmentFinding, Risk, RiskAcceptance, RiskReview
from assessments.schemas import AssessmentCreate, RiskCreate
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import write_session
from secgov.models import AuditEntry

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
TODAY = date.today()


def _engine(app):
    return app.extensions["secgov_engine"]


def _method(app, session: Session) -> rule.Method:
    return rule.method(session, ServiceConfig.from_mapping(app.config))


def _as(app, user) -> Actor:
    return Actor.of(user, "cli")


def make_assessment(app, user, asset, **fields) -> int:
    data = AssessmentCreate(asset_id=asset.id, kind=fields.pop("kind", "self_inspection"), started_on=TODAY, **fields)
    with app.test_request_context(headers=EN), write_session(_engine(app)) as own:
        return services.create_assessment(own, data, _as(app, user)).id


def make_risk(app, user, asset, likelihood=3, impact=3, **fields) -> int:
    data = RiskCreate(
        asset_id=asset.id, title=fields.pop("title", "Weak passwords"), likelihood=likelihood, impact=impact, **fields
    )
    with app.test_request_context(headers=EN), write_session(_engine(app)) as own:
        return risks.create_risk(own, data, _as(app, user), _method(app, own)).id


@pytest.fixture
def world(app, city, make_asset, make_user):
    """Bureau a's graded asset (officer.a owns it) with a draft assessment and a moderate risk;
    bureau b's asset with a risk; a second leader of the city."""
    asset = make_asset("TRF-01", "a", owner="officer.a", mlps_level=3, mlps_filing_number="F-3")
    other = make_asset("WAT-01", "b", "transport", owner="officer.b", mlps_level=2, mlps_filing_number="F-2")
    draft = make_assessment(app, city["officer_a"], asset, title="Spring check")
    risk = make_risk(app, city["officer_a"], asset)
    foreign_risk = make_risk(app, city["officer_b"], other, title="Flooded pump room")
    foreign = make_assessment(app, city["officer_b"], other)
    return {
        **city,
        "asset": asset,
        "other": other,
        "draft": draft,
        "risk": risk,
        "foreign_risk": foreign_risk,
        "foreign": foreign,
        "leader2": make_user("leader.two", roles=("leader",), department="city"),
    }


def signed_in(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def post(client, path: str, data: dict, page: str | None = None, headers=EN):
    token = csrf_token(client, page or path)
    return client.post(path, data={**data, "csrf_token": token}, headers=headers)


def text(response) -> str:
    return response.get_data(as_text=True)


def _snapshot(app, *models) -> list:
    with Session(_engine(app)) as own:
        return [sorted(repr(row.model_dump()) for row in own.exec(select(m)).all()) for m in models]


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers,lang", [(EN, "en"), (ZH, "zh-CN")])
def test_every_page_renders_in_both_languages(app, world, headers, lang):
    officer = signed_in(app, world["officer_a"])
    asset = world["asset"]
    paths = [
        "/assessments",
        "/assessments?kind=self_inspection&status=draft&year=2026&department=a",
        "/assessments/due",
        "/assessments/due?state=attention&kind=mlps_evaluation",
        f"/assessments/{world['draft']}",
        f"/assessments/{world['draft']}/edit",
        "/assessments/new",
        f"/assessments/new?asset_id={asset.id}&kind=mlps_evaluation",
        "/risks",
        "/risks?status=live&level=moderate&overdue=any&sort=due_date",
        "/risks/heatmap",
        "/risks/new",
        f"/risks/{world['risk']}",
        f"/risks/{world['risk']}/edit",
        f"/assets/{asset.id}",
    ]
    for path in paths:
        response = officer.get(path, headers=headers)
        assert response.status_code == 200, path
        assert f'<html lang="{lang}"' in text(response), path
        assert "None" not in re.sub(r"<[^>]+>", " ", text(response)), path


def test_menu_shows_the_new_entries(app, world):
    officer = signed_in(app, world["officer_a"])
    page = text(officer.get("/", headers=EN))
    for label in ("Assessments", "Risks"):
        assert f">{label}</a>" in page
    # The due list is one click from the assessments (the menu holds one line at 1,366 px).
    assert 'href="/assessments/due?state=attention"' in text(officer.get("/assessments", headers=EN))


def test_out_of_scope_objects_are_not_found(app, world):
    officer = signed_in(app, world["officer_a"])
    assert officer.get(f"/assessments/{world['foreign']}").status_code == 404
    assert officer.get(f"/risks/{world['foreign_risk']}").status_code == 404
    assert officer.get(f"/assessments/new?asset_id={world['other'].id}").status_code == 200  # asks for an asset
    listing = text(officer.get("/risks", headers=EN))
    assert "Weak passwords" in listing and "Flooded pump room" not in listing


# --- the assessment form ------------------------------------------------------------------------


def test_create_form_round_trips(app, world):
    officer = signed_in(app, world["officer_a"])
    asset = world["asset"]
    form = text(officer.get(f"/assessments/new?asset_id={asset.id}", headers=EN))
    control = re.search(r'name="control:([^"]+)"', form)[1]
    response = post(
        officer,
        "/assessments/new",
        {
            "asset_id": str(asset.id),
            "kind": "ad_hoc",
            "title": "After the outage",
            "assessors": "Wang Li\nZhao Min",
            "started_on": TODAY.isoformat(),
            "finished_on": "",
            "rating:policies": "55",
            "reason:policies": "Policies out of date",
            "notes:policies": "See minutes",
            f"control:{control}": "partial",
            f"note:{control}": "half done",
        },
        page=f"/assessments/new?asset_id={asset.id}",
    )
    assert response.status_code == 302, text(response)
    with Session(_engine(app)) as own:
        a = own.exec(select(Assessment).where(Assessment.title == "After the outage")).one()
        record = services.read_one(own, a, _method(app, own))
    assert record.assessors == ["Wang Li", "Zhao Min"]
    area = next(r for r in record.areas if r.area == "policies")
    assert (area.rating, area.adjusted, area.reason, area.notes) == (55, True, "Policies out of date", "See minutes")
    assert [(c.control_id, c.status, c.note) for c in record.controls] == [(control, "partial", "half done")]
    # The edit form shows what was saved.
    edit = text(officer.get(f"/assessments/{a.id}/edit", headers=EN))
    assert 'value="55"' in edit and "Policies out of date" in edit and "Zhao Min" in edit
    assert re.search(rf'name="control:{re.escape(control)}".*?<option value="partial" selected', edit, re.S)
    detail = text(officer.get(f"/assessments/{a.id}", headers=EN))
    assert "Policies out of date" in detail and "55.0" in detail


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"rating:system_protection": "140"}, "rating:system_protection", "A rating runs from 0 to 100."),
        ({"rating:system_protection": "12"}, "reason:system_protection", "Say why the rating"),
        ({"finished_on": "2000-01-01"}, "finished_on", "cannot finish before it started"),
        ({"agency": "Provincial Evaluation Centre"}, "agency", "Only MLPS evaluations"),
    ],
)
def test_bad_edits_show_the_message_and_change_nothing(app, world, changes, field, message):
    officer = signed_in(app, world["officer_a"])
    path = f"/assessments/{world['draft']}/edit"
    before = _snapshot(app, Assessment)
    data = {"version": "1", "title": "Spring check", "started_on": TODAY.isoformat(), **changes}
    response = post(officer, path, data)
    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert 'class="error"' in page
    assert _snapshot(app, Assessment) == before


def test_an_approved_assessment_cannot_be_edited(app, world):
    officer = signed_in(app, world["officer_a"])
    draft = world["draft"]
    with Session(_engine(app)) as own:
        a = own.get(Assessment, draft)
        a.status = "approved"
        own.add(a)
        own.commit()
    response = officer.get(f"/assessments/{draft}/edit", headers=EN)
    assert response.status_code == 302
    before = _snapshot(app, Assessment)
    response = post(officer, f"/assessments/{draft}/edit", {"version": "1", "title": "x"}, page=f"/assessments/{draft}")
    assert response.status_code == 409 or response.status_code == 422
    assert _snapshot(app, Assessment) == before


# --- the workflow ----------------------------------------------------------------------------------


def _finish(app, user, assessment_id: int) -> None:
    client = signed_in(app, user)
    response = post(
        client,
        f"/assessments/{assessment_id}/edit",
        {"version": "1", "started_on": TODAY.isoformat(), "finished_on": TODAY.isoformat(), "title": "Spring check"},
    )
    assert response.status_code == 302, text(response)


def test_submit_approve_and_refusals(app, world, make_user):
    draft = world["draft"]
    _finish(app, world["officer_a"], draft)
    officer = signed_in(app, world["officer_a"])
    page = f"/assessments/{draft}"
    assert post(officer, f"{page}/submit", {"version": "2"}, page=page).status_code == 302
    # An officer cannot approve: the route refuses.
    assert post(officer, f"{page}/approve", {}, page=page).status_code == 403
    # A leader who is one of its assessors is refused by the service, with its message.
    assessor = make_user("officer.a.leader", roles=("leader",), department="a")
    with Session(_engine(app)) as own:
        a = own.get(Assessment, draft)
        a.assessors = ["officer.a.leader"]
        own.add(a)
        own.commit()
    client = signed_in(app, assessor)
    response = post(client, f"{page}/approve", {"version": "3"}, page=page)
    assert response.status_code == 302
    shown = text(client.get(page, headers=EN))
    assert "You cannot decide on an assessment you wrote or carried out." in shown
    with Session(_engine(app)) as own:
        assert own.get(Assessment, draft).status == "submitted"
    # Returning needs a reason: shown by the field, nothing changed.
    leader = signed_in(app, world["leader"])
    response = post(leader, f"{page}/return", {"version": "3", "reason": ""}, page=page)
    assert response.status_code == 422 and "Say why the assessment is returned." in text(response)
    # Another leader approves: score and conclusion fixed, shown with the reasons.
    response = post(leader, f"{page}/approve", {"version": "3"}, page=page)
    assert response.status_code == 302
    with Session(_engine(app)) as own:
        a = own.get(Assessment, draft)
        assert (a.status, a.decided_by) == ("approved", "leader")
    shown = text(leader.get(page, headers=EN))
    assert "Score and conclusion were fixed when the assessment was approved." in shown
    assert "Approve</button>" not in shown


def test_conclusion_says_poor_because_a_high_risk_is_open(app, world):
    make_risk(app, world["officer_a"], world["asset"], likelihood=5, impact=5, title="Exposed admin port")
    officer = signed_in(app, world["officer_a"])
    page = text(officer.get(f"/assessments/{world['draft']}", headers=EN))
    assert "a high or very-high risk of the asset is open" in page
    assert 'class="conclusion-poor"' in page


def test_delete_draft(app, world):
    officer = signed_in(app, world["officer_a"])
    page = f"/assessments/{world['draft']}"
    assert post(officer, f"{page}/delete", {}, page=page).status_code == 302
    with Session(_engine(app)) as own:
        assert own.get(Assessment, world["draft"]) is None


def test_findings_add_remove_and_promote(app, world):
    officer = signed_in(app, world["officer_a"])
    page = f"/assessments/{world['draft']}"
    # Bad input: the message by the field, nothing recorded.
    response = post(officer, f"{page}/findings", {"title": "", "likelihood": "6", "impact": "3"}, page=page)
    assert response.status_code == 422
    assert _snapshot(app, AssessmentFinding) == [[]]
    response = post(
        officer, f"{page}/findings", {"title": "No log review", "likelihood": "4", "impact": "3", "area": ""}, page=page
    )
    assert response.status_code == 302
    with Session(_engine(app)) as own:
        finding = own.exec(select(AssessmentFinding)).one()
    assert "Promote to a risk" in text(officer.get(page, headers=EN))
    response = post(
        officer,
        f"{page}/findings/{finding.id}/promote",
        {"treatment": "reduce", "owner": "", "due_date": (TODAY + timedelta(days=30)).isoformat()},
        page=page,
    )
    assert response.status_code == 302
    with Session(_engine(app)) as own:
        promoted = own.get(AssessmentFinding, finding.id)
        risk = own.get(Risk, promoted.risk_id)
    assert (risk.source, risk.assessment_id, risk.likelihood, risk.impact) == ("assessment", world["draft"], 4, 3)
    assert response.headers["Location"].endswith(f"/risks/{risk.id}")
    risk_page = text(officer.get(f"/risks/{risk.id}", headers=EN))
    assert f"/assessments/{world['draft']}" in risk_page
    # A promoted finding stays.
    response = post(officer, f"{page}/findings/{finding.id}/delete", {}, page=page)
    assert response.status_code == 302
    assert f"already risk #{risk.id}" in text(officer.get(page, headers=EN))
    with Session(_engine(app)) as own:
        assert own.get(AssessmentFinding, finding.id) is not None


# --- risks -------------------------------------------------------------------------------------------


def test_risk_form_round_trips(app, world):
    officer = signed_in(app, world["officer_a"])
    response = post(
        officer,
        "/risks/new",
        {
            "asset_id": str(world["asset"].id),
            "title": "Unpatched VPN gateway",
            "area": "system_protection",
            "threat": "Ransomware crew",
            "likelihood": "4",
            "impact": "5",
            "residual_likelihood": "2",
            "residual_impact": "5",
            "treatment": "reduce",
            "owner": "",
            "status": "in_treatment",
            "due_date": (TODAY + timedelta(days=10)).isoformat(),
            "treatment_plan": "Patch in the next window",
        },
    )
    assert response.status_code == 302, text(response)
    with Session(_engine(app)) as own:
        risk = own.exec(select(Risk).where(Risk.title == "Unpatched VPN gateway")).one()
        record = risks.read_one(own, risk, _method(app, own))
    assert (record.level, record.residual_level, record.owner, record.status) == (
        rule.level_of(4, 5),
        rule.level_of(2, 5),
        "officer.a",
        "in_treatment",
    )
    edit = text(officer.get(f"/risks/{risk.id}/edit", headers=EN))
    assert "Patch in the next window" in edit and "Ransomware crew" in edit
    response = post(
        officer,
        f"/risks/{risk.id}/edit",
        {"version": str(risk.version), "title": "Unpatched VPN gateway", "likelihood": "2", "impact": "5"},
    )
    assert response.status_code == 302
    with Session(_engine(app)) as own:
        assert own.get(Risk, risk.id).level == rule.level_of(2, 5)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"likelihood": "6"}, "Use a whole number from 1 (very low) to 5 (very high)."),
        ({"likelihood": "0"}, "Use a whole number from 1 (very low) to 5 (very high)."),
        ({"due_date": "2000-01-01"}, "The due date cannot be before the risk was registered."),
        ({"residual_likelihood": "2"}, "Give both the residual likelihood and the residual impact"),
        ({"asset_id": "OTHER"}, "Unknown asset."),
    ],
)
def test_bad_risks_show_the_message_and_change_nothing(app, world, changes, message):
    officer = signed_in(app, world["officer_a"])
    data = {"asset_id": str(world["asset"].id), "title": "X", "likelihood": "3", "impact": "3", **changes}
    if data["asset_id"] == "OTHER":
        data["asset_id"] = str(world["other"].id)
    before = _snapshot(app, Risk)
    response = post(officer, "/risks/new", data)
    assert response.status_code == 422
    assert message in text(response)
    assert _snapshot(app, Risk) == before


def test_acceptance_of_a_severe_risk_needs_a_leader(app, world):
    severe = make_risk(app, world["officer_a"], world["asset"], likelihood=5, impact=5, title="Exposed admin port")
    page = f"/risks/{severe}"
    expires = (TODAY + timedelta(days=90)).isoformat()
    officer = signed_in(app, world["officer_a"])
    before = _snapshot(app, Risk, RiskAcceptance)
    response = post(officer, f"{page}/accept", {"reason": "Budget next year", "expires_on": expires}, page=page)
    assert response.status_code == 403
    assert "Only a leader may accept a high or very-high risk." in text(response)
    assert _snapshot(app, Risk, RiskAcceptance) == before
    leader = signed_in(app, world["leader"])
    response = post(leader, f"{page}/accept", {"reason": "", "expires_on": expires}, page=page)
    assert response.status_code == 422 and _snapshot(app, Risk, RiskAcceptance) == before
    response = post(leader, f"{page}/accept", {"reason": "Budget next year", "expires_on": expires}, page=page)
    assert response.status_code == 302
    shown = text(leader.get(page, headers=EN))
    assert "Accepted by" in shown and expires in shown
    with Session(_engine(app)) as own:
        assert own.get(Risk, severe).status == "accepted"
        assert own.exec(select(AuditEntry).where(AuditEntry.action == "risk.accepted")).first() is not None


def test_review_records_and_relevels(app, world):
    officer = signed_in(app, world["officer_a"])
    page = f"/risks/{world['risk']}"
    response = post(officer, f"{page}/review", {"likelihood": "5", "impact": "", "note": "Got worse"}, page=page)
    assert response.status_code == 302
    with Session(_engine(app)) as own:
        review = own.exec(select(RiskReview)).one()
        assert (review.likelihood, review.impact, review.note) == (5, 3, "Got worse")
    assert "Got worse" in text(officer.get(page, headers=EN))


# --- figures ----------------------------------------------------------------------------------------


def _cells(svg: str) -> list[int]:
    """The counts of a heat map's 25 cells, top row first, as drawn."""
    return [int(n) for n in re.findall(r'<text [^>]*font-size="(?:17|13)"[^>]*>(\d+)</text>', svg)]


def test_heat_map_counts_equal_the_service(app, world):
    asset = world["asset"]
    for likelihood, impact in ((5, 5), (5, 5), (4, 2), (1, 1)):
        make_risk(app, world["officer_a"], asset, likelihood, impact, residual_likelihood=1, residual_impact=impact)
    leader = signed_in(app, world["leader"])
    page = text(leader.get("/risks/heatmap", headers=EN))
    svgs = re.findall(r'<svg class="chart heatmap".*?</svg>', page, re.S)
    assert len(svgs) == 2
    with app.test_request_context(headers=EN), Session(_engine(app)) as own:
        heat = risks.heat_map(own, _as(app, world["leader"]), _method(app, own))
        counts = risks.counts(own, _as(app, world["leader"]), _method(app, own))
    assert _cells(svgs[0]) == [c.count for c in heat.inherent]
    assert _cells(svgs[1]) == [c.count for c in heat.residual]
    assert sum(_cells(svgs[0])) == heat.total == 6  # bureau a's five and bureau b's one
    by_level = page[page.index("Open risks by level") :]
    shown = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', by_level)[:5]]
    assert shown == [counts.by_level[level] for level in LEVELS]
    assert "<title" in svgs[0] and "<desc" in svgs[0]
    # Bureau a's officer sees bureau a's only.
    officer = signed_in(app, world["officer_a"])
    svg = re.findall(r'<svg class="chart heatmap".*?</svg>', text(officer.get("/risks/heatmap", headers=EN)), re.S)[0]
    assert sum(_cells(svg)) == 5


def test_due_list_and_asset_calendar_equal_the_service(app, world):
    officer = signed_in(app, world["officer_a"])
    page = text(officer.get("/assessments/due", headers=EN))
    with app.test_request_context(headers=EN), Session(_engine(app)) as own:
        from assessments import schedule
        from assessments.schemas import DueQuery

        method = _method(app, own)
        rows, total = schedule.due_list(own, _as(app, world["officer_a"]), DueQuery(), method, TODAY)
        counts = schedule.state_counts(own, _as(app, world["officer_a"]), method, TODAY)
    assert total == len(rows) > 0
    assert page.count('href="/assessments/new?') + page.count(">Under way</a>") == total
    for state, n in counts.items():
        assert re.search(rf'state={state}"><span class="figure[^"]*">{n}</span>', page), state
    asset_page = text(officer.get(f"/assets/{world['asset'].id}", headers=EN))
    assert "Assessment calendar" in asset_page
    for row in rows:
        assert row.due_on.isoformat() in asset_page
    assert "1 live risk (open, in treatment or accepted)" in asset_page

"""Assessments and risks through their services: every allowed and refused step of the workflow,
the conclusion rules with open, accepted and lapsed risks, ratings from controls and their
adjustment, due dates with frozen time, acceptance expiry, promotion, the matrix in force, scope."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import config_of
from sqlmodel import select

from assessments import risks, rule, schedule, services
from assessments.models import Assessment, Risk, RiskAcceptance
from assessments.schemas import (
    AcceptanceCreate,
    AreaInput,
    AssessmentCreate,
    AssessmentDecision,
    AssessmentUpdate,
    ControlReview,
    DueQuery,
    FindingCreate,
    Promotion,
    ReviewCreate,
    RiskCreate,
    RiskUpdate,
)
from assets import controls as asset_controls
from assets.models import AssetControl, AssetGrade
from secgov import domains, settings
from secgov.audit import AuditEntry
from secgov.authz import Actor
from secgov.errors import Conflict, Forbidden, Invalid, NotFound

TODAY = datetime.now(UTC).date()


@pytest.fixture
def ctx(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def people(city, make_user):
    return {
        **{k: Actor.of(v, "api") for k, v in city.items()},
        "leader2": Actor.of(make_user("leader.two", roles=("leader",), department="city"), "api"),
        "leader_b": Actor.of(make_user("leader.b", roles=("leader",), department="b"), "api"),
    }


@pytest.fixture
def asset(make_asset, city):
    return make_asset("TRF-1", "a", owner="officer.a", mlps_level=3)


def method(app, session):
    return rule.method(session, config_of(app))


def entries(session, action):
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def draft(session, asset, actor, **fields):
    data = dict(asset_id=asset.id, kind="self_inspection", started_on=TODAY - timedelta(days=10), finished_on=TODAY)
    data.update(fields)
    return services.create_assessment(session, AssessmentCreate(**data), actor)


def set_controls(session, asset, statuses):
    """Give the asset's required controls these statuses in turn (the rest not implemented)."""
    rows = session.exec(
        select(AssetControl).where(AssetControl.asset_id == asset.id, AssetControl.required.is_(True))
    ).all()
    for row, status in zip(rows, statuses, strict=False):
        row.status = status
        session.add(row)
    asset_controls.recount(session, [asset.id])
    session.commit()
    return rows


# --- the workflow --------------------------------------------------------------------------------


def test_draft_submit_approve_freezes_the_assessment(app, session, ctx, people, asset):
    m = method(app, session)
    a = draft(session, asset, people["officer_a"])
    assert a.status == "draft"
    services.submit(session, a, people["officer_a"], m)
    assert a.status == "submitted" and a.submitted_by == "officer.a"
    with pytest.raises(Conflict, match="already submitted"):
        services.submit(session, a, people["officer_a"], m)
    with pytest.raises(Conflict, match="returns it"):
        services.update_assessment(session, a, AssessmentUpdate(version=a.version, title="x"), people["officer_a"])
    services.approve(session, a, AssessmentDecision(), people["leader"], m)
    assert a.status == "approved" and a.decided_by == "leader" and a.score is not None and a.conclusion
    for attempt in (
        lambda: services.update_assessment(
            session, a, AssessmentUpdate(version=a.version, title="x"), people["officer_a"]
        ),
        lambda: services.add_finding(session, a, FindingCreate(title="late"), people["officer_a"]),
        lambda: services.submit(session, a, people["officer_a"], m),
        lambda: services.approve(session, a, AssessmentDecision(), people["leader2"], m),
        lambda: services.return_assessment(session, a, AssessmentDecision(reason="no"), people["leader2"]),
        lambda: services.delete_draft(session, a, people["officer_a"]),
    ):
        with pytest.raises(Conflict):
            attempt()
    session.commit()
    actions = [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.object_type == "assessment"))]
    assert actions == ["assessment.created", "assessment.submitted", "assessment.approved"]


def test_a_draft_cannot_be_decided_on(app, session, ctx, people, asset):
    a = draft(session, asset, people["officer_a"])
    with pytest.raises(Conflict, match="Only a submitted"):
        services.approve(session, a, AssessmentDecision(), people["leader"], method(app, session))
    with pytest.raises(Conflict, match="Only a submitted"):
        services.return_assessment(session, a, AssessmentDecision(reason="x"), people["leader"])
    assert a.status == "draft"


def test_nobody_decides_on_their_own_assessment(app, session, ctx, people, asset, make_user):
    m = method(app, session)
    leader = people["leader"]
    own = draft(session, asset, leader)
    services.submit(session, own, leader, m)
    with pytest.raises(Forbidden, match="you wrote or carried out") as refused:
        services.approve(session, own, AssessmentDecision(), leader, m)
    assert refused.value.refusal.detail == {"reason": "own_assessment"}
    # An assessor named on it is an author too.
    carried = draft(session, asset, people["officer_a"], assessors=["leader.two"])
    services.submit(session, carried, people["officer_a"], m)
    with pytest.raises(Forbidden):
        services.return_assessment(session, carried, AssessmentDecision(reason="x"), people["leader2"])
    assert own.status == carried.status == "submitted"


def test_a_return_says_why_and_the_assessment_goes_round_again(app, session, ctx, people, asset):
    m = method(app, session)
    a = draft(session, asset, people["officer_a"])
    services.submit(session, a, people["officer_a"], m)
    with pytest.raises(Invalid, match="Say why"):
        services.return_assessment(session, a, AssessmentDecision(reason=""), people["leader"])
    services.return_assessment(session, a, AssessmentDecision(reason="Evidence missing for PE"), people["leader"])
    assert a.status == "returned" and a.return_reason == "Evidence missing for PE"
    services.update_assessment(session, a, AssessmentUpdate(version=a.version, summary="added"), people["officer_a"])
    with pytest.raises(Conflict, match="Only a draft that was never submitted"):
        services.delete_draft(session, a, people["officer_a"])
    services.submit(session, a, people["officer_a"], m)
    services.approve(session, a, AssessmentDecision(), people["leader"], m)
    assert a.status == "approved"


def test_submission_needs_a_finishing_date_and_an_agency_its_figures(app, session, ctx, people, asset):
    m = method(app, session)
    a = draft(session, asset, people["officer_a"], finished_on=None)
    with pytest.raises(Invalid, match="finished"):
        services.submit(session, a, people["officer_a"], m)
    ev = draft(session, asset, people["officer_a"], kind="mlps_evaluation", agency="City Evaluation Centre")
    with pytest.raises(Invalid, match="report number and score"):
        services.submit(session, ev, people["officer_a"], m)
    with pytest.raises(Invalid, match="Only MLPS evaluations and CII"):
        draft(session, asset, people["officer_a"], agency="X", agency_score=80)
    with pytest.raises(Invalid, match="Name the agency"):
        draft(session, asset, people["officer_a"], kind="mlps_evaluation", agency_score=80)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(started_on=TODAY + timedelta(days=1), finished_on=None), "start in the future"),
        (dict(started_on=TODAY - timedelta(days=3), finished_on=TODAY - timedelta(days=5)), "before it started"),
        (dict(finished_on=TODAY + timedelta(days=1)), "finish in the future"),
    ],
)
def test_impossible_dates_are_refused(app, session, ctx, people, asset, fields, message):
    with pytest.raises(Invalid, match=message):
        draft(session, asset, people["officer_a"], **fields)
    session.rollback()
    assert session.exec(select(Assessment)).all() == []


def test_an_asset_out_of_scope_cannot_be_assessed(app, session, ctx, people, asset):
    with pytest.raises(Invalid, match="Unknown asset"):
        draft(session, asset, people["officer_b"])
    with pytest.raises(NotFound):
        a = draft(session, asset, people["officer_a"])
        session.commit()
        services.get_assessment(session, a.id, people["officer_b"])


# --- ratings, score, conclusion ------------------------------------------------------------------


def test_ratings_come_from_the_controls_and_adjustments_need_a_reason(app, session, ctx, people, asset):
    m = method(app, session)
    rows = set_controls(session, asset, ["implemented", "partial"])
    a = draft(session, asset, people["officer_a"])
    read = services.read_one(session, a, m)
    # Computed independently: count the asset's required controls per area.
    area_of = {c.id: c.area for c in session.exec(select(asset_controls.Control)).all()}
    by_area: dict[str, list[str]] = {}
    for row in session.exec(select(AssetControl).where(AssetControl.asset_id == asset.id, AssetControl.required)):
        by_area.setdefault(area_of[row.control_id], []).append(row.status)
    first = area_of[rows[0].control_id]
    statuses = by_area[first]
    points = statuses.count("implemented") + 0.5 * statuses.count("partial")
    expected = round(100 * points / len([s for s in statuses if s != "not_applicable"]), 1)
    assert {r.area: r.computed for r in read.areas}[first] == expected
    with pytest.raises(Invalid, match="Say why the rating"):
        services.update_assessment(
            session,
            a,
            AssessmentUpdate(version=a.version, areas=[AreaInput(area=first, rating=95)]),
            people["officer_a"],
        )
    session.rollback()
    services.update_assessment(
        session, a,
        AssessmentUpdate(version=a.version, areas=[AreaInput(area=first, rating=95, reason="Compensating controls")]),
        people["officer_a"],
    )  # fmt: skip
    read = services.read_one(session, a, m)
    adjusted = {r.area: r for r in read.areas}[first]
    assert adjusted.rating == 95 and adjusted.adjusted and adjusted.computed == expected
    rated = [r.rating for r in read.areas if r.rating is not None]
    assert read.score == round(sum(rated) / len(rated), 1)


def test_reviewed_controls_count_now_and_reach_the_asset_on_approval(app, session, ctx, people, asset):
    m = method(app, session)
    row = session.exec(select(AssetControl).where(AssetControl.asset_id == asset.id, AssetControl.required)).first()
    a = draft(
        session, asset, people["officer_a"], controls=[ControlReview(control_id=row.control_id, status="implemented")]
    )
    session.commit()
    session.refresh(row)
    assert row.status == "not_implemented"  # not before it is approved
    services.submit(session, a, people["officer_a"], m)
    services.approve(session, a, AssessmentDecision(), people["leader"], m)
    session.commit()
    session.refresh(row)
    assert row.status == "implemented" and row.reviewer == "leader"
    with pytest.raises(Invalid, match="required control"):
        draft(session, asset, people["officer_a"], controls=[ControlReview(control_id="csf.nope", status="partial")])


def test_an_outside_agency_s_score_is_recorded_not_computed(app, session, ctx, people, asset):
    m = method(app, session)
    a = draft(
        session, asset, people["officer_a"], kind="mlps_evaluation", agency="Provincial MLPS Evaluation Centre",
        report_number="DJCP-2026-0042", agency_score=86.5,
    )  # fmt: skip
    services.submit(session, a, people["officer_a"], m)
    services.approve(session, a, AssessmentDecision(), people["leader"], m)
    assert a.score == 86.5 and a.conclusion == "good"


def test_an_open_high_risk_makes_the_conclusion_poor_until_accepted(app, session, ctx, people, asset):
    m = method(app, session)
    risk = risks.create_risk(
        session,
        RiskCreate(asset_id=asset.id, title="Default passwords", likelihood=4, impact=4),
        people["officer_a"],
        m,
    )
    assert risk.level == "high"
    ev = dict(kind="mlps_evaluation", agency="Centre", report_number="R1", agency_score=95)
    first = draft(session, asset, people["officer_a"], **ev)
    assert services.read_one(session, first, m).conclusion == "poor"
    risks.accept(
        session,
        risk,
        AcceptanceCreate(reason="Isolated network", expires_on=TODAY + timedelta(days=90)),
        people["leader"],
        ["leader"],
    )
    assert services.read_one(session, first, m).conclusion == "excellent"
    services.submit(session, first, people["officer_a"], m)
    services.approve(session, first, AssessmentDecision(), people["leader"], m)
    assert first.conclusion == "excellent"
    # The acceptance lapses: the risk is open again, and the next assessment is poor.
    reopened = risks.expire_acceptances(session, Actor.system("job"), TODAY + timedelta(days=90))
    assert reopened == [risk.id] and risk.status == "open"
    assert first.conclusion == "excellent"  # frozen as decided
    second = draft(session, asset, people["officer_a"], **ev)
    assert services.read_one(session, second, m).conclusion == "poor"


def test_a_lapsed_acceptance_counts_as_open_before_the_job_runs(app, session, ctx, people, asset):
    m = method(app, session)
    risk = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="t", likelihood=5, impact=5), people["officer_a"], m
    )
    risks.accept(
        session, risk, AcceptanceCreate(reason="r", expires_on=TODAY + timedelta(days=1)), people["leader"], ["leader"]
    )
    session.commit()
    assert risks.severe_open(session, [asset.id], TODAY) == set()
    assert risks.severe_open(session, [asset.id], TODAY + timedelta(days=1)) == {asset.id}


# --- risks ---------------------------------------------------------------------------------------


def test_a_risk_takes_its_level_from_the_matrix_and_its_owner_from_the_asset(app, session, ctx, people, asset):
    m = method(app, session)
    risk = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="t", likelihood=3, impact=4), people["officer_a"], m
    )
    read = risks.read_one(session, risk, m)
    assert read.level == "moderate" and read.owner == "officer.a" and read.source == "manual"
    assert read.next_review_on == rule.add_months(TODAY, 6)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(due_date=TODAY - timedelta(days=1)), "before the risk was registered"),
        (dict(residual_likelihood=2), "both the residual"),
        (dict(owner="nobody"), "Unknown or disabled user"),
        (dict(owner="officer.b"), "Unknown or disabled user"),
    ],
)
def test_bad_risks_are_refused_and_nothing_is_written(app, session, ctx, people, asset, fields, message):
    with pytest.raises(Invalid, match=message):
        risks.create_risk(
            session, RiskCreate(asset_id=asset.id, title="t", likelihood=3, impact=3, **fields), people["officer_a"],
            method(app, session),
        )  # fmt: skip
    session.rollback()
    assert session.exec(select(Risk)).all() == []


def test_a_risk_on_an_asset_out_of_scope_is_refused(app, session, ctx, people, asset):
    m = method(app, session)
    with pytest.raises(Invalid, match="Unknown asset"):
        risks.create_risk(
            session, RiskCreate(asset_id=asset.id, title="t", likelihood=3, impact=3), people["officer_b"], m
        )
    risk = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="t", likelihood=3, impact=3), people["officer_a"], m
    )
    session.commit()
    with pytest.raises(NotFound):
        risks.get_risk(session, risk.id, people["officer_b"])
    assert risks.get_risk(session, risk.id, people["leader"]).id == risk.id


def test_only_a_leader_accepts_a_high_or_very_high_risk(app, session, ctx, people, asset):
    m = method(app, session)
    severe = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="t", likelihood=5, impact=5), people["officer_a"], m
    )
    mild = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="m", likelihood=2, impact=2), people["officer_a"], m
    )
    later = AcceptanceCreate(reason="Budget next year", expires_on=TODAY + timedelta(days=200))
    with pytest.raises(Forbidden, match="Only a leader") as refused:
        risks.accept(session, severe, later, people["officer_a"], ["officer"])
    assert refused.value.refusal.detail["level"] == "very_high"
    assert severe.status == "open"
    risks.accept(session, mild, later, people["officer_a"], ["officer"])
    assert mild.status == "accepted"
    with pytest.raises(Invalid, match="after today"):
        risks.accept(session, severe, AcceptanceCreate(reason="r", expires_on=TODAY), people["leader"], ["leader"])
    with pytest.raises(Invalid, match="three years"):
        risks.accept(
            session,
            severe,
            AcceptanceCreate(reason="r", expires_on=TODAY + timedelta(days=1200)),
            people["leader"],
            ["leader"],
        )
    row = risks.accept(session, severe, later, people["leader"], ["leader"])
    assert severe.status == "accepted" and row.accepted_by == "leader" and row.level == "very_high"
    # A second acceptance replaces the first.
    risks.accept(
        session,
        severe,
        AcceptanceCreate(reason="again", expires_on=TODAY + timedelta(days=30)),
        people["leader"],
        ["leader"],
    )
    statuses = sorted(r.status for r in session.exec(select(RiskAcceptance).where(RiskAcceptance.risk_id == severe.id)))
    assert statuses == ["active", "revoked"]


def test_closing_a_risk_ends_its_acceptance_and_a_closed_risk_is_left_alone(app, session, ctx, people, asset):
    m = method(app, session)
    risk = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="t", likelihood=2, impact=2), people["officer_a"], m
    )
    risks.accept(
        session,
        risk,
        AcceptanceCreate(reason="r", expires_on=TODAY + timedelta(days=10)),
        people["officer_a"],
        ["officer"],
    )
    risks.update_risk(session, risk, RiskUpdate(version=risk.version, status="closed"), people["officer_a"], m)
    assert risk.status == "closed" and risk.closed_at is not None
    assert session.exec(select(RiskAcceptance.status)).all() == ["revoked"]
    with pytest.raises(Conflict):
        risks.update_risk(session, risk, RiskUpdate(version=risk.version, title="x"), people["officer_a"], m)
    with pytest.raises(Conflict):
        risks.review(session, risk, ReviewCreate(), people["officer_a"], m)
    risks.update_risk(session, risk, RiskUpdate(version=risk.version, status="open"), people["officer_a"], m)
    assert risk.status == "open" and risk.closed_at is None


def test_a_review_relevels_and_moves_the_next_review(app, session, ctx, people, asset):
    m = method(app, session)
    risk = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="t", likelihood=5, impact=5), people["officer_a"], m
    )
    assert risks.read_one(session, risk, m, TODAY + timedelta(days=40)).review_overdue
    risks.review(
        session,
        risk,
        ReviewCreate(likelihood=2, impact=4, note="Patched"),
        people["officer_a"],
        m,
        TODAY + timedelta(days=40),
    )
    read = risks.read_one(session, risk, m, TODAY + timedelta(days=40))
    assert read.level == "low" and not read.review_overdue
    assert read.next_review_on == rule.add_months(TODAY + timedelta(days=40), 12)


def test_a_new_matrix_relevels_every_risk_and_audits_each_change(app, session, ctx, people, asset, city):
    m = method(app, session)
    moved = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="a", likelihood=5, impact=1), people["officer_a"], m
    )
    same = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="b", likelihood=5, impact=5), people["officer_a"], m
    )
    session.commit()
    assert moved.level == "very_low"
    settings.update(
        session, domains.registry().settings, {"risk_matrix": "multiplication"}, people["admin"], config_of(app)
    )
    assert moved.level == "moderate" and same.level == "very_high"
    relevelled = entries(session, "risk.relevelled")
    assert [int(e.object_id) for e in relevelled] == [moved.id]
    assert json.loads(relevelled[0].detail)["after"] == {"level": "moderate", "residual_level": ""}


def test_promotion_links_the_finding_once(app, session, ctx, people, asset):
    m = method(app, session)
    a = draft(session, asset, people["officer_a"])
    finding = services.add_finding(
        session, a, FindingCreate(title="No log review", area="policies", likelihood=4, impact=5), people["officer_a"]
    )
    risk = risks.promote(session, Promotion(source="assessment_finding", source_id=finding.id), people["officer_a"], m)
    assert (risk.source, risk.source_ref, risk.assessment_id, risk.level) == (
        "assessment",
        f"assessment_finding:{finding.id}",
        a.id,
        "very_high",
    )
    assert finding.risk_id == risk.id
    with pytest.raises(Conflict, match=f"risk #{risk.id}"):
        risks.promote(session, Promotion(source="assessment_finding", source_id=finding.id), people["officer_a"], m)
    with pytest.raises(Conflict, match="already risk"):
        services.remove_finding(session, a, finding, people["officer_a"])
    session.commit()
    with pytest.raises(Invalid, match="Unknown finding"):
        risks.promote(session, Promotion(source="assessment_finding", source_id=finding.id), people["officer_b"], m)
    # Every source of the Promotion schema is registered now (drill actions by the drills domain).
    with pytest.raises(Invalid, match="Unknown corrective action"):
        risks.promote(session, Promotion(source="drill_action", source_id=999999), people["officer_a"], m)


# --- due dates -----------------------------------------------------------------------------------


def backdate_grading(session, asset, day):
    session.commit()  # a fresh snapshot: the asset was registered in a session of its own
    for row in session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)):
        row.changed_at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        session.add(row)
    session.commit()


def test_due_dates_follow_grading_then_the_last_approved_assessment(app, session, ctx, people, make_asset, city):
    m = method(app, session)
    four = make_asset("PWR-4", "a", owner="officer.a", mlps_level=4, is_cii=True)
    backdate_grading(session, four, date(2026, 1, 15))
    today = date(2026, 8, 1)
    items, total = schedule.due_list(session, people["leader"], DueQuery(asset_id=four.id), m, today)
    got = {i.kind: (i.due_on, i.state) for i in items}
    assert got["mlps_evaluation"] == (date(2026, 7, 15), "overdue")  # graded + 6 months
    assert got["self_inspection"] == (date(2027, 1, 15), "on_time")
    assert got["cii_annual"] == (rule.add_months(four.cii_designated_on, 12), "on_time")
    a = services.create_assessment(
        session,
        AssessmentCreate(asset_id=four.id, kind="mlps_evaluation", started_on=date(2026, 7, 20), finished_on=date(2026, 7, 28),
                         agency="Centre", report_number="R", agency_score=88),
        people["officer_a"], today,
    )  # fmt: skip
    items, _ = schedule.due_list(
        session, people["leader"], DueQuery(asset_id=four.id, kind="mlps_evaluation"), m, today
    )
    assert items[0].open_assessment_id == a.id and items[0].state == "overdue"
    services.submit(session, a, people["officer_a"], m)
    services.approve(session, a, AssessmentDecision(), people["leader"], m, today)
    items, _ = schedule.due_list(
        session, people["leader"], DueQuery(asset_id=four.id, kind="mlps_evaluation"), m, today
    )
    assert (items[0].due_on, items[0].state, items[0].last_assessment_id) == (date(2027, 1, 28), "on_time", a.id)
    assert schedule.due_list(session, people["officer_b"], DueQuery(), m, today) == ([], 0)


def test_due_soon_and_overdue_lists(app, session, ctx, people, make_asset, city):
    m = method(app, session)
    soon = make_asset("S-1", "a", owner="officer.a", mlps_level=3)
    late = make_asset("L-1", "a", owner="officer.a", mlps_level=3)
    make_asset("P-1", "a", owner="officer.a", mlps_level=3, lifecycle="planned")
    backdate_grading(session, soon, date(2025, 12, 20))
    backdate_grading(session, late, date(2025, 10, 1))
    today = date(2026, 12, 1)
    overdue, n = schedule.due_list(session, people["leader"], DueQuery(state="overdue"), m, today)
    assert n == 2 and {(i.asset_code, i.kind) for i in overdue} == {
        ("L-1", "mlps_evaluation"),
        ("L-1", "self_inspection"),
    }
    attention, n = schedule.due_list(session, people["leader"], DueQuery(state="attention"), m, today)
    assert n == 4
    assert schedule.state_counts(session, people["leader"], m, today) == {"overdue": 2, "due_soon": 2, "on_time": 0}


# --- counts and heat map -------------------------------------------------------------------------


def test_the_heat_map_counts_live_risks_in_scope(app, session, ctx, people, asset, make_asset):
    m = method(app, session)
    other = make_asset("B-1", "b", owner="officer.b", mlps_level=2)
    session.commit()  # a fresh snapshot: the asset was registered in a session of its own
    specs = [(asset, 5, 5, None), (asset, 5, 5, (2, 2)), (asset, 1, 3, None), (other, 4, 4, None)]
    for target, lik, imp, residual in specs:
        actor = people["officer_a"] if target is asset else people["officer_b"]
        extra = dict(residual_likelihood=residual[0], residual_impact=residual[1]) if residual else {}
        risks.create_risk(
            session, RiskCreate(asset_id=target.id, title="r", likelihood=lik, impact=imp, **extra), actor, m
        )
    closed = risks.create_risk(
        session, RiskCreate(asset_id=asset.id, title="c", likelihood=5, impact=5), people["officer_a"], m
    )
    risks.update_risk(session, closed, RiskUpdate(version=closed.version, status="closed"), people["officer_a"], m)
    session.commit()
    city_map = risks.heat_map(session, people["leader"], m)
    cells = {(c.likelihood, c.impact): c.count for c in city_map.inherent}
    assert city_map.total == 4 and cells[(5, 5)] == 2 and cells[(4, 4)] == 1 and sum(cells.values()) == 4
    residual = {(c.likelihood, c.impact): c.count for c in city_map.residual}
    assert residual[(5, 5)] == 1 and residual[(2, 2)] == 1
    bureau = risks.heat_map(session, people["officer_a"], m)
    assert bureau.total == 3
    counts = risks.counts(session, people["leader"], m)
    assert counts.by_level == {"very_low": 1, "low": 0, "moderate": 0, "high": 1, "very_high": 2}


def test_the_home_page_counts_what_waits_for_the_reader_s_decision(app, session, ctx, people, asset):
    from assessments import dashboard

    m = method(app, session)
    by_officer = draft(session, asset, people["officer_a"])
    services.submit(session, by_officer, people["officer_a"], m)
    by_leader = draft(session, asset, people["leader"])
    services.submit(session, by_leader, people["leader"], m)
    returned = draft(session, asset, people["officer_a"])
    services.submit(session, returned, people["officer_a"], m)
    services.return_assessment(session, returned, AssessmentDecision(reason="Evidence missing"), people["leader2"])
    session.commit()
    config = config_of(app)
    # The leader wrote one of the two submitted: only the other waits for them; both for another leader.
    assert dashboard.assessments_due(session, people["leader"], config, TODAY)["awaiting_decision"] == 1
    assert dashboard.assessments_due(session, people["leader2"], config, TODAY)["awaiting_decision"] == 2
    assert dashboard.assessments_due(session, people["officer_a"], config, TODAY)["returned_to_you"] == 1
    assert dashboard.assessments_due(session, people["leader"], config, TODAY)["returned_to_you"] == 0

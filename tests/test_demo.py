"""The demo city: realistic, idempotent, and every demo target on loopback."""

from __future__ import annotations

import ipaddress

from factories import config_of, load_demo_city
from sqlmodel import func, select

from assets import services
from assets.models import Asset, AssetControl
from secgov import audit


def test_demo_city_is_rich_idempotent_and_on_loopback(app, session):
    load_demo_city(app)
    load_demo_city(app)
    assets = session.exec(select(Asset)).all()
    assert 55 <= len(assets) <= 70
    assert len({a.code for a in assets}) == len(assets)
    loopback = ipaddress.ip_network("127.0.0.0/8")
    for asset in assets:
        for target in asset.network_targets:
            assert ipaddress.ip_network(target, strict=False).subnet_of(loopback), (asset.code, target)
    assert {a.sector for a in assets} >= {
        "government",
        "transport",
        "utilities",
        "healthcare",
        "public_safety",
        "energy",
        "finance",
    }
    assert any(a.is_cii for a in assets) and any(a.classified for a in assets)
    assert any(services.filing_missing(a) for a in assets)
    assert any(a.mlps_level is None for a in assets)
    statuses = dict(session.exec(select(AssetControl.status, func.count()).group_by(AssetControl.status)).all())
    assert set(statuses) == {"implemented", "partial", "planned", "not_implemented", "not_applicable"}
    assert audit.verify(session).ok


def test_demo_vendors_give_violations_warnings_and_one_approved_exemption(app, session):
    from assets import policy
    from assets.models import Vendor
    from secgov import auth
    from secgov.authz import Actor

    load_demo_city(app)
    load_demo_city(app)
    origins = {v.origin for v in session.exec(select(Vendor)).all()}
    assert origins == {"domestic", "foreign", "joint_venture"}
    assert 18 <= len(session.exec(select(Vendor)).all()) <= 25
    with app.test_request_context():
        report = policy.compliance(session, Actor.of(auth.find_user(session, "officer")), config_of(app))
    assert {f.asset_code for f in report.violations} == {"MTR-CBTC-01", "PSB-VID-01"}
    assert {f.asset_code for f in report.warnings} == {"TRF-SIG-02", "MTR-AFC-01", "ENG-EMS-01", "EGV-DATA-01"}
    assert {f.asset_code for f in report.exempted} == {"WTR-LEAK-01"}
    assert len(report.pending_exemptions) == 1


def test_demo_assessments_and_risks_cover_every_state(app, session):
    """A year of assessments (some overdue, some poor) and about 150 risks in every state, with
    acceptances in force and lapsed; loading again adds nothing."""
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from assessments import risks, rule, schedule
    from assessments.models import Assessment, AssessmentFinding, Risk, RiskAcceptance
    from secgov.authz import Actor

    load_demo_city(app)
    session.rollback()
    first = (
        session.exec(select(func.count()).select_from(Assessment)).one(),
        session.exec(select(func.count()).select_from(Risk)).one(),
    )
    load_demo_city(app)
    session.rollback()
    assessments = session.exec(select(Assessment)).all()
    all_risks = session.exec(select(Risk)).all()
    assert (len(assessments), len(all_risks)) == first  # nothing added the second time
    assert 140 <= len(all_risks) <= 160
    today = datetime.now(UTC).date()

    kinds = Counter(a.kind for a in assessments)
    assert {"self_inspection", "mlps_evaluation", "cii_annual"} <= set(kinds)
    statuses = Counter(a.status for a in assessments)
    assert set(statuses) == {"draft", "submitted", "approved", "returned"}
    assert statuses["approved"] > 0.8 * len(assessments)
    approved = [a for a in assessments if a.status == "approved"]
    assert all(a.decided_by == "leader" and a.created_by != "leader" for a in approved)
    assert all(a.finished_on <= today and a.decided_at.date() < today for a in approved)
    assert min(a.finished_on for a in approved) <= today - timedelta(days=300)
    evaluations = [a for a in approved if a.kind == "mlps_evaluation"]
    assert evaluations and all(a.agency and a.report_number and a.score == a.agency_score for a in evaluations)
    conclusions = Counter(a.conclusion for a in approved)
    assert conclusions["poor"] >= 3 and {"good", "excellent", "fair"} & set(conclusions)
    # Poor because a high risk found by the assessment was open when it was approved.
    assert any(
        r.assessment_id == a.id and r.level in ("high", "very_high") and a.conclusion == "poor"
        for a in approved
        for r in all_risks
    )

    with app.test_request_context():
        method = rule.method(session, config_of(app))
        due = schedule.state_counts(session, Actor.system("cli"), method, today)
        counts = risks.counts(session, Actor.system("cli"), method, today)
    assert due["overdue"] >= 5 and due["due_soon"] >= 1 and due["on_time"] > due["overdue"]

    states = Counter(r.status for r in all_risks)
    assert set(states) == {"open", "in_treatment", "accepted", "closed"}
    acceptances = session.exec(select(RiskAcceptance)).all()
    lapsed = [x for x in acceptances if x.status == "expired"]
    in_force = [x for x in acceptances if x.status == "active"]
    assert len(lapsed) >= 5 and all(x.expires_on <= today for x in lapsed)
    assert all(session.get(Risk, x.risk_id).status == "open" for x in lapsed)  # reopened by the job's service
    assert len(in_force) == states["accepted"] >= 10 and all(x.expires_on > today for x in in_force)
    assert any(session.get(Risk, x.risk_id).level in ("high", "very_high") for x in in_force)
    assert counts.accepted == states["accepted"] and counts.acceptances_expiring >= 1
    assert counts.treatment_overdue >= 5 and counts.review_overdue >= 5
    treated = [r for r in all_risks if r.status == "in_treatment"]
    assert all(r.residual_likelihood and r.residual_level for r in treated)
    assert all(r.closed_at is not None and r.closed_at.date() < today for r in all_risks if r.status == "closed")
    promoted = [r for r in all_risks if r.source == "assessment"]
    assert len(promoted) >= 20
    linked = session.exec(
        select(func.count()).select_from(AssessmentFinding).where(AssessmentFinding.risk_id.is_not(None))
    ).one()
    assert linked == len(promoted)
    # Registered over the past year, on many different days.
    assert len({r.created_on for r in all_risks}) > 80
    assert min(r.created_on for r in all_risks) <= today - timedelta(days=300)
    assert all(r.created_at.date() == r.created_on for r in all_risks)
    owners = {owner.username for owner in _risk_owners(session, all_risks)}
    assert {
        "officer",
        "officer.transport",
        "officer.egov",
        "officer.energy",
        "officer.police",
        "officer.metro",
    } <= owners
    assert audit.verify(session).ok


def _risk_owners(session, all_risks):
    from secgov import responsibility

    return responsibility.holders(session, "risk", [r.id for r in all_risks], "owner").values()


def test_demo_drills_span_two_years_with_late_reports_overdue_actions_and_gaps(app, session):
    """Two years of drills of every exercise type (recurring ones with their next occurrence
    planned, late and missing reports, grade IV not reportable, one cancelled, one in progress),
    corrective actions in every state (overdue ones escalated, one a risk), a scheduled and an
    open request, operator kinds on the departments and a few coverage gaps; loading again adds
    nothing."""
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from assessments.models import Risk
    from drills import coverage, rule
    from drills.codes import EXERCISE_TYPE
    from drills.models import CorrectiveAction, Drill, DrillParticipant, DrillRequest
    from secgov.authz import Actor
    from secgov.models import AuditEntry, Department

    load_demo_city(app)
    session.rollback()
    first = tuple(
        session.exec(select(func.count()).select_from(model)).one()
        for model in (Drill, CorrectiveAction, DrillRequest, DrillParticipant)
    )
    load_demo_city(app)
    session.rollback()
    again = tuple(
        session.exec(select(func.count()).select_from(model)).one()
        for model in (Drill, CorrectiveAction, DrillRequest, DrillParticipant)
    )
    assert again == first
    loaded = session.exec(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "demo.drills_loaded"))
    assert loaded.one() == 1

    drills = session.exec(select(Drill)).all()
    assert 20 <= len(drills) <= 40
    now = datetime.now(UTC)
    today = now.date()
    assert {d.exercise_type for d in drills} == set(EXERCISE_TYPE.codes)
    assert {d.incident_grade for d in drills} == {"I", "II", "III", "IV"}
    statuses = Counter(d.status for d in drills)
    assert statuses["in_progress"] == 1 and statuses["cancelled"] == 1 and statuses["planned"] >= 3
    assert statuses["completed"] >= 15
    completed = [d for d in drills if d.status == "completed"]
    assert min(d.ended_at for d in completed).replace(tzinfo=UTC) <= now - timedelta(days=700)
    assert all(d.ended_at.replace(tzinfo=UTC) <= now for d in completed)
    assert all(d.created_at <= d.completed_at for d in completed)
    states = Counter(rule.reporting(d.report_minutes, d.report_deadline_minutes, d.status) for d in completed)
    assert states["late"] >= 2 and states["missing"] >= 1 and states["not_reportable"] >= 1 and states["on_time"] > 5
    late = [
        d
        for d in completed
        if d.report_minutes and d.report_deadline_minutes and d.report_minutes > d.report_deadline_minutes
    ]
    assert any("交通信号" in d.title for d in late) and any("SCADA" in d.title for d in late)
    assert all(d.report_deadline_minutes is None for d in drills if d.incident_grade == "IV")
    assert {d.aar_status for d in completed} == {"draft", "approved"}
    # Recurring drills: each completed occurrence has its next one, the latest planned ahead.
    recurring = [d for d in completed if d.recurrence_months]
    following = {d.previous_id: d for d in drills if d.previous_id}
    assert len(recurring) >= 6 and all(d.id in following for d in recurring)
    ahead = [following[d.id] for d in recurring if following[d.id].status == "planned"]
    assert len(ahead) == 3 and all(d.planned_start.replace(tzinfo=UTC) > now for d in ahead)
    assert next(d for d in drills if d.status == "cancelled").cancel_reason
    externals = session.exec(select(DrillParticipant).where(DrillParticipant.user_id.is_(None))).all()
    assert any("公安" in p.role for p in externals) and any("厂商" in p.role for p in externals)

    acts = session.exec(select(CorrectiveAction)).all()
    assert {a.status for a in acts} == {"open", "in_progress", "closed", "cancelled"}
    overdue = [a for a in acts if rule.overdue(a.due_date, a.status, today)]
    assert len(overdue) >= 4
    assert any(a.escalated_at for a in overdue) and any(a.escalated_at is None for a in overdue)
    assert all(a.closed_at and a.closed_at.date() < today for a in acts if a.status == "closed")
    promoted = [a for a in acts if a.risk_id]
    assert len(promoted) == 1
    risk = session.get(Risk, promoted[0].risk_id)
    assert risk.source_ref == f"drill_action:{promoted[0].id}"
    assert len({a.department_id for a in acts}) >= 2
    requests = Counter(r.status for r in session.exec(select(DrillRequest)).all())
    assert requests == {"open": 1, "scheduled": 1}
    assert session.exec(select(Drill).where(Drill.request_id.is_not(None), Drill.status == "planned")).first()

    kinds = dict(session.exec(select(Department.code, Department.operator_kind)).all())
    assert kinds["water"] == kinds["transport"] == "cii_operator"
    assert kinds["police"] == kinds["city"] == "central_or_state_organ" and kinds["health"] == "other_operator"
    with app.test_request_context():
        report = coverage.coverage(session, Actor.system("cli"), config_of(app))
    gaps = {(g.kind, g.code): g for g in report.gaps}
    assert 3 <= len(gaps) <= 8 and report.covered > 0.8 * report.required
    assert gaps[("asset", "HLT-PLT-01")].last_drill_on is not None
    assert gaps[("asset", "HLT-PLT-01")].next_drill_id is not None
    assert gaps[("asset", "WTR-FLD-01")].next_drill_id is None and ("department", "finance") in gaps
    assert ("asset", "TRF-SIG-01") not in gaps and ("asset", "WTR-SCADA-01") not in gaps
    assert audit.verify(session).ok


def test_demo_city_has_a_chief_heads_and_a_history_of_terms(app, session):
    from secgov import responsibility
    from secgov.models import Department, Responsibility

    load_demo_city(app)
    load_demo_city(app)  # the history is written once
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    assert responsibility.holders(session, "city", [depts["city"].id], "chief")[depts["city"].id].username == "leader"
    bureaus = [d for d in depts.values() if d.kind == "bureau"]
    heads = responsibility.holders(session, "department", [d.id for d in bureaus], "head")
    assert {d.code: heads[d.id].username for d in bureaus} == {d.code: f"head.{d.code}" for d in bureaus}
    transport = responsibility.history(session, "department", depts["transport"].id, "head")
    assert [u.username for _t, u in transport] == ["head.transport", "officer.transport"]
    assert transport[1][0].valid_to == transport[0][0].valid_from and transport[0][0].reason
    water = responsibility.history(session, "department", depts["water"].id, "head")
    assert water[0][0].corrects_id == water[1][0].id
    assert (
        session.exec(
            select(func.count()).select_from(Responsibility).where(Responsibility.subject_type == "city")
        ).one()
        == 1
    )
    assert audit.verify(session).ok


def test_demo_city_has_last_quarters_appraisal_closed_with_good_and_poor_records(app, session):
    import hashlib
    import json
    from datetime import UTC, datetime, timedelta

    from secgov import domains, localtime
    from secgov.accountability import appraisal
    from secgov.authz import Actor
    from secgov.models import AppraisalPeriod, AuditEntry, User

    load_demo_city(app)
    load_demo_city(app)  # closed once
    (row,) = session.exec(select(AppraisalPeriod)).all()
    today = localtime.local(datetime.now(UTC), config_of(app).timezone).date()
    assert row.ends_on < today and row.ends_on >= today - timedelta(days=93) and row.closed_by == "leader"
    assert hashlib.sha256(row.data.encode()).hexdigest() == row.sha256
    data = json.loads(row.data)
    measures = {o["measure"] for o in data["outcomes"]}
    # The demo's scans ran in the last two weeks: their findings count in this quarter, not the last.
    every = {m.code for m in domains.registry().measures}
    assert measures == every - {"findings_triaged"}, "every other measure has records in the closed quarter"
    this_quarter = appraisal.quarter_of(today)
    leader_now = session.exec(select(User).where(User.username == "leader")).one()
    now = appraisal.appraise(
        session, Actor.of(leader_now), leader_now.roles, domains.registry().measures, this_quarter, config_of(app)
    )
    assert {o["measure"] for o in now.outcomes} >= {"findings_triaged"}
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "appraisal.closed")).one()
    assert json.loads(entry.detail)["stored_sha256"] == row.sha256
    leader = session.exec(select(User).where(User.username == "leader")).one()
    found = appraisal.appraise(
        session, Actor.of(leader), leader.roles, domains.registry().measures, row.code, config_of(app)
    )
    scores = [line.score for line in found.people if line.score is not None]
    assert len(scores) >= 5 and min(scores) < 60 and max(scores) >= 90, "a realistic mix of good and poor records"
    bureaus = [line.score for line in found.departments if line.score is not None]
    assert min(bureaus) < 60 and max(bureaus) >= 90, "the bureaus differ"
    assert found.unheld.records == 0, "every record of the quarter had an owner then"
    assert audit.verify(session).ok


def test_demo_owners_hold_their_duties_since_the_records_began_and_two_bureaus_handed_over(app, session):
    """Every sub-item owner's term begins when its record did (an asset's registration, a risk's
    registration, a drill's or a corrective action's making), well before the last quarter; the
    police and metro systems changed hands in the middle of the last quarter, and their risks
    still open then went with them."""
    from datetime import UTC, datetime, timedelta

    from assessments.models import Risk
    from drills.models import CorrectiveAction, Drill
    from secgov import localtime
    from secgov.models import Department, Responsibility, User

    load_demo_city(app)
    load_demo_city(app)  # the history is written once
    session.rollback()
    users = {u.id: u.username for u in session.exec(select(User)).all()}
    terms: dict[tuple[str, int], list[Responsibility]] = {}
    for term in session.exec(select(Responsibility).order_by(Responsibility.valid_from, Responsibility.id)).all():
        terms.setdefault((term.subject_type, term.subject_id), []).append(term)
    records = [
        *(("asset", a.id, a.created_at) for a in session.exec(select(Asset)).all()),
        *(("risk", r.id, r.created_at) for r in session.exec(select(Risk)).all()),
        *(("drill", d.id, d.created_at) for d in session.exec(select(Drill)).all()),
        *(("corrective_action", c.id, c.created_at) for c in session.exec(select(CorrectiveAction)).all()),
    ]
    # (a scan's finding and a drill's action promoted to risks were registered at the demo's loading)
    late = [
        (kind, id_) for kind, id_, began in records if abs(terms[(kind, id_)][0].valid_from - began).total_seconds() > 5
    ]
    assert not late, late[:5]
    today = localtime.local(datetime.now(UTC), config_of(app).timezone).date()
    quarter = (today.month - 1) // 3 * 3 + 1
    last_quarter_began = (today.replace(day=1, month=quarter) - timedelta(days=80)).replace(day=1)
    assets = session.exec(select(Asset)).all()
    assert sum(a.created_at.date() < last_quarter_began for a in assets) > 0.6 * len(assets)

    departments = {d.id: d.code for d in session.exec(select(Department)).all()}
    owners = {
        a.id: [users[t.user_id] for t in terms[("asset", a.id)]]
        for a in assets
        if departments[a.department_id] in ("police", "transport-metro")
    }
    assert set(map(tuple, owners.values())) == {("officer", "officer.police"), ("officer.transport", "officer.metro")}
    moments = {terms[("asset", a)][1].valid_from for a in owners}
    assert len(moments) == 1
    (handed,) = moments
    assert last_quarter_began + timedelta(days=30) < handed.date() < last_quarter_began + timedelta(days=60)
    assert all(terms[("asset", a)][0].valid_to == handed for a in owners)
    went, stayed = 0, 0
    for risk in session.exec(select(Risk).where(Risk.asset_id.in_(list(owners)))).all():
        held = [users[t.user_id] for t in terms[("risk", risk.id)]]
        if risk.created_at < handed and (risk.closed_at is None or risk.closed_at > handed):
            assert held == owners[risk.asset_id] and terms[("risk", risk.id)][1].valid_from == handed
            went += 1
        else:
            assert held == [owners[risk.asset_id][0 if risk.created_at < handed else 1]]
            stayed += 1
    assert went >= 1 and stayed >= 1

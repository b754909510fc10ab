"""The daily upkeep of assessments and risks (assessments.jobs, kind "assessments.daily"), with
frozen days: expired acceptances reopen their risks (and a later approval concludes poor), newly
overdue assessments, treatments and reviews are marked once, each person gets one reminder per
run through a local SMTP server (aiosmtpd), nothing is marked or sent twice, and without e-mail
the run still does the rest and says so."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from flask import url_for
from flask_babel import force_locale, gettext
from helpers import login
from smtp_support import free_port, smtp_server  # noqa: F401 - a fixture
from sqlmodel import Session, select

from assessments import risks, rule, services
from assessments.jobs import CODE
from assessments.models import Risk
from assessments.schemas import AcceptanceCreate, AreaInput, AssessmentCreate, AssessmentDecision, RiskCreate
from assets.models import AssetGrade
from secgov import runs, snapshots
from secgov.authz import Actor
from secgov.codes import AREA
from secgov.config import ServiceConfig
from secgov.db import write_session
from secgov.models import AuditEntry, Run
from secgov.tasks import platform_of

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh"}
PUBLIC = "https://secgov.city.example/gov"
DAY = date(2026, 3, 2)
OFFICER = Actor(username="officer", channel="cli")
LEADER = Actor(username="chief", channel="cli")


def engine_of(app):
    return app.extensions["secgov_engine"]


def method_of(app, session):
    return rule.method(session, ServiceConfig.from_mapping(app.config))


@pytest.fixture
def register(app, session, make_department, make_user, make_asset):
    """The water bureau's two level-3 systems, A graded on 2025-01-10 (due 2026-01-10: overdue on
    DAY) and B graded on 2025-03-20 (due soon on DAY, overdue from 2026-03-21); and its risks:
    R1 high on A, accepted until 2026-03-01; R2 on A, its treatment due 2026-02-01; R3 on A,
    registered 2025-06-01 (its review due 2025-12-01); R4 on B, accepted until 2026-03-20; R5 on
    A, its treatment due 2026-02-10, owned by someone without an e-mail address."""
    make_department("city")
    make_department("water", parent="city")
    people = {
        "chief": make_user("chief", roles=("leader",), department="city"),
        "water.head": make_user("water.head", roles=("leader",), department="water"),
        "water.nomail": make_user("water.nomail", roles=("leader",), department="water"),
        "officer": make_user("officer", roles=("officer",), department="water"),
        "asset.owner": make_user("asset.owner", roles=("officer",), department="water"),
        "b.owner": make_user("b.owner", roles=("officer",), department="water"),
        "risk.owner": make_user("risk.owner", roles=("officer",), department="water"),
        "no.mail": make_user("no.mail", roles=("officer",), department="water"),
        "root.admin": make_user("root.admin", roles=("admin",), department="city", mfa=True),
    }
    for username, user in people.items():
        user.email = "" if username in ("water.nomail", "no.mail") else f"{username}@city.example"
        user.language = "en" if username in ("chief", "asset.owner", "risk.owner") else None
        session.add(user)
    session.commit()
    a = make_asset("WTR-SCADA", "water", owner="asset.owner", mlps_level=3, name="Water SCADA")
    b = make_asset("WTR-BILL", "water", owner="b.owner", mlps_level=3, name="Water billing")
    with write_session(engine_of(app)) as s:
        for asset_id, graded in (
            (a.id, datetime(2025, 1, 10, 2, tzinfo=UTC)),
            (b.id, datetime(2025, 3, 20, 2, tzinfo=UTC)),
        ):
            for grade in s.exec(select(AssetGrade).where(AssetGrade.asset_id == asset_id)).all():
                grade.changed_at = graded
                s.add(grade)
    made = {"a": a, "b": b, "people": people}
    with app.test_request_context(headers=EN), write_session(engine_of(app)) as s:
        method = method_of(app, s)

        def risk(name, asset, day, likelihood, impact, **fields):
            data = RiskCreate(asset_id=asset.id, title=name, likelihood=likelihood, impact=impact, **fields)
            made[name] = risks.create_risk(s, data, OFFICER, method, today=day).id

        risk("R1", a, date(2026, 1, 5), 4, 4, owner="risk.owner")
        risk("R2", a, date(2026, 1, 5), 3, 3, owner="risk.owner", due_date=date(2026, 2, 1))
        risk("R3", a, date(2025, 6, 1), 3, 3, owner="risk.owner")
        risk("R4", b, date(2026, 2, 1), 3, 3, owner="risk.owner")
        risk("R5", a, date(2026, 1, 5), 3, 3, owner="no.mail", due_date=date(2026, 2, 10))
        accepted = AcceptanceCreate(reason="Compensating controls in place", expires_on=date(2026, 3, 1))
        risks.accept(s, s.get(Risk, made["R1"]), accepted, LEADER, ("leader",), today=date(2026, 1, 5))
        accepted = AcceptanceCreate(reason="Billing is replaced in spring", expires_on=date(2026, 3, 20))
        risks.accept(s, s.get(Risk, made["R4"]), accepted, OFFICER, ("officer",), today=date(2026, 2, 1))
    return made


def run_daily(app, day: date | None) -> Run:
    kind = app.extensions["secgov_registry"].jobs[CODE]
    with write_session(engine_of(app)) as session:
        run_id = runs.enqueue(session, Actor.system("job"), kind, {"day": day.isoformat()} if day else {}).id
    platform_of(app).execute(run_id)
    with Session(engine_of(app)) as session:
        return session.get(Run, run_id)


def succeeded(run: Run) -> dict:
    assert run.status == "succeeded", (run.reason, run.detail)
    return runs.loads(run.result)


def entries(app, *actions: str) -> list[tuple[str, str, dict]]:
    with Session(engine_of(app)) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.seq)).all()
    return [(row.action, row.object_id, json.loads(row.detail)) for row in rows]


def conclusion_approved_on(app, asset_id: int, day: date) -> str:
    """Approve an ad-hoc assessment of the asset, every area rated 95, on day: its conclusion."""
    with app.test_request_context(headers=EN), write_session(engine_of(app)) as s:
        method = method_of(app, s)
        areas = [AreaInput(area=code, rating=95, reason="Rated on site") for code in AREA.codes]
        data = AssessmentCreate(asset_id=asset_id, kind="ad_hoc", started_on=day, finished_on=day, areas=areas)
        made = services.create_assessment(s, data, OFFICER, today=day)
        services.submit(s, made, OFFICER, method)
        services.approve(s, made, AssessmentDecision(), LEADER, method, today=day)
        return made.conclusion


def risk_status(app, risk_id: int) -> str:
    with Session(engine_of(app)) as session:
        return session.get(Risk, risk_id).status


def test_an_expired_acceptance_reopens_the_risk_and_later_assessments_conclude_poor(app, register):
    app.config["SECGOV_SMTP_HOST"] = ""
    assert conclusion_approved_on(app, register["a"].id, date(2026, 2, 15)) == "excellent"  # R1 accepted
    assert risk_status(app, register["R1"]) == "accepted"
    result = succeeded(run_daily(app, DAY))
    assert result["risks_reopened"] == 1
    assert risk_status(app, register["R1"]) == "open" and risk_status(app, register["R4"]) == "accepted"
    [(action, object_id, detail)] = entries(app, "risk_acceptance.expired")
    assert object_id == str(register["R1"]) and detail["after"] == {"status": "open"}
    assert conclusion_approved_on(app, register["a"].id, date(2026, 3, 3)) == "poor"
    assert succeeded(run_daily(app, DAY))["risks_reopened"] == 0


def test_what_falls_overdue_is_marked_once(app, register):
    app.config["SECGOV_SMTP_HOST"] = ""
    first = succeeded(run_daily(app, DAY))
    assert (first["assessments_overdue"], first["treatments_overdue"], first["reviews_overdue"]) == (2, 2, 1)
    a, b = str(register["a"].id), str(register["b"].id)
    marks = entries(app, "assessment.overdue", "risk.treatment_overdue", "risk.review_overdue")
    assert sorted((action, object_id, detail.get("kind", ""), detail["due_on"]) for action, object_id, detail in marks) == sorted(
        [
            ("assessment.overdue", a, "mlps_evaluation", "2026-01-10"),
            ("assessment.overdue", a, "self_inspection", "2026-01-10"),
            ("risk.treatment_overdue", str(register["R2"]), "", "2026-02-01"),
            ("risk.treatment_overdue", str(register["R5"]), "", "2026-02-10"),
            ("risk.review_overdue", str(register["R3"]), "", "2025-12-01"),
        ]
    )  # fmt: skip

    again = succeeded(run_daily(app, DAY))
    assert (again["assessments_overdue"], again["treatments_overdue"], again["reviews_overdue"]) == (0, 0, 0)
    assert len(entries(app, "assessment.overdue", "risk.treatment_overdue", "risk.review_overdue")) == 5

    # B falls overdue on 2026-03-21; R4's acceptance ended the day before. A new treatment date
    # for R2 that is missed again is a new mark.
    with app.test_request_context(headers=EN), write_session(engine_of(app)) as s:
        row = s.get(Risk, register["R2"])
        row.due_date = date(2026, 3, 10)
        s.add(row)
    later = succeeded(run_daily(app, date(2026, 3, 21)))
    assert (later["assessments_overdue"], later["treatments_overdue"], later["reviews_overdue"]) == (2, 1, 0)
    assert later["risks_reopened"] == 1
    newer = [(o, d.get("kind"), d["due_on"]) for _a, o, d in entries(app, "assessment.overdue") if o == b]
    assert sorted(newer) == [(b, "mlps_evaluation", "2026-03-20"), (b, "self_inspection", "2026-03-20")]


def test_a_day_to_come_is_refused(app, register):
    run = run_daily(app, date(2099, 1, 1))
    assert (run.status, run.reason) == ("failed", "future_day")
    today = snapshots.local_today(app.config["BABEL_DEFAULT_TIMEZONE"])  # the city's day, not UTC's
    assert succeeded(run_daily(app, None))["day"] == today.isoformat()


def asset_link(app, asset_id: int) -> str:
    with app.test_request_context(base_url=PUBLIC):
        return url_for("assets.detail", asset_id=asset_id, _external=True)


def risk_link(app, risk_id: int, asset_id: int) -> str:
    """The risk's page, or its asset's in an installation without the risk pages."""
    with app.test_request_context(base_url=PUBLIC):
        if "risks.detail" in app.view_functions:
            return url_for("risks.detail", risk_id=risk_id, _external=True)
        return url_for("assets.detail", asset_id=asset_id, _external=True)


def test_each_person_gets_one_digest_of_their_items_and_nothing_twice(app, register, smtp_server):  # noqa: F811
    app.config.update(smtp_server.config(), SECGOV_PUBLIC_URL=PUBLIC)
    result = succeeded(run_daily(app, DAY))
    assert (result["mail"], result["letters"], result["no_address"]) == ("sent", 5, 1)
    # A's two assessments, B's two, R2's treatment and R3's review, R4's acceptance (R5's owner
    # has no address: nobody is written to about it).
    assert result["items_reminded"] == 7
    got = {}
    for received in smtp_server.messages:
        [address] = received.rcpt_tos
        assert address not in got, "one message per person"
        got[address] = received.message
    assert sorted(got) == [
        "asset.owner@city.example",
        "b.owner@city.example",
        "chief@city.example",
        "risk.owner@city.example",
        "water.head@city.example",
    ]
    a, b = register["a"].id, register["b"].id

    owner = got["asset.owner@city.example"]  # reads English
    assert owner["Subject"] == "SecGov: 2 items need your attention"
    assert not owner.is_multipart() and owner.get_content_type() == "text/plain"
    body = owner.get_content()
    assert body.startswith("Hello asset.owner,")
    assert "WTR-SCADA Water SCADA: MLPS evaluation, due on 2026-01-10 (Overdue)" in body
    assert "Self-inspection, due on 2026-01-10 (Overdue)" in body
    assert asset_link(app, a) in body and "WTR-BILL" not in body and "Risk #" not in body

    b_owner = got["b.owner@city.example"].get_content()  # no language of their own: the city's (Chinese)
    assert "WTR-BILL" in b_owner and "等级测评" in b_owner and "自查" in b_owner and "即将到期" in b_owner
    assert asset_link(app, b) in b_owner and "WTR-SCADA" not in b_owner

    risk_owner = got["risk.owner@city.example"].get_content()
    assert f"Risk #{register['R2']} R2" in risk_owner and "2026-02-01" in risk_owner
    assert f"Risk #{register['R3']} R3" in risk_owner and "2025-12-01" in risk_owner
    assert f"#{register['R1']} " not in risk_owner  # reopened today, nothing late about it
    assert f"#{register['R5']} " not in risk_owner and f"#{register['R4']} " not in risk_owner
    assert risk_link(app, register["R2"], a) in risk_owner

    for leader in ("chief@city.example", "water.head@city.example"):
        text = got[leader].get_content()
        assert f"#{register['R4']} R4" in text and "2026-03-20" in text
        assert risk_link(app, register["R4"], b) in text
    assert "accepted until 2026-03-20" in got["chief@city.example"].get_content()  # English, the chief's

    reminded = entries(app, "assessment.reminded", "risk.reminded")
    assert len(reminded) == 7
    about_r4 = [d for _a, o, d in reminded if o == str(register["R4"])]
    assert [sorted(d["recipients"]) for d in about_r4] == [["chief", "water.head"]]
    assert about_r4[0]["reason"] == "acceptance_expiring"

    # The same day again: nothing new is sent or recorded.
    again = succeeded(run_daily(app, DAY))
    assert (again["letters"], again["items_reminded"]) == (0, 0)
    assert len(smtp_server.messages) == 5 and len(entries(app, "assessment.reminded", "risk.reminded")) == 7

    # B's assessments turn from due soon to overdue: its owner is told once more, nobody else.
    later = succeeded(run_daily(app, date(2026, 3, 21)))
    assert (later["letters"], later["items_reminded"]) == (1, 2)
    last = smtp_server.messages[-1]
    assert last.rcpt_tos == ["b.owner@city.example"] and "逾期" in last.message.get_content()


def test_without_mail_settings_the_rest_is_done_and_the_page_says_no_reminder_went(client, app, register):
    app.config["SECGOV_SMTP_HOST"] = ""
    run = run_daily(app, DAY)
    result = succeeded(run)
    assert (result["mail"], result["letters"], result["items_reminded"]) == ("off", 0, 0)
    assert result["assessments_overdue"] == 2 and result["risks_reopened"] == 1
    assert entries(app, "assessment.reminded", "risk.reminded") == []

    login(client, register["people"]["root.admin"])
    page = client.get(f"/jobs/{run.id}", headers=EN).get_data(as_text=True)
    assert "Daily upkeep of assessments and risks" in page
    assert "No reminders sent: e-mail is not configured." in page
    assert "Assessments newly overdue" in page
    listed = client.get("/jobs", headers=EN).get_data(as_text=True)
    assert "Daily upkeep of assessments and risks" in listed
    schedules = client.get("/jobs/schedules", headers=EN).get_data(as_text=True)
    assert "Daily upkeep of assessments and risks" in schedules
    with app.test_request_context(headers=ZH), force_locale("zh"):
        label = gettext(app.extensions["secgov_registry"].jobs[CODE].label)
        note = gettext("No reminders sent: e-mail is not configured.")
    assert label in client.get("/jobs", headers=ZH).get_data(as_text=True)
    page = client.get(f"/jobs/{run.id}", headers=ZH).get_data(as_text=True)
    assert label in page and note in page


def test_a_mail_server_that_cannot_be_reached_fails_the_run_after_the_marks(app, register):
    app.config.update(
        SECGOV_SMTP_HOST="127.0.0.1",
        SECGOV_SMTP_PORT=free_port(),
        SECGOV_SMTP_SECURITY="none",
        SECGOV_SMTP_FROM="secgov@city.example",
        SECGOV_SMTP_TIMEOUT=2,
    )
    run = run_daily(app, DAY)
    assert (run.status, run.reason) == ("failed", "mail_unreachable")
    result = runs.loads(run.result)
    assert (result["mail"], result["letters"], result["assessments_overdue"]) == ("failed", 0, 2)
    assert len(entries(app, "assessment.overdue")) == 2 and entries(app, "assessment.reminded", "risk.reminded") == []
    with Session(engine_of(app)) as session:  # the administrators are alerted
        assert session.exec(select(Run.kind).where(Run.id != run.id)).all() == ["mail.alert"]

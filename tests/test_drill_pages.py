"""The pages of the drills domain: each renders in both languages for the least privileged role
that sees it, the figures shown are the services' (measured times, reporting against the deadline,
days overdue, coverage), the forms do what the services allow (planning with local times, the
workflow, timeline, record, corrective actions with the owner's update and promotion, requests),
and bad input shows the form again with the error beside the field and changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from drill_world import add_action, conduct, hours_ago, plan
from factories import config_of
from helpers import csrf_token, login
from sqlmodel import select

from assessments.models import Risk
from drills import actions, coverage, services
from drills.codes import EXERCISE_TYPE, RATING
from drills.models import CorrectiveAction, Drill, DrillObjective, DrillRequest, DrillTimelineEntry
from drills.schemas import ActionQuery
from secgov.authz import Actor

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
ZONE = ZoneInfo("Asia/Shanghai")  # the test app's zone
TODAY = datetime.now(UTC).date()


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def post(client, path: str, data: dict, page: str, headers=EN):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)}, headers=headers)


def local_text(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def fresh(session, model, row_id):
    session.commit()
    session.expire_all()
    return session.get(model, row_id)


@pytest.fixture
def world(app, city, make_user, make_asset, session):
    """Bureau a's CII traffic system (a CII operator's 60-minute deadline), a drill team at the
    city, readers of bureau a; a drill conducted two hours ago that reported late (70 minutes)."""
    make_asset("TRF-1", "a", owner="officer.a", is_cii=True)
    make_asset("WEB-1", "b", owner="officer.b")
    team = make_user("drill.city", roles=("drill_team",), department="city")
    people = {
        **city,
        "team": team,
        "auditor": make_user("auditor.a", roles=("auditor",), department="a"),
        "leader_a": make_user("leader.a", roles=("leader",), department="a"),
        "team_b": make_user("drill.b", roles=("drill_team",), department="b"),
    }
    actor = Actor.of(team, "web")
    held = plan(app, actor, title="Signal ransomware", department="a", assets=["TRF-1"],
                planned_start=hours_ago(3))  # fmt: skip
    conduct(app, actor, held, started=hours_ago(2), milestones={"detected": 10, "reported": 70}, ended=hours_ago(0.5))
    planned = plan(app, actor, title="Portal DDoS", department="b", assets=["WEB-1"], recurrence_months=6)
    overdue = add_action(app, actor, held, "officer.b", TODAY - timedelta(days=3), title="Patch the gateway")
    own = add_action(
        app, actor, held, "officer.a", TODAY + timedelta(days=20), title="Train the night shift", asset="TRF-1"
    )
    return {**people, "actor": actor, "held": held, "planned": planned, "overdue": overdue, "own": own}


# --- rendering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh"])
def test_every_page_renders_for_a_reader_in_both_languages(app, world, headers):
    """The auditor (reads, does nothing) sees the list, the conducted drill, the actions, one
    action, coverage and requests, in the language asked for, with no form of the drill team."""
    client = signed_in(app, world["auditor"])
    held = world["held"]
    with app.test_request_context(headers=headers):
        tabletop = EXERCISE_TYPE.label("tabletop")
    pages = {
        "/drills": "Signal ransomware",
        f"/drills/{held}": tabletop,
        "/drills/actions": "Train the night shift",
        f"/drills/actions/{world['own']}": "Train the night shift",
        "/drills/coverage": 'class="figure',
        "/drills/requests": "<table",
    }
    lang = 'lang="zh' if headers is ZH else 'lang="en'
    for path, expected in pages.items():
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        page = text(response)
        assert expected in page, path
        assert lang in page, path
        assert "None" not in re.sub(r"<[^>]+>", " ", page), f"{path} shows None"
    detail = text(client.get(f"/drills/{held}", headers=headers))
    assert tabletop in detail
    assert "/start" not in detail and "/record" not in detail and "/comments" not in detail
    assert f'href="/drills/actions/{world["own"]}"' in detail
    # The whole improvement plan is shown; an action of another department's owner is not a link.
    assert "Patch the gateway" in detail and f'href="/drills/actions/{world["overdue"]}"' not in detail


def test_forms_render_for_the_roles_that_use_them(app, world):
    team = signed_in(app, world["team"])
    for headers in (EN, ZH):
        assert team.get("/drills/new", headers=headers).status_code == 200
        assert team.get(f"/drills/{world['planned']}/edit", headers=headers).status_code == 200
    page = text(team.get(f"/drills/{world['held']}", headers=EN))
    assert "/record" in page and "/timeline" in page and "/actions" in page
    leader = signed_in(app, world["leader_a"])
    page = text(leader.get("/drills/requests", headers=ZH))
    assert 'action="/drills/requests"' in page
    assert f"/drills/{world['held']}/approve" in text(leader.get(f"/drills/{world['held']}", headers=EN))


def test_another_departments_drill_is_not_found(app, world):
    client = signed_in(app, world["auditor"])
    assert client.get(f"/drills/{world['planned']}").status_code == 404
    assert client.get("/drills/999999").status_code == 404


# --- the figures shown are the services' ------------------------------------------------------------


def test_the_detail_page_shows_the_measured_times_and_the_late_report(app, world, session):
    client = signed_in(app, world["auditor"])
    actor = Actor.of(world["auditor"], "web")
    with app.test_request_context(headers=EN):
        record = services.read(session, services.get(session, actor, world["held"]))
    m = record.measured
    assert (m.report_deadline_minutes, m.reporting) == (60, "late")
    page = text(client.get(f"/drills/{world['held']}", headers=EN))
    late = m.report_minutes - m.report_deadline_minutes
    assert f"Reported late by {late} min" in page
    assert f"after 1 h {m.report_minutes - 60} min, {late} min past the 1 h deadline" in page
    assert "the deadline of a CII operator" in page
    assert f"{m.detect_minutes} min" in page
    listed = text(client.get("/drills?reporting=late", headers=EN))
    assert "Signal ransomware" in listed and f"Reported late by {late} min" in listed
    assert "Signal ransomware" not in text(client.get("/drills?reporting=on_time", headers=EN))


def test_the_actions_register_shows_days_overdue_as_the_service(app, world, session):
    owner = signed_in(app, world["officer_b"])  # the owner, in bureau b: sees their own action
    with app.test_request_context(headers=EN):
        rows, total = actions.list_actions(session, Actor.of(world["officer_b"], "web"), ActionQuery())
    [row] = rows
    assert row.overdue and row.days_overdue == 3
    page = text(owner.get("/drills/actions", headers=EN))
    assert "3 days overdue" in page and 'class="overdue"' in page
    assert "3 days overdue" in text(owner.get("/drills/actions?overdue=true", headers=EN))
    assert "Patch the gateway" not in text(owner.get("/drills/actions?overdue=false", headers=EN))


def test_the_coverage_page_shows_the_services_figures(app, world, session):
    client = signed_in(app, world["team"])
    with app.test_request_context(headers=EN):
        found = coverage.coverage(session, Actor.of(world["team"], "web"), config_of(app))
    page = text(client.get("/drills/coverage", headers=EN))
    figures = re.findall(r'<span class="figure[^"]*">(\d+)</span>', page)
    assert figures == [str(found.required), str(found.covered), str(len(found.gaps))]
    assert any(g.code == "b" and g.next_drill_id == world["planned"] for g in found.gaps)
    assert f'href="/drills/{world["planned"]}"' in page
    if any(g.next_drill_id is None for g in found.gaps):
        assert "No drill planned" in page


# --- planning ------------------------------------------------------------------------------------


def _plan_form(**fields) -> dict:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=10)
    return {
        "title": "Water SCADA exercise",
        "scenario": "The chlorine dosing is manipulated.",
        "exercise_type": "functional",
        "incident_grade": "I",
        "department": "a",
        "lead": "officer.a",
        "planned_start": local_text(start),
        "duration_minutes": "180",
        "recurrence_months": "12",
        "assets": "TRF-1",
        "departments": "a1, a",
        "participants": "officer.a auditor.a",
        "external_participants": "Li Wei; Water Co; SCADA engineer\nZhang San",
        "objectives": "Detect the manipulation\nReport within the hour\n",
        **fields,
    }, start


def test_planning_a_drill_reads_the_local_time_and_the_lists(app, world, session):
    client = signed_in(app, world["team"])
    form, start = _plan_form()
    response = post(client, "/drills/new", form, "/drills/new")
    assert response.status_code == 302
    drill_id = int(response.headers["Location"].rsplit("/", 1)[1])
    drill = fresh(session, Drill, drill_id)
    assert drill.planned_start.replace(tzinfo=UTC) == start  # local 10:00 in Shanghai is 02:00 UTC
    with app.test_request_context(headers=EN):
        record = services.read(session, drill)
    assert record.assets == ["TRF-1"] and record.departments == ["a", "a1"]
    assert sorted(p.username for p in record.participants if p.username) == ["auditor.a", "officer.a"]
    assert [(p.name, p.organisation, p.role) for p in record.participants if not p.username] == [
        ("Li Wei", "Water Co", "SCADA engineer"), ("Zhang San", "", ""),
    ]  # fmt: skip
    assert [o.text for o in record.objectives] == ["Detect the manipulation", "Report within the hour"]
    assert record.recurrence_months == 12


@pytest.mark.parametrize(
    ("field", "value"),
    [("duration_minutes", "0"), ("planned_start", "tomorrow"), ("assets", "NO-SUCH"), ("lead", "nobody"),
     ("recurrence_months", "40"), ("title", "")],
)  # fmt: skip
def test_bad_plans_show_the_form_again_with_the_error_beside_the_field(app, world, session, field, value):
    client = signed_in(app, world["team"])
    before = len(session.exec(select(Drill)).all())
    form, _start = _plan_form(**{field: value})
    response = post(client, "/drills/new", form, "/drills/new")
    assert response.status_code == 422
    page = text(response)
    assert re.search(rf'class="field has-error">\s*<label for="f-{field}"', page), field
    assert 'class="error"' in page
    session.commit()
    assert len(session.exec(select(Drill)).all()) == before


def test_editing_a_planned_drill_and_a_stale_version(app, world, session):
    client = signed_in(app, world["team"])
    path = f"/drills/{world['planned']}/edit"
    page = text(client.get(path, headers=EN))
    version = re.search(r'name="version" value="(\d+)"', page)[1]
    start = re.search(r'name="planned_start" value="([^"]+)"', page)[1]
    form = {"version": version, "title": "Portal DDoS, second round", "exercise_type": "functional",
            "incident_grade": "II", "lead": "drill.city", "planned_start": start, "duration_minutes": "60",
            "recurrence_months": "", "assets": "WEB-1", "departments": "", "participants": "",
            "external_participants": "", "objectives": "Keep the portal up"}  # fmt: skip
    assert post(client, path, form, path).status_code == 302
    drill = fresh(session, Drill, world["planned"])
    assert (drill.title, drill.recurrence_months, drill.exercise_type) == (
        "Portal DDoS, second round",
        None,
        "functional",
    )
    again = post(client, path, form, path)  # the old version
    assert again.status_code in (409, 422)
    assert fresh(session, Drill, world["planned"]).version == drill.version


# --- conducting --------------------------------------------------------------------------------------


def test_start_timeline_record_complete_and_approve(app, world, session):
    client = signed_in(app, world["team"])
    drill_id = plan(app, world["actor"], title="Tabletop", department="a", assets=["TRF-1"], planned_start=hours_ago(1))
    page = f"/drills/{drill_id}"
    started = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=50)
    assert post(client, f"{page}/start", {"started_at": local_text(started)}, page).status_code == 302
    assert fresh(session, Drill, drill_id).status == "in_progress"
    # An entry before the start: refused beside its field, nothing added.
    early = post(client, f"{page}/timeline", {"at": local_text(started - timedelta(hours=1)), "text": "x"}, page)
    assert early.status_code == 422 and "between the drill" in text(early)
    assert 'id="f-entry-at"' in text(early)
    for minutes, milestone in ((5, "detected"), (30, "reported")):
        at = local_text(started + timedelta(minutes=minutes))
        data = {"at": at, "who": "SOC", "text": f"{milestone}!", "milestone": milestone}
        assert post(client, f"{page}/timeline", data, page).status_code == 302
    session.commit()
    assert len(session.exec(select(DrillTimelineEntry).where(DrillTimelineEntry.drill_id == drill_id)).all()) == 2
    assert fresh(session, Drill, drill_id).report_minutes == 30
    objectives = session.exec(select(DrillObjective).where(DrillObjective.drill_id == drill_id)).all()
    bad = post(client, f"{page}/record", {f"rating_{objectives[0].id}": "X", "strengths": "kept"}, page)
    assert bad.status_code == 422 and "P, S, M or U" in text(bad)
    assert fresh(session, Drill, drill_id).strengths == ""
    record = {f"rating_{objectives[0].id}": "S", f"note_{objectives[0].id}": "slow", "strengths": "Calm",
              "improvements": "Call lists"}  # fmt: skip
    assert post(client, f"{page}/record", record, page).status_code == 302
    assert fresh(session, DrillObjective, objectives[0].id).rating == "S"
    assert post(client, f"{page}/complete", {}, page).status_code == 302
    drill = fresh(session, Drill, drill_id)
    assert (drill.status, drill.strengths) == ("completed", "Calm")
    shown = text(client.get(page, headers=EN))
    with app.test_request_context(headers=EN):
        assert RATING.label("S") in shown
    assert "Reported on time" in shown
    leader = signed_in(app, world["leader_a"])
    assert post(leader, f"{page}/approve", {}, page).status_code == 302
    assert fresh(session, Drill, drill_id).aar_status == "approved"
    assert "/record" not in text(client.get(page, headers=EN))  # the record is final


def test_cancel_needs_a_reason_and_comments(app, world, session):
    client = signed_in(app, world["team"])
    page = f"/drills/{world['planned']}"
    refused = post(client, f"{page}/cancel", {"reason": "  "}, page)
    assert refused.status_code == 422 and "has-error" in text(refused)
    assert fresh(session, Drill, world["planned"]).status == "planned"
    assert post(client, f"{page}/comments", {"text": "Moved to spring"}, page).status_code == 302
    assert post(client, f"{page}/cancel", {"reason": "Moved to spring"}, page).status_code == 302
    drill = fresh(session, Drill, world["planned"])
    assert drill.status == "cancelled"
    following = session.exec(select(Drill).where(Drill.previous_id == drill.id)).one()  # it recurs
    assert f'href="/drills/{following.id}"' in text(client.get(page, headers=EN))


# --- corrective actions ------------------------------------------------------------------------------


def test_adding_an_action_and_bad_input(app, world, session):
    client = signed_in(app, world["team"])
    page = f"/drills/{world['held']}"
    before = len(session.exec(select(CorrectiveAction)).all())
    past = post(client, f"{page}/actions", {"title": "Old", "owner": "officer.a", "due_date": "2001-01-01"}, page)
    assert past.status_code == 422 and 'id="f-action-due"' in text(past) and "past" in text(past)
    nobody = post(client, f"{page}/actions", {"title": "X", "owner": "nobody", "due_date": TODAY.isoformat()}, page)
    assert nobody.status_code == 422 and "Unknown user" in text(nobody)
    session.commit()
    assert len(session.exec(select(CorrectiveAction)).all()) == before
    due = (TODAY + timedelta(days=30)).isoformat()
    done = post(client, f"{page}/actions", {"title": "Call list", "owner": "officer.a", "due_date": due,
                                            "asset": "TRF-1"}, page)  # fmt: skip
    assert done.status_code == 302 and "/drills/actions/" in done.headers["Location"]


def test_the_owner_updates_their_action_and_others_are_told_no(app, world, session):
    path = f"/drills/actions/{world['overdue']}"
    owner = signed_in(app, world["officer_b"])
    page = text(owner.get(path, headers=EN))
    assert "As its owner" in page and 'value="cancelled"' not in page.split("update")[1].split("</form>")[0]
    # The drill is bureau a's: its owner in bureau b gets no link to it, nor the promotion form.
    assert f'href="/drills/{world["held"]}"' not in page and "/promote" not in page
    version = fresh(session, CorrectiveAction, world["overdue"]).version
    response = post(owner, f"{path}/update", {"version": version, "status": "closed", "note": "Patched"}, path)
    assert response.status_code == 302
    row = fresh(session, CorrectiveAction, world["overdue"])
    assert (row.status, row.note) == ("closed", "Patched")
    # A leader of the city sees the action but may not change it.
    other = signed_in(app, world["leader"])
    response = post(other, f"{path}/update", {"version": row.version, "status": "open"}, path)
    assert response.status_code == 302
    assert "Only the drill team or the action" in text(other.get(path, headers=EN))
    assert fresh(session, CorrectiveAction, world["overdue"]).status == "closed"
    bad = post(owner, f"{path}/update", {"version": row.version, "status": "nonsense"}, path)
    assert bad.status_code == 422 and "has-error" in text(bad)


def test_an_action_is_promoted_to_a_risk(app, world, session):
    officer = signed_in(app, world["officer_a"])
    path = f"/drills/actions/{world['own']}"
    response = post(officer, f"{path}/promote", {"treatment": "reduce"}, path)
    assert response.status_code == 302 and "/risks/" in response.headers["Location"]
    row = fresh(session, CorrectiveAction, world["own"])
    risk = session.get(Risk, row.risk_id)
    assert risk is not None and risk.title == "Train the night shift"
    again = post(officer, f"{path}/promote", {"treatment": "reduce"}, path)
    assert again.status_code == 422


# --- requests --------------------------------------------------------------------------------------


def test_a_leader_asks_and_the_team_plans_or_declines(app, world, session):
    leader = signed_in(app, world["leader_a"])
    past = post(leader, "/drills/requests", {"title": "Drill it", "due_by": "2001-01-01"}, "/drills/requests")
    assert past.status_code == 422 and 'id="f-ask-due"' in text(past)
    session.commit()
    assert session.exec(select(DrillRequest)).all() == []
    due = (TODAY + timedelta(days=40)).isoformat()
    for title in ("Drill the traffic system", "Drill the portal"):
        data = {"title": title, "due_by": due, "assets": "TRF-1", "exercise_type": "tabletop"}
        assert post(leader, "/drills/requests", data, "/drills/requests").status_code == 302
    session.commit()
    first, second = session.exec(select(DrillRequest).order_by(DrillRequest.id)).all()
    team = signed_in(app, world["team"])
    form_page = text(team.get(f"/drills/new?request_id={first.id}", headers=EN))
    assert 'value="Drill the traffic system"' in form_page and f'name="request_id" value="{first.id}"' in form_page
    form, _start = _plan_form(title="Traffic tabletop", request_id=str(first.id))
    assert post(team, "/drills/new", form, "/drills/new").status_code == 302
    assert fresh(session, DrillRequest, first.id).status == "scheduled"
    empty = post(team, f"/drills/requests/{second.id}/decline", {"reason": ""}, "/drills/requests")
    assert empty.status_code == 422 and "has-error" in text(empty)
    assert fresh(session, DrillRequest, second.id).status == "open"
    said = post(team, f"/drills/requests/{second.id}/decline", {"reason": "Covered"}, "/drills/requests")
    assert said.status_code == 302
    assert fresh(session, DrillRequest, second.id).status == "declined"
    shown = text(leader.get("/drills/requests", headers=EN))
    assert "Covered" in shown and "Plan this drill" not in shown

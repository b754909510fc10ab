"""The accountability trace's page: for each kind of lapse it shows the chain the API answers
(each person by their display name, their term, who assigned it and why, a later correction, a
gap), the matrix links its overdue cells to it, and bad input gets the page with a clear message,
never a server error. The world and its history of terms are tests/test_accountability_trace.py's."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape

import factories
import pytest
from helpers import login
from sqlmodel import select
from test_accountability_trace import NOW, SYSTEM, TODAY, _history, _risk, _term, world  # noqa: F401 - the fixture

from assets.models import AssetGrade
from drills.models import CorrectiveAction, Drill, DrillObjective
from secgov import audit, localtime
from secgov.models import AuditEntry
from secgov.web import localtime_filter

EN = {"Accept-Language": "en"}
NAMES = {"old.owner": "Wang Old", "new.owner": "Li New", "head.two": "Zhao Head", "chief.one": "Qian Chief"}


@pytest.fixture
def scene(app, session, world):  # noqa: F811 - the imported fixture
    """One record of each kind that went wrong, in unit a1, with histories around each lapse; a
    gap (the asset's owner only since today) and a correction (the drill's lead)."""
    p, a1 = world["people"], world["depts"]["a1"]
    for username, shown in NAMES.items():
        p[username].display_name = shown
        session.add(p[username])
    config = factories.config_of(app)
    asset = world["asset"]
    due = TODAY - timedelta(days=10)
    risk = _risk(asset, "No backups", due)
    asset.mlps_level = 3  # graded 40 months ago, never assessed since: its assessments are missed
    session.add_all([risk, asset])
    session.commit()
    for grade in session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)).all():
        grade.changed_at = NOW - timedelta(days=1220)
        session.add(grade)
    if not session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)).first():
        session.add(AssetGrade(asset_id=asset.id, mlps_level=3, changed_by="t", changed_at=NOW - timedelta(days=1220)))
    session.commit()
    _history(
        app, session, world, "risk", risk.id, "owner", localtime.day_start(due + timedelta(days=1), config.timezone)
    )
    ended = NOW - timedelta(days=20)
    drill = Drill(
        title="Ransomware", department_id=a1.id, exercise_type="tabletop", incident_grade="II",
        lead_id=p["lead.one"].id, planned_start=ended - timedelta(hours=2), duration_minutes=60, status="completed",
        started_at=ended - timedelta(hours=1), ended_at=ended, completed_at=ended, created_by="test",
    )  # fmt: skip
    session.add(drill)
    session.flush()
    objective = DrillObjective(drill_id=drill.id, text="Isolate the network", rating="U")
    action = CorrectiveAction(
        drill_id=drill.id, department_id=a1.id, title="Offline backups", owner_id=p["old.owner"].id,
        due_date=TODAY - timedelta(days=3), created_by="test",
    )  # fmt: skip
    session.add_all([objective, action])
    session.commit()
    wrong = _term(app, session, "drill", drill.id, "lead", p["lead.one"], ended - timedelta(days=9))
    _term(app, session, "drill", drill.id, "lead", p["old.owner"], NOW, corrects=wrong)
    _term(app, session, "corrective_action", action.id, "owner", p["new.owner"], ended)
    with app.test_request_context():
        audit.record(session, SYSTEM, "scan.refused", object_type="asset", object_id=asset.id,
                     department_id=asset.department_id)  # fmt: skip
        session.commit()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "scan.refused")).one()
    return {
        "risk_overdue": str(risk.id),
        "assessment_missed": f"{asset.id}:mlps_evaluation",
        "action_overdue": str(action.id),
        "objective_failed": f"{drill.id}/{objective.id}",
        "scan_refused": f"{asset.id}/{entry.seq}",
    }


def _shown(app, moment: str | None) -> str:
    """An instant of the API as the page shows it."""
    with app.test_request_context():
        return localtime_filter(datetime.fromisoformat(moment)).striptags() if moment else ""


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split()).replace(" ,", ",").replace(" .", ".")


def page_chain(html: str) -> list[dict]:
    """The chain as the page shows it: each step's duty, person (None: a gap), term and correction."""
    steps = []
    for cls, body in re.findall(r'<li class="(gap|held)">(.*?)</li>', html, re.S):
        person = re.search(r"<strong>(.*?)</strong>", body)
        correction = re.search(r'class="correction">(.*?)</div>', body, re.S)
        steps.append(
            {
                "duty": _text(re.search(r"<h3>(.*?)(<span|</h3>)", body, re.S)[1]),
                "person": unescape(person[1]) if cls == "held" else None,
                "text": _text(body),
                "correction": _text(correction[1]) if correction else None,
            }
        )
    return steps


def api_chain(app, body: dict) -> list[dict]:
    """The same, from the API's answer: who by display name, the term as the page shows it."""
    shown = {name: NAMES.get(name, name) for name in ("old.owner", "new.owner", "head.one", "head.two", "chief.one",
                                                      "chief.two", "lead.one")}  # fmt: skip
    steps = []
    for link in body["chain"]:
        user = link["user"]
        steps.append(
            {
                "duty": link["duty"],
                "person": shown[user] if user else None,
                "from": _shown(app, link["valid_from"]),
                "to": _shown(app, link["valid_to"]),
                "corrected": shown[link["corrected"]["user"]] if link["corrected"] else None,
            }
        )
    return steps


def _signed_in(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def test_the_page_shows_the_chain_the_api_answers_for_each_kind(app, session, world, scene, api_token):  # noqa: F811
    auditor = world["people"]["auditor.a"]
    api = app.test_client()
    headers = {"Authorization": f"Bearer {api_token(auditor)}", **EN}
    client = _signed_in(app, auditor)
    gaps = corrections = 0
    for kind, ref in scene.items():
        body = api.get("/api/v1/accountability/trace", query_string={"kind": kind, "id": ref}, headers=headers)
        assert body.status_code == 200, (kind, body.json)
        answer = client.get("/accountability/trace", query_string={"kind": kind, "id": ref}, headers=EN)
        assert answer.status_code == 200, kind
        html = answer.get_data(as_text=True)
        assert body.json["kind_label"] in html and body.json["title"] in unescape(html)
        assert _shown(app, body.json["at"]) in _text(html)
        want, got = api_chain(app, body.json), page_chain(html)
        assert [s["duty"] for s in got] == [s["duty"] for s in want], kind
        assert [s["person"] for s in got] == [s["person"] for s in want], kind
        for shown, expected in zip(got, want, strict=True):
            if expected["person"] is None:
                gaps += 1
                assert "Nobody held this duty then." in shown["text"]
            elif expected["to"]:
                assert f"{expected['from']} until {expected['to']}" in shown["text"], kind
            else:
                assert f"since {expected['from']}, still today" in shown["text"], kind
            if expected["corrected"]:
                corrections += 1
                assert f"{expected['corrected']} should have held this duty" in shown["correction"]
            else:
                assert shown["correction"] is None
    # The world has both: the asset's owner only since today (a gap for the missed assessment)
    # and the drill's lead corrected.
    assert gaps >= 1 and corrections == 1


def test_the_people_are_those_of_the_moment(app, session, world, scene):  # noqa: F811
    client = _signed_in(app, world["people"]["auditor.a"])
    html = client.get(f"/accountability/trace?kind=risk_overdue&id={scene['risk_overdue']}", headers=EN).get_data(
        as_text=True
    )
    # _history: old.owner, then head.two (a1 had no head: bureau a's), chief.one — not today's.
    assert [s["person"] for s in page_chain(html)] == ["Wang Old", "Zhao Head", "Qian Chief"]
    assert "Li New" not in html
    assert f'href="/risks/{scene["risk_overdue"]}"' in html  # the record's own page


def test_the_matrix_links_its_overdue_cells_to_their_trace(app, session, world, scene):  # noqa: F811
    client = _signed_in(app, world["people"]["auditor.a"])
    html = client.get("/accountability/matrix", headers=EN).get_data(as_text=True)
    links = {unescape(h) for h in re.findall(r'href="(/accountability/trace\?[^"]+)"', html)}
    asset_id = world["asset"].id
    risk_links = [link for link in links if "kind=risk_overdue" in link]
    missed = [link for link in links if "kind=assessment_missed" in link]
    assert risk_links == [f"/accountability/trace?kind=risk_overdue&id={scene['risk_overdue']}"]
    # The assessment due first of the asset's (the one its matrix cell shows).
    assert len(missed) == 1 and missed[0].startswith(f"/accountability/trace?kind=assessment_missed&id={asset_id}:")
    assert len(links) == 2
    for link in links:
        assert client.get(link, headers=EN).status_code == 200, link


def test_bad_input_gets_the_page_with_a_clear_message(app, session, world, scene, city):  # noqa: F811
    later = _risk(world["asset"], "Later", TODAY + timedelta(days=30))  # a record that did not go wrong
    session.add(later)
    session.commit()
    later_id = later.id
    session.rollback()
    client = _signed_in(app, world["people"]["auditor.a"])

    def answer(query: str):
        response = client.get(f"/accountability/trace{query}", headers=EN)
        return response.status_code, _text(response.get_data(as_text=True))

    status, text = answer("")
    assert status == 200 and "Trace a record that went wrong" in text  # the form
    status, text = answer("?kind=nothing_here&id=1")
    assert status == 422 and "There is no kind of lapse nothing_here." in text and "Trace a record" in text
    for ref in ("999999", "x", "9" * 80, "1/2/3"):
        status, text = answer(f"?kind=risk_overdue&id={ref}")
        assert (status, "Not found." in text) == (404, True), ref
    status, text = answer(f"?kind=objective_failed&id={scene['objective_failed'].split('/')[0]}/999999")
    assert status == 404
    status, text = answer("?kind=risk_overdue")
    assert status == 422 and "Give both the kind of lapse and the record's id." in text
    status, text = answer("?kind=risk_overdue&id=" + "1" * 81)
    assert status == 422 and "too long" in text
    status, text = answer(f"?kind=risk_overdue&id={later_id}")
    assert status == 422 and "nothing to trace" in text
    # Out of scope: not found, like a missing record, and the attempt audited.
    session.rollback()
    before = len(session.exec(select(AuditEntry).where(AuditEntry.action == "authz.out_of_scope")).all())
    session.rollback()
    other = _signed_in(app, city["officer_b"])
    refused = other.get(f"/accountability/trace?kind=risk_overdue&id={scene['risk_overdue']}")
    assert refused.status_code == 404
    refused.close()  # the refusal is recorded once the answer has been sent
    session.rollback()  # a snapshot of now
    after = len(session.exec(select(AuditEntry).where(AuditEntry.action == "authz.out_of_scope")).all())
    assert after == before + 1

"""The accountability page: the chief and heads, the gaps, one's own duties and the history, the
assign forms for those who may assign (the service decides per duty), and bad input shown again
in the form with its message, nothing changed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import csrf_token, login
from sqlmodel import select

from secgov import responsibility
from secgov.authz import Actor
from secgov.models import Department, Responsibility, User

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def people(city, make_user, make_asset, session):
    make_user("leader.a", roles=("leader",), department="a")
    make_user("auditor.a", roles=("auditor",), department="a")
    make_user("owner.a1", roles=("officer",), department="a1")
    asset = make_asset("A1-SYS", "a1", owner="officer.a")
    users = {u.username: u for u in session.exec(select(User)).all()}
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    return {"asset": asset, "users": users, "depts": depts}


def _open(client, user):
    assert login(client, user).status_code == 302
    client.post("/language", data={"lang": "en", "csrf_token": csrf_token(client, "/account")})


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _terms(session):
    session.rollback()
    return [(t.id, t.user_id, t.valid_to) for t in session.exec(select(Responsibility)).all()]


def test_the_page_shows_the_heads_gaps_own_duties_and_history(client, people, session):
    a, city = people["depts"]["a"], people["depts"]["city"]
    system = Actor.system("cli")
    responsibility.assign(session, "department", a.id, "head", people["users"]["officer.a"], system, reason="First")
    wrong = responsibility.assign(session, "city", city.id, "chief", people["users"]["root.admin"], system, reason="x")
    responsibility.assign(
        session, "city", city.id, "chief", people["users"]["leader"], system, reason="Recorded wrongly", corrects=wrong
    )
    session.commit()
    _open(client, people["users"]["leader"])
    page = client.get("/accountability")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = _text(html)
    leaders = _text(html.split('id="leaders"')[1].split("</section>")[0])
    assert "Chief responsible person" in leaders and "Department head" in leaders
    gaps = _text(html.split('id="gaps"')[1].split("</section>")[0])
    # The city department, a1 and b have no head: three gaps in the leader's (the whole city's) scope.
    assert "3 gaps" in gaps and "Nobody holds the duty." in gaps
    mine = _text(html.split('id="mine"')[1].split("</section>")[0])
    assert "Chief responsible person" in mine
    history = _text(html.split('id="history"')[1].split("</section>")[0])
    assert "Correction Recorded wrongly" in history and "First" in history
    assert 'id="assign-leadership"' in html and 'id="assign-sub_item"' not in html
    assert 'href="/accountability"' in html  # the menu entry
    assert "Accountability" in text


def test_an_officer_sees_the_sub_item_form_and_an_auditor_no_form(client, people):
    _open(client, people["users"]["officer.a"])
    html = client.get("/accountability").get_data(as_text=True)
    assert 'id="assign-sub_item"' in html and 'id="assign-leadership"' not in html
    assert "Asset owner" in html
    # The sub-item duties an officer may assign, an asset's first (its owner, then who answers
    # for its assessments and scans in the owner's place).
    form = html.split('id="assign-sub_item"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]+)"', form) == [
        "asset.owner", "asset.assessment_lead", "asset.scan_owner", "risk.owner"
    ]  # fmt: skip
    assert ">Assessment lead</option>" in form and ">Scan owner</option>" in form
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    _open(client, people["users"]["auditor.a"])
    html = client.get("/accountability").get_data(as_text=True)
    assert "assign-" not in html


def test_a_leader_assigns_a_head_from_the_page(client, people, session):
    a = people["depts"]["a"]
    _open(client, people["users"]["leader"])
    token = csrf_token(client, "/accountability")
    start = (datetime.now(ZONE) + timedelta(days=1)).replace(second=0, microsecond=0)
    answer = client.post(
        "/accountability/assignments",
        data={
            "csrf_token": token,
            "form": "leadership",
            "duty": "department.head",
            "subject_id": str(a.id),
            "user": "leader.a",
            "valid_from": start.strftime("%Y-%m-%dT%H:%M"),
            "valid_to": "",
            "reason": "Appointed by the mayor",
        },
    )
    assert answer.status_code == 302, _text(answer.get_data(as_text=True))[:2000]
    session.rollback()
    term = session.exec(select(Responsibility).where(Responsibility.duty == "head")).one()
    # The datetime-local value is read in the city's time zone.
    assert term.valid_from == start and term.reason == "Appointed by the mayor"
    assert "leader.a now holds the duty" in client.get("/accountability").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"valid_from": "2020-01-01T09:00"}, "never in the past"),
        ({"reason": ""}, "Too short."),
        ({"subject_id": "abc"}, "Must be a whole number."),
        ({"valid_from": "not a time"}, "Not a valid date and time."),
        ({"user": "no.such.user"}, "There is no user no.such.user in your scope."),
    ],
)
def test_bad_input_is_shown_again_with_its_message(client, people, session, fields, message):
    asset = people["asset"]
    _open(client, people["users"]["officer.a"])
    before = _terms(session)
    data = {
        "csrf_token": csrf_token(client, "/accountability"),
        "form": "sub_item",
        "duty": "asset.owner",
        "subject_id": str(asset.id),
        "user": "owner.a1",
        "reason": "Handover",
        **fields,
    }
    answer = client.post("/accountability/assignments", data=data)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    form = html.split('id="assign-sub_item"')[1].split("</section>")[0]
    assert message.lower() in _text(form).lower()
    assert f'value="{data["reason"]}"' in form  # what was typed is kept
    assert _terms(session) == before


def test_an_officer_may_not_assign_a_head_from_the_page(client, people, session):
    _open(client, people["users"]["officer.a"])
    before = _terms(session)
    answer = client.post(
        "/accountability/assignments",
        data={
            "csrf_token": csrf_token(client, "/accountability"),
            "form": "sub_item",
            "duty": "department.head",
            "subject_id": str(people["depts"]["a"].id),
            "user": "officer.a",
            "reason": "Me",
        },
    )
    assert answer.status_code == 403
    assert "You may not assign this duty." in answer.get_data(as_text=True)
    assert _terms(session) == before


def test_the_history_is_filtered_by_duty(client, people, session):
    a = people["depts"]["a"]
    responsibility.assign(session, "department", a.id, "head", people["users"]["leader.a"], Actor.system("cli"))
    session.commit()
    _open(client, people["users"]["leader"])

    def history(query: str) -> str:
        html = client.get(f"/accountability{query}").get_data(as_text=True)
        return _text(html.split('id="history"')[1].split("<tbody>")[1].split("</section>")[0])

    everything = history("")
    assert "Department head" in everything and "Asset owner" in everything
    heads = history("?duty=department.head")
    assert "Department head" in heads and "Asset owner" not in heads and "(1 in all)" in heads
    assert history("?duty=no.such") == everything  # an unknown duty is no filter


def test_a_long_list_of_ones_duties_and_of_gaps_is_folded(client, people, make_asset, session):
    from secgov.views.accountability import FOLDED

    for n in range(FOLDED + 3):
        make_asset(f"A-{n:02d}", "a", owner="officer.a")
        make_asset(f"G-{n:02d}", "a")  # no owner: a gap
    _open(client, people["users"]["officer.a"])
    html = client.get("/accountability").get_data(as_text=True)
    text = _text(html)
    owned = FOLDED + 3 + 1  # and A1-SYS
    assert f"Show all {owned} of your duties" in text and f"Asset owner: {owned}" in text
    mine = _text(html.split('id="mine"')[1].split("</section>")[0])
    assert len(re.findall(r"Asset owner A-?\w", mine)) == FOLDED
    gaps = re.search(r"Show all (\d+) gaps", text)
    assert gaps is not None and int(gaps.group(1)) >= FOLDED + 3
    html = client.get("/accountability?all_mine=1&all_gaps=1").get_data(as_text=True)
    assert "Show all" not in _text(html)
    mine = _text(html.split('id="mine"')[1].split("</section>")[0])
    gaps = _text(html.split('id="gaps"')[1].split("</section>")[0])
    assert all(f"A-{n:02d}" in mine and f"G-{n:02d}" in gaps for n in range(FOLDED + 3))

"""Calendars in the app: a drill's .ics (page and API) parsed back with icalendar, the personal
feed holding exactly the user's drills and corrective-action due dates, its token (shown once;
revoked, replaced or unknown: 404; no session cookie), the feed page and the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from drill_world import add_action, plan
from helpers import csrf_token, login
from icalendar import Calendar
from sqlmodel import Session, select

from drills.codes import EXERCISE_TYPE
from drills.models import CalendarFeed, CorrectiveAction, Drill
from secgov.authz import Actor
from secgov.models import User

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def people(city, make_user, session):
    made = {
        **city,
        "team_a": make_user("drill.a", roles=("drill_team",), department="a"),
        "team_b": make_user("drill.b", roles=("drill_team",), department="b"),
    }
    for key, user in made.items():
        user.email = f"{user.username}@city.example"
        user.display_name = {"team_a": "Wang Fang", "officer_a": "Li Lei"}.get(key, "")
        session.add(user)
    session.commit()
    return made


def actor(user: User) -> Actor:
    return Actor.of(user, "api")


def change(app, model, row_id: int, **fields) -> None:
    """Set columns directly (a past drill, a closed action), as the services would have left them."""
    with Session(app.extensions["secgov_engine"]) as own:
        row = own.get(model, row_id)
        for key, value in fields.items():
            setattr(row, key, value)
        own.add(row)
        own.commit()


def events(data: bytes) -> dict[str, object]:
    calendar = Calendar.from_ical(data)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def feed_path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path.startswith("/calendar/feed/sgcal_") and parts.path.endswith(".ics"), url
    return parts.path


def cookies_set(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


# --- one drill ------------------------------------------------------------------------------------


def test_a_drill_downloads_as_ics_that_parses_back_whole(app, client, people, make_asset):
    make_asset("TRF-1", "a", owner="officer.a", is_cii=True, name="Traffic signals")
    start = datetime(2030, 5, 12, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    drill_id = plan(
        app, actor(people["team_a"]), assets=["TRF-1"], departments=["a1"], participants=["officer.a"],
        external_participants=[{"name": "Zhao Min", "organisation": "Vendor Co", "role": "engineer"}],
        planned_start=start, duration_minutes=150,
    )  # fmt: skip
    login(client, people["officer_a"])
    response = client.get(f"/drills/{drill_id}.ics", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"] == f'attachment; filename="drill-{drill_id}-ransomware-tabletop.ics"'
    [event] = events(response.data).values()
    assert str(event["SUMMARY"]) == "Ransomware tabletop"
    assert event["DTSTART"].dt == start and event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=150)
    description = str(event["DESCRIPTION"])
    for text in ("Ransomware encrypts the signal controllers.", "Exercise type: Tabletop", "grade: ",
                 "TRF-1 Traffic signals", "Departments: A1"):  # fmt: skip
        assert text in description, (text, description)
    assert str(event["ORGANIZER"]) == "mailto:drill.a@city.example" and event["ORGANIZER"].params["CN"] == "Wang Fang"
    attendees = sorted((a.params["CN"], str(a)) for a in event["ATTENDEE"])
    assert attendees == [("Li Lei", "mailto:officer.a@city.example"), ("Zhao Min (Vendor Co)", "invalid:nomail")]
    assert [str(c) for c in event["CATEGORIES"].cats] == ["Drill", EXERCISE_TYPE.label("tabletop", "en")]
    with Session(app.extensions["secgov_engine"]) as own:
        stored = own.get(Drill, drill_id)
    assert int(event["SEQUENCE"]) == stored.version
    assert event["LAST-MODIFIED"].dt == stored.updated_at.replace(microsecond=0)
    [alarm] = event.walk("VALARM")
    assert alarm["TRIGGER"].dt == timedelta(minutes=-60)
    # In Chinese, the labels are Chinese.
    chinese = client.get(f"/drills/{drill_id}.ics", headers={"Accept-Language": "zh"})
    assert EXERCISE_TYPE.label("tabletop", "zh") in str(next(iter(events(chinese.data).values()))["DESCRIPTION"])


def test_a_drill_out_of_scope_is_not_found(app, client, people):
    drill_id = plan(app, actor(people["team_b"]))
    login(client, people["officer_a"])
    assert client.get(f"/drills/{drill_id}.ics").status_code == 404
    assert client.get("/drills/999999.ics").status_code == 404


# --- the personal feed ------------------------------------------------------------------------------


@pytest.fixture
def feed_world(app, people):
    """officer.a takes part in some drills and owns some actions; the rest are someone else's or
    too old."""
    team = actor(people["team_a"])
    ids = {
        "planned": plan(app, team, participants=["officer.a"], title="Planned with me"),
        "not_mine": plan(app, team, title="Not mine"),
        "old": plan(app, team, participants=["officer.a"], title="Old"),
        "recent": plan(app, team, participants=["officer.a"], title="Recent"),
        "led": plan(app, team, lead="officer.a", title="I lead it"),
        "cancelled": plan(app, team, participants=["officer.a"], title="Cancelled"),
        "old_running": plan(app, team, participants=["officer.a"], title="Still running"),
    }
    change(app, Drill, ids["old"], status="completed", planned_start=NOW - timedelta(days=400))
    change(app, Drill, ids["recent"], status="completed", planned_start=NOW - timedelta(days=60))
    change(app, Drill, ids["cancelled"], status="cancelled")
    change(app, Drill, ids["old_running"], status="in_progress", planned_start=NOW - timedelta(days=500))
    today = NOW.date()
    drill = ids["recent"]
    actions = {
        "open": add_action(app, team, drill, "officer.a", today + timedelta(days=20), title="Open one"),
        "working": add_action(app, team, drill, "officer.a", today - timedelta(days=3), title="Late one"),
        "closed_recently": add_action(app, team, drill, "officer.a", today - timedelta(days=30), title="Closed"),
        "closed_long_ago": add_action(app, team, drill, "officer.a", today - timedelta(days=300), title="Long ago"),
        "cancelled": add_action(app, team, drill, "officer.a", today + timedelta(days=5), title="Cancelled"),
        "others": add_action(app, team, drill, "drill.a", today + timedelta(days=5), title="Not mine"),
    }
    change(app, CorrectiveAction, actions["working"], status="in_progress")
    change(app, CorrectiveAction, actions["closed_recently"], status="closed", closed_at=NOW - timedelta(days=20))
    change(app, CorrectiveAction, actions["closed_long_ago"], status="closed", closed_at=NOW - timedelta(days=200))
    change(app, CorrectiveAction, actions["cancelled"], status="cancelled")
    return ids, actions


def test_the_feed_holds_exactly_the_users_drills_and_action_due_dates(app, client, people, feed_world):
    drills, actions = feed_world
    login(client, people["officer_a"])
    page = client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/calendar")})
    assert page.status_code == 200
    url = re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True)).group(1)
    reader = app.test_client()
    response = reader.get(feed_path(url))
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    found = events(response.data)
    wanted_drills = {drills[k] for k in ("planned", "recent", "led", "cancelled", "old_running")}
    wanted_actions = {actions[k] for k in ("open", "working", "closed_recently")}
    assert set(found) == {f"drill-{i}@localhost" for i in wanted_drills} | {
        f"action-{i}@localhost" for i in wanted_actions
    }
    due = found[f"action-{actions['working']}@localhost"]
    assert due["DTSTART"].dt == NOW.date() - timedelta(days=3) and str(due["TRANSP"]) == "TRANSPARENT"
    assert str(found[f"drill-{drills['cancelled']}@localhost"]["STATUS"]) == "CANCELLED"
    # The user's language (none set: the installation's default, Chinese) writes the texts.
    chinese = EXERCISE_TYPE.label("tabletop", "zh")
    assert chinese != EXERCISE_TYPE.label("tabletop", "en")
    assert chinese in str(found[f"drill-{drills['planned']}@localhost"]["DESCRIPTION"])


def test_feed_tokens_revoked_replaced_or_unknown_answer_404_and_set_no_cookie(app, client, people):
    login(client, people["officer_a"])
    assert "No feed" in client.get("/calendar", headers={"Accept-Language": "en"}).get_data(as_text=True)
    first = client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/calendar")})
    first_url = feed_path(re.search(r'<code class="secret">([^<]+)</code>', first.get_data(as_text=True)).group(1))
    reader = app.test_client()
    answer = reader.get(first_url)
    assert answer.status_code == 200
    assert cookies_set(answer) == [] and "no-store" in answer.headers["Cache-Control"]
    # A signed-in browser that opens it keeps its session as it is: no cookie either.
    assert cookies_set(client.get(first_url)) == []
    page = client.get("/calendar", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Live" in page and first_url.split("/")[-1][:12] in page and "sgcal_" in page
    assert first_url.split("/")[-1] not in page  # the whole token is never shown again
    # Replaced: the old address is gone, the new one works.
    second = client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/calendar")})
    second_url = feed_path(re.search(r'<code class="secret">([^<]+)</code>', second.get_data(as_text=True)).group(1))
    assert reader.get(first_url).status_code == 404
    assert reader.get(second_url).status_code == 200
    # Revoked.
    revoked = client.post("/calendar/feed/revoke", data={"csrf_token": csrf_token(client, "/calendar")})
    assert revoked.status_code == 302
    missing = reader.get(second_url)
    assert missing.status_code == 404 and cookies_set(missing) == []
    # Unknown and malformed.
    assert reader.get("/calendar/feed/sgcal_" + "x" * 43 + ".ics").status_code == 404
    assert reader.get("/calendar/feed/nothing.ics").status_code == 404
    # Without the CSRF token nothing changes.
    assert client.post("/calendar/feed").status_code == 400


def test_a_disabled_users_feed_answers_404(app, client, people, session):
    login(client, people["officer_a"])
    page = client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/calendar")})
    url = feed_path(re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True)).group(1))
    user = session.get(User, people["officer_a"].id)
    user.disabled = True
    session.add(user)
    session.commit()
    assert app.test_client().get(url).status_code == 404


def test_the_feed_page_needs_a_signed_in_user(client):
    response = client.get("/calendar")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the API ----------------------------------------------------------------------------------------


def test_the_api_gives_a_drills_ics_and_manages_the_callers_feed(app, client, people, api_token, session):
    mine = plan(app, actor(people["team_a"]), participants=["officer.a"])
    theirs = plan(app, actor(people["team_b"]))
    bearer = {"Authorization": f"Bearer {api_token(people['officer_a'])}", "Accept-Language": "en"}
    ics = client.get(f"/api/v1/drills/{mine}/calendar.ics", headers=bearer)
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    assert ics.headers["Content-Disposition"].startswith(f'attachment; filename="drill-{mine}-')
    assert set(events(ics.data)) == {f"drill-{mine}@localhost"}
    assert client.get(f"/api/v1/drills/{theirs}/calendar.ics", headers=bearer).status_code == 404

    none = client.get("/api/v1/calendar-feed", headers=bearer)
    assert none.status_code == 404 and none.get_json()["error"]["code"]
    made = client.post("/api/v1/calendar-feed", headers=bearer)
    assert made.status_code == 201
    body = made.get_json()
    assert body["prefix"].startswith("sgcal_") and body["last_used_at"] is None
    path = feed_path(body["url"])
    assert client.get(path).status_code == 200
    status = client.get("/api/v1/calendar-feed", headers=bearer).get_json()
    assert status["prefix"] == body["prefix"] and status["url"] == "" and status["last_used_at"] is not None
    assert client.delete("/api/v1/calendar-feed", headers=bearer).status_code == 204
    assert client.get(path).status_code == 404
    assert client.get("/api/v1/calendar-feed", headers=bearer).status_code == 404
    assert client.delete("/api/v1/calendar-feed", headers=bearer).status_code == 404
    rows = session.exec(select(CalendarFeed).where(CalendarFeed.user_id == people["officer_a"].id)).all()
    assert len(rows) == 1 and rows[0].revoked_at is not None
    assert client.get("/api/v1/calendar-feed").status_code == 401

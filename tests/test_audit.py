"""The audit log: services record events, triggers keep it append-only, verify finds tampering,
writers are serialised, and auditors read it within their scope (page and API)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from unittest import mock

import pytest
from audit_support import run_cli, triggers_lifted
from helpers import PASSWORD, login
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from secgov import audit
from secgov.audit import GENESIS, entry_hash
from secgov.authz import Actor
from secgov.db import new_session, write_session
from secgov.directory import (
    DepartmentCreate,
    DepartmentUpdate,
    UserCreate,
    create_department,
    create_user,
    update_department,
)
from secgov.models import AuditEntry, Department

ADMIN_ACTOR = Actor(username="boss", user_id=None, channel="api", ip="127.0.0.1")


def engine_of(app):
    return app.extensions["secgov_engine"]


def verify(app, expected_head=None) -> audit.Verification:
    with new_session(engine_of(app), write=False) as s:
        return audit.verify(s, expected_head)


def chain(app) -> list[AuditEntry]:
    with new_session(engine_of(app), write=False) as s:
        return list(s.exec(select(AuditEntry).order_by(AuditEntry.seq)).all())


def fill(app, n: int) -> tuple[int, str]:
    """Append n events, one transaction each; return the head."""
    for i in range(n):
        with write_session(engine_of(app)) as s:
            audit.record(s, Actor(username=f"user{i}", channel="job"), "test.event", object_id=i, note=f"event {i}")
    with new_session(engine_of(app), write=False) as s:
        return audit.head(s)


# --- services record events --------------------------------------------------------------------


def test_services_append_entries_with_before_and_after(app, session):
    with app.test_request_context():
        create_department(session, DepartmentCreate(code="city", name="City", kind="city"), ADMIN_ACTOR)
        transport = create_department(
            session, DepartmentCreate(code="transport", name="TRANSPORT", kind="bureau", parent="city"), ADMIN_ACTOR
        )
        create_user(
            session,
            UserCreate(username="alice", department="transport", roles=["officer", "auditor"], password=PASSWORD),
            ADMIN_ACTOR,
        )
        update_department(
            session, transport, DepartmentUpdate(name="Transport Bureau", version=transport.version), ADMIN_ACTOR
        )
        session.commit()

    entries = chain(app)
    assert [e.action for e in entries] == [
        "department.created",
        "department.created",
        "user.created",
        "department.updated",
    ]
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    for e in entries:
        assert (e.actor, e.channel, e.ip) == ("boss", "api", "127.0.0.1")

    dept_created = entries[1]
    assert (dept_created.object_type, dept_created.object_id) == ("department", "transport")
    assert dept_created.department_id == transport.id
    detail = json.loads(dept_created.detail)
    assert "before" not in detail
    assert detail["after"]["code"] == "transport"
    assert detail["after"]["name"] == "TRANSPORT"
    assert detail["after"]["kind"] == "bureau"

    user_created = entries[2]
    assert (user_created.object_type, user_created.object_id) == ("user", "alice")
    assert user_created.department_id == transport.id
    after = json.loads(user_created.detail)["after"]
    assert after["username"] == "alice"
    assert after["roles"] == ["auditor", "officer"]
    assert after["department_id"] == transport.id
    assert after["disabled"] is False
    # Neither the password nor its hash is ever written to the log.
    assert PASSWORD not in user_created.detail
    assert "argon2" not in user_created.detail
    assert "password" not in json.loads(user_created.detail)["after"]

    updated = json.loads(entries[3].detail)
    assert updated["before"]["name"] == "TRANSPORT"
    assert updated["after"]["name"] == "Transport Bureau"

    # Each row carries the previous row's hash and the hash of its own content.
    prev = GENESIS
    for e in entries:
        assert e.prev_hash == prev
        assert e.hash == entry_hash(e, prev)
        prev = e.hash
    assert verify(app).ok


def test_an_event_is_part_of_its_callers_transaction(app, session):
    with app.test_request_context():
        create_department(session, DepartmentCreate(code="city", name="City", kind="city"), ADMIN_ACTOR)
        session.rollback()
    assert chain(app) == []
    assert verify(app).ok


# --- append-only triggers ----------------------------------------------------------------------


def test_triggers_reject_update_delete_and_truncate(app, make_department):
    make_department("city")
    make_department("water", parent="city")
    engine = engine_of(app)
    before = [(e.seq, e.hash) for e in chain(app)]
    assert len(before) == 2

    statements = [
        "UPDATE audit_entry SET actor = 'mallory' WHERE seq = 1",
        "UPDATE audit_entry SET seq = 99 WHERE seq = 2",
        "DELETE FROM audit_entry WHERE seq = 2",
        "DELETE FROM audit_entry",
    ]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_entry")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))

    assert [(e.seq, e.hash) for e in chain(app)] == before
    assert verify(app).ok


def test_orm_delete_of_an_entry_is_refused(app, make_department):
    make_department("city")
    with pytest.raises(DBAPIError, match="append-only"), write_session(engine_of(app)) as s:
        s.delete(s.get(AuditEntry, 1))
        s.flush()
    assert len(chain(app)) == 1


# --- verification and tampering -----------------------------------------------------------------


def test_intact_chain_verifies_and_head_is_printed(app, database_url):
    head = fill(app, 5)
    assert head[0] == 5

    result = verify(app, head)
    assert result.ok
    assert result.checked == 5
    assert result.head == head

    printed = run_cli(database_url, "audit", "head")
    assert printed.exit_code == 0
    assert printed.stdout == f"{head[0]}:{head[1]}\n"

    checked = run_cli(database_url, "audit", "verify")
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.splitlines()[0] == f"audit chain intact: 5 entries head {head[0]}:{head[1]}"

    with_head = run_cli(database_url, "audit", "verify", "--head", printed.stdout.strip())
    assert with_head.exit_code == 0, with_head.stderr


def test_empty_chain(app, database_url):
    assert verify(app).ok
    assert run_cli(database_url, "audit", "head").stdout == "empty\n"
    result = run_cli(database_url, "audit", "verify")
    assert result.exit_code == 0
    assert "audit chain intact: 0 entries" in result.stdout


@pytest.mark.parametrize("value", ["5", "x:" + "0" * 64, "5:abc", ":"])
def test_malformed_head_is_refused(app, database_url, value):
    fill(app, 1)
    result = run_cli(database_url, "audit", "verify", "--head", value)
    assert result.exit_code == 2
    assert "SEQ:HASH" in result.stderr


def _edit(conn):
    conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3"))


def _delete(conn):
    conn.execute(text("DELETE FROM audit_entry WHERE seq = 3"))


def _reorder(conn):
    conn.execute(text("UPDATE audit_entry SET seq = -1 WHERE seq = 3"))
    conn.execute(text("UPDATE audit_entry SET seq = 3 WHERE seq = 4"))
    conn.execute(text("UPDATE audit_entry SET seq = 4 WHERE seq = -1"))


def _edit_detail(conn):
    conn.execute(text("""UPDATE audit_entry SET detail = '{"note":"nothing happened"}' WHERE seq = 4"""))


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason"),
    [
        (_edit, 3, "content does not match its hash"),
        (_edit_detail, 4, "content does not match its hash"),
        (_delete, 3, "entry 3 is missing"),
        (_reorder, 3, "link to the previous entry is broken"),
    ],
    ids=["edited-field", "edited-detail", "deleted-middle-row", "reordered-rows"],
)
def test_tampering_is_detected(app, database_url, tamper, bad_seq, reason):
    head = fill(app, 6)
    with triggers_lifted(engine_of(app)) as conn:
        tamper(conn)

    result = verify(app)
    assert not result.ok
    assert result.bad_seq == bad_seq
    assert result.reason == reason
    assert result.checked == bad_seq - 1
    assert not verify(app, head).ok

    cli = run_cli(database_url, "audit", "verify")
    assert cli.exit_code == 1
    assert f"audit chain broken at entry {bad_seq}: {reason}" in cli.stderr
    assert cli.stdout == ""


def test_truncated_tail_is_detected_with_the_recorded_head(app, database_url):
    head = fill(app, 6)
    assert head[0] == 6
    with triggers_lifted(engine_of(app)) as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq > 4"))

    # Without the head kept elsewhere, a shorter chain looks intact...
    assert verify(app).ok
    assert run_cli(database_url, "audit", "verify").exit_code == 0
    # ...with it, the missing tail is found.
    result = verify(app, head)
    assert not result.ok
    assert result.bad_seq == 6
    assert "ends before the recorded head 6" in result.reason

    cli = run_cli(database_url, "audit", "verify", "--head", f"{head[0]}:{head[1]}")
    assert cli.exit_code == 1
    assert "audit chain broken at entry 6: the chain ends before the recorded head 6" in cli.stderr


def test_rewritten_chain_is_detected_with_the_recorded_head(app, database_url):
    """An attacker who edits a row and recomputes every later hash is caught by the recorded head."""
    head = fill(app, 6)
    table = AuditEntry.__table__
    with triggers_lifted(engine_of(app)) as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3"))
        rows = conn.execute(table.select().where(table.c.seq >= 2).order_by(table.c.seq)).mappings().all()
        prev = rows[0]["hash"]
        for row in rows[1:]:
            forged = entry_hash(AuditEntry(**dict(row)), prev)
            conn.execute(table.update().where(table.c.seq == row["seq"]).values(prev_hash=prev, hash=forged))
            prev = forged

    assert verify(app).ok
    result = verify(app, head)
    assert not result.ok
    assert result.bad_seq == 6
    assert result.reason == "the recorded head does not match"
    cli = run_cli(database_url, "audit", "verify", "--head", f"{head[0]}:{head[1]}")
    assert cli.exit_code == 1
    assert "audit chain broken at entry 6" in cli.stderr


def test_verify_reads_in_batches(app):
    """The walk goes batch by batch; results do not depend on where the batches end."""
    head = fill(app, 7)
    engine = engine_of(app)
    for batch in (1, 2, 3, 7, 100):
        with new_session(engine, write=False) as s:
            result = audit.verify(s, head, batch=batch)
        assert (result.ok, result.checked, result.head) == (True, 7, head)
    with triggers_lifted(engine) as conn:
        _reorder(conn)
    for batch in (1, 2, 3, 100):
        with new_session(engine, write=False) as s:
            result = audit.verify(s, head, batch=batch)
        assert (result.ok, result.bad_seq, result.checked) == (False, 3, 2)


def test_triggers_are_back_after_tampering(app):
    fill(app, 2)
    with triggers_lifted(engine_of(app)) as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'x' WHERE seq = 1"))
    with pytest.raises(DBAPIError, match="append-only"), engine_of(app).begin() as conn:
        conn.execute(text("DELETE FROM audit_entry"))


# --- serialised writers -----------------------------------------------------------------------


def test_concurrent_writers_leave_an_intact_chain(app):
    engine = engine_of(app)
    threads, writes = 4, 10
    start = threading.Barrier(threads)

    def writer(worker: int) -> None:
        start.wait(timeout=30)
        for i in range(writes):
            with write_session(engine) as s:
                audit.record(
                    s, Actor(username=f"worker{worker}", channel="job"), "test.concurrent", object_id=f"{worker}-{i}"
                )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(writer, w) for w in range(threads)]:
            future.result(timeout=120)

    entries = chain(app)
    assert [e.seq for e in entries] == list(range(1, threads * writes + 1))
    assert {e.object_id for e in entries} == {f"{w}-{i}" for w in range(threads) for i in range(writes)}
    result = verify(app)
    assert result.ok
    assert result.checked == threads * writes


# --- reading the log: page and API ------------------------------------------------------------


@contextmanager
def recorded_at(when: datetime):
    """Make audit.record stamp entries with the time `when`."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz)

    with mock.patch.object(audit, "datetime", Frozen):
        yield


@pytest.fixture
def world(app, session, make_department, make_user):
    """Departments, readers of the log, and events of several actors, places and dates."""
    make_department("city")
    make_department("transport", parent="city")
    make_department("transport-metro", parent="transport", kind="unit")
    make_department("water", parent="city")
    users = {
        "admin": make_user("root-admin", roles=("admin",), mfa=True),
        "auditor": make_user("city-auditor", roles=("auditor",)),
        "bureau_auditor": make_user("transport-auditor", roles=("auditor",), department="transport"),
        "officer": make_user("city-officer", roles=("officer",)),
    }
    depts = {d.code: d.id for d in session.exec(select(Department)).all()}
    events = [
        (datetime(2024, 1, 10, 9, tzinfo=UTC), "alice", "asset.viewed", "metro-pump-7", depts["transport-metro"]),
        (datetime(2024, 2, 10, 9, tzinfo=UTC), "bob", "asset.updated", "water-valve-9", depts["water"]),
        (datetime(2024, 2, 20, 9, tzinfo=UTC), "alice", "auth.login", "transport-login", depts["transport"]),
        (datetime.now(UTC), "carol", "system.maintenance", "maint-window", None),
    ]
    seqs = {}
    for when, who, action, object_id, dept_id in events:
        with recorded_at(when):
            entry = audit.record(
                session,
                Actor(username=who, channel="web"),
                action,
                object_type="thing",
                object_id=object_id,
                department_id=dept_id,
            )
        seqs[object_id] = entry.seq
    session.commit()
    entries = chain(app)
    transport_scope = {depts["transport"], depts["transport-metro"]}
    return {
        "users": users,
        "seqs": seqs,
        "all": {e.seq for e in entries},
        "transport": {e.seq for e in entries if e.department_id in transport_scope},
    }


def _api(client, token, query: str = ""):
    return client.get(f"/api/v1/audit?page_size=200{query}", headers={"Authorization": f"Bearer {token}"})


def _seqs(response) -> set[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return {item["seq"] for item in body["items"]}


def test_api_admins_and_root_auditors_see_every_entry(client, api_token, world):
    for who in ("admin", "auditor"):
        token = api_token(world["users"][who])
        response = _api(client, token)
        seqs = _seqs(response)
        # The token creation itself is an event, newer than the snapshot.
        assert world["all"] <= seqs
        items = response.get_json()["items"]
        assert [i["seq"] for i in items] == sorted(seqs, reverse=True)  # newest first
        maint = next(i for i in items if i["object_id"] == "maint-window")
        assert maint["actor"] == "carol"
        assert maint["action"] == "system.maintenance"
        assert isinstance(maint["detail"], dict)
        assert len(maint["hash"]) == 64


def test_api_bureau_auditor_sees_only_their_subtree(client, api_token, world):
    token = api_token(world["users"]["bureau_auditor"])
    seqs = _seqs(_api(client, token))
    expected = world["transport"] | {max(seqs)}  # plus the creation of this token, in transport
    assert seqs == expected
    assert world["seqs"]["metro-pump-7"] in seqs
    assert world["seqs"]["transport-login"] in seqs
    assert world["seqs"]["water-valve-9"] not in seqs
    assert world["seqs"]["maint-window"] not in seqs  # city-wide events are the city's


def test_api_filters(client, api_token, world):
    token = api_token(world["users"]["admin"])
    s = world["seqs"]
    assert _seqs(_api(client, token, "&actor=alice")) == {s["metro-pump-7"], s["transport-login"]}
    assert _seqs(_api(client, token, "&action=asset.")) == {s["metro-pump-7"], s["water-valve-9"]}
    assert _seqs(_api(client, token, "&action=asset.updated")) == {s["water-valve-9"]}
    # The prefix is literal: LIKE wildcards match nothing.
    assert _seqs(_api(client, token, "&action=asset_")) == set()
    assert _seqs(_api(client, token, "&action=%25")) == set()
    assert _seqs(_api(client, token, "&since=2024-02-01&until=2024-02-29")) == {
        s["water-valve-9"],
        s["transport-login"],
    }
    # until is inclusive of its whole day.
    assert _seqs(_api(client, token, "&until=2024-01-10")) == {s["metro-pump-7"]}
    assert _seqs(_api(client, token, "&since=2024-01-11&until=2024-02-10")) == {s["water-valve-9"]}
    assert _seqs(_api(client, token, "&actor=alice&since=2024-02-01")) == {s["transport-login"]}
    recent = _seqs(_api(client, token, "&since=2024-03-01"))
    assert s["maint-window"] in recent
    assert not recent & {s["metro-pump-7"], s["water-valve-9"], s["transport-login"]}


def test_api_filters_stay_within_scope(client, api_token, world):
    token = api_token(world["users"]["bureau_auditor"])
    assert _seqs(_api(client, token, "&action=asset.")) == {world["seqs"]["metro-pump-7"]}
    assert _seqs(_api(client, token, "&actor=bob")) == set()


BAD_QUERIES = [
    ("&since=not-a-date", "since"),
    ("&until=2024-13-45", "until"),
    ("&since=2024-02-30", "since"),
    ("&until=yesterday", "until"),
    ("&page=0", "page"),
    ("&colour=red", "colour"),
]


def test_api_bad_query_is_a_422_json_error(client, make_user, api_token):
    token = api_token(make_user("city-auditor", roles=("auditor",)))
    for query, field in BAD_QUERIES:
        response = _api(client, token, query)
        assert response.status_code == 422, query
        assert response.is_json
        error = response.get_json()["error"]
        assert error["code"] == "invalid"
        assert field in {d["field"] for d in error["details"]}, query
        assert "Traceback" not in response.get_data(as_text=True)


def test_api_refuses_other_roles_and_anonymous(client, api_token, world):
    response = _api(client, api_token(world["users"]["officer"]))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/audit").status_code == 401


def test_api_verify(client, api_token, world):
    response = client.get(
        "/api/v1/audit/verify", headers={"Authorization": f"Bearer {api_token(world['users']['auditor'])}"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    assert body["bad_seq"] is None
    assert body["checked"] == body["head_seq"] >= len(world["all"])


def _page(client, query: str = "") -> str:
    response = client.get(f"/audit{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_page_for_auditors_and_admins(app, client, world):
    login(client, world["users"]["auditor"])
    html = _page(client)
    for object_id in ("metro-pump-7", "water-valve-9", "transport-login", "maint-window"):
        assert object_id in html
    assert "department.created" in html

    admin_client = app.test_client()
    assert login(admin_client, world["users"]["admin"]).status_code == 302
    html = _page(admin_client)
    assert "water-valve-9" in html
    assert "maint-window" in html


def test_page_bureau_auditor_sees_only_their_subtree(client, world):
    login(client, world["users"]["bureau_auditor"])
    html = _page(client)
    assert "metro-pump-7" in html
    assert "transport-login" in html
    assert "water-valve-9" not in html
    assert "maint-window" not in html


def test_page_filters(client, world):
    login(client, world["users"]["auditor"])
    html = _page(client, "?actor=alice")
    assert "metro-pump-7" in html and "transport-login" in html
    assert "water-valve-9" not in html and "maint-window" not in html

    html = _page(client, "?action=asset.")
    assert "metro-pump-7" in html and "water-valve-9" in html
    assert "transport-login" not in html and "maint-window" not in html

    html = _page(client, "?since=2024-02-01&until=2024-02-29")
    assert "water-valve-9" in html and "transport-login" in html
    assert "metro-pump-7" not in html and "maint-window" not in html

    # The page reads its query leniently: a bad date is ignored, the good filters stay.
    html = _page(client, "?since=not-a-date&actor=bob")
    assert "water-valve-9" in html
    assert "metro-pump-7" not in html


def test_page_refused_to_other_roles(client, world):
    login(client, world["users"]["officer"])
    assert client.get("/audit").status_code == 403

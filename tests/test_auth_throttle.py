"""Login throttling per account and per address, generic errors, and the shared Redis counters."""

from __future__ import annotations

import logging
import re
import socket
import uuid
from urllib.parse import urlsplit

import fakeredis
import pytest
import redis
from helpers import PASSWORD, csrf_token
from sqlmodel import Session, select

from secgov import directory
from secgov.app import create_app
from secgov.authz import Actor
from secgov.models import AuditEntry
from secgov.throttle import LoginThrottle, MemoryCounter, RedisCounter, build

WRONG = "not the right password"


def attempt(client, username: str, password: str, ip: str = "127.0.0.1"):
    """One sign-in through the form, from address ip."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def succeeded(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/"


def flashes(response) -> list[tuple[str, str]]:
    return re.findall(r'<div class="flash flash-(\w+)" role="status">(.*?)</div>', response.get_data(as_text=True))


def actions(app, action: str) -> list[AuditEntry]:
    with Session(app.extensions["secgov_engine"]) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


def limits(app) -> tuple[int, int]:
    throttle = app.extensions["secgov_throttle"]
    return throttle.per_account, throttle.per_address


# --- generic answers -------------------------------------------------------------------------


def test_same_error_for_unknown_user_wrong_password_and_disabled(app, make_user):
    make_user("alice")
    disabled = make_user("bob")
    with app.test_request_context(), Session(app.extensions["secgov_engine"], expire_on_commit=False) as s:
        target = s.merge(disabled)
        directory.update_user(s, target, directory.UserUpdate(disabled=True, version=target.version), Actor.system())
        s.commit()

    unknown = attempt(app.test_client(), "nobody", WRONG)
    wrong = attempt(app.test_client(), "alice", WRONG)
    off = attempt(app.test_client(), "bob", PASSWORD)
    assert unknown.status_code == wrong.status_code == off.status_code == 401
    assert flashes(unknown) == flashes(wrong) == flashes(off)
    assert len(flashes(unknown)) == 1 and flashes(unknown)[0][0] == "danger"
    # The pages are the same but for the echoed user name.
    pages = [
        re.sub(r'name="csrf_token" value="[^"]+"', "", r.get_data(as_text=True).replace(name, "USER"))
        for r, name in ((unknown, "nobody"), (wrong, "alice"), (off, "bob"))
    ]
    assert pages[0] == pages[1] == pages[2]


# --- per account -----------------------------------------------------------------------------


def test_per_account_throttle(app, make_user):
    make_user("alice")
    make_user("bob")
    per_account, per_address = limits(app)
    assert per_account < per_address
    for i in range(per_account):
        # Each try from another address: the account counter alone must stop them.
        assert attempt(app.test_client(), "alice", WRONG, ip=f"10.0.0.{i + 1}").status_code == 401

    client = app.test_client()
    response = attempt(client, "alice", PASSWORD, ip="10.0.1.1")
    assert response.status_code == 429
    assert client.get("/").status_code == 302
    assert flashes(response) and flashes(response) != flashes(attempt(app.test_client(), "x", WRONG, ip="10.9.9.9"))
    # The user name's case does not open a second counter.
    assert attempt(app.test_client(), "ALICE", PASSWORD, ip="10.0.1.2").status_code == 429
    assert attempt(app.test_client(), " alice ", PASSWORD, ip="10.0.1.3").status_code == 429
    # Other accounts, from the very same addresses, are not affected.
    assert succeeded(attempt(app.test_client(), "bob", PASSWORD, ip="10.0.0.1"))
    assert actions(app, "auth.login_throttled")


def test_success_resets_account_counter(app, make_user):
    make_user("alice")
    per_account, _ = limits(app)
    for _round in range(3):
        for _ in range(per_account - 1):
            assert attempt(app.test_client(), "alice", WRONG).status_code == 401
        assert succeeded(attempt(app.test_client(), "alice", PASSWORD))
    # Without the reset these 3 * (limit - 1) failures would have blocked the account long ago.
    assert 3 * (per_account - 1) >= per_account


def test_success_does_not_reset_address_counter(app, make_user):
    """Signing in to one's own account must not wipe the failures of a guessing address."""
    make_user("alice")
    make_user("mallory")
    app.extensions["secgov_throttle"] = LoginThrottle(MemoryCounter(), per_account=100, per_address=4, window=900)
    ip = "203.0.113.5"
    for i in range(3):
        assert attempt(app.test_client(), f"guess{i}", WRONG, ip=ip).status_code == 401
    assert succeeded(attempt(app.test_client(), "mallory", PASSWORD, ip=ip))
    assert attempt(app.test_client(), "guess9", WRONG, ip=ip).status_code == 401
    assert attempt(app.test_client(), "alice", PASSWORD, ip=ip).status_code == 429


# --- per address -----------------------------------------------------------------------------


def test_per_address_throttle(app, make_user):
    make_user("alice")
    per_account, per_address = limits(app)
    ip = "192.0.2.7"
    for i in range(per_address):
        # A new user name each time: no single account reaches its limit.
        assert attempt(app.test_client(), f"user{i}", WRONG, ip=ip).status_code == 401
    client = app.test_client()
    assert attempt(client, "alice", PASSWORD, ip=ip).status_code == 429
    assert client.get("/", environ_base={"REMOTE_ADDR": ip}).status_code == 302
    # The same account from another address is fine.
    assert succeeded(attempt(app.test_client(), "alice", PASSWORD, ip="192.0.2.8"))
    throttled = actions(app, "auth.login_throttled")
    assert [e.ip for e in throttled] == [ip]


# --- Redis ---------------------------------------------------------------------------------


def _second_app(app):
    """Another instance of the application (another worker) on the same database."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "SECGOV_DATA_KEYS": app.config["SECGOV_DATA_KEYS"],
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SESSION_COOKIE_SECURE": False,
            "REDIS_URL": None,
        }
    )


def _redis_throttle(app, client) -> LoginThrottle:
    return LoginThrottle(
        RedisCounter("redis://fake.invalid:6379/0", client=client),
        per_account=app.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"],
        per_address=app.config["SECGOV_LOGIN_MAX_PER_ADDRESS"],
        window=app.config["SECGOV_LOGIN_WINDOW_SECONDS"],
    )


@pytest.fixture
def two_workers(app):
    second = _second_app(app)
    yield app, second
    second.extensions["secgov_engine"].dispose()


def _split_failures(first, second, username: str, total: int) -> None:
    for i in range(total):
        worker = (first, second)[i % 2]
        assert attempt(worker.test_client(), username, WRONG, ip=f"10.1.0.{i + 1}").status_code == 401


def test_memory_counters_are_per_worker(two_workers, make_user):
    """Control: without Redis each worker counts alone (what the shared store is for)."""
    first, second = two_workers
    make_user("alice")
    per_account = first.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    _split_failures(first, second, "alice", per_account)
    assert succeeded(attempt(first.test_client(), "alice", PASSWORD, ip="10.1.1.1"))


def test_redis_counters_shared_between_workers(two_workers, make_user):
    first, second = two_workers
    make_user("alice")
    server = fakeredis.FakeServer()
    first.extensions["secgov_throttle"] = _redis_throttle(first, fakeredis.FakeRedis(server=server))
    second.extensions["secgov_throttle"] = _redis_throttle(second, fakeredis.FakeRedis(server=server))
    per_account = first.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    window = first.config["SECGOV_LOGIN_WINDOW_SECONDS"]

    _split_failures(first, second, "alice", per_account)
    store = fakeredis.FakeRedis(server=server)
    assert int(store.get("secgov:throttle:acct:alice")) == per_account
    assert 0 < store.ttl("secgov:throttle:acct:alice") <= window

    assert attempt(first.test_client(), "alice", PASSWORD, ip="10.1.1.1").status_code == 429
    assert attempt(second.test_client(), "alice", PASSWORD, ip="10.1.1.2").status_code == 429

    # A success on one worker resets the shared account counter for both.
    store.delete("secgov:throttle:acct:alice")
    assert succeeded(attempt(second.test_client(), "alice", PASSWORD, ip="10.1.1.3"))
    _split_failures(first, second, "alice", per_account - 1)
    assert succeeded(attempt(first.test_client(), "alice", PASSWORD, ip="10.1.1.4"))
    assert store.get("secgov:throttle:acct:alice") is None


def test_two_throttles_share_one_redis():
    server = fakeredis.FakeServer()
    a = LoginThrottle(RedisCounter("redis://x", client=fakeredis.FakeRedis(server=server)), 3, 5, 60)
    b = LoginThrottle(RedisCounter("redis://x", client=fakeredis.FakeRedis(server=server)), 3, 5, 60)
    a.failed("Alice", "10.0.0.1")
    b.failed("alice", "10.0.0.2")
    assert not a.blocked("alice", "10.0.0.3")
    b.failed("ALICE", "10.0.0.3")
    assert a.blocked("alice", "10.0.0.9") and b.blocked("Alice", "10.0.0.9")
    a.succeeded("alice")
    assert not b.blocked("alice", "10.0.0.9")
    # Address counters are shared too, and a success does not reset them.
    for _ in range(4):
        b.failed("someone", "10.0.0.4")
    a.failed("else", "10.0.0.4")
    a.succeeded("someone")
    assert a.blocked("bob", "10.0.0.4") and b.blocked("bob", "10.0.0.4")
    assert not a.blocked("bob", "10.0.0.5")


def test_build_uses_redis_when_configured():
    config = {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SECGOV_LOGIN_MAX_PER_ACCOUNT": 5,
        "SECGOV_LOGIN_MAX_PER_ADDRESS": 20,
        "SECGOV_LOGIN_WINDOW_SECONDS": 900,
    }
    assert isinstance(build(config).counter, RedisCounter)
    assert isinstance(build(config | {"REDIS_URL": None}).counter, MemoryCounter)


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_falls_back_to_memory(app, make_user, caplog):
    make_user("alice")
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    app.config["REDIS_URL"] = url
    app.extensions["secgov_throttle"] = build(app.config)
    assert isinstance(app.extensions["secgov_throttle"].counter, RedisCounter)
    per_account, _ = limits(app)

    with caplog.at_level(logging.WARNING, logger="secgov.throttle"):
        # Sign-in still works while the store is down...
        assert succeeded(attempt(app.test_client(), "alice", PASSWORD))
        for i in range(per_account):
            assert attempt(app.test_client(), "alice", WRONG, ip=f"10.2.0.{i}").status_code == 401
        # ...and so does throttling: it fails safe, not open.
        assert attempt(app.test_client(), "alice", PASSWORD, ip="10.2.1.1").status_code == 429
    assert any("throttle store unavailable" in r.getMessage() for r in caplog.records)


def test_redis_counter_fallback_counts(caplog):
    counter = RedisCounter(f"redis://127.0.0.1:{_closed_port()}/0")
    with caplog.at_level(logging.WARNING, logger="secgov.throttle"):
        assert [counter.hit("k", 60) for _ in range(3)] == [1, 2, 3]
        assert counter.get("k") == 3
        counter.reset("k")
        assert counter.get("k") == 0
    assert caplog.records


def test_real_redis_shared_counters():
    """Against the Redis on 127.0.0.1:6379, with keys no one else uses; removed afterwards."""
    url = "redis://127.0.0.1:6379/15"
    probe = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        probe.ping()
    except redis.RedisError:
        probe.close()
        pytest.skip("no Redis on 127.0.0.1:6379")
    name = f"t-auth-{uuid.uuid4().hex}"
    ip = f"t-auth-{uuid.uuid4().hex}"
    keys = [f"secgov:throttle:acct:{name}", f"secgov:throttle:addr:{ip}"]
    first, second = RedisCounter(url), RedisCounter(url)
    try:
        a = LoginThrottle(first, per_account=3, per_address=10, window=60)
        b = LoginThrottle(second, per_account=3, per_address=10, window=60)
        a.failed(name, ip)
        b.failed(name, ip)
        assert not a.blocked(name, ip)
        a.failed(name, ip)
        assert b.blocked(name, ip)
        assert int(probe.get(keys[0])) == 3
        assert 0 < probe.ttl(keys[0]) <= 60
        b.succeeded(name)
        assert probe.get(keys[0]) is None
        assert not a.blocked(name, ip)
        assert int(probe.get(keys[1])) == 3
    finally:
        probe.delete(*keys)
        probe.close()
        for counter in (first, second):
            counter._redis.close()


def test_unknown_accounts_are_throttled_alike(app, make_user):
    """Throttling must not reveal who exists: an unknown name is blocked the same way."""
    make_user("alice")
    per_account, _ = limits(app)
    for n, name in enumerate(("alice", "ghost")):
        for i in range(per_account):
            attempt(app.test_client(), name, WRONG, ip=f"10.3.{n}.{i}")
    real = attempt(app.test_client(), "alice", PASSWORD, ip="10.3.9.1")
    ghost = attempt(app.test_client(), "ghost", PASSWORD, ip="10.3.9.2")
    assert real.status_code == ghost.status_code == 429
    assert flashes(real) == flashes(ghost)


def test_password_change_form_is_throttled_like_sign_in(app, client, make_user, session):
    """A stolen cookie is no unlimited password guesser: wrong current passwords count."""
    from helpers import csrf_token, login

    from secgov.models import AuditEntry

    user = make_user("guessed", roles=("officer",))
    assert login(client, user).status_code == 302
    limit = app.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    for attempt in range(limit):
        token = csrf_token(client, "/account")
        response = client.post(
            "/account/password",
            data={
                "current_password": f"guess {attempt}",
                "new_password": "x" * 20,
                "repeat_password": "x" * 20,
                "csrf_token": token,
            },
        )
        assert response.status_code == 422
    token = csrf_token(client, "/account")
    response = client.post(
        "/account/password",
        data={
            "current_password": "correct horse battery staple",
            "new_password": "y" * 20,
            "repeat_password": "y" * 20,
            "csrf_token": token,
        },
    )
    assert response.status_code == 429
    session.rollback()
    actions = [e.action for e in session.exec(select(AuditEntry)).all()]
    assert actions.count("user.password_change_failed") == limit
    assert "user.password_change_throttled" in actions

"""Login throttling per account and per address, generic errors, and counters shared by every
worker: in the database by default, in Redis when REDIS_URL is set, in the database again while
Redis is down."""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import fakeredis
import pyotp
import pytest
import redis
from helpers import PASSWORD, ClosingClient, csrf_token, login
from sqlalchemy import func
from sqlmodel import Session, select

from secgov import auth, directory
from secgov.app import create_app
from secgov.authz import Actor
from secgov.db import new_session
from secgov.models import THROTTLE_KEY_MAX, AuditEntry, ThrottleCounter
from secgov.throttle import DatabaseCounter, LoginThrottle, RedisCounter, bounded_key, build

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


def stored(app) -> dict[str, int]:
    """Every counter row: key -> count (expired ones included)."""
    with Session(app.extensions["secgov_engine"]) as s:
        return {row.key: row.count for row in s.exec(select(ThrottleCounter)).all()}


class Clock:
    """A stand-in for the database counters' clock."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


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
    assert "acct:alice" not in stored(app)


def test_success_does_not_reset_address_counter(app, make_user):
    """Signing in to one's own account must not wipe the failures of a guessing address."""
    make_user("alice")
    make_user("mallory")
    engine = app.extensions["secgov_engine"]
    app.extensions["secgov_throttle"] = LoginThrottle(
        DatabaseCounter(engine), per_account=100, per_address=4, window=900
    )
    ip = "203.0.113.5"
    for i in range(3):
        assert attempt(app.test_client(), f"guess{i}", WRONG, ip=ip).status_code == 401
    assert succeeded(attempt(app.test_client(), "mallory", PASSWORD, ip=ip))
    assert attempt(app.test_client(), "guess9", WRONG, ip=ip).status_code == 401
    assert attempt(app.test_client(), "alice", PASSWORD, ip=ip).status_code == 429


def test_reset_belongs_to_the_sign_in_transaction(app, make_user):
    """The reset is part of the successful sign-in's work: rolled back with it, the failures stay."""
    make_user("alice")
    throttle = app.extensions["secgov_throttle"]
    engine = app.extensions["secgov_engine"]
    throttle.count(throttle.failures("alice", "10.0.0.1"))
    with app.test_request_context(), new_session(engine, write=True) as s:
        auth.complete_login(s, auth.find_user(s, "alice"), "10.0.0.1", throttle)
        assert throttle.counter.counts(s, ["acct:alice"]) == [0]
        s.rollback()
    with Session(engine) as s:
        assert throttle.counter.counts(s, ["acct:alice", "addr:10.0.0.1"]) == [1, 1]


def test_failure_counted_before_the_answer_and_recorded_after_it(app, make_user):
    """The count is taken before the answer leaves (the next attempt must see it); the audit
    record of the refusal is written once the response has been sent and closed."""
    make_user("alice")
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"username": "alice", "password": WRONG, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "10.4.0.1"},
        buffered=False,
    )
    assert response.status_code == 401
    assert stored(app) == {"acct:alice": 1, "addr:10.4.0.1": 1}
    assert actions(app, "auth.login_failed") == []
    response.close()
    assert [e.actor for e in actions(app, "auth.login_failed")] == ["alice"]
    assert stored(app) == {"acct:alice": 1, "addr:10.4.0.1": 1}


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


# --- two workers on one database -------------------------------------------------------------


def _second_app(app, **config):
    """Another instance of the application (another worker) on the same database."""
    second = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "SECGOV_DATA_KEYS": app.config["SECGOV_DATA_KEYS"],
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SESSION_COOKIE_SECURE": False,
            "REDIS_URL": None,
            **config,
        }
    )
    second.test_client_class = ClosingClient
    return second


@pytest.fixture
def two_workers(app):
    second = _second_app(app)
    yield app, second
    second.extensions["secgov_engine"].dispose()


def _split_failures(first, second, username: str, total: int, ip: str | None = None) -> None:
    for i in range(total):
        worker = (first, second)[i % 2]
        response = attempt(worker.test_client(), username, WRONG, ip=ip or f"10.1.0.{i + 1}")
        assert response.status_code == 401


def test_database_counters_shared_between_workers(two_workers, make_user):
    """Without Redis, failures split across two workers add up: neither lets the right password in."""
    first, second = two_workers
    make_user("alice")
    per_account = first.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    assert first.extensions["secgov_throttle"] is not second.extensions["secgov_throttle"]

    _split_failures(first, second, "alice", per_account - 1)
    # One failure short of the limit: the right password still works, and resets the account.
    assert succeeded(attempt(second.test_client(), "alice", PASSWORD, ip="10.1.1.1"))
    assert "acct:alice" not in stored(first)

    _split_failures(first, second, "alice", per_account)
    assert stored(first)["acct:alice"] == per_account
    assert attempt(first.test_client(), "alice", PASSWORD, ip="10.1.1.2").status_code == 429
    assert attempt(second.test_client(), "alice", PASSWORD, ip="10.1.1.3").status_code == 429
    assert len(actions(first, "auth.login_failed")) == 2 * per_account - 1
    assert len(actions(first, "auth.login_throttled")) == 2


def test_address_counters_shared_between_workers(two_workers, make_user):
    first, second = two_workers
    make_user("alice")
    per_address = first.config["SECGOV_LOGIN_MAX_PER_ADDRESS"]
    ip = "192.0.2.50"
    for i in range(per_address):
        # A new user name each time: only the address reaches its limit, half on each worker.
        worker = (first, second)[i % 2]
        assert attempt(worker.test_client(), f"user{i}", WRONG, ip=ip).status_code == 401
    assert attempt(first.test_client(), "alice", PASSWORD, ip=ip).status_code == 429
    assert attempt(second.test_client(), "alice", PASSWORD, ip=ip).status_code == 429
    assert succeeded(attempt(second.test_client(), "alice", PASSWORD, ip="192.0.2.51"))


def _wrong_code(secret: str) -> str:
    """A well-formed code that no step near now produces."""
    now = time.time()
    valid = {pyotp.TOTP(secret).at(now + 30 * d) for d in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def _code_step(client, code: str):
    token = csrf_token(client, "/login/mfa")
    return client.post("/login/mfa", data={"code": code, "csrf_token": token})


def test_totp_counters_shared_between_workers(two_workers, make_user):
    first, second = two_workers
    user = make_user("alice", mfa=True)
    per_account = first.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    clients = [first.test_client(), second.test_client()]
    for client in clients:
        assert urlsplit(attempt(client, "alice", PASSWORD).headers["Location"]).path == "/login/mfa"
    for i in range(per_account):
        assert _code_step(clients[i % 2], _wrong_code(user.totp_secret)).status_code == 401
    for client in clients:
        assert _code_step(client, pyotp.TOTP(user.totp_secret).now()).status_code == 429
        assert client.get("/").status_code == 302
    assert stored(first)["totp:alice"] == per_account
    assert len(actions(first, "auth.mfa_throttled")) == 2


def test_counters_expire_after_the_window(two_workers, make_user):
    first, second = two_workers
    make_user("alice")
    clock = Clock()
    for worker in two_workers:
        worker.extensions["secgov_throttle"].counter.clock = clock
    per_account = first.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    window = first.config["SECGOV_LOGIN_WINDOW_SECONDS"]

    _split_failures(first, second, "alice", per_account)
    clock.advance(window - 1)
    assert attempt(first.test_client(), "alice", PASSWORD, ip="10.1.1.1").status_code == 429
    clock.advance(2)
    assert succeeded(attempt(second.test_client(), "alice", PASSWORD, ip="10.1.1.2"))
    # A failure after the window starts a new one: counted from one again.
    assert attempt(first.test_client(), "alice", WRONG, ip="10.1.0.1").status_code == 401
    assert stored(first)["addr:10.1.0.1"] == 1


def test_expired_rows_are_pruned(app):
    """Made-up user names and addresses leave rows: each count removes a batch of expired ones."""
    throttle = app.extensions["secgov_throttle"]
    counter = throttle.counter
    clock = Clock()
    counter.clock = clock
    counter.prune_batch = 5
    for i in range(4):
        throttle.count(throttle.failures(f"made-up-{i}", f"198.51.100.{i}"))
    assert len(stored(app)) == 8
    clock.advance(throttle.window)  # the window is over: every row has expired
    throttle.count(throttle.failures("fresh", "198.51.100.99"))
    assert len(stored(app)) == 8 - 5 + 2
    throttle.count(throttle.failures("fresh", "198.51.100.99"))
    assert stored(app) == {"acct:fresh": 2, "addr:198.51.100.99": 2}


def test_long_keys_are_bounded(app, session):
    """Keys hold what clients send: a long one is stored as its digest, and still counted alone."""
    throttle = app.extensions["secgov_throttle"]
    _, per_address = limits(app)
    ip = "2001:db8::" + "f" * 300  # a made-up address, or one from a misconfigured proxy
    for i in range(per_address):
        throttle.count(throttle.failures(f"user{i}", ip))
    assert throttle.blocked(session, "alice", ip)
    assert not throttle.blocked(session, "alice", ip[:-1] + "e")
    keys = stored(app)
    assert max(len(key) for key in keys) <= THROTTLE_KEY_MAX
    assert keys[bounded_key(f"addr:{ip}")] == per_address


@pytest.mark.nodb
def test_bounded_key():
    short = "acct:" + "a" * (THROTTLE_KEY_MAX - 5)
    assert bounded_key(short) == short
    long_a, long_b = short + "a", short + "b"
    assert len(bounded_key(long_a)) <= THROTTLE_KEY_MAX
    assert bounded_key(long_a).startswith("acct:#")
    assert bounded_key(long_a) != bounded_key(long_b)


def test_password_change_form_is_throttled_like_sign_in(app, client, make_user, session):
    """A stolen cookie is no unlimited password guesser: wrong current passwords count."""
    user = make_user("guessed", roles=("officer",))
    assert login(client, user).status_code == 302
    limit = app.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    for attempt_number in range(limit):
        token = csrf_token(client, "/account")
        response = client.post(
            "/account/password",
            data={
                "current_password": f"guess {attempt_number}",
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
            "current_password": PASSWORD,
            "new_password": "y" * 20,
            "repeat_password": "y" * 20,
            "csrf_token": token,
        },
    )
    assert response.status_code == 429
    session.rollback()
    recorded = [e.action for e in session.exec(select(AuditEntry)).all()]
    assert recorded.count("user.password_change_failed") == limit
    assert "user.password_change_throttled" in recorded
    # The same counter as sign-in: the right password does not sign in anywhere either.
    assert attempt(app.test_client(), "guessed", PASSWORD, ip="10.5.0.1").status_code == 429


def test_enrolment_password_counts_on_the_account(two_workers, make_user):
    """Wrong passwords at TOTP enrolment, on one worker, block the sign-in on the other."""
    first, second = two_workers
    user = make_user("alice")
    client = first.test_client()
    assert login(client, user).status_code == 302
    limit = first.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    html = client.get("/account/mfa").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    for i in range(limit):
        code = pyotp.TOTP(secret).now()
        response = client.post("/account/mfa", data={"password": f"guess {i}", "code": code, "csrf_token": token})
        assert response.status_code == 422
    assert len(actions(first, "user.mfa_enable_failed")) == limit
    assert attempt(second.test_client(), "alice", PASSWORD, ip="10.6.0.1").status_code == 429


# --- Redis -----------------------------------------------------------------------------------


def _redis_throttle(app, client) -> LoginThrottle:
    return LoginThrottle(
        RedisCounter("redis://fake.invalid:6379/0", DatabaseCounter(app.extensions["secgov_engine"]), client=client),
        per_account=app.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"],
        per_address=app.config["SECGOV_LOGIN_MAX_PER_ADDRESS"],
        window=app.config["SECGOV_LOGIN_WINDOW_SECONDS"],
    )


REAL_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["fakeredis", "real"])
def redis_clients(request):
    """A factory of clients of one Redis: fakeredis, or the real one on 127.0.0.1:6379 (db 15),
    whose keys the test must name uniquely and remove."""
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        yield lambda: fakeredis.FakeRedis(server=server)
        return
    made: list[redis.Redis] = []

    def make() -> redis.Redis:
        made.append(redis.Redis.from_url(REAL_REDIS, socket_timeout=0.5, socket_connect_timeout=0.5))
        return made[-1]

    try:
        make().ping()
    except redis.RedisError:
        made[0].close()
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield make
    for client in made:
        client.close()


def test_redis_counters_shared_between_workers(two_workers, make_user, redis_clients):
    first, second = two_workers
    # A name and an address of this test's own: the real Redis is shared with other runs.
    name = f"t{uuid.uuid4().hex[:20]}"
    make_user(name)
    ip = f"t-{uuid.uuid4().hex}"
    store = redis_clients()
    keys = [f"secgov:throttle:acct:{name}", f"secgov:throttle:addr:{ip}"]
    first.extensions["secgov_throttle"] = _redis_throttle(first, redis_clients())
    second.extensions["secgov_throttle"] = _redis_throttle(second, redis_clients())
    per_account = first.config["SECGOV_LOGIN_MAX_PER_ACCOUNT"]
    window = first.config["SECGOV_LOGIN_WINDOW_SECONDS"]
    try:
        _split_failures(first, second, name, per_account, ip=ip)
        assert int(store.get(keys[0])) == per_account
        assert 0 < store.ttl(keys[0]) <= window
        assert int(store.get(keys[1])) == per_account
        assert stored(first) == {}  # nothing in the database while Redis answers

        assert attempt(first.test_client(), name, PASSWORD, ip=ip).status_code == 429
        assert attempt(second.test_client(), name, PASSWORD, ip=ip).status_code == 429

        # A success on one worker resets the shared account counter for both.
        store.delete(keys[0])
        assert succeeded(attempt(second.test_client(), name, PASSWORD, ip=ip))
        _split_failures(first, second, name, per_account - 1, ip=ip)
        assert succeeded(attempt(first.test_client(), name, PASSWORD, ip=ip))
        assert store.get(keys[0]) is None
        assert int(store.get(keys[1])) == 2 * per_account - 1
    finally:
        store.delete(*keys)


def test_build_uses_redis_when_configured(app):
    config = {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SECGOV_LOGIN_MAX_PER_ACCOUNT": 5,
        "SECGOV_LOGIN_MAX_PER_ADDRESS": 20,
        "SECGOV_LOGIN_WINDOW_SECONDS": 900,
    }
    engine = app.extensions["secgov_engine"]
    with_redis = build(config, engine).counter
    assert isinstance(with_redis, RedisCounter) and with_redis.fallback.engine is engine
    assert isinstance(build(config | {"REDIS_URL": None}, engine).counter, DatabaseCounter)
    assert isinstance(app.extensions["secgov_throttle"].counter, DatabaseCounter)


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _store_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "throttle store unavailable" in r.getMessage()]


def test_redis_down_falls_back_to_shared_database_counters(two_workers, make_user, caplog):
    first, second = two_workers
    make_user("alice")
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    for worker in two_workers:
        worker.config["REDIS_URL"] = url
        worker.extensions["secgov_throttle"] = build(worker.config, worker.extensions["secgov_engine"])
        counter = worker.extensions["secgov_throttle"].counter
        assert isinstance(counter, RedisCounter)
        counter.RETRY_AFTER_SECONDS = 3600  # however slow the machine, this test stays in one pause
    per_account, _ = limits(first)

    with caplog.at_level(logging.WARNING, logger="secgov.throttle"):
        # Sign-in still works while the store is down...
        assert succeeded(attempt(first.test_client(), "alice", PASSWORD))
        _split_failures(first, second, "alice", per_account)
        # ...and so does throttling, across workers: it fails safe, not open, and not per worker.
        assert attempt(first.test_client(), "alice", PASSWORD, ip="10.2.1.1").status_code == 429
        assert attempt(second.test_client(), "alice", PASSWORD, ip="10.2.1.2").status_code == 429
    assert stored(first)["acct:alice"] == per_account
    # One warning per worker, not one per attempt.
    assert len(_store_warnings(caplog)) == 2


def test_redis_tried_again_after_the_pause(app, session, caplog):
    server = fakeredis.FakeServer()
    store = fakeredis.FakeRedis(server=server)
    database = DatabaseCounter(app.extensions["secgov_engine"])
    counter = RedisCounter("redis://x", database, client=fakeredis.FakeRedis(server=server))
    throttle = LoginThrottle(counter, per_account=3, per_address=10, window=60)
    server.connected = False
    with caplog.at_level(logging.WARNING, logger="secgov.throttle"):
        throttle.count(throttle.failures("alice", "10.7.0.1"))
        throttle.count(throttle.failures("alice", "10.7.0.1"))
        assert len(_store_warnings(caplog)) == 1  # the pause: Redis is not asked again
        server.connected = True
        throttle.count(throttle.failures("alice", "10.7.0.1"))
        assert store.get("secgov:throttle:acct:alice") is None  # still in the pause
        counter._down_until = 0.0  # the pause is over
        throttle.count(throttle.failures("alice", "10.7.0.1"))
    assert int(store.get("secgov:throttle:acct:alice")) == 1
    assert stored(app) == {"acct:alice": 3, "addr:10.7.0.1": 3}
    assert len(_store_warnings(caplog)) == 1


def test_two_throttles_share_one_redis(app, session):
    server = fakeredis.FakeServer()
    database = DatabaseCounter(app.extensions["secgov_engine"])
    a = LoginThrottle(RedisCounter("redis://x", database, client=fakeredis.FakeRedis(server=server)), 3, 5, 60)
    b = LoginThrottle(RedisCounter("redis://x", database, client=fakeredis.FakeRedis(server=server)), 3, 5, 60)
    a.count(a.failures("Alice", "10.0.0.1"))
    b.count(b.failures("alice", "10.0.0.2"))
    assert not a.blocked(session, "alice", "10.0.0.3")
    b.count(b.failures("ALICE", "10.0.0.3"))
    assert a.blocked(session, "alice", "10.0.0.9") and b.blocked(session, "Alice", "10.0.0.9")
    a.succeeded(session, "alice")
    assert not b.blocked(session, "alice", "10.0.0.9")
    # Address counters are shared too, and a success does not reset them.
    for _ in range(4):
        b.count(b.failures("someone", "10.0.0.4"))
    a.count(a.failures("else", "10.0.0.4"))
    a.succeeded(session, "someone")
    assert a.blocked(session, "bob", "10.0.0.4") and b.blocked(session, "bob", "10.0.0.4")
    assert not a.blocked(session, "bob", "10.0.0.5")
    session.rollback()
    assert session.exec(select(func.count()).select_from(ThrottleCounter)).one() == 0

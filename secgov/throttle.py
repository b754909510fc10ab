"""Failure counters for sign-in, password confirmation and TOTP throttling, shared by every
worker and host: in the application's database (table `throttle_counter`), or in Redis when
REDIS_URL is set. When Redis cannot be reached, counting goes on in the database (still shared)
with a warning in the log, and Redis is left alone for a while before it is tried again:
throttling fails safe, never open.

How the counters meet the transactions:
- reading them (`blocked`, `code_blocked`) and the reset after a success (`succeeded`,
  `code_succeeded`) run in the caller's session: a reset belongs to the successful sign-in's
  transaction;
- a failure is counted after the refused work has been rolled back, like the audit record of the
  refusal: the service puts the keys to count on the `Refusal` it raises (`failures`,
  `code_failures`), and the frame counts them (`count`) in a short transaction of its own before
  it answers. Counted inside the request's transaction, a failure would be rolled back with the
  refused work; counted through a second connection while the request's transaction holds the
  SQLite write lock, it would wait for that lock (the request's own) until the busy timeout.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import Engine, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from secgov.db import write_session
from secgov.models import THROTTLE_KEY_MAX, ThrottleCounter

log = logging.getLogger("secgov.throttle")

_TABLE = ThrottleCounter.__table__


def bounded_key(key: str) -> str:
    """The key as stored: keys hold what attackers choose (user names, addresses), so a long one
    is replaced by its kind and its SHA-256."""
    if len(key) <= THROTTLE_KEY_MAX:
        return key
    kind = key.split(":", 1)[0][:20]
    return f"{kind}:#{hashlib.sha256(key.encode()).hexdigest()}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Counter(Protocol):
    """Where failures are counted: `counts` and `reset` in the caller's session, `hit` in a
    transaction of its own (the caller holds none)."""

    def counts(self, session: Session, keys: Sequence[str]) -> list[int]: ...

    def reset(self, session: Session, key: str) -> None: ...

    def hit(self, keys: Sequence[str], window: int) -> None: ...


class DatabaseCounter:
    """Fixed-window failure counters in the application's database: one row per key, with the
    end of its window. Each count also deletes up to `prune_batch` expired rows; a count adds at
    most two rows, so the table holds little more than the keys of the current window, however
    many user names and addresses an attacker makes up."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _utcnow, prune_batch: int = 100) -> None:
        self.engine = engine
        self.clock = clock
        self.prune_batch = prune_batch

    def counts(self, session: Session, keys: Sequence[str]) -> list[int]:
        """The live count of each key (0 when absent or expired), in one query."""
        stored = [bounded_key(key) for key in keys]
        rows = session.execute(
            select(_TABLE.c.key, _TABLE.c.count).where(_TABLE.c.key.in_(stored), _TABLE.c.expires_at > self.clock())
        ).all()
        found = dict(rows)
        return [found.get(key, 0) for key in stored]

    def reset(self, session: Session, key: str) -> None:
        """Forget a key's failures, in the caller's transaction."""
        session.execute(delete(_TABLE).where(_TABLE.c.key == bounded_key(key)))

    def hit(self, keys: Sequence[str], window: int) -> None:
        """Count one failure under each key, pruning expired rows, in a transaction of its own."""
        now = self.clock()
        with write_session(self.engine) as session:
            self._prune(session, now)
            for key in dict.fromkeys(bounded_key(key) for key in keys):
                session.execute(self._upsert(session, key, now, now + timedelta(seconds=window)))

    def _prune(self, session: Session, now: datetime) -> None:
        expired = select(_TABLE.c.key).where(_TABLE.c.expires_at <= now).limit(self.prune_batch)
        if session.get_bind().dialect.name == "postgresql":
            # Rows another count is busy with are left for the next one: no waiting, no deadlock;
            # and the lock re-checks the expiry, so a row renewed meanwhile is kept.
            expired = expired.with_for_update(skip_locked=True)
        session.execute(delete(_TABLE).where(_TABLE.c.key.in_(expired.scalar_subquery())))

    @staticmethod
    def _upsert(session: Session, key: str, now: datetime, expires_at: datetime):
        # One statement, atomic on both databases: a new or expired key starts a new window.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        insert = dialect.insert(_TABLE).values(key=key, count=1, expires_at=expires_at)
        expired = _TABLE.c.expires_at <= now
        return insert.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "count": case((expired, 1), else_=_TABLE.c.count + 1),
                "expires_at": case((expired, insert.excluded.expires_at), else_=_TABLE.c.expires_at),
            },
        )


class RedisCounter:
    """The same counters in Redis (keys expire with their window); the database's while Redis
    cannot be reached. Failures counted in the database during an outage are not carried over
    to Redis when it is back."""

    RETRY_AFTER_SECONDS = 30
    PREFIX = "secgov:throttle:"

    def __init__(self, url: str, fallback: DatabaseCounter, client: redis.Redis | None = None) -> None:
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._redis = client
        self.fallback = fallback
        self._down_until = 0.0

    def _guard(self, op, fallback):
        # After a failure, leave Redis alone for a while: a dead store must not add a
        # timeout to every sign-in, nor a warning to every line of the log.
        if time.monotonic() < self._down_until:
            return fallback()
        try:
            return op()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
            log.warning(
                "throttle store unavailable, counting in the database for %ss: %s", self.RETRY_AFTER_SECONDS, exc
            )
            return fallback()

    def _name(self, key: str) -> str:
        return self.PREFIX + bounded_key(key)

    def counts(self, session: Session, keys: Sequence[str]) -> list[int]:
        return self._guard(
            lambda: [int(value or 0) for value in self._redis.mget([self._name(key) for key in keys])],
            lambda: self.fallback.counts(session, keys),
        )

    def reset(self, session: Session, key: str) -> None:
        self._guard(lambda: self._redis.delete(self._name(key)), lambda: None)
        # Counts taken in the database during an outage must not outlive a success either.
        self.fallback.reset(session, key)

    def hit(self, keys: Sequence[str], window: int) -> None:
        def op() -> None:
            pipe = self._redis.pipeline()
            for key in dict.fromkeys(self._name(key) for key in keys):
                pipe.incr(key)
                pipe.expire(key, window, nx=True)
            pipe.execute()

        self._guard(op, lambda: self.fallback.hit(keys, window))


def _account(account: str) -> str:
    return f"acct:{account.strip().lower()}"


def _address(address: str) -> str:
    return f"addr:{address}"


def _code(account: str) -> str:
    return f"totp:{account.strip().lower()}"


class LoginThrottle:
    """Refuses attempts for an account or an address once too many failed in the window; TOTP
    codes have a counter of their own per account."""

    def __init__(self, counter: Counter, per_account: int, per_address: int, window: int) -> None:
        self.counter = counter
        self.per_account = per_account
        self.per_address = per_address
        self.window = window

    def blocked(self, session: Session, account: str, address: str) -> bool:
        """Whether the account or the address has used up its failures (the caller's session)."""
        on_account, on_address = self.counter.counts(session, [_account(account), _address(address)])
        return on_account >= self.per_account or on_address >= self.per_address

    def failures(self, account: str, address: str) -> tuple[str, ...]:
        """The keys a failed password adds to: for the `Refusal`, counted by the frame."""
        return (_account(account), _address(address))

    def succeeded(self, session: Session, account: str) -> None:
        """A successful sign-in resets the account's failures, not the address's (the caller's
        transaction)."""
        self.counter.reset(session, _account(account))

    def code_blocked(self, session: Session, account: str) -> bool:
        return self.counter.counts(session, [_code(account)])[0] >= self.per_account

    def code_failures(self, account: str) -> tuple[str, ...]:
        return (_code(account),)

    def code_succeeded(self, session: Session, account: str) -> None:
        self.counter.reset(session, _code(account))

    def count(self, keys: Sequence[str]) -> None:
        """Count one failure under each key, in a transaction of its own: the caller holds no
        write transaction (on SQLite the count needs the write lock)."""
        if keys:
            self.counter.hit(keys, self.window)


def build(config: dict, engine: Engine) -> LoginThrottle:
    """The throttle of an app: counters in its database, or in Redis when REDIS_URL is set."""
    database = DatabaseCounter(engine)
    url = config.get("REDIS_URL")
    return LoginThrottle(
        RedisCounter(url, database) if url else database,
        per_account=config["SECGOV_LOGIN_MAX_PER_ACCOUNT"],
        per_address=config["SECGOV_LOGIN_MAX_PER_ADDRESS"],
        window=config["SECGOV_LOGIN_WINDOW_SECONDS"],
    )

"""Failure counters for login and TOTP throttling, shared through Redis when REDIS_URL is set.

When Redis is configured but unreachable, counting falls back to this process's memory and a
warning is logged: throttling goes on per worker rather than stopping (fail safe, not open).
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger("secgov.throttle")


class MemoryCounter:
    """Fixed-window failure counters kept in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[int, float]] = {}

    def hit(self, key: str, window: int) -> int:
        now = time.monotonic()
        with self._lock:
            count, expires = self._data.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + window
            count += 1
            self._data[key] = (count, expires)
            if len(self._data) > 100_000:
                self._data = {k: v for k, v in self._data.items() if v[1] > now}
            return count

    def get(self, key: str) -> int:
        with self._lock:
            count, expires = self._data.get(key, (0, 0.0))
            return count if expires > time.monotonic() else 0

    def reset(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisCounter:
    """The same counters in Redis, shared by every worker and host."""

    RETRY_AFTER_SECONDS = 30

    def __init__(self, url: str, client=None) -> None:
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._redis = client
        self._fallback = MemoryCounter()
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
                "throttle store unavailable, counting in this process for %ss: %s", self.RETRY_AFTER_SECONDS, exc
            )
            return fallback()

    def hit(self, key: str, window: int) -> int:
        def op():
            pipe = self._redis.pipeline()
            pipe.incr(f"secgov:throttle:{key}")
            pipe.expire(f"secgov:throttle:{key}", window, nx=True)
            return int(pipe.execute()[0])

        return self._guard(op, lambda: self._fallback.hit(key, window))

    def get(self, key: str) -> int:
        return self._guard(
            lambda: int(self._redis.get(f"secgov:throttle:{key}") or 0),
            lambda: self._fallback.get(key),
        )

    def reset(self, key: str) -> None:
        self._guard(lambda: self._redis.delete(f"secgov:throttle:{key}"), lambda: None)
        self._fallback.reset(key)


class LoginThrottle:
    """Refuses attempts for an account or an address once too many failed in the window."""

    def __init__(self, counter, per_account: int, per_address: int, window: int) -> None:
        self.counter = counter
        self.per_account = per_account
        self.per_address = per_address
        self.window = window

    def blocked(self, account: str, address: str) -> bool:
        return (
            self.counter.get(f"acct:{account.lower()}") >= self.per_account
            or self.counter.get(f"addr:{address}") >= self.per_address
        )

    def failed(self, account: str, address: str) -> None:
        self.counter.hit(f"acct:{account.lower()}", self.window)
        self.counter.hit(f"addr:{address}", self.window)

    def succeeded(self, account: str) -> None:
        self.counter.reset(f"acct:{account.lower()}")


def build(config: dict) -> LoginThrottle:
    url = config.get("REDIS_URL")
    counter = RedisCounter(url) if url else MemoryCounter()
    return LoginThrottle(
        counter,
        per_account=config["SECGOV_LOGIN_MAX_PER_ACCOUNT"],
        per_address=config["SECGOV_LOGIN_MAX_PER_ADDRESS"],
        window=config["SECGOV_LOGIN_WINDOW_SECONDS"],
    )

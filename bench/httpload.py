"""A small HTTP load generator on the standard library: keep-alive connections, cookies, threads.

Only for the benchmark's own server on the loopback address: a Client takes a port, never a
host, and always connects to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import re
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

LOOPBACK = "127.0.0.1"
RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float
    location: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """One keep-alive connection with a browser's cookie handling (one client = one thread)."""

    def __init__(self, port: int, *, headers: dict[str, str] | None = None, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def copy(self) -> Client:
        """A client with its own connection and a copy of this one's cookies and headers."""
        other = Client(self.port, headers=self.headers, timeout=self.timeout)
        other.cookies = dict(self.cookies)
        return other

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        seconds = time.perf_counter() - start
        for raw in response.msg.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value and "1970" not in morsel["expires"]:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        if response.will_close:
            self.close()
        return Answer(response.status, data, seconds, response.getheader("Location", ""))

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        """Send one request over the kept-alive connection; a connection the server closed
        meanwhile is reopened once (the timing then covers only the retried request)."""
        all_headers = {"Host": f"{LOOPBACK}:{self.port}", **self.headers, **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        reused = self.conn is not None
        try:
            return self._send(method, path, body, all_headers)
        except RETRYABLE:
            self.close()
            if not reused:
                raise
            return self._send(method, path, body, all_headers)
        except BaseException:
            self.close()
            raise

    def get(self, path: str) -> Answer:
        return self.request("GET", path)


def login(client: Client, username: str, password: str) -> None:
    """Sign in through the real forms: GET /login for the CSRF token, POST /login."""
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status != 200 or match is None:
        raise RuntimeError(f"GET /login answered {page.status} without a CSRF token")
    form = urlencode({"csrf_token": match.group(1), "username": username, "password": password, "next": "/"})
    answer = client.request(
        "POST", "/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded", "Referer": "/login"}
    )
    if answer.status != 302 or "/login" in answer.location:
        raise RuntimeError(f"sign-in as {username} failed: {answer.status} {answer.location}")


# --- measurements --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0–100), nearest-rank method on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


@dataclass
class Latency:
    requests: int
    errors: int
    median_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    bytes: int
    statuses: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


Probe = Callable[[], dict[str, float]]


def _difference(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}


def sequential(client: Client, path: str, count: int, warmup: int = 10, probe: Probe | None = None) -> Latency:
    """count sequential requests on one kept-alive connection after warmup unmeasured ones.

    probe, when given, is read before and after the measured requests (CPU seconds per process,
    say); the result holds the differences."""
    for _ in range(warmup):
        client.get(path)
    probe_before = probe() if probe else {}
    times: list[float] = []
    statuses: dict[str, int] = {}
    size = 0
    for _ in range(count):
        answer = client.get(path)
        statuses[str(answer.status)] = statuses.get(str(answer.status), 0) + 1
        times.append(answer.seconds * 1000)
        size = len(answer.body)
    probe_after = probe() if probe else {}
    errors = sum(n for status, n in statuses.items() if status != "200")
    return Latency(
        requests=count,
        errors=errors,
        median_ms=round(statistics.median(times), 2),
        p95_ms=round(percentile(times, 95), 2),
        mean_ms=round(statistics.fmean(times), 2),
        min_ms=round(min(times), 2),
        max_ms=round(max(times), 2),
        bytes=size,
        statuses=statuses,
        cpu_seconds=_difference(probe_before, probe_after),
    )


@dataclass
class Throughput:
    clients: int
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    median_ms: float
    p95_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def concurrent(
    template: Client,
    path: str,
    clients: int,
    seconds: float,
    warmup: float = 2.0,
    probe: Probe | None = None,
    stagger: float = 0.0,
) -> Throughput:
    """Requests per second with `clients` threads, each on its own kept-alive connection,
    for `seconds` after `warmup` seconds of unmeasured load. Stops by itself: no request
    starts after the deadline, and each one times out after the client's timeout.

    probe, when given, is read when the measured window opens and when it closes."""
    lock = threading.Lock()
    times: list[float] = []
    statuses: dict[str, int] = {}
    failures: list[str] = []
    begin = time.monotonic() + warmup
    end = begin + seconds

    def worker(index: int) -> None:
        # Staggered starts: a gthread worker accepts every connection it is offered, so eight
        # connections opened at once tend to land on one worker; opened one by one while the
        # first ones are busy, they spread over the workers as a stream of browsers' would.
        time.sleep(index * stagger)
        client = template.copy()
        local_times: list[float] = []
        local_status: dict[str, int] = {}
        try:
            while (now := time.monotonic()) < end:
                try:
                    answer = client.get(path)
                except (OSError, http.client.HTTPException) as exc:
                    client.close()
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    if time.monotonic() >= end:
                        break
                    continue
                if now >= begin:
                    local_times.append(answer.seconds * 1000)
                    local_status[str(answer.status)] = local_status.get(str(answer.status), 0) + 1
        finally:
            client.close()
            with lock:
                times.extend(local_times)
                for status, n in local_status.items():
                    statuses[status] = statuses.get(status, 0) + n

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"bench-client-{i}", daemon=True) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, begin - time.monotonic()))
    probe_before = probe() if probe else {}
    time.sleep(max(0.0, end - time.monotonic()))
    probe_after = probe() if probe else {}
    for thread in threads:
        thread.join(timeout=max(0.0, end - time.monotonic()) + template.timeout + 5)
    ok = statuses.get("200", 0)
    errors = sum(statuses.values()) - ok + len(failures)
    if failures:
        statuses["connection_error"] = len(failures)
    return Throughput(
        clients=clients,
        seconds=seconds,
        requests=sum(n for status, n in statuses.items() if status != "connection_error"),
        errors=errors,
        requests_per_second=round(ok / seconds, 1),
        median_ms=round(statistics.median(times), 2) if times else float("nan"),
        p95_ms=round(percentile(times, 95), 2) if times else float("nan"),
        statuses=statuses,
        cpu_seconds=_difference(probe_before, probe_after),
    )

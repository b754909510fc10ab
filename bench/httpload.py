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
    headers: list[tuple[str, str]] = field(default_factory=list)

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

    def copy(self, port: int | None = None) -> Client:
        """A client with its own connection (to port, or to this one's) and a copy of its cookies and headers."""
        other = Client(self.port if port is None else port, headers=self.headers, timeout=self.timeout)
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
        return Answer(response.status, data, seconds, response.getheader("Location", ""), response.getheaders())

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


# --- measurements ---------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0–100), nearest-rank method on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


Probe = Callable[[], dict[str, float]]


@dataclass
class Sample:
    """What one measurement saw: each answered request's time, the statuses, the measured window."""

    times_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    bytes: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def count(self, status: int | str, n: int = 1) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + n

    def summary(self) -> dict:
        """Requests, errors, requests per second (answers 200 only), and the latency percentiles."""
        ok = self.statuses.get("200", 0)
        times = self.times_ms
        return {
            "requests": sum(n for status, n in self.statuses.items() if status != "connection_error"),
            "errors": sum(self.statuses.values()) - ok,
            "requests_per_second": round(ok / self.seconds, 1) if self.seconds else float("nan"),
            "median_ms": round(statistics.median(times), 2) if times else float("nan"),
            "p95_ms": round(percentile(times, 95), 2) if times else float("nan"),
            "mean_ms": round(statistics.fmean(times), 2) if times else float("nan"),
            "min_ms": round(min(times), 2) if times else float("nan"),
            "max_ms": round(max(times), 2) if times else float("nan"),
            "bytes": self.bytes,
            "statuses": dict(self.statuses),
        }


def merge(samples: list[Sample]) -> Sample:
    """One sample of several rounds: the times and statuses together, the windows and CPU added up."""
    total = Sample()
    for sample in samples:
        total.times_ms += sample.times_ms
        for status, n in sample.statuses.items():
            total.count(status, n)
        total.seconds += sample.seconds
        total.bytes = sample.bytes or total.bytes
        for key, value in sample.cpu_seconds.items():
            total.cpu_seconds[key] = total.cpu_seconds.get(key, 0.0) + value
    return total


def _difference(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}


def sequential(client: Client, path: str, count: int, warmup: int = 10, probe: Probe | None = None) -> Sample:
    """count sequential requests on one kept-alive connection after warmup unmeasured ones.

    probe, when given, is read before and after the measured requests (CPU seconds per process,
    say); the sample holds the differences. Its window is the time spent in the requests."""
    for _ in range(warmup):
        client.get(path)
    sample = Sample()
    probe_before = probe() if probe else {}
    for _ in range(count):
        answer = client.get(path)
        sample.count(answer.status)
        sample.times_ms.append(answer.seconds * 1000)
        sample.seconds += answer.seconds
        sample.bytes = len(answer.body)
    sample.cpu_seconds = _difference(probe_before, probe() if probe else {})
    return sample


def concurrent(
    template: Client,
    path: str,
    clients: int,
    seconds: float,
    warmup: float = 2.0,
    probe: Probe | None = None,
    stagger: float = 0.0,
) -> Sample:
    """Requests per second with `clients` threads, each on its own kept-alive connection,
    for `seconds` after `warmup` seconds of unmeasured load. Stops by itself: no request
    starts after the deadline, and each one times out after the client's timeout.

    probe, when given, is read when the measured window opens and when it closes."""
    lock = threading.Lock()
    sample = Sample(seconds=seconds)
    failures: list[str] = []
    begin = time.monotonic() + warmup + clients * stagger
    end = begin + seconds

    def worker(index: int) -> None:
        # Staggered starts: a gthread worker accepts every connection it is offered, so eight
        # connections opened at once tend to land on one worker; opened one by one while the
        # first ones are busy, they spread over the workers as a stream of browsers' would.
        time.sleep(index * stagger)
        client = template.copy()
        local = Sample()
        try:
            while (now := time.monotonic()) < end:
                try:
                    answer = client.get(path)
                except (OSError, http.client.HTTPException) as exc:
                    client.close()
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if now >= begin:
                    local.times_ms.append(answer.seconds * 1000)
                    local.count(answer.status)
                    local.bytes = len(answer.body)
        finally:
            client.close()
            with lock:
                sample.times_ms += local.times_ms
                for status, n in local.statuses.items():
                    sample.count(status, n)
                sample.bytes = local.bytes or sample.bytes

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
    if failures:
        sample.count("connection_error", len(failures))
    sample.cpu_seconds = _difference(probe_before, probe_after)
    return sample

"""`python -m secgov serve` runs the production server (gunicorn) and answers on loopback."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from helpers import PASSWORD
from server_support import Server


@pytest.fixture
def server(database_url, tmp_path):
    running = Server(database_url, tmp_path)
    yield running.base
    running.stop()


def names_no_product(headers) -> bool:
    """No Server header, or one that names neither the server, the framework nor the language."""
    return not any(product in value.lower() for value in headers.get_all("Server") or [] for product in PRODUCTS)


PRODUCTS = ("gunicorn", "werkzeug", "python", "flask")


def test_serve_answers_with_security_headers(server):
    with urllib.request.urlopen(f"{server}/login", timeout=5) as response:  # noqa: S310 - loopback URL built here
        assert response.status == 200
        assert names_no_product(response.headers), response.headers.get_all("Server")
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        # The server's cookies are Secure by default: the deployment is HTTPS, so HSTS is on.
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        body = response.read().decode()
    assert 'name="csrf_token"' in body


def test_serve_names_no_product_on_any_answer(server):
    """Static files, errors and HEAD requests are written by the same server code: none names it."""
    with urllib.request.urlopen(f"{server}/static/secgov.css", timeout=5) as response:  # noqa: S310
        assert response.status == 200
        assert names_no_product(response.headers), response.headers.get_all("Server")
    head = urllib.request.Request(f"{server}/healthz", method="HEAD")  # noqa: S310 - loopback URL built here
    with urllib.request.urlopen(head, timeout=5) as response:  # noqa: S310
        assert names_no_product(response.headers), response.headers.get_all("Server")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{server}/no-such-page", timeout=5)  # noqa: S310
    assert caught.value.code == 404
    assert names_no_product(caught.value.headers), caught.value.headers.get_all("Server")
    caught.value.close()


def test_serve_answers_api_errors_as_json(server):
    request = urllib.request.Request(f"{server}/api/v1/departments")  # noqa: S310 - loopback URL built here
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310
    assert caught.value.code == 401
    assert names_no_product(caught.value.headers), caught.value.headers.get_all("Server")
    assert b'"unauthorized"' in caught.value.read()
    caught.value.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is the answer itself: a successful sign-in


def _status(opener, url: str, form: dict | None = None) -> tuple[int, str]:
    """The status and body of one request, each on a new connection (urllib closes it after)."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with opener.open(url, data=data, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


AUDITED = re.compile(r"^\S+ \S+ (\d+) INFO secgov\.audit: audit seq=\d+ action=(\S+) ")


def _audited(lines: list[str], action: str) -> list[str]:
    """The pid of the worker that wrote each audit entry of this action, from the server's log."""
    return [m[1] for m in map(AUDITED.match, list(lines)) if m and m[2] == action]


def test_sign_in_throttle_is_shared_by_the_workers(make_user, database_url, tmp_path):
    """With the production server's two workers and no Redis, wrong passwords sent over separate
    connections add up: once the account's limit is reached, the right password is refused by
    whichever worker answers, until both have refused it."""
    make_user("alice")
    limit = 5
    running = Server(
        database_url,
        tmp_path,
        SECGOV_LOG_LEVEL="INFO",  # each audit entry is logged with the pid of its worker
        SECGOV_COOKIE_SECURE="0",  # the session cookie (with the CSRF token) over plain HTTP
        SECGOV_LOGIN_MAX_PER_ACCOUNT=str(limit),
        SECGOV_LOGIN_MAX_PER_ADDRESS="1000",
    )
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())
        status, page = _status(opener, f"{running.base}/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        for _ in range(limit):
            form = {"username": "alice", "password": "not the right password", "csrf_token": token}
            assert _status(opener, f"{running.base}/login", form)[0] == 401
        right = {"username": "alice", "password": PASSWORD, "csrf_token": token}
        for _attempt in range(40):
            seen = len(_audited(running.lines, "auth.login_throttled"))
            assert _status(opener, f"{running.base}/login", right)[0] == 429
            deadline = time.monotonic() + 10  # the refusal is recorded after the answer
            while len(_audited(running.lines, "auth.login_throttled")) == seen and time.monotonic() < deadline:
                time.sleep(0.05)
            if len(set(_audited(running.lines, "auth.login_throttled"))) == 2:
                break
        refused_by = set(_audited(running.lines, "auth.login_throttled"))
        assert len(refused_by) == 2, "one worker answered every attempt:\n" + "".join(running.lines)
        assert len(_audited(running.lines, "auth.login_failed")) == limit
    finally:
        running.stop()

"""Helpers for tests: sign in through the real forms, read CSRF tokens, make TOTP codes."""

from __future__ import annotations

import base64
import re
import time

import pyotp
from flask.testing import FlaskClient

PASSWORD = "correct horse battery staple"
# The data key of the tests' apps and command-line runs (given through the configuration: no key
# file is written in the checkout's instance folder).
DATA_KEY = base64.urlsafe_b64encode(b"secgov-test-data-key-not-secret!").decode()
# The tables an emptied database keeps (conftest.empty_database): the migrations' bookkeeping and
# the catalogue, reference data that `db upgrade` loads.
KEPT_TABLES = frozenset({"alembic_version", "control"})


class ClosingClient(FlaskClient):
    """A test client that closes every response once it has read it, as a WSGI server does after
    sending it: the request frame records refusals then (Werkzeug's test client closes a
    response only when it buffers it). Pass buffered=False to close it yourself."""

    def open(self, *args, buffered: bool = True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


def totp_now(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def login(client, user, password: str = PASSWORD, code: str | None = None):
    """Sign user in through the real forms (CSRF is on in tests: pass the token)."""
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": user.username, "password": password, "csrf_token": token})
    if user.totp_secret and response.status_code == 302 and response.headers["Location"].endswith("/login/mfa"):
        token = csrf_token(client, "/login/mfa")
        response = client.post("/login/mfa", data={"code": code or totp_now(user.totp_secret), "csrf_token": token})
    return response


def csrf_token(client, path: str) -> str:
    """The CSRF token of the form on the page at path."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)

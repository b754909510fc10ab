"""Sessions: server-side revocation in the five cases, idle and absolute timeouts, cookie flags.

Every revocation test signs in, copies the session cookie, shows that the copy works in a
second browser, triggers the event, and then replays the OLD cookie in a fresh browser.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from helpers import PASSWORD, csrf_token, login, totp_now
from sqlalchemy import text
from sqlmodel import Session

from secgov import auth, directory, web
from secgov.app import create_app
from secgov.authz import Actor

NEW_PASSWORD = "a brand new passphrase 42"
SYSTEM = Actor.system("cli")


# --- helpers -------------------------------------------------------------------------------


def cookie_name(app) -> str:
    return app.config["SESSION_COOKIE_NAME"]


def session_cookie(app, client) -> str:
    """The value of client's session cookie (what a thief would copy)."""
    cookie = client.get_cookie(cookie_name(app))
    assert cookie is not None, "no session cookie"
    return cookie.value


def replay(app, value: str, path: str = "/"):
    """GET path in a brand-new browser that only has the copied cookie."""
    other = app.test_client()
    other.set_cookie(cookie_name(app), value)
    return other.get(path)


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def assert_cookie_works(app, value: str) -> None:
    response = replay(app, value)
    assert response.status_code == 200, "the copied cookie should still sign in before the event"


def assert_cookie_rejected(app, value: str) -> None:
    response = replay(app, value)
    assert is_login_redirect(response), f"old cookie accepted: {response.status_code}"


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def load_user(app, username: str):
    with Session(app.extensions["secgov_engine"], expire_on_commit=False) as s:
        return auth.find_user(s, username)


def signed_in_cookie(app, user) -> tuple:
    """A client signed in as user, and a copy of its cookie that is shown to work."""
    client = app.test_client()
    assert login(client, user).status_code == 302
    value = session_cookie(app, client)
    assert_cookie_works(app, value)
    return client, value


def post(client, path: str, data: dict | None = None, form_page: str = "/account"):
    data = dict(data or {})
    data["csrf_token"] = csrf_token(client, form_page)
    return client.post(path, data=data)


def admin_client(app, make_user, username: str = "root"):
    admin = make_user(username, roles=("admin",), mfa=True)
    client = app.test_client()
    assert login(client, admin).status_code == 302
    assert client.get("/admin/users").status_code == 200
    return client


# --- 1. logout -----------------------------------------------------------------------------


def test_logout_revokes_copied_cookie(app, make_user):
    user = make_user("alice")
    client, old = signed_in_cookie(app, user)
    before = load_user(app, "alice").session_version

    response = post(client, "/logout", form_page="/")
    assert is_login_redirect(response)

    assert not signed_in(client)
    assert load_user(app, "alice").session_version == before + 1
    assert_cookie_rejected(app, old)
    # The stale cookie keeps failing on any page that needs sign-in.
    assert is_login_redirect(replay(app, old, "/account"))
    assert is_login_redirect(replay(app, old, "/departments"))


def test_logout_also_ends_other_sessions_of_the_user(app, make_user):
    user = make_user("alice")
    _phone, phone_cookie = signed_in_cookie(app, user)
    laptop, _laptop_cookie = signed_in_cookie(app, user)
    post(laptop, "/logout", form_page="/")
    assert_cookie_rejected(app, phone_cookie)


# --- 2. password change ----------------------------------------------------------------------


def test_password_change_revokes_old_cookie(app, make_user):
    user = make_user("alice")
    client, old = signed_in_cookie(app, user)
    _other, other_cookie = signed_in_cookie(app, user)

    response = post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/account"

    assert_cookie_rejected(app, old)
    assert_cookie_rejected(app, other_cookie)
    # The browser that changed the password got a fresh session.
    assert signed_in(client)
    assert session_cookie(app, client) != old
    # The new password is the one that works now.
    assert load_user(app, "alice").password_hash != user.password_hash
    fresh = app.test_client()
    assert login(fresh, user, password=NEW_PASSWORD).status_code == 302
    assert login(app.test_client(), user, password=PASSWORD).status_code == 401


def test_failed_password_change_keeps_sessions(app, make_user):
    """Control: the revocation comes from the change, not from posting the form."""
    user = make_user("alice")
    client, old = signed_in_cookie(app, user)
    response = post(
        client,
        "/account/password",
        {"current_password": "not the password!", "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
    )
    assert response.status_code == 422
    assert_cookie_works(app, old)


def test_admin_password_reset_revokes_user_cookie(app, make_user):
    admin = admin_client(app, make_user)
    user = make_user("alice")
    _client, old = signed_in_cookie(app, user)
    response = post(admin, "/admin/users/alice/password", {"password": NEW_PASSWORD}, form_page="/admin/users/alice")
    assert response.status_code == 302
    assert_cookie_rejected(app, old)


# --- 3. MFA change -------------------------------------------------------------------------


def test_mfa_enable_revokes_old_cookie(app, make_user):
    user = make_user("alice")
    client, old = signed_in_cookie(app, user)
    _other, other_cookie = signed_in_cookie(app, user)

    # One page gives both the key and the form token (every GET draws a new key).
    page = client.get("/account/mfa").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/account/mfa", data={"password": PASSWORD, "code": totp_now(secret), "csrf_token": token})
    assert response.status_code == 302

    assert load_user(app, "alice").totp_secret == secret
    assert_cookie_rejected(app, old)
    assert_cookie_rejected(app, other_cookie)
    assert signed_in(client)


def test_mfa_disable_revokes_old_cookie(app, make_user):
    user = make_user("alice", mfa=True)
    client, old = signed_in_cookie(app, user)
    # The sign-in used this step's code: the next step's code proves possession anew.
    response = post(client, "/account/mfa/disable", {"code": totp_now(user.totp_secret, 1)})
    assert response.status_code == 302

    assert load_user(app, "alice").totp_secret is None
    assert_cookie_rejected(app, old)
    assert signed_in(client)


def test_admin_mfa_reset_revokes_user_cookie(app, make_user):
    admin = admin_client(app, make_user)
    user = make_user("alice", mfa=True)
    _client, old = signed_in_cookie(app, user)
    response = post(admin, "/admin/users/alice/mfa-reset", form_page="/admin/users/alice")
    assert response.status_code == 302
    assert load_user(app, "alice").totp_secret is None
    assert_cookie_rejected(app, old)


# --- 4. account disabled -----------------------------------------------------------------------


def _user_form(admin, username: str, **changes) -> dict:
    """The fields of the admin's edit form as the browser would send them."""
    html = admin.get(f"/admin/users/{username}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    department = re.search(r'<option value="([^"]+)" selected>', html).group(1)
    roles = re.findall(r'name="roles" value="([a-z_]+)" checked', html)
    data = {"version": version, "department": department, "roles": roles, "display_name": "", "email": ""}
    data.update(changes)
    return data


def test_admin_page_disable_revokes_cookie(app, make_user):
    admin = admin_client(app, make_user)
    user = make_user("alice")
    _client, old = signed_in_cookie(app, user)

    response = post(admin, "/admin/users/alice", _user_form(admin, "alice", disabled="1"), "/admin/users/alice")
    assert response.status_code == 302
    assert load_user(app, "alice").disabled is True
    assert_cookie_rejected(app, old)

    # Enabling the account again does not bring the old cookie back to life.
    response = post(admin, "/admin/users/alice", _user_form(admin, "alice"), "/admin/users/alice")
    assert response.status_code == 302
    assert load_user(app, "alice").disabled is False
    assert_cookie_rejected(app, old)
    assert login(app.test_client(), user).status_code == 302


def test_directory_service_disable_revokes_cookie(app, make_user):
    user = make_user("alice")
    _client, old = signed_in_cookie(app, user)
    with app.test_request_context(), Session(app.extensions["secgov_engine"], expire_on_commit=False) as s:
        target = auth.find_user(s, "alice")
        directory.update_user(s, target, directory.UserUpdate(disabled=True, version=target.version), SYSTEM)
        s.commit()
    assert_cookie_rejected(app, old)
    # A disabled user cannot sign in again either.
    assert login(app.test_client(), user).status_code == 401


def test_api_disable_revokes_cookie(app, make_user, api_token):
    admin = make_user("root", roles=("admin",), mfa=True)
    token = api_token(admin)
    user = make_user("alice")
    _client, old = signed_in_cookie(app, user)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    version = api.get("/api/v1/users/alice", headers=headers).json["version"]
    response = api.patch("/api/v1/users/alice", json={"disabled": True, "version": version}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["disabled"] is True
    assert_cookie_rejected(app, old)


def test_disabled_flag_alone_ends_sessions(app, make_user):
    """Defence in depth: a disabled account is no one, even if its version were not bumped."""
    user = make_user("alice")
    _client, old = signed_in_cookie(app, user)
    with app.extensions["secgov_engine"].begin() as conn:
        conn.execute(text('UPDATE "user" SET disabled = :yes WHERE username = :name'), {"yes": True, "name": "alice"})
    assert load_user(app, "alice").session_version == user.session_version
    assert_cookie_rejected(app, old)


# --- 5. sign out everywhere ----------------------------------------------------------------


def test_admin_sign_out_everywhere_revokes_cookie(app, make_user):
    admin = admin_client(app, make_user)
    user = make_user("alice")
    _phone, phone = signed_in_cookie(app, user)
    _laptop, laptop = signed_in_cookie(app, user)

    response = post(admin, "/admin/users/alice/sign-out", form_page="/admin/users/alice")
    assert response.status_code == 302
    assert_cookie_rejected(app, phone)
    assert_cookie_rejected(app, laptop)
    # The admin's own session is untouched.
    assert admin.get("/admin/users").status_code == 200


def test_own_sign_out_everywhere_revokes_cookie(app, make_user):
    user = make_user("alice")
    client, old = signed_in_cookie(app, user)
    _other, other = signed_in_cookie(app, user)
    response = post(client, "/account/sign-out-everywhere")
    assert is_login_redirect(response)
    assert_cookie_rejected(app, old)
    assert_cookie_rejected(app, other)
    assert not signed_in(client)


def test_api_sign_out_revokes_cookie(app, make_user, api_token):
    admin = make_user("root", roles=("admin",), mfa=True)
    token = api_token(admin)
    user = make_user("alice")
    _client, old = signed_in_cookie(app, user)
    response = app.test_client().post("/api/v1/users/alice/sign-out", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204
    assert_cookie_rejected(app, old)


def test_forged_session_version_is_rejected(app, make_user):
    """The version lives on the server: a cookie naming another version is no one."""
    user = make_user("alice")
    client = app.test_client()
    login(client, user)
    with client.session_transaction() as sess:
        uid, version = sess["_user_id"].split(":")
        sess["_user_id"] = f"{uid}:{int(version) + 1}"
    assert is_login_redirect(client.get("/"))


# --- timeouts ------------------------------------------------------------------------------


class Clock:
    """A stand-in for the time module inside secgov.web."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def web_clock(monkeypatch):
    clock = Clock(time.time())
    monkeypatch.setattr(web, "time", clock)
    return clock


def test_idle_timeout(app, client, make_user, web_clock):
    idle = app.config["SECGOV_SESSION_IDLE_MINUTES"] * 60
    login(client, make_user("alice"))
    # Activity inside the idle limit keeps the session alive, again and again.
    for _ in range(3):
        web_clock.now += idle - 60
        assert client.get("/").status_code == 200
    web_clock.now += idle + 1
    assert is_login_redirect(client.get("/"))
    # The session was ended, not just refused once: going back in time does not help.
    web_clock.now -= idle + 1
    assert is_login_redirect(client.get("/"))
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_absolute_timeout_despite_activity(app, client, make_user, web_clock):
    absolute = app.config["SECGOV_SESSION_ABSOLUTE_MINUTES"] * 60
    idle = app.config["SECGOV_SESSION_IDLE_MINUTES"] * 60
    assert idle < absolute
    login(client, make_user("alice"))
    step = idle - 60
    elapsed = 0
    while elapsed + step <= absolute:
        web_clock.now += step
        elapsed += step
        assert client.get("/").status_code == 200, f"signed out too early, after {elapsed} s"
    web_clock.now += step
    assert is_login_redirect(client.get("/"))


def test_timeouts_from_session_values(app, client, make_user):
    """The same limits, checked by ageing the timestamps stored in the session."""
    login(client, make_user("alice"))
    now = int(time.time())
    with client.session_transaction() as sess:
        sess["seen_at"] = now - app.config["SECGOV_SESSION_IDLE_MINUTES"] * 60 - 5
    assert is_login_redirect(client.get("/"))

    login(client, make_user("bob"))
    with client.session_transaction() as sess:
        sess["auth_at"] = now - app.config["SECGOV_SESSION_ABSOLUTE_MINUTES"] * 60 - 5
        sess["seen_at"] = now
    assert is_login_redirect(client.get("/"))

    login(client, make_user("carol"))
    with client.session_transaction() as sess:
        # A cookie without timestamps (forged or from an old release) is not a session.
        del sess["auth_at"]
    assert is_login_redirect(client.get("/"))


# --- cookies -------------------------------------------------------------------------------


def test_no_remember_me_cookie(app, client, make_user):
    make_user("alice")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "remember": "y", "remember_me": "on", "csrf_token": token},
    )
    assert response.status_code == 302
    set_cookies = response.headers.getlist("Set-Cookie")
    assert set_cookies
    assert all(c.split("=", 1)[0] == cookie_name(app) for c in set_cookies), set_cookies
    assert client.get_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token")) is None
    # Also after a few pages and a TOTP sign-in.
    client.get("/")
    client.get("/account")
    mfa_client = app.test_client()
    response = login(mfa_client, make_user("bob", mfa=True))
    assert response.status_code == 302
    for c in (client, mfa_client):
        names = {cookie.key for cookie in c._cookies.values()}
        assert names == {cookie_name(app)}, names


@pytest.fixture
def production_app(app, monkeypatch):
    """The app as deployed: cookie flags from the defaults, not the test overrides."""
    monkeypatch.delenv("SECGOV_COOKIE_SECURE", raising=False)
    prod = create_app(
        {
            "SECRET_KEY": "another-test-secret-key-not-for-production",
            "SECGOV_DATA_KEYS": app.config["SECGOV_DATA_KEYS"],
            "DATABASE_URL": app.config["DATABASE_URL"],
            "REDIS_URL": None,
        }
    )
    yield prod
    prod.extensions["secgov_engine"].dispose()


def _flags(header: str) -> dict[str, str]:
    parts = [p.strip() for p in header.split(";")]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else "") for p in parts[1:]}


def test_production_cookie_flags(production_app, make_user):
    assert production_app.config["SESSION_COOKIE_SECURE"] is True
    user = make_user("alice")
    client = production_app.test_client()
    https = {"base_url": "https://localhost"}

    page = client.get("/login", **https)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"username": user.username, "password": PASSWORD, "csrf_token": token}
    # Over HTTPS the CSRF check also wants a same-origin Referer, as browsers send it.
    assert client.post("/login", data=form, headers={"Referer": "https://evil.example/"}, **https).status_code == 400
    response = client.post("/login", data=form, headers={"Referer": "https://localhost/login"}, **https)
    assert response.status_code == 302
    assert client.get("/", **https).status_code == 200

    for resp in (page, response):
        headers = resp.headers.getlist("Set-Cookie")
        assert len(headers) == 1, headers
        assert headers[0].startswith(cookie_name(production_app) + "=")
        flags = _flags(headers[0])
        assert "secure" in flags
        assert "httponly" in flags
        assert flags.get("samesite", "").lower() in {"lax", "strict"}
        assert flags.get("path") == "/"
        assert "domain" not in flags
    cookie = client.get_cookie(cookie_name(production_app))
    assert cookie.secure and cookie.http_only and cookie.same_site.lower() == "lax"


def test_test_config_keeps_httponly_and_samesite(app, client):
    """Local development drops only Secure (no HTTPS); the other flags stay."""
    header = client.get("/login").headers["Set-Cookie"]
    flags = _flags(header)
    assert "httponly" in flags
    assert flags["samesite"].lower() == "lax"

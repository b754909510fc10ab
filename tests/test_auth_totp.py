"""TOTP: enrolment, the second sign-in step, wrong and replayed codes, throttling, who must enrol."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import unquote_to_bytes, urlsplit

import pyotp
import pytest
from defusedxml import ElementTree
from helpers import PASSWORD, csrf_token, login, totp_now
from sqlalchemy import text
from sqlmodel import Session, select

from secgov import auth
from secgov.models import AuditEntry, Setting

# A fixed instant five seconds into a 30-second step, so that codes never straddle a step.
T0 = 1_750_000_000 - 1_750_000_000 % 30 + 5


class Clock:
    """A stand-in for the time module inside secgov.auth (the TOTP checks)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(T0)
    monkeypatch.setattr(auth, "time", clock)
    return clock


def code_at(secret: str, when: float) -> str:
    return pyotp.TOTP(secret).at(when)


def wrong_code(secret: str, when: float) -> str:
    """A well-formed code that no step in the accepted window produces."""
    valid = {code_at(secret, when + 30 * d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def load_user(app, username: str):
    with Session(app.extensions["secgov_engine"], expire_on_commit=False) as s:
        return auth.find_user(s, username)


def audit_entries(app, action: str) -> list[AuditEntry]:
    with Session(app.extensions["secgov_engine"]) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def location_path(response) -> str:
    return urlsplit(response.headers["Location"]).path


def password_step(client, username: str):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})


def code_step(client, code: str):
    token = csrf_token(client, "/login/mfa")
    return client.post("/login/mfa", data={"code": code, "csrf_token": token})


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def cookie_session(app, client) -> dict:
    """What the browser's session cookie holds, decoded as Flask decodes it (signed, not encrypted:
    whoever holds the cookie reads all of it)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def enrol_page(client) -> tuple[str, str]:
    """The key shown on /account/mfa and the page's form token."""
    html = client.get("/account/mfa").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return secret, token


# --- enrolment -----------------------------------------------------------------------------


def qr_image(page: str) -> bytes:
    """The bytes of the enrolment page's QR image, read from its data: URI (RFC 2397)."""
    src = html.unescape(re.search(r'<img class="qr" src="([^"]+)"', page).group(1))
    header, _, data = src.partition(",")
    assert header.startswith("data:image/svg+xml"), header
    return base64.b64decode(data) if header.endswith(";base64") else unquote_to_bytes(data)


def test_enrolment_qr_code_is_an_svg_document(client, make_user):
    """The QR code is a standalone SVG image: its root element is in the SVG namespace, which a
    browser needs to draw an image from a data: URI (without it the image stays empty). The
    browser layer (tests/test_pages_browser.py) scans the code as rendered."""
    login(client, make_user("alice"))
    root = ElementTree.fromstring(qr_image(client.get("/account/mfa").get_data(as_text=True)))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.get("width")) >= 100 and root.get("width") == root.get("height")
    assert root.findall(".//{http://www.w3.org/2000/svg}path"), "the image draws no module"


def test_enrolment_on_account_page(app, client, make_user, clock):
    login(client, make_user("alice"))
    secret, token = enrol_page(client)
    # The key stays on the server; the session cookie carries none.
    assert secret not in json.dumps(cookie_session(app, client))
    assert load_user(app, "alice").totp_pending == secret

    # A wrong code does not turn anything on.
    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": wrong_code(secret, T0), "csrf_token": token}
    )
    assert response.status_code == 422
    assert load_user(app, "alice").totp_secret is None

    # Without the right password nothing is turned on either (a stolen cookie is not enough).
    for password in ("", "not the password"):
        response = client.post(
            "/account/mfa", data={"password": password, "code": code_at(secret, T0), "csrf_token": token}
        )
        assert response.status_code == 422
        assert load_user(app, "alice").totp_secret is None

    # The key comes from the server: a posted one is ignored.
    chosen = pyotp.random_base32()
    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": code_at(chosen, T0), "secret": chosen, "csrf_token": token}
    )
    assert response.status_code == 422
    assert load_user(app, "alice").totp_secret is None

    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": code_at(secret, T0), "csrf_token": token}
    )
    assert response.status_code == 302
    assert location_path(response) == "/account"
    user = load_user(app, "alice")
    assert user.totp_secret == secret
    assert user.totp_last_step == T0 // 30
    assert (user.totp_pending, user.totp_pending_at) == (None, None)
    assert 'class="secret"' not in client.get("/account/mfa").get_data(as_text=True)
    assert len(audit_entries(app, "user.mfa_enabled")) == 1

    # From now on the sign-in asks for a code, and the enrolment code cannot be used again.
    other = app.test_client()
    assert location_path(password_step(other, "alice")) == "/login/mfa"
    assert code_step(other, code_at(secret, T0)).status_code == 401
    assert not signed_in(other)
    clock.now += 30
    assert code_step(other, code_at(secret, clock.now)).status_code == 302
    assert signed_in(other)


def test_enrolment_key_stays_on_the_server(app, client, make_user, clock):
    login(client, make_user("alice"))
    secret, token = enrol_page(client)
    # The cookie (signed, not encrypted) carries no key, before and after a refused attempt.
    assert secret not in json.dumps(cookie_session(app, client))
    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": wrong_code(secret, T0), "csrf_token": token}
    )
    assert response.status_code == 422
    assert secret not in json.dumps(cookie_session(app, client))
    # The server keeps it, encrypted, and shows the same key again while it is fresh.
    with Session(app.extensions["secgov_engine"]) as s:
        raw = s.execute(text("SELECT totp_pending FROM \"user\" WHERE username = 'alice'")).scalar()
    assert raw and secret not in raw
    clock.now += auth.TOTP_PENDING_REUSE.total_seconds() - 60
    assert enrol_page(client)[0] == secret
    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": code_at(secret, clock.now), "csrf_token": token}
    )
    assert response.status_code == 302
    assert load_user(app, "alice").totp_secret == secret


def test_replayed_cookie_cannot_enrol_an_earlier_key(app, client, make_user, clock):
    login(client, make_user("alice"))
    first, token = enrol_page(client)
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    earlier_cookie = client.get_cookie(cookie_name).value
    # Later, the page shows a new key.
    clock.now += auth.TOTP_PENDING_REUSE.total_seconds() + 1
    second, token = enrol_page(client)
    assert second != first

    # The earlier cookie, sent again, does not bring back the earlier key.
    client.set_cookie(cookie_name, earlier_cookie)
    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": code_at(first, clock.now), "csrf_token": token}
    )
    assert response.status_code == 422
    assert load_user(app, "alice").totp_secret is None
    assert [json.loads(e.detail)["reason"] for e in audit_entries(app, "auth.mfa_failed")] == ["wrong_code"]

    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": code_at(second, clock.now), "csrf_token": token}
    )
    assert response.status_code == 302
    assert load_user(app, "alice").totp_secret == second


def test_expired_enrolment_key_is_refused_and_replaced(app, client, make_user, clock):
    login(client, make_user("alice"))
    secret, token = enrol_page(client)
    clock.now += auth.TOTP_PENDING_LIFETIME.total_seconds()
    response = client.post(
        "/account/mfa",
        data={"password": PASSWORD, "code": code_at(secret, clock.now), "csrf_token": token},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This key has expired." in html
    assert load_user(app, "alice").totp_secret is None
    assert [json.loads(e.detail) for e in audit_entries(app, "user.mfa_enable_failed")] == [{"reason": "expired"}]
    # The page shows a new key, which works.
    fresh = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    assert fresh != secret
    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": code_at(fresh, clock.now), "csrf_token": token}
    )
    assert response.status_code == 302
    assert load_user(app, "alice").totp_secret == fresh


def test_enrolment_page_does_not_reveal_an_existing_secret(app, client, make_user):
    user = make_user("alice", mfa=True)
    login(client, user)
    html = client.get("/account/mfa").get_data(as_text=True)
    assert user.totp_secret not in html


# --- second step ---------------------------------------------------------------------------


def test_password_alone_does_not_sign_in(app, client, make_user, clock):
    user = make_user("alice", mfa=True)
    response = password_step(client, "alice")
    assert response.status_code == 302
    assert location_path(response) == "/login/mfa"
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    assert not signed_in(client)
    for path in ("/account", "/departments"):
        assert location_path(client.get(path)) == "/login"

    response = code_step(client, code_at(user.totp_secret, T0))
    assert response.status_code == 302
    assert location_path(response) == "/"
    assert signed_in(client)
    assert load_user(app, "alice").totp_last_step == T0 // 30


def test_code_step_without_password_step(client, make_user, clock):
    user = make_user("alice", mfa=True)
    client.get("/login")
    response = client.post(
        "/login/mfa", data={"code": code_at(user.totp_secret, T0), "csrf_token": csrf_token(client, "/login")}
    )
    assert response.status_code == 302
    assert location_path(response) == "/login"
    assert not signed_in(client)


def test_wrong_code_refused(app, client, make_user, clock):
    user = make_user("alice", mfa=True)
    password_step(client, "alice")
    bad_codes = (wrong_code(user.totp_secret, T0), "12345", "abcdef", code_at(user.totp_secret, T0 + 90))
    assert len(bad_codes) < app.extensions["secgov_throttle"].per_account
    for bad in bad_codes:
        response = code_step(client, bad)
        assert response.status_code == 401, bad
        assert not signed_in(client)
    failures = audit_entries(app, "auth.mfa_failed")
    assert len(failures) == len(bad_codes)
    assert {json.loads(e.detail)["reason"] for e in failures} == {"wrong_code"}
    assert load_user(app, "alice").totp_last_step is None
    # The right code still works afterwards (fewer failures than the limit).
    assert code_step(client, code_at(user.totp_secret, T0)).status_code == 302
    assert signed_in(client)


def test_replayed_code_refused(app, make_user, clock):
    user = make_user("alice", mfa=True)
    secret = user.totp_secret
    first = app.test_client()
    password_step(first, "alice")
    code = code_at(secret, T0)
    assert code_step(first, code).status_code == 302

    # The same code in another browser, in the same time step: refused.
    thief = app.test_client()
    assert location_path(password_step(thief, "alice")) == "/login/mfa"
    assert code_step(thief, code).status_code == 401
    assert not signed_in(thief)
    # Still refused a step later, while clock drift would otherwise accept it.
    clock.now += 30
    assert code_step(thief, code).status_code == 401
    assert not signed_in(thief)
    reasons = [json.loads(e.detail)["reason"] for e in audit_entries(app, "auth.mfa_failed")]
    assert reasons == ["replayed", "replayed"]

    # The next step's code is fresh and works.
    assert code_step(thief, code_at(secret, clock.now)).status_code == 302
    assert signed_in(thief)
    assert load_user(app, "alice").totp_last_step == T0 // 30 + 1


def test_code_attempts_throttled(app, make_user, clock):
    user = make_user("alice", mfa=True)
    limit = app.extensions["secgov_throttle"].per_account
    client = app.test_client()
    password_step(client, "alice")
    for _ in range(limit):
        assert code_step(client, wrong_code(user.totp_secret, T0)).status_code == 401
    # Now even the right code is refused...
    response = code_step(client, code_at(user.totp_secret, T0))
    assert response.status_code == 429
    assert not signed_in(client)
    # ...and starting the sign-in again, from another browser and address, does not help.
    other = app.test_client()
    token = csrf_token(other, "/login")
    response = other.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert location_path(response) == "/login/mfa"
    token = csrf_token(other, "/login/mfa")
    response = other.post(
        "/login/mfa",
        data={"code": code_at(user.totp_secret, T0), "csrf_token": token},
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert response.status_code == 429
    assert not signed_in(other)
    assert audit_entries(app, "auth.mfa_throttled")
    assert load_user(app, "alice").totp_last_step is None


def test_mfa_disable_needs_a_fresh_code(app, client, make_user, clock):
    user = make_user("alice", mfa=True)
    password_step(client, "alice")
    code = code_at(user.totp_secret, T0)
    code_step(client, code)
    for bad in (code, wrong_code(user.totp_secret, T0)):
        client.post("/account/mfa/disable", data={"code": bad, "csrf_token": csrf_token(client, "/account")})
        assert load_user(app, "alice").totp_secret == user.totp_secret
    clock.now += 30
    response = client.post(
        "/account/mfa/disable",
        data={"code": code_at(user.totp_secret, clock.now), "csrf_token": csrf_token(client, "/account")},
    )
    assert response.status_code == 302
    assert load_user(app, "alice").totp_secret is None


# --- who must enrol ------------------------------------------------------------------------


def must_enrol(response) -> bool:
    return response.status_code == 302 and location_path(response) == "/account/mfa"


def test_admin_without_totp_must_enrol(app, client, make_user):
    admin = make_user("root", roles=("admin",))
    response = login(client, admin)
    assert response.status_code == 302
    for path in ("/", "/departments", "/admin/users", "/admin/settings", "/audit"):
        assert must_enrol(client.get(path)), path
    # The enrolment pages and the account page stay reachable.
    assert client.get("/account/mfa").status_code == 200
    assert client.get("/account").status_code == 200

    secret, token = enrol_page(client)
    response = client.post(
        "/account/mfa", data={"password": PASSWORD, "code": pyotp.TOTP(secret).now(), "csrf_token": token}
    )
    assert response.status_code == 302
    assert client.get("/admin/users").status_code == 200


def test_officer_without_totp_is_not_asked_by_default(client, make_user):
    login(client, make_user("alice"))
    assert client.get("/departments").status_code == 200


def test_admin_cannot_turn_totp_off(app, client, make_user):
    admin = make_user("root", roles=("admin",), mfa=True)
    login(client, admin)
    token = csrf_token(client, "/account")
    response = client.post("/account/mfa/disable", data={"code": totp_now(admin.totp_secret, 1), "csrf_token": token})
    assert response.status_code == 302
    assert load_user(app, "root").totp_secret == admin.totp_secret
    assert not audit_entries(app, "user.mfa_disabled")


def _save_settings(admin_client, roles: list[str]):
    token = csrf_token(admin_client, "/admin/settings")
    return admin_client.post(
        "/admin/settings", data={"setting": "mfa_required_roles", "mfa_required_roles": roles, "csrf_token": token}
    )


def test_settings_change_who_must_enrol(app, make_user):
    admin = make_user("root", roles=("admin",), mfa=True)
    admin_client = app.test_client()
    login(admin_client, admin)
    officer = app.test_client()
    login(officer, make_user("alice", roles=("officer",)))
    second_admin = app.test_client()
    login(second_admin, make_user("root2", roles=("admin",)))

    assert officer.get("/departments").status_code == 200
    assert must_enrol(second_admin.get("/departments"))

    # Officers too.
    response = _save_settings(admin_client, ["admin", "officer"])
    assert response.status_code == 302
    with Session(app.extensions["secgov_engine"]) as s:
        assert json.loads(s.get(Setting, "mfa_required_roles").value) == ["admin", "officer"]
    assert must_enrol(officer.get("/departments"))
    assert must_enrol(second_admin.get("/departments"))
    assert "officer" in audit_entries(app, "setting.changed")[-1].detail

    # Nobody: the admin without TOTP may now work.
    assert _save_settings(admin_client, []).status_code == 302
    assert officer.get("/departments").status_code == 200
    assert second_admin.get("/admin/users").status_code == 200

    # An unknown role is refused and the stored value stays.
    response = _save_settings(admin_client, ["admin", "superuser"])
    assert response.status_code == 422
    with Session(app.extensions["secgov_engine"]) as s:
        assert json.loads(s.get(Setting, "mfa_required_roles").value) == []


def test_settings_page_is_for_admins_only(app, client, make_user):
    login(client, make_user("alice", roles=("officer", "auditor")))
    assert client.get("/admin/settings").status_code == 403
    response = client.post(
        "/admin/settings", data={"mfa_required_roles": [], "csrf_token": csrf_token(client, "/account")}
    )
    assert response.status_code == 403
    with Session(app.extensions["secgov_engine"]) as s:
        assert s.get(Setting, "mfa_required_roles") is None

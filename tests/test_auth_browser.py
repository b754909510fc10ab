"""Browser defences: CSRF on state-changing forms, security headers, safe redirects after sign-in."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import pytest
from helpers import PASSWORD, csrf_token, login, totp_now
from sqlalchemy import inspect, text

from secgov.app import create_app

NEW_PASSWORD = "a brand new passphrase 42"


def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    engine = app.extensions["secgov_engine"]
    tables = sorted(t for t in inspect(engine).get_table_names() if t != "alembic_version")
    with engine.connect() as conn:
        return {t: sorted(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{t}"'))) for t in tables}


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def bad_tokens(app) -> list[dict]:
    """No token, an empty one, junk, and a valid token of another browser's session."""
    other = app.test_client()
    foreign = csrf_token(other, "/login")
    return [{}, {"csrf_token": ""}, {"csrf_token": "junk"}, {"csrf_token": foreign}]


# --- CSRF ----------------------------------------------------------------------------------


def test_csrf_login(app, client, make_user):
    make_user("alice")
    client.get("/login")
    before = snapshot(app)
    for extra in bad_tokens(app):
        response = client.post("/login", data={"username": "alice", "password": PASSWORD} | extra)
        assert response.status_code == 400, extra
        assert not signed_in(client)
    assert snapshot(app) == before
    # Control: the same form with the page's token signs in.
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert snapshot(app) != before


def test_csrf_logout(app, client, make_user):
    login(client, make_user("alice"))
    client.get("/")
    before = snapshot(app)
    for extra in bad_tokens(app):
        assert client.post("/logout", data=extra).status_code == 400, extra
        assert signed_in(client)
    assert snapshot(app) == before
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 302
    assert not signed_in(client)


def test_csrf_password_change(app, client, make_user):
    login(client, make_user("alice"))
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    client.get("/account")
    before = snapshot(app)
    for extra in bad_tokens(app):
        assert client.post("/account/password", data=form | extra).status_code == 400, extra
    assert snapshot(app) == before
    assert signed_in(client)
    response = client.post("/account/password", data=form | {"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302
    assert snapshot(app)["user"] != before["user"]


def test_csrf_admin_user_create(app, client, make_user):
    login(client, make_user("root", roles=("admin",), mfa=True))
    form = {"username": "newbie", "department": "city", "roles": ["officer"], "password": NEW_PASSWORD}
    client.get("/admin/users/new")
    before = snapshot(app)
    for extra in bad_tokens(app):
        assert client.post("/admin/users/new", data=form | extra).status_code == 400, extra
    assert snapshot(app) == before
    response = client.post("/admin/users/new", data=form | {"csrf_token": csrf_token(client, "/admin/users/new")})
    assert response.status_code == 302
    after = snapshot(app)
    assert len(after["user"]) == len(before["user"]) + 1


def test_csrf_refused_page_is_clear(client):
    response = client.post("/login", data={"username": "x", "password": "y"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Traceback" not in response.get_data(as_text=True)


def test_csrf_anonymous_admin_post(app, client):
    """An anonymous forged POST is refused before anything else runs."""
    before = snapshot(app)
    response = client.post(
        "/admin/users/new", data={"username": "x1", "department": "city", "roles": ["admin"], "password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert snapshot(app) == before


# --- security headers ------------------------------------------------------------------------


def csp(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy"
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def check_html_headers(response) -> None:
    assert response.mimetype == "text/html"
    policy = csp(response)
    script = policy.get("script-src", policy.get("default-src"))
    assert script, "no script-src nor default-src"
    assert "'unsafe-inline'" not in script
    assert "'unsafe-eval'" not in script
    assert "*" not in script and "data:" not in script
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }
    html = response.get_data(as_text=True)
    # The policy forbids inline script, so the pages must not need any.
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert "src=" in tag, tag
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I), "inline event handler"
    assert "javascript:" not in html.lower()


def no_store(response) -> bool:
    return "no-store" in response.headers.get("Cache-Control", "")


def test_headers_anonymous_pages(client):
    for path in ("/login", "/no-such-page"):
        response = client.get(path)
        check_html_headers(response)
        assert no_store(response)


@pytest.mark.parametrize("path", ["/", "/departments", "/account", "/account/mfa", "/admin/users", "/admin/settings"])
def test_headers_pages_with_data(app, client, make_user, path):
    login(client, make_user("root", roles=("admin",), mfa=True))
    response = client.get(path)
    assert response.status_code == 200
    check_html_headers(response)
    assert no_store(response)


def test_headers_on_error_and_api(app, client, make_user, api_token):
    user = make_user("alice")
    login(client, user)
    forbidden = client.get("/admin/users")
    assert forbidden.status_code == 403
    check_html_headers(forbidden)
    api = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {api_token(user)}"})
    assert api.status_code == 200
    assert no_store(api)
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_headers_after_mfa_sign_in(app, client, make_user):
    user = make_user("alice", mfa=True)
    token = csrf_token(client, "/login")
    client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    page = client.get("/login/mfa")
    check_html_headers(page)
    assert no_store(page)
    # The password step starts a new session, so the old form token is gone with it.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.post("/login/mfa", data={"code": totp_now(user.totp_secret), "csrf_token": token}).status_code == 302


HSTS = "max-age=31536000; includeSubDomains"


def hsts(response) -> str | None:
    return response.headers.get("Strict-Transport-Security")


def test_hsts_over_https_only(app, client):
    """The test app is plain-HTTP local development (cookies not Secure): HSTS only on a request
    that came over HTTPS, never on plain HTTP, and a client cannot claim HTTPS by a header when
    no proxy is trusted."""
    assert hsts(client.get("/login")) is None
    assert hsts(client.get("/login", headers={"X-Forwarded-Proto": "https"})) is None
    assert hsts(client.get("/login", base_url="https://localhost")) == HSTS
    assert hsts(client.get("/no-such-page", base_url="https://localhost")) == HSTS


def test_hsts_behind_the_trusted_proxy(app, database_url):
    proxied = create_app({**app.config, "DATABASE_URL": database_url, "SECGOV_TRUSTED_PROXIES": 1})
    try:
        browser = proxied.test_client()
        assert hsts(browser.get("/login", headers={"X-Forwarded-Proto": "https"})) == HSTS
        assert hsts(browser.get("/login", headers={"X-Forwarded-Proto": "http"})) is None
    finally:
        proxied.extensions["secgov_engine"].dispose()


def test_hsts_when_the_deployment_says_https(app, client, make_user, api_token):
    """Secure cookies (the default outside `make run`) mean the site is served over HTTPS, even
    when the proxy in front is not declared: every answer, pages and API, carries HSTS."""
    app.config["SESSION_COOKIE_SECURE"] = True
    assert hsts(client.get("/login")) == HSTS
    token = api_token(make_user("alice"))
    assert hsts(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})) == HSTS


# --- safe redirects ------------------------------------------------------------------------

EVIL = [
    "https://evil.example/",
    "http://evil.example/x",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https:/evil.example",
    "https:evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "evil.example",
]


def assert_local(location: str) -> None:
    parts = urlsplit(location)
    assert parts.scheme in ("", "http"), location
    assert parts.netloc in ("", "localhost"), location
    assert parts.path.startswith("/") and not parts.path.startswith("//"), location
    assert "\\" not in location and "evil" not in location, location


def sign_in_with_next(client, next_url: str, *, in_form: bool):
    """Sign in with next in the query string (as linked) or in the posted form (as forged)."""
    page = client.get("/login?next=" + quote(next_url, safe=""))
    html = page.get_data(as_text=True)
    form_next = re.search(r'name="next" value="([^"]*)"', html.split('action="/login"')[1]).group(1)
    assert "evil" not in form_next
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    data = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    if in_form:
        return client.post("/login", data=data | {"next": next_url})
    return client.post("/login?next=" + quote(next_url, safe=""), data=data)


@pytest.mark.parametrize("in_form", [False, True], ids=["query", "form"])
@pytest.mark.parametrize("target", EVIL)
def test_login_next_stays_local(app, make_user, target, in_form):
    make_user("alice")
    client = app.test_client()
    response = sign_in_with_next(client, target, in_form=in_form)
    assert response.status_code == 302
    assert_local(response.headers["Location"])
    assert signed_in(client)


def test_login_next_local_path_is_kept(app, make_user):
    make_user("alice")
    response = sign_in_with_next(app.test_client(), "/departments?x=1", in_form=False)
    assert response.headers["Location"] == "/departments?x=1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_login_next_stays_local_with_mfa(app, make_user, target):
    user = make_user("alice", mfa=True)
    client = app.test_client()
    response = sign_in_with_next(client, target, in_form=True)
    assert urlsplit(response.headers["Location"]).path == "/login/mfa"
    token = csrf_token(client, "/login/mfa")
    response = client.post("/login/mfa", data={"code": totp_now(user.totp_secret), "csrf_token": token})
    assert response.status_code == 302
    assert_local(response.headers["Location"])


def test_anonymous_redirect_keeps_local_next(client):
    response = client.get("/departments?page=2")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert_local(location)
    assert "next=" in location

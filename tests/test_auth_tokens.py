"""API tokens (shown once, stored as SHA-256, bearer only) and the audit trail of refusals."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from helpers import PASSWORD, csrf_token, login
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from secgov import directory
from secgov.authz import Actor
from secgov.models import ApiToken, AuditEntry

TOKEN_RE = re.compile(r'<code class="secret">(sgv_[A-Za-z0-9_\-]+)</code>')


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_api_401(response) -> None:
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == "unauthorized"
    assert isinstance(error["message"], str) and error["message"]


def all_rows_text(app) -> str:
    engine = app.extensions["secgov_engine"]
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for t in tables for row in conn.execute(text(f'SELECT * FROM "{t}"')))


def audit(app, action: str) -> list[AuditEntry]:
    with Session(app.extensions["secgov_engine"]) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def create_token_on_page(client, name: str = "ci") -> tuple[str, str]:
    response = client.post("/account/tokens", data={"name": name, "csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    tokens = TOKEN_RE.findall(html)
    assert len(tokens) == 1
    return tokens[0], html


def disable(app, username: str) -> None:
    with app.test_request_context(), Session(app.extensions["secgov_engine"], expire_on_commit=False) as s:
        user = directory.user_by_username(s, username, Actor.system())
        directory.update_user(s, user, directory.UserUpdate(disabled=True, version=user.version), Actor.system())
        s.commit()


# --- tokens --------------------------------------------------------------------------------


def test_token_shown_once_and_only_hash_stored(app, client, make_user):
    login(client, make_user("alice"))
    plain, _html = create_token_on_page(client, "deploy bot")

    with Session(app.extensions["secgov_engine"]) as s:
        rows = s.exec(select(ApiToken)).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.name == "deploy bot"
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain.startswith(row.prefix) and len(row.prefix) < len(plain) // 3
    # Nowhere in the database, audit log included, is the token's text.
    everything = all_rows_text(app)
    assert plain not in everything
    assert plain[len(row.prefix) :] not in everything

    # The account page lists the token without its text afterwards.
    again = client.get("/account").get_data(as_text=True)
    assert plain not in again
    assert "deploy bot" in again
    assert not TOKEN_RE.search(again)


def test_token_works_as_bearer(app, client, make_user):
    login(client, make_user("alice"))
    plain, _ = create_token_on_page(client)
    api = app.test_client()
    response = api.get("/api/v1/me", headers=bearer(plain))
    assert response.status_code == 200
    assert response.json["username"] == "alice"
    # The scheme name is case-insensitive (RFC 9110), the token is not.
    assert api.get("/api/v1/me", headers={"Authorization": f"bearer {plain}"}).status_code == 200
    assert_api_401(api.get("/api/v1/me", headers=bearer(plain.upper())))


def test_revoked_token_is_refused(app, client, make_user):
    login(client, make_user("alice"))
    plain, _ = create_token_on_page(client)
    api = app.test_client()
    assert api.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    with Session(app.extensions["secgov_engine"]) as s:
        token_id = s.exec(select(ApiToken.id)).one()
    response = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302
    assert_api_401(api.get("/api/v1/me", headers=bearer(plain)))
    with Session(app.extensions["secgov_engine"]) as s:
        assert s.get(ApiToken, token_id).revoked_at is not None


def test_cannot_revoke_someone_elses_token(app, client, make_user, api_token):
    alice = make_user("alice")
    plain = api_token(alice)
    login(client, make_user("bob"))
    with Session(app.extensions["secgov_engine"]) as s:
        token_id = s.exec(select(ApiToken.id)).one()
    response = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 404
    assert app.test_client().get("/api/v1/me", headers=bearer(plain)).status_code == 200


def test_token_of_disabled_user_is_refused(app, make_user, api_token):
    plain = api_token(make_user("alice"))
    api = app.test_client()
    assert api.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    disable(app, "alice")
    assert_api_401(api.get("/api/v1/me", headers=bearer(plain)))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Token sgv_abc",
        "sgv_abc",
        "Bearer sgv_not-a-real-token",
        "Bearer not-even-prefixed",
        "Bearer sgv_" + "a" * 300,
        "Bearer sgv_abc sgv_def",
    ],
)
def test_malformed_authorization_header(app, make_user, api_token, header):
    api_token(make_user("alice"))
    assert_api_401(app.test_client().get("/api/v1/me", headers={"Authorization": header}))


def test_valid_token_under_another_scheme_is_refused(app, make_user, api_token):
    plain = api_token(make_user("alice"))
    for header in (f"Basic {plain}", f"Token {plain}", plain, f"Bearer{plain}"):
        assert_api_401(app.test_client().get("/api/v1/me", headers={"Authorization": header}))


def test_session_cookie_does_not_authenticate_the_api(app, client, make_user):
    admin = make_user("root", roles=("admin",), mfa=True)
    login(client, admin)
    assert client.get("/admin/users").status_code == 200
    assert_api_401(client.get("/api/v1/me"))
    assert_api_401(client.get("/api/v1/users"))
    # A write through the API with only the cookie (no CSRF token needed there) changes nothing.
    response = client.post(
        "/api/v1/users", json={"username": "sneaky", "department": "city", "roles": ["admin"], "password": "x" * 20}
    )
    assert_api_401(response)
    with Session(app.extensions["secgov_engine"]) as s:
        assert directory.auth.find_user(s, "sneaky") is None


def test_no_token_answers_401_json(app):
    assert_api_401(app.test_client().get("/api/v1/me"))


# --- audit trail ---------------------------------------------------------------------------


def attempt(client, username: str, password: str, ip: str = "127.0.0.1"):
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_failed_logins_are_audited(app, make_user):
    alice = make_user("alice")
    assert attempt(app.test_client(), "alice", "wrong password!", ip="198.51.100.1").status_code == 401
    assert attempt(app.test_client(), "ghost", "wrong password!", ip="198.51.100.2").status_code == 401
    entries = audit(app, "auth.login_failed")
    assert [(e.actor, e.actor_id, e.ip, e.channel) for e in entries] == [
        ("alice", alice.id, "198.51.100.1", "web"),
        ("ghost", None, "198.51.100.2", "web"),
    ]
    assert all(json.loads(e.detail)["reason"] == "credentials" for e in entries)
    # The password tried is never written down.
    assert "wrong password!" not in all_rows_text(app)

    disable(app, "alice")
    attempt(app.test_client(), "alice", PASSWORD)
    assert json.loads(audit(app, "auth.login_failed")[-1].detail)["reason"] == "disabled"


def test_successful_login_is_audited(app, client, make_user):
    login(client, make_user("alice"))
    entries = audit(app, "auth.login")
    assert [e.actor for e in entries] == ["alice"]


def test_denied_access_is_audited(app, client, make_user):
    login(client, make_user("alice", roles=("officer",)))
    assert client.get("/admin/users").status_code == 403
    token = csrf_token(client, "/account")
    assert client.post("/admin/settings", data={"mfa_required_roles": [], "csrf_token": token}).status_code == 403
    entries = audit(app, "authz.denied")
    assert [(e.actor, json.loads(e.detail)["path"], json.loads(e.detail)["method"]) for e in entries] == [
        ("alice", "/admin/users", "GET"),
        ("alice", "/admin/settings", "POST"),
    ]


def test_denied_api_access_is_audited(app, make_user, api_token):
    plain = api_token(make_user("alice", roles=("officer",)))
    response = app.test_client().get("/api/v1/users", headers=bearer(plain))
    assert response.status_code == 403
    entries = audit(app, "authz.denied")
    assert len(entries) == 1 and entries[0].channel == "api"


def test_throttled_login_is_audited(app, make_user):
    make_user("alice")
    limit = app.extensions["secgov_throttle"].per_account
    for _ in range(limit):
        attempt(app.test_client(), "alice", "wrong password!")
    assert not audit(app, "auth.login_throttled")
    assert attempt(app.test_client(), "alice", PASSWORD, ip="198.51.100.7").status_code == 429
    entries = audit(app, "auth.login_throttled")
    assert [(e.actor, e.ip) for e in entries] == [("alice", "198.51.100.7")]
    # A throttled try is not also counted as a plain failure.
    assert len(audit(app, "auth.login_failed")) == limit


def test_rejected_token_is_audited(app):
    assert_api_401(
        app.test_client().get("/api/v1/me", headers=bearer("sgv_forged"), environ_base={"REMOTE_ADDR": "198.51.100.9"})
    )
    entries = audit(app, "auth.token_rejected")
    assert [(e.actor, e.channel, e.ip) for e in entries] == [("anonymous", "api", "198.51.100.9")]
    assert "sgv_forged" not in all_rows_text(app)

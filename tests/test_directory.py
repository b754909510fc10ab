"""Departments and users: the tree, scope, concurrency and bad input, through pages and API."""

from __future__ import annotations

import json

import pytest
from helpers import csrf_token, login, totp_now
from sqlmodel import func, select

from secgov.models import AuditEntry, Department, User


@pytest.fixture
def tree(make_department):
    """city > a > a1, city > b."""
    make_department("city")
    make_department("a", parent="city")
    make_department("a1", parent="a", kind="unit")
    make_department("b", parent="city")


@pytest.fixture
def admin_api(client, make_user, api_token, tree):
    admin = make_user("root.admin", roles=("admin",), department="city")
    token = api_token(admin)

    def call(method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return client.open(path, method=method, headers=headers, **kwargs)

    return call


def count(session, model) -> int:
    session.rollback()
    return session.exec(select(func.count()).select_from(model)).one()


def test_paths_follow_the_tree_and_moves_rewrite_the_subtree(admin_api, session):
    response = admin_api("PATCH", "/api/v1/departments/a", json={"parent": "b", "version": 1})
    assert response.status_code == 200, response.json
    assert response.json["parent"] == "b"
    session.rollback()
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    assert depts["a"].path == f"{depts['b'].path}{depts['a'].id}/"
    assert depts["a1"].path == f"{depts['a'].path}{depts['a1'].id}/"


def test_a_department_cannot_move_under_itself(admin_api, session):
    before = count(session, AuditEntry)
    response = admin_api("PATCH", "/api/v1/departments/a", json={"parent": "a1", "version": 1})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid"
    assert count(session, AuditEntry) == before


def test_second_writer_gets_a_conflict(admin_api):
    first = admin_api("PATCH", "/api/v1/departments/a1", json={"name": "First", "version": 1})
    assert first.status_code == 200
    assert first.json["version"] == 2
    second = admin_api("PATCH", "/api/v1/departments/a1", json={"name": "Second", "version": 1})
    assert second.status_code == 409
    assert second.json["error"]["code"] == "conflict"
    assert admin_api("GET", "/api/v1/departments/a1").json["name"] == "First"


def test_version_is_required_on_updates(admin_api):
    response = admin_api("PATCH", "/api/v1/departments/a1", json={"name": "No version"})
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "version"


def test_second_browser_gets_a_conflict_on_the_user_form(app, client, make_user, tree, session):
    admin = make_user("root.admin", roles=("admin",), department="city", mfa=True)
    make_user("target", roles=("officer",), department="a1")
    assert login(client, admin).status_code == 302
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    # The second browser uses the next code: a code is accepted once.
    assert login(other, admin, code=totp_now(admin.totp_secret, 1)).status_code == 302
    form = {"display_name": "One", "department": "a1", "roles": ["officer"], "version": "1"}
    first = client.post("/admin/users/target", data={**form, "csrf_token": csrf_token(client, "/admin/users/target")})
    assert first.status_code == 302
    second = other.post(
        "/admin/users/target",
        data={**form, "display_name": "Two", "csrf_token": csrf_token(other, "/admin/users/target")},
    )
    assert second.status_code == 422
    assert "changed by someone else" in second.get_data(as_text=True)
    session.rollback()
    assert session.exec(select(User).where(User.username == "target")).one().display_name == "One"


def test_duplicate_code_and_unknown_parent(admin_api, session):
    before = count(session, Department)
    dup = admin_api(
        "POST", "/api/v1/departments", json={"code": "a", "name": "Again", "kind": "bureau", "parent": "city"}
    )
    assert dup.status_code == 409
    unknown = admin_api(
        "POST", "/api/v1/departments", json={"code": "c", "name": "C", "kind": "bureau", "parent": "zz"}
    )
    assert unknown.status_code == 422
    assert unknown.json["error"]["details"][0]["field"] == "parent"
    second_city = admin_api("POST", "/api/v1/departments", json={"code": "c2", "name": "City 2", "kind": "city"})
    assert second_city.status_code == 422
    assert count(session, Department) == before


def test_department_with_children_or_users_is_not_deleted(admin_api, make_user, session):
    make_user("someone", department="a1")
    assert admin_api("DELETE", "/api/v1/departments/a").status_code == 409
    assert admin_api("DELETE", "/api/v1/departments/a1").status_code == 409
    assert admin_api("DELETE", "/api/v1/departments/b").status_code == 204
    assert count(session, Department) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "bad_request"),
        ("[1, 2]", "application/json", 400, "bad_request"),
        ('{"code": "x", "name": "X", "kind": "unit", "parent": "a", "extra": 1}', "application/json", 422, "invalid"),
        ('{"code": 5, "name": "X", "kind": "unit", "parent": "a"}', "application/json", 422, "invalid"),
        ('{"code": "x", "name": "X", "kind": "galaxy", "parent": "a"}', "application/json", 422, "invalid"),
        ('{"code": "-x", "name": "X", "kind": "unit", "parent": "a"}', "application/json", 422, "invalid"),
        ("code=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bad_bodies_get_clear_errors_and_change_nothing(admin_api, session, body, content_type, status, code):
    before = count(session, Department)
    response = admin_api("POST", "/api/v1/departments", data=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    assert count(session, Department) == before


def test_oversized_body_is_refused(app, admin_api, session):
    app.config["MAX_JSON_BYTES"] = 1000
    before = count(session, Department)
    big = {"code": "x", "name": "X" * 5000, "kind": "unit", "parent": "a"}
    response = admin_api("POST", "/api/v1/departments", json=big)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"
    assert count(session, Department) == before


def test_pagination_and_bad_paging(admin_api):
    page = admin_api("GET", "/api/v1/departments?page=2&page_size=2")
    assert page.status_code == 200
    assert page.json["total"] == 4
    assert page.json["page"] == 2
    assert len(page.json["items"]) == 2
    for query in ("page=0", "page_size=1000", "page=abc", "unknown=1"):
        response = admin_api("GET", f"/api/v1/departments?{query}")
        assert response.status_code == 422, query
        assert response.json["error"]["code"] == "invalid"


def test_users_api_create_update_and_scope(client, make_user, api_token, tree, session):
    bureau_admin = make_user("a.admin", roles=("admin",), department="a")
    make_user("b.user", roles=("officer",), department="b")
    headers = {"Authorization": f"Bearer {api_token(bureau_admin)}"}
    listed = client.get("/api/v1/users", headers=headers).json
    assert {u["username"] for u in listed["items"]} == {"a.admin"}
    assert listed["total"] == 1
    assert client.get("/api/v1/users/b.user", headers=headers).status_code == 404
    created = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "new.one",
            "department": "a1",
            "roles": ["officer", "auditor"],
            "password": "a long password 1",
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["roles"] == ["auditor", "officer"]
    assert "password" not in created.json and "password_hash" not in created.json
    weak = client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "weak", "department": "a1", "roles": ["officer"], "password": "short"},
    )
    assert weak.status_code == 422
    elsewhere = client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "far", "department": "b", "roles": ["officer"], "password": "a long password 1"},
    )
    assert elsewhere.status_code == 422
    changed = client.patch("/api/v1/users/new.one", headers=headers, json={"roles": ["leader"], "version": 1})
    assert changed.status_code == 200
    assert changed.json["roles"] == ["leader"]
    session.rollback()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "user.updated")).one()
    assert '"before"' in entry.detail and '"leader"' in entry.detail


def test_admin_cannot_remove_own_admin_role_or_disable_self(client, make_user, api_token, tree):
    admin = make_user("root.admin", roles=("admin",), department="city")
    headers = {"Authorization": f"Bearer {api_token(admin)}"}
    assert (
        client.patch("/api/v1/users/root.admin", headers=headers, json={"roles": ["officer"], "version": 1}).status_code
        == 422
    )
    assert (
        client.patch("/api/v1/users/root.admin", headers=headers, json={"disabled": True, "version": 1}).status_code
        == 422
    )


def test_department_pages(client, make_user, tree):
    admin = make_user("root.admin", roles=("admin",), department="city", mfa=True)
    assert login(client, admin).status_code == 302
    page = client.get("/departments").get_data(as_text=True)
    for code in ("city", "a", "a1", "b"):
        assert f"<code>{code}</code>" in page
    token = csrf_token(client, "/admin/departments/new")
    bad = client.post(
        "/admin/departments/new", data={"code": "", "name": "", "kind": "unit", "parent": "a", "csrf_token": token}
    )
    assert bad.status_code == 422
    good = client.post(
        "/admin/departments/new", data={"code": "a2", "name": "A2", "kind": "unit", "parent": "a", "csrf_token": token}
    )
    assert good.status_code == 302
    assert "<code>a2</code>" in client.get("/departments").get_data(as_text=True)


def test_scope_hides_other_bureaus_everywhere(client, make_user, api_token, tree):
    officer = make_user("a.officer", roles=("officer",), department="a")
    assert login(client, officer).status_code == 302
    page = client.get("/departments").get_data(as_text=True)
    assert "<code>a1</code>" in page
    assert "<code>b</code>" not in page
    headers = {"Authorization": f"Bearer {api_token(officer)}"}
    codes = {d["code"] for d in client.get("/api/v1/departments", headers=headers).json["items"]}
    assert codes == {"a", "a1"}
    assert client.get("/api/v1/departments/b", headers=headers).status_code == 404


def test_user_page_acts_on_the_user_shown_not_the_admin(client, make_user, tree):
    admin = make_user("root.admin", roles=("admin",), department="city", mfa=True)
    make_user("bob", roles=("officer",), department="a1")
    assert login(client, admin).status_code == 302
    page = client.get("/admin/users/bob", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "User bob" in page
    assert 'action="/admin/users/bob/password"' in page
    assert 'action="/admin/users/bob/sign-out"' in page
    assert "/admin/users/root.admin/" not in page
    new_page = client.get("/admin/users/new").get_data(as_text=True)
    assert 'name="username"' in new_page


@pytest.mark.parametrize("name", ["system", "System", "anonymous", "scheduler"])
def test_the_applications_own_names_are_not_user_names(client, make_user, api_token, tree, session, name):
    """The audit log shows "system" as the application itself: no person may be called so."""
    admin = {"Authorization": f"Bearer {api_token(make_user('root', roles=('admin',)))}", "Accept-Language": "en"}
    body = {"username": name, "department": "city", "roles": ["officer"], "password": "a long enough password"}
    response = client.post("/api/v1/users", json=body, headers=admin)
    assert response.status_code == 422
    assert response.json["error"]["details"] == [
        {"field": "username", "message": "This user name is reserved for the application."}
    ]
    session.rollback()
    assert session.exec(select(User).where(func.lower(User.username) == name.lower())).first() is None


def test_a_departments_operator_kind_is_set_shown_and_audited(admin_api, session):
    created = admin_api(
        "POST", "/api/v1/departments", json={"code": "cac", "name": "CAC", "kind": "bureau", "parent": "city",
                                             "operator_kind": "central_or_state_organ"},
    )  # fmt: skip
    assert created.status_code == 201, created.json
    assert created.json["operator_kind"] == "central_or_state_organ"
    assert admin_api("GET", "/api/v1/departments/a").json["operator_kind"] == "other_operator"  # the default
    changed = admin_api("PATCH", "/api/v1/departments/a", json={"operator_kind": "cii_operator", "version": 1})
    assert changed.status_code == 200, changed.json
    assert changed.json["operator_kind"] == "cii_operator"
    session.rollback()
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "department.updated", AuditEntry.object_id == "a")
    ).one()
    detail = json.loads(entry.detail)
    assert (detail["before"]["operator_kind"], detail["after"]["operator_kind"]) == ("other_operator", "cii_operator")
    # A kind outside the catalog's list: refused, nothing changed.
    before = count(session, AuditEntry)
    bad = admin_api("PATCH", "/api/v1/departments/a", json={"operator_kind": "isp", "version": 2})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid"
    assert admin_api("GET", "/api/v1/departments/a").json["operator_kind"] == "cii_operator"
    assert count(session, AuditEntry) == before


def test_the_department_form_sets_the_operator_kind(client, make_user, tree, session):
    admin = make_user("root.admin", roles=("admin",), department="city", mfa=True)
    assert login(client, admin).status_code == 302
    form = client.get("/admin/departments/b/edit").get_data(as_text=True)
    assert 'name="operator_kind"' in form and '<option value="other_operator" selected>' in form
    token = csrf_token(client, "/admin/departments/b/edit")
    saved = client.post(
        "/admin/departments/b/edit",
        data={"name": "B", "kind": "bureau", "parent": "city", "operator_kind": "cii_operator", "version": "1",
              "csrf_token": token},
    )  # fmt: skip
    assert saved.status_code == 302
    session.rollback()
    assert session.exec(select(Department).where(Department.code == "b")).one().operator_kind == "cii_operator"
    assert '<option value="cii_operator" selected>' in client.get("/admin/departments/b/edit").get_data(as_text=True)

"""Errors still get the app's own answer: a department that holds anything is refused with a 409
naming what it holds, before anything is written; a flush the database refuses (which leaves the
request's session unusable) answers the app's 500 page or the API's JSON in the user's language;
the language choice survives a user who cannot be read; a page that cannot be rendered leaves a
plain page, never a traceback nor the server's own."""

from __future__ import annotations

import logging

import pytest
from helpers import csrf_token, login
from sqlmodel import Session, SQLModel, func, select
from test_i18n import zh

from assets.models import Asset
from secgov import directory, handlers, web
from secgov.models import DEPARTMENT_HOLDING, AuditEntry, Department, User

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
SERVER_ERROR = "Something went wrong on our side. The error has been logged."


@pytest.fixture
def admin_token(city, api_token):
    return api_token(city["admin"])


def call(client, token: str, method: str, path: str, headers: dict | None = None, **kwargs):
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}", **(headers or {})}, **kwargs)


def snapshot(session) -> tuple:
    """The departments (code, parent), the assets (code, department) and the audit entries' count."""
    session.rollback()
    departments = sorted(session.exec(select(Department.code, Department.parent_id)).all())
    assets = sorted(session.exec(select(Asset.code, Asset.department_id)).all())
    return departments, assets, session.exec(select(func.count()).select_from(AuditEntry)).one()


def set_language(session, user: User, language: str) -> None:
    user.language = language
    session.add(user)
    session.commit()


# --- a department that still holds something ----------------------------------------------------


@pytest.mark.nodb
def test_every_table_a_department_holds_names_its_rows():
    """Every table with a foreign key to department.id declares how its rows are counted, so that
    the refusal to delete a department names them (a table added later without one fails here)."""
    department_id = Department.__table__.c.id
    holders = {
        table.name
        for table in SQLModel.metadata.sorted_tables
        if any(fk.column is department_id for fk in table.foreign_keys)
    }
    assert {"department", "user", "asset"} <= holders
    for name in holders:
        assert callable(SQLModel.metadata.tables[name].info.get(DEPARTMENT_HOLDING)), name


def test_a_department_holding_assets_is_refused_by_the_api(client, city, admin_token, make_asset, session):
    for code in ("B-1", "B-2", "B-3"):
        make_asset(code, "b")
    before = snapshot(session)
    refused = call(client, admin_token, "DELETE", "/api/v1/departments/b", EN)
    assert refused.status_code == 409
    assert refused.json["error"] == {
        "code": "conflict",
        "message": "This department still holds 3 assets and 1 user: move or remove them first.",
    }
    chinese = call(client, admin_token, "DELETE", "/api/v1/departments/b", ZH)
    assert chinese.status_code == 409
    holdings = "3项资产和1名用户"
    assert chinese.json["error"]["message"] == zh(
        "This department still holds %(holdings)s: move or remove them first.", holdings=holdings
    )
    # Sub-departments are holdings too; one of each, in the singular.
    parent = call(client, admin_token, "DELETE", "/api/v1/departments/a", EN)
    assert parent.status_code == 409
    assert parent.json["error"]["message"] == (
        "This department still holds 1 sub-department and 1 user: move or remove them first."
    )
    assert snapshot(session) == before


def test_a_department_with_assets_and_no_users_is_refused_on_the_page(
    client, city, make_department, make_user, make_asset, session
):
    """The case that answered the server's bare "Internal Server Error": no users, so the old
    checks passed and the foreign key refused the delete at flush."""
    make_department("c", parent="city")
    make_asset("C-1", "c")
    admin = make_user("web.admin", roles=("admin",), mfa=True)
    set_language(session, admin, "en")
    assert login(client, admin).status_code == 302
    before = snapshot(session)
    token = csrf_token(client, "/admin/departments/c/edit")
    refused = client.post("/admin/departments/c/delete", data={"csrf_token": token})
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert "This department still holds 1 asset: move or remove them first." in html
    assert 'class="topbar"' in html  # the app's own page
    assert snapshot(session) == before
    # Emptied, it goes.
    session.delete(session.exec(select(Asset).where(Asset.code == "C-1")).one())
    session.commit()
    assert client.post("/admin/departments/c/delete", data={"csrf_token": token}).status_code == 302
    session.rollback()
    assert session.exec(select(Department).where(Department.code == "c")).first() is None


def test_holdings_are_counted_in_every_table_that_references_the_department(
    app, city, make_asset, make_vendor, session
):
    make_asset("B-9", "b")
    make_vendor("Southern Networks", department="b")
    make_vendor("Harbour Systems", department="b")
    dept = session.exec(select(Department).where(Department.code == "b")).one()
    with app.test_request_context(headers=EN):
        assert directory.department_holdings(session, dept) == ["1 asset", "1 user", "2 vendors"]
    with app.test_request_context(headers=ZH):
        assert directory.department_holdings(session, dept) == ["1项资产", "1名用户", "2家厂商"]


# --- a flush the database refuses ----------------------------------------------------------------


@pytest.fixture
def refused_flush(monkeypatch):
    """The department update service made to flush a row the database refuses (a parent that
    does not exist): the foreign key fails at flush and leaves the session needing a rollback."""

    def update_department(session, dept, data, actor):
        dept.parent_id = 2**31 - 1
        session.add(dept)
        session.flush()

    monkeypatch.setattr(directory, "update_department", update_department)


@pytest.mark.parametrize(("language", "browser"), [("zh", EN), ("en", ZH)])
def test_a_refused_flush_answers_the_error_page_in_the_users_language(
    app, client, city, make_user, session, refused_flush, language, browser
):
    admin = make_user("web.admin", roles=("admin",), mfa=True)
    set_language(session, admin, language)
    assert login(client, admin).status_code == 302
    before = snapshot(session)
    token = csrf_token(client, "/admin/departments/a1/edit")
    form = {"name": "A1", "kind": "unit", "parent": "a", "version": "1", "csrf_token": token}
    response = client.post("/admin/departments/a1/edit", data=form, headers=browser)
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    message = zh(SERVER_ERROR) if language == "zh" else SERVER_ERROR
    assert message in html
    assert f'<html lang="{"zh-CN" if language == "zh" else "en"}">' in html
    assert 'class="topbar"' in html and "web.admin" in html  # the app's page, the user still shown
    assert "Traceback" not in html and "IntegrityError" not in html
    assert snapshot(session) == before


@pytest.mark.parametrize(("language", "browser"), [("zh", EN), ("en", ZH)])
def test_a_refused_flush_answers_json_in_the_users_stored_language(
    client, city, admin_token, session, refused_flush, language, browser
):
    """The API reads the language from the user's record (no cookie), after the rollback."""
    set_language(session, city["admin"], language)
    before = snapshot(session)
    response = call(client, admin_token, "PATCH", "/api/v1/departments/a1", browser, json={"name": "X", "version": 1})
    assert response.status_code == 500
    assert response.json == {
        "error": {"code": "internal_error", "message": zh(SERVER_ERROR) if language == "zh" else SERVER_ERROR}
    }
    assert snapshot(session) == before


def test_the_language_falls_back_when_the_user_cannot_be_read(app, city):
    """A user whose row cannot be loaded (here: expired and detached from its closed session)
    is a user without a stored language: the browser's, else the default, never an error."""
    with Session(app.extensions["secgov_engine"]) as own:
        user = own.exec(select(User).where(User.username == "officer.a")).one()
        user.language = "en"  # never reaches the database: expired below
        own.expire(user)
    for headers, expected in ((EN, "en"), (ZH, "zh"), ({}, app.config["BABEL_DEFAULT_LOCALE"])):
        with app.test_request_context("/api/v1/me", headers=headers):
            web.g.secgov_user = user
            assert web.select_locale() == expected


def test_an_error_page_that_cannot_be_rendered_leaves_a_plain_page(
    app, client, city, make_user, session, refused_flush, monkeypatch, caplog
):
    admin = make_user("web.admin", roles=("admin",), mfa=True)
    set_language(session, admin, "en")
    assert login(client, admin).status_code == 302
    token = csrf_token(client, "/admin/departments/a1/edit")

    def broken(*_args, **_kwargs):
        raise RuntimeError("the template could not be rendered")

    monkeypatch.setattr(handlers, "render_template", broken)
    form = {"name": "A1", "kind": "unit", "parent": "a", "version": "1", "csrf_token": token}
    with caplog.at_level(logging.ERROR, logger="secgov"):
        response = client.post("/admin/departments/a1/edit", data=form)
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert SERVER_ERROR in html  # still in the user's language
    assert "Traceback" not in html and "RuntimeError" not in html
    assert response.headers["Content-Security-Policy"]  # the frame's headers still apply
    logged = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("unhandled error on POST /admin/departments/a1/edit") for m in logged), logged
    assert any("could not be rendered" in m for m in logged), logged


def test_a_handler_that_fails_answers_plain_json_on_the_api(client, city, admin_token, monkeypatch, caplog):
    """Even the translation of the message failing leaves the SPEC's JSON, with the same status."""

    def broken(_status):
        raise RuntimeError("no messages")

    monkeypatch.setattr(handlers, "http_message", broken)
    with caplog.at_level(logging.ERROR, logger="secgov"):
        response = call(client, admin_token, "GET", "/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert response.json["error"]["message"]
    assert any("answering NotFound on GET" in record.getMessage() for record in caplog.records)


# --- HEAD shows a page, it never runs its form ------------------------------------------------------


def test_head_on_a_form_page_never_runs_the_form(app, client, city, make_user, session):
    """HEAD is answered by the GET view and needs no CSRF token: a view that took every method
    but GET for a post ran a sign-in attempt (counted by the throttle), or a settings change."""
    session.rollback()
    before = session.exec(select(func.count()).select_from(AuditEntry)).one()
    for _ in range(8):
        assert client.head("/login").status_code == 200
    admin = make_user("bureau.admin", roles=("admin",), department="a", mfa=True)
    login(client, admin)
    for path in ("/admin/settings", "/admin/users/new", "/admin/departments/new", "/account/mfa"):
        assert client.head(path).status_code == 200, path
    session.rollback()
    actions = session.exec(select(AuditEntry.action).where(AuditEntry.seq > before)).all()
    assert set(actions) <= {"user.created", "auth.login"}, actions  # the fixture's and the sign-in's

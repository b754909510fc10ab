"""Departments and users over the API; the same services as the admin pages."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, Field
from spectree import Response
from sqlmodel import select

from secgov import auth, directory
from secgov.api.base import ErrorResponse, PageQuery, dump, json_body, page_of, query_args, spec
from secgov.authz import READERS, get_scoped, require_user, roles
from secgov.db import get_session
from secgov.directory import DepartmentCreate, DepartmentRead, DepartmentUpdate, UserCreate, UserRead, UserUpdate
from secgov.models import Department
from secgov.web import actor

bp = Blueprint("api_directory", __name__, url_prefix="/api/v1")

ERRORS = {f"HTTP_{code}": ErrorResponse for code in (400, 401, 403, 404, 409, 413, 415, 422)}


class DepartmentPage(BaseModel):
    items: list[DepartmentRead]
    total: int
    page: int
    page_size: int


class UserPage(BaseModel):
    items: list[UserRead]
    total: int
    page: int
    page_size: int


class UserQuery(PageQuery):
    q: str = Field(default="", max_length=100, description="Part of the user name or display name.")


class PasswordSet(BaseModel):
    model_config = {"extra": "forbid"}

    password: str = Field(min_length=1, max_length=256)


def _department(code: str) -> Department:
    db = get_session()
    dept = db.exec(select(Department).where(Department.code == code)).first()
    return get_scoped(db, Department, dept.id if dept else None, require_user())


@bp.get("/departments")
@roles(*READERS)
@spec.validate(
    query=PageQuery, resp=Response(HTTP_200=DepartmentPage, **ERRORS), tags=["departments"], skip_validation=True
)
def departments_list():
    """Departments in the caller's scope, in tree order."""
    args = query_args(PageQuery)
    db = get_session()
    rows = directory.departments_in_scope(db, require_user())
    codes = directory.code_map(db)
    start = (args.page - 1) * args.page_size
    items = [dump(directory.department_read(d, codes)) for d in rows[start : start + args.page_size]]
    return page_of(items, len(rows), args.page, args.page_size)


@bp.post("/departments")
@roles("admin")
@spec.validate(
    json=DepartmentCreate, resp=Response(HTTP_201=DepartmentRead, **ERRORS), tags=["departments"], skip_validation=True
)
def departments_create():
    """Add a department under a parent in scope."""
    data = json_body(DepartmentCreate)
    db = get_session()
    dept = directory.create_department(db, data, actor(), require_user())
    db.commit()
    return dump(directory.department_read(dept, directory.code_map(db))), 201


@bp.get("/departments/<code>")
@roles(*READERS)
@spec.validate(resp=Response(HTTP_200=DepartmentRead, **ERRORS), tags=["departments"], skip_validation=True)
def departments_get(code: str):
    """One department."""
    dept = _department(code)
    return dump(directory.department_read(dept, directory.code_map(get_session())))


@bp.patch("/departments/<code>")
@roles("admin")
@spec.validate(
    json=DepartmentUpdate, resp=Response(HTTP_200=DepartmentRead, **ERRORS), tags=["departments"], skip_validation=True
)
def departments_update(code: str):
    """Rename or move a department (send the version you read)."""
    dept = _department(code)
    data = json_body(DepartmentUpdate)
    db = get_session()
    directory.update_department(db, dept, data, actor(), require_user())
    db.commit()
    return dump(directory.department_read(dept, directory.code_map(db)))


@bp.delete("/departments/<code>")
@roles("admin")
@spec.validate(resp=Response("HTTP_204", **ERRORS), tags=["departments"], skip_validation=True)
def departments_delete(code: str):
    """Remove an empty department."""
    dept = _department(code)
    db = get_session()
    directory.delete_department(db, dept, actor())
    db.commit()
    return "", 204


@bp.get("/users")
@roles("admin")
@spec.validate(query=UserQuery, resp=Response(HTTP_200=UserPage, **ERRORS), tags=["users"], skip_validation=True)
def users_list():
    """Users in the caller's scope."""
    args = query_args(UserQuery)
    rows, total = directory.list_users(
        get_session(), require_user(), q=args.q, page=args.page, page_size=args.page_size
    )
    return page_of([dump(directory.user_read(u)) for u in rows], total, args.page, args.page_size)


@bp.post("/users")
@roles("admin")
@spec.validate(json=UserCreate, resp=Response(HTTP_201=UserRead, **ERRORS), tags=["users"], skip_validation=True)
def users_create():
    """Add a user."""
    data = json_body(UserCreate)
    db = get_session()
    user = directory.create_user(db, data, actor(), require_user())
    db.commit()
    return dump(directory.user_read(user)), 201


@bp.get("/users/<username>")
@roles("admin")
@spec.validate(resp=Response(HTTP_200=UserRead, **ERRORS), tags=["users"], skip_validation=True)
def users_get(username: str):
    """One user."""
    return dump(directory.user_read(directory.user_by_username(get_session(), username, require_user())))


@bp.patch("/users/<username>")
@roles("admin")
@spec.validate(json=UserUpdate, resp=Response(HTTP_200=UserRead, **ERRORS), tags=["users"], skip_validation=True)
def users_update(username: str):
    """Change a user's profile, department, roles or disabled flag (send the version you read)."""
    db = get_session()
    user = directory.user_by_username(db, username, require_user())
    data = json_body(UserUpdate)
    directory.update_user(db, user, data, actor(), require_user())
    db.commit()
    return dump(directory.user_read(user))


@bp.post("/users/<username>/password")
@roles("admin")
@spec.validate(json=PasswordSet, resp=Response("HTTP_204", **ERRORS), tags=["users"], skip_validation=True)
def users_password(username: str):
    """Set a user's password; their sessions end."""
    db = get_session()
    user = directory.user_by_username(db, username, require_user())
    data = json_body(PasswordSet)
    auth.set_password(db, user, data.password, actor())
    db.commit()
    return "", 204


@bp.post("/users/<username>/sign-out")
@roles("admin")
@spec.validate(resp=Response("HTTP_204", **ERRORS), tags=["users"], skip_validation=True)
def users_sign_out(username: str):
    """End every web session of a user."""
    db = get_session()
    user = directory.user_by_username(db, username, require_user())
    auth.revoke_sessions(db, user, actor(), "sign_out_everywhere")
    db.commit()
    return "", 204

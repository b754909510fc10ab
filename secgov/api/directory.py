"""Departments and users over the API; the same services as the admin pages."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, Field

from secgov import auth, directory
from secgov.authz import READERS, roles
from secgov.directory import DepartmentCreate, DepartmentRead, DepartmentUpdate, UserCreate, UserRead, UserUpdate
from secgov.models import Department
from secgov.rest import PageQuery, operation, page, page_model
from secgov.web import actor, get_session

bp = Blueprint("api_directory", __name__, url_prefix="/api/v1")


class UserQuery(PageQuery):
    q: str = Field(default="", max_length=100, description="Part of the user name or display name.")


class PasswordSet(BaseModel):
    model_config = {"extra": "forbid"}

    password: str = Field(min_length=1, max_length=256)


def _department(code: str) -> Department:
    return directory.get_department(get_session(), code, actor())


def _department_read(dept: Department) -> DepartmentRead:
    return directory.department_read(dept, directory.code_map(get_session()))


@bp.get("/departments")
@roles(*READERS)
@operation(query=PageQuery, ok=page_model(DepartmentRead), tags=["departments"])
def departments_list(query: PageQuery):
    """Departments in the caller's scope, in tree order."""
    db = get_session()
    rows = directory.departments_in_scope(db, actor())
    codes = directory.code_map(db)
    start = (query.page - 1) * query.page_size
    items = [directory.department_read(d, codes) for d in rows[start : start + query.page_size]]
    return page(items, len(rows), query)


@bp.post("/departments")
@roles("admin")
@operation(body=DepartmentCreate, ok=DepartmentRead, status=201, tags=["departments"])
def departments_create(body: DepartmentCreate):
    """Add a department under a parent in scope."""
    return _department_read(directory.create_department(get_session(), body, actor()))


@bp.get("/departments/<code>")
@roles(*READERS)
@operation(ok=DepartmentRead, tags=["departments"])
def departments_get(code: str):
    """One department."""
    return _department_read(_department(code))


@bp.patch("/departments/<code>")
@roles("admin")
@operation(body=DepartmentUpdate, ok=DepartmentRead, tags=["departments"])
def departments_update(code: str, body: DepartmentUpdate):
    """Rename or move a department (send the version you read)."""
    return _department_read(directory.update_department(get_session(), _department(code), body, actor()))


@bp.delete("/departments/<code>")
@roles("admin")
@operation(status=204, tags=["departments"])
def departments_delete(code: str):
    """Remove an empty department."""
    directory.delete_department(get_session(), _department(code), actor())


@bp.get("/users")
@roles("admin")
@operation(query=UserQuery, ok=page_model(UserRead), tags=["users"])
def users_list(query: UserQuery):
    """Users in the caller's scope."""
    rows, total = directory.list_users(get_session(), actor(), q=query.q, page=query.page, page_size=query.page_size)
    return page([directory.user_read(u) for u in rows], total, query)


@bp.post("/users")
@roles("admin")
@operation(body=UserCreate, ok=UserRead, status=201, tags=["users"])
def users_create(body: UserCreate):
    """Add a user."""
    return directory.user_read(directory.create_user(get_session(), body, actor()))


def _user(username: str):
    return directory.user_by_username(get_session(), username, actor())


@bp.get("/users/<username>")
@roles("admin")
@operation(ok=UserRead, tags=["users"])
def users_get(username: str):
    """One user."""
    return directory.user_read(_user(username))


@bp.patch("/users/<username>")
@roles("admin")
@operation(body=UserUpdate, ok=UserRead, tags=["users"])
def users_update(username: str, body: UserUpdate):
    """Change a user's profile, department, roles or disabled flag (send the version you read)."""
    return directory.user_read(directory.update_user(get_session(), _user(username), body, actor()))


@bp.post("/users/<username>/password")
@roles("admin")
@operation(body=PasswordSet, status=204, tags=["users"])
def users_password(username: str, body: PasswordSet):
    """Set a user's password; their sessions end."""
    auth.set_password(get_session(), _user(username), body.password, actor())


@bp.post("/users/<username>/sign-out")
@roles("admin")
@operation(status=204, tags=["users"])
def users_sign_out(username: str):
    """End every web session of a user."""
    auth.revoke_sessions(get_session(), _user(username), actor(), "sign_out_everywhere")

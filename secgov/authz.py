"""Authorization: every route declares who may use it; department scope has one choke point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from flask import g
from sqlalchemy import ColumnElement, select, true
from sqlmodel import Session

from secgov.config import ROLES
from secgov.errors import NotFound
from secgov.models import Department, User

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
AUTHENTICATED = "authenticated"
ALL_ROLES = frozenset(ROLES)
READERS = ALL_ROLES  # everyone signed in reads within scope


def roles(*allowed: str) -> Callable[[F], F]:
    """Declare the roles that may use a view; enforced before the view runs."""
    unknown = set(allowed) - ALL_ROLES
    if unknown or not allowed:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view: F) -> F:
        view.secgov_access = frozenset(allowed)  # type: ignore[attr-defined]
        return view

    return decorate


def public(view: F) -> F:
    """Declare a view open to anyone, signed in or not."""
    view.secgov_access = PUBLIC  # type: ignore[attr-defined]
    return view


def authenticated(view: F) -> F:
    """Declare a view open to every signed-in user, whatever their roles."""
    view.secgov_access = AUTHENTICATED  # type: ignore[attr-defined]
    return view


def mfa_setup_allowed(view: F) -> F:
    """Mark a view reachable while a user must still enrol in MFA."""
    view.secgov_mfa_setup = True  # type: ignore[attr-defined]
    return view


def declaration(view: Callable | None):
    return getattr(view, "secgov_access", None)


def current_user() -> User | None:
    """The signed-in user of this request (web session or API token), if any."""
    return g.get("secgov_user")


def require_user() -> User:
    user = current_user()
    if user is None:  # pragma: no cover - guarded by the access check
        raise RuntimeError("no user in a view that declares roles")
    return user


# --- department scope --------------------------------------------------------------------


def scope_department_ids(user: User):
    """A subquery of the ids of the user's department subtree."""
    root = user.department
    return select(Department.id).where(Department.path.startswith(root.path, autoescape=True))


def in_scope(column: ColumnElement, user: User) -> ColumnElement:
    """A WHERE clause keeping rows whose department column is in the user's scope.

    A user of the root department sees the whole city: no condition at all (rows without a
    department included), so that the database can read a list in the order of an index and
    stop after one page instead of filtering and sorting every row."""
    if user.department.parent_id is None:
        return true()
    return column.in_(scope_department_ids(user))


def department_in_scope(department: Department, user: User) -> bool:
    return department.path.startswith(user.department.path)


def deny_out_of_scope(user: User, object_type: str, object_id: Any) -> NoReturn:
    """Audit an attempt on an object outside the user's scope, then answer as if it were missing."""
    from flask import has_request_context, request
    from flask_babel import gettext as _

    from secgov.audit import Actor
    from secgov.auth import audit_denial

    in_request = has_request_context()
    channel = "api" if in_request and request.path.startswith("/api/") else "web"
    ip = (request.remote_addr or "") if in_request else ""
    audit_denial(Actor.of(user, channel, ip), "authz.out_of_scope", object_type=object_type, object_id=object_id)
    raise NotFound(_("Not found."))


def get_scoped(session: Session, model: type, object_id: Any, user: User, *, dept_attr: str = "department_id"):
    """Load model by id for user, or raise NotFound when it is missing or out of scope.

    This is the one choke point for reading an object by its id: out-of-scope objects do
    not exist for the user (404, not 403), and the attempt is audited.
    """
    from flask_babel import gettext as _

    obj = session.get(model, object_id) if object_id is not None else None
    if obj is None:
        raise NotFound(_("Not found."))
    if model is Department:
        ok = department_in_scope(obj, user)
    else:
        department = session.get(Department, getattr(obj, dept_attr))
        ok = department is not None and department_in_scope(department, user)
    if not ok:
        deny_out_of_scope(user, model.__tablename__, object_id)
    return obj

"""Authorization: who acts (an Actor, with a department scope), what every route declares, and
the one choke point of department scope.

Scope follows the department tree: an actor sees their department's subtree, which is a prefix
match on `Department.path` (/1/4/9/). The whole city has one spelling: the scope "/", which the
system (command line, jobs) and every user of the root department act with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Row, Select, false, select, true
from sqlmodel import Session

from secgov.codes import ROLES
from secgov.errors import NotFound, Refusal
from secgov.models import Department

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
AUTHENTICATED = "authenticated"
ALL_ROLES = frozenset(ROLES)
READERS = ALL_ROLES  # everyone signed in reads within scope

CITY = "/"  # the scope of the whole city: every department's path starts with it
NOWHERE = "-"  # the scope of someone who is not signed in: no path starts with it


@dataclass(frozen=True)
class Actor:
    """Who does something: their name and id, the channel (web, api, cli, job) and address, and
    the departments in their scope (`scope`, a path prefix)."""

    username: str
    user_id: int | None = None
    channel: str = "web"
    ip: str = ""
    department_id: int | None = None
    scope: str = CITY

    @classmethod
    def system(cls, channel: str = "cli") -> Actor:
        """The application itself (command line without --as, jobs, the demo): the whole city."""
        return cls(username="system", channel=channel)

    @classmethod
    def anonymous(cls, channel: str, ip: str = "", username: str = "anonymous") -> Actor:
        """Someone not signed in (a sign-in attempt names the account it tried)."""
        return cls(username=username or "anonymous", channel=channel, ip=ip, scope=NOWHERE)

    @classmethod
    def of(cls, user, channel: str = "web", ip: str = "") -> Actor:
        """A user acting through a channel; users of the root department act for the whole city."""
        department = user.department
        return cls(
            username=user.username,
            user_id=user.id,
            channel=channel,
            ip=ip,
            department_id=user.department_id,
            scope=CITY if department.parent_id is None else department.path,
        )

    @property
    def city_wide(self) -> bool:
        return self.scope == CITY


# --- route declarations ------------------------------------------------------------------------


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


def allows(access, user_roles: set[str] | frozenset[str]) -> bool:
    """Whether a declaration lets a signed-in user with these roles in."""
    return access in (PUBLIC, AUTHENTICATED) or bool(access and set(user_roles) & access)


# --- department scope --------------------------------------------------------------------------


def in_scope(column: ColumnElement, actor: Actor) -> ColumnElement:
    """A WHERE clause keeping rows whose department column is in the actor's scope.

    The whole city needs no condition at all (rows without a department included), so that the
    database can read a list in the order of an index and stop after one page instead of
    filtering and sorting every row."""
    if actor.city_wide:
        return true()
    if actor.scope == NOWHERE:
        return false()
    return column.in_(select(Department.id).where(Department.path.startswith(actor.scope, autoescape=True)))


def path_in_scope(path: str | None, actor: Actor) -> bool:
    """Whether a department's path (None: no department) is in the actor's scope."""
    return path is not None and path.startswith(actor.scope)


def department_in_scope(department: Department, actor: Actor) -> bool:
    return path_in_scope(department.path, actor)


def deny_out_of_scope(actor: Actor, object_type: str, object_id: Any) -> NoReturn:
    """Answer an attempt on an object outside the actor's scope as if it were missing; the frame
    records the attempt in the audit log (after the answer has been sent)."""
    raise NotFound(_("Not found."), refusal=Refusal(actor, "authz.out_of_scope", object_type, object_id))


def scoped_row(session: Session, statement: Select, actor: Actor, object_type: str, object_id: Any) -> Row:
    """Run a look-up whose first column is the object's id and second its department's path (outer
    joins: a missing object gives no row or a NULL id), and return its row when the object is in
    the actor's scope; else NotFound, audited when the object exists.

    Missing and out-of-scope objects thus cost the same one statement before the answer (and the
    refusal is recorded after it): the time of a 404 does not tell whether the id exists. Load
    the object itself only after this check."""
    row = session.execute(statement).first()
    if row is None or row[0] is None:
        raise NotFound(_("Not found."))
    if not path_in_scope(row[1], actor):
        deny_out_of_scope(actor, object_type, object_id)
    return row


def get_scoped(session: Session, model: type, object_id: Any, actor: Actor, *, dept_attr: str = "department_id"):
    """Load model by id for actor, or raise NotFound when it is missing or out of scope.

    This is the one choke point for reading an object by its id: out-of-scope objects do
    not exist for the actor (404, not 403), and the attempt is audited.
    """
    if model is Department:
        statement = select(Department.id, Department.path).where(Department.id == object_id)
    else:
        statement = (
            select(model.id, Department.path)
            .outerjoin(Department, Department.id == getattr(model, dept_attr))
            .where(model.id == object_id)
        )
    scoped_row(session, statement, actor, model.__tablename__, object_id)
    obj = session.get(model, object_id)
    if obj is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    return obj

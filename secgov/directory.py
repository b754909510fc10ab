"""Departments and users: input and output schemas, and the services that hold their rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from babel.lists import format_list
from flask_babel import gettext as _
from flask_babel import ngettext
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import func, or_
from sqlmodel import Session, SQLModel, select

from secgov import audit, auth
from secgov.authz import Actor, department_in_scope, in_scope, scoped_row
from secgov.codes import DEPARTMENT_KIND, OPERATOR_KIND, ROLE, current_language
from secgov.config import LANGUAGES
from secgov.errors import BadValue, Conflict, Invalid, NotFound, check_version
from secgov.localtime import Instant
from secgov.models import DEPARTMENT_HOLDING, ApiToken, Department, User, UserRole

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
RESERVED_USERNAMES = frozenset({"system", "anonymous", "scheduler"})
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=CODE_RE.pattern)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Role = ROLE.literal
Kind = DEPARTMENT_KIND.literal
OperatorKind = OPERATOR_KIND.literal


def _whole_number(value: Any) -> Any:
    # pydantic's lax integers take JSON true as 1 and 2.0 as 2, and text such as "3.0" or "3_000":
    # a version is a count the client read back, so only a JSON integer or a form's digits will do.
    if isinstance(value, bool | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, str) and not (value.strip().isascii() and value.strip().isdigit()):
        raise PydanticCustomError("int_parsing", "Input should be a valid integer")
    return value


# The version an update sends back (optimistic concurrency, `errors.check_version`): every input
# schema's `version` field has this type.
Version = Annotated[
    int,
    BeforeValidator(_whole_number),
    Field(description="The version you read; a newer one on the server is a conflict."),
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DepartmentCreate(Input):
    code: Code
    name: Name
    name_en: OptName = ""
    kind: Kind
    operator_kind: OperatorKind = Field(
        default="other_operator",
        description="Which kind of network operator it is: sets its incident-reporting deadline.",
    )
    parent: Code | None = None


class DepartmentUpdate(Input):
    name: Name | None = None
    name_en: OptName | None = None
    kind: Kind | None = None
    operator_kind: OperatorKind | None = None
    parent: Code | None = None
    version: Version


class DepartmentRead(BaseModel):
    id: int
    code: str
    name: str
    name_en: str
    kind: str
    operator_kind: OperatorKind
    parent: str | None
    version: int


class UserCreate(Input):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64, pattern=USERNAME_RE.pattern)
    ]
    display_name: OptName = ""
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] = ""
    department: Code
    roles: list[Role] = Field(min_length=1, max_length=5)
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]

    @field_validator("username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # The names the application acts and records under itself (`Actor.system`, anonymous
        # attempts, the scheduler): a person with one of them would read as the application.
        if value.lower() in RESERVED_USERNAMES:
            raise BadValue(_("This user name is reserved for the application."))
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("email")
        return value


class UserUpdate(Input):
    display_name: OptName | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    department: Code | None = None
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=5)
    disabled: bool | None = None
    version: Version

    _email = field_validator("email")(UserCreate._email.__func__)


class UserRead(BaseModel):
    id: int
    username: str
    display_name: str
    email: str
    department: str
    roles: list[str]
    disabled: bool
    mfa_enabled: bool
    created_at: Instant
    last_login_at: Instant | None
    version: int


# --- reading -------------------------------------------------------------------------------


def department_read(dept: Department, codes: dict[int, str]) -> DepartmentRead:
    return DepartmentRead(
        id=dept.id,
        code=dept.code,
        name=dept.name,
        name_en=dept.name_en,
        kind=dept.kind,
        operator_kind=dept.operator_kind,
        parent=codes.get(dept.parent_id) if dept.parent_id else None,
        version=dept.version,
    )


def user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        department=user.department.code,
        roles=sorted(user.roles),
        disabled=user.disabled,
        mfa_enabled=user.mfa_enabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        version=user.version,
    )


def departments_in_scope(session: Session, actor: Actor) -> list[Department]:
    """The actor's department subtree, in tree order."""
    return list(session.exec(select(Department).where(in_scope(Department.id, actor)).order_by(Department.path)).all())


def active_users_in_scope(session: Session, actor: Actor) -> list[User]:
    """The active users of the actor's department subtree, by user name (whom a duty may go to)."""
    where = [User.disabled.is_(False), in_scope(User.department_id, actor)]
    return list(session.exec(select(User).where(*where).order_by(User.username)).all())


@dataclass(frozen=True)
class NameBook:
    """The names people read instead of codes: every department's name in both languages and
    every user's display name, for the pages of one request (two small queries, whatever the
    page shows)."""

    departments: dict[Any, tuple[str, str, str]]  # code and id -> (name, English name, path)
    people: dict[str, str]  # user name (lower case) -> display name

    def department(self, key: Any) -> str:
        """A department's name (by code or id) in the reader's language; the key itself when unknown."""
        names = self.departments.get(key)
        if names is None:
            return "" if key is None else str(key)
        name, name_en, _path = names
        return label_of(name, name_en)

    def in_scope(self, key: Any, actor: Actor) -> bool:
        """Whether the department (by code or id) is in the actor's scope."""
        names = self.departments.get(key)
        return names is not None and names[2].startswith(actor.scope)

    def person(self, username: str | None) -> str:
        """A user's display name; the user name when they have none; the system by its name."""
        if not username:
            return ""
        if username == "system":
            return _("SecGov (system)")
        return self.people.get(username.lower()) or username


def name_book(session: Session) -> NameBook:
    """Every department's and user's name, in two queries."""
    departments: dict[Any, tuple[str, str, str]] = {}
    for dept_id, code, name, name_en, path in session.exec(
        select(Department.id, Department.code, Department.name, Department.name_en, Department.path)
    ).all():
        departments[code] = departments[dept_id] = (name, name_en, path)
    people = {
        username.lower(): display
        for username, display in session.exec(select(User.username, User.display_name)).all()
        if display
    }
    return NameBook(departments, people)


def label_of(name: str, name_en: str) -> str:
    """A department's name in the language of the page or answer: its English name, when it has
    one, for English readers. The one place this rule lives."""
    return name_en if current_language() == "en" and name_en else name


def department_label(dept: Department) -> str:
    """A department's name in the reader's language."""
    return label_of(dept.name, dept.name_en)


def code_map(session: Session) -> dict[int, str]:
    return dict(session.exec(select(Department.id, Department.code)).all())


def department_by_code(session: Session, code: str, actor: Actor, field: str = "department") -> Department:
    """The department with code, in the actor's scope (a department outside it is unknown)."""
    dept = session.exec(select(Department).where(Department.code == code)).first()
    if dept is None or not department_in_scope(dept, actor):
        raise Invalid(_("Unknown department: %(code)s", code=code), field=field)
    return dept


def get_department(session: Session, code: str, actor: Actor) -> Department:
    """The department a path names by its code, in the actor's scope (missing or out of scope:
    not found; out of scope is audited)."""
    statement = select(Department.id, Department.path).where(Department.code == code)
    found = scoped_row(session, statement, actor, "department", code)
    dept = session.get(Department, found.id)
    if dept is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    return dept


def list_users(
    session: Session, actor: Actor, *, q: str = "", page: int = 1, page_size: int = 50
) -> tuple[list[User], int]:
    """Users in the actor's scope, filtered by a free text, one page of them."""
    where = [in_scope(User.department_id, actor)]
    if q:
        like = f"%{q.lower()}%"
        where.append(or_(func.lower(User.username).like(like), func.lower(User.display_name).like(like)))
    total = session.exec(select(func.count()).select_from(User).where(*where)).one()
    users = session.exec(
        select(User).where(*where).order_by(User.username).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(users), total


# --- departments ----------------------------------------------------------------------------


def _snapshot_department(dept: Department, codes: dict[int, str] | None = None) -> dict:
    return {
        "code": dept.code,
        "name": dept.name,
        "name_en": dept.name_en,
        "kind": dept.kind,
        "operator_kind": dept.operator_kind,
        "parent_id": dept.parent_id,
    }


def create_department(session: Session, data: DepartmentCreate, actor: Actor) -> Department:
    """Add a department under its parent (only the city itself has none)."""
    if session.exec(select(Department).where(func.lower(Department.code) == data.code.lower())).first():
        raise Conflict(_("The code %(code)s is already used.", code=data.code))
    parent = department_by_code(session, data.parent, actor, field="parent") if data.parent else None
    if parent is None:
        if data.kind != "city" or session.exec(select(Department).where(Department.parent_id.is_(None))).first():
            raise Invalid(_("Every department except the city needs a parent."), field="parent")
    elif data.kind == "city":
        raise Invalid(_("The city is the root and has no parent."), field="kind")
    dept = Department(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        kind=data.kind,
        operator_kind=data.operator_kind,
        parent_id=parent.id if parent else None,
    )
    session.add(dept)
    session.flush()
    dept.path = f"{parent.path if parent else '/'}{dept.id}/"
    session.add(dept)
    session.flush()
    audit.record(
        session,
        actor,
        "department.created",
        object_type="department",
        object_id=dept.code,
        department_id=dept.id,
        after=_snapshot_department(dept),
    )
    return dept


def update_department(session: Session, dept: Department, data: DepartmentUpdate, actor: Actor) -> Department:
    """Rename or move a department; moving re-roots its whole subtree."""
    check_version(dept, data.version)
    before = _snapshot_department(dept)
    changes = data.model_dump(exclude_unset=True, exclude={"version", "parent"})
    for key, value in changes.items():
        if value is not None:
            setattr(dept, key, value)
    if "parent" in data.model_fields_set and data.parent is not None:
        parent = department_by_code(session, data.parent, actor, field="parent")
        if parent.path.startswith(dept.path):
            raise Invalid(_("A department cannot be moved under itself."), field="parent")
        if dept.parent_id is None:
            raise Invalid(_("The city is the root and has no parent."), field="parent")
        if parent.id != dept.parent_id:
            old_path, new_path = dept.path, f"{parent.path}{dept.id}/"
            for node in session.exec(
                select(Department).where(Department.path.startswith(old_path, autoescape=True))
            ).all():
                node.path = new_path + node.path[len(old_path) :]
                session.add(node)
            dept.parent_id = parent.id
    if dept.kind == "city" and dept.parent_id is not None:
        raise Invalid(_("The city is the root and has no parent."), field="kind")
    dept.version += 1
    session.add(dept)
    session.flush()
    audit.record(
        session,
        actor,
        "department.updated",
        object_type="department",
        object_id=dept.code,
        department_id=dept.id,
        before=before,
        after=_snapshot_department(dept),
    )
    return dept


def _other_records(n: int) -> str:
    return ngettext("%(num)d other record", "%(num)d other records", n)


def department_holdings(session: Session, dept: Department) -> list[str]:
    """What still belongs to a department, one phrase per kind in the user's language ("3 assets",
    "1 user", by table name): the rows of every table whose foreign key references department.id, found in the
    metadata (so a domain's table is counted without the core knowing it), each named by the
    label its owner declared (`models.department_holding`)."""
    department_id = Department.__table__.c.id
    phrases = []
    for table in sorted(SQLModel.metadata.tables.values(), key=lambda table: table.name):  # a stable order
        columns = [fk.parent for fk in table.foreign_keys if fk.column is department_id]
        if not columns:
            continue
        held = session.exec(select(func.count()).select_from(table).where(or_(*(c == dept.id for c in columns)))).one()
        if held:
            phrases.append(table.info.get(DEPARTMENT_HOLDING, _other_records)(held))
    return phrases


def delete_department(session: Session, dept: Department, actor: Actor) -> None:
    """Remove an empty department: nothing of any table may still belong to it (sub-departments,
    users, assets...); the refusal names what it holds, before anything is written."""
    holdings = department_holdings(session, dept)
    if holdings:
        raise Conflict(
            _(
                "This department still holds %(holdings)s: move or remove them first.",
                holdings=format_list(holdings, locale=current_language()),
            )
        )
    before = _snapshot_department(dept)
    audit.record(
        session,
        actor,
        "department.deleted",
        object_type="department",
        object_id=dept.code,
        department_id=dept.parent_id,
        before=before,
    )
    session.delete(dept)
    session.flush()


# --- users ----------------------------------------------------------------------------------


def _snapshot_user(user: User) -> dict:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "department_id": user.department_id,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
    }


def create_user(session: Session, data: UserCreate, actor: Actor) -> User:
    """Add a user with a password that meets the policy."""
    if auth.find_user(session, data.username):
        raise Conflict(_("The user name %(name)s is already taken.", name=data.username))
    dept = department_by_code(session, data.department, actor)
    auth.check_password_policy(data.password, data.username)
    user = User(
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        department_id=dept.id,
        password_hash=auth.hash_password(data.password),
    )
    user.role_rows = [UserRole(role=r) for r in sorted(set(data.roles))]
    session.add(user)
    session.flush()
    session.refresh(user)
    audit.record(
        session,
        actor,
        "user.created",
        object_type="user",
        object_id=user.username,
        department_id=dept.id,
        after=_snapshot_user(user),
    )
    return user


def update_user(session: Session, user: User, data: UserUpdate, actor: Actor) -> User:
    """Change a user's profile, department, roles or disabled flag."""
    check_version(user, data.version)
    before = _snapshot_user(user)
    fields = data.model_fields_set
    if "display_name" in fields and data.display_name is not None:
        user.display_name = data.display_name
    if "email" in fields and data.email is not None:
        user.email = data.email
    if "department" in fields and data.department is not None:
        user.department_id = department_by_code(session, data.department, actor).id
    if "roles" in fields and data.roles is not None:
        wanted = set(data.roles)
        if actor.user_id == user.id and "admin" in user.roles and "admin" not in wanted:
            raise Invalid(_("You cannot remove your own admin role."), field="roles")
        user.role_rows = [row for row in user.role_rows if row.role in wanted] + [
            UserRole(user_id=user.id, role=r) for r in sorted(wanted - user.roles)
        ]
    if "disabled" in fields and data.disabled is not None and data.disabled != user.disabled:
        if actor.user_id == user.id and data.disabled:
            raise Invalid(_("You cannot disable your own account."), field="disabled")
        user.disabled = data.disabled
        # A disabled account loses every session at once.
        user.session_version += 1
    user.version += 1
    session.add(user)
    session.flush()
    session.refresh(user)
    after = _snapshot_user(user)
    if after != before:
        audit.record(
            session,
            actor,
            "user.updated",
            object_type="user",
            object_id=user.username,
            department_id=user.department_id,
            before=before,
            after=after,
        )
    return user


def user_by_username(session: Session, username: str, actor: Actor) -> User:
    """The user named username, in the actor's scope (out of scope: audited, then not found)."""
    # The scope is checked on the name's id and department path alone: loading the user (and its
    # roles, a second query) only when found would make an out-of-scope name slower than a
    # missing one.
    statement = (
        select(User.id, Department.path)
        .outerjoin(Department, Department.id == User.department_id)
        .where(func.lower(User.username) == username.strip().lower())
    )
    found = scoped_row(session, statement, actor, "user", username)
    user = session.get(User, found.id)
    if user is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    return user


def user_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())).all()
    )


def set_language(session: Session, user: User, lang: str, actor: Actor) -> None:
    """Remember the interface language a user picked."""
    if lang not in LANGUAGES:
        raise Invalid(_("Unknown language."), field="lang")
    before = user.language
    user.language = lang
    session.add(user)
    audit.record(
        session,
        actor,
        "user.language_changed",
        object_type="user",
        object_id=user.username,
        department_id=user.department_id,
        before={"language": before},
        after={"language": lang},
    )
